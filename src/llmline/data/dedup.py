"""Near-duplicate detection: MinHash LSH with exact Jaccard verification, and clusters.

Written on numpy rather than datasketch because datasketch hashes shingles and updates each
MinHash one document at a time in Python; here a chunk of documents is shingled into integer
arrays, hashed by multiply-shift permutations and min-reduced in one vectorised pass
(benchmarks/bench_dedup.py measures both on the same corpus). Candidates from the LSH bands
are verified by exact Jaccard on the shingle sets, so precision does not depend on luck.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmline.data.filters import cjk_ratio
from llmline.data.record import DATA_STEPS, Record
from llmline.spec import NearDedupSpec

_TOKEN = re.compile(r"\w+", re.UNICODE)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier combining token hashes into n-grams
_CHUNK = 512
_MAX_CELLS = 32_768


def shingles(text: str, *, kind: str = "auto", ngram: int | None = None) -> np.ndarray:
    """Sorted unique 32-bit hashes of the text's word (or, for CJK, character) n-grams."""
    if kind == "auto":
        kind = "char" if cjk_ratio(text) >= 0.3 else "word"
    folded = text.casefold()
    if kind == "char":
        codes = np.frombuffer("".join(folded.split()).encode("utf-32-le"), dtype=np.uint32)
        return _ngrams(codes.astype(np.uint64), ngram or 5)
    tokens = _TOKEN.findall(folded)
    codes = np.fromiter((zlib.crc32(t.encode()) for t in tokens), np.uint64, len(tokens))
    return _ngrams(codes, ngram or 3)


def _ngrams(codes: np.ndarray, n: int) -> np.ndarray:
    if len(codes) == 0:
        return np.zeros(1, dtype=np.uint64)
    n = min(n, len(codes))
    combined = np.zeros(len(codes) - n + 1, dtype=np.uint64)
    for offset in range(n):
        # xor-then-multiply (FNV style) so every token reaches the high bits kept below
        combined = (combined ^ codes[offset : len(codes) - n + 1 + offset]) * _MIX
    return np.unique(combined >> np.uint64(32))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def lsh_params(threshold: float, num_perm: int, *, recall: float = 0.995) -> tuple[int, int]:
    """(bands, rows): the most selective banding that still proposes a pair at `threshold`
    with probability >= `recall`; candidates are verified exactly, so extra ones cost only time.
    """
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= recall:
            return bands, rows
    return num_perm, 1


class MinHasher:
    """Multiply-shift hash permutations applied to whole chunks of shingle arrays at once."""

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.a = (rng.integers(0, 2**63, num_perm, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
        self.b = rng.integers(0, 2**63, num_perm, dtype=np.uint64)

    def signatures(self, shingle_sets: Sequence[np.ndarray]) -> np.ndarray:
        """(docs, num_perm) uint32 signatures; each set must be non-empty.

        Documents are processed in slices of about `_MAX_CELLS` hash cells so memory stays
        bounded (a 128-permutation slice is ~32 MB) whatever the chunk size.
        """
        out = np.empty((len(shingle_sets), len(self.a)), dtype=np.uint32)
        start = 0
        while start < len(shingle_sets):
            stop, cells = start, 0
            while stop < len(shingle_sets) and (stop == start or cells < _MAX_CELLS):
                cells += len(shingle_sets[stop])
                stop += 1
            out[start:stop] = self._slice(shingle_sets[start:stop])
            start = stop
        return out

    def _slice(self, shingle_sets: Sequence[np.ndarray]) -> np.ndarray:
        flat = np.concatenate(shingle_sets)
        offsets = np.cumsum([0, *(len(s) for s in shingle_sets[:-1])])
        with np.errstate(over="ignore"):
            hashed = (self.a[:, None] * flat[None, :] + self.b[:, None]) >> np.uint64(32)
        return np.minimum.reduceat(hashed, offsets, axis=1).T.astype(np.uint32)


@dataclass
class NearDuplicateIndex:
    """LSH buckets over kept documents plus their shingle sets for exact verification."""

    threshold: float = 0.8
    num_perm: int = 128
    seed: int = 1
    hasher: MinHasher = field(init=False)
    bands: int = field(init=False)
    rows: int = field(init=False)
    _buckets: list[dict[bytes, list[int]]] = field(init=False)
    _sets: list[np.ndarray] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.hasher = MinHasher(self.num_perm, self.seed)
        self.bands, self.rows = lsh_params(self.threshold, self.num_perm)
        self._buckets = [{} for _ in range(self.bands)]

    def _keys(self, signature: np.ndarray) -> list[bytes]:
        used = signature[: self.bands * self.rows].reshape(self.bands, self.rows)
        return [band.tobytes() for band in used]

    def query(self, signature: np.ndarray, shingle_set: np.ndarray) -> tuple[int, float] | None:
        """The best verified match (index id, Jaccard) at or above the threshold, if any."""
        candidates: set[int] = set()
        for bucket, key in zip(self._buckets, self._keys(signature), strict=True):
            candidates.update(bucket.get(key, ()))
        best: tuple[int, float] | None = None
        for candidate in sorted(candidates):
            score = jaccard(shingle_set, self._sets[candidate])
            if score >= self.threshold and (best is None or score > best[1]):
                best = (candidate, score)
        return best

    def add(self, signature: np.ndarray, shingle_set: np.ndarray) -> int:
        ident = len(self._sets)
        self._sets.append(shingle_set.astype(np.uint32))
        for bucket, key in zip(self._buckets, self._keys(signature), strict=True):
            bucket.setdefault(key, []).append(ident)
        return ident


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
        self.spec = spec
        self.index = NearDuplicateIndex(spec.threshold, spec.num_perm, spec.seed)
        self._cluster_of: list[int] = []  # index id -> cluster (source row)
        self.duplicates = 0
        self.sizes: dict[int, int] = {}
        self.examples: list[dict[str, Any]] = []
        self._texts: dict[int, str] = {}

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
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


@DATA_STEPS.register("near_dedup")
def near_dedup(**options: object) -> NearDedup:
    return NearDedup(NearDedupSpec.model_validate(options))
