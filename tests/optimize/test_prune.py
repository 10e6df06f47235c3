from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmline.models.backend import load_serving_predictor
from llmline.models.classifier import load_classifier
from llmline.models.meta import ModelMeta
from llmline.models.predictor import load_predictor
from llmline.models.structure import STRUCTURE_KEY
from llmline.optimize.measure import size_on_disk_mb
from llmline.optimize.methods import OptimizeInputs, load_methods
from llmline.optimize.prune import head_importance, weakest, weakest_overall
from llmline.spec import OptimizeSpec

TEXTS = ["my card has not arrived", "why was I charged a fee", "hello there", "pin blocked"]
HEAD = 16  # the tiny model: 32 hidden units, 2 heads, 64 FFN neurons, 2 layers


def _prune(
    method: str, model_dir: Path, splits: tuple[Path, Path], out: Path, **spec: object
) -> Path:
    inputs = OptimizeInputs(model_dir, OptimizeSpec(latency_repeats=5, **spec), *splits)
    return load_methods().get(method)(inputs, out / method)


def _parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def _structure(directory: Path) -> Any:
    return ModelMeta.load(directory).extra.get(STRUCTURE_KEY)


def test_weakest_units_are_chosen_per_layer_or_against_the_layer_mean() -> None:
    assert weakest([3.0, 1.0, 2.0], 1) == [1]
    assert weakest([3.0, 1.0, 2.0], 5) == [1, 2]  # never the last unit
    scores = [[1.0, 3.0], [10.0, 10.0, 1.0]]  # relative: 0.5, 1.5 | 1.43, 1.43, 0.14
    assert weakest_overall(scores, 0.4) == [[0], [2]]
    assert weakest_overall(scores, 0.99) == [[0], [2, 0]]


def test_magnitude_prune_keeps_its_sparsity_through_recovery(
    tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    import torch

    out = _prune("magnitude-prune", tiny_model_dir, splits, tmp_path, sparsity=0.5)
    model, _ = load_classifier(out)
    weights = [m.weight for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert zeros / sum(w.numel() for w in weights) == pytest.approx(0.5, abs=0.01)
    record = ModelMeta.load(out).extra["pruning"]
    assert record["dense"] and record["recover_epochs"] == 1.0  # trained, masks held
    assert _structure(out) is None  # same shapes: an accuracy-only result


def test_head_prune_removes_the_least_important_head_of_every_layer(
    tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    import torch

    original, _ = load_classifier(tiny_model_dir)
    out = _prune("head-prune", tiny_model_dir, splits, tmp_path, prune_recover_epochs=0)
    pruned, _ = load_classifier(out)
    layers = zip(original.encoder.encoder.layer, pruned.encoder.encoder.layer, strict=True)
    for before, after in layers:
        scores = head_importance(before)
        kept = max(range(2), key=scores.__getitem__)
        value = before.attention.self.value.weight[kept * HEAD : (kept + 1) * HEAD]
        assert torch.equal(after.attention.self.value.weight, value)
        assert after.attention.self.num_attention_heads == 1
    assert _structure(out) == {"heads": [1, 1], "intermediate_size": [64, 64]}
    assert _parameters(pruned) < _parameters(original)
    assert size_on_disk_mb(out) < size_on_disk_mb(tiny_model_dir)
    assert load_predictor(out).predict(TEXTS)[0]["label"]


def test_head_share_removes_heads_across_layers_but_never_a_layers_last(
    tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    one = _prune("head-prune", tiny_model_dir, splits, tmp_path / "one", head_share=0.25)
    assert sorted(_structure(one)["heads"]) == [1, 2]  # 1 of 4 heads, from one layer
    most = _prune("head-prune", tiny_model_dir, splits, tmp_path / "most", head_share=0.9)
    assert _structure(most)["heads"] == [1, 1]
    assert load_predictor(one).predict(TEXTS)[0]["label"]


@pytest.mark.parametrize(("scope", "widths"), [("layer", [48, 48]), ("global", None)])
def test_neuron_prune_removes_ffn_neurons(
    scope: str,
    widths: list[int] | None,
    tiny_model_dir: Path,
    splits: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    out = _prune(
        "neuron-prune", tiny_model_dir, splits, tmp_path, neuron_share=0.25, neuron_scope=scope
    )
    structure = _structure(out)
    assert structure["heads"] == [2, 2]
    assert sum(structure["intermediate_size"]) == 96 and min(structure["intermediate_size"]) >= 1
    assert widths is None or structure["intermediate_size"] == widths
    assert size_on_disk_mb(out) < size_on_disk_mb(tiny_model_dir)
    assert load_predictor(out).labels == load_predictor(tiny_model_dir).labels


def test_recovery_fine_tunes_and_is_skipped_without_a_train_split(
    tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    import torch

    plain = _prune("neuron-prune", tiny_model_dir, splits, tmp_path / "0", prune_recover_epochs=0)
    tuned = _prune("neuron-prune", tiny_model_dir, splits, tmp_path / "1", prune_recover_epochs=1)
    a, b = load_classifier(plain)[0], load_classifier(tuned)[0]
    assert not torch.equal(a.head.weight, b.head.weight)
    assert ModelMeta.load(tuned).extra["pruning"]["recover_epochs"] == 1.0
    no_train = OptimizeInputs(tiny_model_dir, OptimizeSpec(), None, splits[1])
    skipped = load_methods().get("head-prune")(no_train, tmp_path / "skipped")
    assert ModelMeta.load(skipped).extra["pruning"]["recover_epochs"] == 0.0


@pytest.mark.parametrize("method", ["onnx-fp32", "dynamic-int8"])
def test_a_pruned_variant_exports_and_serves(
    method: str, tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    """Heads then neurons, both chosen globally (uneven layers), then ONNX or int8 on top."""
    heads = _prune("head-prune", tiny_model_dir, splits, tmp_path, head_share=0.25)
    both = _prune("neuron-prune", heads, splits, tmp_path, neuron_scope="global")
    assert _structure(both)["heads"] == _structure(heads)["heads"]
    inputs = OptimizeInputs(both, OptimizeSpec(latency_repeats=5), *splits)
    variant = load_serving_predictor(load_methods().get(method)(inputs, tmp_path / method))
    original = load_predictor(both).predict(TEXTS, top_k=3)
    tolerance = 1e-4 if method == "onnx-fp32" else 0.05
    for a, b in zip(original, variant.predict(TEXTS, top_k=3), strict=True):
        scores = {s["label"]: s["score"] for s in b["top_k"]}
        for score in a["top_k"]:
            assert scores[score["label"]] == pytest.approx(score["score"], abs=tolerance)


def test_head_share_and_heads_per_layer_exclude_each_other() -> None:
    from pydantic import ValidationError

    assert OptimizeSpec(head_share=0.2).heads_per_layer == 1
    with pytest.raises(ValidationError, match="head_share"):
        OptimizeSpec(head_share=0.2, heads_per_layer=2)
    with pytest.raises(ValidationError):
        OptimizeSpec(neuron_scope="model")  # type: ignore[arg-type]


def test_an_adapters_size_counts_its_pinned_base(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from llmline.models.adapters import ADAPTER_CONFIG, pin_base

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / ADAPTER_CONFIG).write_text("{}", encoding="utf-8")
    (adapter / "adapter_model.safetensors").write_bytes(b"\0" * 1000)
    pin_base(adapter, str(tiny_bert_dir), tiny_bert_dir)
    assert size_on_disk_mb(adapter) == pytest.approx(size_on_disk_mb(tiny_bert_dir) + 0.001)
