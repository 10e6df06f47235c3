"""Causal-LM variants on a tiny random Llama: int8 and GGUF, measured, gated, registered, served."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.errors import SpecError
from llmline.optimize.generative import gate
from llmline.spec import OptimizeSpec
from llmline.workspace import Workspace
from tests.models.conftest import build_tiny_llama

pytest.importorskip("gguf")

CONVERSATIONS = [
    ("Where is my card?", "card_arrival"),
    ("我的卡什么时候到？", "card_arrival"),
    ("I want to close my account", "terminate_account"),
    ("汇率是多少", "exchange_rate"),
    ("\r", "unknown"),  # tokenises to nothing: the generator must still answer
    ("Why was I charged twice for the same thing??", "transaction_charged_twice"),
]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def chat_validation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    messages = [
        json.dumps(
            [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
            ensure_ascii=False,
        )
        for q, a in CONVERSATIONS
    ]
    path = tmp_path_factory.mktemp("chat") / "validation.parquet"
    pq.write_table(pa.table({"messages": messages}), path)
    return path


@pytest.mark.parametrize(("qtype", "tolerance"), [("F32", 0.0), ("F16", 1e-2), ("Q8_0", 5e-2)])
def test_gguf_export_round_trips_through_the_serving_loader(
    tiny_llama: Path, tmp_path: Path, qtype: str, tolerance: float
) -> None:
    import torch

    from llmline.models.generator import load_generator
    from llmline.optimize.gguf_export import GGUF_FILE, export_gguf

    out = export_gguf(tiny_llama, tmp_path / qtype, qtype=qtype)
    assert (out / GGUF_FILE).exists() and not list(out.glob("*.safetensors"))
    original, exported = load_generator(tiny_llama), load_generator(out)
    ids = original.tokenizer(["where is my card 我的卡"], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        diff = (original.model(ids).logits - exported.model(ids).logits).abs().max()
    assert float(diff) <= tolerance
    if qtype == "Q8_0":  # int8 blocks: about a quarter of the fp32 weights, plus scales
        fp32 = sum(p.stat().st_size for p in tiny_llama.glob("*.safetensors"))
        assert (out / GGUF_FILE).stat().st_size < 0.5 * fp32


def test_gguf_tensor_layout_matches_llama_cpp(tiny_llama: Path, tmp_path: Path) -> None:
    import gguf

    from llmline.optimize.gguf_export import export_gguf

    reader = gguf.GGUFReader(export_gguf(tiny_llama, tmp_path, qtype="Q8_0") / "model.gguf")
    kinds = {t.name: t.tensor_type.name for t in reader.tensors}
    assert kinds["blk.0.attn_q.weight"] == "Q8_0" and kinds["blk.1.ffn_down.weight"] == "Q8_0"
    assert kinds["blk.0.attn_norm.weight"] == "F32" and "token_embd.weight" in kinds
    assert int(reader.fields["llama.block_count"].parts[-1][0]) == 2


def test_gate_checks_exact_match_and_perplexity() -> None:
    spec = OptimizeSpec.model_validate({"max_accuracy_drop": 0.02, "max_perplexity_increase": 0.05})
    base = {"exact_match": 0.80, "perplexity": 2.0, "tokens_per_s": 10.0}
    ok = {"exact_match": 0.79, "perplexity": 2.08, "tokens_per_s": 20.0}
    assert gate("dynamic-int8", base, ok, spec)["passed"] and ok["speedup"] == 2.0
    worse_ppl = {"exact_match": 0.80, "perplexity": 2.2, "tokens_per_s": 10.0}
    verdict = gate("gguf-q8_0", base, worse_ppl, spec)
    assert not verdict["passed"] and verdict["actual"]["perplexity_increase"] == pytest.approx(0.1)
    worse_em = {"exact_match": 0.70, "perplexity": 2.0, "tokens_per_s": 10.0}
    assert not gate("x", base, worse_em, spec)["passed"]


def test_a_classifier_method_on_a_chat_model_names_the_ones_that_apply(
    tiny_llama: Path, chat_validation: Path, tmp_path: Path
) -> None:
    from llmline.optimize.methods import OptimizeInputs
    from llmline.optimize.stage import optimize_model

    spec = OptimizeSpec.model_validate({"methods": ["head-prune"]})
    inputs = OptimizeInputs(tiny_llama, spec, None, chat_validation)
    with pytest.raises(SpecError, match="gguf-q8_0"):
        optimize_model(inputs, ["head-prune"], tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # three fresh measuring processes; minutes on a loaded 2-core machine
def test_optimize_a_chat_model_measures_gates_registers_and_serves(
    tiny_llama: Path, chat_validation: Path, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from llmline.cli import main
    from llmline.registry.store import get_version
    from llmline.serve.runner import ServeOptions, build_app
    from llmline.workspace import Workspace

    out, ws = tmp_path / "out", tmp_path / "ws"
    config = tmp_path / "spec.yaml"
    config.write_text("optimize: {max_perplexity_increase: 1.0, generation_rows: 4}\n")
    args = ["optimize", "--model", str(tiny_llama), "--method", "dynamic-int8", "--method",
            "gguf-q8_0", "--config", str(config), "--validation", str(chat_validation),
            "--out", str(out), "--workspace", str(ws), "--max-accuracy-drop", "1.0"]  # fmt: skip
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert [v["name"] for v in report["variants"]] == ["dynamic-int8", "gguf-q8_0"]
    for row in [report["baseline"], *report["variants"]]:
        assert row["tokens_per_s"] > 0 and row["peak_rss_mb"] > 0 and row["perplexity"] > 1
        assert row["rows"] == 4
    int8, q8 = report["variants"]
    assert int8["size_mb"] < report["baseline"]["size_mb"] and q8["gate"]["passed"]
    assert "| gguf-q8_0 |" in (out / "report.md").read_text()
    version = get_version(Workspace.resolve(ws), int8["registered"])
    assert version.tags["llmline.task"] == "causal_lm"
    for variant in ("dynamic-int8", "gguf-q8_0"):
        app = build_app(ServeOptions(str(out / variant), str(ws), {"monitor": False}))
        reply = TestClient(app).post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "我的卡呢?"}], "max_tokens": 5},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["usage"]["completion_tokens"] <= 5


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_packaged_smollm2_as_q8_0_gguf_still_answers_and_carries_its_tokenizer(
    tmp_path: Path, smollm2_workspace: Workspace
) -> None:
    import gguf

    from llmline.models.generator import load_generator
    from llmline.models.resolve import resolve_model
    from llmline.optimize.gguf_export import export_gguf

    source = resolve_model("packaged:smollm2", smollm2_workspace)
    out = export_gguf(source, tmp_path / "q8", qtype="Q8_0")
    reader = gguf.GGUFReader(out / "model.gguf")
    assert reader.fields["tokenizer.ggml.model"].contents() == "gpt2"
    generator = load_generator(out)
    assert len(reader.fields["tokenizer.ggml.tokens"].data) == len(generator.tokenizer)
    prompt = generator.chat_prompt([{"role": "user", "content": "What is the capital of France?"}])
    assert "Paris" in generator.generate([prompt], max_new_tokens=12)[0].text
