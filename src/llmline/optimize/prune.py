"""Magnitude pruning and attention-head pruning of the encoder.

Magnitude: `torch.nn.utils.prune.global_unstructured` with L1 over every encoder Linear, made
permanent with `prune.remove`. Heads: transformers 5 removed `prune_heads` and BERT needs the
same head count in every layer, so the least important heads are zeroed instead (query, key,
value rows and output columns): same graph, heads that contribute exactly nothing. Importance is
the product of a head's value and output weight norms, a data-free proxy for Michel et al.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmline.errors import ModelError
from llmline.models.classifier import load_classifier, save_classifier
from llmline.optimize.methods import OPTIMIZE_METHODS, OptimizeInputs


def _encoder_linears(model: Any) -> list[Any]:
    import torch

    return [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)]


@OPTIMIZE_METHODS.register("magnitude-prune")
def magnitude_prune(inputs: OptimizeInputs, out_dir: Path) -> Path:
    from torch.nn.utils import prune

    model, tokenizer = load_classifier(inputs.model_dir)
    targets = [(linear, "weight") for linear in _encoder_linears(model)]
    prune.global_unstructured(
        targets, pruning_method=prune.L1Unstructured, amount=inputs.spec.sparsity
    )
    for linear, name in targets:
        prune.remove(linear, name)
    save_classifier(model, tokenizer, out_dir)
    return out_dir


def _attention_layers(model: Any) -> list[Any]:
    layers = getattr(getattr(model.encoder, "encoder", None), "layer", None)
    if layers is None or not hasattr(layers[0], "attention"):
        raise ModelError(
            "head pruning supports BERT-family encoders (encoder.layer[i].attention)",
            fix="use magnitude-prune or distill for this architecture",
        )
    return list(layers)


def head_importance(layer: Any, heads: int) -> list[float]:
    """Per head: ||W_value rows|| * ||W_out columns||, how much the head can add to the output."""
    value = layer.attention.self.value.weight.detach()
    out = layer.attention.output.dense.weight.detach()
    size = value.shape[0] // heads
    return [
        float(value[h * size : (h + 1) * size].norm() * out[:, h * size : (h + 1) * size].norm())
        for h in range(heads)
    ]


def zero_heads(layer: Any, heads: int, drop: list[int]) -> None:
    import torch

    attention = layer.attention.self
    size = attention.query.weight.shape[0] // heads
    with torch.no_grad():
        for h in drop:
            rows = slice(h * size, (h + 1) * size)
            for proj in (attention.query, attention.key, attention.value):
                proj.weight[rows] = 0
                if proj.bias is not None:
                    proj.bias[rows] = 0
            layer.attention.output.dense.weight[:, rows] = 0


@OPTIMIZE_METHODS.register("head-prune")
def head_prune(inputs: OptimizeInputs, out_dir: Path) -> Path:
    model, tokenizer = load_classifier(inputs.model_dir)
    heads = int(model.encoder.config.num_attention_heads)
    drop_count = min(inputs.spec.heads_per_layer, heads - 1)
    for layer in _attention_layers(model):
        scores = head_importance(layer, heads)
        zero_heads(layer, heads, sorted(range(heads), key=scores.__getitem__)[:drop_count])
    meta = model.meta
    meta.extra = {**meta.extra, "pruned_heads_per_layer": drop_count}
    save_classifier(model, tokenizer, out_dir)
    return out_dir
