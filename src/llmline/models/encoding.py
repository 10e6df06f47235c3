"""How an encoder wants its input: text prefixes, pooling, and one token per Chinese character.

E5 was trained with `query: ` / `passage: ` in front of every text and mean pooling; feeding it
bare text costs retrieval quality. Those facts live in one small file in the model directory,
`llmline_encoder.json`, so every task and route reads them from the model rather than from a
list of model names in code. A directory without it (MiniLM) has no prefixes.

Character-level NER feeds a SentencePiece tokenizer characters as words; with
`is_split_into_words` it puts a `▁` piece before every character (the sequence doubles and each
character's first sub-token means nothing). `char_token_ids` gives each character its own piece
instead: exactly one token per character, which makes label alignment trivial.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmline.errors import ModelError

ENCODER_FILE = "llmline_encoder.json"
SPACE_PIECE = "\u2581"  # SentencePiece's metaspace: how a space is spelled in the vocabulary


def write_encoder_info(directory: Path, *, pooling: str, prefixes: dict[str, str]) -> None:
    record = {"pooling": pooling, "prefixes": prefixes}
    (directory / ENCODER_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def encoder_info(model_dir: Path) -> dict[str, Any]:
    """The directory's llmline_encoder.json, or {} when it has none."""
    path = Path(model_dir) / ENCODER_FILE
    if not path.exists():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON ({exc})", fix="re-convert the model") from None
    if not isinstance(info, dict):
        raise ModelError(f"{path} must hold a JSON object", fix="re-convert the model")
    return info


def encoder_prefixes(model_dir: Path) -> dict[str, str]:
    """Role -> prefix (`{"query": "query: ", "passage": "passage: "}` for E5); {} for none."""
    prefixes = encoder_info(model_dir).get("prefixes", {})
    if not isinstance(prefixes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in prefixes.items()
    ):
        raise ModelError(f"{model_dir}/{ENCODER_FILE}: prefixes must map names to strings")
    return prefixes


def char_token_ids(tokenizer: Any, chars: Sequence[str]) -> list[int]:
    """One vocabulary id per character: its own piece, else its normalised form's piece (full-
    width `Ａ` -> `A`), else the `▁`-prefixed piece, else (a token longer than one character)
    its first sub-piece, else unk. A space becomes `▁`."""
    normalizer = getattr(getattr(tokenizer, "backend_tokenizer", None), "normalizer", None)
    unk = tokenizer.unk_token_id
    ids = []
    for char in chars:
        ids.append(_piece_id(tokenizer, char, normalizer, unk))
    return ids


def _piece_id(tokenizer: Any, char: str, normalizer: Any, unk: int) -> int:
    candidates = [char]
    normal = normalizer.normalize_str(char) if normalizer is not None else char
    if not normal.strip():
        candidates.append(SPACE_PIECE)  # spaces and characters the normaliser deletes
    else:
        candidates += [normal, SPACE_PIECE + normal]
    for piece in candidates:
        token_id = tokenizer.convert_tokens_to_ids(piece)
        if isinstance(token_id, int) and token_id != unk:
            return token_id
    if len(char) > 1:  # a longer "character" (a number in a char-level corpus): its first piece
        pieces = [p for p in tokenizer.tokenize(char) if p != SPACE_PIECE]
        if pieces:
            return int(tokenizer.convert_tokens_to_ids(pieces[0]))
    return int(unk)


def encode_chars(tokenizer: Any, chars: Sequence[str], *, max_length: int) -> dict[str, list[Any]]:
    """`[CLS] c1 ... cn [SEP]` (`<s> ... </s>` for XLM-R vocabularies) as input_ids, with
    attention_mask and word_ids (character index, None for the two specials); characters
    beyond max_length - 2 are cut."""
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    if first is None or last is None:
        raise ModelError(f"{type(tokenizer).__name__} has no [CLS]/[SEP] tokens for an encoder")
    body = char_token_ids(tokenizer, chars[: max(0, max_length - 2)])
    word_ids: list[int | None] = [None, *range(len(body)), None]
    input_ids = [first, *body, last]
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "word_ids": word_ids}
