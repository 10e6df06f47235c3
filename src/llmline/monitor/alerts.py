"""Alert rules (YAML: metric, window, threshold) evaluated over the store, sent to a log and a
webhook.

A rules file is the `monitor:` block of a spec, or that block's keys on their own (`rules:`,
`webhook_url:`, ...), so it validates with the same pydantic model and the same one-line errors.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmline.errors import SpecError
from llmline.monitor.drift import Window, drift_metrics, operational
from llmline.monitor.reference import Reference
from llmline.monitor.store import MonitorStore
from llmline.spec import AlertRuleSpec, MonitorSpec
from llmline.workspace import Workspace

log = logging.getLogger("llmline.monitor")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


@dataclass
class AlertResult:
    rule: str
    metric: str
    value: float | None
    threshold: float
    op: str
    window: str
    requests: int
    firing: bool
    ts: float
    note: str = ""


def load_rules(path: Path) -> MonitorSpec:
    from pydantic import ValidationError

    from llmline.spec import describe_validation_error, read_yaml

    raw = read_yaml(path)
    if "monitor" in raw:  # a whole pipeline spec, or a serve config with a monitor: block
        raw = raw["monitor"] or {}
    try:
        return MonitorSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(
            describe_validation_error(exc),
            where=str(path),
            fix="see `llmline validate --explain` (monitor.*)",
        ) from None


def parse_window(window: str) -> tuple[float | None, int | None]:
    """'15m' -> (seconds, None); '500' -> (None, last 500 requests)."""
    if window.isdigit():
        return None, int(window)
    match = _DURATION.match(window.strip())
    if not match:
        raise SpecError(
            f"window {window!r} is not like 15m, 1h, 2d or 500", where="monitor.rules.window"
        )
    return float(match[1]) * _UNITS[match[2]], None


def window_rows(store: MonitorStore, rule: AlertRuleSpec, now: float) -> list[dict[str, Any]]:
    seconds, last = parse_window(rule.window)
    if last is not None:
        return store.rows(last=last)
    return store.rows(since=now - (seconds or 0))


def evaluate_rules(
    spec: MonitorSpec,
    store: MonitorStore,
    reference: Reference | None,
    embed: Callable[[list[str]], Any] | None = None,
    now: float | None = None,
) -> list[AlertResult]:
    """Every rule's current value over its window and whether it fires."""
    now = time.time() if now is None else now
    results = []
    for rule in spec.rules:
        rows = window_rows(store, rule, now)
        window = Window(rows, embed=embed)
        value, note = _metric(rule, window, reference)
        firing = value is not None and _OPS[rule.op](value, rule.threshold)
        results.append(
            AlertResult(
                rule.name,
                rule.metric,
                value,
                rule.threshold,
                rule.op,
                rule.window,
                len(rows),
                firing,
                now,
                note,
            )
        )
    return results


def _metric(
    rule: AlertRuleSpec, window: Window, reference: Reference | None
) -> tuple[float | None, str]:
    if len(window.rows) < rule.min_requests:
        return None, f"only {len(window.rows)} requests (< min_requests {rule.min_requests})"
    ops = operational(window, rule.label)
    if rule.metric in ops:
        return ops[rule.metric], ""
    if reference is None:
        return None, "no drift reference for this model"
    values = drift_metrics(reference, window, {rule.metric})
    if rule.metric not in values:
        raise SpecError(
            f"unknown alert metric {rule.metric!r}",
            where=f"rule {rule.name}",
            fix="use psi, chi2_p, ks_confidence_p, ks_length_p, mmd, mmd_p, "
            "latency_p99_ms, error_rate or prediction_share",
        )
    return values[rule.metric], ""


def deliver(
    results: list[AlertResult], spec: MonitorSpec, workspace: Workspace, **context: Any
) -> None:
    """Append each alert to the JSONL alert log and POST it to the webhook, if one is set."""
    if not results:
        return
    path = spec.alert_log or workspace.root / "alerts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    events = [{**asdict(r), **context} for r in results]
    with path.open("a", encoding="utf-8") as fh:
        for event in events:
            fh.write(json.dumps(event, default=str) + "\n")
            log.warning(
                "ALERT %s: %s=%s %s %s over %s",
                event["rule"],
                event["metric"],
                event["value"],
                event["op"],
                event["threshold"],
                event["window"],
            )
    if spec.webhook_url:
        _post(spec.webhook_url, events)


def _post(url: str, events: list[dict[str, Any]]) -> None:
    import httpx

    for event in events:
        try:
            httpx.post(url, json=event, timeout=5.0).raise_for_status()
        except httpx.HTTPError as exc:  # a dead webhook must not stop monitoring
            log.error("alert webhook %s failed: %s", url, exc)


class AlertLoop:
    """Evaluate the rules every `evaluate_every_s` and deliver alerts when they start firing.

    With several workers only the one holding the workspace's alert lock evaluates, so each
    alert is sent once.
    """

    def __init__(
        self,
        spec: MonitorSpec,
        workspace: Workspace,
        store_url: str,
        reference: Reference | None,
        embed: Callable[[list[str]], Any] | None,
        **context: Any,
    ) -> None:
        self.spec, self.workspace, self.store_url = spec, workspace, store_url
        self.reference, self.embed, self.context = reference, embed, context
        self.firing: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="llmline-alerts", daemon=True)

    def start(self) -> AlertLoop:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def tick(self, store: MonitorStore) -> list[AlertResult]:
        """One evaluation; returns the alerts that started firing now (and were delivered)."""
        results = evaluate_rules(self.spec, store, self.reference, self.embed)
        new = [r for r in results if r.firing and r.rule not in self.firing]
        self.firing = {r.rule for r in results if r.firing}
        deliver(new, self.spec, self.workspace, **self.context)
        return new

    def _loop(self) -> None:
        import fcntl

        from llmline.monitor.store import open_store

        lock = (self.workspace.root / "alerts.lock").open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # another worker evaluates the rules
        store = open_store(self.store_url)
        while not self._stop.wait(self.spec.evaluate_every_s):
            try:
                self.tick(store)
            except Exception as exc:  # monitoring must never take the service down
                log.error("alert evaluation failed (%s: %s)", type(exc).__name__, exc)
