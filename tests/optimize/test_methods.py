from __future__ import annotations

from pathlib import Path

import pytest

from llmline.models.predictor import load_predictor
from llmline.optimize.methods import OptimizeInputs, load_methods
from llmline.optimize.runtime import load_serving_predictor
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


def test_magnitude_prune_reaches_the_requested_sparsity(
    tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    from llmline.models.classifier import load_classifier

    out = load_methods().get("magnitude-prune")(
        _inputs(tiny_model_dir, splits, sparsity=0.5), tmp_path / "m"
    )
    model, _ = load_classifier(out)
    import torch

    weights = [m.weight for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert zeros / sum(w.numel() for w in weights) == pytest.approx(0.5, abs=0.01)


def test_head_prune_zeroes_the_least_important_head_per_layer(
    tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    from llmline.models.classifier import load_classifier
    from llmline.optimize.prune import head_importance

    original, _ = load_classifier(tiny_model_dir)
    out = load_methods().get("head-prune")(_inputs(tiny_model_dir, splits), tmp_path / "h")
    pruned, _ = load_classifier(out)
    for before, after in zip(
        original.encoder.encoder.layer, pruned.encoder.encoder.layer, strict=True
    ):
        scores = head_importance(before, 2)
        weakest = min(range(2), key=scores.__getitem__)
        value = after.attention.self.value.weight.detach()
        assert float(value[weakest * 16 : (weakest + 1) * 16].abs().sum()) == 0.0
        assert float(value[(1 - weakest) * 16 :][:16].abs().sum()) > 0.0
    assert load_predictor(out).predict(TEXTS)[0]["label"]


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
