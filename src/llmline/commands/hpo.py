"""`llmline hpo`: Optuna search over a spec's hpo.space; writes a table and the best spec."""

from __future__ import annotations

import argparse
from typing import Any

from llmline.commands.pipeline import add_spec_arguments, add_workspace_argument
from llmline.console import console


def register(verbs: Any) -> None:
    hpo = verbs.add_parser("hpo", help="hyper-parameter search (Optuna) over the spec's hpo.space")
    add_spec_arguments(hpo)
    add_workspace_argument(hpo)
    hpo.add_argument("--trials", type=int, default=None, help="override hpo.trials")
    hpo.set_defaults(handler=cmd_hpo)


def cmd_hpo(args: argparse.Namespace) -> int:
    from llmline.spec import load_spec, parse_vars
    from llmline.train.hpo import search
    from llmline.workspace import Workspace

    spec = load_spec(args.spec, parse_vars(args.var))
    workspace = Workspace.resolve(args.workspace or spec.workspace)
    result = search(spec, workspace, trials=args.trials)
    console.print(
        f"[bold]hpo[/]: best {spec.hpo.metric if spec.hpo else 'value'} {result.best_value:.4f} "
        f"with {result.best_params}; trials in {result.table}; best spec {result.best_spec}"
    )
    return 0
