"""Augmentation (the `augment` step): EDA edits and back-translation, traceable to the source.

EDA (Wei & Zou, 2019): synonym replacement (WordNet through nltk, when its corpus is
installed), random swap, deletion and insertion, on whitespace words for English and on jieba's
words for Chinese. Back-translation runs any seq2seq model
reference there and back. Every copy records `augmented_from` (its source row); the data stage
puts copies in train only, and only when their source row is in train.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field

from llmline.data.record import Record, register_step
from llmline.errors import DataError
from llmline.spec.base import StrictModel

Edit = Callable[[list[str], int, random.Random], list[str]]


@lru_cache(maxsize=1)
def _wordnet() -> Any:
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
    except (ImportError, LookupError):
        raise DataError(
            "synonym augmentation needs nltk with the WordNet corpus",
            fix="pip install nltk and run python -m nltk.downloader wordnet, or drop 'synonym'",
        ) from None
    return wordnet


def synonyms(word: str) -> list[str]:
    found = {
        lemma.name().replace("_", " ")
        for synset in _wordnet().synsets(word)
        for lemma in synset.lemmas()
    }
    return sorted(found - {word})


def _synonym(words: list[str], n: int, rng: random.Random) -> list[str]:
    out = list(words)
    positions = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 2]
    rng.shuffle(positions)
    changed = 0
    for i in positions:
        options = synonyms(words[i])
        if options:
            out[i] = rng.choice(options)
            changed += 1
        if changed >= n:
            break
    return out


def _swap(words: list[str], n: int, rng: random.Random) -> list[str]:
    out = list(words)
    for _ in range(n):
        i, j = rng.randrange(len(out)), rng.randrange(len(out))
        out[i], out[j] = out[j], out[i]
    return out


def _delete(words: list[str], n: int, rng: random.Random) -> list[str]:
    if len(words) <= 1:
        return list(words)
    drop = set(rng.sample(range(len(words)), min(n, len(words) - 1)))
    return [w for i, w in enumerate(words) if i not in drop]


def _insert(words: list[str], n: int, rng: random.Random) -> list[str]:
    """EDA inserts a synonym of a random word; without WordNet, a copy of a random word."""
    out = list(words)
    for _ in range(n):
        word = rng.choice(words)
        try:
            options = synonyms(word)
        except DataError:
            options = []
        out.insert(rng.randrange(len(out) + 1), rng.choice(options) if options else word)
    return out


EDITS: dict[str, Edit] = {"synonym": _synonym, "swap": _swap, "delete": _delete, "insert": _insert}


def eda(text: str, op: str, *, alpha: float, rng: random.Random) -> str:
    """One EDA edit touching about alpha x the words (at least one).

    Chinese is written without spaces, so `text.split()` sees a whole clause as one word and
    the row got no copy: text with CJK characters is cut into jieba's words instead, and the
    edited words are joined back without spaces (a space kept only between two Latin words).
    """
    chinese = _CJK.search(text) is not None
    words = jieba_words(text) if chinese else text.split()
    if len(words) < 2:
        return text
    n = max(1, round(alpha * len(words)))
    edited = EDITS[op](words, n, rng)
    return _join_cjk(edited) if chinese else " ".join(edited)


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_EDGE = re.compile(r"[A-Za-z0-9]")


def jieba_words(text: str) -> list[str]:
    """jieba's words of `text`, whitespace dropped, punctuation kept on the word before it.

    Punctuation rides with its word as it does in English `split()` ("good," is one word), so
    an edit moves or drops "很好，" whole instead of leaving a stray "，" at the start.
    """
    words: list[str] = []
    for word in _jieba().lcut(text):
        if word.isspace():
            continue
        if words and all(unicodedata.category(ch).startswith("P") for ch in word):
            words[-1] += word
        else:
            words.append(word)
    return words


def _join_cjk(words: list[str]) -> str:
    out = ""
    for word in words:
        if out and _LATIN_EDGE.match(out[-1]) and _LATIN_EDGE.match(word[0]):
            out += " "  # "iPhone 15" stays two words
        out += word
    return out


@lru_cache(maxsize=1)
def _jieba() -> Any:
    try:
        import logging

        import jieba
    except ImportError:
        raise DataError(
            "augmenting Chinese text needs jieba to find word boundaries",
            fix="pip install jieba, or drop the augment step for Chinese data",
        ) from None
    jieba.setLogLevel(logging.WARNING)  # its dictionary loading chatters on stderr
    return jieba


class BackTranslator:
    """Source -> pivot -> source through two seq2seq models (any model references)."""

    def __init__(self, forward: str, backward: str, *, max_new_tokens: int = 256) -> None:
        from llmline.workspace import Workspace

        workspace = Workspace.resolve()
        self.forward = _seq2seq(forward, workspace)
        self.backward = _seq2seq(backward, workspace)
        self.max_new_tokens = max_new_tokens

    def __call__(self, text: str) -> str:
        return _generate(self.backward, _generate(self.forward, text, self.max_new_tokens),
                         self.max_new_tokens)  # fmt: skip


def _seq2seq(reference: str, workspace: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from llmline.models.resolve import resolve_model

    path = resolve_model(reference, workspace)
    return AutoTokenizer.from_pretrained(path), AutoModelForSeq2SeqLM.from_pretrained(path).eval()


def _generate(pair: tuple[Any, Any], text: str, max_new_tokens: int) -> str:
    import torch

    tokenizer, model = pair
    batch = tokenizer([text], return_tensors="pt", truncation=True, max_length=512)
    with torch.inference_mode():
        output = model.generate(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            max_new_tokens=max_new_tokens,
            num_beams=1,
        )
    return str(tokenizer.decode(output[0], skip_special_tokens=True)).strip()


class Augment:
    """Yields each row, then its copies (one op per copy, cycling through `ops`)."""

    def __init__(self, spec: AugmentSpec) -> None:
        if "back_translation" in spec.ops and not (spec.model and spec.reverse_model):
            raise DataError(
                "back_translation needs model and reverse_model",
                where="data.steps[augment]",
                fix="set model (src->pivot) and reverse_model (pivot->src), or drop the op",
            )
        if "synonym" in spec.ops:
            _wordnet()  # fail before the stream starts, not on row 10,000
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.translator: BackTranslator | None = None
        self.counts: Counter[str] = Counter()

    def _apply(self, op: str, text: str) -> str:
        if op != "back_translation":
            return eda(text, op, alpha=self.spec.alpha, rng=self.rng)
        if self.translator is None:
            assert self.spec.model and self.spec.reverse_model  # checked in __init__
            self.translator = BackTranslator(
                self.spec.model, self.spec.reverse_model, max_new_tokens=self.spec.max_new_tokens
            )
        return self.translator(text)

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            yield record
            if record.dropped is not None or "augmented_from" in record.meta:
                continue
            for copy in range(self.spec.copies):
                op = self.spec.ops[copy % len(self.spec.ops)]
                text = self._apply(op, record.text)
                if text and text != record.text:
                    self.counts[op] += 1
                    meta = {**record.meta, "augmented_from": record.row, "augment_op": op}
                    yield replace(record, text=text, meta=meta)

    @property
    def summary(self) -> dict[str, Any]:
        return {"augmented_rows": sum(self.counts.values()), "by_op": dict(self.counts)}


class AugmentSpec(StrictModel):
    """Data step `augment`: EDA edits / back-translation; copies never go to validation."""

    ops: list[Literal["synonym", "swap", "delete", "insert", "back_translation"]] = Field(
        ["swap", "delete"], description="Operations, one per copy, cycled."
    )
    copies: int = Field(1, ge=1, le=16, description="Augmented copies per row.")
    alpha: float = Field(0.1, gt=0, le=0.5, description="Share of words an EDA edit touches.")
    seed: int = 0
    model: str | None = Field(
        None, description="back_translation: seq2seq model ref (src->pivot), e.g. a local dir."
    )
    reverse_model: str | None = Field(
        None, description="back_translation: seq2seq model ref (pivot->src)."
    )
    max_new_tokens: int = Field(256, gt=0, description="back_translation: tokens per pass.")


@register_step("augment", config=AugmentSpec, row_local=True, train_only=True)
def augment(spec: AugmentSpec) -> Augment:
    return Augment(spec)
