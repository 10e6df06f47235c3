"""Chain stages of governance: bias (50) and safety (55) checks, after optimize (40), whose
verdicts are promotion gates; the model card (95) is written from the run's artifacts after
registration."""

from __future__ import annotations

from typing import Any

from llmline.chain import CHAIN_STAGES, Context, Stage, StageOutput
from llmline.lineage import sha256_file


def _file_hash(path: Any) -> str | None:
    return sha256_file(path) if path is not None and path.is_file() else None


def _bias_config(ctx: Context) -> Any:
    spec = ctx.spec.govern.bias
    return [
        spec.model_dump(mode="json"),
        _file_hash(spec.terms_file),
        _file_hash(spec.group_data.path if spec.group_data else None),
    ]


def _bias(ctx: Context) -> StageOutput:
    from llmline.data.stage import read_snapshot
    from llmline.govern.bias import run_bias_checks
    from llmline.models.predictor import load_predictor

    spec = ctx.spec.govern.bias
    predictor = load_predictor(ctx.run.model_dir)
    if predictor.task != "classification":
        from llmline.errors import SpecError

        raise SpecError(
            f"bias checks compare labels of whole texts; a {predictor.task} model has none",
            where="govern.bias.enabled",
            fix="set govern.bias.enabled: false for this task",
        )
    texts, _ = read_snapshot(ctx.run.data_dir / "validation.parquet")
    group_rows = _group_rows(spec) if spec.group_data is not None else None
    out_dir = ctx.run.dir / "govern"
    report = run_bias_checks(predictor, texts, spec, out_dir, group_rows=group_rows)
    summary = {
        "flip_rate": {r["attribute"]: r["flip_rate"] for r in report["counterfactual"]},
        "mean_score_change": {
            r["attribute"]: r["mean_score_change"] for r in report["counterfactual"]
        },
        "gates": report["gates"],
        "passed": report["passed"],
    }
    if "groups" in report:
        keys = ("demographic_parity_difference", "equalized_odds_difference", "accuracy_by_group")
        summary["groups"] = {k: report["groups"][k] for k in keys}
    return StageOutput(paths={"report": out_dir / "bias.json"}, result=summary)


def _group_rows(spec: Any) -> tuple[list[str], list[str], list[str]]:
    """(texts, gold labels, groups) from group_data; every row needs all three."""
    from llmline.data.sources import read_records
    from llmline.errors import DataError

    texts, gold, groups = [], [], []
    for record in read_records(spec.group_data, key="govern.bias.group_data"):
        group = record.meta.get(spec.sensitive_column)
        if group is None or record.label is None:
            raise DataError(
                f"row {record.row} lacks a label or {spec.sensitive_column!r}",
                where=str(spec.group_data.path),
                fix="fill the column or drop the row",
            )
        texts.append(record.text)
        gold.append(str(record.label))
        groups.append(str(group))
    return texts, gold, groups


def _safety(ctx: Context) -> StageOutput:
    from llmline.console import console
    from llmline.data.stage import read_snapshot
    from llmline.govern.safety import build_checker, scan_texts
    from llmline.lineage import write_json_atomic

    spec = ctx.spec.govern.safety
    checker = build_checker(spec, ctx.workspace)
    texts, _ = read_snapshot(ctx.run.data_dir / "train.parquet")
    report = scan_texts(checker, texts, injection=spec.injection)
    report["examples"] = _redacted(report["examples"])
    gates = []
    if spec.max_flagged_rate is not None:
        gates.append(
            {
                "gate": "max_flagged_rate",
                "threshold": spec.max_flagged_rate,
                "actual": report["flagged_rate"],
                "kind": "max",
                "passed": report["flagged_rate"] <= spec.max_flagged_rate,
            }
        )
    report["gates"] = gates
    path = ctx.run.dir / "govern" / "safety.json"
    write_json_atomic(path, report)
    console.print(
        f"[bold]safety[/]: {report['flagged']} of {report['rows']} training rows flagged "
        f"({', '.join(f'{k} {v}' for k, v in report['by_category'].items()) or 'none'})"
    )
    summary = {k: report[k] for k in ("rows", "flagged", "flagged_rate", "by_category", "gates")}
    return StageOutput(paths={"report": path}, result=summary)


def _redacted(examples: dict[str, list[str]]) -> dict[str, list[str]]:
    """Examples land in reports: personal data is masked first (private by default)."""
    from llmline.data.pii import redact_text

    return {k: [redact_text(text)[0] for text in texts] for k, texts in examples.items()}


def _card(ctx: Context) -> StageOutput:
    from llmline.govern.card import write_card

    paths = write_card(ctx.run.dir, ctx.spec.govern.card)
    return StageOutput(paths=paths, result={"files": sorted(paths)})


def _card_config(ctx: Context) -> Any:
    return [
        ctx.spec.govern.card.model_dump(mode="json"),
        ctx.results.get("register", {}).get("result"),
    ]


CHAIN_STAGES.register("bias")(
    Stage("bias", 50, _bias, _bias_config, enabled=lambda c: c.spec.govern.bias.enabled)
)
CHAIN_STAGES.register("safety")(
    Stage(
        "safety",
        55,
        _safety,
        lambda c: [
            c.spec.govern.safety.model_dump(mode="json"),
            _file_hash(c.spec.govern.safety.lexicon_file),
        ],
        enabled=lambda c: c.spec.govern.safety.enabled,
    )
)
CHAIN_STAGES.register("card")(
    Stage("card", 95, _card, _card_config, enabled=lambda c: c.spec.govern.card.enabled)
)
