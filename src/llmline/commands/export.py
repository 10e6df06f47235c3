"""`llmline export`: turn a trained adapter into a standalone model (`--merge`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from llmline.commands.pipeline import add_workspace_argument
from llmline.console import console


def register(verbs: Any) -> None:
    export = verbs.add_parser(
        "export", help="merge a LoRA/AdaLoRA/IA3 adapter into its base model, logits checked"
    )
    export.add_argument("model", help="run dir, models:/NAME@ALIAS or adapter directory")
    export.add_argument("--merge", action="store_true", required=True,
                        help="fold the adapter into the base weights (required)")  # fmt: skip
    export.add_argument("--output", type=Path, required=True, help="directory to write")
    export.add_argument(
        "--tolerance", type=float, default=1e-4,
        help="largest allowed logit difference, merged vs base+adapter, relative to the "
        "largest logit (at least 1)",
    )  # fmt: skip
    add_workspace_argument(export)
    export.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from llmline.lineage import audit_append, sha256_path
    from llmline.models.merge import merge_adapter
    from llmline.models.resolve import resolve_model
    from llmline.workspace import Workspace

    workspace = Workspace.resolve(args.workspace)
    result = merge_adapter(resolve_model(args.model, workspace), args.output,
                           tolerance=args.tolerance)  # fmt: skip
    audit_append(workspace.audit_log, "adapter_merged", model=args.model,
                 output=str(args.output), max_relative_diff=result.max_relative_diff,
                 output_sha256=sha256_path(args.output))  # fmt: skip
    console.print(
        f"[bold]export[/]: merged into {args.output}; largest logit difference vs base+adapter "
        f"{result.max_relative_diff:.2e} of the largest logit (tolerance {result.tolerance:.0e})"
    )
    return 0
