"""Bottleneck adapters (Houlsby 2019, Pfeiffer 2021), written here rather than taken from a library.

Why not a maintained implementation: the `adapters` package (1.3.0) requires
transformers ~=4.57 and we pin transformers 5; peft has no bottleneck-adapter tuner, and its
`register_peft_method` only accepts names already in its `PeftType` enum.

An adapter is `h + W_up(relu(W_down(h)))` with d -> d / reduction_factor -> d, applied to the
output projection of a sub-layer, before its residual connection: Houlsby places one after the
attention output and one after the feed-forward output of every layer, Pfeiffer only the
feed-forward one. W_up starts at zero, so an untrained adapter is the identity. The base stays
frozen; only the adapters (and a token-classification head inside the model) train.

Saved alone like peft adapters: `adapter_config.json` (peft_type LLMLINE_BOTTLENECK, layout,
sizes) and `adapter_model.safetensors`, pinned to the base by `models.adapters.pin_base`.
It cannot be merged: the ReLU between the two projections is non-linear, so no weight matrix
of the base equals base + adapter.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from llmline.errors import ModelError, SpecError

PEFT_TYPE = "LLMLINE_BOTTLENECK"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
# Output projections of attention and of the feed-forward block: BERT-like encoders, then
# Llama-style decoders (SmolLM2, Gemma3).
ATTENTION_OUTPUT = re.compile(r"(attention\.output\.dense|self_attn\.o_proj)$")
FFN_OUTPUT = re.compile(r"(layer\.\d+\.output\.dense|mlp\.down_proj)$")
HEAD_NAMES = ("classifier", "score")  # token-classification heads inside the adapted model


@functools.cache
def _modules() -> Any:
    """The nn.Module classes, built on first use so importing this module needs no torch."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, size: int, reduction_factor: int) -> None:
            super().__init__()
            hidden = max(1, size // reduction_factor)
            self.down = nn.Linear(size, hidden)
            self.up = nn.Linear(hidden, size)
            nn.init.zeros_(self.up.weight)  # identity at the start: training begins at the base
            nn.init.zeros_(self.up.bias)

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            return h + self.up(torch.relu(self.down(h)))

    class AdapterLinear(nn.Module):
        """An output projection followed by its adapter."""

        def __init__(self, base: nn.Linear, reduction_factor: int) -> None:
            super().__init__()
            self.base = base
            self.adapter = Bottleneck(base.out_features, reduction_factor)
            self.adapter.to(device=base.weight.device, dtype=base.weight.dtype)

        @property
        def weight(self) -> torch.Tensor:  # code that inspects the projection still finds it
            return self.base.weight

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.adapter(self.base(x))

    return Bottleneck, AdapterLinear


def target_names(model: Any, layout: str, target_modules: list[str] | None) -> list[str]:
    """Names of the linear layers that get an adapter, in model order."""
    from torch import nn

    def wanted(name: str) -> bool:
        if target_modules:
            return any(name == t or name.endswith("." + t) for t in target_modules)
        return bool(FFN_OUTPUT.search(name)) or (
            layout == "houlsby" and bool(ATTENTION_OUTPUT.search(name))
        )

    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and wanted(n)]


def insert_adapters(model: Any, config: dict[str, Any]) -> Any:
    """Replace the target projections in place, freeze the rest; returns the wrapper."""
    _, adapter_linear = _modules()
    names = config.get("targets") or target_names(
        model, config["layout"], config.get("target_modules")
    )
    if not names:
        raise SpecError(
            f"found no attention or feed-forward output layer to adapt in {type(model).__name__}",
            where="train.peft.target_modules",
            fix="name the output projections, e.g. [o_proj, down_proj] or [output.dense]",
        )
    for param in model.parameters():
        param.requires_grad_(False)
    for name in names:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, child, adapter_linear(getattr(owner, child), config["reduction_factor"]))
    for name, module in model.named_modules():
        if name.split(".")[-1] in HEAD_NAMES and config.get("train_head", True):
            module.requires_grad_(True)
    return _wrapper_class()(model, {**config, "targets": names})


@functools.cache
def _wrapper_class() -> Any:
    """Built with torch on first use, once."""
    from torch import nn

    class BottleneckAdapterModel(nn.Module):
        """The base model with adapters inside; forwards everything else to the base, like
        peft's PeftModel, and saves only what trains."""

        def __init__(self, model: Any, config: dict[str, Any]) -> None:
            super().__init__()
            self.base_model = model
            self.adapter_config = config

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            return self.base_model(*args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            try:
                return super().__getattr__(name)
            except AttributeError:
                if name == "base_model":
                    raise
                return getattr(self.base_model, name)

        def state_dict(self, *args: Any, **kwargs: Any) -> Any:
            """Each tensor once: tied input/output embeddings of causal LMs share storage,
            which safetensors refuses to write twice (HF Trainer checkpoints this module)."""
            full = super().state_dict(*args, **kwargs)
            seen: set[tuple[int, tuple[int, ...]]] = set()
            out = {}
            for key, tensor in full.items():
                ident = (tensor.data_ptr(), tuple(tensor.shape))
                if ident not in seen:
                    seen.add(ident)
                    out[key] = tensor
            return out

        def adapter_state(self) -> dict[str, Any]:
            trained = {n for n, p in self.base_model.named_parameters() if p.requires_grad}
            return {
                name: tensor.detach().contiguous().cpu()
                for name, tensor in self.base_model.state_dict().items()
                if ".adapter." in name or name in trained
            }

        def save_pretrained(self, directory: Any, **_ignored: Any) -> None:
            """adapter_config.json and adapter_model.safetensors only (as peft saves)."""
            from safetensors.torch import save_file

            from llmline.lineage import write_json_atomic

            path = Path(directory)
            path.mkdir(parents=True, exist_ok=True)
            save_file(self.adapter_state(), str(path / ADAPTER_WEIGHTS))
            config = {"peft_type": PEFT_TYPE, **self.adapter_config}
            write_json_atomic(path / ADAPTER_CONFIG, config)

        def merge_and_unload(self) -> Any:
            raise ModelError(
                "a bottleneck adapter cannot be merged into the base weights: the ReLU between "
                "its down- and up-projection is non-linear",
                fix="serve the adapter with its base (it is saved alone and pinned to it)",
            )

    return BottleneckAdapterModel


def is_bottleneck_dir(directory: Path) -> bool:
    path = directory / ADAPTER_CONFIG
    if not path.exists():
        return False
    return json.loads(path.read_text(encoding="utf-8")).get("peft_type") == PEFT_TYPE


def load_adapter(base: Any, directory: Path) -> Any:
    """base with the saved adapters (and trained head) of directory attached, in eval mode."""
    from safetensors.torch import load_file

    config = json.loads((directory / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    config.pop("peft_type", None)
    wrapped = insert_adapters(base, config)
    weights = load_file(str(directory / ADAPTER_WEIGHTS))
    missing = set(weights) - set(wrapped.base_model.state_dict())
    if missing:
        raise ModelError(
            f"adapter weights {sorted(missing)[:3]} do not fit the base model",
            where=str(directory / ADAPTER_WEIGHTS),
            fix="load the adapter on the base it was trained on",
        )
    wrapped.base_model.load_state_dict(weights, strict=False)
    for param in wrapped.parameters():
        param.requires_grad_(False)
    return wrapped.eval()
