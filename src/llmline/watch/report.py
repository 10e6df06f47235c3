"""`llmline watch report`: the daily brief, Markdown + HTML (charts embedded as data URIs).

For one UTC day: per-entity volume and sentiment per bucket, the day's alerts with the posts
behind them, the most negative posts (stored redacted, so shown redacted) and the model
versions that judged them, so a reader can tell which model said what. Chart titles stay in
ASCII and entity names go into the headings, because a server rarely has CJK fonts for
matplotlib and a box-filled title helps no one.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from llmline.errors import DataError
from llmline.lineage import write_json_atomic, write_text_atomic
from llmline.watch.notify import iso
from llmline.watch.store import TOTAL, WatchStore

_TOP_ENTITIES = 12
_NEGATIVE_POSTS = 10
_ALERT_POSTS = 5


def day_bounds(day: date) -> tuple[float, float]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    return start, start + 86400


def default_day(store: WatchStore) -> date:
    """The day of the newest stored post (today for a live stream, the replayed day after one)."""
    latest = store.latest_link_ts()
    if latest is None:
        return datetime.now(UTC).date()
    return datetime.fromtimestamp(latest, UTC).date()


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DataError(
            f"--date {text!r} is not YYYY-MM-DD", fix="e.g. --date 2026-11-30"
        ) from None


def build_brief(store: WatchStore, day: date, out_dir: Path) -> dict[str, Any]:
    """Write brief.md, brief.html, brief.json and one PNG per entity; returns the summary."""
    start, end = day_bounds(day)
    series = store.series(since=start, until=end)
    by_entity: dict[str, list[dict[str, Any]]] = {}
    for row in series:
        by_entity.setdefault(row["entity"], []).append(row)
    ranked = sorted(
        (e for e in by_entity if e != TOTAL), key=lambda e: -sum(r["volume"] for r in by_entity[e])
    )
    shown = ([TOTAL] if TOTAL in by_entity else []) + ranked[:_TOP_ENTITIES]
    out_dir.mkdir(parents=True, exist_ok=True)
    links = store.links(since=start, until=end)
    summary = {
        "date": day.isoformat(),
        "generated": iso(datetime.now(UTC).timestamp()),
        "entities": [_entity_summary(e, by_entity[e]) for e in shown],
        "alerts": _alerts(store, start, end),
        "most_negative": _most_negative(store, start, end),
        "models": dict(Counter(link["model_version"] for link in links).most_common()),
        "posts": store_posts_of_day(series),
    }
    charts = {
        e: _chart(by_entity[e], start, out_dir / f"entity-{i}.png") for i, e in enumerate(shown)
    }
    write_json_atomic(out_dir / "brief.json", summary)
    write_text_atomic(
        out_dir / "brief.md", _markdown(summary, {e: p.name for e, p in charts.items()})
    )
    write_text_atomic(out_dir / "brief.html", _html(summary, charts))
    return summary


def store_posts_of_day(series: list[dict[str, Any]]) -> int:
    return sum(row["volume"] for row in series if row["entity"] == TOTAL)


def _entity_summary(entity: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    volume = sum(r["volume"] for r in rows) or 1
    return {
        "entity": "all posts" if entity == TOTAL else entity,
        "volume": sum(r["volume"] for r in rows),
        "negative_share": round(sum(r["negative"] for r in rows) / volume, 4),
        "neutral_share": round(sum(r["neutral"] for r in rows) / volume, 4),
        "positive_share": round(sum(r["positive"] for r in rows) / volume, 4),
        "mean_score": round(sum(r["score_sum"] for r in rows) / volume, 4),
    }


def _alerts(store: WatchStore, start: float, end: float) -> list[dict[str, Any]]:
    out = []
    for alert in store.alerts(since=start, until=end):
        posts = store.posts(alert["post_ids"][-_ALERT_POSTS:])
        out.append(
            {"entity": alert["entity"], "rule": alert["rule"], "metric": alert["metric"],
             "time": iso(alert["ts"]),
             "window": [iso(alert["window_start"]), iso(alert["window_end"])],
             "value": round(alert["value"], 4), "baseline": round(alert["baseline"], 4),
             "p_value": alert["p_value"], "posts": alert["posts"],
             "examples": [p["text_redacted"] for p in posts]}
        )  # fmt: skip
    return out


def _most_negative(store: WatchStore, start: float, end: float) -> list[dict[str, Any]]:
    rows = store.links(since=start, until=end, most_negative=_NEGATIVE_POSTS)
    return [
        {"time": iso(r["ts"]), "entity": r["entity"], "score": r["score"], "label": r["label"],
         "text": r["text_redacted"], "model": r["model_version"]}
        for r in rows
    ]  # fmt: skip


def _chart(rows: list[dict[str, Any]], day_start: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [(r["bucket"] - day_start) / 3600 for r in rows]
    width = (hours[1] - hours[0]) * 0.8 if len(hours) > 1 else 0.2
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True)
    top.bar(hours, [r["volume"] for r in rows], width=max(width, 0.05), color="#4a7ab5")
    top.set_ylabel("posts")
    top.set_title("volume per bucket")
    bottom.plot(hours, [r["negative_share"] for r in rows], "r.-", label="negative share")
    bottom.plot(hours, [r["mean_score"] for r in rows], "g.-", label="mean score")
    bottom.axhline(0, color="grey", linewidth=0.5)
    bottom.set_ylim(-1.05, 1.05)
    bottom.set_xlim(0, 24)
    bottom.set_xlabel("hour (UTC)")
    bottom.legend(loc="lower left", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def _markdown(summary: dict[str, Any], charts: dict[str, str]) -> str:
    lines = [f"# Daily brief {summary['date']}", "", f"Generated {summary['generated']}.", ""]
    lines += [
        "| entity | posts | negative | neutral | positive | mean score |",
        "|---|---|---|---|---|---|",
    ]
    for e in summary["entities"]:
        lines.append(
            f"| {_md(e['entity'])} | {e['volume']} | {e['negative_share']:.1%} | "
            f"{e['neutral_share']:.1%} | {e['positive_share']:.1%} | {e['mean_score']:+.3f} |"
        )
    lines += ["", "## Alerts", ""]
    for a in summary["alerts"] or []:
        lines.append(
            f"- **{_md(a['entity'])}** `{a['rule']}` at {a['time']}: {a['metric']} "
            f"{a['value']:.3g} vs baseline {a['baseline']:.3g} (p={a['p_value']:.2g}, "
            f"{a['posts']} posts, window {a['window'][0]}..{a['window'][1]})"
        )
        lines += [f"  - {_md(text)}" for text in a["examples"]]
    if not summary["alerts"]:
        lines.append("No alerts.")
    lines += ["", "## Most negative posts", ""]
    lines += [
        f"- {p['score']:+.2f} {_md(p['entity'])}: {_md(p['text'])}"
        for p in summary["most_negative"]
    ]
    lines += ["", "## Models", ""]
    lines += [f"- {_md(model)}: {count} judgements" for model, count in summary["models"].items()]
    lines += ["", "## Charts", ""]
    lines += [f"### {_md(entity)}\n\n![{_md(entity)}]({name})\n" for entity, name in charts.items()]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _html(summary: dict[str, Any], charts: dict[str, Path]) -> str:
    esc = html.escape
    table = "".join(
        f"<tr><td>{esc(e['entity'])}</td><td>{e['volume']}</td><td>{e['negative_share']:.1%}</td>"
        f"<td>{e['neutral_share']:.1%}</td><td>{e['positive_share']:.1%}</td>"
        f"<td>{e['mean_score']:+.3f}</td></tr>"
        for e in summary["entities"]
    )
    alerts = (
        "".join(
            f"<li><b>{esc(a['entity'])}</b> <code>{esc(a['rule'])}</code> at {a['time']}: "
            f"{esc(a['metric'])} {a['value']:.3g} vs baseline {a['baseline']:.3g} "
            f"(p={a['p_value']:.2g}, {a['posts']} posts)<ul>"
            + "".join(f"<li>{esc(t)}</li>" for t in a["examples"])
            + "</ul></li>"
            for a in summary["alerts"]
        )
        or "<li>No alerts.</li>"
    )
    negative = "".join(
        f"<li>{p['score']:+.2f} <b>{esc(p['entity'])}</b>: {esc(p['text'])}</li>"
        for p in summary["most_negative"]
    )
    models = "".join(f"<li>{esc(m)}: {n} judgements</li>" for m, n in summary["models"].items())
    images = "".join(
        f"<h3>{esc(entity)}</h3><img alt='{esc(entity)}' src='data:image/png;base64,"
        f"{base64.b64encode(path.read_bytes()).decode()}'>"
        for entity, path in charts.items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Daily brief {summary['date']}"
        f"</title></head><body><h1>Daily brief {summary['date']}</h1>"
        f"<p>Generated {summary['generated']}</p><table border=1><tr><th>entity</th><th>posts</th>"
        f"<th>negative</th><th>neutral</th><th>positive</th><th>mean score</th></tr>{table}</table>"
        f"<h2>Alerts</h2><ul>{alerts}</ul><h2>Most negative posts</h2><ul>{negative}</ul>"
        f"<h2>Models</h2><ul>{models}</ul><h2>Charts</h2>{images}</body></html>"
    )
