"""The `kb:` block: how a knowledge base ingests, chunks, embeds, indexes and retrieves."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from llmline.spec.base import StrictModel

Retriever = Literal["bm25", "dense", "hybrid", "hybrid+rerank"]


class PrefixSpec(StrictModel):
    """Text put before queries and passages (e5 wants `query: ` / `passage: `)."""

    query: str = Field("", description="Prepended to every query before embedding.")
    passage: str = Field("", description="Prepended to every chunk before embedding.")


class KbSpec(StrictModel):
    """A knowledge base: ingest -> chunk -> embed -> index (vectors + BM25) -> retrieve."""

    encoder: str = Field(
        "packaged:minilm",
        description="Bi-encoder model reference (packaged:NAME, models:/NAME@ALIAS, a dir).",
    )
    prefixes: Literal["auto", "none"] | PrefixSpec = Field(
        "auto",
        description="Query/passage prefixes; 'auto' reads llmline_encoder.json from the "
        "encoder directory when present (else none).",
    )
    reranker: str | None = Field(
        None, description="Cross-encoder model reference for hybrid+rerank; null = no rerank."
    )
    ner_model: str | None = Field(
        None, description="NER model (saved by the ner task) for the entity index; null = none."
    )
    store_url: str | None = Field(
        None,
        description="Vector store: null = embedded FAISS under the KB dir; "
        "postgresql+psycopg://... = PostgreSQL with pgvector.",
    )
    index: Literal["auto", "exact", "approximate"] = Field(
        "auto",
        description="Embedded FAISS index: an exact scan, an approximate HNSW graph, or auto "
        "(exact up to kb.approximate_above vectors, HNSW above). pgvector always scans.",
    )
    approximate_above: int = Field(
        20_000, ge=1, description="With index: auto, the vector count above which HNSW is used."
    )
    chunk_size: int = Field(
        300, ge=20, description="Chunk size: characters for CJK text, words otherwise."
    )
    chunk_overlap: int = Field(
        50, ge=0, description="Overlap between neighbouring chunks, in the same units."
    )
    redact: bool = Field(True, description="Redact PII (data chain's redact) before indexing.")
    retriever: Retriever = Field("hybrid", description="Default retriever for search/eval.")
    top_k: int = Field(10, ge=1, description="Results returned by a search.")
    candidates: int = Field(
        50, ge=1, description="Candidates each retriever contributes to fusion/rerank."
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant k.")
    entity_boost: float = Field(
        1.0, ge=0, description="Weight of the entity-match ranking in the fusion; 0 = off."
    )
    min_score: float | None = Field(
        None, description="Drop results scoring below this (the final retriever's own scale)."
    )
    batch_size: int = Field(64, ge=1, description="Embedding batch size.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> KbSpec:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("kb.chunk_overlap: must be smaller than kb.chunk_size")
        if self.candidates < self.top_k:
            raise ValueError("kb.candidates: must be at least kb.top_k")
        return self
