"""ONNX Runtime variants: fp32 export, and int8 with ORT dynamic quantization."""

from __future__ import annotations

from pathlib import Path

from llmline.optimize.methods import OPTIMIZE_METHODS, OptimizeInputs
from llmline.optimize.onnx import export_onnx


@OPTIMIZE_METHODS.register("onnx-fp32")
def onnx_fp32(inputs: OptimizeInputs, out_dir: Path) -> Path:
    return export_onnx(inputs.model_dir, out_dir, int8=False)


@OPTIMIZE_METHODS.register("onnx-int8")
def onnx_int8(inputs: OptimizeInputs, out_dir: Path) -> Path:
    return export_onnx(inputs.model_dir, out_dir, int8=True)
