"""`llmline explain`: which words made the model choose its label (JSON, optional HTML)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llmline.commands.pipeline import add_workspace_argument
from llmline.console import console


def register(verbs: Any) -> None:
    explain = verbs.add_parser("explain", help="token attributions for a model's prediction")
    explain.add_argument("--model", required=True, help="run dir, models:/NAME@ALIAS, model dir")
    explain.add_argument("--text", action="append", required=True, help="text (repeatable)")
    explain.add_argument("--target", default=None, help="label to explain (default: predicted)")
    explain.add_argument(
        "--method",
        default="auto",
        choices=("auto", "ig", "integrated_gradients", "occlusion", "lime", "shap"),
        help="ig: captum Integrated Gradients (auto picks it where it can, else occlusion); "
        "occlusion: leave one word out; lime / shap: model-agnostic sampling (Chinese in jieba "
        "words)",
    )
    explain.add_argument("--steps", type=int, default=32, help="integration steps")
    explain.add_argument(
        "--samples", type=int, default=256, help="LIME/SHAP: model calls per text (masks)"
    )
    explain.add_argument("--entity", type=int, default=0, help="NER: which entity to explain")
    explain.add_argument("--html", type=Path, default=None, help="also write an HTML view here")
    add_workspace_argument(explain)
    explain.set_defaults(handler=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    from llmline.govern.explain import explain, render_html
    from llmline.lineage import write_text_atomic
    from llmline.models.predictor import load_predictor
    from llmline.models.resolve import resolve_model
    from llmline.workspace import Workspace

    predictor = load_predictor(resolve_model(args.model, Workspace.resolve(args.workspace)))
    results = [
        explain(
            predictor,
            text,
            target=args.target,
            method=args.method,
            steps=args.steps,
            entity=args.entity,
            samples=args.samples,
        )
        for text in args.text
    ]
    json.dump(results, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    if args.html is not None:
        write_text_atomic(args.html, render_html(results, title=f"Explanations: {args.model}"))
    for result in results:
        console.print(
            f"[bold]explain[/]: {result['target']} <- {', '.join(result['top'][:3])}"
            f" ({result['method']})"
        )
    return 0
