"""POST /v1/ingest: batches in, 413 on huge bodies or batches, 422 on bad rows (all or nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmline.spec.watch import HttpSourceSpec
from llmline.watch.app import build_app

from .conftest import make_spec, make_stream


@pytest.fixture()
def client(watch_list: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    stream = make_stream(make_spec(watch_list, tmp_path))
    source = HttpSourceSpec(max_body_bytes=2000, max_batch=3)
    with TestClient(build_app(stream, source)) as test_client:
        test_client.stream_state = stream  # type: ignore[attr-defined]
        yield test_client


def test_a_batch_is_ingested(client) -> None:  # type: ignore[no-untyped-def]
    posts = [
        {"text": "贵州茅台(600519.SH)大涨", "time": "2026-11-30T09:00:00Z"},
        {"text": "nobody named here"},
    ]
    response = client.post("/v1/ingest", json={"posts": posts})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["stored"], body["without_entity"], body["links"]) == (2, 2, 1, 1)
    assert client.stream_state.store.count("posts") == 2


def test_bad_rows_reject_the_whole_batch_with_422(client) -> None:  # type: ignore[no-untyped-def]
    posts = [{"text": "ok"}, {"text": ""}, {"text": "x", "time": "not a time"}]
    response = client.post("/v1/ingest", json={"posts": posts})
    assert response.status_code == 422
    assert [p["row"] for p in response.json()["detail"]] == [1, 2]
    assert client.stream_state.store.count("posts") == 0
    assert client.post("/v1/ingest", content=b"{oops").status_code == 422
    assert client.post("/v1/ingest", json={"nope": 1}).status_code == 422


def test_huge_bodies_and_batches_get_413(client) -> None:  # type: ignore[no-untyped-def]
    big = client.post("/v1/ingest", json={"posts": [{"text": "茅台" * 2000}]})
    assert big.status_code == 413
    many = client.post("/v1/ingest", json={"posts": [{"text": "a"}] * 4})
    assert many.status_code == 413
    assert client.stream_state.store.count("posts") == 0


def test_live_watch_serves_ingest_over_http(watch_list: Path, tmp_path: Path) -> None:
    """run_live starts uvicorn in a thread; a POST lands in the store; stop ends both."""
    import socket
    import threading
    import time

    import httpx

    from llmline.spec.watch import DirectorySourceSpec
    from llmline.watch.runner import run_live

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    spec = make_spec(
        watch_list, tmp_path,
        sources=[HttpSourceSpec(port=port), DirectorySourceSpec(path=inbox, poll_s=0.2)],
    )  # fmt: skip
    stream = make_stream(spec)
    stop = threading.Event()
    runner = threading.Thread(target=run_live, args=(stream,), kwargs={"stop": stop})
    runner.start()
    try:
        for _ in range(100):
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/v1/ingest", json={"posts": [{"text": "$AAPL beat"}]}
                )
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response.status_code == 200 and response.json()["links"] == 1
    finally:
        stop.set()
        runner.join(10)
    assert not runner.is_alive()
    assert [r["entity"] for r in stream.store.links()] == ["Apple"]
