"""Every PEFT method on every task: trains a step, saves alone, reloads identically;
mergeable adapters merge with the logits check. Prefix tuning, which needs a forward that takes
past_key_values, works on decoders and is refused with a spec error on encoders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmline.errors import ModelError, SpecError
from llmline.models.adapters import load_body, pin_base
from llmline.models.meta import ModelMeta
from llmline.spec import PeftSpec, TrainSpec
from llmline.train.controls import apply_peft

TEXTS = ["where is my new card", "Anna flew to Paris"]
METHODS = ["lora", "adalora", "ia3", "prefix", "prompt"]


def deprecated_prefix_handover(method: str) -> Any:
    """Prefix tuning reaches transformers 5 models through `past_key_values`, a deprecated alias
    of `cache` until transformers 5.40: expected here, so its removal fails this test by name."""
    import contextlib

    if method != "prefix":
        return contextlib.nullcontext()
    return pytest.warns(FutureWarning, match="past_key_values")


def _one_step(model: Any, batch: dict[str, Any], labels: Any) -> None:
    import torch

    model.train()
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    out = model(**batch, labels=labels)
    loss = out["loss"] if isinstance(out, dict) else out.loss
    loss.backward()
    optimiser.step()
    model.eval()


def _logits(model: Any, batch: dict[str, Any]) -> Any:
    import torch

    with torch.inference_mode():
        out = model(**batch)
    return (out["logits"] if isinstance(out, dict) else out.logits).float()


@pytest.mark.parametrize("method", ["lora", "adalora", "ia3"])
def test_ner_adapter_trains_saves_alone_and_reloads(
    method: str, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from llmline.models.ner import label_config

    config = label_config(["O", "B-PER", "I-PER"])
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    base = AutoModelForTokenClassification.from_pretrained(tiny_bert_dir, **config)
    model = apply_peft(base, PeftSpec(method=method, virtual_tokens=4), task_type="TOKEN_CLS",
                       total_steps=20)  # fmt: skip
    batch = dict(tokenizer(TEXTS, padding=True, return_tensors="pt"))
    batch.pop("token_type_ids", None)
    labels = torch.zeros_like(batch["input_ids"])
    _one_step(model, batch, labels)
    expected = _logits(model, batch)
    model.save_pretrained(tmp_path, safe_serialization=True)
    pin_base(tmp_path, str(tiny_bert_dir), tiny_bert_dir)
    assert not (tmp_path / "model.safetensors").exists()
    reloaded = load_body(tmp_path, AutoModelForTokenClassification, **config).eval()
    assert torch.allclose(_logits(reloaded, batch), expected, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_causal_lm_adapter_trains_saves_alone_and_reloads(
    method: str, tiny_llama_dir: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    batch = dict(tokenizer(TEXTS, padding=True, return_tensors="pt"))
    batch.pop("token_type_ids", None)
    untuned = _logits(base.eval(), batch)
    model = apply_peft(base, PeftSpec(method=method, virtual_tokens=4), task_type="CAUSAL_LM",
                       total_steps=20)  # fmt: skip
    with deprecated_prefix_handover(method):
        _one_step(model, batch, batch["input_ids"])
        expected = _logits(model, batch)
        model.save_pretrained(tmp_path, safe_serialization=True)
        pin_base(tmp_path, str(tiny_llama_dir), tiny_llama_dir)
        reloaded = load_body(tmp_path, AutoModelForCausalLM).eval()
        assert torch.allclose(_logits(reloaded, batch), expected, atol=1e-5)
    if method == "prefix":  # the prefix really reaches the layers through the deprecated alias
        assert not torch.allclose(expected, untuned, atol=1e-4)


def _adapted_classifier(method: str, base_dir: Path) -> Any:
    """The pooled classifier with its encoder wrapped as fit() wraps it."""
    from transformers import AutoModel

    from llmline.models.classifier import build_classifier
    from llmline.train.controls import adapt_body
    from llmline.train.prepared import Prepared

    meta = ModelMeta(labels=["a", "b"], max_length=16, base_model=str(base_dir))
    model = build_classifier(AutoModel.from_pretrained(base_dir), meta)
    cfg = TrainSpec(peft=PeftSpec(method=method, r=4, target_modules=None), max_steps=5)
    prepared = Prepared(model, None, [], [], None, body="encoder")
    assert adapt_body(prepared, cfg, task_type="FEATURE_EXTRACTION", steps=5) is not None
    model.meta.extra["peft"] = cfg.peft.model_dump() if cfg.peft else {}
    return model


def _classifier_with_adapter(method: str, base_dir: Path, out: Path) -> Path:
    from transformers import AutoTokenizer

    from llmline.models.classifier import save_classifier

    model = _adapted_classifier(method, base_dir)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    import torch

    _one_step(model, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]},
              torch.tensor([0, 1]))  # fmt: skip
    save_classifier(model, tokenizer, out)
    pin_base(out, str(base_dir), base_dir)
    return out


@pytest.mark.parametrize("method", ["lora", "adalora", "ia3"])
def test_classifier_adapter_merges_within_tolerance(
    method: str, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from llmline.models.merge import merge_adapter
    from llmline.models.predictor import load_predictor

    adapter = _classifier_with_adapter(method, tiny_bert_dir, tmp_path / "adapter")
    assert (adapter / "adapter_model.safetensors").exists()
    result = merge_adapter(adapter, tmp_path / "merged")
    assert result.max_relative_diff < 1e-4
    assert (tmp_path / "merged" / "model.safetensors").exists()
    meta = json.loads((tmp_path / "merged" / "llmline_model.json").read_text())
    assert meta["extra"]["merged_from"]["peft"]["method"] == method
    merged = load_predictor(tmp_path / "merged").predict(TEXTS)
    original = load_predictor(adapter).predict(TEXTS)
    for a, b in zip(merged, original, strict=True):
        assert a["label"] == b["label"] and a["score"] == pytest.approx(b["score"], abs=1e-4)


@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_classifier_prompt_learning_trains_saves_alone_and_reloads(
    method: str, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    """Prefix and prompt tuning on the pooled classifier: prompt tuning's virtual tokens are
    cut off before pooling, so the pooled vector still covers exactly the real tokens."""
    from llmline.models.predictor import load_predictor

    with deprecated_prefix_handover(method):
        adapter = _classifier_with_adapter(method, tiny_bert_dir, tmp_path / "adapter")
        first = load_predictor(adapter).predict(TEXTS, top_k=2)
        again = load_predictor(adapter).predict(TEXTS, top_k=2)
    assert (adapter / "adapter_model.safetensors").exists()
    assert not (adapter / "model.safetensors").exists()
    assert [r["score"] for r in first] == pytest.approx([r["score"] for r in again], abs=1e-6)


def test_prefix_tuning_for_token_classification_is_a_spec_error_naming_the_method(
    tiny_bert_dir: Path,
) -> None:
    """transformers 5 took past_key_values off BERT's forward, and peft's token-classification
    prefix tuning hands its prefix over only through it: refused before training (peft itself
    fails only at the first forward pass)."""
    from transformers import AutoModelForTokenClassification

    from llmline.models.ner import label_config

    base = AutoModelForTokenClassification.from_pretrained(
        tiny_bert_dir, **label_config(["O", "B-PER", "I-PER"])
    )
    with pytest.raises(SpecError, match="cannot adapt BertForTokenClassification") as error:
        apply_peft(base, PeftSpec(method="prefix", virtual_tokens=4), task_type="TOKEN_CLS",
                   total_steps=20)  # fmt: skip
    assert error.value.where == "train.peft.method" and "prompt" in (error.value.fix or "")


def test_ner_prompt_tuning_cuts_its_virtual_tokens_off_the_logits(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    """The model's own loss cannot line L + virtual logits up with L labels; the ner head's
    loss, metrics and predictor drop the leading virtual positions."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from llmline.models.ner import label_config
    from llmline.train.losses import token_loss

    config = label_config(["O", "B-PER", "I-PER"])
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    base = AutoModelForTokenClassification.from_pretrained(tiny_bert_dir, **config)
    model = apply_peft(base, PeftSpec(method="prompt", virtual_tokens=4), task_type="TOKEN_CLS",
                       total_steps=20)  # fmt: skip
    batch = dict(tokenizer(TEXTS, padding=True, return_tensors="pt"))
    batch.pop("token_type_ids", None)
    labels = torch.zeros_like(batch["input_ids"])
    loss_fn = token_loss(model, virtual_tokens=True)
    assert loss_fn is not None
    model.train()
    out = model(**batch)
    assert out.logits.shape[1] == batch["input_ids"].shape[1] + 4
    before = loss_fn(out, labels)
    before.backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0).step()
    assert loss_fn(model(**batch), labels) < before
    model.eval()
    expected = _logits(model, batch)
    model.save_pretrained(tmp_path, safe_serialization=True)
    pin_base(tmp_path, str(tiny_bert_dir), tiny_bert_dir)
    reloaded = load_body(tmp_path, AutoModelForTokenClassification, **config).eval()
    assert torch.allclose(_logits(reloaded, batch), expected, atol=1e-5)


def test_changed_base_is_refused(tiny_bert_dir: Path, tmp_path: Path) -> None:
    import shutil

    base = tmp_path / "base"
    shutil.copytree(tiny_bert_dir, base)
    adapter = _classifier_with_adapter("lora", base, tmp_path / "adapter")
    (base / "config.json").write_text((base / "config.json").read_text() + "\n")
    from llmline.models.predictor import load_predictor

    with pytest.raises(ModelError, match="sha256"):
        load_predictor(adapter)
