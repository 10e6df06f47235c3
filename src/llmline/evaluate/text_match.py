"""Comparing a generated answer with the reference: exact match and ROUGE-L, CJK-aware.

Chinese, Japanese and Korean text has no spaces between words, so splitting on whitespace
makes a whole Chinese sentence one token and ROUGE-L 0 or 1 only. Here every CJK character is
one unit (the usual character-level ROUGE for Chinese) and Latin words stay whole words.
"""

from __future__ import annotations

import re

_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af"  # hangul syllables
)
_UNIT = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")


def text_units(text: str) -> list[str]:
    """Lower-cased units: each CJK character alone, other runs split on whitespace."""
    return _UNIT.findall(text.lower())


def normalize_answer(text: str) -> str:
    """Whitespace collapsed and no spaces next to CJK characters (where a tokenizer's decoding
    may or may not put them); case is kept, as an answer's case can matter."""
    collapsed = " ".join(text.split())
    return _SPACE_NEAR_CJK.sub("", collapsed)


def exact_match(reference: str, candidate: str) -> bool:
    return normalize_answer(reference) == normalize_answer(candidate)


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F1 over `text_units`.

    Written by hand (a longest-common-subsequence table) because the rouge-score package pulls
    nltk and absl for what is twenty lines here, and splits CJK text by whitespace.
    """
    ref, cand = text_units(reference), text_units(candidate)
    if not ref or not cand:
        return float(ref == cand)
    table = [[0] * (len(cand) + 1) for _ in range(len(ref) + 1)]
    for i, r in enumerate(ref):
        for j, c in enumerate(cand):
            table[i + 1][j + 1] = (
                table[i][j] + 1 if r == c else max(table[i][j + 1], table[i + 1][j])
            )
    lcs = table[-1][-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(cand), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)
