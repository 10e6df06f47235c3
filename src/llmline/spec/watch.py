"""The watch application's spec: a stream of posts, entities to follow, surge rules, a brief.

A watch spec is either a pipeline spec with a `watch:` block or that block's keys on their own,
so one file can train the sentiment model and run the monitor that uses it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from llmline.spec.base import StrictModel

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SENTIMENTS = ("negative", "neutral", "positive")


def duration_seconds(value: str) -> float:
    """'90s', '15m', '1h', '2d' -> seconds; anything else is a ValueError naming the forms."""
    match = _DURATION.match(value.strip())
    if not match or float(match[1]) <= 0:
        raise ValueError(f"{value!r} is not a duration like 90s, 15m, 1h or 2d")
    return float(match[1]) * _SECONDS[match[2]]


class SurgeRuleSpec(StrictModel):
    """Fire when an entity's metric over `window` is `ratio` x its baseline and significant."""

    name: str = Field(pattern=r"^[\w.-]+$")
    metric: Literal["negative_share", "volume"] = Field(
        "negative_share",
        description="negative_share: one-sided binomial test of the window's negative posts "
        "against the baseline share; volume: one-sided Poisson test of the window's post count "
        "against the baseline rate.",
    )
    ratio: float = Field(2.0, gt=1, description="Window value must be >= ratio x baseline.")
    min_posts: int = Field(20, ge=1, description="Windows with fewer posts never fire.")
    window: str = Field("1h", description="Sliding window, e.g. 30m, 1h, 1d.")
    p_value: float = Field(
        0.01, gt=0, lt=1,
        description="False-alarm level per window length (each of the n re-tests of a sliding "
        "window uses p_value / n).",
    )  # fmt: skip
    cooldown: str = Field("6h", description="After an alert, the rule is quiet this long.")
    entities: list[str] = Field(
        default_factory=list, description="Only these entities; empty is every entity."
    )
    season: Literal["none", "daily"] = Field(
        "none",
        description="volume only. daily: the baseline is the entity's rate for each hour of the "
        "day (UTC), learnt from at least one full day of its posts, so a busy morning is compared "
        "with earlier mornings, not with the night; none: one rate for all hours.",
    )

    @field_validator("window", "cooldown")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @model_validator(mode="after")
    def _season_is_for_volume(self) -> SurgeRuleSpec:
        if self.season != "none" and self.metric != "volume":
            raise ValueError(
                f"rule {self.name!r}: season applies to metric: volume only (a negative share "
                "is already relative to the posts of its own window)"
            )
        return self


class DirectorySourceSpec(StrictModel):
    """JSONL/CSV files dropped in a directory; each file is read once (remembered by sha256)."""

    kind: Literal["directory"] = "directory"
    path: Path
    pattern: str = Field("*", description="Glob of file names to read (.jsonl, .json, .csv).")
    poll_s: float = Field(2.0, gt=0, description="Seconds between directory scans.")


class HttpSourceSpec(StrictModel):
    """`POST /v1/ingest` with a JSON body {"posts": [...]} in batches."""

    kind: Literal["http"] = "http"
    host: str = "127.0.0.1"
    port: int = Field(8300, ge=0, le=65535)
    max_body_bytes: int = Field(5_000_000, gt=0, description="Larger bodies get 413.")
    max_batch: int = Field(5000, gt=0, description="More posts per request get 413.")


class WatchSpec(StrictModel):
    """Entity-level sentiment over a stream of posts, surge alerts and a daily brief."""

    watch_list: Path = Field(description="CSV: entity, aliases ('|'-separated), language.")
    sources: list[DirectorySourceSpec | HttpSourceSpec] = Field(
        default_factory=list, description="Where posts come from; --replay needs none."
    )
    text_column: str = Field("text", description="Column/key holding the post text.")
    time_column: str = Field("time", description="Column/key holding the post time.")
    bucket: str = Field("15m", description="Time-series bucket size.")
    baseline_halflife: str = Field(
        "1d", description="EWMA half-life of the per-entity baselines (in event time)."
    )
    min_baseline_posts: int = Field(
        50, ge=1, description="An entity needs this many baseline posts before it can alert."
    )
    rules: list[SurgeRuleSpec] = Field(default_factory=list)
    model: str | None = Field(
        None,
        description="Target-dependent sentiment classifier (run dir, models:/..., dir): judges "
        "posts in languages `models` does not name.",
    )
    models: dict[str, str] = Field(
        default_factory=dict,
        description="Language (ISO 639-1, as detected: en, zh, ...) -> the classifier for posts "
        "in it, e.g. {en: models:/finance-sentiment-en@champion, zh: "
        "models:/finance-sentiment-zh@champion}.",
    )
    label_map: dict[str, Literal["negative", "neutral", "positive"]] = Field(
        default_factory=dict,
        description="Model label -> negative/neutral/positive, for every model; labels "
        "already named so, or 0/1/2 in that order, need no entry.",
    )
    ner_model: str | None = Field(
        None,
        description="Token-classification model whose ORG spans add unlisted entities, for "
        "posts in languages `ner_models` does not name.",
    )
    ner_models: dict[str, str] = Field(
        default_factory=dict,
        description="Language (as detected: en, zh, ...) -> the NER model for posts in it, e.g. "
        "{en: models:/conll2003-ner@champion, zh: models:/peoples-daily-ner@champion}.",
    )
    link_unlisted: bool = Field(
        True, description="Cashtags, exchange codes and NER organisations not on the list "
        "become entities of their own.",
    )  # fmt: skip
    dedup_threshold: float = Field(
        0.8, gt=0, le=1, description="Jaccard at which a post is a near-duplicate (folded)."
    )
    webhook_url: str | None = Field(None, description="POST each alert here as JSON.")
    store_url: str | None = Field(
        None, description="SQLAlchemy URL; null is <workspace>/monitor.db (SQLite)."
    )
    batch_size: int = Field(
        256, gt=0, description="(Post, entity) pairs handed to the model at once, by length."
    )
    model_batch_size: int = Field(
        8, gt=0,
        description="Texts per forward pass of the sentiment model: small batches pad less (on 2 "
        "cores the English back-test ran at 205 posts per CPU-second with 8, 144 with 32).",
    )  # fmt: skip

    @field_validator("bucket", "baseline_halflife")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("models", "ner_models")
    @classmethod
    def _languages(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in value if not re.fullmatch(r"[a-z]{2,3}", k))
        if bad:
            raise ValueError(f"{bad} are not language codes like en or zh")
        return value

    @model_validator(mode="after")
    def _rules(self) -> WatchSpec:
        names = [rule.name for rule in self.rules]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"rules: rule name(s) {doubled} used more than once")
        return self
