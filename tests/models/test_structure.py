from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmline.errors import ModelError
from llmline.models.classifier import build_classifier, load_classifier, save_classifier
from llmline.models.meta import ModelMeta
from llmline.models.structure import STRUCTURE_KEY, keep_heads, keep_neurons

HEAD = 8  # 32 hidden units over 4 heads


@pytest.fixture()
def classifier(tiny_bert_dir: Path) -> tuple[Any, Any]:
    """A 2-layer classifier with 4 heads of 8 units per layer (the shared tiny BERT has 2)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    meta = ModelMeta(labels=["a", "b", "c"], max_length=32)
    return build_classifier(BertModel(config), meta).eval(), tokenizer


def _logits(model: Any, tokenizer: Any) -> Any:
    import torch

    batch = tokenizer(["my card has not arrived yet", "fee?"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        return model(batch["input_ids"], batch["attention_mask"])["logits"]


def _parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def _prune(model: Any) -> None:
    """Different shapes per layer: 2 and 3 heads, 40 and 64 FFN neurons."""
    layers = model.encoder.encoder.layer
    keep_heads(layers[0], [0, 2])
    keep_heads(layers[1], [1, 2, 3])
    keep_neurons(layers[0], list(range(0, 32, 4)) + list(range(32, 64)))


def test_removing_zeroed_heads_matches_the_zeroed_dense_model(classifier: tuple[Any, Any]) -> None:
    import torch

    model, tokenizer = classifier
    layer = model.encoder.encoder.layer[0]
    with torch.no_grad():  # heads 1 and 3 contribute nothing once their output columns are zero
        for head in (1, 3):
            layer.attention.output.dense.weight[:, head * HEAD : (head + 1) * HEAD] = 0
    dense = _logits(model, tokenizer)
    before = _parameters(model)
    keep_heads(layer, [0, 2])
    assert torch.allclose(_logits(model, tokenizer), dense, atol=1e-6)
    assert layer.attention.self.num_attention_heads == 2
    assert layer.attention.self.query.weight.shape == (2 * HEAD, 32)
    assert before - _parameters(model) == 2 * (3 * (HEAD * 32 + HEAD) + 32 * HEAD)


def test_removing_zeroed_neurons_matches_the_zeroed_dense_model(
    classifier: tuple[Any, Any],
) -> None:
    import torch

    model, tokenizer = classifier
    layer = model.encoder.encoder.layer[1]
    dropped = [0, 5, 9, 63]
    with torch.no_grad():
        layer.output.dense.weight[:, dropped] = 0
    dense = _logits(model, tokenizer)
    keep_neurons(layer, [i for i in range(64) if i not in dropped])
    assert torch.allclose(_logits(model, tokenizer), dense, atol=1e-6)
    assert layer.intermediate.dense.weight.shape == (60, 32)
    assert layer.output.dense.weight.shape == (32, 60)


def test_a_layer_keeps_at_least_one_head(classifier: tuple[Any, Any]) -> None:
    layer = classifier[0].encoder.encoder.layer[0]
    with pytest.raises(ModelError, match="cannot keep heads"):
        keep_heads(layer, [])
    with pytest.raises(ModelError):
        keep_neurons(layer, [64])


def test_pruned_classifier_saves_smaller_and_loads_back_equal(
    classifier: tuple[Any, Any], tmp_path: Path
) -> None:
    import torch

    from llmline.optimize.measure import size_on_disk_mb

    model, tokenizer = classifier
    save_classifier(model, tokenizer, tmp_path / "full")
    _prune(model)
    expected = _logits(model, tokenizer)
    save_classifier(model, tokenizer, tmp_path / "pruned")
    assert ModelMeta.load(tmp_path / "pruned").extra[STRUCTURE_KEY] == {
        "heads": [2, 3],
        "intermediate_size": [40, 64],
    }
    assert size_on_disk_mb(tmp_path / "pruned") < size_on_disk_mb(tmp_path / "full")
    loaded, _ = load_classifier(tmp_path / "pruned")
    full, _ = load_classifier(tmp_path / "full")
    assert _parameters(loaded) == _parameters(model) < _parameters(full)
    assert torch.allclose(_logits(loaded, tokenizer), expected, atol=1e-6)
    assert [layer.attention.self.all_head_size for layer in loaded.encoder.encoder.layer] == [
        2 * HEAD,
        3 * HEAD,
    ]


def test_unpruned_classifier_loads_through_from_pretrained_as_before(
    classifier: tuple[Any, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    import llmline.models.structure as structure

    model, tokenizer = classifier
    model.meta.extra[STRUCTURE_KEY] = {"heads": [1, 1], "intermediate_size": [1, 1]}  # stale
    expected = _logits(model, tokenizer)
    save_classifier(model, tokenizer, tmp_path)
    assert STRUCTURE_KEY not in ModelMeta.load(tmp_path).extra

    def refuse(*args: object) -> None:
        raise AssertionError("an unpruned model must not be rebuilt by hand")

    monkeypatch.setattr(structure, "load_shrunk_encoder", refuse)
    loaded, _ = load_classifier(tmp_path)
    assert torch.allclose(_logits(loaded, tokenizer), expected, atol=1e-6)


def test_weights_that_do_not_match_the_saved_structure_are_a_model_error(
    classifier: tuple[Any, Any], tmp_path: Path
) -> None:
    model, tokenizer = classifier
    _prune(model)
    save_classifier(model, tokenizer, tmp_path)
    meta = ModelMeta.load(tmp_path)
    meta.extra[STRUCTURE_KEY]["heads"] = [4, 3]
    meta.save(tmp_path)
    with pytest.raises(ModelError, match="do not match the saved structure"):
        load_classifier(tmp_path)


def test_a_distilled_student_of_a_pruned_model_keeps_its_structure(
    classifier: tuple[Any, Any], tmp_path: Path
) -> None:
    from llmline.optimize.distill import make_student

    model, tokenizer = classifier
    _prune(model)
    student = make_student(model, 1)  # keeps the last layer: 3 heads, 64 wide
    save_classifier(student, tokenizer, tmp_path)
    assert ModelMeta.load(tmp_path).extra[STRUCTURE_KEY] == {
        "heads": [3],
        "intermediate_size": [64],
    }
    assert len(load_classifier(tmp_path)[0].encoder.encoder.layer) == 1
