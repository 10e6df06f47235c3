"""Pruning the encoder: unstructured weights, or whole attention heads and FFN neurons.

- `magnitude-prune` zeroes the `sparsity` share of encoder Linear weights with the lowest
  magnitude (`torch.nn.utils.prune.global_unstructured`, L1). The zeros stay inside dense tensors
  of unchanged shape, so the variant is exactly as large and as fast as the original: it is an
  accuracy-only result, telling what that sparsity would cost with sparse kernels.
- `head-prune` removes attention heads physically: `heads_per_layer` from every layer, or
  `head_share` of all heads chosen across layers. A head's importance is the product of its
  value and output weight norms, a data-free proxy for Michel et al. (2019), scored against its
  layer's mean when ranked globally (they normalise per layer for the same reason).
- `neuron-prune` removes FFN intermediate neurons physically, lowest ||W_in row|| * ||W_out
  column|| first, `neuron_share` of every layer or of all neurons (`neuron_scope`).

The structured methods shrink the tensors, so their variants are smaller and faster; the saved
model records its per-layer shapes and loads anywhere `load_classifier` does (models.structure).
Each method then fine-tunes on the train split with the unpruned model as teacher
(`prune_recover_epochs`, distill's loop) to win back what pruning cost.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmline.console import console
from llmline.models.classifier import load_classifier, save_classifier
from llmline.models.structure import bert_layers, keep_heads, keep_neurons
from llmline.optimize.methods import OPTIMIZE_METHODS, OptimizeInputs


def _encoder_linears(model: Any) -> list[Any]:
    import torch

    return [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)]


def _parameters(model: Any) -> int:
    return sum(p.numel() for p in model.encoder.parameters())


@OPTIMIZE_METHODS.register("magnitude-prune")
def magnitude_prune(inputs: OptimizeInputs, out_dir: Path) -> Path:
    """Unstructured L1 pruning: an accuracy-only result, the tensors (size, latency) unchanged."""
    from torch.nn.utils import prune

    model, tokenizer = load_classifier(inputs.model_dir)
    sparsity = inputs.spec.sparsity
    targets = [(linear, "weight") for linear in _encoder_linears(model)]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=sparsity)
    console.print(
        f"[bold]magnitude-prune[/]: {sparsity:.0%} of the encoder's Linear weights zeroed; the "
        "tensors keep their shape, so size and latency do not change (accuracy-only result)"
    )
    recovered = _recover(model, tokenizer, inputs, "magnitude-prune")  # masks hold while it trains
    for linear, name in targets:
        prune.remove(linear, name)
    record = {"method": "magnitude-prune", "sparsity": sparsity, "dense": True}
    return _save(model, tokenizer, out_dir, {**record, "recover_epochs": recovered})


def head_importance(layer: Any) -> list[float]:
    """Per head: ||W_value rows|| * ||W_out columns||, how much the head can add to the output."""
    value = layer.attention.self.value.weight.detach()
    out = layer.attention.output.dense.weight.detach()
    size = layer.attention.self.attention_head_size
    return [
        float(value[h * size : (h + 1) * size].norm() * out[:, h * size : (h + 1) * size].norm())
        for h in range(layer.attention.self.num_attention_heads)
    ]


def neuron_importance(layer: Any) -> list[float]:
    """Per FFN neuron: ||W_in row|| * ||W_out column||, the magnitude it reads and writes with."""
    up = layer.intermediate.dense.weight.detach()
    down = layer.output.dense.weight.detach()
    return (up.norm(dim=1) * down.norm(dim=0)).tolist()


def weakest(scores: list[float], count: int) -> list[int]:
    """Indices of the `count` lowest scores, at most all but one (a layer keeps one unit)."""
    return sorted(range(len(scores)), key=scores.__getitem__)[: min(count, len(scores) - 1)]


def weakest_overall(scores: list[list[float]], share: float) -> list[list[int]]:
    """Per layer, the units to drop so that `share` of all units go, lowest score relative to its
    layer's mean first (layers whose weights are simply larger are not spared for that alone);
    every layer keeps at least one unit."""
    ranked = sorted(
        (score / max(sum(layer) / len(layer), 1e-12), index, unit)
        for index, layer in enumerate(scores)
        for unit, score in enumerate(layer)
    )
    budget = round(share * sum(len(layer) for layer in scores))
    drop: list[list[int]] = [[] for _ in scores]
    for _, index, unit in ranked:
        if budget == 0:
            break
        if len(drop[index]) < len(scores[index]) - 1:
            drop[index].append(unit)
            budget -= 1
    return drop


@OPTIMIZE_METHODS.register("head-prune")
def head_prune(inputs: OptimizeInputs, out_dir: Path) -> Path:
    model, tokenizer = load_classifier(inputs.model_dir)
    layers = bert_layers(model.encoder)
    scores = [head_importance(layer) for layer in layers]
    spec = inputs.spec
    if spec.head_share is None:
        drop = [weakest(layer, spec.heads_per_layer) for layer in scores]
    else:
        drop = weakest_overall(scores, spec.head_share)
    return _shrink(
        model, tokenizer, inputs, out_dir, "head-prune", "heads", keep_heads, scores, drop
    )


@OPTIMIZE_METHODS.register("neuron-prune")
def neuron_prune(inputs: OptimizeInputs, out_dir: Path) -> Path:
    model, tokenizer = load_classifier(inputs.model_dir)
    scores = [neuron_importance(layer) for layer in bert_layers(model.encoder)]
    share = inputs.spec.neuron_share
    if inputs.spec.neuron_scope == "global":
        drop = weakest_overall(scores, share)
    else:
        drop = [weakest(layer, round(share * len(layer))) for layer in scores]
    return _shrink(
        model, tokenizer, inputs, out_dir, "neuron-prune", "FFN neurons", keep_neurons, scores, drop
    )


def _shrink(
    model: Any, tokenizer: Any, inputs: OptimizeInputs, out_dir: Path, name: str, unit: str,
    keep: Callable[[Any, list[int]], None], scores: list[list[float]], drop: list[list[int]],
) -> Path:  # fmt: skip
    """Remove the `drop` heads or neurons of every layer (`keep` gets the others), recover, save."""
    before = _parameters(model)
    for layer, layer_scores, dropped in zip(bert_layers(model.encoder), scores, drop, strict=True):
        keep(layer, sorted(set(range(len(layer_scores))) - set(dropped)))
    kept = [len(s) - len(d) for s, d in zip(scores, drop, strict=True)]
    console.print(
        f"[bold]{name}[/]: removed {sum(map(len, drop))} of {sum(map(len, scores))} {unit} "
        f"(kept per layer: {', '.join(map(str, kept))}); encoder parameters "
        f"{before / 1e6:.2f}M -> {_parameters(model) / 1e6:.2f}M"
    )
    recovered = _recover(model, tokenizer, inputs, name)
    record = {"method": name, "removed": [len(d) for d in drop], "recover_epochs": recovered}
    return _save(model, tokenizer, out_dir, record)


def _recover(model: Any, tokenizer: Any, inputs: OptimizeInputs, name: str) -> float:
    """Fine-tune the pruned model against the unpruned one; the epochs actually trained."""
    import torch

    from llmline.optimize.distill import train_on_teacher

    epochs = inputs.spec.prune_recover_epochs
    if epochs == 0:
        return 0.0
    if inputs.train is None:
        console.print(f"[bold]{name}[/]: no training split, so no recovery fine-tuning")
        return 0.0
    teacher, _ = load_classifier(inputs.model_dir)
    torch.manual_seed(inputs.seed)
    train_on_teacher(model, teacher, tokenizer, inputs, epochs=epochs, name=f"{name} recovery")
    return epochs


def _save(model: Any, tokenizer: Any, out_dir: Path, record: dict[str, Any]) -> Path:
    model.meta.extra = {**model.meta.extra, "pruning": record}
    save_classifier(model, tokenizer, out_dir)
    return out_dir
