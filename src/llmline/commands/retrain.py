"""`llmline retrain`: champion vs challenger on old + new data, promote or keep, roll back."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from llmline.commands.pipeline import add_workspace_argument
from llmline.console import console


def register(verbs: Any) -> None:
    retrain = verbs.add_parser("retrain", help="train a challenger on new data; promote if better")
    retrain.add_argument("--model", required=True, help="the champion, models:/NAME@champion")
    retrain.add_argument(
        "--new-data", type=Path, required=True, help="new labelled rows (.csv/.tsv/.jsonl/.parquet)"
    )
    retrain.add_argument(
        "--auto",
        action="store_true",
        help="only re-train when retrain.min_new_rows is reached or one of "
        "retrain.on_alerts fired since the last re-training",
    )
    retrain.add_argument(
        "--alert-log",
        type=Path,
        default=None,
        help="alerts JSONL to check with --auto (default <workspace>/alerts.jsonl)",
    )
    retrain.add_argument("--old-tolerance", type=float, default=None)
    retrain.add_argument("--replay-fraction", type=float, default=None)
    add_workspace_argument(retrain)
    retrain.set_defaults(handler=cmd_retrain)


def _config(args: argparse.Namespace, workspace: Any) -> tuple[Any, dict[str, Any]]:
    import yaml

    from llmline.registry.store import get_version
    from llmline.spec import RetrainSpec

    tags = get_version(workspace, args.model).tags
    spec_path = Path(tags.get("llmline.run_dir", "")) / "spec.yaml"
    raw = yaml.safe_load(spec_path.read_text(encoding="utf-8")) if spec_path.exists() else {}
    block = dict(raw.get("retrain") or {})
    for key in ("old_tolerance", "replay_fraction"):
        if getattr(args, key) is not None:
            block[key] = getattr(args, key)
    return RetrainSpec.model_validate(block), raw


def trigger_reason(config: Any, new_rows: int, alert_log: Path, since: float) -> str | None:
    """Why an automatic re-training should run now, or None."""
    if new_rows >= config.min_new_rows:
        return f"{new_rows} new labelled rows (>= {config.min_new_rows})"
    if alert_log.exists() and config.on_alerts:
        for line in alert_log.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event.get("rule") in config.on_alerts and event.get("ts", 0) > since:
                return f"alert {event['rule']} fired"
    return None


def _last_retrain(workspace: Any, name: str) -> float:
    if not workspace.audit_log.exists():
        return 0.0
    last = 0.0
    for line in workspace.audit_log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("event") == "retrain_decided" and entry.get("name") == name:
            last = time.mktime(time.strptime(entry["ts"][:19], "%Y-%m-%dT%H:%M:%S"))
    return last


def cmd_retrain(args: argparse.Namespace) -> int:
    from llmline.errors import RegistryError
    from llmline.monitor.retrain import read_labelled, retrain
    from llmline.workspace import Workspace

    workspace = Workspace.resolve(args.workspace)
    if "@" not in args.model:
        raise RegistryError(
            f"{args.model!r} is not an alias reference",
            fix="pass the champion as models:/NAME@champion",
        )
    config, raw = _config(args, workspace)
    name, alias = args.model.removeprefix("models:/").split("@")
    if args.auto:
        source = (raw.get("data") or {}).get("source") or {}
        rows = len(
            read_labelled(
                args.new_data,
                source.get("text_column", "text"),
                source.get("label_column") or "label",
            )
        )
        reason = trigger_reason(
            config,
            rows,
            args.alert_log or workspace.root / "alerts.jsonl",
            _last_retrain(workspace, name),
        )
        if reason is None:
            console.print("[bold]retrain[/]: no trigger (too few new rows, no watched alert)")
            return 0
        console.print(f"[bold]retrain[/]: triggered by {reason}")
    result = retrain(workspace, args.model, args.new_data, config=config, alias=alias)
    console.print(f"report: {result.report_dir}/report.md")
    return 0
