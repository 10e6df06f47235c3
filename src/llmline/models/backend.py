"""Load a model directory for inference: which task it does, and on which backend.

The serving backend is ONNX Runtime when the directory has an exported `model.onnx`, else
torch (with the int8 recipe applied when the directory records one). A directory without
llmline_model.json, such as a converted packaged model, gets its task from its Hugging Face
config, so `packaged:smollm2` serves chat and a bare encoder serves `/v1/embeddings`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmline.errors import ModelError, ServeError
from llmline.models.meta import MODEL_META

if TYPE_CHECKING:
    from llmline.models.predictor import Predictor

QUANTIZATION_KEY = "quantization"
DYNAMIC_INT8 = "dynamic-int8"


def infer_task(directory: Path) -> str:
    """The task a model directory serves: its llmline_model.json, else its HF architecture.

    `*ForCausalLM` is a chat/completion model (`causal_lm`); a bare encoder (`BertModel`,
    `XLMRobertaModel`, ...: a `*Model` class of a model type that has a masked-LM head) is a
    sentence encoder (`embedding`). Anything else needs an llmline_model.json to say.
    """
    meta = directory / MODEL_META
    if meta.exists():
        return str(json.loads(meta.read_text(encoding="utf-8")).get("task", "classification"))
    config = _hf_config(directory)
    architectures = [str(a) for a in config.get("architectures") or []]
    if any(a.endswith("ForCausalLM") for a in architectures):
        return "causal_lm"
    if architectures and all(_is_bare_encoder(a, config) for a in architectures):
        return "embedding"
    raise ModelError(
        f"{directory} has no {MODEL_META} and its config names {architectures or 'no'} "
        "architectures, so its task is unknown",
        fix="serve a model trained or converted by llmline, a *ForCausalLM or a bare encoder",
    )


def _hf_config(directory: Path) -> dict[str, Any]:
    path = directory / "config.json"
    if not path.exists():
        raise ModelError(
            f"{directory} has neither {MODEL_META} nor config.json",
            fix="point at a model directory saved by llmline or by transformers",
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelError(f"{path} is not JSON ({exc})", fix="restore the model's config") from None
    return config if isinstance(config, dict) else {}


def _is_bare_encoder(architecture: str, config: dict[str, Any]) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    model_type = str(config.get("model_type", ""))
    bare = architecture.endswith("Model") and not architecture.endswith("PreTrainedModel")
    return bare and model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES


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
    from llmline.models.onnx_runtime import has_onnx, load_onnx_predictor

    if backend == "onnx" or (backend == "auto" and has_onnx(directory)):
        if not has_onnx(directory):
            raise ServeError(
                f"{directory} has no model.onnx",
                where="serve.backend",
                fix="export one with `llmline optimize --method onnx-int8` or use backend auto",
            )
        return load_onnx_predictor(directory, threads=threads or cores, spin=cores is None)
    from llmline.models.predictor import load_predictor

    if cores is not None:
        import torch

        torch.set_num_threads(threads or max(1, cores - 1))
    return apply_saved_quantization(load_predictor(directory), directory)


def quantize_dynamic_int8(model: Any) -> Any:
    """int8 Linear layers; torch.ao is deprecated in favour of torchao, which is not a
    dependency here, so its deprecation warnings are silenced until the move is made."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def apply_saved_quantization(predictor: Predictor, directory: Path) -> Predictor:
    """Quantize a just-loaded torch predictor when its directory records the int8 recipe."""
    meta = getattr(predictor, "meta", None)
    if meta is None or meta.extra.get(QUANTIZATION_KEY) != DYNAMIC_INT8:
        return predictor
    predictor.model = quantize_dynamic_int8(predictor.model)  # type: ignore[attr-defined]
    return predictor
