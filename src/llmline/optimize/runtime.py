"""Pick the inference backend for a model directory: ONNX Runtime when it has one, else torch."""

from __future__ import annotations

from pathlib import Path

from llmline.errors import ServeError
from llmline.models.predictor import Predictor


def load_serving_predictor(directory: Path, backend: str = "auto") -> Predictor:
    """'auto' prefers model.onnx (faster on CPU); 'torch' and 'onnx' insist on one backend."""
    from llmline.optimize.onnx import has_onnx, load_onnx_predictor

    if backend == "onnx" or (backend == "auto" and has_onnx(directory)):
        if not has_onnx(directory):
            raise ServeError(
                f"{directory} has no model.onnx",
                where="serve.backend",
                fix="export one with `llmline optimize --method onnx-int8` or use backend auto",
            )
        onnx: Predictor = load_onnx_predictor(directory)  # type: ignore[assignment]
        return onnx
    from llmline.models.predictor import load_predictor
    from llmline.optimize.quantize import apply_saved_quantization

    return apply_saved_quantization(load_predictor(directory), directory)
