"""Run the chain's stages in order, skipping any whose inputs have not changed.

A stage is cached by a key: the sha256 of its own config, of the run's input files and of the
artifacts it reads. Its completion marker (stages/NAME.json) is written only after its outputs,
so a run killed part-way resumes at the first unfinished stage and never registers a half-made
model.

A run directory belongs to one whole spec (its id hashes the spec and the input bytes), so an
edited spec starts a new run. Stages that declare the folders they write (`shares`) are
content-addressed across runs: when another run of the workspace finished the same stage with
the same key, its folders are hard-linked into the new run instead of recomputed. Editing
`evaluate.gates` therefore re-evaluates and re-registers without re-training, and editing
`train.*` re-trains on the data stage's snapshots of the earlier run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmline.console import console
from llmline.errors import SpecError
from llmline.lineage import (
    Manifest,
    artifact_record,
    audit_append,
    sha256_json,
    sha256_path,
    write_json_atomic,
    write_text_atomic,
)
from llmline.spec import PipelineSpec
from llmline.variants import Registry
from llmline.workspace import Run, Workspace


@dataclass
class Context:
    """What stages share: the spec, the run, and each finished stage's result."""

    spec: PipelineSpec
    run: Run
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    input_hashes: list[str] = field(default_factory=list)

    @property
    def workspace(self) -> Workspace:
        return self.run.workspace


@dataclass
class StageOutput:
    paths: dict[str, Path]
    result: dict[str, Any]


@dataclass(frozen=True)
class Stage:
    """order sorts stages; config (with the inputs' hashes) is the cache key. scratch names a
    folder of the run dir with resumable partial work (training checkpoints), kept for a re-run
    of the same key, cleared for any other, and removed once the stage finishes: its outputs
    are saved and its marker makes a re-run reuse them, so nothing could resume from it.
    shares names the folders of the run dir that hold everything the stage writes: such a stage
    may be reused from another run (its folders hard-linked) and starts from empty folders when
    it runs."""

    name: str
    order: int
    run: Callable[[Context], StageOutput]
    config: Callable[[Context], Any]
    enabled: Callable[[Context], bool] = lambda ctx: True
    scratch: str | None = None
    shares: tuple[str, ...] = ()


CHAIN_STAGES: Registry[Stage] = Registry("chain stage")
BUILTIN_STAGE_MODULES = (
    "llmline.stages", "llmline.optimize.stage", "llmline.monitor.reference", "llmline.govern.stage",
    "llmline.assistant.stage",
)  # fmt: skip


def spec_sha256(spec: PipelineSpec) -> str:
    return sha256_json(spec.model_dump(mode="json", exclude={"workspace", "variables"}))


def input_hashes(spec: PipelineSpec) -> list[str]:
    """sha256 of the spec's input files (source and validation), in that order."""
    sources = [spec.data.source, spec.data.validation]
    return [sha256_path(s.path) for s in sources if s is not None]


def run_id_for(spec: PipelineSpec, hashes: list[str] | None = None) -> str:
    """Same spec + same input bytes -> same run directory, which is what makes resume work."""
    hashes = input_hashes(spec) if hashes is None else hashes
    return f"{spec.name}-{sha256_json([spec_sha256(spec), hashes])[:10]}"


def stage_list() -> list[Stage]:
    import importlib

    for module in BUILTIN_STAGE_MODULES:
        importlib.import_module(module)
    return sorted((CHAIN_STAGES.get(n) for n in CHAIN_STAGES.names()), key=lambda s: s.order)


def run_chain(
    spec: PipelineSpec, workspace: Workspace, *, force: bool = False, until: str | None = None,
    resume: bool = False,
) -> Context:  # fmt: skip
    """Run every enabled stage (up to `until`), reusing finished ones unless force is set.

    An unfinished stage continues from its partial work (a plain re-run does this); resume
    insists on it: it fails rather than start a new run when this spec has none to continue.
    """
    hashes = input_hashes(spec)
    run = Run(workspace, run_id_for(spec, hashes))
    if resume:
        _check_resumable(run, force=force)
    run.dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run.spec_path, yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    manifest = Manifest(run.manifest_path)
    manifest.start(run_id=run.run_id, spec_sha256=spec_sha256(spec), seed=spec.seed)
    ctx = Context(spec, run, input_hashes=hashes)
    status = "failed"
    try:
        for stage in stage_list():
            if stage.enabled(ctx):
                _run_stage(stage, ctx, manifest, force=force)
            if stage.name == until:
                break
        status = "succeeded"
    finally:
        manifest.finish(status)
    return ctx


def stage_key(stage: Stage, ctx: Context) -> str:
    """The stage's own config, the run's input bytes and the artifacts of the stages before it."""
    return sha256_json(
        {
            "stage": stage.name,
            "config": stage.config(ctx),
            "input_files": ctx.input_hashes,
            "inputs": {n: r.get("outputs") for n, r in ctx.results.items()},
        }
    )


def _run_stage(stage: Stage, ctx: Context, manifest: Manifest, *, force: bool) -> None:
    key = stage_key(stage, ctx)
    marker = ctx.run.stages_dir / f"{stage.name}.json"
    cached = None if force else _load_marker(marker, key, ctx.run.dir)
    if cached is not None:
        console.print(f"[dim]{stage.name}: unchanged, reusing the finished stage[/]")
    elif not force and stage.shares:
        cached = _reuse_from_other_run(stage, key, ctx, marker)
    if cached is not None:
        ctx.results[stage.name] = cached
        manifest.record_stage(stage.name, {**cached, "status": "cached"})
        return
    started = time.perf_counter()
    if stage.scratch:
        _claim_scratch(ctx.run.dir / stage.scratch, key, fresh=force)
    _empty_shared_folders(stage, ctx.run.dir)
    manifest.record_stage(stage.name, {"key": key, "status": "running"})
    output = stage.run(ctx)
    outputs = {n: artifact_record(p, ctx.run.dir) for n, p in output.paths.items()}
    record = {
        "key": key,
        "status": "finished",
        "seconds": round(time.perf_counter() - started, 2),
        "outputs": outputs,
        "result": output.result,
    }
    write_json_atomic(marker, record)
    if stage.scratch:
        _remove_scratch(ctx.run.dir / stage.scratch, stage.name)
    if stage.shares:
        write_json_atomic(_index_entry(ctx.workspace, stage.name, key), {"run_id": ctx.run.run_id})
    ctx.results[stage.name] = record
    manifest.record_stage(stage.name, record)
    audit_append(
        ctx.workspace.audit_log,
        "stage_finished",
        run_id=ctx.run.run_id,
        stage=stage.name,
        outputs={n: o["sha256"] for n, o in outputs.items()},
    )


def _index_entry(workspace: Workspace, stage: str, key: str) -> Path:
    """Where the workspace remembers which run finished a shareable stage with this key."""
    return workspace.cache / "stages" / stage / f"{key}.json"


def _reuse_from_other_run(
    stage: Stage, key: str, ctx: Context, marker: Path
) -> dict[str, Any] | None:
    """Link the folders of another run's finished stage with this key into this run.

    The other run's marker is re-checked (same key, outputs byte-identical) before anything is
    linked, and this run's marker is written last, so a failure here leaves a plain re-run.
    """
    entry = _index_entry(ctx.workspace, stage.name, key)
    if not entry.exists():
        return None
    source = Run(ctx.workspace, json.loads(entry.read_text(encoding="utf-8"))["run_id"])
    if source.run_id == ctx.run.run_id:
        return None
    record = _load_marker(source.stages_dir / f"{stage.name}.json", key, source.dir)
    if record is None:
        return None
    for folder in stage.shares:
        if (source.dir / folder).exists():
            _link_tree(source.dir / folder, ctx.run.dir / folder)
    record = {**record, "reused_from": source.run_id}
    write_json_atomic(marker, record)
    console.print(f"[dim]{stage.name}: unchanged, reusing the finished stage of run "
                  f"{source.run_id}[/]")  # fmt: skip
    return record


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link every file of source under target (a copy where links are not possible).

    Stages write with temp-and-rename or into folders they empty first, so a linked file is
    never rewritten in place and the two runs cannot change each other's artifacts.
    """
    import os
    import shutil

    shutil.rmtree(target, ignore_errors=True)
    for path in sorted(source.rglob("*")):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, destination)
        except OSError:  # another file system, or links not supported
            shutil.copy2(path, destination)


def _empty_shared_folders(stage: Stage, run_dir: Path) -> None:
    """A stage that runs starts from empty folders: a file linked from another run must be
    replaced, not overwritten in place (which would change that run's artifact too)."""
    import shutil

    for folder in stage.shares:
        shutil.rmtree(run_dir / folder, ignore_errors=True)


def _check_resumable(run: Run, *, force: bool) -> None:
    if force:
        raise SpecError("--resume and --force contradict each other", fix="pass one of them")
    if not run.manifest_path.exists():
        raise SpecError(
            f"nothing to resume: this spec and its data have no run {run.run_id} in "
            f"{run.workspace.runs}",
            fix="the spec or its input data changed since (the run id hashes both); run "
            "without --resume to start a new run",
        )
    console.print(f"resuming run {run.run_id}")


SCRATCH_STAMP = "llmline_stage.json"


def _claim_scratch(directory: Path, key: str, *, fresh: bool) -> None:
    """Keep a stage's partial work only for the stage key that wrote it, so a forced or changed
    stage starts over instead of resuming another configuration's optimiser state."""
    import shutil

    stamp = directory / SCRATCH_STAMP
    if directory.exists():
        owner = json.loads(stamp.read_text(encoding="utf-8")).get("key") if stamp.exists() else None
        if fresh or owner != key:
            reason = "--force" if fresh else "it belongs to another configuration"
            console.print(f"[yellow]discarding the partial work in {directory.name}/ ({reason})[/]")
            shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    write_json_atomic(stamp, {"key": key})


def _remove_scratch(directory: Path, stage: str) -> None:
    """A finished stage's checkpoints are dead weight (a model and its optimiser state each:
    1.4 GB for a 118M-parameter encoder), so they go once the marker is written."""
    import shutil

    if not directory.is_dir():
        return
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    shutil.rmtree(directory, ignore_errors=True)
    if size > 1 << 20:
        console.print(f"[dim]{stage}: removed its {size / 1e9:.2f} GB of checkpoints[/]")


def _load_marker(marker: Path, key: str, run_dir: Path) -> dict[str, Any] | None:
    """A finished stage counts only if its key matches and its outputs are byte-identical."""
    if not marker.exists():
        return None
    record: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
    if record.get("key") != key:
        return None
    for output in record.get("outputs", {}).values():
        path = run_dir / output["path"]
        if not path.exists() or sha256_path(path) != output["sha256"]:
            return None
    return record
