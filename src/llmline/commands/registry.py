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
