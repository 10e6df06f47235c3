"""MinHash LSH over shingle sets, verified by exact Jaccard: the numeric core of `near_dedup`.

Written on numpy rather than datasketch because datasketch hashes shingles and updates each
MinHash one document at a time in Python; here a chunk of documents is shingled into integer
arrays, hashed by multiply-shift permutations and min-reduced in one vectorised pass
(benchmarks/bench_dedup.py measures both on the same corpus). Candidates from the LSH bands
are verified by exact Jaccard on the shingle sets, so precision does not depend on luck.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from llmline.data.filters import cjk_ratio

_TOKEN = re.compile(r"\w+", re.UNICODE)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier combining token hashes into n-grams
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
