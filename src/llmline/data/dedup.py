"""The `near_dedup` step: near-duplicates found by MinHash LSH (see `minhash`), and clusters.

First occurrence wins; later near-duplicates join its cluster and are dropped (or kept and
marked). The numpy core lives in `minhash` and is imported when a step is built, so checking
a spec's step options does not pay for numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from llmline.data.record import Record, register_step
from llmline.spec.base import StrictModel

if TYPE_CHECKING:
    import numpy as np

_CHUNK = 512


class NearDedupSpec(StrictModel):
    """Data step `near_dedup`: MinHash LSH near-duplicates, verified by exact Jaccard."""

    threshold: float = Field(0.8, gt=0, le=1, description="Jaccard similarity that counts.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
    shingle: Literal["auto", "word", "char"] = Field(
        "auto", description="Word shingles, character shingles (CJK), or auto-detect per text."
    )
    ngram: int | None = Field(None, ge=1, le=20, description="Shingle size; null: 3 words/5 chars.")
    action: Literal["drop", "keep"] = Field(
        "drop", description="drop near-duplicates, or keep them and only mark their cluster."
    )
    seed: int = Field(1, description="Seed of the MinHash permutations.")


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class NearDedup:
    """The `near_dedup` step: first occurrence wins; later near-duplicates join its cluster.

    Every live record gets `meta["cluster"]` (the row of its cluster's first record), which the
    split uses so no validation text has a near-duplicate in train.
    """

    def __init__(self, spec: NearDedupSpec) -> None:
        from llmline.data.minhash import NearDuplicateIndex

        self.spec = spec
        self.index = NearDuplicateIndex(spec.threshold, spec.num_perm, spec.seed)
        self._cluster_of: list[int] = []  # index id -> cluster (source row)
        self.duplicates = 0
        self.sizes: dict[int, int] = {}
        self.examples: list[dict[str, Any]] = []
        self._texts: dict[int, str] = {}

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        from llmline.data.minhash import shingles

        for chunk in _chunks(records, _CHUNK):
            live = [r for r in chunk if r.dropped is None]
            if live:
                sets = [
                    shingles(r.text, kind=self.spec.shingle, ngram=self.spec.ngram) for r in live
                ]
                for record, sig, sset in zip(
                    live, self.index.hasher.signatures(sets), sets, strict=True
                ):
                    self._place(record, sig, sset)
            yield from chunk

    def _place(self, record: Record, signature: np.ndarray, shingle_set: np.ndarray) -> None:
        match = self.index.query(signature, shingle_set)
        if match is None:
            self._cluster_of.append(record.row)
            self.index.add(signature, shingle_set)
            record.meta["cluster"] = record.row
            self._texts[record.row] = record.text[:200]
            return
        cluster = self._cluster_of[match[0]]
        record.meta["cluster"] = cluster
        record.meta["duplicate_jaccard"] = round(match[1], 3)
        self.duplicates += 1
        self.sizes[cluster] = self.sizes.get(cluster, 1) + 1
        if len(self.examples) < 5:
            self.examples.append(
                {"kept": self._texts.get(cluster, ""), "duplicate": record.text[:200],
                 "jaccard": round(match[1], 3)}
            )  # fmt: skip
        if self.spec.action == "drop":
            record.dropped = "near_duplicate"
        elif self.spec.action == "keep":
            self._cluster_of.append(cluster)
            self.index.add(signature, shingle_set)

    @property
    def summary(self) -> dict[str, Any]:
        largest = sorted(self.sizes.values(), reverse=True)[:10]
        return {
            "near_duplicates": self.duplicates,
            "clusters_with_duplicates": len(self.sizes),
            "largest_clusters": largest,
            "examples": self.examples,
            "bands": self.index.bands,
            "rows_per_band": self.index.rows,
        }


def find_contaminated(
    train_texts: Iterable[str], texts: Sequence[str], spec: NearDedupSpec
) -> list[float | None]:
    """For each text, the Jaccard of its closest near-duplicate in train (None when clean)."""
    from llmline.data.minhash import NearDuplicateIndex, shingles

    index = NearDuplicateIndex(spec.threshold, spec.num_perm, spec.seed)
    for batch in _batched(list(train_texts), _CHUNK):
        sets = [shingles(t, kind=spec.shingle, ngram=spec.ngram) for t in batch]
        for sig, sset in zip(index.hasher.signatures(sets), sets, strict=True):
            index.add(sig, sset)
    found: list[float | None] = []
    for batch in _batched(list(texts), _CHUNK):
        sets = [shingles(t, kind=spec.shingle, ngram=spec.ngram) for t in batch]
        for sig, sset in zip(index.hasher.signatures(sets), sets, strict=True):
            match = index.query(sig, sset)
            found.append(None if match is None else match[1])
    return found


def _batched(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Not row-local: a near-duplicate's first occurrence may sit in any other batch.
@register_step("near_dedup", config=NearDedupSpec)
def near_dedup(spec: NearDedupSpec) -> NearDedup:
    return NearDedup(spec)
