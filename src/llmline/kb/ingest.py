"""Files and FAQ tables -> cleaned, redacted, deduplicated documents for the knowledge base.

Everything goes through the data chain's own functions (`normalize_text`, `redact_text`,
`dedup_key`, `html_to_text`, the table readers), so a KB sees text exactly as a training set
would. Whitespace is collapsed within lines only: paragraph breaks survive for the chunker,
and chunk offsets point into this cleaned text, which the catalog keeps.

A file that cannot be read (a broken PDF, an empty file, a binary) is reported with its
reason and skipped; the rest is indexed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmline.errors import DataError
from llmline.lineage import sha256_bytes

DOCUMENT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx"})
TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".jsonl"})
_SPACES = re.compile(r"[^\S\n]+")
_BLANKS = re.compile(r"\n\s*\n\s*")


@dataclass
class Document:
    """One retrievable unit before chunking: a file, or one row of an FAQ table."""

    doc_id: str  # the id eval's gold column names: the --id-col value or the relative path
    source: str  # the input file, relative to the input root: the unit of incremental updates
    text: str  # cleaned and redacted; chunk offsets point into this
    whole: bool = False  # FAQ rows (question + answer) are one chunk each
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Source:
    """One input file with its sha256 and the documents read from it (empty when skipped)."""

    path: str
    sha256: str
    documents: list[Document] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class TableColumns:
    """Which columns of an FAQ table hold the id and the text (`--id-col`, `--text-col`)."""

    id_col: str | None = None
    text_col: str | None = None


def clean(text: str, *, redact: bool) -> str:
    """The data chain's normalisation and PII redaction, keeping paragraph breaks."""
    from llmline.data.clean import normalize_text
    from llmline.spec import CleanSpec

    text = normalize_text(text, CleanSpec(collapse_whitespace=False))
    text = _BLANKS.sub("\n\n", _SPACES.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n")))
    text = "\n".join(line.strip() for line in text.split("\n")).strip()
    if redact:
        from llmline.data.pii import redact_text

        text, _ = redact_text(text)
    return text


def list_inputs(root: Path) -> list[Path]:
    """The readable files of a folder (sorted), or the one file given."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DataError(f"input {str(root)!r} does not exist", fix="check --input")
    known = DOCUMENT_SUFFIXES | TABLE_SUFFIXES
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in known
    )  # fmt: skip
    if not files:
        raise DataError(
            f"no Markdown, HTML, PDF, DOCX, TXT, CSV, TSV or JSONL files in {str(root)!r}",
            fix="point --input at a folder or file of those types",
        )
    return files


def read_sources(root: Path, columns: TableColumns, *, redact: bool) -> Iterator[Source]:
    """Every input file as a Source; unreadable files carry `error` instead of documents."""
    for path in list_inputs(root):
        relative = path.name if root.is_file() else path.relative_to(root).as_posix()
        raw = path.read_bytes()
        source = Source(relative, sha256_bytes(raw))
        try:
            source.documents = _read_file(path, raw, relative, columns, redact=redact)
        except _Unreadable as exc:
            source.error = str(exc)
        yield source


class _Unreadable(Exception):
    """A file that is skipped (and reported) rather than failing the whole build."""


def _read_file(
    path: Path, raw: bytes, relative: str, columns: TableColumns, *, redact: bool
) -> list[Document]:
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return read_table(path, relative, columns, redact=redact)
    if not raw.strip():
        raise _Unreadable("empty file")
    text = clean(_extract(path, raw, suffix), redact=redact)
    if not text:
        raise _Unreadable("no text after cleaning")
    return [Document(doc_id=relative, source=relative, text=text)]


def _extract(path: Path, raw: bytes, suffix: str) -> str:
    if suffix == ".pdf":
        return _pdf_text(raw)
    if suffix == ".docx":
        return _docx_text(raw)
    if b"\x00" in raw[:8192]:
        raise _Unreadable("binary file, not text")
    from llmline.data.documents import decode_bytes

    text, _ = decode_bytes(raw)
    if suffix in (".html", ".htm"):
        from llmline.data.html import html_to_text

        return html_to_text(text)
    return text


def _pdf_text(raw: bytes) -> str:
    import io
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # the reason is reported once, below

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            raise _Unreadable("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
    except _Unreadable:
        raise
    except Exception as exc:  # pypdf raises many types (PdfReadError, ValueError, KeyError)
        raise _Unreadable(f"unreadable PDF ({type(exc).__name__}: {exc})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise _Unreadable("PDF has no text layer (scanned image?); OCR it first")
    return text


def _docx_text(raw: bytes) -> str:
    import io

    from docx import Document as DocxDocument

    try:
        document = DocxDocument(io.BytesIO(raw))
    except Exception as exc:  # python-docx raises zipfile/lxml/KeyError types for bad files
        raise _Unreadable(f"unreadable DOCX ({type(exc).__name__}: {exc})") from None
    paragraphs = [p.text for p in document.paragraphs]
    for table in document.tables:
        paragraphs.extend(" | ".join(cell.text for cell in row.cells) for row in table.rows)
    return "\n\n".join(p for p in paragraphs if p.strip())


def read_table(path: Path, relative: str, columns: TableColumns, *, redact: bool) -> list[Document]:
    """FAQ rows (question, answer[, intent]) or rows of `--text-col`, one document each."""
    from llmline.data import sources
    from llmline.spec import SourceSpec

    reader = {".csv": sources.read_csv, ".tsv": sources.read_tsv, ".jsonl": sources.read_jsonl}
    spec = SourceSpec(path=path, label_column=None)
    try:
        rows = [
            {**row, "__row": number}
            for number, row in enumerate(reader[path.suffix.lower()](spec), start=1)
            if sources.ERROR_KEY not in row
        ]
    except DataError as exc:
        raise _Unreadable(exc.what) from None
    if not rows:
        raise _Unreadable("table has no readable rows")
    text_of = _text_getter(rows[0], columns, path)
    documents = []
    for row in rows:
        doc_id = str(row[columns.id_col]) if columns.id_col else f"{relative}#{row['__row']}"
        text = clean(text_of(row), redact=redact)
        if text:
            meta = {k: str(row[k]) for k in ("question", "intent") if row.get(k) not in (None, "")}
            faq = columns.text_col is None
            documents.append(Document(doc_id, relative, text, whole=faq, meta=meta))
    return documents


def _text_getter(row: dict[str, Any], columns: TableColumns, path: Path) -> Any:
    available = ", ".join(k for k in row if k != "__row")
    for option, column in (("--id-col", columns.id_col), ("--text-col", columns.text_col)):
        if column is not None and column not in row:
            raise DataError(
                f"column {column!r} not found in {str(path)!r} (columns: {available})",
                where=option,
                fix=f"set {option} to one of the columns",
            )
    if columns.text_col is not None:
        column = columns.text_col
        return lambda r: "" if r.get(column) is None else str(r[column])
    if "question" in row and "answer" in row:
        return lambda r: f"{r.get('question') or ''}\n{r.get('answer') or ''}"
    raise DataError(
        f"{str(path)!r} has neither question+answer columns nor --text-col (columns: {available})",
        where="--text-col",
        fix="name the text column with --text-col, or use an FAQ table with question, answer",
    )
