"""PyTorch dynamic int8 quantization of the encoder's Linear layers.

Quantized packed weights cannot be stored as safetensors (and pickles are never loaded), so the
variant keeps the fp32 safetensors and records the recipe; loading (llmline.models.backend)
applies `torch.ao.quantization.quantize_dynamic`, deterministic and well under a second.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from llmline.models.backend import DYNAMIC_INT8, QUANTIZATION_KEY
from llmline.models.meta import ModelMeta
from llmline.optimize.methods import OPTIMIZE_METHODS, OptimizeInputs


@OPTIMIZE_METHODS.register(DYNAMIC_INT8)
def dynamic_int8(inputs: OptimizeInputs, out_dir: Path) -> Path:
    shutil.copytree(inputs.model_dir, out_dir, dirs_exist_ok=True)
    meta = ModelMeta.load(out_dir)
    meta.extra = {**meta.extra, QUANTIZATION_KEY: DYNAMIC_INT8}
    meta.save(out_dir)
    return out_dir


def quantized_state_bytes(model: Any) -> int:
    """In-memory size of the int8 state dict: what the recipe saves in RAM and bandwidth."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()
