"""CLUENER-style entity span files: one JSON object per line, spans grouped by type and mention.

    {"text": "浙商银行企业信贷部叶老桂博士...",
     "label": {"name": {"叶老桂": [[9, 11], [32, 34]]}, "company": {"浙商银行": [[0, 3]]}}}

Ends are inclusive. Each sentence becomes one character per token with IOB2 tags, the unit
Chinese NER is trained and scored on. A span whose characters differ from its mention is an
error naming the line (the offsets of the whole file are then suspect); a span overlapping an
earlier one is dropped and counted, since IOB2 cannot hold both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmline.errors import DataError

FIX = 'write {"text": "...", "label": {"TYPE": {"MENTION": [[start, end_inclusive]]}}}'


@dataclass
class SpanSentence:
    tokens: list[str]
    tags: list[str]
    overlaps_dropped: int = 0


def is_span_row(row: dict[str, Any]) -> bool:
    """Whether a JSON row has CLUENER's shape (text plus a type -> mention -> spans mapping)."""
    return isinstance(row.get("text"), str) and isinstance(row.get("label"), dict)


def span_sentence(row: dict[str, Any], *, where: str) -> SpanSentence:
    """Characters of row["text"] and their IOB2 tags from row["label"]."""
    text: str = row["text"]
    spans = sorted(_spans(row["label"], text, where=where), key=lambda s: (s[0], -s[1]))
    tags = ["O"] * len(text)
    dropped = 0
    for start, end, kind in spans:
        if any(tag != "O" for tag in tags[start : end + 1]):
            dropped += 1
            continue
        tags[start] = f"B-{kind}"
        for i in range(start + 1, end + 1):
            tags[i] = f"I-{kind}"
    keep = [i for i, ch in enumerate(text) if not ch.isspace()]
    return SpanSentence([text[i] for i in keep], [tags[i] for i in keep], dropped)


def _spans(label: dict[str, Any], text: str, *, where: str) -> list[tuple[int, int, str]]:
    out = []
    for kind, mentions in label.items():
        if not isinstance(mentions, dict):
            raise DataError(f"label {kind!r} must map mentions to spans", where=where, fix=FIX)
        for mention, spans in mentions.items():
            for span in spans if isinstance(spans, list) else [spans]:
                start, end = _span(span, where=where)
                if not 0 <= start <= end < len(text) or text[start : end + 1] != mention:
                    found = text[start : end + 1] if 0 <= start <= end < len(text) else ""
                    raise DataError(
                        f"span [{start}, {end}] of {kind} {mention!r} covers {found!r} in a text "
                        f"of {len(text)} characters",
                        where=where,
                        fix="ends are inclusive character offsets into text; correct the span",
                    )
                out.append((start, end, str(kind)))
    return out


def _span(span: Any, *, where: str) -> tuple[int, int]:
    try:
        start, end = span
        return int(start), int(end)
    except (TypeError, ValueError):
        raise DataError(f"span {span!r} is not [start, end]", where=where, fix=FIX) from None
