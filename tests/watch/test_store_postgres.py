"""The watch tables on PostgreSQL: the same batch writes, series increments and queries.

Runs against the server that LLMLINE_TEST_POSTGRES_URL names; skipped where there is none.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmline.watch.ingest import Post
from llmline.watch.store import TOTAL, WatchStore

from .conftest import make_spec, make_stream

pytestmark = pytest.mark.integration
T0 = 1_764_460_800.0


@pytest.fixture
def pg_url() -> str:
    url = os.environ.get("LLMLINE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: set LLMLINE_TEST_POSTGRES_URL")
    pytest.importorskip("psycopg")
    store = WatchStore(url)  # clean watch tables for each test
    store.metadata.drop_all(store.engine)
    store.dispose()
    return url


def test_stream_on_postgres(pg_url: str, watch_list: Path, tmp_path: Path) -> None:
    stream = make_stream(make_spec(watch_list, tmp_path, store_url=pg_url))
    posts = [Post("贵州茅台大涨，平安银行暴跌", T0, "a:1"), Post("nothing named", T0 + 1, "a:2")]
    stream.process(posts)
    stream.process([Post("茅台跌停 600519.SH", T0 + 60, "a:3")])
    moutai = stream.store.series("Kweichow Moutai")
    assert [(r["volume"], r["negative"], r["positive"]) for r in moutai] == [(2, 1, 1)]
    assert sum(r["volume"] for r in stream.store.series(TOTAL)) == 3
    assert {r["entity"] for r in stream.store.links()} == {"Kweichow Moutai", "Ping An Bank"}
