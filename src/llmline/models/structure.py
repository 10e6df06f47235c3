"""Per-layer shapes of a BERT-family encoder whose attention heads or FFN neurons were removed.

transformers 5 no longer supports pruned shapes: `prune_heads` is gone, and a config holds one
head count and one intermediate size for every layer, so `from_pretrained` cannot rebuild a
physically pruned encoder (its tensors no longer match the config). llmline therefore saves the
per-layer structure in llmline_model.json (`extra.structure`, written by `save_classifier`), and
`load_shrunk_encoder` builds the encoder from its config, shrinks every layer to those shapes and
only then loads the safetensors weights into it; nothing is unpickled. An encoder whose layers
all match its config has no structure and loads through `from_pretrained` exactly as before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmline.errors import ModelError

STRUCTURE_KEY = "structure"
_WEIGHTS = "model.safetensors"
_WEIGHTS_INDEX = "model.safetensors.index.json"


def bert_layers(encoder: Any) -> list[Any]:
    """encoder.encoder.layer of a BERT-family encoder; anything else is a ModelError."""
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not layers or not _is_bert_layer(layers[0]):
        raise ModelError(
            "structured pruning supports BERT-family encoders (encoder.layer[i].attention)",
            fix="use magnitude-prune or distill for this architecture",
        )
    return list(layers)


def _is_bert_layer(layer: Any) -> bool:
    attention = getattr(layer, "attention", None)
    return hasattr(attention, "self") and hasattr(layer, "intermediate")


def _sliced(linear: Any, keep: Any, dim: int) -> Any:
    """A new Linear holding only the `keep` rows (dim 0, with their bias) or columns (dim 1)."""
    import torch

    weight = linear.weight.detach().index_select(dim, keep)
    bias = linear.bias
    if bias is not None and dim == 0:
        bias = bias.detach().index_select(0, keep)
    new = torch.nn.Linear(
        weight.shape[1], weight.shape[0], bias=bias is not None,
        device=weight.device, dtype=weight.dtype,
    )  # fmt: skip
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)
    return new


def _index(keep: Sequence[int], size: int, what: str) -> Any:
    import torch

    if not keep or len(set(keep)) != len(keep) or not all(0 <= i < size for i in keep):
        raise ModelError(
            f"cannot keep {what} {list(keep)} of {size}",
            fix="keep at least one, each index once and below the layer's count",
        )
    return torch.tensor(sorted(keep), dtype=torch.long)


def keep_heads(layer: Any, keep: Sequence[int]) -> None:
    """Remove every attention head of `layer` not in `keep`: query, key and value rows and the
    output projection's columns. BertSelfAttention reshapes with -1 heads and a fixed head size,
    so only the counts it keeps as attributes need updating."""
    import torch

    attention = layer.attention.self
    size = attention.attention_head_size
    heads = _index(keep, attention.num_attention_heads, "heads")
    rows = (heads[:, None] * size + torch.arange(size)).flatten()
    for name in ("query", "key", "value"):
        setattr(attention, name, _sliced(getattr(attention, name), rows, 0))
    layer.attention.output.dense = _sliced(layer.attention.output.dense, rows, 1)
    attention.num_attention_heads = len(heads)
    attention.all_head_size = len(heads) * size


def keep_neurons(layer: Any, keep: Sequence[int]) -> None:
    """Remove every FFN intermediate neuron of `layer` not in `keep` (rows of the up projection,
    columns of the down projection)."""
    index = _index(keep, layer.intermediate.dense.out_features, "neurons")
    layer.intermediate.dense = _sliced(layer.intermediate.dense, index, 0)
    layer.output.dense = _sliced(layer.output.dense, index, 1)


def encoder_structure(encoder: Any) -> dict[str, list[int]] | None:
    """Heads and intermediate size per layer, or None when every layer still matches its config."""
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    config = getattr(encoder, "config", None)
    if not layers or config is None or not _is_bert_layer(layers[0]):
        return None
    heads = [int(layer.attention.self.num_attention_heads) for layer in layers]
    widths = [int(layer.intermediate.dense.out_features) for layer in layers]
    if set(heads) == {config.num_attention_heads} and set(widths) == {config.intermediate_size}:
        return None
    return {"heads": heads, "intermediate_size": widths}


def shrink_to(encoder: Any, structure: dict[str, list[int]]) -> None:
    """Cut a freshly built encoder down to `structure`; which entries survive does not matter,
    the saved weights overwrite them."""
    layers = bert_layers(encoder)
    heads, widths = structure["heads"], structure["intermediate_size"]
    if len(heads) != len(layers) or len(widths) != len(layers):
        raise ModelError(
            f"saved structure describes {len(heads)} layers, the config {len(layers)}",
            fix="re-save the model with llmline",
        )
    for layer, head_count, width in zip(layers, heads, widths, strict=True):
        keep_heads(layer, range(head_count))
        keep_neurons(layer, range(width))


def _state_dict(directory: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    index = directory / _WEIGHTS_INDEX
    if not index.exists():
        return load_file(str(directory / _WEIGHTS))
    shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    return {k: v for shard in shards for k, v in load_file(str(directory / shard)).items()}


def load_shrunk_encoder(directory: Path, structure: dict[str, list[int]]) -> Any:
    """The encoder saved in `directory`, rebuilt with its pruned per-layer shapes."""
    from transformers import AutoConfig, AutoModel

    encoder = AutoModel.from_config(AutoConfig.from_pretrained(directory))
    shrink_to(encoder, structure)
    try:
        encoder.load_state_dict(_state_dict(directory), strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"{directory}: weights do not match the saved structure ({exc})",
            fix="re-export the pruned model",
        ) from None
    return encoder.eval()
