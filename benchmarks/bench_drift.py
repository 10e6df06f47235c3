"""Drift scenario on real data: in-domain replay stays quiet, out-of-domain streams alert.

The Banking77 model is served by `llmline serve` with its monitoring store and alert loop
(log + webhook). The drift reference is captured on one half of the validation split; the
other half is replayed as in-domain traffic, then FiQA investor posts, then more in-domain
traffic, then Shakespeare lines. After every 25 requests the rules are evaluated over the last
200 requests (the same `evaluate_rules` the service runs), recording how many out-of-domain
requests it took to fire; alerts delivered by the service itself are read from its log and
from a loopback webhook receiver.

    .venv/bin/python benchmarks/bench_drift.py --model /tmp/bench-ws/runs/<run>/model
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx

from bench_serve import LLMLINE, free_port, start, stop, wait_ready

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
WINDOW = 200
STEP = 25
RULES = f"""
monitor:
  evaluate_every_s: 2
  rules:
    - {{name: label-drift, metric: chi2_p, window: '{WINDOW}', threshold: 0.001, op: '<',
       min_requests: {WINDOW}}}
    - {{name: confidence-drift, metric: ks_confidence_p, window: '{WINDOW}', threshold: 0.001,
       op: '<', min_requests: {WINDOW}}}
    - {{name: length-drift, metric: ks_length_p, window: '{WINDOW}', threshold: 0.001, op: '<',
       min_requests: {WINDOW}}}
    - {{name: embedding-drift, metric: mmd_p, window: '{WINDOW}', threshold: 0.01, op: '<',
       min_requests: {WINDOW}}}
"""


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def texts_fiqa() -> list[str]:
    posts = json.loads((DATA / "fiqa" / "FiQA_post.json").read_text(encoding="utf-8"))
    return [p["sentence"] for p in posts.values()]


def texts_shakespeare() -> list[str]:
    lines = (DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8").splitlines()
    return [ln for ln in lines if len(ln) > 20 and not ln.endswith(":")]


def split_validation(run_model: Path, out: Path) -> tuple[Path, list[str]]:
    import pyarrow.parquet as pq

    table = pq.read_table(run_model.parent / "data" / "validation.parquet")
    order = list(range(table.num_rows))
    random.Random(0).shuffle(order)
    half = len(order) // 2
    pq.write_table(table.take(order[:half]), out / "reference_half.parquet")
    return out / "reference_half.parquet", [str(t) for t in table.take(order[half:])["text"]]


def main() -> None:
    from llmline.cli import main as llmline
    from llmline.models.backend import load_serving_predictor
    from llmline.models.embedding import embed_texts
    from llmline.models.resolve import resolve_model
    from llmline.monitor.alerts import load_rules
    from llmline.monitor.reference import ensure_reference
    from llmline.monitor.store import open_store
    from llmline.workspace import Workspace

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-drift"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    model = args.out / "model"  # a copy, so the run's own reference is left alone
    shutil.copytree(args.model, model)
    reference_data, in_domain = split_validation(args.model, args.out)
    ws = args.out / "ws"
    llmline(["monitor", "reference", "--model", str(model), "--data", str(reference_data),
             "--workspace", str(ws)])  # fmt: skip
    hook = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    config = args.out / "serve.yaml"
    config.write_text(RULES + f"  webhook_url: http://127.0.0.1:{hook.server_port}/alerts\n")
    rules = load_rules(config)
    workspace = Workspace.resolve(ws)
    predictor = load_serving_predictor(resolve_model(str(model), workspace))
    reference = ensure_reference(predictor, model, workspace)
    port = free_port()
    server = start([LLMLINE, "serve", "--model", str(model), "--port", str(port), "--config",
                    str(config), "--workspace", str(ws), "--reload-interval-s", "0"])  # fmt: skip
    phases = [("in-domain (validation half)", in_domain[:500]),
              ("FiQA investor posts", texts_fiqa()[:300]),
              ("in-domain again", in_domain[-300:]),
              ("Shakespeare lines", texts_shakespeare()[:300])]  # fmt: skip
    report: list[dict[str, Any]] = []
    try:
        wait_ready(port)
        store = open_store(f"sqlite:///{ws / 'monitor.db'}")
        embed = lambda texts: embed_texts(predictor, texts)  # noqa: E731
        with httpx.Client(timeout=60) as client:
            for name, texts in phases:
                report.append(run_phase(client, port, name, texts, store, rules, reference, embed))
                print(json.dumps(report[-1]), flush=True)
        time.sleep(4)  # let the service's own alert loop catch up
    finally:
        stop(server)
        hook.shutdown()
    alert_log = ws / "alerts.jsonl"
    delivered = (
        [json.loads(x) for x in alert_log.read_text().splitlines()] if alert_log.exists() else []
    )
    summary = {"phases": report,
               "service_alert_log": [(a["rule"], round(a["value"], 6)) for a in delivered],
               "webhook_received": [a["rule"] for a in Hook.received]}  # fmt: skip
    (args.out / "results.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


def run_phase(client: httpx.Client, port: int, name: str, texts: list[str], store: Any,
              rules: Any, reference: Any, embed: Any) -> dict[str, Any]:  # fmt: skip
    """Send the texts one per request; every STEP requests evaluate the rules on the window."""
    from llmline.monitor.alerts import evaluate_rules

    first_fire: dict[str, int] = {}
    firing: list[str] = []
    errors = 0
    for i, text in enumerate(texts, start=1):
        response = client.post(f"http://127.0.0.1:{port}/v1/classify", json={"texts": [text]})
        errors += response.status_code != 200
        if i % STEP == 0:
            time.sleep(0.3)  # the writer thread commits in the background
            results = evaluate_rules(rules, store, reference, embed)
            firing = [r.rule for r in results if r.firing]
            for rule in firing:
                first_fire.setdefault(rule, i)
    return {
        "phase": name,
        "requests": len(texts),
        "errors": errors,
        "first_fired_after_requests": first_fire,
        "firing_at_end": firing,
    }


if __name__ == "__main__":
    main()
