"""The console's roll-ups: folding is incremental and exact, and the binned drift values agree
with the exact tests they stand for."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from llmline.monitor.store import MonitorStore
from llmline.ui.rollup import LATENCY_EDGES, Rollup, bin_of, coarsen, ks_binned


def _rows(n: int, start: float, model: str = "m") -> list[dict[str, object]]:
    rng = random.Random(n)
    return [
        {"ts": start + i * 30, "model_ref": model, "model_version": "1", "route": "/v1/classify",
         "status": 503 if i % 50 == 0 else 200, "latency_ms": rng.uniform(1, 80),
         "label": rng.choice(["正面", "负面", "neutral"]), "confidence": rng.random(),
         "input_chars": rng.randint(1, 500), "input_sha256": "0" * 64, "text_redacted": "x"}
        for i in range(n)
    ]  # fmt: skip


def test_folding_in_two_steps_equals_folding_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    store = MonitorStore(url)
    start = time.time() - 86400
    first, second = _rows(700, start), _rows(500, start + 700 * 30)
    store.insert(first)
    once = Rollup(tmp_path / "a.db", url)
    twice = Rollup(tmp_path / "b.db", url)
    assert twice.refresh() == 700
    store.insert(second)
    assert twice.refresh() == 500 and twice.refresh() == 0
    assert once.refresh() == 1200
    for left, right in zip(once.buckets("m"), twice.buckets("m"), strict=True):
        assert left[0] == right[0] and left[1].requests == right[1].requests
        assert left[1].labels == right[1].labels and left[1].latency == right[1].latency
    total = sum(agg.requests for _, agg in once.buckets("m"))
    errors = sum(agg.errors for _, agg in once.buckets("m"))
    assert total == 1200 and errors == sum(1 for r in first + second if r["status"] >= 500)
    daily = coarsen(once.buckets("m"), 86400)
    assert sum(agg.requests for _, agg in daily) == 1200


def test_a_replaced_store_is_folded_anew(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    MonitorStore(url).insert(_rows(300, time.time()))
    rollup = Rollup(tmp_path / "r.db", url)
    rollup.refresh()
    (tmp_path / "monitor.db").unlink()
    MonitorStore(url).insert(_rows(100, time.time()))
    rollup.refresh()
    assert sum(agg.requests for _, agg in rollup.buckets("m")) == 100


def test_missing_store_folds_nothing(tmp_path: Path) -> None:
    rollup = Rollup(tmp_path / "r.db", f"sqlite:///{tmp_path / 'none.db'}")
    assert rollup.refresh() == 0 and rollup.models() == []
    assert not (tmp_path / "none.db").exists()


def test_latency_bins_and_quantile() -> None:
    assert bin_of(0.1, LATENCY_EDGES) == 0 and bin_of(1e9, LATENCY_EDGES) == len(LATENCY_EDGES) - 1
    assert (
        LATENCY_EDGES[bin_of(10.0, LATENCY_EDGES) - 1]
        < 10.0
        <= LATENCY_EDGES[bin_of(10.0, LATENCY_EDGES)]
    )


@pytest.mark.parametrize("shift", [0.0, 0.2])
def test_binned_ks_is_close_to_the_exact_one(shift: float) -> None:
    from scipy.stats import ks_2samp

    rng = random.Random(3)
    reference = [rng.betavariate(5, 2) for _ in range(1000)]
    served = [min(rng.betavariate(5, 2) + shift * rng.random(), 0.999) for _ in range(800)]
    counts = [0] * 20
    for value in served:
        counts[min(int(value * 20), 19)] += 1
    stat, p = ks_binned(reference, counts)
    exact = ks_2samp(reference, served)
    assert stat <= exact.statistic + 1e-9 and exact.statistic - stat < 0.05
    assert (p < 0.01) == (exact.pvalue < 0.01)


def test_a_page_does_not_wait_for_a_fold_under_way(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    MonitorStore(url).insert(_rows(200, time.time()))
    rollup = Rollup(tmp_path / "r.db", url)
    with rollup._lock:  # another thread folding (the console's start-up fold)
        assert rollup.folding and rollup.refresh(wait=False) == 0
    assert not rollup.folding and rollup.refresh(wait=False) == 200
