"""Instruction tuning: assistant-only loss masks, chat data, a LoRA run through the chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.chain import run_chain
from llmline.errors import DataError
from llmline.spec import GenerationSpec, SourceSpec, load_spec
from llmline.tasks.causal_lm import IGNORE, encode_conversation
from llmline.train.chat_data import apply_generation_settings, row_to_messages
from llmline.workspace import Workspace
from tests.models.conftest import build_tiny_llama


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-train"))


def test_loss_only_on_assistant_turns(tiny_llama: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "where is my card"},
        {"role": "assistant", "content": "card arrival"},
        {"role": "user", "content": "and my money"},
        {"role": "assistant", "content": "balance"},
    ]
    feature = encode_conversation(messages, tokenizer, max_length=256)
    learned = [i for i, label in zip(feature["input_ids"], feature["labels"], strict=True)
               if label != IGNORE]  # fmt: skip
    text = tokenizer.decode(learned)
    assert "card arrival" in text and "balance" in text
    assert "where" not in text and "brief" not in text and "money" not in text
    assert "<|im_end|>" in text  # the model learns to end its turn


def test_pairs_and_label_columns_become_chat_turns() -> None:
    source = SourceSpec(path=Path("x.csv"), text_column="text", label_column="category")
    pair = row_to_messages({"text": "lost card", "category": "lost_or_stolen_card"}, source,
                           where="x")  # fmt: skip
    assert pair == [{"role": "user", "content": "lost card"},
                    {"role": "assistant", "content": "lost_or_stolen_card"}]  # fmt: skip
    with pytest.raises(DataError, match="last message"):
        row_to_messages({"messages": [{"role": "user", "content": "hi"}]}, source, where="x:1")
    gen = GenerationSpec(system_prompt="Name the intent.", prompt_template="Q: {text}")
    templated = apply_generation_settings(pair, gen)
    assert templated[0] == {"role": "system", "content": "Name the intent."}
    assert templated[1]["content"] == "Q: lost card"


@pytest.mark.slow
def test_lora_instruction_tuning_through_the_chain(tmp_path: Path, tiny_llama: Path) -> None:
    from llmline.models.predictor import load_predictor

    rows = [{"messages": [{"role": "user", "content": f"say {w}"},
                          {"role": "assistant", "content": w}]}
            for w in ["apple", "banana", "cherry", "grape"] * 6]  # fmt: skip
    rows = [dict(r, id=i) for i, r in enumerate(rows)]  # distinct rows survive dedup
    data = tmp_path / "chat.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    spec_path = tmp_path / "chat.yaml"
    spec_path.write_text(
        "name: toy-chat\ntask: causal_lm\n"
        f"data:\n  source: {{path: {data}}}\n  validation_fraction: 0.25\n  dedup: false\n"
        f"train:\n  base_model: {tiny_llama}\n  epochs: 1\n  batch_size: 4\n"
        "  learning_rate: 1.0e-2\n  max_length: 64\n"
        "  peft: {method: lora, r: 4, alpha: 8, target_modules: [q_proj, v_proj]}\n"
        "task_config:\n  generation: {max_new_tokens: 4, system_prompt: Answer with one word.}\n"
        "evaluate:\n  compare_base: true\n"
        "  gates: [{metric: exact_match, min: 0.0}, {metric: perplexity, max: 1.0}]\n",
        encoding="utf-8",
    )
    workspace = Workspace.resolve(tmp_path / "ws")
    ctx = run_chain(load_spec(spec_path), workspace)
    model_dir = ctx.run.model_dir
    assert (model_dir / "adapter_model.safetensors").exists()
    assert not (model_dir / "model.safetensors").exists()  # the adapter is saved alone
    pin = json.loads((model_dir / "base.json").read_text())
    assert pin["reference"] == str(tiny_llama) and len(pin["sha256"]) == 64
    report = json.loads((ctx.run.eval_dir / "report.json").read_text())
    assert report["rows"] == 6 and report["perplexity"] > 1.0
    assert 0.0 <= report["exact_match"] <= 1.0 and len(report["samples"]) == 6
    # Gates read the task's own metrics; nothing is copied into accuracy/macro_f1.
    assert report["primary"] == "exact_match" and "accuracy" not in report["metrics"]
    verdicts = {g["gate"]: g["passed"] for g in report["gates"]}
    assert verdicts == {"min_exact_match": True, "max_perplexity": False}
    # compare_base: the untuned base answered the same rows; tuning lowered answer perplexity
    assert report["base"]["model"] == str(tiny_llama)
    assert set(report["base"]["metrics"]) == set(report["metrics"])
    assert report["change"]["perplexity"] == pytest.approx(
        report["perplexity"] - report["base"]["metrics"]["perplexity"], abs=1e-3
    )
    assert report["change"]["perplexity"] < 0
    assert "Before and after tuning" in (ctx.run.eval_dir / "report.md").read_text("utf-8")
    assert (ctx.run.dir / "train" / "loss_curve.json").exists()
    # The register stage gives MLflow the task's real metric names; the failed gate kept the alias.
    from llmline.registry.store import client

    registered = ctx.results["register"]["result"]
    assert registered["alias"] is None and registered["failed_gates"][0]["metric"] == "perplexity"
    mlflow = client(workspace)
    version = mlflow.get_model_version(registered["name"], registered["version"])
    logged = mlflow.get_run(version.run_id).data.metrics
    assert {"val_exact_match", "val_rouge_l", "val_perplexity"} <= set(logged)
    assert "val_accuracy" not in logged and "val_macro_f1" not in logged
    assert logged["val_exact_match"] == pytest.approx(report["exact_match"])
    generator = load_predictor(model_dir)
    assert generator.task == "causal_lm"
    assert generator.settings.system_prompt == "Answer with one word."
    assert isinstance(generator.predict(["say apple"])[0]["text"], str)
