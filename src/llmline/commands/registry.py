"""Registry verbs: list versions and aliases."""

from __future__ import annotations

import argparse
from typing import Any

from llmline.commands.pipeline import add_workspace_argument
from llmline.console import console


def register(verbs: Any) -> None:
    registry = verbs.add_parser("registry", help="model versions and aliases (MLflow)")
    actions = registry.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every registered version with aliases and lineage")
    add_workspace_argument(listing)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=cmd_list)
    add_promote_action(actions)
    add_rollback_action(actions)


def add_promote_action(actions: Any) -> None:
    promote = actions.add_parser("promote", help="move an alias (champion) if the gates pass")
    promote.add_argument("name", help="registered model name")
    promote.add_argument("version", help="version number")
    promote.add_argument("--alias", default="champion", help="alias to move (default champion)")
    promote.add_argument(
        "--override", default=None, metavar="REASON",
        help="move it although gates failed; the reason goes to the audit log",
    )  # fmt: skip
    add_workspace_argument(promote)
    promote.set_defaults(handler=cmd_promote)


def cmd_promote(args: argparse.Namespace) -> int:
    from llmline.registry.promote import promote
    from llmline.workspace import Workspace

    result = promote(Workspace.resolve(args.workspace), args.name, args.version,
                     alias=args.alias, override=args.override)  # fmt: skip
    note = f" OVERRIDING {len(result['failed_gates'])} failed gate(s)" if args.override else ""
    console.print(f"[bold]promote[/]: {args.name} v{args.version} is now @{args.alias}{note}")
    return 0


def add_rollback_action(actions: Any) -> None:
    rollback = actions.add_parser("rollback", help="undo the last retrain promotion of an alias")
    rollback.add_argument("name", help="registered model name")
    rollback.add_argument("--alias", default="champion", help="alias to move back")
    add_workspace_argument(rollback)
    rollback.set_defaults(handler=cmd_rollback)


def cmd_rollback(args: argparse.Namespace) -> int:
    from llmline.monitor.retrain import rollback
    from llmline.workspace import Workspace

    undone, restored = rollback(Workspace.resolve(args.workspace), args.name, args.alias)
    console.print(f"[bold]rollback[/]: {args.name} @{args.alias} v{undone} -> v{restored}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    import json

    from rich.table import Table

    from llmline.registry.store import list_versions
    from llmline.workspace import Workspace

    rows = list_versions(Workspace.resolve(args.workspace))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table("name", "version", "aliases", "gates", "run", "data sha256")
    for row in rows:
        tags = row["tags"]
        table.add_row(
            row["name"], row["version"], ", ".join(row["aliases"]) or "-",
            tags.get("llmline.gates", "-"), tags.get("llmline.run_id", "-"),
            tags.get("llmline.data_train_sha256", "-")[:12],
        )  # fmt: skip
    console.print(table if rows else "no registered models yet")
    return 0
