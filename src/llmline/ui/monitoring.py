"""Monitoring: per served model, traffic, latency, errors, labels against the reference, drift
over time and alerts; and the finance monitor's per-entity sentiment and surge alerts.

Served-model pages read the console's hourly roll-ups (`ui.rollup`), never scan the request
table; the finance pages read the watch tables (`watch_series` is already per entity and bucket,
`watch_alerts` is indexed by time).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from llmline.ui import charts
from llmline.ui.app import NotFound, render
from llmline.ui.rollup import Agg, Rollup, coarsen, ks_binned
from llmline.ui.text import redact

router = APIRouter()
_REFRESH_EVERY_S = 2.0
MIN_DRIFT_REQUESTS = 30


def store_url(request: Request) -> str:
    config = request.app.state.config
    return config.monitor_url or f"sqlite:///{request.app.state.workspace.monitor_db}"


def rollup_without_refresh(request: Request) -> Rollup:
    cache = request.app.state.cache
    if "rollup" not in cache:
        cache["rollup"] = Rollup(
            request.app.state.workspace.root / "console.db", store_url(request)
        )
        cache["rollup_at"] = 0.0
    folded: Rollup = cache["rollup"]
    return folded


def rollup(request: Request) -> Rollup:
    """The roll-ups, with the store's new rows folded in (at most every couple of seconds; not
    while another fold runs: the page then shows what is folded so far)."""
    cache = request.app.state.cache
    folded = rollup_without_refresh(request)
    if time.monotonic() - cache["rollup_at"] > _REFRESH_EVERY_S:
        folded.refresh(wait=False)
        cache["rollup_at"] = time.monotonic()
    return folded


def alert_log(request: Request, model: str | None = None, last: int = 200) -> list[dict[str, Any]]:
    path = request.app.state.workspace.root / "alerts.jsonl"
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[-5000:]:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and (model is None or event.get("model") in (None, model)):
            events.append(event)
    return events[-last:][::-1]


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_page(request: Request) -> Response:
    models = rollup(request).models()
    return render(
        request,
        "monitoring.html",
        folding=rollup(request).folding,
        models=models,
        alerts=alert_log(request),
        finance=_watch_tables(request),
    )


@router.get("/monitoring/model", response_class=HTMLResponse)
def model_page(request: Request, ref: str, days: float = 7.0) -> Response:
    folded = rollup(request)
    found = next((m for m in folded.models() if m["model_ref"] == ref), None)
    if found is None:
        raise NotFound(
            f"no served requests of model {ref!r} in the monitoring store",
            fix="pick a model at /monitoring",
        )
    days = min(max(days, 1 / 24), 3650.0)
    newest = float(found["last"]) + 3600  # ranges end at the model's newest hour, not at now
    buckets = folded.buckets(ref, newest - days * 86400)
    if days > 4:
        buckets = coarsen(buckets, 86400)
    reference = reference_for(request, ref)
    total = Agg()
    for _, agg in buckets:
        total.merge(agg)
    return render(
        request,
        "model.html",
        folding=folded.folding,
        ref=ref,
        days=days,
        total=total,
        traffic_svg=charts.line_chart(
            {"requests": [(b, a.requests) for b, a in buckets]}, x_is_time=True, y_label="requests"
        ),
        latency_svg=charts.line_chart(
            {
                "mean ms": [(b, a.latency_sum / max(a.requests, 1)) for b, a in buckets],
                "p99 ms": [(b, a.latency_quantile(0.99)) for b, a in buckets],
            },
            x_is_time=True,
            y_label="ms",
        ),
        errors_svg=charts.line_chart(
            {"error rate": [(b, a.errors / max(a.requests, 1)) for b, a in buckets]},
            x_is_time=True,
            y_label="share",
        ),
        labels_svg=_label_bars(total.labels, reference),
        drift=drift_series(buckets, reference),
        has_reference=reference is not None,
        alerts=alert_log(request, ref),
        now=_alerts_now(request, reference),
        recent=_recent(request, ref),
    )


def _label_bars(current: Counter[str], reference: Any) -> str:
    ref_counts = dict(reference.label_counts) if reference is not None else {}
    labels = [lb for lb, _ in (current + Counter(ref_counts)).most_common(15)]
    share = lambda counts, lb: counts.get(lb, 0) / max(sum(counts.values()), 1)  # noqa: E731
    groups = {"served": [share(current, lb) for lb in labels]}
    if ref_counts:
        groups["reference"] = [share(ref_counts, lb) for lb in labels]
    return charts.bar_chart(groups, labels)


def drift_series(buckets: list[tuple[int, Agg]], reference: Any) -> dict[str, Any]:
    """PSI, chi-square p and binned KS on confidence for each bucket with enough traffic."""
    if reference is None:
        return {"svg": "", "rows": []}
    from scipy.stats import chi2_contingency

    labels, rows = list(reference.labels), []
    expected = [max(reference.label_counts.get(lb, 0), 0) for lb in labels]
    for bucket, agg in buckets:
        served = sum(agg.labels.values())
        if served < MIN_DRIFT_REQUESTS:
            continue
        actual = [agg.labels.get(lb, 0) for lb in labels]
        psi = sum(
            (a - e) * math.log(a / e)
            for a, e in zip(_shares(actual), _shares(expected), strict=True)
        )
        kept = [i for i in range(len(labels)) if actual[i] + expected[i]]
        chi2_p = 1.0
        if len(kept) > 1:
            chi2_p = float(
                chi2_contingency([[expected[i] for i in kept], [actual[i] for i in kept]]).pvalue
            )
        ks, ks_p = ks_binned(list(reference.confidence), agg.confidence)
        rows.append(
            {
                "bucket": bucket,
                "requests": served,
                "psi": psi,
                "chi2_p": chi2_p,
                "ks": ks,
                "ks_p": ks_p,
            }
        )
    svg = charts.line_chart(
        {
            "psi": [(r["bucket"], r["psi"]) for r in rows],
            "ks (confidence)": [(r["bucket"], r["ks"]) for r in rows],
            "chi2 p": [(r["bucket"], r["chi2_p"]) for r in rows],
        },
        x_is_time=True,
        y_label="value",
    )
    return {"svg": svg if rows else "", "rows": rows[::-1][:48]}


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts) or 1
    return [max(c / total, 1e-4) for c in counts]


def reference_for(request: Request, ref: str) -> Any:
    """The drift reference of a served model: its run's `monitor/` (registry tag or run path)."""
    cache = request.app.state.cache.setdefault("references", {})
    if ref in cache:
        return cache[ref]
    directory: Path | None = None
    if ref.startswith("models:/"):
        from llmline.ui.registry import versions

        body = ref.removeprefix("models:/")
        name, _, rest = body.partition("@") if "@" in body else body.partition("/")
        for row in versions(request):
            if row["name"] == name and (rest in row["aliases"] or rest == row["version"]):
                run_dir = row["tags"].get("llmline.run_dir")
                directory = Path(run_dir) / "monitor" if run_dir else None
    else:
        path = Path(ref)
        directory = next(
            (d for d in (path / "monitor", path.parent / "monitor") if d.is_dir()), None
        )
    found = None
    if directory is not None and (directory / "reference.json").is_file():
        from llmline.monitor.reference import Reference

        found = Reference.load(directory)
    cache[ref] = found
    return found


def _alerts_now(request: Request, reference: Any) -> list[Any]:
    """The rules of `--rules` evaluated over the store now (operational and label drift only)."""
    path = request.app.state.config.extra.get("rules")
    if not path:
        return []
    from llmline.monitor.alerts import evaluate_rules, load_rules
    from llmline.monitor.store import MonitorStore

    store = request.app.state.cache.get("store") or MonitorStore(store_url(request))
    request.app.state.cache["store"] = store
    return evaluate_rules(load_rules(Path(path)), store, reference)


def _recent(request: Request, ref: str, last: int = 20) -> list[dict[str, Any]]:
    from sqlalchemy import text

    engine = rollup(request)._store()
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ts, status, latency_ms, label, confidence, text_redacted FROM requests "
                "WHERE id > (SELECT max(id) FROM requests) - 20000 AND model_ref = :ref "
                "ORDER BY id DESC LIMIT :n"
            ),
            {"ref": ref, "n": last},
        ).fetchall()
    return [{**dict(r._mapping), "text": redact(r.text_redacted)} for r in rows]


def _watch_tables(request: Request) -> bool:
    from sqlalchemy import inspect

    folded = rollup(request)
    return folded.store_exists() and bool(inspect(folded._store()).has_table("watch_series"))


@router.get("/finance", response_class=HTMLResponse)
def finance_page(request: Request, entity: str = "", days: float = 30.0) -> Response:
    from sqlalchemy import text

    if not _watch_tables(request):
        return render(
            request,
            "finance.html",
            entities=[],
            entity="",
            svg="",
            volume_svg="",
            alerts=[],
            days=days,
            missing=True,
        )
    engine = rollup(request)._store()
    with engine.connect() as conn:
        entities = conn.execute(
            text(
                "SELECT entity, sum(volume) v, sum(negative) n FROM watch_series GROUP BY entity "
                "ORDER BY v DESC LIMIT 200"
            )
        ).fetchall()
        names = [e[0] for e in entities]
        if entity and entity not in names:
            raise NotFound(f"no series for entity {entity!r}", fix="pick one from the list")
        entity = entity or (names[0] if names else "")
        top = (
            conn.execute(
                text("SELECT max(bucket) FROM watch_series WHERE entity=:e"), {"e": entity}
            ).scalar()
            or 0
        )
        series = conn.execute(
            text(
                "SELECT bucket, volume, negative, neutral, positive, score_sum FROM watch_series "
                "WHERE entity=:e AND bucket>=:s ORDER BY bucket"
            ),
            {"e": entity, "s": top - days * 86400},
        ).fetchall()
        alerts = conn.execute(
            text(
                "SELECT ts, entity, rule, metric, value, baseline, p_value, posts "
                "FROM watch_alerts "
                "ORDER BY ts DESC LIMIT 100"
            )
        ).fetchall()
    shares = {
        name: [(r.bucket, getattr(r, name) / max(r.volume, 1)) for r in series]
        for name in ("negative", "neutral", "positive")
    }
    return render(
        request,
        "finance.html",
        entities=entities,
        entity=entity,
        days=days,
        missing=False,
        svg=charts.line_chart(shares, x_is_time=True, y_label="share"),
        volume_svg=charts.line_chart(
            {"posts": [(r.bucket, r.volume) for r in series]}, x_is_time=True, y_label="posts"
        ),
        alerts=[dict(a._mapping) for a in alerts],
    )
