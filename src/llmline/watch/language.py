"""The language of a post, fast enough for a stream.

`llmline.data.filters.detect_language` answers Chinese, Japanese and Korean from the script at
once, but Latin-script text goes to langdetect, about 10 ms a post here: on its own more than the
whole budget of a 200 posts/s stream. Most such posts in a financial stream are English and say
so in their words, so an ASCII post with at least two distinct English function or market words
is answered directly and only the rest go to langdetect (about 1 in 8 of the English back-test
stream).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z']+")
_ENGLISH = frozenset(
    ("the", "and", "of", "is", "are", "was", "were", "will", "with", "this", "that", "for",
     "from", "has", "have", "been", "its", "their", "which", "would", "could", "than", "into",
     "to", "by", "as", "at", "it", "our", "we", "not", "but", "up", "down", "shares", "stock",
     "company", "profit", "sales", "net", "year", "quarter", "buy", "sell", "long", "short")
)  # fmt: skip


def post_language(text: str) -> str:
    """ISO 639-1 code, 'und' when it cannot be told."""
    from llmline.data.filters import detect_language

    if text.isascii():
        words = set(_WORD.findall(text.lower()))
        if len(words & _ENGLISH) >= 2:
            return "en"
    return detect_language(text)
