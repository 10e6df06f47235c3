"""A small real workspace for the console: two chain runs of a tiny model (one passes its gate,
one does not), a registry, an audit log, served-request rows, alerts and the watch tables."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmline.workspace import Workspace
from tests.conftest import toy_spec_text, write_csv

PII_TEXT = "请联系 zhang.wei@example.com 或 13812345678 退款 refund please"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real headless Chromium (Selenium)")


def _rows() -> list[tuple[str, str]]:
    good = [
        "wonderful acting, I loved it {}",
        "服务很好，房间干净 {}",
        "great value, would buy again {}",
    ]
    bad = [
        "terrible boring plot, hated it {}",
        "房间很脏，服务太差 {}",
        "broken on arrival, refund {}",
    ]
    rows = [(t.format(i), "pos") for i in range(12) for t in good]
    rows += [(t.format(i), "neg") for i in range(12) for t in bad]
    rows.append((PII_TEXT, "neg"))
    random.Random(0).shuffle(rows)
    return rows


def build_workspace(root: Path, base_model: Path) -> Workspace:
    from llmline.chain import run_chain
    from llmline.spec import load_spec

    data = write_csv(root / "reviews.csv", _rows())
    workspace = Workspace.resolve(root / "ws")
    spec = root / "spec.yaml"
    text = toy_spec_text(data, base_model).replace("name: toy", "name: reviews")
    spec.write_text(text, encoding="utf-8")
    run_chain(load_spec(spec), workspace)
    spec.write_text(text.replace("min_accuracy: 0.5", "min_accuracy: 1.01"), encoding="utf-8")
    run_chain(load_spec(spec), workspace)
    _monitoring(workspace)
    return workspace


def _monitoring(workspace: Workspace) -> None:
    from llmline.monitor.store import MonitorStore
    from llmline.watch.store import WatchStore

    store = MonitorStore(f"sqlite:///{workspace.monitor_db}")
    now = time.time()
    rng = random.Random(1)
    rows = []
    for i in range(600):
        label = "pos" if (i < 300 or rng.random() < 0.2) else "neg"
        rows.append(
            {
                "ts": now - (600 - i) * 60,
                "model_ref": "models:/reviews@champion",
                "model_version": "1",
                "route": "/v1/classify",
                "status": 500 if i % 97 == 0 else 200,
                "latency_ms": rng.uniform(2, 40),
                "label": label,
                "confidence": rng.uniform(0.5, 1.0),
                "input_chars": 30,
                "input_sha256": "0" * 64,
                "text_redacted": f"request {i} from <EMAIL>",
            }
        )
    store.insert(rows)
    store.dispose()
    alert = {
        "rule": "label-shift",
        "metric": "psi",
        "value": 0.4,
        "threshold": 0.2,
        "op": ">",
        "window": "1h",
        "requests": 60,
        "firing": True,
        "ts": now - 600,
        "note": "",
        "model": "models:/reviews@champion",
    }
    (workspace.root / "alerts.jsonl").write_text(json.dumps(alert) + "\n", encoding="utf-8")
    watch = WatchStore(f"sqlite:///{workspace.monitor_db}")
    with watch.engine.begin() as conn:
        for hour in range(48):
            conn.execute(
                watch.t["series"].insert(),
                {
                    "entity": "贵州茅台",
                    "bucket": now - (48 - hour) * 3600,
                    "volume": 10 + hour,
                    "negative": hour // 4,
                    "neutral": 5,
                    "positive": 5 + hour - hour // 4,
                    "score_sum": 0.1 * hour,
                },
            )
        conn.execute(
            watch.t["alerts"].insert(),
            {
                "ts": now - 3600,
                "created": now,
                "entity": "贵州茅台",
                "rule": "negative-surge",
                "metric": "negative_share",
                "window_start": now - 7200,
                "window_end": now - 3600,
                "value": 0.4,
                "baseline": 0.1,
                "p_value": 0.001,
                "posts": 20,
                "post_ids": "[]",
            },
        )
    watch.dispose()


@pytest.fixture(scope="session")
def console_template(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("console")
    return build_workspace(root, tiny_bert_dir).root


@pytest.fixture()
def console_ws(console_template: Path, tmp_path: Path) -> Path:
    """A private copy, so a test that promotes or labels does not change the others' view.

    The registry keeps absolute paths of the template's artifacts and runs: reading them is all
    a copy needs."""
    target = tmp_path / "ws"
    shutil.copytree(console_template, target)
    return target


@pytest.fixture()
def client(console_ws: Path):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from llmline.ui.app import UiConfig, create_app

    return TestClient(create_app(UiConfig(workspace=console_ws)))


def csrf_of(html: str) -> str:
    import re

    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html) or re.search(
        r'name="csrf-token" content="([0-9a-f]+)"', html
    )
    assert found, "the page has no CSRF token"
    return found.group(1)


def fake_service() -> Any:
    """A stand-in for `llmline serve`: /v1/assistant and a streamed /v1/chat/completions."""
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    app = FastAPI()
    app.state.asked = []

    @app.post("/v1/assistant")
    async def assistant(body: dict[str, Any]) -> dict[str, Any]:
        app.state.asked.append(body)
        return {
            "answer": "您可以在 App 里申请退款，或写信到 help@bank.example",
            "intent": "refund",
            "confidence": 0.93,
            "handoff": False,
            "citations": [
                {"source": "faq/refunds.md", "text": "退款在 3 个工作日内到账。", "score": 0.87}
            ],
        }

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> StreamingResponse:
        app.state.asked.append(body)

        async def events() -> Any:
            for piece in ["你好", "，", " I am", " streaming."]:
                chunk = {"choices": [{"delta": {"content": piece}, "index": 0}]}
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@contextlib.contextmanager
def served(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free loopback port in a thread; yield its URL."""
    import socket
    import threading

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
