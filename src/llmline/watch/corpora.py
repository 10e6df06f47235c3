"""Finance sentiment corpora in their published formats, as data-chain sources.

They register as `format:` names so the finance-sentiment recipes read the files as published
and `llmline evaluate --format NAME` scores a held-out file in the same form, its labels as
written there (the run's `data.label_map` renames them):

- `phrasebank`: Financial PhraseBank, one `sentence@label` per line; the label follows the
  last `@`. Columns: text, label.
- `finfe`: BBT-FinCUGE FinFE, one JSON array of `[text, label]` pairs (labels 0/1/2).
  Columns: text, label.
- `fiqa`: FiQA 2018 task 1 posts/headlines, a JSON object `{id: {sentence, info: [{target,
  sentiment_score, ...}]}}`. One row per (post, target), the target marked by the watch's own
  `mark_target` (so a model trained on it has seen what the watch shows it), the continuous
  score binned into negative/neutral/positive at FIQA_BINS. Columns: text, label, score,
  target, id.

A bad row is an error row (counted and skipped, or fatal under data.strict), never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from llmline.data.delimited import ERROR_KEY, LINE_KEY, NOTE_KEY, attach_notes, split_lines
from llmline.data.sources import SOURCES, read_text
from llmline.errors import DataError
from llmline.spec import SourceSpec
from llmline.watch.entities import Entity, EntityLinker, WatchList, alias_key
from llmline.watch.sentiment import mark_target

# FiQA scores in [-1, 1]: below -0.1 negative, above 0.1 positive, between neutral. Scores
# cluster away from 0 (of 675 posts 218 / 31 / 426 fall in the three bins), so the neutral
# band stays narrow: a wider one would relabel weakly-opinionated posts the annotators scored.
FIQA_BINS = (-0.1, 0.1)


def _bad(message: str, reason: str, where: str, line: int | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {ERROR_KEY: message, "reason": reason, "where": where}
    if line is not None:
        row[LINE_KEY] = line
    return row


@SOURCES.register("phrasebank")
def read_phrasebank(source: SourceSpec) -> Iterator[dict[str, Any]]:
    yield from attach_notes(_phrasebank_items(source))


def _phrasebank_items(source: SourceSpec) -> Iterator[dict[str, Any]]:
    decoded = read_text(source.path, source.encoding)
    yield {NOTE_KEY: {"encoding": decoded.encoding, "truncated_bytes": decoded.truncated_bytes}}
    blank = 0
    for number, line in enumerate(split_lines(decoded.text), start=1):
        if not line.strip():
            blank += 1
            continue
        text, at, label = line.rpartition("@")
        if not at or not label.strip() or not text.strip():
            where = f"{source.path}:{number}"
            yield _bad(f"line {number} is not 'sentence@label'", "no_label", where, number)
            continue
        yield {"text": text.strip(), "label": label.strip(), LINE_KEY: number}
    yield {NOTE_KEY: {"blank_lines": blank}}


def _json_document(source: SourceSpec, kind: type, shape: str) -> Any:
    decoded = read_text(source.path, source.encoding)
    try:
        document = json.loads(decoded.text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{source.path} is not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})",
            fix=f"this format reads one JSON document: {shape}",
        ) from None
    if not isinstance(document, kind):
        raise DataError(
            f"{source.path} holds a JSON {type(document).__name__}, not {shape}",
            fix="check the path and format",
        )
    return document


@SOURCES.register("finfe")
def read_finfe(source: SourceSpec) -> Iterator[dict[str, Any]]:
    pairs = _json_document(source, list, "an array of [text, label] pairs")
    for index, item in enumerate(pairs):
        if not _is_pair(item):
            where = f"{source.path}: item {index}"
            message = f"item {index} is not a [text, label] pair: {str(item)[:80]}"
            yield _bad(message, "not_a_pair", where)
            continue
        yield {"text": item[0], "label": str(item[1])}


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, list)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], str | int)
        and not isinstance(item[1], bool)
    )


@SOURCES.register("fiqa")
def read_fiqa(source: SourceSpec) -> Iterator[dict[str, Any]]:
    posts = _json_document(source, dict, "an object {id: {sentence, info: [...]}}")
    for post_id, post in posts.items():
        where = f"{source.path}: post {post_id}"
        sentence = post.get("sentence") if isinstance(post, dict) else None
        infos = post.get("info") if isinstance(post, dict) else None
        if not isinstance(sentence, str) or not isinstance(infos, list) or not infos:
            yield _bad(f"post {post_id} lacks a sentence or an info list", "not_a_post", where)
            continue
        for info in infos:
            row = _fiqa_row(str(post_id), sentence, info)
            yield (
                row
                if row is not None
                else _bad(
                    f"post {post_id}: an info entry lacks a target or a numeric sentiment_score",
                    "bad_info",
                    where,
                )
            )


def _fiqa_row(post_id: str, sentence: str, info: Any) -> dict[str, Any] | None:
    if not isinstance(info, dict) or not str(info.get("target") or "").strip():
        return None
    try:
        score = float(str(info.get("sentiment_score")))
    except ValueError:
        return None
    if not -1.0 <= score <= 1.0:
        return None
    target = str(info["target"]).strip()
    return {
        "text": mark_fiqa_target(sentence, target),
        "label": fiqa_bin(score),
        "score": score,
        "target": target,
        "id": post_id,
    }


def fiqa_bin(score: float) -> str:
    low, high = FIQA_BINS
    return "negative" if score < low else "positive" if score > high else "neutral"


def mark_fiqa_target(sentence: str, target: str) -> str:
    """The sentence with the target's mentions marked as the watch marks them: the target is a
    one-entity watch list (name = alias), so `$amzn`, `AMZN` and `amzn` all count."""
    watch_list = WatchList({target: Entity(target, (target,), "any")}, {alias_key(target): target})
    mentions = EntityLinker(watch_list, link_unlisted=False).link([sentence])[0]
    return mark_target(sentence, mentions, target)
