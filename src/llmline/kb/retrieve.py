"""The retrievers of a KB: BM25, dense, hybrid (RRF + entity boost) and hybrid + rerank."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from llmline.kb.fusion import above, rrf
from llmline.spec.kb import Retriever

if TYPE_CHECKING:
    from llmline.kb.base import Hit, KnowledgeBase

Scored = list[tuple[int, float]]


class Searcher:
    """Runs one retriever over a batch of queries and turns chunk ids into Hits."""

    def __init__(self, kb: KnowledgeBase, retriever: Retriever, top_k: int) -> None:
        self.kb, self.retriever, self.top_k = kb, retriever, top_k
        self.depth = max(kb.spec.candidates, top_k)
        if retriever == "hybrid+rerank":
            from llmline.kb.embed import load_reranker

            if kb._reranker is None:
                kb._reranker = load_reranker(kb.spec, kb.workspace)

    def run(self, queries: Sequence[str]) -> list[list[Hit]]:
        vectors = self._query_vectors(queries)
        out = []
        for index, query in enumerate(queries):
            scored, parts = self._one(query, None if vectors is None else vectors[index])
            out.append(self._hits(above(scored, self.kb.spec.min_score)[: self.top_k], parts))
        return out

    def _query_vectors(self, queries: Sequence[str]) -> np.ndarray | None:
        if self.retriever == "bm25" or not queries:
            return None
        vectors: np.ndarray = self.kb.encoder.encode_queries(list(queries))
        return vectors

    def _one(
        self, query: str, vector: np.ndarray | None
    ) -> tuple[Scored, dict[str, dict[int, float]]]:
        if self.retriever == "bm25":
            scored = self.kb.bm25.search(query, self.depth)
            return scored, {"bm25": dict(scored)}
        assert vector is not None
        dense = self.kb.store.search(vector, self.depth)
        if self.retriever == "dense":
            return dense, {"dense": dict(dense)}
        lexical = self.kb.bm25.search(query, self.depth)
        fused = self._fuse(query, lexical, dense)
        parts = {"bm25": dict(lexical), "dense": dict(dense), "rrf": dict(fused)}
        if self.retriever == "hybrid":
            return fused, parts
        reranked = self._rerank(query, [i for i, _ in fused[: self.depth]])
        parts["rerank"] = dict(reranked)
        return reranked, parts

    def _fuse(self, query: str, lexical: Scored, dense: Scored) -> Scored:
        spec = self.kb.spec
        rankings: list[list[int]] = [[i for i, _ in lexical], [i for i, _ in dense]]
        weights = [1.0, 1.0]
        if spec.entity_boost > 0 and len(self.kb.entities):
            entities = self.kb.entities
            spans = self.kb.tagger([query])[0] if self.kb.tagger is not None else []
            candidates = dict.fromkeys(rankings[0] + rankings[1])
            rankings.append(entities.rank(entities.in_query(query, spans), candidates))
            weights.append(spec.entity_boost)
        return rrf(rankings, weights, spec.rrf_k)

    def _rerank(self, query: str, ids: list[int]) -> Scored:
        texts = self.kb.catalog.texts(ids)
        scores = self.kb._reranker.score(query, [texts[i] for i in ids])
        return sorted(zip(ids, scores, strict=True), key=lambda pair: -pair[1])

    def _hits(self, scored: Scored, parts: dict[str, dict[int, float]]) -> list[Hit]:
        from llmline.kb.base import Hit

        rows = self.kb.catalog.chunks([i for i, _ in scored])
        return [
            Hit(rows[i], score, {name: part[i] for name, part in parts.items() if i in part})
            for i, score in scored
            if i in rows  # a vector without a catalog row (an interrupted update) is ignored
        ]
