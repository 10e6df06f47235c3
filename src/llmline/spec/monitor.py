"""The monitor link's spec: the request store, alert rules and re-training."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from llmline.spec.base import StrictModel


class AlertRuleSpec(StrictModel):
    """One alert: fire when `metric` over the last `window` crosses `threshold`."""

    name: str = Field(pattern=r"^[\w.-]+$")
    metric: str = Field(
        description="psi, chi2_p, ks_confidence_p, ks_length_p, mmd, mmd_p, latency_p99_ms, "
        "error_rate or prediction_share (with label)."
    )
    window: str = Field("1h", description="'15m', '1h', '2d' or '500' (the last N requests).")
    threshold: float
    op: Literal[">", "<", ">=", "<="] = Field(">", description="Fires when metric OP threshold.")
    label: str | None = Field(None, description="Label of a prediction_share rule.")
    min_requests: int = Field(50, ge=1, description="Skip windows with fewer requests.")


class MonitorSpec(StrictModel):
    """The monitoring store and the alert rules evaluated over it."""

    store_url: str | None = Field(
        None, description="SQLAlchemy URL; null is <workspace>/monitor.db (SQLite)."
    )
    retention_days: float = Field(30.0, gt=0, description="Requests older than this are purged.")
    store_text: bool = Field(True, description="Keep PII-redacted text (never raw) for drift.")
    rules: list[AlertRuleSpec] = Field(default_factory=list)
    webhook_url: str | None = Field(None, description="POST alerts here as JSON.")
    alert_log: Path | None = Field(None, description="JSONL alert log; null is the workspace's.")
    evaluate_every_s: float = Field(60.0, ge=0, description="Rule checks in the service; 0 off.")


class RetrainSpec(StrictModel):
    """Champion vs challenger: when to re-train and when the challenger may replace it."""

    replay_fraction: float = Field(
        1.0, ge=0, le=1, description="Share of the old training rows mixed in (replay)."
    )
    new_slice_fraction: float = Field(
        0.25, gt=0, lt=1, description="Share of new labelled rows held out as the new slice."
    )
    old_tolerance: float = Field(
        0.01, ge=0, le=1, description="Challenger may lose at most this accuracy on old data."
    )
    min_new_rows: int = Field(100, ge=1, description="--auto: re-train once this many rows.")
    on_alerts: list[str] = Field(
        default_factory=list, description="--auto: re-train when one of these alerts fired."
    )
