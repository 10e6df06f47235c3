"""The monitoring store on PostgreSQL (`monitor.store_url: postgresql+psycopg://...`).

Runs against the server that LLMLINE_TEST_POSTGRES_URL names (`.ci/run` starts the machine's
PostgreSQL when it has one and sets the variable); skipped where there is none.
"""

from __future__ import annotations

import os
import time

import pytest

from llmline.errors import ServeError
from llmline.monitor.store import MonitorStore, RequestLogger, open_store

URL_ENV = "LLMLINE_TEST_POSTGRES_URL"
pytestmark = pytest.mark.integration


@pytest.fixture
def pg_url() -> str:
    url = os.environ.get(URL_ENV)
    if not url:
        pytest.skip(f"no PostgreSQL server: set {URL_ENV}=postgresql+psycopg://USER:PW@HOST/DB")
    pytest.importorskip("psycopg")
    store = MonitorStore(url)  # a clean table for each test
    store.metadata.drop_all(store.engine)
    store.dispose()
    return url


def _row(ts: float, label: str = "a") -> dict[str, object]:
    return {
        "ts": ts, "model_ref": "m", "model_version": "1", "route": "/v1/classify",
        "status": 200, "latency_ms": 5.0, "label": label, "confidence": 0.5,
        "input_chars": 3, "input_sha256": "0" * 64, "text_redacted": "abc",
    }  # fmt: skip


def test_window_queries_and_retention_on_postgres(pg_url: str) -> None:
    store = MonitorStore(pg_url)
    now = time.time()
    store.insert([_row(now - 40 * 86400), _row(now - 3600, "b"), _row(now, "c")])
    assert [r["label"] for r in store.rows(since=now - 7200)] == ["b", "c"]
    assert [r["label"] for r in store.rows(last=1)] == ["c"]
    assert store.purge(30) == 1 and store.count() == 2
    store.dispose()


def test_request_logger_stores_only_redacted_text_on_postgres(pg_url: str) -> None:
    logger = RequestLogger(pg_url)
    logger.log_predictions(
        route="/v1/classify", model_ref="m", model_version="1",
        texts=["mail me at jane.doe@example.com please"],
        results=[{"label": "contact", "score": 0.9}], latency_s=0.01,
    )  # fmt: skip
    logger.flush()
    assert logger.store is not None
    (row,) = logger.store.rows()
    assert "jane.doe@example.com" not in row["text_redacted"]
    assert row["label"] == "contact" and row["input_chars"] == 38
    logger.close()


def test_wrong_credentials_are_a_clear_error(pg_url: str) -> None:
    from sqlalchemy.engine import make_url

    bad = make_url(pg_url).set(password="not-the-password")
    with pytest.raises(ServeError, match="cannot open the monitoring store"):
        open_store(bad.render_as_string(hide_password=False))
