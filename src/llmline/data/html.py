"""HTML to plain text with the standard library's tolerant parser.

Written on `html.parser` rather than BeautifulSoup/lxml so that reading e-mail and web pages
needs no extra dependency; script/style/head content is dropped and block elements become line
breaks so paragraphs survive for the quality filters.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = frozenset({"script", "style", "head", "title", "noscript", "template", "svg"})
_BLOCK = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
     "blockquote", "pre", "section", "article", "header", "footer", "hr", "td", "th"}
)  # fmt: skip
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,500}>|<!--.*?-->", re.S)
_BLANK_LINES = re.compile(r"\n\s*\n\s*(\n\s*)+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._skipping = 0  # an unclosed <head> must not hide the whole body
        elif tag in _SKIP:
            self._skipping += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML document or fragment, with block structure as line breaks."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts).replace("\xa0", " ")
    lines = [line.strip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def looks_like_html(text: str) -> bool:
    return bool(re.search(r"<(html|body|p|div|br|table|a|span|font)\b", text[:5000], re.I))


def strip_tags(text: str) -> str:
    """Remove HTML remnants (tags, comments, entities) from text that is mostly plain."""
    if looks_like_html(text):
        return html_to_text(text)
    import html

    return html.unescape(_TAG.sub(" ", text))
