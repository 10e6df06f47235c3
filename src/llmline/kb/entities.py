"""Entity-enhanced retrieval: entity -> chunk index and an entity co-occurrence graph.

An NER model (a directory saved by llmline's `ner` task) tags every chunk; entities are keyed
by their case-folded text. Two entities co-occurring in a chunk are joined by an edge whose
weight counts the chunks they share (networkx; exported as GraphML). At query time the
entities a query names — found by the tagger and by matching known entity names in the
query, so a short query the tagger misses still counts — rank the candidate chunks that share
them; that ranking enters the reciprocal-rank fusion with weight `kb.entity_boost`.

The tagger is any function texts -> list of (start, end, type, text) spans, so tests use a
tiny stand-in and no trained model.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

Span = tuple[int, int, str, str]
Tagger = Callable[[Sequence[str]], list[list[Span]]]
MIN_NAME_CHARS = 2  # one-character names match inside too many queries


def entity_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def ner_tagger(directory: Path) -> Tagger:
    """The `ner` task's predictor as a Tagger."""
    from llmline.models.ner import load_ner_predictor

    predictor = load_ner_predictor(directory)

    def tag(texts: Sequence[str]) -> list[list[Span]]:
        return [
            [(e["start"], e["end"], e["label"], e["text"]) for e in row["entities"]]
            for row in predictor.predict(list(texts))
        ]

    return tag


class EntityIndex:
    """Entity key -> chunk ids, entity types, and co-occurrence counts between entities."""

    def __init__(self) -> None:
        self.chunks: dict[str, set[int]] = defaultdict(set)
        self.types: dict[str, str] = {}
        self.edges: dict[tuple[str, str], int] = defaultdict(int)

    @classmethod
    def from_chunks(
        cls, entities: dict[int, list[str]], types: dict[str, str] | None = None
    ) -> EntityIndex:
        index = cls()
        index.types.update(types or {})
        for chunk_id, keys in entities.items():
            index._add(chunk_id, keys)
        return index

    def _add(self, chunk_id: int, keys: Iterable[str]) -> None:
        unique = sorted(set(keys))
        for key in unique:
            self.chunks[key].add(chunk_id)
        for pair in combinations(unique, 2):
            self.edges[pair] += 1

    def in_query(self, query: str, spans: Sequence[Span] = ()) -> set[str]:
        """Known entities the query names: the tagger's spans plus known names in the text."""
        folded = entity_key(query)
        found = {entity_key(s[3]) for s in spans} & self.chunks.keys()
        found |= {k for k in self.chunks if len(k) >= MIN_NAME_CHARS and k in folded}
        return found

    def rank(self, entities: set[str], candidates: Iterable[int]) -> list[int]:
        """Candidates sharing at least one entity, most shared first (stable otherwise)."""
        shared: dict[int, int] = defaultdict(int)
        for key in entities:
            for chunk_id in self.chunks.get(key, ()):
                shared[chunk_id] += 1
        ranked = [c for c in candidates if shared.get(c)]
        return sorted(ranked, key=lambda c: -shared[c])

    def graph(self) -> Any:
        import networkx as nx

        graph = nx.Graph()
        for key, ids in self.chunks.items():
            graph.add_node(key, type=self.types.get(key, ""), chunks=len(ids))
        for (a, b), weight in self.edges.items():
            graph.add_edge(a, b, weight=weight)
        return graph

    def save(self, path: Path) -> None:
        from llmline.lineage import write_json_atomic

        write_json_atomic(path, {"types": self.types})

    def __len__(self) -> int:
        return len(self.chunks)


def tag_chunks(
    tagger: Tagger, chunks: dict[int, str], batch_size: int = 32
) -> tuple[dict[int, list[str]], dict[str, str]]:
    """Entity keys per chunk id, and each key's (last seen) entity type."""
    ids = list(chunks)
    found: dict[int, list[str]] = {}
    types: dict[str, str] = {}
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        for chunk_id, spans in zip(batch, tagger([chunks[i] for i in batch]), strict=True):
            keys = []
            for _, _, kind, text in spans:
                key = entity_key(text)
                if key:
                    keys.append(key)
                    types[key] = kind
            found[chunk_id] = sorted(set(keys))
    return found, types


def load_types(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    types: dict[str, str] = json.loads(path.read_text(encoding="utf-8")).get("types", {})
    return types
