"""Bottleneck adapters (train.peft.method: adapter) on an encoder classifier, NER and a causal LM:
start as the identity, train only adapters (and a head), save alone, reload to identical outputs,
predict and serve through the chain, refuse to merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmline.errors import ModelError, SpecError
from llmline.models.adapters import load_body, pin_base
from llmline.spec import PeftSpec
from llmline.train.controls import apply_peft, count_parameters
from tests.models.test_peft_matrix import TEXTS, _classifier_with_adapter, _logits, _one_step


def test_causal_lm_adapter_is_identity_first_then_trains_saves_and_reloads(
    tiny_llama_dir: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    batch = dict(tokenizer(TEXTS, padding=True, return_tensors="pt"))
    batch.pop("token_type_ids", None)
    untuned = _logits(base, batch)
    layers = base.config.num_hidden_layers
    model = apply_peft(base, PeftSpec(method="adapter", reduction_factor=4),
                       task_type="CAUSAL_LM", total_steps=1)  # fmt: skip
    assert len(model.adapter_config["targets"]) == 2 * layers  # o_proj and down_proj per layer
    assert torch.allclose(_logits(model.eval(), batch), untuned, atol=1e-6)  # W_up starts at 0
    trainable, _ = count_parameters(model)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable > 0 and all(".adapter." in n for n in names)
    _one_step(model, batch, batch["input_ids"])
    expected = _logits(model, batch)
    assert not torch.allclose(expected, untuned, atol=1e-4)
    model.save_pretrained(tmp_path, safe_serialization=True)
    pin_base(tmp_path, str(tiny_llama_dir), tiny_llama_dir)
    assert not (tmp_path / "model.safetensors").exists()
    assert json.loads((tmp_path / "adapter_config.json").read_text())["layout"] == "houlsby"
    reloaded = load_body(tmp_path, AutoModelForCausalLM)
    assert torch.allclose(_logits(reloaded, batch), expected, atol=1e-5)
    generated = reloaded.generate(**batch, max_new_tokens=3, do_sample=False)
    assert generated.shape[1] == batch["input_ids"].shape[1] + 3
    with pytest.raises(ModelError, match="non-linear"):
        reloaded.merge_and_unload()


def test_trainer_checkpoint_state_dict_holds_tied_weights_once(
    tiny_llama_dir: Path, tmp_path: Path
) -> None:
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    base.config.tie_word_embeddings = True
    base.tie_weights()
    model = apply_peft(base, PeftSpec(method="adapter"), task_type="CAUSAL_LM", total_steps=1)
    state = model.state_dict()
    pointers = [t.data_ptr() for t in state.values()]
    assert len(pointers) == len(set(pointers))
    # a file of its own: safetensors replaces its target, and as root "/dev/null" was replaced
    save_file(
        {k: v.contiguous() for k, v in state.items()}, str(tmp_path / "checkpoint.safetensors")
    )


def test_ner_adapter_trains_its_head_and_reloads(tiny_bert_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from llmline.models.ner import label_config

    config = label_config(["O", "B-PER", "I-PER"])
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    base = AutoModelForTokenClassification.from_pretrained(tiny_bert_dir, **config)
    model = apply_peft(base, PeftSpec(method="adapter", adapter_layout="pfeiffer"),
                       task_type="TOKEN_CLS", total_steps=1)  # fmt: skip
    assert all("attention" not in n for n in model.adapter_config["targets"])  # FFN only
    trained = {n.split(".")[1] for n, p in model.named_parameters() if p.requires_grad}
    assert "classifier" in trained
    batch = dict(tokenizer(TEXTS, padding=True, return_tensors="pt"))
    _one_step(model, batch, torch.zeros_like(batch["input_ids"]))
    expected = _logits(model, batch)
    model.save_pretrained(tmp_path)
    pin_base(tmp_path, str(tiny_bert_dir), tiny_bert_dir)
    reloaded = load_body(tmp_path, AutoModelForTokenClassification, **config)
    assert torch.allclose(_logits(reloaded, batch), expected, atol=1e-5)


def test_classifier_adapter_saves_alone_predicts_and_refuses_merge(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from llmline.models.merge import merge_adapter
    from llmline.models.predictor import load_predictor

    adapter = _classifier_with_adapter("adapter", tiny_bert_dir, tmp_path / "adapter")
    assert (adapter / "adapter_model.safetensors").exists()
    assert not (adapter / "model.safetensors").exists()
    first = load_predictor(adapter).predict(TEXTS, top_k=2)
    again = load_predictor(adapter).predict(TEXTS, top_k=2)
    assert [r["score"] for r in first] == pytest.approx([r["score"] for r in again], abs=1e-6)
    with pytest.raises(ModelError, match="non-linear") as error:
        merge_adapter(adapter, tmp_path / "merged")
    assert "serve the adapter" in (error.value.fix or "")
    assert not (tmp_path / "merged").exists()


def test_unknown_targets_are_a_spec_error(tiny_bert_dir: Path) -> None:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_bert_dir)
    with pytest.raises(SpecError, match="no attention or feed-forward") as error:
        apply_peft(model, PeftSpec(method="adapter", target_modules=["nope"]),
                   task_type="FEATURE_EXTRACTION", total_steps=1)  # fmt: skip
    assert error.value.where == "train.peft.target_modules"
    with pytest.raises(ValueError, match="reduction_factor"):
        PeftSpec(method="adapter", reduction_factor=0)


@pytest.mark.slow
def test_adapter_classifier_through_the_chain_and_served(
    toy_csv: Path, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from llmline.chain import run_chain
    from llmline.models.predictor import load_predictor
    from llmline.serve.app import create_app
    from llmline.spec import load_spec
    from llmline.workspace import Workspace
    from tests.conftest import toy_spec_text

    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        toy_spec_text(toy_csv, tiny_bert_dir, max_steps=4,
                      peft="{method: adapter, reduction_factor: 8}"),
        encoding="utf-8",
    )  # fmt: skip
    ctx = run_chain(load_spec(spec_path), Workspace.resolve(tmp_path / "ws"))
    model_dir = ctx.run.model_dir
    assert (model_dir / "adapter_model.safetensors").exists()
    assert not (model_dir / "model.safetensors").exists()
    assert json.loads((model_dir / "base.json").read_text())["reference"] == str(tiny_bert_dir)
    report: dict[str, Any] = json.loads((ctx.run.eval_dir / "report.json").read_text())
    assert 0.0 <= report["metrics"]["accuracy"] <= 1.0
    predictor = load_predictor(model_dir)
    client = TestClient(create_app(predictor, model_ref="adapter"))
    answer = client.post("/v1/classify", json={"texts": ["I loved this film", "我很喜欢"]})
    assert answer.status_code == 200, answer.text
    expected = predictor.predict(["I loved this film", "我很喜欢"])
    got = answer.json()
    results = got.get("results", got.get("predictions", []))
    assert [r["label"] for r in results] == [r["label"] for r in expected]
