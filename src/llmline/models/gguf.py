"""GGUF -> fp32 Hugging Face safetensors, the step `packaged:smollm2` and `packaged:gemma3-270m`
share.

transformers dequantises a GGUF file to fp32 on load (tens of seconds and several GB), and
refuses to `save_pretrained` a GGUF-loaded model, so the weights move into a fresh model of the
same class built from the config (without its `quantization_config`) and are saved once; the
safetensors then reload in well under a second.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from llmline.errors import ModelError


def gguf_to_safetensors(source: Path, out_dir: Path) -> tuple[Any, Any]:
    """Write model safetensors + config + generation config into out_dir; return the model
    and tokenizer so the caller can add what the GGUF lacks (a chat template) and save."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - transformers is a core dependency
        raise ModelError(f"converting GGUF needs {exc.name}", fix="pip install llmline") from None
    from llmline.console import console

    console.print(f"converting {source.name} to safetensors once, into {out_dir.parent} ...")
    kwargs = {"gguf_file": source.name}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, **kwargs)
        loaded = AutoModelForCausalLM.from_pretrained(source.parent, dtype=torch.float32, **kwargs)
    except ImportError as exc:
        raise ModelError(
            f"converting the GGUF file needs {exc.name or 'gguf'}",
            fix="pip install gguf accelerate",
        ) from None
    config: Any = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    del loaded
    model.save_pretrained(out_dir, safe_serialization=True)
    return model, tokenizer


def write_chat_meta(
    directory: Path, reference: str, *, if_missing: bool = False, **generation: Any
) -> None:
    """llmline_model.json of a packaged chat model: task causal_lm with its decoding settings,
    so `serve` offers /v1/chat/completions and `predict` answers turns without a training run."""
    from llmline.lineage import write_text_atomic
    from llmline.models.meta import MODEL_META, ModelMeta
    from llmline.spec import GenerationSpec

    if if_missing and (directory / MODEL_META).exists():
        return
    settings = GenerationSpec.model_validate(generation).model_dump()
    meta = ModelMeta(
        labels=[], pooling="none", normalize=False, max_length=2048, task="causal_lm",
        base_model=reference, extra={"generation": settings, "packaged": reference},
    )  # fmt: skip
    # atomic: an existing cache directory gains the file while other processes may read it
    write_text_atomic(directory / MODEL_META, json.dumps(asdict(meta), indent=2))
