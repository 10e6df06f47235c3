"""Reciprocal-rank fusion and score thresholds: the pure parts of hybrid retrieval.

RRF (Cormack et al., 2009) adds w / (k + rank) over the ranked lists a chunk appears in. It
needs no score calibration between BM25 (unbounded) and cosine (-1..1), which is why hybrid
recall uses it rather than a weighted score sum.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence


def rrf(
    rankings: Sequence[Sequence[int]], weights: Sequence[float], k: int
) -> list[tuple[int, float]]:
    """(id, fused score) best first; ties keep the order ids were first seen in."""
    scores: dict[int, float] = defaultdict(float)
    for ranking, weight in zip(rankings, weights, strict=True):
        if weight <= 0:
            continue
        for rank, item in enumerate(ranking, start=1):
            scores[item] += weight / (k + rank)
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))


def above(results: Sequence[tuple[int, float]], threshold: float | None) -> list[tuple[int, float]]:
    """Results at or above the threshold (all when none is set)."""
    if threshold is None:
        return list(results)
    return [(item, score) for item, score in results if score >= threshold]
