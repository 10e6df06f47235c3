"""Hourly roll-ups of the monitoring store, kept by the console in `<workspace>/console.db`.

A model page must render in well under a second over millions of request rows, and the store's
only index is on `ts`. So the console folds new rows (id > the last one it folded) into per
(model, hour) aggregates — counts, errors, latency and confidence and length histograms,
predicted-label counts — that are all sums, so folding is incremental and exact, and every
chart and drift value over time is computed from those few rows. The store itself is only read.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUCKET_SECONDS = 3600
CONF_BINS = 20
LATENCY_EDGES = [0.5 * 1.5**i for i in range(32)]  # 0.5 ms .. ~150 s, log-spaced
LENGTH_EDGES = [2**i for i in range(17)]  # 1 .. 65536 characters
CHUNK = 100_000


def bin_of(value: float, edges: list[float]) -> int:
    """Index of the first edge >= value (the last bin takes everything above)."""
    lo, hi = 0, len(edges) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if value <= edges[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass
class Agg:
    requests: int = 0
    errors: int = 0
    latency_sum: float = 0.0
    latency: list[int] = field(default_factory=lambda: [0] * len(LATENCY_EDGES))
    confidence: list[int] = field(default_factory=lambda: [0] * CONF_BINS)
    length: list[int] = field(default_factory=lambda: [0] * len(LENGTH_EDGES))
    labels: Counter[str] = field(default_factory=Counter)

    def add_row(self, status: int, latency: float, label: Any, confidence: Any, chars: Any) -> None:
        self.requests += 1
        self.latency_sum += latency
        self.latency[bin_of(latency, LATENCY_EDGES)] += 1
        if status >= 500:
            self.errors += 1
        if label is not None and status == 200:
            self.labels[str(label)] += 1
            if confidence is not None:
                self.confidence[min(int(float(confidence) * CONF_BINS), CONF_BINS - 1)] += 1
            if chars is not None:
                self.length[bin_of(float(chars), LENGTH_EDGES)] += 1

    def merge(self, other: Agg) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.latency_sum += other.latency_sum
        for mine, theirs in (
            (self.latency, other.latency),
            (self.confidence, other.confidence),
            (self.length, other.length),
        ):
            for i, count in enumerate(theirs):
                mine[i] += count
        self.labels.update(other.labels)

    def dumps(self) -> tuple[str, str, str, str]:
        return (
            json.dumps(self.latency),
            json.dumps(self.confidence),
            json.dumps(self.length),
            json.dumps(dict(self.labels), ensure_ascii=False),
        )

    @classmethod
    def loads(cls, row: tuple[Any, ...]) -> Agg:
        requests, errors, latency_sum, latency, confidence, length, labels = row
        return cls(
            requests,
            errors,
            latency_sum,
            json.loads(latency),
            json.loads(confidence),
            json.loads(length),
            Counter(json.loads(labels)),
        )

    def latency_quantile(self, q: float) -> float:
        """Upper edge of the histogram bin holding the q-quantile (within 50% by construction)."""
        target, seen = q * sum(self.latency), 0
        for i, count in enumerate(self.latency):
            seen += count
            if count and seen >= target:
                return LATENCY_EDGES[i]
        return 0.0


_SCHEMA = """
CREATE TABLE IF NOT EXISTS rollup (
  model_ref TEXT NOT NULL, bucket INTEGER NOT NULL, requests INTEGER, errors INTEGER,
  latency_sum REAL, latency TEXT, confidence TEXT, length TEXT, labels TEXT,
  PRIMARY KEY (model_ref, bucket));
CREATE TABLE IF NOT EXISTS rollup_state (source TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
"""


class Rollup:
    """The console's roll-up file; `refresh` folds in whatever the store gained since last time."""

    def __init__(self, path: Path, store_url: str) -> None:
        self.path, self.store_url = path, store_url
        self._lock = threading.Lock()
        self._engine: Any = None
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def _store(self) -> Any:
        if self._engine is None:
            from sqlalchemy import create_engine

            # A SQLite file is opened afresh each time: the service moves a corrupt store aside
            # and starts a new file, which a pooled connection would never see.
            if self.store_url.startswith("sqlite"):
                from sqlalchemy.pool import NullPool

                self._engine = create_engine(
                    self.store_url, connect_args={"timeout": 30}, poolclass=NullPool
                )
            else:
                self._engine = create_engine(self.store_url)
        return self._engine

    def store_exists(self) -> bool:
        if self.store_url.startswith("sqlite:///"):
            return Path(self.store_url.removeprefix("sqlite:///")).is_file()
        return True

    def _has_requests(self) -> bool:
        from sqlalchemy import inspect

        return bool(inspect(self._store()).has_table("requests"))

    @property
    def folding(self) -> bool:
        """True while a fold runs (the console's start-up fold of a big store, or a page's)."""
        return self._lock.locked()

    def refresh(self, wait: bool = True) -> int:
        """Fold new store rows in; returns how many. A store that shrank is folded anew.

        With wait=False a fold already under way elsewhere is left to finish and 0 comes back
        at once: a page then renders the roll-ups committed so far instead of waiting minutes.
        """
        if not self.store_exists() or not self._has_requests():
            return 0
        if not self._lock.acquire(blocking=wait):
            return 0
        try:
            return self._fold_new_rows()
        finally:
            self._lock.release()

    def _fold_new_rows(self) -> int:
        from sqlalchemy import text

        with self._connect() as db:
            row = db.execute("SELECT last_id FROM rollup_state WHERE source=?", (self.store_url,))
            found = row.fetchone()
            last = int(found[0]) if found else 0
            with self._store().connect() as conn:
                top = conn.execute(text("SELECT max(id) FROM requests")).scalar() or 0
                if top < last:  # the store was replaced (corrupt file moved aside): start over
                    db.execute("DELETE FROM rollup")
                    last = 0
                folded = 0
                while True:
                    rows = conn.execute(
                        text(
                            "SELECT id, ts, model_ref, status, latency_ms, label, confidence, "
                            "input_chars FROM requests WHERE id > :last ORDER BY id LIMIT :n"
                        ),
                        {"last": last, "n": CHUNK},
                    ).fetchall()
                    if not rows:
                        break
                    self._fold(db, rows)
                    last = int(rows[-1][0])
                    folded += len(rows)
                    db.execute(
                        "INSERT OR REPLACE INTO rollup_state VALUES (?, ?)", (self.store_url, last)
                    )
                    db.commit()
        return folded

    def _fold(self, db: sqlite3.Connection, rows: list[Any]) -> None:
        fresh: dict[tuple[str, int], Agg] = {}
        for _id, ts, model_ref, status, latency, label, confidence, chars in rows:
            key = (model_ref, int(ts // BUCKET_SECONDS) * BUCKET_SECONDS)
            agg = fresh.get(key)
            if agg is None:
                agg = fresh[key] = Agg()
            agg.add_row(int(status), float(latency), label, confidence, chars)
        for (model_ref, bucket), agg in fresh.items():
            old = db.execute(
                "SELECT requests, errors, latency_sum, latency, confidence, length, labels "
                "FROM rollup WHERE model_ref=? AND bucket=?",
                (model_ref, bucket),
            ).fetchone()
            if old is not None:
                merged = Agg.loads(old)
                merged.merge(agg)
                agg = merged
            db.execute(
                "INSERT OR REPLACE INTO rollup VALUES (?,?,?,?,?,?,?,?,?)",
                (model_ref, bucket, agg.requests, agg.errors, agg.latency_sum, *agg.dumps()),
            )

    def models(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT model_ref, sum(requests), sum(errors), min(bucket), max(bucket) "
                "FROM rollup GROUP BY model_ref ORDER BY max(bucket) DESC"
            ).fetchall()
        return [
            {"model_ref": r[0], "requests": r[1], "errors": r[2], "first": r[3], "last": r[4]}
            for r in rows
        ]

    def buckets(self, model_ref: str, since: float = 0.0) -> list[tuple[int, Agg]]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT bucket, requests, errors, latency_sum, latency, confidence, length, labels "
                "FROM rollup WHERE model_ref=? AND bucket>=? ORDER BY bucket",
                (model_ref, int(since)),
            ).fetchall()
        return [(int(r[0]), Agg.loads(r[1:])) for r in rows]


def coarsen(buckets: list[tuple[int, Agg]], seconds: int) -> list[tuple[int, Agg]]:
    """Merge hourly buckets into wider ones (days) so a long range stays a readable chart."""
    merged: dict[int, Agg] = {}
    for bucket, agg in buckets:
        key = bucket // seconds * seconds
        merged.setdefault(key, Agg()).merge(agg)
    return sorted(merged.items())


def ks_binned(reference: list[float], counts: list[int]) -> tuple[float, float]:
    """Two-sample KS statistic on the confidence bins, and its asymptotic p-value.

    Binning can only hide differences inside a bin, so the statistic is a lower bound of the
    exact one; with 20 bins of width 0.05 it is what a chart reader needs.
    """
    from scipy.stats import kstwobign

    n, m = len(reference), sum(counts)
    if not n or not m:
        return 0.0, 1.0
    ref = [0] * CONF_BINS
    for value in reference:
        ref[min(int(value * CONF_BINS), CONF_BINS - 1)] += 1
    cum_r = cum_c = 0.0
    stat = 0.0
    for r, c in zip(ref, counts, strict=True):
        cum_r += r / n
        cum_c += c / m
        stat = max(stat, abs(cum_r - cum_c))
    return stat, float(kstwobign.sf(stat * math.sqrt(n * m / (n + m))))
