"""Continual re-training: champion vs challenger on a frozen evaluation set plus the new slice.

The challenger is trained from the champion's own spec on old + new data (replaying old rows
so it does not forget), through the same chain (`llmline run`), and registered with alias
`challenger`. It becomes champion only if it is better on the new slice and not worse than
`old_tolerance` on the frozen old evaluation set; the previous champion keeps the alias
`previous-champion`, so `llmline registry rollback NAME` undoes the move in one command.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmline.console import console
from llmline.errors import DataError, RegistryError
from llmline.lineage import audit_append, write_json_atomic, write_text_atomic
from llmline.spec import RetrainSpec
from llmline.workspace import Workspace

CHALLENGER = "challenger"


def previous_alias(alias: str) -> str:
    return f"previous-{alias}"


@dataclass
class RetrainResult:
    name: str
    champion_version: str
    challenger_version: str | None
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    promoted: bool = False
    reasons: list[str] = field(default_factory=list)
    report_dir: Path | None = None


def read_labelled(path: Path, text_column: str, label_column: str) -> list[tuple[str, str]]:
    """New labelled rows from CSV/TSV/JSONL/Parquet, with the champion's column names."""
    import pandas as pd

    if not path.exists():
        raise DataError(f"new data file {str(path)!r} does not exist", fix="check the path")
    readers = {
        ".csv": pd.read_csv,
        ".tsv": lambda p: pd.read_csv(p, sep="\t"),
        ".jsonl": lambda p: pd.read_json(p, lines=True),
        ".parquet": pd.read_parquet,
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"cannot read {path.suffix} files",
            where=str(path),
            fix="use .csv, .tsv, .jsonl or .parquet",
        )
    frame = reader(path)
    for column in (text_column, label_column):
        if column not in frame.columns:
            raise DataError(
                f"column {column!r} missing (has {', '.join(map(str, frame.columns))})",
                where=str(path),
                fix="name the columns like the champion's data",
            )
    frame = frame.dropna(subset=[text_column, label_column])
    return list(zip(frame[text_column].astype(str), frame[label_column].astype(str), strict=True))


def split_new(rows: list[tuple[str, str]], fraction: float, seed: int) -> tuple[list, list]:
    """(train part, new evaluation slice), stratified by label so every new label is scored."""
    by_label: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        by_label.setdefault(row[1], []).append(row)
    rng = random.Random(seed)
    train, held = [], []
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        cut = max(1, round(len(group) * fraction)) if len(group) > 1 else 0
        held += group[:cut]
        train += group[cut:]
    return train, held


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def _champion(workspace: Workspace, reference: str) -> tuple[Any, Path, dict[str, Any]]:
    import yaml

    from llmline.registry.store import get_version

    version = get_version(workspace, reference)
    run_dir = Path(version.tags.get("llmline.run_dir", ""))
    if not (run_dir / "spec.yaml").exists():
        raise RegistryError(
            f"{reference} has no run with a spec to re-train from",
            fix="re-train a version registered by `llmline run`",
        )
    return version, run_dir, yaml.safe_load((run_dir / "spec.yaml").read_text(encoding="utf-8"))


def challenger_spec(raw: dict[str, Any], train_csv: Path, frozen_eval_csv: Path) -> Any:
    """The champion's spec with the combined data, the frozen eval set and alias challenger."""
    from llmline.spec import validate_spec

    raw = {**raw, "workspace": None}
    data = dict(raw["data"])
    data.update(
        source={"path": str(train_csv), "text_column": "text", "label_column": "label"},
        validation={"path": str(frozen_eval_csv), "text_column": "text", "label_column": "label"},
        label_map={},
        drop_labels=[],
        max_rows=None,
    )
    raw["data"] = data
    raw["registry"] = {**raw.get("registry", {}), "alias": CHALLENGER}
    return validate_spec(raw, where="champion spec.yaml")


def retrain(
    workspace: Workspace,
    reference: str,
    new_data: Path,
    *,
    config: RetrainSpec | None = None,
    alias: str = "champion",
) -> RetrainResult:
    """Train, compare and maybe promote; every decision is written to a report and the audit log."""
    from llmline.chain import run_chain
    from llmline.data.stage import read_snapshot

    champion, run_dir, raw = _champion(workspace, reference)
    config = config or RetrainSpec.model_validate(raw.get("retrain") or {})
    source = raw["data"]["source"]
    label_map = raw["data"].get("label_map") or {}
    new_rows = [
        (t, label_map.get(lb, lb))
        for t, lb in read_labelled(
            new_data, source.get("text_column", "text"), source.get("label_column") or "label"
        )
    ]
    seed = int(raw.get("seed", 42))
    new_train, new_slice = split_new(new_rows, config.new_slice_fraction, seed)
    old_train = list(zip(*read_snapshot(run_dir / "data" / "train.parquet"), strict=True))
    replay = random.Random(seed).sample(old_train, round(len(old_train) * config.replay_fraction))
    old_eval = list(zip(*read_snapshot(run_dir / "data" / "validation.parquet"), strict=True))
    work = workspace.root / "retrain" / f"{champion.name}-v{champion.version}-{int(time.time())}"
    train_csv = _write_csv(work / "train.csv", [(str(t), str(lb)) for t, lb in replay + new_train])
    eval_csv = _write_csv(work / "old_eval.csv", [(str(t), str(lb)) for t, lb in old_eval])
    new_csv = _write_csv(work / "new_slice.csv", new_slice)
    console.print(
        f"[bold]retrain[/]: challenger for {champion.name} v{champion.version} on "
        f"{len(replay)} replayed + {len(new_train)} new rows; new slice "
        f"{len(new_slice)}, frozen eval {len(old_eval)}"
    )
    ctx = run_chain(challenger_spec(raw, train_csv, eval_csv), workspace)
    registered = ctx.results.get("register", {}).get("result", {})
    result = RetrainResult(
        champion.name, champion.version, registered.get("version"), report_dir=work
    )
    result.scores = _score_both(workspace, champion, result.challenger_version, eval_csv, new_csv)
    _decide(result, config, challenger_gates_passed=registered.get("alias") == CHALLENGER)
    if result.promoted:
        _promote(workspace, result, alias)
    _report(result, config, work)
    audit_append(
        workspace.audit_log,
        "retrain_decided",
        name=result.name,
        champion=result.champion_version,
        challenger=result.challenger_version,
        promoted=result.promoted,
        reasons=result.reasons,
        scores=result.scores,
    )
    return result


def _score_both(
    workspace: Workspace, champion: Any, challenger: str | None, old_csv: Path, new_csv: Path
) -> dict[str, dict[str, float]]:
    from llmline.evaluate.stage import evaluate_texts
    from llmline.models.predictor import load_predictor
    from llmline.models.resolve import resolve_model

    slices = {
        "old": read_labelled(old_csv, "text", "label"),
        "new": read_labelled(new_csv, "text", "label"),
    }
    scores: dict[str, dict[str, float]] = {}
    versions = {"champion": champion.version, "challenger": challenger}
    for role, version in versions.items():
        if version is None:
            continue
        predictor = load_predictor(resolve_model(f"models:/{champion.name}/{version}", workspace))
        for part, rows in slices.items():
            report = evaluate_texts(predictor, [t for t, _ in rows], [lb for _, lb in rows])
            scores.setdefault(role, {}).update(
                {
                    f"{part}_accuracy": float(report["accuracy"]),
                    f"{part}_macro_f1": float(report["macro_f1"]),
                }
            )
    return scores


def _decide(result: RetrainResult, config: RetrainSpec, *, challenger_gates_passed: bool) -> None:
    if result.challenger_version is None or "challenger" not in result.scores:
        result.reasons.append("the challenger was not registered")
        return
    champ, chal = result.scores["champion"], result.scores["challenger"]
    better_new = chal["new_accuracy"] > champ["new_accuracy"]
    old_drop = champ["old_accuracy"] - chal["old_accuracy"]
    result.reasons += [
        f"new slice: challenger {chal['new_accuracy']:.4f} vs champion "
        f"{champ['new_accuracy']:.4f} ({'better' if better_new else 'NOT better'})",
        f"old slice: drop {old_drop:+.4f} (tolerance {config.old_tolerance})",
    ]
    if not challenger_gates_passed:
        result.reasons.append("the challenger failed its evaluation gates")
    result.promoted = better_new and old_drop <= config.old_tolerance and challenger_gates_passed


def _promote(workspace: Workspace, result: RetrainResult, alias: str) -> None:
    from llmline.registry.promote import promote
    from llmline.registry.store import set_alias

    assert result.challenger_version is not None
    # promote() re-checks the challenger's gate evidence and writes the alias move to the audit log.
    promote(workspace, result.name, result.challenger_version, alias=alias)
    set_alias(workspace, result.name, previous_alias(alias), result.champion_version)


def rollback(workspace: Workspace, name: str, alias: str = "champion") -> tuple[str, str]:
    """Point `alias` back at `previous-<alias>` (and keep the undone version as previous)."""
    from llmline.registry.store import get_version, set_alias

    try:
        previous = get_version(workspace, f"models:/{name}@{previous_alias(alias)}").version
    except RegistryError:
        raise RegistryError(
            f"{name} has no @{previous_alias(alias)} to roll back to",
            fix="only an alias moved by `llmline retrain` can be rolled back",
        ) from None
    current = get_version(workspace, f"models:/{name}@{alias}").version
    set_alias(workspace, name, alias, previous)
    set_alias(workspace, name, previous_alias(alias), current)
    audit_append(
        workspace.audit_log,
        "alias_rolled_back",
        name=name,
        alias=alias,
        version=previous,
        undone_version=current,
    )
    return current, previous


def _report(result: RetrainResult, config: RetrainSpec, out: Path) -> None:
    write_json_atomic(
        out / "report.json",
        {**result.__dict__, "report_dir": str(out), "config": config.model_dump()},
    )
    lines = [
        f"# Re-training {result.name}",
        "",
        "| model | version | old acc | old macro-F1 | new acc | new macro-F1 |",
        "|---|---|---|---|---|---|",
    ]
    versions = {"champion": result.champion_version, "challenger": result.challenger_version}
    for role, s in result.scores.items():
        lines.append(
            f"| {role} | {versions[role]} | {s['old_accuracy']:.4f} | "
            f"{s['old_macro_f1']:.4f} | {s['new_accuracy']:.4f} | {s['new_macro_f1']:.4f} |"
        )
    verdict = "PROMOTED" if result.promoted else "kept the champion"
    lines += ["", f"Decision: **{verdict}**", "", *[f"- {r}" for r in result.reasons], ""]
    write_text_atomic(out / "report.md", "\n".join(lines))
    console.print(f"[bold]retrain[/]: {verdict} — " + "; ".join(result.reasons))
