from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from llmline.errors import SpecError
from llmline.monitor.alerts import AlertLoop, evaluate_rules, load_rules, parse_window
from llmline.monitor.drift import DRIFT_TESTS, Window, drift_metrics
from llmline.monitor.reference import Reference
from llmline.monitor.store import MonitorStore
from llmline.spec import MonitorSpec
from llmline.workspace import Workspace

LABELS = ["billing", "cards", "other"]


def _reference(seed: int = 0) -> Reference:
    rng = random.Random(seed)
    labels = rng.choices(LABELS, weights=[5, 3, 2], k=600)
    embeddings = np.random.default_rng(seed).normal(size=(200, 8))
    return Reference(
        LABELS,
        {lb: labels.count(lb) for lb in LABELS},
        [rng.uniform(0.6, 1.0) for _ in range(600)],
        [rng.randint(20, 80) for _ in range(600)],
        embeddings,
    )


def _rows(
    n: int,
    *,
    weights: list[int],
    conf: tuple[float, float],
    length: tuple[int, int],
    seed: int,
    ts: float | None = None,
    text: str = "card",
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = time.time() if ts is None else ts
    return [
        {
            "ts": now,
            "model_ref": "m",
            "model_version": "1",
            "route": "/v1/classify",
            "status": 200,
            "latency_ms": rng.uniform(5, 15),
            "label": rng.choices(LABELS, weights=weights)[0],
            "confidence": rng.uniform(*conf),
            "input_chars": rng.randint(*length),
            "input_sha256": "0" * 64,
            "text_redacted": f"{text} {i}",
        }
        for i in range(n)
    ]


IN_DOMAIN = {"weights": [5, 3, 2], "conf": (0.6, 1.0), "length": (20, 80)}
SHIFTED = {"weights": [1, 1, 8], "conf": (0.2, 0.5), "length": (200, 900)}
ALL = {"psi", "chi2_p", "ks_confidence_p", "ks_length_p", "mmd", "mmd_p"}


def _embed(shift: float) -> Any:
    rng = np.random.default_rng(1)
    return lambda texts: rng.normal(loc=shift, size=(len(texts), 8))


def test_in_domain_traffic_shows_no_drift() -> None:
    window = Window(_rows(300, seed=1, **IN_DOMAIN), embed=_embed(0.0))
    metrics = drift_metrics(_reference(), window, ALL)
    assert metrics["psi"] < 0.1 and metrics["chi2_p"] > 0.01
    assert metrics["ks_confidence_p"] > 0.01 and metrics["ks_length_p"] > 0.01
    assert metrics["mmd_p"] > 0.01


def test_shifted_traffic_is_caught_by_every_test() -> None:
    window = Window(_rows(300, seed=2, **SHIFTED), embed=_embed(1.5))
    metrics = drift_metrics(_reference(), window, ALL)
    assert metrics["psi"] > 0.5 and metrics["chi2_p"] < 1e-6
    assert metrics["ks_confidence_p"] < 1e-6 and metrics["ks_length_p"] < 1e-6
    assert metrics["mmd_p"] < 0.01
    assert set(DRIFT_TESTS.names()) >= {"psi", "chi2", "ks", "mmd"}


def _rules_file(tmp_path: Path, webhook: str | None = None) -> Path:
    text = (
        "rules:\n"
        "  - {name: label-drift, metric: psi, window: '200', threshold: 0.2, min_requests: 100}\n"
        "  - {name: other-share, metric: prediction_share, label: other, window: 1h,"
        " threshold: 0.4}\n"
        "  - {name: slow, metric: latency_p99_ms, window: 1h, threshold: 500}\n"
        "  - {name: errors, metric: error_rate, window: 1h, threshold: 0.05}\n"
        f"alert_log: {tmp_path / 'alerts.jsonl'}\n"
        + (f"webhook_url: {webhook}\n" if webhook else "")
    )
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    return path


def test_rules_fire_only_on_the_shifted_window(tmp_path: Path) -> None:
    spec = load_rules(_rules_file(tmp_path))
    store = MonitorStore(f"sqlite:///{tmp_path / 'm.db'}")
    store.insert(_rows(200, seed=3, **IN_DOMAIN))
    calm = evaluate_rules(spec, store, _reference())
    assert not [r.rule for r in calm if r.firing]
    store.insert(_rows(200, seed=4, **SHIFTED))
    fired = {r.rule for r in evaluate_rules(spec, store, _reference()) if r.firing}
    assert fired == {"label-drift", "other-share"}


def test_too_few_requests_never_fire_and_bad_rules_are_spec_errors(tmp_path: Path) -> None:
    spec = MonitorSpec.model_validate(
        {"rules": [{"name": "x", "metric": "psi", "window": "1h", "threshold": 0.0}]}
    )
    store = MonitorStore(f"sqlite:///{tmp_path / 'm.db'}")
    store.insert(_rows(10, seed=5, **SHIFTED))
    [result] = evaluate_rules(spec, store, _reference())
    assert not result.firing and "min_requests" in result.note
    assert parse_window("15m") == (900.0, None) and parse_window("500") == (None, 500)
    with pytest.raises(SpecError, match="window"):
        parse_window("soon")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {name: x, metric: psi, treshold: 1}\n")
    with pytest.raises(SpecError, match="treshold"):
        load_rules(bad)


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_alerts_go_to_the_log_and_the_webhook_once_per_episode(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        spec = load_rules(_rules_file(tmp_path, url))
        store = MonitorStore(f"sqlite:///{tmp_path / 'm.db'}")
        store.insert(_rows(200, seed=6, **SHIFTED))
        loop = AlertLoop(
            spec,
            Workspace.resolve(tmp_path / "ws"),
            store.url,
            _reference(),
            None,
            model="models:/m@champion",
        )
        first = loop.tick(store)
        again = loop.tick(store)  # still firing: not sent twice
    finally:
        server.shutdown()
    assert {a.rule for a in first} == {"label-drift", "other-share"} and again == []
    logged = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert {e["rule"] for e in logged} == {"label-drift", "other-share"}
    assert {e["rule"] for e in _Hook.received} == {"label-drift", "other-share"}
    assert all(e["model"] == "models:/m@champion" for e in _Hook.received)
