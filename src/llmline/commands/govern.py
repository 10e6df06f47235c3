"""`llmline govern`: bias checks, safety scans and model cards outside the chain."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llmline.commands.pipeline import add_workspace_argument
from llmline.console import console


def register(verbs: Any) -> None:
    govern = verbs.add_parser("govern", help="bias checks, safety scans and model cards")
    actions = govern.add_subparsers(dest="action", metavar="ACTION", required=True)

    bias = actions.add_parser("bias", help="counterfactual bias checks (and group metrics)")
    bias.add_argument("--model", required=True, help="run dir, models:/NAME@ALIAS, model dir")
    bias.add_argument("--data", type=Path, required=True, help="file of texts to probe with")
    bias.add_argument("--text-col", default="text", help="column with the input text")
    bias.add_argument("--label-col", default=None, help="gold label column (group metrics)")
    bias.add_argument("--sensitive-col", default=None, help="group column (group metrics)")
    bias.add_argument("--lang", default="en", help="term lists, comma-separated: en,zh")
    bias.add_argument("--attributes", default=None, help="comma-separated (default: all five)")
    bias.add_argument("--terms", type=Path, default=None, help="YAML of extra term lists")
    bias.add_argument("--max-texts", type=int, default=200, help="texts probed per attribute")
    bias.add_argument("--max-flip-rate", type=float, default=None, help="gate threshold")
    bias.add_argument("--out", type=Path, default=None, help="write bias.json and bias.md here")
    add_workspace_argument(bias)
    bias.set_defaults(handler=cmd_bias)

    safety = actions.add_parser("safety", help="check texts for harmful content and injection")
    safety.add_argument("texts", nargs="*", help="texts to check (or --input)")
    safety.add_argument("--input", type=Path, default=None, help="file of texts to scan")
    safety.add_argument("--text-col", default="text", help="column with the input text")
    safety.add_argument("--classifier", default=None, help="harmful-content model reference")
    add_workspace_argument(safety)
    safety.set_defaults(handler=cmd_safety)

    card = actions.add_parser("card", help="(re)write a run's model card and datasheet")
    card.add_argument("run_dir", type=Path, help="a run directory under <workspace>/runs/")
    card.set_defaults(handler=cmd_card)


def _texts(path: Path, text_col: str) -> list[Any]:
    from llmline.data.sources import read_records
    from llmline.errors import DataError
    from llmline.spec import SourceSpec

    if not path.exists():
        raise DataError(f"file {str(path)!r} does not exist", fix="check the path")
    return list(
        read_records(
            SourceSpec.model_validate(
                {"path": path, "text_column": text_col, "label_column": None}
            ),
            key="--data",
        )
    )


def cmd_bias(args: argparse.Namespace) -> int:
    from llmline.errors import SpecError
    from llmline.govern.bias import run_bias_checks
    from llmline.models.predictor import load_predictor
    from llmline.models.resolve import resolve_model
    from llmline.spec import BiasSpec
    from llmline.workspace import Workspace

    if (args.label_col is None) != (args.sensitive_col is None):
        raise SpecError("--label-col and --sensitive-col go together", fix="pass both or none")
    options: dict[str, Any] = {
        "languages": args.lang.split(","),
        "terms_file": args.terms,
        "max_texts": args.max_texts,
        "max_flip_rate": args.max_flip_rate,
    }
    if args.attributes:
        options["attributes"] = args.attributes.split(",")
    spec = BiasSpec(**options)
    records = _texts(args.data, args.text_col)
    texts = [r.text for r in records]
    group_rows = None
    if args.sensitive_col:
        kept = [
            r
            for r in records
            if r.meta.get(args.label_col) is not None and r.meta.get(args.sensitive_col) is not None
        ]
        group_rows = (
            [r.text for r in kept],
            [str(r.meta[args.label_col]) for r in kept],
            [str(r.meta[args.sensitive_col]) for r in kept],
        )
    predictor = load_predictor(resolve_model(args.model, Workspace.resolve(args.workspace)))
    report = run_bias_checks(predictor, texts, spec, args.out, group_rows=group_rows)
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0 if report["passed"] else 1


def cmd_safety(args: argparse.Namespace) -> int:
    from llmline.govern.safety import build_checker, scan_texts
    from llmline.spec import SafetySpec
    from llmline.workspace import Workspace

    checker = build_checker(
        SafetySpec.model_validate({"classifier": args.classifier}),
        Workspace.resolve(args.workspace),
    )
    if args.input is not None:
        texts = [r.text for r in _texts(args.input, args.text_col)]
        report = scan_texts(checker, texts, injection=True)
        json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        console.print(f"[bold]safety[/]: {report['flagged']} of {report['rows']} texts flagged")
        return 0
    verdicts = checker.check_many(args.texts)
    for text, verdict in zip(args.texts, verdicts, strict=True):
        print(json.dumps({"text": text, **verdict.as_dict()}, ensure_ascii=False))
    console.print(
        f"[bold]safety[/]: {sum(v.flagged for v in verdicts)} of {len(verdicts)} texts flagged"
    )
    return 1 if any(v.flagged for v in verdicts) else 0


def cmd_card(args: argparse.Namespace) -> int:
    from llmline.govern.card import write_card
    from llmline.spec import CardSpec, GovernSpec

    spec_path = args.run_dir / "spec.yaml"
    card = CardSpec.model_validate({})
    if spec_path.is_file():
        import yaml

        raw = yaml.safe_load(spec_path.read_text(encoding="utf-8")) or {}
        card = GovernSpec.model_validate(raw.get("govern") or {}).card
    paths = write_card(args.run_dir, card)
    console.print(f"[bold]card[/]: {', '.join(str(p) for p in paths.values())}")
    return 0
