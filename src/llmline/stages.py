"""The core stages of the chain: data -> train -> evaluate -> register.

Each adapter reads what it needs from the Context and calls the link's own function, so the
CLI verbs, the Python API and `llmline run` share one implementation. Later links (optimize,
govern) register their stages the same way, with an order between these.
"""

from __future__ import annotations

from typing import Any

from llmline.chain import CHAIN_STAGES, Context, Stage, StageOutput, spec_sha256
from llmline.console import console
from llmline.data.stage import DataArtifact


def _data(ctx: Context) -> StageOutput:
    from llmline.data.stage import prepare_data
    from llmline.tasks import get_task

    task = get_task(ctx.spec.task)
    if task.prepare_data is not None:  # NER tags, chat turns, corpora: the task's own reader
        artifact = task.prepare_data(ctx.spec, ctx.run.data_dir)
    else:
        artifact = prepare_data(
            ctx.spec.data, ctx.run.data_dir, seed=ctx.spec.seed, executor=ctx.spec.executor
        )
    return StageOutput(
        paths={"train": artifact.train, "validation": artifact.validation},
        result={"labels": artifact.labels, "report": artifact.report},
    )


def data_artifact(ctx: Context) -> DataArtifact:
    result = ctx.results["data"]["result"]
    return DataArtifact(
        train=ctx.run.data_dir / "train.parquet",
        validation=ctx.run.data_dir / "validation.parquet",
        labels=result["labels"],
        report=result["report"],
    )


def _train(ctx: Context) -> StageOutput:
    from llmline.train.auto_base import resolve_auto_base
    from llmline.train.distributed import train_model

    data = data_artifact(ctx)
    spec, pick = resolve_auto_base(ctx.spec, data.train)
    # In this process, or data-parallel on the workers train.distributed names.
    result = train_model(spec, data, ctx.run.dir, ctx.workspace)
    summary = {"metrics": result.metrics, "seconds": result.seconds, "steps": result.steps}
    if pick is not None:
        summary["base_model"] = pick.as_record()
    return StageOutput(paths={"model": result.model_dir}, result=summary)


def _evaluate(ctx: Context) -> StageOutput:
    """The task's evaluator on the validation snapshot, then the spec's gates on its metrics."""
    from llmline.evaluate.stage import evaluate_snapshot

    base_dir = None
    if ctx.spec.evaluate.compare_base:
        from llmline.models.resolve import resolve_model

        base_dir = resolve_model(ctx.spec.train.base_model, ctx.workspace)
    report = evaluate_snapshot(ctx.spec, ctx.run.model_dir, data_artifact(ctx).validation,
                               ctx.run.eval_dir, base_dir)  # fmt: skip
    summary = {k: report[k] for k in ("rows", "metrics", "primary", "gates", "passed")}
    if "base" in report:
        summary |= {"base": report["base"], "change": report["change"]}
    return StageOutput(paths={"report": ctx.run.eval_dir / "report.json"}, result=summary)


def all_gates(ctx: Context) -> list[dict[str, Any]]:
    """Gate verdicts from every finished stage (evaluation, and bias/safety when present)."""
    gates: list[dict[str, Any]] = []
    for name, record in ctx.results.items():
        for gate in record.get("result", {}).get("gates", []) or []:
            gates.append({"stage": name, **gate})
    return gates


def _register(ctx: Context) -> StageOutput:
    from llmline.lineage import audit_append
    from llmline.registry.store import register_version, set_alias, version_of_same_model

    spec, run = ctx.spec, ctx.run
    gates = all_gates(ctx)
    failed = [g for g in gates if not g["passed"]]
    data_outputs = ctx.results["data"]["outputs"]
    tags = {
        "llmline.run_id": run.run_id,
        "llmline.run_dir": str(run.dir),
        "llmline.spec_sha256": spec_sha256(spec),
        "llmline.data_train_sha256": data_outputs["train"]["sha256"],
        "llmline.data_validation_sha256": data_outputs["validation"]["sha256"],
        "llmline.model_sha256": ctx.results["train"]["outputs"]["model"]["sha256"],
        "llmline.task": spec.task,
        "llmline.gates": "passed" if not failed else "failed",
    }
    evaluation = ctx.results["evaluate"]["result"]
    uri = spec.registry.tracking_uri
    version = version_of_same_model(ctx.workspace, spec.model_name, tags, uri)
    if version is not None:
        console.print(
            f"register: {version.name} v{version.version} already holds this model "
            f"(same weights, validation data and gate verdict; run "
            f"{version.tags.get('llmline.run_id')}): not registered again"
        )
    else:
        version = register_version(
            ctx.workspace,
            name=spec.model_name,
            model_dir=run.model_dir,
            params={f"train.{k}": v for k, v in spec.train.model_dump().items()}
            | {"seed": spec.seed},
            metrics={f"val_{name}": float(v) for name, v in evaluation["metrics"].items()},
            tags=tags,
            tracking_uri=uri,
        )
        audit_append(
            ctx.workspace.audit_log, "model_registered", name=version.name,
            version=version.version, run_id=run.run_id, model_sha256=tags["llmline.model_sha256"],
        )  # fmt: skip
    alias = None
    if failed:
        from llmline.registry.promote import describe

        reasons = "; ".join(describe(g) for g in failed)
        console.print(
            f"[yellow]register[/]: {version.name} v{version.version} registered WITHOUT alias "
            f"'{spec.registry.alias}' because a gate failed: {reasons}"
        )
    elif spec.registry.alias in version.aliases:
        alias = spec.registry.alias
        console.print(f"[bold]register[/]: {version.name} v{version.version} stays @{alias}")
    else:
        set_alias(ctx.workspace, version.name, spec.registry.alias, version.version,
                  tracking_uri=uri)  # fmt: skip
        alias = spec.registry.alias
        audit_append(
            ctx.workspace.audit_log, "alias_moved", name=version.name, alias=alias,
            version=version.version, run_id=run.run_id,
        )  # fmt: skip
        console.print(f"[bold]register[/]: {version.name} v{version.version} is now @{alias}")
    return StageOutput(
        paths={},
        result={"name": version.name, "version": version.version, "alias": alias,
                "failed_gates": failed},
    )  # fmt: skip


def _task_config(ctx: Context) -> Any:
    """The task_config block as JSON values (the validated task model, or what was given)."""
    from pydantic import BaseModel

    config = ctx.spec.task_config
    return config.model_dump(mode="json") if isinstance(config, BaseModel) else config


# Keys hold only what each stage reads, so an edited later block reuses the earlier stages (and
# `shares` lets another run of the workspace reuse them: see chain.py).
CHAIN_STAGES.register("data")(
    Stage("data", 10, _data, lambda c: [c.spec.task, _task_config(c), c.spec.seed,
                                        c.spec.executor, c.spec.data.model_dump(mode="json")],
          shares=("data",))
)  # fmt: skip
# Tasks keep their HF checkpoints in <run>/checkpoints: resumable work of this stage's key only.
CHAIN_STAGES.register("train")(
    Stage("train", 20, _train, lambda c: [c.spec.task, _task_config(c), c.spec.seed,
                                          c.spec.train.model_dump()],
          scratch="checkpoints", shares=("model", "train"))
)  # fmt: skip
CHAIN_STAGES.register("evaluate")(
    Stage("evaluate", 30, _evaluate, lambda c: [c.spec.task, _task_config(c),
          c.spec.train.model_dump(), c.spec.evaluate.model_dump()], shares=("eval",))
)  # fmt: skip
CHAIN_STAGES.register("register")(
    Stage("register", 90, _register, lambda c: [c.spec.model_name, c.spec.registry.model_dump()])
)
