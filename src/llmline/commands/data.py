"""`llmline data clean|dedup|redact|label|augment|report`: one data step over one file.

Each verb reads `--input` (any supported source: table, text/e-mail/HTML directory, Label
Studio export) and writes `--output` (.jsonl or .parquet) in input order, with the same
library functions the data stage runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from llmline.console import console

_DESCRIPTION = "the data chain, one step at a time (see `llmline data VERB --help`)"


def register(verbs: Any) -> None:
    data = verbs.add_parser("data", help=_DESCRIPTION)
    steps = data.add_subparsers(dest="data_verb", metavar="STEP", required=True)
    for name, helptext, add, handler in (
        ("clean", "normalise text and apply quality filters", _clean_args, cmd_clean),
        ("dedup", "remove exact and near-duplicates (MinHash LSH)", _dedup_args, cmd_dedup),
        ("redact", "redact PII (e-mails, phones, cards, IDs, names...)", _redact_args, cmd_redact),
        ("label", "labeling functions, pre-labels, active learning, Label Studio, label errors",
         _label_args, cmd_label),
        ("augment", "add EDA / back-translated copies of rows", _augment_args, cmd_augment),
        ("report", "write data_report.{json,md,png} for a dataset", _report_args, cmd_report),
    ):  # fmt: skip
        parser = steps.add_parser(name, help=helptext)
        _io_args(parser, output_help="directory" if name == "report" else ".jsonl or .parquet")
        add(parser)
        parser.set_defaults(handler=handler)


def _io_args(parser: argparse.ArgumentParser, *, output_help: str) -> None:
    parser.add_argument("--input", type=Path, required=True, help="file or directory to read")
    parser.add_argument(
        "--output", type=Path, required=True, help=f"where to write ({output_help})"
    )
    parser.add_argument("--format", default="auto", help="source format; auto infers it")
    parser.add_argument("--text-col", default="text", help="column with the text")
    parser.add_argument("--label-col", default="label", help="column with the label (optional)")
    parser.add_argument("--encoding", default=None, help="input encoding; detected when omitted")
    parser.add_argument("--strict", action="store_true", help="abort on the first bad row")


def _clean_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strip-html", action="store_true", help="remove HTML remnants")
    parser.add_argument("--urls", choices=("keep", "mask", "remove"), default="keep")
    parser.add_argument("--emails", choices=("keep", "mask", "remove"), default="keep")
    parser.add_argument("--min-chars", type=int, default=1)
    parser.add_argument("--max-chars", type=int, default=None)
    parser.add_argument("--min-words", type=int, default=0)
    parser.add_argument("--languages", default=None, help="comma-separated ISO codes to keep")
    parser.add_argument("--keep-rejects", type=Path, default=None, help="write dropped rows here")


def _dedup_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threshold", type=float, default=0.8, help="Jaccard similarity")
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--shingle", choices=("auto", "word", "char"), default="auto")
    parser.add_argument("--mark-only", action="store_true", help="keep rows, add `cluster`")
    parser.add_argument("--clusters", type=Path, default=None, help="write the cluster report")
    parser.add_argument("--keep-rejects", type=Path, default=None, help="write dropped rows here")


def _redact_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=("mask", "pseudonym", "hash"), default="mask")
    parser.add_argument("--salt", default="", help="secret salt of hash mode")
    parser.add_argument("--names", action="store_true", help="also redact names (spaCy NER)")


def _label_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", type=Path, default=None, help="YAML: rules + combine")
    parser.add_argument("--model", default=None, help="model reference for pre-labels")
    parser.add_argument("--select", type=int, default=0, help="active learning: batch size")
    parser.add_argument("--strategy", choices=("entropy", "margin"), default="entropy")
    parser.add_argument("--diversity", type=float, default=0.5, help="weight of diversity")
    parser.add_argument("--label-studio", type=Path, default=None, help="write LS tasks here")
    parser.add_argument("--issues", type=Path, default=None, help="cleanlab label errors (JSON)")
    parser.add_argument("--workspace", type=Path, default=None, help="workspace for --model")


def _augment_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", default="swap,delete", help="comma-separated EDA ops")
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="back_translation: src->pivot seq2seq")
    parser.add_argument("--reverse-model", default=None, help="back_translation: pivot->src")


def _report_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threshold", type=float, default=0.8, help="near-duplicate Jaccard")
    parser.add_argument("--label-issues", action="store_true", help="run cleanlab too")


def _records(args: argparse.Namespace) -> list[Any]:
    from llmline.data.sources import read_records
    from llmline.errors import DataError
    from llmline.spec import SourceSpec

    if not args.input.exists():
        raise DataError(
            f"{str(args.input)!r} does not exist", where="--input", fix="check the path"
        )
    source = SourceSpec(
        path=args.input, format=args.format, text_column=args.text_col,
        label_column=args.label_col or None, encoding=args.encoding,
    )  # fmt: skip
    try:
        return list(read_records(source, key="--input", strict=args.strict))
    except DataError as exc:
        if args.label_col != "label" or not (exc.where or "").endswith("label_column"):
            raise
    # the default label column is optional: unlabeled files are the usual input of these verbs
    source = source.model_copy(update={"label_column": None})
    return list(read_records(source, key="--input", strict=args.strict))


def _run_steps(records: list[Any], steps: list[dict[str, Any]]) -> tuple[list[Any], Any]:
    from llmline.data.steps import StepRun

    run = StepRun.build(steps)
    return list(run.run(records)), run


def _finish(args: argparse.Namespace, records: list[Any], verb: str, extra: str = "") -> int:
    from llmline.data.table import write_table

    kept = [r for r in records if r.dropped is None]
    write_table(kept, args.output)
    rejected = [r for r in records if r.dropped is not None]
    if getattr(args, "keep_rejects", None) is not None:
        write_table(rejected, args.keep_rejects)
    reasons: dict[str, int] = {}
    for record in rejected:
        reasons[record.dropped] = reasons.get(record.dropped, 0) + 1
    dropped = ", ".join(f"{n} {k}" for k, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
    console.print(
        f"[bold]data {verb}[/]: {len(records)} rows in, {len(kept)} out"
        f"{f' ({dropped} dropped)' if dropped else ''}{extra} -> {args.output}"
    )
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from llmline.data.clean import normalize_text
    from llmline.spec import CleanSpec

    spec = CleanSpec(strip_html=args.strip_html, urls=args.urls, emails=args.emails)
    records = _records(args)
    for record in records:
        if record.dropped is None:
            record.text = normalize_text(record.text, spec)
            if len(record.text) < max(args.min_chars, 1):
                record.dropped = "empty" if not record.text else "too_short"
    quality: dict[str, Any] = {"step": "quality", "min_words": args.min_words}
    if args.max_chars:
        quality["max_chars"] = args.max_chars
    if args.languages:
        quality["languages"] = [c.strip() for c in args.languages.split(",") if c.strip()]
    records, _ = _run_steps(records, [quality])
    return _finish(args, records, "clean")


def cmd_dedup(args: argparse.Namespace) -> int:
    from llmline.data.clean import dedup_key
    from llmline.lineage import write_json_atomic

    records = _records(args)
    seen: set[str] = set()
    for record in records:  # exact duplicates first: cheap, and reported as their own reason
        key = dedup_key(record.text)
        if record.dropped is None and key in seen and not args.mark_only:
            record.dropped = "duplicate"
        seen.add(key)
    step = {"step": "near_dedup", "threshold": args.threshold, "num_perm": args.num_perm,
            "shingle": args.shingle, "action": "keep" if args.mark_only else "drop"}  # fmt: skip
    records, run = _run_steps(records, [step])
    summary = run.summaries()["near_dedup"]
    if args.clusters is not None:
        write_json_atomic(args.clusters, summary)
    extra = f", {summary['clusters_with_duplicates']} near-duplicate clusters"
    return _finish(args, records, "dedup", extra)


def cmd_redact(args: argparse.Namespace) -> int:
    step = {"step": "redact", "mode": args.mode, "salt": args.salt, "names": args.names}
    records, run = _run_steps(_records(args), [step])
    found = run.summaries()["redact"]["pii_by_type"]
    extra = ", redacted " + (", ".join(f"{n} {k}" for k, n in found.items()) or "nothing")
    return _finish(args, records, "redact", extra)


def cmd_augment(args: argparse.Namespace) -> int:
    ops = [op.strip() for op in args.ops.split(",") if op.strip()]
    step = {"step": "augment", "ops": ops, "copies": args.copies, "alpha": args.alpha,
            "seed": args.seed, "model": args.model,
            "reverse_model": args.reverse_model}  # fmt: skip
    records, run = _run_steps(_records(args), [step])
    return _finish(
        args, records, "augment", f", {run.summaries()['augment']['augmented_rows']} new"
    )


def cmd_label(args: argparse.Namespace) -> int:
    records = _records(args)
    notes = []
    if args.rules is not None:
        notes.append(_apply_rules(args.rules, records))
    probs, classes = _probabilities(args, records)
    if probs is not None and args.model:
        from llmline.data.active import prelabels

        for record, (label, score) in zip(records, prelabels(probs, classes), strict=True):
            record.meta["prelabel"], record.meta["prelabel_score"] = label, round(score, 4)
        notes.append(f"{len(records)} pre-labels")
    selected = _select(args, records, probs) if args.select else list(range(len(records)))
    if args.label_studio is not None:
        from llmline.data.labelstudio import export_tasks, labeling_config
        from llmline.lineage import write_text_atomic

        guesses = None
        if args.model and probs is not None:
            guesses = [
                (records[i].meta["prelabel"], records[i].meta["prelabel_score"]) for i in selected
            ]
        export_tasks([records[i] for i in selected], args.label_studio, predictions=guesses)
        labels = sorted({str(r.label) for r in records if r.label} | set(classes or []))
        write_text_atomic(args.label_studio.with_suffix(".xml"), labeling_config(labels))
        notes.append(f"{len(selected)} Label Studio tasks -> {args.label_studio}")
    if args.issues is not None:
        notes.append(_issues(args.issues, records))
    return _finish(args, records, "label", (", " if notes else "") + ", ".join(notes))


def _apply_rules(path: Path, records: list[Any]) -> str:
    from pydantic import ValidationError

    from llmline.data.label import LabelRules, LabelRulesSpec
    from llmline.errors import SpecError
    from llmline.spec import describe_validation_error, read_yaml

    try:
        spec = LabelRulesSpec.model_validate(read_yaml(path))
    except ValidationError as exc:
        fix = "write rules: [{label: X, keywords: [...], regex: ...}]"
        raise SpecError(describe_validation_error(exc), where=str(path), fix=fix) from None
    step = LabelRules(spec)
    records[:] = list(step(records))
    summary = step.summary
    return f"rules labeled {summary['labeled']} (coverage {summary['coverage']})"


def _probabilities(args: argparse.Namespace, records: list[Any]) -> tuple[Any, list[str]]:
    """Class probabilities from --model, or (for selection only) a TF-IDF proxy model."""
    texts = [r.text for r in records]
    if args.model:
        from llmline.data.active import model_probabilities
        from llmline.models.resolve import resolve_model
        from llmline.workspace import Workspace

        return model_probabilities(
            resolve_model(args.model, Workspace.resolve(args.workspace)), texts
        )
    if args.select:
        from llmline.data.active import proxy_probabilities

        labelled = [r for r in records if r.label is not None]
        return proxy_probabilities([r.text for r in labelled], [r.label for r in labelled], texts)
    return None, []


def _select(args: argparse.Namespace, records: list[Any], probs: Any) -> list[int]:
    from llmline.data.active import select_batch, tfidf_vectors

    pool = [i for i, r in enumerate(records) if r.label is None] or list(range(len(records)))
    chosen = select_batch(probs[pool], tfidf_vectors([records[i].text for i in pool]), args.select,
                          strategy=args.strategy, diversity=args.diversity)  # fmt: skip
    picked = [pool[i] for i in chosen]
    for rank, index in enumerate(picked, start=1):
        records[index].meta["selection_rank"] = rank
    return picked


def _issues(path: Path, records: list[Any]) -> str:
    from llmline.data.active import find_label_issues
    from llmline.lineage import write_json_atomic

    labelled = [r for r in records if r.label is not None]
    issues = find_label_issues([r.text for r in labelled], [str(r.label) for r in labelled])
    for issue in issues:
        record = labelled[issue["row"]]
        issue["row"] = record.row
        record.meta["suggested_label"] = issue["suggested"]
    write_json_atomic(path, issues)
    return f"{len(issues)} suspected label errors -> {path}"


def cmd_report(args: argparse.Namespace) -> int:
    from llmline.data.profile import profile_records

    records = _records(args)
    report = profile_records(records, args.output, threshold=args.threshold,
                             label_issues=args.label_issues)  # fmt: skip
    console.print(
        f"[bold]data report[/]: {report['rows_in']} rows, {report['exact_duplicates']} exact + "
        f"{report['near_duplicates']} near duplicates, PII {report['pii_by_type'] or 'none'} "
        f"-> {args.output}/data_report.md"
    )
    return 0
