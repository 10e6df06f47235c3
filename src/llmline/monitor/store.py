"""The monitoring store: one row per served text, in SQLite by default or any SQLAlchemy URL.

A row holds when, which model version, latency, prediction and confidence, and the input's
length and sha256. Text is stored only after PII redaction (`llmline.data.pii.redact_text`),
never raw. The service writes through `RequestLogger`, a background thread, so a slow or
broken store never slows or fails a request; a corrupt SQLite file is moved aside and a fresh
store is started, with one clear error in the log.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.errors import ServeError

log = logging.getLogger("llmline.monitor")

COLUMNS = (
    "ts",
    "model_ref",
    "model_version",
    "route",
    "status",
    "latency_ms",
    "label",
    "confidence",
    "input_chars",
    "input_sha256",
    "text_redacted",
)


def _table(metadata: Any) -> Any:
    from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

    table = Table(
        "requests",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("ts", Float, nullable=False),
        Column("model_ref", String(300), nullable=False),
        Column("model_version", String(40), nullable=False, default=""),
        Column("route", String(100), nullable=False),
        Column("status", Integer, nullable=False, default=200),
        Column("latency_ms", Float, nullable=False),
        Column("label", String(200)),
        Column("confidence", Float),
        Column("input_chars", Integer),
        Column("input_sha256", String(64)),
        Column("text_redacted", Text),
    )
    Index("ix_requests_ts", table.c.ts)
    return table


def store_url(url: str | None, default_path: Path) -> str:
    return url or f"sqlite:///{default_path}"


class MonitorStore:
    """Create, append to, query and purge the requests table."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import MetaData, create_engine

        self.url = url
        sqlite = url.startswith("sqlite")
        # Several service workers share one SQLite file: wait for the write lock, don't fail.
        self.engine = create_engine(url, connect_args={"timeout": 30} if sqlite else {})
        self.metadata = MetaData()
        self.table = _table(self.metadata)
        self.metadata.create_all(self.engine)

    def insert(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert(), rows)

    def rows(
        self, *, since: float | None = None, last: int | None = None, route: str | None = None
    ) -> list[dict[str, Any]]:
        """Rows newest-last: those after `since` (epoch seconds), or the `last` N."""
        from sqlalchemy import select

        query = select(self.table)
        if since is not None:
            query = query.where(self.table.c.ts >= since)
        if route is not None:
            query = query.where(self.table.c.route == route)
        query = query.order_by(self.table.c.id.desc())
        if last is not None:
            query = query.limit(last)
        with self.engine.connect() as conn:
            found = [dict(row._mapping) for row in conn.execute(query)]
        return found[::-1]

    def purge(self, retention_days: float) -> int:
        """Delete rows older than the retention period; returns how many went."""
        cutoff = time.time() - retention_days * 86400
        with self.engine.begin() as conn:
            return int(conn.execute(self.table.delete().where(self.table.c.ts < cutoff)).rowcount)

    def count(self) -> int:
        from sqlalchemy import func, select

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(self.table)).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> MonitorStore:
    """Open the store; a SQLite file that is not a database is moved aside for a fresh one."""
    from sqlalchemy.exc import DatabaseError, OperationalError

    try:
        return MonitorStore(url)
    except (DatabaseError, OperationalError) as exc:
        path = _sqlite_path(url)
        if path is None or not path.exists() or not is_corrupt(exc):
            raise ServeError(
                f"cannot open the monitoring store ({type(exc.orig).__name__}: {exc.orig})",
                where=url,
                fix="check the URL, the server and the credentials",
            ) from None
        moved = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        path.rename(moved)
        log.error(
            "monitoring store %s is unreadable (%s); moved to %s, started a fresh one",
            path,
            exc.orig,
            moved,
        )
        return MonitorStore(url)


def is_corrupt(exc: BaseException) -> bool:
    """SQLite's words for a damaged file (as opposed to a busy or missing one)."""
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "disk image" in text


def _sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


@dataclass
class _Pending:
    rows: list[dict[str, Any]]


class RequestLogger:
    """Queue rows from request handlers; a writer thread redacts and inserts them in batches.

    The writer wakes at most every `flush_interval_s` and writes everything queued by then in one
    transaction: a transaction per request cost the serving process about 0.7 ms of CPU (and
    the GIL) per row, one per batch of 50 about 0.06 ms per row.
    """

    def __init__(
        self,
        url: str,
        *,
        store_text: bool = True,
        max_queue: int = 100_000,
        flush_interval_s: float = 0.5,
    ) -> None:
        self.url = url
        self.store_text = store_text
        self.flush_interval_s = flush_interval_s
        self.store: MonitorStore | None = open_store(url)
        self.dropped = 0
        self._queue: queue.Queue[_Pending | None] = queue.Queue(max_queue)
        self._hurry = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="llmline-monitor", daemon=True)
        self._thread.start()

    def log_predictions(
        self,
        *,
        route: str,
        model_ref: str,
        model_version: str,
        texts: list[str],
        results: list[dict[str, Any]],
        latency_s: float,
    ) -> None:
        now = time.time()
        rows = [
            {
                "ts": now,
                "model_ref": model_ref,
                "model_version": model_version,
                "route": route,
                "status": 200,
                "latency_ms": latency_s * 1000,
                "label": result.get("label"),
                "confidence": result.get("score"),
                "input_chars": len(text),
                "input_sha256": hashlib.sha256(text.encode()).hexdigest(),
                "text_redacted": text,  # redacted in the writer thread, before it is stored
            }
            for text, result in zip(texts, results, strict=True)
        ]
        self._put(rows)

    def log_error(
        self, *, route: str, model_ref: str, model_version: str, status: int, latency_s: float
    ) -> None:
        row = dict.fromkeys(COLUMNS) | {
            "ts": time.time(),
            "model_ref": model_ref,
            "model_version": model_version,
            "route": route,
            "status": status,
            "latency_ms": latency_s * 1000,
        }
        self._put([row])

    def _put(self, rows: list[dict[str, Any]]) -> None:
        try:
            self._queue.put_nowait(_Pending(rows))
        except queue.Full:  # monitoring must never take the service down
            self.dropped += len(rows)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            self._hurry.set()
            time.sleep(0.01)

    def close(self) -> None:
        self._queue.put(None)
        self._hurry.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is not None:  # let rows gather: one transaction for all of them
                self._hurry.wait(self.flush_interval_s)
                self._hurry.clear()
            batch = [item]
            while item is not None and not self._queue.empty() and len(batch) < 5000:
                item = self._queue.get_nowait()
                batch.append(item)
            rows = [row for pending in batch if pending is not None for row in pending.rows]
            self._write(rows)
            for _ in batch:
                self._queue.task_done()
            if batch[-1] is None:
                return

    def _write(self, rows: list[dict[str, Any]]) -> None:
        from llmline.data.pii import redact_text

        for row in rows:
            text = row.get("text_redacted")
            row["text_redacted"] = redact_text(text)[0] if text and self.store_text else None
        try:
            if self.store is None:
                self.store = open_store(self.url)
            self.store.insert(rows)
        except Exception as exc:  # a broken store must not kill the writer: re-open and retry
            log.error("monitoring store write failed (%s: %s); re-opening", type(exc).__name__, exc)
            self._reopen_and_retry(rows, exc)

    def _reopen_and_retry(self, rows: list[dict[str, Any]], error: BaseException) -> None:
        try:
            if self.store is not None:
                self.store.dispose()
            path = _sqlite_path(self.url)
            if path is not None and path.exists() and is_corrupt(error):
                path.rename(path.with_name(f"{path.name}.corrupt-{int(time.time())}"))
            self.store = open_store(self.url)
            self.store.insert(rows)
        except Exception as exc:
            self.store = None
            self.dropped += len(rows)
            log.error("monitoring store unavailable (%s); %d rows dropped", exc, len(rows))
