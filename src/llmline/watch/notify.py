"""Alert delivery: the log, the store (with the posts behind the alert) and an optional webhook.

A webhook that is down, slow or answers 500 is logged and skipped: monitoring goes on, and the
alert is still in the store for `llmline watch alerts`.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from datetime import UTC, datetime

from llmline.watch.store import WatchStore
from llmline.watch.surge import Alert

log = logging.getLogger("llmline.watch")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_event(alert: Alert, alert_id: int | None = None) -> dict[str, object]:
    """The JSON an alert is sent and listed as."""
    return {
        "id": alert_id,
        "entity": alert.entity,
        "rule": alert.rule,
        "metric": alert.metric,
        "time": iso(alert.ts),
        "window": {"start": iso(alert.window_start), "end": iso(alert.window_end)},
        "value": round(alert.value, 6),
        "baseline": round(alert.baseline, 6),
        "p_value": alert.p_value,
        "posts": alert.posts,
        "post_ids": alert.post_ids,
    }


class Notifier:
    def __init__(self, store: WatchStore, webhook_url: str | None = None, timeout_s: float = 5.0):
        self.store = store
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s
        self.webhook_failures = 0

    def send(self, alert: Alert) -> int:
        alert_id = self.store.add_alert(alert.as_row())
        log.warning(
            "ALERT %s on %s: %s=%.4g vs baseline %.4g (p=%.2g, %d posts, window %s..%s)",
            alert.rule, alert.entity, alert.metric, alert.value, alert.baseline, alert.p_value,
            alert.posts, iso(alert.window_start), iso(alert.window_end),
        )  # fmt: skip
        if self.webhook_url:
            self._post(alert_event(alert, alert_id))
        return alert_id

    def _post(self, event: dict[str, object]) -> None:
        assert self.webhook_url is not None
        request = urllib.request.Request(
            self.webhook_url,
            data=json.dumps(event, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:  # never fatal
            self.webhook_failures += 1
            log.error("alert webhook %s failed: %s", self.webhook_url, exc)
