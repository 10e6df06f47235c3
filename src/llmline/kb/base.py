"""A knowledge base on disk: build, update incrementally, delete, search.

Layout of `<workspace>/kb/NAME/`: `manifest.json` (sources with sha256, counts, model refs,
store, the kb spec), `catalog.sqlite` (sources, documents, chunks), `vectors.faiss` (unless
the vectors live in PostgreSQL), `bm25/`, `entities.json`. A source whose sha256 is unchanged
is skipped; a changed one has its chunks deleted and its new chunks added; nothing else is
re-embedded.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmline.errors import DataError, SpecError
from llmline.kb.catalog import Catalog, ChunkRow
from llmline.kb.entities import EntityIndex, Tagger
from llmline.kb.ingest import Document, Source, TableColumns, read_sources
from llmline.spec.kb import KbSpec, Retriever
from llmline.workspace import Workspace

NAME = re.compile(r"^[a-zA-Z0-9][\w.-]*$")


@dataclass
class Hit:
    """One search result: the chunk, its final score and each retriever's score."""

    chunk: ChunkRow
    score: float
    scores: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "chunk_id": c.id, "doc_id": c.doc_id, "source": c.source, "start": c.start,
            "end": c.end, "sha256": c.sha256, "score": round(self.score, 6),
            "scores": {k: round(v, 6) for k, v in self.scores.items()}, "text": c.text,
            "entities": c.entities,
        }  # fmt: skip


@dataclass
class UpdateReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    chunks_added: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0


def kb_dir(workspace: Workspace, name: str) -> Path:
    if not NAME.match(name):
        raise DataError(
            f"invalid KB name {name!r}", fix="use letters, digits, '_', '.', '-' (no slashes)"
        )
    return workspace.root / "kb" / name


class KnowledgeBase:
    """One KB: its catalog, vector store, BM25 index and entity index, models loaded lazily."""

    def __init__(
        self, name: str, workspace: Workspace, spec: KbSpec, *, tagger: Tagger | None = None,
        encoder: Any = None,
    ) -> None:  # fmt: skip
        self.name, self.workspace, self.spec = name, workspace, spec
        self.dir = kb_dir(workspace, name)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(self.dir / "catalog.sqlite")
        self._tagger = tagger
        self._encoder: Any = encoder  # None: loaded from spec.encoder on first use
        self._reranker: Any = None
        self._store: Any = None
        self._bm25: Any = None
        self._entities: EntityIndex | None = None

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls, name: str, workspace: Workspace, *, tagger: Tagger | None = None, encoder: Any = None
    ) -> KnowledgeBase:
        """An existing KB with the spec it was built with."""
        from llmline.kb.manifest import read_manifest

        manifest = read_manifest(kb_dir(workspace, name), name, workspace)
        spec = KbSpec.model_validate(manifest["spec"])
        return cls(name, workspace, spec, tagger=tagger, encoder=encoder)

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from llmline.kb.embed import load_encoder

            self._encoder = load_encoder(self.spec, self.workspace)
        return self._encoder

    @property
    def store(self) -> Any:
        if self._store is None:
            from llmline.kb.vectors import open_store

            spec = self.spec
            self._store = open_store(
                self.dir, self.name, self.encoder.dim, spec.store_url, index=spec.index,
                approximate_above=spec.approximate_above,
            )  # fmt: skip
        return self._store

    @property
    def bm25(self) -> Any:
        if self._bm25 is None:
            from llmline.kb.bm25 import Bm25Index

            path = self.dir / "bm25"
            self._bm25 = Bm25Index.load(path) if path.exists() else Bm25Index.build([], [])
        return self._bm25

    @property
    def entities(self) -> EntityIndex:
        if self._entities is None:
            from llmline.kb.entities import load_types

            types = load_types(self.dir / "entities.json")
            self._entities = EntityIndex.from_chunks(self.catalog.all_entities(), types)
        return self._entities

    @property
    def tagger(self) -> Tagger | None:
        if self._tagger is None and self.spec.ner_model is not None:
            from llmline.kb.entities import ner_tagger
            from llmline.models.resolve import resolve_model

            self._tagger = ner_tagger(resolve_model(self.spec.ner_model, self.workspace))
        return self._tagger

    # --- updating ------------------------------------------------------------------------

    def sync(self, root: Path, columns: TableColumns, *, remove_missing: bool) -> UpdateReport:
        """Index the files under `root`: new and changed ones (re)indexed, unchanged skipped.

        With `remove_missing` (a build), sources no longer under `root` are deleted too.
        """
        began = time.perf_counter()
        sources = list(read_sources(root, columns, redact=self.spec.redact))
        if not any(s.documents for s in sources) and not self.catalog.counts()["chunks"]:
            reasons = "; ".join(f"{s.path}: {s.error or 'no rows'}" for s in sources[:5])
            raise DataError(f"nothing to index in {str(root)!r} ({reasons})", fix="check --input")
        report, known = UpdateReport(), self.catalog.source_hashes()
        removed: list[int] = []
        promoted: list[int] = []
        if remove_missing:
            present = {s.path for s in sources}
            for path in sorted(set(known) - present):
                removed += self._drop(path, promoted)
                report.deleted.append(path)
        new_chunks: dict[int, str] = {}
        for source in sources:
            self._sync_source(source, known, report, removed, promoted, new_chunks)
        self._apply(new_chunks, removed, promoted)
        report.chunks_added, report.chunks_deleted = len(new_chunks), len(removed)
        report.seconds = round(time.perf_counter() - began, 3)
        self._write_manifest(report)
        return report

    def _sync_source(
        self, source: Source, known: dict[str, str], report: UpdateReport,
        removed: list[int], promoted: list[int], new_chunks: dict[int, str],
    ) -> None:  # fmt: skip
        if source.error is not None:
            report.skipped.append({"path": source.path, "reason": source.error})
            if source.path in known:  # the indexed version no longer matches the file
                removed += self._drop(source.path, promoted)
            return
        if known.get(source.path) == source.sha256:
            report.unchanged.append(source.path)
            return
        if source.path in known:
            removed += self._drop(source.path, promoted)
            report.updated.append(source.path)
        else:
            report.added.append(source.path)
        self._add_documents(source, new_chunks)

    def delete(self, paths: Sequence[str]) -> UpdateReport:
        """Remove sources (paths as listed in the manifest) and their chunks."""
        known = self.catalog.source_hashes()
        for path in paths:
            if path not in known:
                import difflib

                near = difflib.get_close_matches(path, list(known), n=1)
                raise DataError(
                    f"KB {self.name!r} has no source {path!r}",
                    fix=f"did you mean {near[0]!r}?" if near else "`llmline kb build` lists them",
                )
        report, removed, promoted = UpdateReport(), list[int](), list[int]()
        for path in paths:
            removed += self._drop(path, promoted)
            report.deleted.append(path)
        self._apply({}, removed, promoted)
        report.chunks_deleted = len(removed)
        self._write_manifest(report)
        return report

    def _drop(self, path: str, promoted: list[int]) -> list[int]:
        ids, heirs = self.catalog.delete_source(path)
        promoted += heirs
        return ids

    def _add_documents(self, source: Source, new_chunks: dict[int, str]) -> None:
        from llmline.data.clean import dedup_key

        chunks = duplicates = 0
        for document in source.documents:
            key = dedup_key(document.text)
            original = self.catalog.find_duplicate(key)
            meta = {**document.meta, "whole": document.whole}
            row = self.catalog.add_document(
                document.doc_id, source.path, document.text, key, original, meta
            )
            if original is not None:
                duplicates += 1
                continue
            added = self._chunk_document(row, source.path, document)
            new_chunks.update(added)
            chunks += len(added)
        self.catalog.set_source(
            source.path, source.sha256, len(source.documents), chunks, duplicates
        )

    def _chunk_document(self, row: int, source: str, document: Document) -> dict[int, str]:
        from llmline.kb.bm25 import tokenize
        from llmline.kb.chunk import Chunk, chunk_text
        from llmline.lineage import sha256_bytes

        text = document.text
        if document.whole:
            pieces = [Chunk(0, len(text), text, sha256_bytes(text.encode()))]
        else:
            pieces = chunk_text(text, self.spec.chunk_size, self.spec.chunk_overlap)
        added = {}
        for piece in pieces:
            chunk_id = self.catalog.add_chunk(
                row, source, piece.start, piece.end, piece.sha256, piece.text, tokenize(piece.text)
            )
            added[chunk_id] = piece.text
        return added

    def _apply(self, new_chunks: dict[int, str], removed: list[int], promoted: list[int]) -> None:
        """Embed new chunks, update the vector store, rebuild BM25, then commit the catalog."""
        for row in promoted:
            source, text, meta = self.catalog.document(row)
            doc = Document("", source, text, whole=bool(meta.get("whole")))
            new_chunks.update(self._chunk_document(row, source, doc))
        self.store.delete(removed)
        ids = list(new_chunks)
        vectors = self.encoder.encode_passages(
            [new_chunks[i] for i in ids], progress=f"embedding {len(ids)} chunks"
        )
        self.store.add(ids, vectors)
        if self.tagger is not None and new_chunks:
            self._tag(new_chunks)
        self._rebuild_bm25()
        self.store.save()
        self.catalog.commit()

    def _tag(self, new_chunks: dict[int, str]) -> None:
        from llmline.kb.entities import load_types, tag_chunks

        assert self.tagger is not None
        found, types = tag_chunks(self.tagger, new_chunks)
        self.catalog.set_entities(found)
        merged = load_types(self.dir / "entities.json") | types
        index = EntityIndex.from_chunks(self.catalog.all_entities(), merged)
        index.save(self.dir / "entities.json")
        self._entities = index

    def _rebuild_bm25(self) -> None:
        from llmline.kb.bm25 import Bm25Index

        ids, tokens = self.catalog.all_tokens()
        self._bm25 = Bm25Index.build(ids, tokens)
        self._bm25.save(self.dir / "bm25")
        self._entities = None  # re-read: deleted chunks leave the entity index

    def _write_manifest(self, report: UpdateReport) -> None:
        from llmline.kb.manifest import write_manifest

        write_manifest(self, report)

    # --- searching -----------------------------------------------------------------------

    def search(
        self, query: str, *, retriever: Retriever | None = None, top_k: int | None = None
    ) -> list[Hit]:
        return self.search_many([query], retriever=retriever, top_k=top_k)[0]

    def search_many(
        self, queries: Sequence[str], *, retriever: Retriever | None = None,
        top_k: int | None = None,
    ) -> list[list[Hit]]:  # fmt: skip
        """Results per query; dense queries are embedded in one batch."""
        from llmline.kb.retrieve import Searcher

        return Searcher(self, retriever or self.spec.retriever, top_k or self.spec.top_k).run(
            queries
        )

    def remove(self) -> None:
        """Delete the whole KB (its folder, and its PostgreSQL table when it has one)."""
        if self.spec.store_url is not None:
            self.store.drop()
        self.catalog.close()
        shutil.rmtree(self.dir)

    def discard(self) -> None:
        """Undo a first build that failed: the folder, and the vector table if one was made."""
        if self._store is not None and hasattr(self._store, "drop"):
            self._store.drop()
        self.catalog.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def check_retriever(name: str) -> Retriever:
    allowed = ("bm25", "dense", "hybrid", "hybrid+rerank")
    if name not in allowed:
        raise SpecError(f"unknown retriever {name!r}", fix=f"use one of {', '.join(allowed)}")
    return name  # type: ignore[return-value]
