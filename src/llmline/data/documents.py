"""Document sources: a directory of text files, raw e-mail (MIME) files, HTML pages.

Every file is one row: `text`, `label` (the first sub-folder under the root, so
`spamassassin/spam-1/0001.txt` is labelled `spam-1`), `path`, and for e-mail the headers.
A file that cannot be read (binary, empty, undecodable) becomes an error row that the reader
counts and reports instead of dropping it silently.
"""

from __future__ import annotations

import email.errors
import re
from collections.abc import Callable, Iterator
from email import policy
from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from llmline.data.html import html_to_text, looks_like_html
from llmline.data.sources import ERROR_KEY, SOURCES
from llmline.errors import DataError
from llmline.spec import SourceSpec

_HEADERS = ("subject", "from", "to", "date", "message-id")
_QUOTE = re.compile(r"^\s*(>|\|)")
_ATTRIBUTION = re.compile(r"^\s*(On .{5,200}|.{2,100}) wrote:\s*$", re.I)
_ORIGINAL = re.compile(r"^\s*-{3,}\s*(Original Message|Forwarded message)\s*-{3,}\s*$", re.I)


def list_files(source: SourceSpec) -> list[Path]:
    """Files of a directory source matching its glob (sorted), or the single file given."""
    root = source.path
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DataError(f"{str(root)!r} does not exist", fix="check data.source.path")
    files = sorted(p for p in root.glob(source.glob) if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(
            f"no files matching {source.glob!r} in directory {str(root)!r}",
            where="data.source.glob",
            fix="check the path, or set glob (e.g. '**/*.txt')",
        )
    return files


def _label_for(path: Path, root: Path) -> str | None:
    if root.is_file():
        return None
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else None


def decode_bytes(raw: bytes, charset: str | None = None) -> tuple[str, int]:
    """Text and the number of undecodable bytes replaced (reported, never silently dropped)."""
    for candidate in (charset, "utf-8"):
        if candidate:
            try:
                return raw.decode(candidate), 0
            except (UnicodeDecodeError, LookupError):
                continue
    from llmline.data.encoding import detect

    decoded = detect(raw)
    if decoded is not None:
        return decoded.text, decoded.truncated_bytes
    text = raw.decode("utf-8", errors="replace")
    return text, text.count("\ufffd")


def _rows(
    source: SourceSpec, parse: Callable[[bytes, SourceSpec], dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    root = source.path
    for path in list_files(source):
        where = str(path)
        raw = path.read_bytes()
        if not raw.strip():
            yield {ERROR_KEY: "empty file", "reason": "empty_file", "path": where}
            continue
        if b"\x00" in raw[:8192]:
            yield {ERROR_KEY: "binary file, not text", "reason": "binary_file", "path": where}
            continue
        row = parse(raw, source)
        row.setdefault("label", _label_for(path, root))
        row["path"] = str(path.relative_to(root)) if root.is_dir() else path.name
        yield row


def _parse_text(raw: bytes, source: SourceSpec) -> dict[str, Any]:
    text, bad = decode_bytes(raw, source.encoding)
    return {"text": text, "undecodable_bytes": bad}


def _parse_html(raw: bytes, source: SourceSpec) -> dict[str, Any]:
    text, bad = decode_bytes(raw, source.encoding or _meta_charset(raw))
    return {"text": html_to_text(text), "undecodable_bytes": bad}


def _meta_charset(raw: bytes) -> str | None:
    match = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", raw[:4096], re.I)
    return match.group(1).decode("ascii") if match else None


def parse_email(raw: bytes, source: SourceSpec) -> dict[str, Any]:
    """Headers split from the body; the best text part (HTML converted) as `text`."""
    # compat32 is the fast parser (policy.default builds header objects: ~3x slower here);
    # headers are decoded explicitly below instead.
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    body, bad = _email_body(message, source.encoding)
    if source.strip_quotes:
        body = strip_quoted(body)
    if source.strip_signature:
        body = strip_signature(body)
    row: dict[str, Any] = {h: _header(message, h) for h in _HEADERS}
    row.update({"text": body.strip(), "undecodable_bytes": bad})
    return row


def _header(message: Message, name: str) -> str:
    from email.header import decode_header, make_header

    value = message.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (UnicodeError, LookupError, ValueError, email.errors.HeaderParseError):
        return str(value)  # undecodable encoded-words are kept as written


def _email_body(message: Message, encoding: str | None) -> tuple[str, int]:
    plain, html = None, None
    for part in message.walk() if message.is_multipart() else [message]:
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = part
        elif kind == "text/html" and html is None:
            html = part
    chosen = plain or html
    if chosen is None:
        return "", 0
    payload = chosen.get_payload(decode=True)
    raw = payload if isinstance(payload, bytes) else str(chosen.get_payload()).encode()
    charset = encoding or (chosen.get_content_charset() if isinstance(chosen, Message) else None)
    text, bad = decode_bytes(raw, charset)
    if chosen is html or looks_like_html(text):
        text = html_to_text(text)
    return text, bad


def strip_quoted(body: str) -> str:
    """Drop quoted lines and attributions ("X wrote:"); cut at an unquoted original message."""
    kept = []
    for line in body.splitlines():
        if _ORIGINAL.match(line):
            break
        if not (_QUOTE.match(line) or _ATTRIBUTION.match(line)):
            kept.append(line)
    return "\n".join(kept)


def strip_signature(body: str) -> str:
    """Cut at the conventional signature separator '-- ' (RFC 3676) or a '__' rule."""
    lines = body.splitlines()
    for index, line in enumerate(lines):
        if line in ("-- ", "--") or re.fullmatch(r"_{10,}", line.strip()):
            return "\n".join(lines[:index])
    return body


@SOURCES.register("text_dir")
def read_text_dir(source: SourceSpec) -> Iterator[dict[str, Any]]:
    yield from _rows(source, _parse_text)


@SOURCES.register("email")
def read_email(source: SourceSpec) -> Iterator[dict[str, Any]]:
    yield from _rows(source, parse_email)


@SOURCES.register("html")
def read_html(source: SourceSpec) -> Iterator[dict[str, Any]]:
    yield from _rows(source, _parse_html)
