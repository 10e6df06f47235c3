"""Alert delivery: stored with its posts, POSTed as JSON, a dead webhook logged and survived."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from llmline.watch.notify import Notifier
from llmline.watch.store import open_watch_store
from llmline.watch.surge import Alert


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append(json.loads(body))
        self.send_response(Receiver.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def receiver():  # type: ignore[no-untyped-def]
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Receiver.received.clear()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def _alert() -> Alert:
    return Alert("贵州茅台", "neg-surge", "negative_share", 7200.0, 3600.0, 7200.0, 0.6, 0.2,
                 1e-6, 30, ["p1", "p2"])  # fmt: skip


def test_webhook_gets_json_and_store_keeps_the_alert(receiver: str, tmp_path: Path) -> None:
    store = open_watch_store(f"sqlite:///{tmp_path / 'm.db'}")
    alert_id = Notifier(store, receiver).send(_alert())
    assert Receiver.received[0]["entity"] == "贵州茅台" and Receiver.received[0]["id"] == alert_id
    assert Receiver.received[0]["window"] == {
        "start": "1970-01-01T01:00:00Z", "end": "1970-01-01T02:00:00Z"
    }  # fmt: skip
    assert store.alerts()[0]["post_ids"] == ["p1", "p2"]


def test_failing_webhooks_are_logged_not_fatal(
    receiver: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_watch_store(f"sqlite:///{tmp_path / 'm.db'}")
    Receiver.status = 500
    try:
        failing = Notifier(store, receiver)
        failing.send(_alert())
    finally:
        Receiver.status = 200
    dead = Notifier(store, "http://127.0.0.1:9/nothing-listens", timeout_s=1)
    with caplog.at_level(logging.ERROR, logger="llmline.watch"):
        dead.send(_alert())
    assert failing.webhook_failures == 1 and dead.webhook_failures == 1
    assert "webhook" in caplog.text
    assert len(store.alerts()) == 2  # both alerts kept for `llmline watch alerts`
