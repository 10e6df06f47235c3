"""`llmline audit`: verify the hash chain of the audit log and show its entries."""

from __future__ import annotations

import argparse
import json
from typing import Any

from llmline.commands.pipeline import add_workspace_argument
from llmline.console import console


def register(verbs: Any) -> None:
    audit = verbs.add_parser("audit", help="verify and read the hash-chained audit log")
    actions = audit.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = actions.add_parser("verify", help="check the chain; name the first broken entry")
    add_workspace_argument(verify)
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON")
    verify.set_defaults(handler=cmd_verify)

    show = actions.add_parser("show", help="list entries, filtered")
    add_workspace_argument(show)
    show.add_argument("--event", default=None, help="event name or prefix, e.g. alias_moved")
    show.add_argument("--since", default=None, help="ISO time, e.g. 2026-11-22T10:00")
    show.add_argument("--until", default=None, help="ISO time")
    show.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="keep entries whose field equals value (repeatable), e.g. name=banking77-intents",
    )
    show.add_argument("--last", type=int, default=None, help="only the last N matches")
    show.add_argument("--json", action="store_true", help="print JSON lines")
    show.set_defaults(handler=cmd_show)


def cmd_verify(args: argparse.Namespace) -> int:
    from llmline.govern.audit import verify_log
    from llmline.workspace import Workspace

    log = Workspace.resolve(args.workspace).audit_log
    verdict = verify_log(log)
    if args.json:
        print(json.dumps(verdict.as_dict()))
    for warning in verdict.warnings:
        console.print(f"[yellow]warning[/]: {warning}")
    if verdict.ok:
        console.print(f"[green]ok[/]: {log} — {verdict.entries} entries, chain intact")
        return 0
    console.print(
        f"[red]BROKEN[/]: {log}: entry at line {verdict.broken_line}: {verdict.reason} "
        "(this entry or the one before it was edited, removed or moved)"
    )
    return 1


def cmd_show(args: argparse.Namespace) -> int:
    from rich.table import Table

    from llmline.errors import SpecError
    from llmline.govern.audit import filter_entries, read_entries
    from llmline.workspace import Workspace

    where = {}
    for pair in args.where:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SpecError(f"--where {pair!r} is not FIELD=VALUE", fix="e.g. --where version=3")
        where[key] = value
    log = Workspace.resolve(args.workspace).audit_log
    entries = filter_entries(
        read_entries(log),
        event=args.event,
        since=args.since,
        until=args.until,
        where=where,
        last=args.last,
    )
    if args.json:
        for entry in entries:
            print(json.dumps(entry, ensure_ascii=False, sort_keys=True))
        return 0
    table = Table("line", "time", "event", "details")
    for entry in entries:
        details = {k: v for k, v in entry.items() if k not in ("line", "ts", "event", "prev")}
        table.add_row(
            str(entry["line"]),
            str(entry.get("ts", "")),
            str(entry.get("event", "")),
            json.dumps(details, ensure_ascii=False, sort_keys=True)[:160],
        )
    console.print(table if entries else f"no matching entries in {log}")
    return 0
