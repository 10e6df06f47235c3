"""Class weights and label smoothing: what they compute, that every head applies them, and that
they shape only the training loss (saved models and validation losses stay as they were)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.chain import run_chain
from llmline.errors import SpecError
from llmline.spec import TrainSpec, load_spec, validate_spec
from llmline.train.losses import IGNORE, class_weights, token_loss
from llmline.workspace import Workspace
from tests.conftest import toy_spec_text
from tests.models.conftest import build_tiny_llama
from tests.tasks.test_ner import ner_spec, write_conll

LABELS = ["billing", "cards", "other"]


def test_class_weights_none_balanced_and_mapping() -> None:
    ids = [0, 0, 0, 1, IGNORE]  # "other" never occurs in training
    assert class_weights(TrainSpec(), LABELS, ids) is None
    balanced = class_weights(TrainSpec(class_weights="balanced"), LABELS, ids)
    assert balanced == pytest.approx([4 / (2 * 3), 4 / (2 * 1), 1.0])
    mapping = class_weights(TrainSpec(class_weights={"cards": 3.0}), LABELS, ids)
    assert mapping == [1.0, 3.0, 1.0]


def test_unknown_or_bad_class_weights_name_the_key() -> None:
    with pytest.raises(SpecError, match="'refunds'") as err:
        class_weights(TrainSpec(class_weights={"refunds": 2.0}), LABELS, [0, 1])
    assert err.value.where == "train.class_weights"
    raw = {"name": "x", "data": {"source": {"path": __file__, "label_column": "y"}}}
    with pytest.raises(SpecError, match=r"train\.class_weights"):
        validate_spec({**raw, "train": {"class_weights": {"cards": 0}}})
    with pytest.raises(SpecError, match=r"train\.class_weights"):
        validate_spec({**raw, "train": {"class_weights": "inverse"}})


def test_weighted_classifier_trains_weighted_evaluates_plain_and_saves_as_before(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from llmline.models.classifier import build_classifier, load_classifier, save_classifier
    from llmline.models.meta import ModelMeta

    torch.manual_seed(0)
    meta = ModelMeta(labels=LABELS, max_length=32)
    encoder = AutoModel.from_pretrained(tiny_bert_dir)
    model = build_classifier(encoder, meta, class_weights=[1.0, 5.0, 1.0], label_smoothing=0.2)
    plain = build_classifier(encoder, meta)
    plain.head.load_state_dict(model.head.state_dict())
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    batch = dict(tokenizer(["card pin", "invoice fee"], padding=True, return_tensors="pt"))
    labels = torch.tensor([1, 0])
    for m in (model, plain):
        m.eval()
    with torch.no_grad():
        unweighted = float(plain(**batch, labels=labels)["loss"])
        assert float(model(**batch, labels=labels)["loss"]) == pytest.approx(unweighted)
        model.train()  # the shared encoder stays in eval mode: no dropout, same logits
        encoder.eval()
        assert float(model(**batch, labels=labels)["loss"]) != pytest.approx(unweighted)
    assert "class_weights" not in model.state_dict()
    save_classifier(model, tokenizer, tmp_path / "m")
    loaded, _ = load_classifier(tmp_path / "m")
    with torch.no_grad():
        model.eval()
        assert torch.allclose(loaded(**batch)["logits"], model(**batch)["logits"], atol=1e-6)


def test_token_loss_shifts_masks_and_smooths_only_in_training(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(build_tiny_llama(tmp_path / "llama")).eval()
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    labels = torch.tensor([[IGNORE, IGNORE, IGNORE, 8, 9, 10]])  # loss on the answer only
    with torch.no_grad():
        outputs = model(input_ids=ids)
        own = float(model(input_ids=ids, labels=labels).loss)
    assert token_loss(model, shift=True) is None  # nothing to change: the model's own loss
    smoothed = token_loss(model, smoothing=0.3, shift=True)
    assert smoothed is not None
    assert float(smoothed(outputs, labels, num_items_in_batch=3)) == pytest.approx(own, rel=1e-5)
    model.train()
    trained = float(smoothed(outputs, labels, num_items_in_batch=3))
    expected = torch.nn.functional.cross_entropy(
        outputs.logits[0, 2:5], labels[0, 3:], label_smoothing=0.3
    )
    assert trained == pytest.approx(float(expected), rel=1e-5) and trained != pytest.approx(own)


def _train_loss(ctx: object) -> float:
    return float(ctx.results["train"]["result"]["metrics"]["train_loss"])  # type: ignore[attr-defined]


@pytest.mark.slow
def test_ner_head_honours_label_smoothing(tmp_path: Path, tiny_bert_dir: Path) -> None:
    data = write_conll(tmp_path / "train.txt", rows=20)
    losses = []
    for smoothing in (0.0, 0.3):
        extra = f"  max_steps: 3\n  label_smoothing: {smoothing}\n"
        spec = load_spec(ner_spec(tmp_path, data, tiny_bert_dir, extra))
        ctx = run_chain(spec, Workspace.resolve(tmp_path / "ws"), until="train")
        losses.append(_train_loss(ctx))
    assert losses[0] != pytest.approx(losses[1], abs=1e-4)


@pytest.mark.slow
def test_causal_lm_head_honours_label_smoothing(tmp_path: Path) -> None:
    llama = build_tiny_llama(tmp_path / "llama")
    rows = [{"id": i, "messages": [{"role": "user", "content": f"say {w}"},
                                   {"role": "assistant", "content": w}]}
            for i, w in enumerate(["apple", "banana", "cherry", "grape"] * 4)]  # fmt: skip
    data = tmp_path / "chat.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    losses = []
    for smoothing in (0.0, 0.3):
        path = tmp_path / "chat.yaml"
        path.write_text(
            f"name: chat\ntask: causal_lm\ndata:\n  source: {{path: {data}}}\n  dedup: false\n"
            f"train:\n  base_model: {llama}\n  max_steps: 3\n  batch_size: 4\n"
            f"  learning_rate: 1.0e-2\n  max_length: 64\n  label_smoothing: {smoothing}\n",
            encoding="utf-8",
        )
        ctx = run_chain(load_spec(path), Workspace.resolve(tmp_path / "ws"), until="train")
        losses.append(_train_loss(ctx))
    assert losses[0] != pytest.approx(losses[1], abs=1e-4)


@pytest.mark.slow
def test_classification_class_weights_reach_training(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path
) -> None:
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        toy_spec_text(toy_csv, tiny_bert_dir, class_weights="{pos: 2.0, refunds: 1.0}"),
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match="refunds") as err:
        run_chain(load_spec(spec_path), Workspace.resolve(tmp_path / "ws"), until="train")
    assert err.value.where == "train.class_weights"
    losses = []
    for weights in ("none", "{pos: 4.0}"):
        text = toy_spec_text(toy_csv, tiny_bert_dir, class_weights=weights, max_steps=3)
        spec_path.write_text(text, encoding="utf-8")
        ctx = run_chain(load_spec(spec_path), Workspace.resolve(tmp_path / "ws"), until="train")
        losses.append(_train_loss(ctx))
    assert losses[0] != pytest.approx(losses[1], abs=1e-4)
