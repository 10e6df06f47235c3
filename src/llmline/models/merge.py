"""Merge a saved adapter into its base model and prove the merge changed nothing.

`llmline export --merge` calls `merge_adapter`: it loads base + adapter, computes logits on a
few probe texts, merges (`merge_and_unload`), computes them again and refuses to write the
merged model if the largest difference exceeds the tolerance. The tolerance is relative to the
largest logit (at least 1): a causal LM's logits over a 49k vocabulary run to 20-30, and fp32
rounding of the merged weights moved them by 1.3e-4 (SmolLM2 + LoRA), where a classifier's few
logits of 1-5 move by 1e-6.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.errors import ModelError
from llmline.models.adapters import BASE_FILE, is_adapter_dir
from llmline.models.classifier import HEAD_FILE
from llmline.models.meta import ModelMeta

PROBE_TEXTS = (
    "Where is the card I ordered last week?",
    "Anna Smith flew from Paris to New York on Monday.",
    "The quick brown fox jumps over the lazy dog.",
)
MERGEABLE = ("lora", "adalora", "ia3")


@dataclass
class MergeResult:
    output: Path
    max_relative_diff: float
    tolerance: float


def merge_adapter(model_dir: Path, output: Path, *, tolerance: float = 1e-4) -> MergeResult:
    """Write a full (adapter-free) model to output, checked against base + adapter."""
    if not is_adapter_dir(model_dir):
        raise ModelError(f"{model_dir} holds no adapter to merge", fix="point at a PEFT run")
    meta = ModelMeta.load(model_dir)
    method = str(meta.extra.get("peft", {}).get("method", ""))
    if method == "adapter":
        raise ModelError(
            "a bottleneck adapter cannot be merged into the base weights: the ReLU between its "
            "down- and up-projection is non-linear",
            fix="serve the adapter as it is (saved alone, pinned to its base)",
        )
    if method not in MERGEABLE:
        raise ModelError(
            f"a {method or 'prompt-learning'} adapter cannot be merged into weights",
            fix=f"merge works for {', '.join(MERGEABLE)}; serve this adapter as it is",
        )
    model, tokenizer = _load(model_dir, meta)
    before = _logits(model, tokenizer)
    merged = _merge(model, meta)
    after = _logits(merged, tokenizer)
    scale = max(1.0, float(before.abs().max()))
    diff = float((before - after).abs().max()) / scale
    if diff > tolerance:
        raise ModelError(
            f"merged logits differ from base+adapter by {diff:.2e} of the largest logit "
            f"({scale:.1f}; tolerance {tolerance:.0e})",
            fix="keep serving the adapter, or raise --tolerance if fp16 rounding explains it",
        )
    _save(merged, tokenizer, meta, model_dir, output)
    return MergeResult(output, diff, tolerance)


def _load(model_dir: Path, meta: ModelMeta) -> tuple[Any, Any]:
    if meta.task == "classification":
        from llmline.models.classifier import load_classifier

        return load_classifier(model_dir)
    from llmline.models.predictor import load_predictor

    predictor: Any = load_predictor(model_dir)
    return predictor.model, predictor.tokenizer


def _logits(model: Any, tokenizer: Any) -> Any:
    import torch

    batch = tokenizer(list(PROBE_TEXTS), padding=True, return_tensors="pt")
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    model.eval()
    with torch.inference_mode():
        out = model(**inputs)
    logits = out["logits"] if isinstance(out, dict) else out.logits
    return logits.float().clone()


def _merge(model: Any, meta: ModelMeta) -> Any:
    """The same model with adapter weights folded into the base (peft merge_and_unload)."""
    if meta.task == "classification":
        model.encoder = model.encoder.merge_and_unload()
        return model
    return model.merge_and_unload()


def _save(model: Any, tokenizer: Any, meta: ModelMeta, model_dir: Path, output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    if meta.task == "classification":
        model.encoder.save_pretrained(output, safe_serialization=True)
        shutil.copy2(model_dir / HEAD_FILE, output / HEAD_FILE)
    else:
        model.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)
    merged_meta = ModelMeta(**{**meta.__dict__, "extra": dict(meta.extra)})
    merged_meta.extra["merged_from"] = {
        "adapter": str(model_dir), "peft": merged_meta.extra.pop("peft", None),
        "base": merged_meta.extra.pop("base", None),
    }  # fmt: skip
    merged_meta.save(output)
    (output / BASE_FILE).unlink(missing_ok=True)
