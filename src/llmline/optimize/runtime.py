"""Pick the inference backend for a model directory: ONNX Runtime when it has one, else torch."""

from __future__ import annotations

from pathlib import Path

from llmline.errors import ServeError
from llmline.models.predictor import Predictor


def load_serving_predictor(
    directory: Path, backend: str = "auto", *, cores: int | None = None, threads: int | None = None
) -> Predictor:
    """'auto' prefers model.onnx (faster on CPU); 'torch' and 'onnx' insist on one backend.

    A service passes `cores`, its worker's share of the CPU, and optionally `threads`. Without
    `threads`, ONNX Runtime gets every core, its idle threads sleeping instead of spinning, and
    PyTorch one core fewer: its OpenMP threads spin at each barrier and stall whenever the HTTP
    event loop takes one of their cores (on 2 shared cores, 2 threads cost 2-10x the CPU per
    request of 1). Without `cores` the libraries' own defaults apply.
    """
    from llmline.optimize.onnx import has_onnx, load_onnx_predictor

    if backend == "onnx" or (backend == "auto" and has_onnx(directory)):
        if not has_onnx(directory):
            raise ServeError(
                f"{directory} has no model.onnx",
                where="serve.backend",
                fix="export one with `llmline optimize --method onnx-int8` or use backend auto",
            )
        return load_onnx_predictor(directory, threads=threads or cores, spin=cores is None)
    from llmline.models.predictor import load_predictor
    from llmline.optimize.quantize import apply_saved_quantization

    if cores is not None:
        import torch

        torch.set_num_threads(threads or max(1, cores - 1))
    return apply_saved_quantization(load_predictor(directory), directory)
