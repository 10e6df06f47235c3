"""`llmline watch`: entity-level sentiment over a stream of posts, surge alerts, a daily brief.

llmline watch SPEC                              watch the spec's directories and HTTP
llmline watch SPEC --replay FILE --speed N|max  replay a dated file, then exit
llmline watch alerts SPEC [--json]              list alerts with entity, rule, window, posts
llmline watch report SPEC [--date D]            write the daily brief (Markdown + HTML)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llmline.commands.pipeline import add_var_argument, add_workspace_argument
from llmline.console import console
from llmline.errors import SpecError

ACTIONS = ("alerts", "report")


def register(verbs: Any) -> None:
    watch = verbs.add_parser(
        "watch",
        help="financial opinion monitor: entity sentiment, surge alerts, daily brief",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    watch.add_argument("target", help="the watch SPEC, or an action: alerts, report")
    watch.add_argument("spec", nargs="?", type=Path, help="the watch SPEC after an action")
    watch.add_argument("--replay", type=Path, default=None, help="dated JSONL/CSV to replay")
    watch.add_argument(
        "--speed", default="max", help="replay speed: N x real time, or max (default)"
    )
    watch.add_argument("--once", action="store_true", help="read the directories once and exit")
    watch.add_argument("--json", action="store_true", help="alerts: print JSON on stdout")
    watch.add_argument("--date", default=None, help="report: YYYY-MM-DD (UTC; default latest)")
    watch.add_argument("--out", type=Path, default=None, help="report: output directory")
    add_var_argument(watch)
    add_workspace_argument(watch)
    watch.set_defaults(handler=cmd_watch)


def _parse_speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        speed = -1.0
    if not speed > 0:
        raise SpecError(f"--speed {text!r} is not a positive number or max", fix="e.g. --speed 60")
    return speed


def cmd_watch(args: argparse.Namespace) -> int:
    action = args.target if args.target in ACTIONS and args.spec is not None else None
    spec_path = args.spec if action else Path(args.target)
    if action is None and args.spec is not None:
        raise SpecError(
            f"unexpected {str(args.spec)!r} after the spec",
            fix="llmline watch SPEC | watch alerts SPEC | watch report SPEC",
        )
    from llmline.spec import parse_vars
    from llmline.watch.runner import load_watch_spec
    from llmline.workspace import Workspace

    spec = load_watch_spec(spec_path, parse_vars(args.var))
    workspace = Workspace.resolve(args.workspace)
    if action == "alerts":
        return _alerts(spec, workspace, as_json=args.json)
    if action == "report":
        return _report(spec, workspace, args.date, args.out)
    return _run(spec, workspace, args)


def _run(spec: Any, workspace: Any, args: argparse.Namespace) -> int:
    from llmline.watch.runner import build_stream, run_live

    _log_to_console()
    if args.replay is not None:
        from llmline.watch.ingest import replay_posts
        from llmline.watch.stream import replay

        speed = _parse_speed(args.speed)
        batch = replay_posts(
            args.replay, text_column=spec.text_column, time_column=spec.time_column
        )
        stream = build_stream(spec, workspace)
        report = replay(stream, batch, speed)
        console.print(
            f"[bold]watch replay[/]: {report.received} posts, {report.folded} folded, "
            f"{len(batch.malformed)} malformed, {report.without_entity} without entity, "
            f"{report.links} entity links, {len(report.alerts)} alert(s)"
        )
        return 0
    stream = build_stream(spec, workspace)
    run_live(stream, once=args.once)
    counts = dict(stream.counts)
    console.print(f"[bold]watch[/]: {json.dumps(counts)}")
    return 0


def _log_to_console() -> None:
    import logging

    from rich.logging import RichHandler

    logger = logging.getLogger("llmline.watch")
    if not logger.handlers:
        logger.addHandler(RichHandler(console=console, show_path=False))
        logger.setLevel(logging.INFO)


def _alerts(spec: Any, workspace: Any, *, as_json: bool) -> int:
    from llmline.watch.notify import iso
    from llmline.watch.runner import watch_store

    store = watch_store(spec, workspace)
    listed = []
    for alert in store.alerts():
        posts = store.posts(alert["post_ids"])
        listed.append(
            {"id": alert["id"], "entity": alert["entity"], "rule": alert["rule"],
             "metric": alert["metric"], "time": iso(alert["ts"]),
             "window": {"start": iso(alert["window_start"]), "end": iso(alert["window_end"])},
             "value": alert["value"], "baseline": alert["baseline"], "p_value": alert["p_value"],
             "window_posts": alert["posts"],
             "posts": [{"id": p["id"], "time": iso(p["ts"]), "text": p["text_redacted"]}
                       for p in posts]}
        )  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(listed, ensure_ascii=False, indent=2) + "\n")
        return 0
    for a in listed:
        console.print(
            f"{a['time']}  {a['entity']}  {a['rule']}  {a['metric']}={a['value']:.3g} "
            f"(baseline {a['baseline']:.3g}, p={a['p_value']:.2g}, {a['window_posts']} posts)"
        )
    console.print(f"[bold]watch alerts[/]: {len(listed)}")
    return 0


def _report(spec: Any, workspace: Any, day_text: str | None, out: Path | None) -> int:
    from llmline.watch.report import build_brief, default_day, parse_day
    from llmline.watch.runner import watch_store

    store = watch_store(spec, workspace)
    day = parse_day(day_text) if day_text else default_day(store)
    out_dir = out or workspace.root / "watch" / "briefs" / day.isoformat()
    summary = build_brief(store, day, out_dir)
    console.print(
        f"[bold]watch report[/]: {summary['posts']} posts, {len(summary['alerts'])} alert(s) "
        f"on {day.isoformat()} — {out_dir / 'brief.html'}"
    )
    return 0
