"""What the console shows of text: Markdown rendered without raw HTML, and PII always redacted.

Every text that reaches a page (reports, cards, data rows, served requests, labeling items)
goes through `llmline.data.pii.redact_text` first, so a report that quoted an e-mail address
or a phone number shows `<EMAIL>` / `<PHONE>` in the console.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)


def redact(text: Any) -> str:
    from llmline.data.pii import redact_text

    return redact_text(str(text))[0] if text not in (None, "") else ""


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown(text: str) -> str:
    """Markdown -> HTML (raw HTML in the source is escaped), front matter dropped, PII redacted."""
    return str(_markdown().render(redact(_FRONT_MATTER.sub("", text))))
