from __future__ import annotations

from pathlib import Path

import pytest

from llmline.models.backend import load_serving_predictor
from llmline.models.predictor import load_predictor
from llmline.optimize.methods import OptimizeInputs, load_methods
from llmline.spec import OptimizeSpec

TEXTS = ["my card has not arrived", "why was I charged a fee", "hello there", "pin blocked"]


def _inputs(model_dir: Path, splits: tuple[Path, Path], **spec: object) -> OptimizeInputs:
    return OptimizeInputs(model_dir, OptimizeSpec(latency_repeats=5, **spec), *splits)


@pytest.mark.parametrize("method", ["onnx-fp32", "onnx-int8", "dynamic-int8"])
def test_quantized_and_onnx_variants_agree_with_the_original(
    method: str, tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    out = load_methods().get(method)(_inputs(tiny_model_dir, splits), tmp_path / method)
    original = load_predictor(tiny_model_dir).predict(TEXTS, top_k=3)
    variant = load_serving_predictor(out).predict(TEXTS, top_k=3)
    tolerance = 1e-4 if method == "onnx-fp32" else 0.05
    for a, b in zip(original, variant, strict=True):
        scores_a = {s["label"]: s["score"] for s in a["top_k"]}
        scores_b = {s["label"]: s["score"] for s in b["top_k"]}
        for label, score in scores_a.items():
            assert scores_b[label] == pytest.approx(score, abs=tolerance)


def test_onnx_variant_has_no_torch_weights_and_embeds(
    tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    out = load_methods().get("onnx-int8")(_inputs(tiny_model_dir, splits), tmp_path / "o")
    assert (out / "model.onnx").exists()
    assert not list(out.glob("*.safetensors"))
    vectors = load_serving_predictor(out).embed(TEXTS[:2])
    assert vectors.shape == (2, 32)


def test_distill_builds_a_shallower_student(
    tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    from llmline.models.classifier import load_classifier
    from llmline.optimize.distill import keep_layers

    assert keep_layers(6, 3) == [1, 3, 5]
    assert keep_layers(2, 5) == [0, 1]
    out = load_methods().get("distill")(
        _inputs(tiny_model_dir, splits, student_layers=1, distill_epochs=1.0), tmp_path / "d"
    )
    student, _ = load_classifier(out)
    assert len(student.encoder.encoder.layer) == 1
    assert load_predictor(out).labels == load_predictor(tiny_model_dir).labels
