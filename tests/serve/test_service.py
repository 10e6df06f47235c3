from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from llmline.models.predictor import load_predictor
from llmline.serve.app import create_app, shutdown
from llmline.serve.auth import KeyStore
from llmline.spec import ServeSpec


@pytest.fixture(scope="module")
def predictor(tiny_classifier_dir: Path) -> Any:
    return load_predictor(tiny_classifier_dir)


def test_concurrent_requests_are_micro_batched_and_match_single_calls(predictor: Any) -> None:
    app = create_app(predictor, model_ref="m", settings=ServeSpec(max_wait_ms=200))
    client = TestClient(app)
    texts = [f"where is my card number {i}" for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda t: client.post("/v1/classify", json={"texts": [t]}), texts))
    assert all(a.status_code == 200 for a in answers)
    direct = predictor.predict(texts)
    for answer, expected in zip(answers, direct, strict=True):
        got = answer.json()["results"][0]
        assert got["label"] == expected["label"]
        assert got["score"] == pytest.approx(expected["score"], abs=1e-5)
    stats = app.state.llmline.batcher.stats
    assert stats.items == 16 and stats.batches < 16


def test_embeddings_follow_the_openai_shape_and_are_normalised(predictor: Any) -> None:
    client = TestClient(create_app(predictor, model_ref="m"))
    body = client.post("/v1/embeddings", json={"input": ["card lost", "fee charged"]}).json()
    assert body["object"] == "list" and [d["index"] for d in body["data"]] == [0, 1]
    vector = body["data"][0]["embedding"]
    assert len(vector) == 32
    assert sum(v * v for v in vector) == pytest.approx(1.0, abs=1e-4)
    single = client.post("/v1/embeddings", json={"input": "card lost"}).json()
    assert single["data"][0]["embedding"] == pytest.approx(vector, abs=1e-5)
    assert body["usage"]["prompt_tokens"] > 0
    assert client.post("/v1/embeddings", json={"input": []}).status_code == 422


def test_embeddings_use_the_tokenizer_from_the_batcher_thread_only(predictor: Any) -> None:
    """A fast tokenizer called from two threads at once raises "Already borrowed": every call
    of /v1/embeddings (vectors and the token count) must come from the model's one thread."""
    tokenizer, callers = predictor.tokenizer, set()

    class Watched:
        def __getattr__(self, name: str) -> Any:
            return getattr(tokenizer, name)

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            callers.add(threading.current_thread().name)
            return tokenizer(*args, **kwargs)

    predictor.tokenizer = Watched()
    try:
        client = TestClient(create_app(predictor, model_ref="m"))
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(
                lambda i: client.post("/v1/embeddings", json={"input": [f"card {i}"]}), range(8)
            ))  # fmt: skip
    finally:
        predictor.tokenizer = tokenizer
    assert all(a.status_code == 200 and a.json()["usage"]["prompt_tokens"] > 0 for a in answers)
    assert callers == {"llmline-batcher"}


def test_api_keys_are_stored_hashed_and_scoped_per_route(predictor: Any, tmp_path: Path) -> None:
    store = KeyStore([])
    classify_key = store.create("app", scopes=["classify"], rate_per_s=None, burst=5)
    store.save(tmp_path / "keys.json")
    assert classify_key not in (tmp_path / "keys.json").read_text()
    client = TestClient(
        create_app(predictor, model_ref="m", keys=KeyStore.load(tmp_path / "keys.json"))
    )
    payload = {"texts": ["hello"]}
    assert client.post("/v1/classify", json=payload).status_code == 401
    bad = {"Authorization": "Bearer llk_wrong"}
    assert client.post("/v1/classify", json=payload, headers=bad).status_code == 401
    good = {"Authorization": f"Bearer {classify_key}"}
    assert client.post("/v1/classify", json=payload, headers=good).status_code == 200
    assert (
        client.post("/v1/classify", json=payload, headers={"X-API-Key": classify_key}).status_code
        == 200
    )
    assert client.post("/v1/embeddings", json={"input": "x"}, headers=good).status_code == 403
    assert client.get("/healthz").status_code == 200  # probes need no key


def test_per_key_rate_limit_answers_429_with_retry_after(predictor: Any) -> None:
    store = KeyStore([])
    key = store.create("tight", scopes=["*"], rate_per_s=0.5, burst=2)
    client = TestClient(create_app(predictor, model_ref="m", keys=store))
    headers = {"X-API-Key": key}
    codes = [client.post("/v1/classify", json={"texts": ["a"]}, headers=headers) for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert int(codes[2].headers["Retry-After"]) >= 1


def test_body_and_text_limits(predictor: Any) -> None:
    settings = ServeSpec(max_body_bytes=2048, max_text_chars=50)
    client = TestClient(create_app(predictor, model_ref="m", settings=settings))
    big = client.post("/v1/classify", json={"texts": ["word " * 1000]})
    assert big.status_code == 413
    body = ('{"texts": ["' + "word " * 1000 + '"]}').encode()
    chunked = client.post(  # no Content-Length: the bytes are counted as they arrive
        "/v1/classify", content=iter([body[:1000], body[1000:]]),
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert "content-length" not in chunked.request.headers and chunked.status_code == 413
    assert "2048 byte limit" in chunked.json()["detail"]
    long = client.post("/v1/classify", json={"texts": ["ok", "x" * 51]})
    assert long.status_code == 422 and "texts.1" in long.json()["detail"]


class SlowPredictor:
    """The real tiny model, slowed down so a queue can fill up on 2 CPU cores."""

    def __init__(self, inner: Any, delay: float = 0.2) -> None:
        self.inner, self.task, self.labels = inner, inner.task, inner.labels
        self.delay, self.seen = delay, 0

    def predict(self, texts: list[str], *, top_k: int = 1) -> list[dict[str, Any]]:
        self.seen += len(texts)
        time.sleep(self.delay)
        return self.inner.predict(texts, top_k=top_k)  # type: ignore[no-any-return]


def test_overload_gets_429_with_retry_after_not_a_crash(predictor: Any) -> None:
    settings = ServeSpec(max_batch_size=2, max_wait_ms=0, max_queue=4)
    slow = SlowPredictor(predictor, delay=1.0)  # long enough to fill the queue on a busy CPU
    client = TestClient(create_app(slow, model_ref="m", settings=settings))
    with ThreadPoolExecutor(12) as pool:
        answers = list(
            pool.map(
                lambda i: client.post("/v1/classify", json={"texts": [f"t{i}", "u"]}), range(12)
            )
        )
    codes = sorted(a.status_code for a in answers)
    assert set(codes) == {200, 429}
    assert all("Retry-After" in a.headers for a in answers if a.status_code == 429)


def test_shutdown_finishes_in_flight_requests(predictor: Any) -> None:
    slow = SlowPredictor(predictor)
    app = create_app(slow, model_ref="m", settings=ServeSpec(max_wait_ms=0))
    client = TestClient(app)
    answers: list[int] = []
    workers = [
        threading.Thread(
            target=lambda: answers.append(
                client.post("/v1/classify", json={"texts": ["in flight"]}).status_code
            )
        )
        for _ in range(3)
    ]
    for w in workers:
        w.start()
    batcher = app.state.llmline.batcher
    deadline = time.time() + 60
    while slow.seen + batcher.pending < 3 and time.time() < deadline:
        time.sleep(0.01)  # all three requests are in the model or in the queue
    shutdown(app.state.llmline)
    for w in workers:
        w.join(10)
    assert answers == [200, 200, 200]
    assert client.post("/v1/classify", json={"texts": ["late"]}).status_code == 503


def test_hot_reload_swaps_the_model_without_dropping_requests(
    predictor: Any, tiny_classifier_dir: Path
) -> None:
    from llmline.serve.reload import AliasWatcher

    app = create_app(predictor, model_ref="models:/m@champion", model_info={"version": "1"})
    state = app.state.llmline
    client = TestClient(app)
    current = {"version": "1"}
    watcher = AliasWatcher(
        state,
        lookup=lambda: dict(current),
        load=lambda info: load_predictor(tiny_classifier_dir),
        interval_s=0.05,
    )
    stop = threading.Event()
    codes: list[int] = []

    def hammer() -> None:
        while not stop.is_set():
            codes.append(client.post("/v1/classify", json={"texts": ["card"]}).status_code)

    thread = threading.Thread(target=hammer)
    thread.start()
    watcher.start()
    time.sleep(0.2)
    current["version"] = "2"
    deadline = time.time() + 60
    while state.model_version != "2" and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    stop.set()
    thread.join(10)
    watcher.stop()
    assert state.model_version == "2" and state.predictor is not predictor
    assert codes and set(codes) == {200}
    assert client.get("/readyz").json()["version"] == "2"


def test_requests_are_logged_redacted_never_raw(predictor: Any, tmp_path: Path) -> None:
    from llmline.monitor.store import RequestLogger

    log = RequestLogger(f"sqlite:///{tmp_path / 'monitor.db'}")
    client = TestClient(
        create_app(predictor, model_ref="m", model_info={"version": "7"}, request_log=log)
    )
    text = "my email is jane.doe@example.com, card lost"
    client.post("/v1/classify", json={"texts": [text, "hello"]})
    log.flush()
    assert log.store is not None
    rows = log.store.rows()
    assert len(rows) == 2
    first = rows[0]
    assert first["model_version"] == "7" and first["route"] == "/v1/classify"
    assert first["input_chars"] == len(text) and len(first["input_sha256"]) == 64
    assert "jane.doe@example.com" not in json.dumps(rows)
    assert "<EMAIL>" in first["text_redacted"]
    assert 0 <= first["confidence"] <= 1 and first["latency_ms"] > 0
    log.close()


def test_apikey_cli_prints_the_key_once_and_stores_only_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmline.cli import main

    keys = tmp_path / "keys.json"
    assert (
        main(
            ["apikey", "create", "svc", "--scopes", "classify", "--rate", "5", "--keys", str(keys)]
        )
        == 0
    )
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("llk_") and key not in keys.read_text()
    assert KeyStore.load(keys).find(key) is not None
    assert main(["apikey", "list", "--keys", str(keys)]) == 0
    assert "svc\tclassify\t5.0/s" in capsys.readouterr().out
    assert main(["apikey", "revoke", "svc", "--keys", str(keys)]) == 0
    assert KeyStore.load(keys).keys == []
    assert main(["apikey", "revoke", "svc", "--keys", str(keys)]) == 2
