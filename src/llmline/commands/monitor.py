"""`llmline monitor`: reference statistics, alert checks, reports and retention of the store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from llmline.commands.pipeline import add_workspace_argument
from llmline.console import console


def register(verbs: Any) -> None:
    monitor = verbs.add_parser("monitor", help="drift, alerts and reports over served traffic")
    actions = monitor.add_subparsers(dest="action", metavar="ACTION", required=True)
    reference = actions.add_parser("reference", help="capture a model's drift reference")
    _model_args(reference)
    reference.add_argument(
        "--data", type=Path, required=True, help="validation snapshot (.parquet with text,label)"
    )
    reference.set_defaults(handler=cmd_reference)
    check = actions.add_parser("check", help="evaluate alert rules once and deliver alerts")
    _model_args(check)
    check.add_argument("--rules", type=Path, required=True, help="YAML with rules: [...]")
    check.set_defaults(handler=cmd_check)
    report = actions.add_parser("report", help="write an HTML/Markdown drift report with plots")
    _model_args(report)
    report.add_argument("--rules", type=Path, default=None, help="alert rules to include")
    report.add_argument("--window", default="1h", help="'1h', '2d' or '500' (last requests)")
    report.add_argument("--out", type=Path, default=None, help="default <workspace>/reports/")
    report.set_defaults(handler=cmd_report)
    purge = actions.add_parser("purge", help="delete requests older than the retention period")
    add_workspace_argument(purge)
    purge.add_argument("--store", default=None, help="SQLAlchemy URL (default the workspace's)")
    purge.add_argument("--days", type=float, required=True)
    purge.set_defaults(handler=cmd_purge)


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="the served model reference")
    parser.add_argument("--store", default=None, help="SQLAlchemy URL (default the workspace's)")
    add_workspace_argument(parser)


def _context(args: argparse.Namespace) -> tuple[Any, Any, Path, Any]:
    """Workspace, predictor, model dir and (run dir or None) for a model reference."""
    from llmline.models.backend import load_serving_predictor
    from llmline.models.resolve import resolve_model
    from llmline.serve.runner import model_info
    from llmline.workspace import Workspace

    workspace = Workspace.resolve(args.workspace)
    model_dir = resolve_model(args.model, workspace)
    run_dir = model_info(args.model, workspace).get("run_dir")
    return (
        workspace,
        load_serving_predictor(model_dir),
        model_dir,
        Path(run_dir) if run_dir else None,
    )


def _store(args: argparse.Namespace, workspace: Any) -> Any:
    from llmline.monitor.store import open_store, store_url

    return open_store(store_url(args.store, workspace.monitor_db))


def cmd_reference(args: argparse.Namespace) -> int:
    from llmline.monitor.reference import ensure_reference, reference_dir

    workspace, predictor, model_dir, run_dir = _context(args)
    reference = ensure_reference(predictor, model_dir, workspace, run_dir=run_dir, data=args.data)
    console.print(
        f"[bold]monitor reference[/]: {sum(reference.label_counts.values())} rows -> "
        f"{reference_dir(model_dir, workspace, run_dir)}"
    )
    return 0


def _reference_or_none(predictor: Any, model_dir: Path, workspace: Any, run_dir: Any) -> Any:
    from llmline.errors import DataError
    from llmline.monitor.reference import ensure_reference

    try:
        return ensure_reference(predictor, model_dir, workspace, run_dir=run_dir)
    except DataError as exc:
        console.print(f"[yellow]no drift reference[/]: {exc.message}")
        return None


def cmd_check(args: argparse.Namespace) -> int:
    """Exit code 1 when an alert fires, so cron and CI can act on it."""
    from llmline.models.embedding import embed_texts
    from llmline.monitor.alerts import deliver, evaluate_rules, load_rules

    spec = load_rules(args.rules)
    workspace, predictor, model_dir, run_dir = _context(args)
    reference = _reference_or_none(predictor, model_dir, workspace, run_dir)
    results = evaluate_rules(
        spec, _store(args, workspace), reference, lambda texts: embed_texts(predictor, texts)
    )
    firing = [r for r in results if r.firing]
    deliver(firing, spec, workspace, model=args.model)
    for r in results:
        value = "n/a" if r.value is None else f"{r.value:.4g}"
        state = "[red]FIRING[/]" if r.firing else "ok"
        console.print(
            f"  {r.rule}: {r.metric}={value} ({r.op} {r.threshold}, {r.window}, "
            f"{r.requests} requests) {state} {r.note}"
        )
    console.print(f"[bold]monitor check[/]: {len(firing)} of {len(results)} rules firing")
    return 1 if firing else 0


def cmd_report(args: argparse.Namespace) -> int:
    import time

    from llmline.models.embedding import embed_texts
    from llmline.monitor.alerts import evaluate_rules, load_rules, parse_window
    from llmline.monitor.drift import Window
    from llmline.monitor.report import build_report

    workspace, predictor, model_dir, run_dir = _context(args)
    reference = _reference_or_none(predictor, model_dir, workspace, run_dir)
    store = _store(args, workspace)
    seconds, last = parse_window(args.window)
    rows = store.rows(last=last) if last else store.rows(since=time.time() - (seconds or 0))
    embed = lambda texts: embed_texts(predictor, texts)  # noqa: E731
    alerts = evaluate_rules(load_rules(args.rules), store, reference, embed) if args.rules else []
    out = args.out or workspace.root / "reports" / time.strftime("%Y%m%d-%H%M%S")
    build_report(
        Window(rows, embed=embed),
        reference,
        alerts,
        out,
        title=f"Monitoring report: {args.model}, window {args.window}",
    )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from llmline.workspace import Workspace

    workspace = Workspace.resolve(args.workspace)
    removed = _store(args, workspace).purge(args.days)
    console.print(f"[bold]monitor purge[/]: {removed} requests older than {args.days} days removed")
    return 0
