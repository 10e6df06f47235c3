"""Verbs that run the chain from a spec: run, train, validate."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from llmline.console import console


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="pipeline YAML (a file in recipes/ or your own)")
    add_var_argument(parser)


def add_var_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE",
        help="value for a ${NAME} placeholder in the spec (repeatable)",
    )  # fmt: skip


def add_workspace_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace", type=Path, default=None,
        help="workspace directory (default: $LLMLINE_HOME or ./llmline-workspace)",
    )  # fmt: skip


def add_restart_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--force", action="store_true",
        help="re-run stages even if unchanged, discarding training checkpoints",
    )  # fmt: skip
    group.add_argument(
        "--resume", action="store_true",
        help="continue this spec's unfinished run from its last checkpoint (a plain re-run does "
        "the same); fails instead of starting a new run when the spec or data changed",
    )  # fmt: skip


def register(verbs: Any) -> None:
    run = verbs.add_parser("run", help="run the whole chain of a spec, resuming finished stages")
    add_spec_arguments(run)
    add_workspace_argument(run)
    add_restart_arguments(run)
    run.add_argument("--until", default=None, help="stop after this stage (e.g. data, train)")
    run.set_defaults(handler=cmd_run)

    train = verbs.add_parser("train", help="run the chain of a spec up to the train stage")
    add_spec_arguments(train)
    add_workspace_argument(train)
    add_restart_arguments(train)
    train.set_defaults(handler=cmd_run, until="train")

    validate = verbs.add_parser("validate", help="check a spec without running it")
    add_spec_arguments(validate)
    validate.add_argument("--explain", action="store_true", help="print every key with its doc")
    validate.set_defaults(handler=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    from llmline.spec import explain, load_spec, parse_vars

    spec = load_spec(args.spec, parse_vars(args.var))
    _check_variants(spec)
    console.print(f"[green]ok[/]: {args.spec} is a valid spec for '{spec.name}' ({spec.task})")
    if args.explain:
        print("\n".join(explain()))
    return 0


def _check_variants(spec: Any) -> None:
    """Names the spec picks from registries (task, data steps) must exist."""
    from llmline.data.record import DATA_STEPS
    from llmline.tasks import get_task

    get_task(spec.task)
    for index, step in enumerate(spec.data.steps):
        DATA_STEPS.get(str(step.get("step", "")), key=f"data.steps[{index}].step")


def cmd_run(args: argparse.Namespace) -> int:
    from llmline.chain import run_chain
    from llmline.spec import load_spec, parse_vars
    from llmline.workspace import Workspace

    spec = load_spec(args.spec, parse_vars(args.var))
    _check_variants(spec)
    workspace = Workspace.resolve(args.workspace or spec.workspace)
    ctx = run_chain(spec, workspace, force=args.force, until=args.until, resume=args.resume)
    print_summary(ctx)
    return 0


def print_summary(ctx: Any) -> None:
    results = ctx.results
    console.print(f"\n[bold]run[/]: {ctx.run.dir}")
    if "evaluate" in results:
        evaluation = results["evaluate"]["result"]
        shown = ", ".join(f"{k} {v:.4f}" for k, v in evaluation["metrics"].items())
        console.print(f"[bold]validation[/]: {shown} ({evaluation['rows']} rows)")
    if "register" in results:
        registered = results["register"]["result"]
        ref = f"models:/{registered['name']}/{registered['version']}"
        alias = registered.get("alias")
        console.print(
            f"[bold]registered[/]: {ref}" + (f" (alias @{alias})" if alias else " (no alias)")
        )
        serve_ref = f"models:/{registered['name']}@{alias}" if alias else ref
        console.print(
            f"[bold]serve it[/]: llmline serve --model {serve_ref} --workspace {ctx.workspace.root}"
        )
