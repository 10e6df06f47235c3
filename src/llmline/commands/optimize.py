"""`llmline optimize`: quantized, ONNX, pruned and distilled variants of a classifier, int8 and
GGUF variants of a chat model, gated."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from llmline.commands.pipeline import add_workspace_argument
from llmline.console import console


def register(verbs: Any) -> None:
    optimize = verbs.add_parser("optimize", help="compress a model into measured, gated variants")
    optimize.add_argument("--model", required=True, help="run dir, models:/NAME@ALIAS, model dir")
    optimize.add_argument(
        "--method",
        action="append",
        required=True,
        dest="methods",
        help="classifiers: onnx-int8, onnx-fp32, dynamic-int8, magnitude-prune, head-prune, "
        "neuron-prune or distill; chat models: dynamic-int8, gguf-q8_0 or gguf-f16 (repeat "
        "for several)",
    )
    optimize.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML whose optimize: block sets the method options",
    )
    optimize.add_argument("--max-accuracy-drop", type=float, default=None)
    optimize.add_argument(
        "--validation",
        type=Path,
        default=None,
        help="validation snapshot (default: the model's run)",
    )
    optimize.add_argument(
        "--train",
        type=Path,
        default=None,
        help="training snapshot for distill and prune recovery (default: the model's run)",
    )
    optimize.add_argument("--out", type=Path, default=None, help="default <workspace>/optimize/")
    optimize.add_argument("--no-register", action="store_true", help="measure only")
    add_workspace_argument(optimize)
    optimize.set_defaults(handler=cmd_optimize)


def _run_dir(reference: str, model_dir: Path, workspace: Any) -> Path | None:
    from llmline.serve.runner import model_info

    if (model_dir.parent / "manifest.json").exists():
        return model_dir.parent
    run_dir = model_info(reference, workspace).get("run_dir")
    return Path(run_dir) if run_dir else None


def _spec(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from llmline.errors import SpecError
    from llmline.spec import OptimizeSpec, describe_validation_error, read_yaml

    block = (read_yaml(args.config).get("optimize") or {}) if args.config else {}
    if args.max_accuracy_drop is not None:
        block["max_accuracy_drop"] = args.max_accuracy_drop
    try:
        return OptimizeSpec.model_validate(block | {"methods": args.methods})
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc), where=str(args.config or "flags")) from None


def cmd_optimize(args: argparse.Namespace) -> int:
    from llmline.errors import DataError
    from llmline.models.resolve import resolve_model
    from llmline.optimize.methods import OptimizeInputs
    from llmline.optimize.stage import optimize_model
    from llmline.workspace import Workspace

    workspace = Workspace.resolve(args.workspace)
    spec = _spec(args)
    model_dir = resolve_model(args.model, workspace)
    run_dir = _run_dir(args.model, model_dir, workspace)
    data = run_dir / "data" if run_dir else None
    validation = args.validation or (data / "validation.parquet" if data else None)
    if validation is None or not validation.exists():
        raise DataError(
            f"no validation split found for {args.model}",
            fix="pass --validation FILE.parquet (text,label columns; a chat model's run "
            "snapshot with a messages column)",
        )
    train = args.train or (data / "train.parquet" if data else None)
    out = args.out or workspace.root / "optimize" / model_dir.name
    name = model_dir.parent.name if run_dir is None else run_dir.name.rsplit("-", 1)[0]
    if args.model.startswith("models:/"):
        name = args.model.removeprefix("models:/").split("@")[0].split("/")[0]
    result = optimize_model(
        OptimizeInputs(model_dir, spec, train if train and train.exists() else None, validation),
        spec.methods,
        out,
        workspace=workspace,
        register_as=None if args.no_register else name,
    )
    passed = sum(v["gate"]["passed"] for v in result.variants)
    console.print(
        f"[bold]optimize[/]: {passed} of {len(result.variants)} variants pass the "
        f"gate — {out / 'report.md'}"
    )
    return 0 if passed == len(result.variants) else 1
