"""Quality filters (the `quality` data step): each check returns a drop reason or None.

Thresholds follow the Gopher/C4 heuristics (symbol ratio, repeated lines, top n-gram share);
language identification uses langdetect when installed, with a Unicode-script fallback that
always recognises Chinese (langdetect confuses short Chinese text with Japanese/Korean).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from pydantic import Field

from llmline.data.record import Record, Step, register_step
from llmline.spec.base import StrictModel

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
Check = Callable[[str], str | None]


class QualitySpec(StrictModel):
    """Data step `quality`: heuristic filters (Gopher/C4 style); failures are dropped by reason."""

    min_chars: int = Field(0, ge=0, description="Drop texts shorter than this.")
    max_chars: int | None = Field(None, gt=0, description="Drop texts longer than this.")
    min_words: int = Field(0, ge=0, description="Drop texts with fewer words (CJK: characters).")
    max_symbol_ratio: float = Field(0.3, ge=0, le=1, description="Max share of symbol chars.")
    max_digit_ratio: float = Field(0.5, ge=0, le=1, description="Max share of digit chars.")
    max_duplicate_line_fraction: float = Field(
        0.5, ge=0, le=1, description="Max share of lines that repeat another line."
    )
    max_top_ngram_fraction: float = Field(
        0.4, ge=0, le=1, description="Max share of characters covered by the top word n-gram."
    )
    ngram: int = Field(3, ge=2, le=10, description="n of the repeated n-gram check.")
    languages: list[str] | None = Field(
        None, description="Keep only these languages (ISO codes, e.g. [en, zh]); null keeps all."
    )


_LETTER = re.compile(r"[^\W\d_]")
_SPACE = re.compile(r"\s")
_SYMBOL = re.compile(r"[^\w\s]|_")
_DIGIT = re.compile(r"\d")


def cjk_ratio(text: str) -> float:
    letters = len(_LETTER.findall(text))
    return len(_CJK.findall(text)) / letters if letters else 0.0


def count_words(text: str) -> int:
    """Words for space-delimited text; each CJK character counts as one word."""
    return len(_CJK.findall(text)) + len(_WORD.findall(_CJK.sub(" ", text)))


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language, 'und' when it cannot be told."""
    script = _script_language(text)
    if script is not None:
        return script
    try:
        from langdetect import DetectorFactory, LangDetectException, detect
    except ImportError:
        return "en" if re.search(r"[A-Za-z]{3}", text) else "und"
    DetectorFactory.seed = 0  # langdetect is random unless seeded
    try:
        return str(detect(text)).split("-")[0]
    except LangDetectException:
        return "und"


def _script_language(text: str) -> str | None:
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    return "zh" if cjk_ratio(text) >= 0.3 else None


def _symbol_ratio(text: str) -> float:
    """Share of visible characters that are punctuation or symbols (regex-counted, in C)."""
    visible = len(text) - len(_SPACE.findall(text))
    return len(_SYMBOL.findall(text)) / visible if visible else 0.0


def _digit_ratio(text: str) -> float:
    visible = len(text) - len(_SPACE.findall(text))
    return len(_DIGIT.findall(text)) / visible if visible else 0.0


def _duplicate_line_fraction(text: str) -> float:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return 0.0
    counts = Counter(lines)
    return sum(n for n in counts.values() if n > 1) / len(lines)


def _top_ngram_fraction(text: str, n: int) -> float:
    words = _WORD.findall(text.lower())
    if len(words) < n * 3:
        return 0.0
    grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    gram, count = grams.most_common(1)[0]
    if count < 2:
        return 0.0
    return count * sum(len(w) for w in gram) / max(sum(len(w) for w in words), 1)


def build_checks(spec: QualitySpec) -> list[Check]:
    """The enabled checks, cheapest first, each returning a drop reason or None."""
    checks: list[Check] = [
        lambda t: "too_short" if len(t) < spec.min_chars else None,
        lambda t: "too_long" if spec.max_chars is not None and len(t) > spec.max_chars else None,
        lambda t: "too_few_words" if count_words(t) < spec.min_words else None,
        lambda t: "symbols" if _symbol_ratio(t) > spec.max_symbol_ratio else None,
        lambda t: "digits" if _digit_ratio(t) > spec.max_digit_ratio else None,
        lambda t: (
            "repeated_lines"
            if _duplicate_line_fraction(t) > spec.max_duplicate_line_fraction
            else None
        ),
        lambda t: (
            "repeated_ngrams"
            if _top_ngram_fraction(t, spec.ngram) > spec.max_top_ngram_fraction
            else None
        ),
    ]
    if spec.languages:
        wanted = set(spec.languages)
        checks.append(lambda t: None if detect_language(t) in wanted else "language")
    return checks


def quality_reason(text: str, checks: list[Check]) -> str | None:
    for check in checks:
        reason = check(text)
        if reason is not None:
            return reason
    return None


@register_step("quality", config=QualitySpec, row_local=True)
def quality(spec: QualitySpec) -> Step:
    checks = build_checks(spec)

    def step(records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            if record.dropped is None:
                reason = quality_reason(record.text, checks)
                if reason is not None:
                    record.dropped = f"quality:{reason}"
            yield record

    return step
