"""Batch verbs over a model reference: predict a file, evaluate on a labelled file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llmline.commands.pipeline import add_workspace_argument
from llmline.console import console


def register(verbs: Any) -> None:
    predict = verbs.add_parser("predict", help="label every row of a file with a model")
    _add_model_arguments(predict)
    predict.add_argument("--input", type=Path, required=True, help="CSV/TSV/JSONL/Parquet file")
    predict.add_argument("--output", type=Path, required=True, help="JSONL file to write")
    predict.add_argument("--top-k", type=int, default=1, help="alternatives kept per row")
    predict.add_argument(
        "--pair-col", default=None, help="column with the second text of a pair (pair models)"
    )
    predict.set_defaults(handler=cmd_predict)

    evaluate = verbs.add_parser(
        "evaluate", help="score a model of any task on a labelled file; its metrics as JSON"
    )
    _add_model_arguments(evaluate)
    evaluate.add_argument(
        "--data", type=Path, required=True,
        help="labelled file: CSV/TSV/JSONL/Parquet (classification), CoNLL or JSONL spans (ner), "
        "chat JSONL or prompt/response rows (causal_lm), text (mlm, causal_lm_pretrain)",
    )  # fmt: skip
    evaluate.add_argument(
        "--format", default=None,
        help="file format (csv, tsv, jsonl, parquet, conll, ...); default: from the extension "
        "and content",
    )  # fmt: skip
    evaluate.add_argument("--label-col", default="label", help="column with the gold label")
    evaluate.add_argument(
        "--pair-col", default=None, help="column with the second text of a pair (pair tasks)"
    )
    evaluate.add_argument("--batch-size", type=int, default=128, help="rows per model call")
    evaluate.set_defaults(handler=cmd_evaluate)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True,
        help="run dir, models:/NAME@ALIAS, models:/NAME/VERSION, model dir or packaged:NAME",
    )  # fmt: skip
    parser.add_argument("--text-col", default="text", help="column with the input text")
    add_workspace_argument(parser)


def _load(args: argparse.Namespace) -> Any:
    from llmline.models.predictor import load_predictor
    from llmline.models.resolve import resolve_model
    from llmline.workspace import Workspace

    return load_predictor(resolve_model(args.model, Workspace.resolve(args.workspace)))


def _read(path: Path, text_col: str, pair_col: str | None) -> tuple[list[str], list[str] | None]:
    """The texts of a file (and the second texts of pairs when `pair_col` names them)."""
    from llmline.data.clean import normalize_text
    from llmline.data.sources import read_records
    from llmline.spec import SourceSpec

    if not path.exists():
        from llmline.errors import DataError

        raise DataError(f"file {str(path)!r} does not exist", fix="check the path")
    source = SourceSpec(path=path, text_column=text_col, label_column=None, pair_column=pair_col)
    records = list(read_records(source, key="--input"))
    texts = [normalize_text(r.text) for r in records]
    if pair_col is None:
        return texts, None
    return texts, [normalize_text(r.pair or "") for r in records]


def cmd_predict(args: argparse.Namespace) -> int:
    from llmline.errors import DataError
    from llmline.lineage import atomic_path

    texts, seconds = _read(args.input, args.text_col, args.pair_col)
    predictor = _load(args)
    is_pairs = predictor.task == "pair_classification"
    if is_pairs != (seconds is not None):
        raise DataError(
            f"--pair-col {'is missing' if is_pairs else 'is only for pair models'}: the model "
            f"is a {predictor.task} model",
            fix="name the second text's column with --pair-col" if is_pairs
            else "drop --pair-col",
        )  # fmt: skip
    inputs: list[Any] = texts
    if seconds is not None:
        inputs = [[a, b] for a, b in zip(texts, seconds, strict=True)]
    results = predictor.predict(inputs, top_k=args.top_k)
    with atomic_path(args.output) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for index, (text, result) in enumerate(zip(texts, results, strict=True)):
            # The input stays under "text" (a chat model's result also names its answer "text").
            row = {**result, "text": text}
            if seconds is not None:
                row["pair"] = seconds[index]
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    console.print(f"[bold]predict[/]: {len(results)} rows -> {args.output}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """The model's task reads the file and evaluates it; the metrics go to stdout as JSON."""
    from llmline.models.meta import ModelMeta
    from llmline.models.resolve import resolve_model
    from llmline.tasks import EvalOptions, ReadOptions, get_task
    from llmline.workspace import Workspace

    model_dir = resolve_model(args.model, Workspace.resolve(args.workspace))
    meta = ModelMeta.load(model_dir)
    # A causal LM pre-trained from scratch is saved as a causal_lm but scored on plain text.
    task = get_task(str(meta.extra.get("trained_as", meta.task)), key="llmline_model.json: task")
    options = ReadOptions(format=args.format, text_col=args.text_col,
                          label_col=args.label_col, pair_col=args.pair_col)  # fmt: skip
    rows = task.read_file(args.data, options, model_dir)
    report = task.evaluate(model_dir, rows, EvalOptions(batch_size=args.batch_size))
    out = {"task": task.name, "rows": report["rows"], "primary": report["primary"],
           "metrics": report["metrics"]}  # fmt: skip
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0
