"""CoNLL token files: one `token ... tag` per line, a blank line between sentences.

Registered as the `conll` data format. Each sentence becomes one row with its `tokens` and
`tags` lists (the first and last columns), plus `text`/`label` joined by spaces so the generic
reader's column checks hold. `-DOCSTART-` lines only separate documents and are skipped.

Columns are split on ASCII spaces and tabs only: character-level Chinese corpora tag the
ideographic space U+3000 (and no-break spaces) as tokens of their own, which `str.split()`
would swallow, leaving a line with a tag and no token. Lines end at `\n` only, for the same
reason (`str.splitlines()` also breaks at U+2028, U+0085 and other characters a token can be).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from llmline.data.sources import SOURCES, open_text
from llmline.errors import DataError
from llmline.spec import SourceSpec

COLUMN_SEPARATOR = re.compile(r"[ \t]+")
CONLL_SUFFIXES = (".conll", ".conllu", ".iob", ".bio", ".bioes", ".iobes", ".bmes", ".txt")


@SOURCES.register("conll")
def read_conll(source: SourceSpec) -> Iterator[dict[str, Any]]:
    """Yield one row per sentence; a line without a tag column is an error naming its line."""
    text = open_text(source.path, source.encoding)
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        columns = [c for c in COLUMN_SEPARATOR.split(line.rstrip("\r")) if c]
        if not line.strip() or columns[0] == "-DOCSTART-":
            if tokens:
                yield _row(tokens, tags)
                tokens, tags = [], []
            continue
        if len(columns) < 2:
            raise DataError(
                f"line has a token but no tag: {line.strip()[:40]!r}",
                where=f"{source.path}:{number}",
                fix="write 'TOKEN TAG' per line (tag in the last column), blank lines between",
            )
        tokens.append(columns[0])
        tags.append(columns[-1])
    if tokens:
        yield _row(tokens, tags)


def _row(tokens: list[str], tags: list[str]) -> dict[str, Any]:
    return {"text": " ".join(tokens), "label": " ".join(tags), "tokens": tokens, "tags": tags}
