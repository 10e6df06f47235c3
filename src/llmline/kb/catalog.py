"""The KB's catalog: sources, documents and chunks in one embedded SQLite file.

The catalog is the source of truth that the vector store and the BM25 index are derived from:
chunk ids are its integer keys (FAISS and pgvector key vectors by them), each chunk keeps its
source file, character offsets into its document's cleaned text (kept here, so offsets can
be checked) and sha256, and a source's sha256 decides whether an update re-indexes it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, documents INTEGER NOT NULL,
    chunks INTEGER NOT NULL, duplicates INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, source TEXT NOT NULL,
    text TEXT NOT NULL, dedup_key TEXT NOT NULL, duplicate_of INTEGER, meta TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE INDEX IF NOT EXISTS documents_key ON documents(dedup_key);
CREATE INDEX IF NOT EXISTS documents_duplicate ON documents(duplicate_of);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, document INTEGER NOT NULL, source TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, sha256 TEXT NOT NULL, text TEXT NOT NULL,
    tokens TEXT NOT NULL, entities TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
"""


@dataclass(frozen=True)
class ChunkRow:
    """A stored chunk, as search results and citations report it."""

    id: int
    doc_id: str
    source: str
    start: int
    end: int
    sha256: str
    text: str
    entities: list[str]
    meta: dict[str, Any]


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def source_hashes(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT path, sha256 FROM sources"))

    def delete_source(self, path: str) -> tuple[list[int], list[int]]:
        """Remove a source with its documents and chunks.

        Returns the removed chunk ids and the documents of other sources that were exact
        duplicates of a removed one and now stand in for it (the caller chunks and embeds them).
        """
        ids = [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE source = ?", (path,))]
        gone = [r[0] for r in self.db.execute("SELECT id FROM documents WHERE source = ?", (path,))]
        promoted = []
        for original in gone:
            orphans = [
                r[0]
                for r in self.db.execute(
                    "SELECT id FROM documents WHERE duplicate_of = ? AND source != ? ORDER BY id",
                    (original, path),
                )
            ]
            if orphans:
                heir, rest = orphans[0], orphans[1:]
                self.db.execute("UPDATE documents SET duplicate_of = NULL WHERE id = ?", (heir,))
                self.db.executemany(
                    "UPDATE documents SET duplicate_of = ? WHERE id = ?", [(heir, r) for r in rest]
                )
                promoted.append(heir)
        self.db.execute("DELETE FROM chunks WHERE source = ?", (path,))
        self.db.execute("DELETE FROM documents WHERE source = ?", (path,))
        self.db.execute("DELETE FROM sources WHERE path = ?", (path,))
        return ids, promoted

    def document(self, row_id: int) -> tuple[str, str, dict[str, Any]]:
        """Source, cleaned text and meta of one stored document."""
        source, text, meta = self.db.execute(
            "SELECT source, text, meta FROM documents WHERE id = ?", (row_id,)
        ).fetchone()
        return str(source), str(text), json.loads(meta)

    def find_duplicate(self, key: str) -> int | None:
        row = self.db.execute(
            "SELECT id FROM documents WHERE dedup_key = ? AND duplicate_of IS NULL LIMIT 1", (key,)
        ).fetchone()
        return None if row is None else int(row[0])

    def add_document(
        self, doc_id: str, source: str, text: str, key: str, duplicate_of: int | None,
        meta: dict[str, Any],
    ) -> int:  # fmt: skip
        cursor = self.db.execute(
            "INSERT INTO documents (doc_id, source, text, dedup_key, duplicate_of, meta) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (doc_id, source, text, key, duplicate_of, json.dumps(meta, ensure_ascii=False)),
        )
        return int(cursor.lastrowid or 0)

    def add_chunk(
        self, document: int, source: str, start: int, end: int, sha256: str, text: str,
        tokens: list[str],
    ) -> int:  # fmt: skip
        cursor = self.db.execute(
            'INSERT INTO chunks (document, source, start, "end", sha256, text, tokens, entities) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, '[]')",
            (document, source, start, end, sha256, text, json.dumps(tokens, ensure_ascii=False)),
        )
        return int(cursor.lastrowid or 0)

    def set_source(self, path: str, sha256: str, documents: int, chunks: int, dups: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?)",
            (path, sha256, documents, chunks, dups),
        )

    def set_entities(self, entities: dict[int, list[str]]) -> None:
        self.db.executemany(
            "UPDATE chunks SET entities = ? WHERE id = ?",
            [(json.dumps(v, ensure_ascii=False), k) for k, v in entities.items()],
        )

    def commit(self) -> None:
        self.db.commit()

    def all_tokens(self) -> tuple[list[int], list[list[str]]]:
        rows = self.db.execute("SELECT id, tokens FROM chunks ORDER BY id").fetchall()
        return [r[0] for r in rows], [json.loads(r[1]) for r in rows]

    def all_entities(self) -> dict[int, list[str]]:
        rows = self.db.execute("SELECT id, entities FROM chunks WHERE entities != '[]'")
        return {r[0]: json.loads(r[1]) for r in rows}

    def texts(self, ids: Sequence[int]) -> dict[int, str]:
        return {r[0]: r[1] for r in self._select("id, text", ids)}

    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRow]:
        """Chunks by id, each with its document's id and the ids of its exact duplicates."""
        rows = self._select(
            'c.id, d.doc_id, c.source, c.start, c."end", c.sha256, c.text, c.entities, d.meta, '
            "(SELECT json_group_array(x.doc_id) FROM documents x WHERE x.duplicate_of = d.id)",
            list(ids),
            join=True,
        )
        out = {}
        for cid, doc_id, source, start, end, sha, text, entities, meta, dups in rows:
            meta_dict = json.loads(meta)
            meta_dict["duplicate_ids"] = json.loads(dups)
            out[cid] = ChunkRow(
                cid, doc_id, source, start, end, sha, text, json.loads(entities), meta_dict
            )
        return out

    def _select(self, columns: str, ids: Sequence[int], *, join: bool = False) -> list[Any]:
        if not ids:
            return []
        table = "chunks c JOIN documents d ON d.id = c.document" if join else "chunks"
        key = "c.id" if join else "id"
        marks = ",".join("?" * len(ids))
        return self.db.execute(
            f"SELECT {columns} FROM {table} WHERE {key} IN ({marks})", list(ids)
        ).fetchall()

    def document_text(self, doc_id: str) -> str | None:
        row = self.db.execute("SELECT text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return None if row is None else str(row[0])

    def counts(self) -> dict[str, int]:
        def one(sql: str) -> int:
            return int(self.db.execute(sql).fetchone()[0])

        return {
            "sources": one("SELECT count(*) FROM sources"),
            "documents": one("SELECT count(*) FROM documents WHERE duplicate_of IS NULL"),
            "duplicates": one("SELECT count(*) FROM documents WHERE duplicate_of IS NOT NULL"),
            "chunks": one("SELECT count(*) FROM chunks"),
        }
