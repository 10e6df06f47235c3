"""The optimize stage: build each variant, measure it beside the original, gate, register.

`optimize_model` is what `llmline optimize` and the chain's `optimize:` block both call. The
gate rejects a variant whose validation accuracy is more than `max_accuracy_drop` below the
original's; only variants that pass are registered (as `<model>-<method>`, alias `candidate`).
A causal LM goes through its own method table and measurement (optimize.generative): tokens/s,
peak memory, perplexity and exact match, gated on exact match and perplexity.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmline.chain import CHAIN_STAGES, Context, Stage, StageOutput
from llmline.console import console
from llmline.lineage import audit_append, sha256_path, write_json_atomic, write_text_atomic
from llmline.optimize.methods import OptimizeInputs, load_methods
from llmline.workspace import Workspace

VARIANT_ALIAS = "candidate"


@dataclass
class OptimizeResult:
    baseline: dict[str, Any]
    variants: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gates(self) -> list[dict[str, Any]]:
        return [v["gate"] for v in self.variants]


def optimize_model(
    inputs: OptimizeInputs,
    methods: list[str],
    out_root: Path,
    *,
    workspace: Workspace | None = None,
    register_as: str | None = None,
) -> OptimizeResult:
    """Run each method into out_root/<method>/, measure, gate and (optionally) register."""
    from llmline.optimize.generative import is_causal_lm
    from llmline.optimize.measure import measure_in_fresh_process

    if is_causal_lm(inputs.model_dir):
        return optimize_causal_lm(
            inputs, methods, out_root, workspace=workspace, register_as=register_as
        )
    registry = load_methods()
    chosen = [(m, registry.get(m, key="optimize.methods")) for m in methods]  # typos fail early
    repeats = inputs.spec.latency_repeats
    base = measure_in_fresh_process(
        "original (torch fp32)", inputs.model_dir, inputs.validation, repeats, backend="torch"
    )
    result = _variants(
        inputs, chosen, out_root, base,
        measure=lambda name, directory: measure_in_fresh_process(
            name, directory, inputs.validation, repeats
        ),
        gate=lambda name, row: _gate(name, base, row, inputs.spec.max_accuracy_drop),
        summary=lambda row: _summary(row, base),
        workspace=workspace, register_as=register_as, task="classification",
    )  # fmt: skip
    write_report(result, out_root)
    return result


def optimize_causal_lm(
    inputs: OptimizeInputs,
    methods: list[str],
    out_root: Path,
    *,
    workspace: Workspace | None = None,
    register_as: str | None = None,
) -> OptimizeResult:
    """The same loop for a chat model: its methods, its measurement, its quality gate."""
    from llmline.optimize import generative
    from llmline.optimize.measure import measure_in_fresh_process

    table = generative.CAUSAL_LM_METHODS
    chosen = [(m, table.get(m, key="optimize.methods")) for m in methods]
    rows = inputs.spec.generation_rows

    def measured(name: str, directory: Path) -> dict[str, Any]:
        return measure_in_fresh_process(
            name, directory, inputs.validation, 0, kind="causal_lm", rows=rows
        )

    base = measured("original (torch fp32)", inputs.model_dir)
    result = _variants(
        inputs, chosen, out_root, base, measure=measured,
        gate=lambda name, row: generative.gate(name, base, row, inputs.spec),
        summary=lambda row: console.print(generative.summary_line(row, base)),
        workspace=workspace, register_as=register_as, task="causal_lm",
    )  # fmt: skip
    write_json_atomic(out_root / "report.json", {"baseline": base, "variants": result.variants})
    table_md = generative.report_table(base, result.variants)
    write_text_atomic(out_root / "report.md", "# Optimization report (causal LM)\n\n" + table_md)
    return result


def _variants(
    inputs: OptimizeInputs,
    chosen: list[tuple[str, Callable[[OptimizeInputs, Path], Any]]],
    out_root: Path,
    base: dict[str, Any],
    *,
    measure: Callable[[str, Path], dict[str, Any]],
    gate: Callable[[str, dict[str, Any]], dict[str, Any]],
    summary: Callable[[dict[str, Any]], None],
    workspace: Workspace | None,
    register_as: str | None,
    task: str,
) -> OptimizeResult:
    """The one loop for classifiers and chat models: build each variant into out_root/<name>/,
    measure it, gate it against the original, register it if it passes."""
    result = OptimizeResult(baseline=base)
    for name, method in chosen:
        directory = out_root / name
        shutil.rmtree(directory, ignore_errors=True)
        method(inputs, directory)
        row = measure(name, directory)
        row["gate"] = gate(name, row)
        row["path"] = str(directory)
        if register_as and workspace is not None and row["gate"]["passed"]:
            row["registered"] = _register(
                workspace, register_as, name, directory, row, inputs, task=task
            )
        result.variants.append(row)
        summary(row)
    return result


def _gate(name: str, base: dict[str, Any], row: dict[str, Any], allowed: float) -> dict[str, Any]:
    drop = base["accuracy"] - row["accuracy"]
    row["accuracy_delta"] = round(-drop, 4)
    row["speedup_b1"] = round(base["p50_ms_b1"] / max(row["p50_ms_b1"], 1e-9), 2)
    return {
        "gate": f"{name}.max_accuracy_drop",
        "threshold": allowed,
        "actual": round(drop, 4),
        "passed": drop <= allowed + 1e-9,
    }


def _summary(row: dict[str, Any], base: dict[str, Any]) -> None:
    verdict = "passes" if row["gate"]["passed"] else "REJECTED (accuracy gate)"
    console.print(
        f"[bold]optimize[/]: {row['name']} — {row['size_mb']:.1f} MB (was {base['size_mb']:.1f}),"
        f" p50 {row['p50_ms_b1']:.1f} ms at batch 1 ({row['speedup_b1']}x), accuracy delta "
        f"{row['accuracy_delta']:+.4f} — {verdict}"
    )


def _register(
    workspace: Workspace,
    base_name: str,
    method: str,
    directory: Path,
    row: dict[str, Any],
    inputs: OptimizeInputs,
    *,
    task: str = "classification",
) -> str:
    from llmline.registry.store import register_version, set_alias

    name = f"{base_name}-{method}"
    metrics = {k: v for k, v in row.items() if isinstance(v, int | float)}
    tags = {
        "llmline.variant_of": str(inputs.model_dir),
        "llmline.optimize_method": method,
        "llmline.model_sha256": sha256_path(directory),
        "llmline.gates": "passed",
        "llmline.task": task,
    }
    version = register_version(
        workspace,
        name=name,
        model_dir=directory,
        params={"method": method, **inputs.spec.model_dump()},
        metrics=metrics,
        tags=tags,
    )
    set_alias(workspace, name, VARIANT_ALIAS, version.version)
    audit_append(
        workspace.audit_log,
        "variant_registered",
        name=name,
        version=version.version,
        method=method,
        **{k: row[k] for k in ("accuracy_delta", "exact_match_delta") if k in row},
    )
    return f"models:/{name}/{version.version}"


def write_report(result: OptimizeResult, out_root: Path) -> None:
    write_json_atomic(
        out_root / "report.json", {"baseline": result.baseline, "variants": result.variants}
    )
    head = (
        "| variant | size MB | p50/p99 ms b1 | p50/p99 ms b32 | texts/s | accuracy | "
        "delta | gate |\n|---|---|---|---|---|---|---|---|\n"
    )
    lines = [_table_row(result.baseline, "-")]
    for row in result.variants:
        lines.append(_table_row(row, "pass" if row["gate"]["passed"] else "REJECTED"))
    write_text_atomic(
        out_root / "report.md", "# Optimization report\n\n" + head + "\n".join(lines) + "\n"
    )


def _table_row(row: dict[str, Any], gate: str) -> str:
    delta = row.get("accuracy_delta", 0.0)
    return (
        f"| {row['name']} | {row['size_mb']:.1f} | {row['p50_ms_b1']:.1f}/{row['p99_ms_b1']:.1f} "
        f"| {row['p50_ms_b32']:.1f}/{row['p99_ms_b32']:.1f} | {row['throughput_tps']:.0f} "
        f"| {row['accuracy']:.4f} | {delta:+.4f} | {gate} |"
    )


def _stage(ctx: Context) -> StageOutput:
    spec = ctx.spec
    inputs = OptimizeInputs(
        ctx.run.model_dir,
        spec.optimize,
        ctx.run.data_dir / "train.parquet",
        ctx.run.data_dir / "validation.parquet",
        spec.seed,
    )
    out_root = ctx.run.dir / "optimize"
    result = optimize_model(
        inputs,
        spec.optimize.methods,
        out_root,
        workspace=ctx.workspace,
        register_as=spec.model_name,
    )
    # Variant gates are reported, not inherited: a rejected variant must not block the model.
    keys = ("name", "accuracy_delta", "exact_match_delta", "speedup_b1", "speedup", "gate")
    summary = [{k: v[k] for k in keys if k in v} for v in result.variants]
    return StageOutput(paths={"report": out_root / "report.json"}, result={"variants": summary})


CHAIN_STAGES.register("optimize")(
    Stage(
        name="optimize",
        order=40,
        run=_stage,
        config=lambda ctx: ctx.spec.optimize.model_dump(mode="json"),
        enabled=lambda ctx: bool(ctx.spec.optimize.methods),
    )
)
