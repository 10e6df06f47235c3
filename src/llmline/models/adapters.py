"""Adapters saved alone, pinned to their base model by reference and sha256.

A PEFT run saves only `adapter_model.safetensors` + `adapter_config.json`; `base.json` beside
them names the base model (reference, resolved path, sha256 of its files). Loading re-resolves
the base, refuses it if its bytes changed, and attaches the adapter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmline.errors import ModelError

BASE_FILE = "base.json"
ADAPTER_CONFIG = "adapter_config.json"


def is_adapter_dir(directory: Path) -> bool:
    return (directory / ADAPTER_CONFIG).exists()


def pin_base(directory: Path, reference: str, base_dir: Path) -> dict[str, str]:
    """Write base.json: which base the adapter belongs to, by reference and content hash."""
    from llmline.lineage import sha256_path, write_json_atomic

    record = {"reference": reference, "path": str(base_dir), "sha256": sha256_path(base_dir)}
    write_json_atomic(directory / BASE_FILE, record)
    return record


def pinned_base_dir(directory: Path) -> Path:
    """The verified base directory of an adapter; a changed or missing base is a ModelError."""
    from llmline.lineage import sha256_path

    path = directory / BASE_FILE
    if not path.exists():
        raise ModelError(f"adapter {directory} has no {BASE_FILE}", fix="re-train or re-export")
    pin = json.loads(path.read_text(encoding="utf-8"))
    base = Path(pin["path"])
    if not base.exists():
        from llmline.models.resolve import resolve_model
        from llmline.workspace import Workspace

        base = resolve_model(pin["reference"], Workspace.resolve())
    actual = sha256_path(base)
    if actual != pin["sha256"]:
        raise ModelError(
            f"base model {pin['reference']} at {base} has sha256 {actual[:12]}, but the adapter "
            f"was trained on {pin['sha256'][:12]}",
            where=str(path),
            fix="restore the original base model or merge the adapter where it was trained",
        )
    return base


def load_body(directory: Path, auto_class: Any, **kwargs: Any) -> Any:
    """A full model from directory, or its pinned base with the saved adapter attached."""
    if not is_adapter_dir(directory):
        return auto_class.from_pretrained(directory, use_safetensors=True, **kwargs)
    import warnings

    from peft import PeftModel

    from llmline.models.bottleneck import is_bottleneck_dir, load_adapter

    base = auto_class.from_pretrained(pinned_base_dir(directory), use_safetensors=True, **kwargs)
    if is_bottleneck_dir(directory):  # llmline's own adapters: not a peft method
        return load_adapter(base, directory)
    with warnings.catch_warnings():  # peft 0.21 reads a property transformers 5 deprecated
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        return PeftModel.from_pretrained(base, directory)
