"""PyTorch dynamic int8 quantization of the encoder's Linear layers.

Quantized packed weights cannot be stored as safetensors (and pickles are never loaded), so the
variant keeps the fp32 safetensors and records the recipe; loading applies
`torch.ao.quantization.quantize_dynamic`, which is deterministic and takes well under a second.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from llmline.models.meta import ModelMeta
from llmline.models.predictor import Predictor
from llmline.optimize.methods import OPTIMIZE_METHODS, OptimizeInputs

RECIPE_KEY = "quantization"
DYNAMIC_INT8 = "dynamic-int8"


def quantize_dynamic_int8(model: Any) -> Any:
    """int8 Linear layers; torch.ao is deprecated in favour of torchao, which is not a
    dependency here, so its deprecation warnings are silenced until the move is made."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


@OPTIMIZE_METHODS.register(DYNAMIC_INT8)
def dynamic_int8(inputs: OptimizeInputs, out_dir: Path) -> Path:
    shutil.copytree(inputs.model_dir, out_dir, dirs_exist_ok=True)
    meta = ModelMeta.load(out_dir)
    meta.extra = {**meta.extra, RECIPE_KEY: DYNAMIC_INT8}
    meta.save(out_dir)
    return out_dir


def apply_saved_quantization(predictor: Predictor, directory: Path) -> Predictor:
    """Quantize a just-loaded torch predictor when its directory records the int8 recipe."""
    meta = getattr(predictor, "meta", None)
    if meta is None or meta.extra.get(RECIPE_KEY) != DYNAMIC_INT8:
        return predictor
    predictor.model = quantize_dynamic_int8(predictor.model)  # type: ignore[attr-defined]
    return predictor


def quantized_state_bytes(model: Any) -> int:
    """In-memory size of the int8 state dict: what the recipe saves in RAM and bandwidth."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()
