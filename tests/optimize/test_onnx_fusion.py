from __future__ import annotations

import json
from pathlib import Path

from llmline.optimize.onnx import ONNX_FILE, export_onnx


def _op_types(path: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_bert_export_is_fused_into_attention_kernels(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = export_onnx(tiny_model_dir, tmp_path / "fp32", int8=False)
    ops = _op_types(out / ONNX_FILE)
    assert {"Attention", "SkipLayerNormalization"} <= ops
    assert json.loads((out / "llmline_model.json").read_text())["extra"]["graph"] == "fused"
    assert sorted(p.name for p in out.glob("*.onnx")) == [ONNX_FILE]


def test_int8_export_quantizes_the_fused_attention(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = export_onnx(tiny_model_dir, tmp_path / "int8", int8=True)
    assert "QAttention" in _op_types(out / ONNX_FILE)


def test_a_head_pruned_model_fuses_what_still_matches_and_agrees(
    tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    import numpy as np

    from llmline.models.backend import load_serving_predictor
    from llmline.models.predictor import load_predictor
    from llmline.optimize.methods import OptimizeInputs, load_methods
    from llmline.spec import OptimizeSpec

    spec = OptimizeSpec(latency_repeats=5, head_share=0.25, prune_recover_epochs=0)
    pruned = load_methods().get("head-prune")(
        OptimizeInputs(tiny_model_dir, spec, *splits), tmp_path / "pruned"
    )
    out = export_onnx(pruned, tmp_path / "onnx", int8=False)
    assert "SkipLayerNormalization" in _op_types(out / ONNX_FILE)
    texts = ["my card has not arrived", "hello there"]
    expected = load_predictor(pruned).probabilities(texts)
    assert np.allclose(load_serving_predictor(out).probabilities(texts), expected, atol=1e-4)
