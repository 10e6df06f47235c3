"""GGUF export of a causal LM (Llama family), written with the `gguf` package's writer.

Why GGUF and not ONNX with a KV cache: Optimum is not installed and its ONNX exporter trails
transformers 5.x; a hand-written `torch.onnx.export` of the decoder-with-past would also need
our own ORT generation loop behind `/v1/chat/completions`. GGUF is one file that llama.cpp,
Ollama and LM Studio run as it is, and transformers reads back (`gguf_file=`), which is how the
variant is measured and served here (dequantised to fp32 on load: the gain inside llmline is
size on disk, the quality cost is the quantisation's; the speed gain is llama.cpp's).

Tensor names come from gguf's own map (the one llama.cpp's converter uses); Q and K
projections are permuted the way llama.cpp's `LlamaModel.permute` does and transformers undoes
on load. A byte-level BPE tokenizer (SmolLM2's) is written into the file too, so llama.cpp can
run it without the Hugging Face files; other tokenizers stay beside it as tokenizer.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from llmline.errors import ModelError

GGUF_FILE = "model.gguf"
GGUF_KEY = "gguf_file"
# Linear weights are quantised; norms and 1-D tensors stay F32 as llama.cpp keeps them.
QUANT_BLOCK = 32


def export_gguf(model_dir: Path, out_dir: Path, *, qtype: str) -> Path:
    """Write out_dir/model.gguf + tokenizer + llmline_model.json from a full causal LM."""
    import gguf
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = model.config
    if config.model_type != "llama":
        raise ModelError(
            f"GGUF export writes Llama-family models; {model_dir} is {config.model_type!r}",
            fix="use --method dynamic-int8 for this model",
        )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quant = getattr(gguf.GGMLQuantizationType, qtype.upper())
    writer = gguf.GGUFWriter(str(out_dir / GGUF_FILE), arch="llama")
    _write_config(writer, config, quant)
    _write_tokenizer(writer, tokenizer, model_dir)
    for name, array, kind in _tensors(model, quant):
        writer.add_tensor(name, array, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    _copy_side_files(model_dir, out_dir, tokenizer)
    return out_dir


def _write_config(writer: Any, config: Any, quant: Any) -> None:
    import gguf

    heads = config.num_attention_heads
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.num_key_value_heads or heads)
    writer.add_rope_dimension_count(config.hidden_size // heads)
    writer.add_rope_freq_base(float(_rope_theta(config)))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(config.vocab_size)
    file_type = {"Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "F16": gguf.LlamaFileType.MOSTLY_F16}
    writer.add_file_type(file_type.get(quant.name, gguf.LlamaFileType.ALL_F32))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _rope_theta(config: Any) -> float:
    """transformers 5 keeps rope_theta in rope_parameters; 4.x had it on the config."""
    params: dict[str, Any] = getattr(config, "rope_parameters", None) or {}
    theta: Any = params.get("rope_theta") or getattr(config, "rope_theta", None) or 10000.0
    return float(theta)


def _tensors(model: Any, quant: Any) -> list[tuple[str, Any, Any]]:
    """(gguf name, array, stored type) per weight."""
    import gguf
    import numpy as np

    config = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    if config.tie_word_embeddings:  # llama.cpp reuses token_embd when output.weight is absent
        state.pop("lm_head.weight", None)
    heads, kv_heads = (
        config.num_attention_heads,
        config.num_key_value_heads or config.num_attention_heads,
    )
    out = []
    for hf_name, array in state.items():
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ModelError(f"no GGUF name for tensor {hf_name}", fix="report this model type")
        if hf_name.endswith("q_proj.weight"):
            array = _permute(array, heads, heads)
        elif hf_name.endswith("k_proj.weight"):
            array = _permute(array, heads, kv_heads)
        array = np.ascontiguousarray(array, dtype=np.float32)
        out.append((name, *_encode(array, quant)))
    return out


def _permute(weights: Any, heads: int, kv_heads: int) -> Any:
    """llama.cpp's rotary layout (pairs interleaved per head), as in its LlamaModel.permute."""
    if kv_heads != heads:
        heads = kv_heads
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _encode(array: Any, quant: Any) -> tuple[Any, Any]:
    import gguf
    import numpy as np

    F32 = gguf.GGMLQuantizationType.F32
    if array.ndim < 2 or quant == F32 or array.shape[-1] % QUANT_BLOCK:
        return array, F32
    if quant == gguf.GGMLQuantizationType.F16:
        return array.astype(np.float16), quant
    return gguf.quants.quantize(array, quant), quant


def _write_tokenizer(writer: Any, tokenizer: Any, model_dir: Path) -> None:
    """Byte-level BPE vocabulary and merges (llama.cpp's 'gpt2' tokenizer model)."""
    path = model_dir / "tokenizer.json"
    spec = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    model = spec.get("model", {})
    if model.get("type") != "BPE":
        return  # llama.cpp needs this model's tokenizer.json beside the file; see docstring
    vocab = {**model["vocab"], **{t["content"]: t["id"] for t in spec.get("added_tokens", [])}}
    size = max(vocab.values()) + 1
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [5] * size  # UNUSED until filled
    special = {t["content"] for t in spec.get("added_tokens", []) if t.get("special")}
    for token, index in vocab.items():
        tokens[index], types[index] = token, 3 if token in special else 1
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for setter, token_id in (
        (writer.add_bos_token_id, tokenizer.bos_token_id),
        (writer.add_eos_token_id, tokenizer.eos_token_id),
        (writer.add_pad_token_id, tokenizer.pad_token_id),
    ):
        if token_id is not None:
            setter(int(token_id))
    if isinstance(tokenizer.chat_template, str):
        writer.add_chat_template(tokenizer.chat_template)


def _copy_side_files(model_dir: Path, out_dir: Path, tokenizer: Any) -> None:
    """Tokenizer, HF config and llmline_model.json: the variant serves like its source."""
    from llmline.models.meta import MODEL_META, ModelMeta

    tokenizer.save_pretrained(out_dir)
    for name in ("config.json", "generation_config.json"):
        if (model_dir / name).exists():
            shutil.copy2(model_dir / name, out_dir / name)
    plain = ModelMeta(labels=[], pooling="none", normalize=False, task="causal_lm")
    meta = ModelMeta.load(model_dir) if (model_dir / MODEL_META).exists() else plain
    meta.extra = {**meta.extra, GGUF_KEY: GGUF_FILE}
    meta.save(out_dir)
