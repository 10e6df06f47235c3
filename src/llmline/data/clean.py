"""Text normalisation shared by training, evaluation and serving, so all three see the same text."""

from __future__ import annotations

import re
import unicodedata

from llmline.spec import CleanSpec

_WHITESPACE = re.compile(r"\s+")
# Cc (control), Cf (format: zero-width, BOM, bidi marks), Cs/Co (surrogates, private use).
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_KEEP_CONTROLS = frozenset("\t\n\r")


def strip_control(text: str) -> str:
    return "".join(
        ch
        for ch in text
        if ch in _KEEP_CONTROLS or unicodedata.category(ch) not in _DROP_CATEGORIES
    )


def normalize_text(text: str, spec: CleanSpec | None = None) -> str:
    spec = spec or CleanSpec()
    if spec.nfkc:
        text = unicodedata.normalize("NFKC", text)
    if spec.strip_control:
        text = strip_control(text)
    if spec.collapse_whitespace:
        text = _WHITESPACE.sub(" ", text)
    return text.strip()


def dedup_key(text: str) -> str:
    """Key under which two texts count as exact duplicates: normalised and case-folded."""
    return normalize_text(text).casefold()
