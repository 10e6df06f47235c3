"""Split cleaned text into overlapping chunks at paragraph and sentence boundaries.

Sizes count *units*: one per CJK character, one per word of space-separated text, so a
300-unit chunk is about 300 Chinese characters or 300 English words, and mixed text counts
fairly. A chunk ends at the last paragraph break, else the last sentence end (。！？!?；; or
". "), found in its second half; only a sentence longer than the chunk is cut mid-sentence.
Overlap is taken back to a sentence start where one lies inside the overlap window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from llmline.lineage import sha256_bytes

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_UNIT = re.compile(rf"[{_CJK}]|[^\s{_CJK}。！？；，、：“”（）《》]+")
_SENTENCE_END = re.compile(r"[。！？!?；;…]|\.(?=\s)|\n")
_PARAGRAPH = re.compile(r"\n\s*\n")
_TRAILING_PUNCT = re.compile(r"^[^\s\w]*", re.U)


@dataclass(frozen=True)
class Chunk:
    """A span of a document's cleaned text: [start, end) characters, with its sha256."""

    start: int
    end: int
    text: str
    sha256: str


def count_units(text: str) -> int:
    """CJK characters plus space-separated words: the unit chunk sizes are given in."""
    return len(_UNIT.findall(text))


def chunk_text(text: str, size: int, overlap: int) -> list[Chunk]:
    """Chunks of at most `size` units overlapping by up to `overlap` units."""
    units = [(m.start(), m.end()) for m in _UNIT.finditer(text)]
    if not units:
        return [_make(text, 0, len(text))] if text.strip() else []
    breaks = _breaks(text, units)
    chunks, first = [], 0
    while True:
        last = _chunk_end(first, size, len(units), breaks)
        start = 0 if first == 0 else units[first][0]
        end = len(text) if last == len(units) else _end_char(text, units, last)
        chunks.append(_make(text, start, end))
        if last == len(units):
            return chunks
        first = _next_start(first, last, overlap, breaks)


def _breaks(text: str, units: list[tuple[int, int]]) -> list[int]:
    """Per unit: 2 when a paragraph ends after it, 1 for a sentence end, else 0."""
    kinds = []
    for (_, end), (start, _) in pairwise(units):
        gap = text[end - 1 : start]  # from the last character: "end." keeps its period
        kinds.append(2 if _PARAGRAPH.search(gap) else 1 if _SENTENCE_END.search(gap) else 0)
    return [*kinds, 2]


def _chunk_end(first: int, size: int, total: int, breaks: list[int]) -> int:
    """Index one past the chunk's last unit: the best boundary in the chunk's second half."""
    limit = first + size
    if limit >= total:
        return total
    for kind in (2, 1):
        for index in range(limit - 1, first + size // 2 - 1, -1):
            if breaks[index] == kind:
                return index + 1
    return limit


def _next_start(first: int, last: int, overlap: int, breaks: list[int]) -> int:
    """Step back `overlap` units, then forward to a sentence start if one is in the window."""
    if overlap == 0:
        return last
    start = max(last - overlap, first + 1)
    for index in range(start - 1, last - 1):
        if breaks[index]:
            return index + 1
    return start


def _end_char(text: str, units: list[tuple[int, int]], last: int) -> int:
    """The end of unit `last - 1` plus the punctuation that closes it (。 or ".")."""
    end = units[last - 1][1]
    gap = text[end : units[last][0]]
    match = _TRAILING_PUNCT.match(gap)
    return end + (match.end() if match else 0)


def _make(text: str, start: int, end: int) -> Chunk:
    piece = text[start:end]
    stripped = piece.rstrip()
    end -= len(piece) - len(stripped)
    return Chunk(start, end, text[start:end], sha256_bytes(text[start:end].encode()))
