from __future__ import annotations

import time
from pathlib import Path

import pytest

from llmline.errors import ServeError
from llmline.monitor.store import MonitorStore, RequestLogger, open_store


def _log(logger: RequestLogger, texts: list[str]) -> None:
    results = [{"label": "cards", "score": 0.9} for _ in texts]
    logger.log_predictions(
        route="/v1/classify",
        model_ref="m",
        model_version="1",
        texts=texts,
        results=results,
        latency_s=0.01,
    )


def test_rows_window_and_retention(tmp_path: Path) -> None:
    store = MonitorStore(f"sqlite:///{tmp_path / 'm.db'}")
    now = time.time()
    base = {
        "model_ref": "m",
        "model_version": "1",
        "route": "/v1/classify",
        "status": 200,
        "latency_ms": 5.0,
        "label": "a",
        "confidence": 0.5,
        "input_chars": 3,
        "input_sha256": "0" * 64,
        "text_redacted": "abc",
    }
    store.insert([base | {"ts": now - 40 * 86400}, base | {"ts": now - 3600}, base | {"ts": now}])
    assert len(store.rows(since=now - 7200)) == 2
    assert [r["ts"] for r in store.rows(last=1)] == [now]
    assert store.purge(30) == 1 and store.count() == 2


def test_a_corrupt_sqlite_file_is_moved_aside_and_logging_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    path.write_bytes(b"this is not a sqlite database at all" * 100)
    logger = RequestLogger(f"sqlite:///{path}")
    _log(logger, ["hello"])
    logger.flush()
    assert logger.store is not None and logger.store.count() == 1
    assert list(tmp_path.glob("monitor.db.corrupt-*"))
    logger.close()


def test_corruption_while_serving_switches_to_a_fresh_store(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    logger = RequestLogger(f"sqlite:///{path}")
    _log(logger, ["one"])
    logger.flush()
    assert logger.store is not None
    logger.store.dispose()
    path.write_bytes(b"garbage" * 4096)
    _log(logger, ["two"])
    logger.flush()
    assert logger.store is not None and logger.store.count() == 1
    assert logger.dropped == 0
    logger.close()


def test_an_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(ServeError, match="monitoring store"):
        open_store("sqlite:////nonexistent-dir/sub/monitor.db")
