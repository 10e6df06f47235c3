"""`train.distributed`: the same task trained data-parallel on N workers.

The chain stays one process; only the train stage fans out. Every worker runs the same
`fit.train_task`. HF Trainer finds the torch.distributed group the launcher set up (RANK,
WORLD_SIZE, MASTER_ADDR) and wraps the model in DDP: each worker takes `train.batch_size` rows
per step, gradients are averaged, and an epoch takes 1/N of the steps. Rank 0 alone writes the
model (`train_task` checks `trainer.is_world_process_zero()`) and `distributed/result.json`, which
the driver reads back as the stage's TrainResult.

- `backend: ray` runs the workers as a Ray Train `TorchTrainer` (gloo on CPU, NCCL on GPU), on
  a local Ray started for the run or on the cluster RAY_ADDRESS names.
- `backend: accelerate` re-launches this module as `accelerate launch --multi_gpu
  --num_processes N -m llmline.train.distributed JOB` on this machine.

Several machines need a run directory they all see (NFS, a shared volume): the workers read
the data snapshots from it and rank 0 writes the model into it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmline import errors
from llmline.console import console
from llmline.data.stage import DataArtifact
from llmline.errors import SpecError
from llmline.lineage import write_json_atomic
from llmline.spec import DistributedSpec, PipelineSpec
from llmline.train.fit import TrainResult, train_task
from llmline.variants import Registry
from llmline.workspace import Workspace

SCRATCH = "distributed"  # under the run dir: job.json, result.json, Ray's storage
LaunchFn = Callable[[PipelineSpec, DataArtifact, Path, Workspace], str]
"""Run run_worker on every worker; returns a few words on where it ran, for the summary."""
LAUNCHERS: Registry[LaunchFn] = Registry("distributed backend")


def train_model(
    spec: PipelineSpec, data: DataArtifact, out_dir: Path, workspace: Workspace
) -> TrainResult:
    """Train the spec's task here, or on the workers `train.distributed` names."""
    cfg = spec.train.distributed
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise SpecError(
            "llmline itself was started by a distributed launcher, so every stage would run "
            "once per process",
            where="train.distributed",
            fix="start `llmline run SPEC` once and set train.distributed: "
            "{backend: accelerate, workers: N}",
        )
    if cfg is None:
        return train_task(spec, data, out_dir, workspace)
    from llmline.train.hpo import ACTIVE_TRIAL

    if ACTIVE_TRIAL.get() is not None:  # trial pruning needs the Trainer in this process
        console.print("[dim]hpo: trials train in this process; train.distributed is ignored[/]")
        return train_task(spec, data, out_dir, workspace)
    return launch(spec, data, out_dir, workspace, cfg)


def launch(
    spec: PipelineSpec, data: DataArtifact, out_dir: Path, workspace: Workspace,
    cfg: DistributedSpec,
) -> TrainResult:  # fmt: skip
    from llmline.models.resolve import resolve_model

    launcher = LAUNCHERS.get(cfg.backend, key="train.distributed.backend")
    # Resolve once here: N workers downloading the same registry model at once would race.
    resolve_model(spec.train.base_model, workspace)
    scratch = out_dir / SCRATCH
    shutil.rmtree(scratch, ignore_errors=True)  # a stale result.json must not pass for this one
    scratch.mkdir(parents=True)
    started = time.perf_counter()
    where = launcher(spec, data, out_dir, workspace)
    result = read_result(scratch)
    rows = spec.train.batch_size * spec.train.gradient_accumulation_steps
    console.print(
        f"[bold]train[/]: {cfg.workers} {cfg.backend} workers on {where}: {result.steps} steps "
        f"of {cfg.workers} x {rows} rows in {time.perf_counter() - started:.0f}s "
        f"({result.seconds:.0f}s of it training)"
    )
    return result


def run_worker(
    spec: PipelineSpec, data: DataArtifact, out_dir: Path, workspace: Workspace
) -> TrainResult | None:
    """One worker: train the task; rank 0 writes result.json, any rank a user error it met."""
    rank = int(os.environ.get("RANK", "0"))
    if rank != 0:  # the driver shows rank 0's output only
        from transformers.utils import logging as hf_logging

        console.quiet = True
        hf_logging.disable_progress_bar()
    result_path = out_dir / SCRATCH / "result.json"
    try:
        result = train_task(spec, data, out_dir, workspace)
    except errors.LlmlineError as exc:  # any rank: the launcher may stop the others first
        error = {"kind": type(exc).__name__, "what": exc.what, "where": exc.where,
                 "fix": exc.fix}  # fmt: skip
        write_json_atomic(result_path, {"error": error})
        raise
    if rank != 0:
        return None
    record = {
        "model_dir": str(result.model_dir), "metrics": result.metrics,
        "seconds": result.seconds, "steps": result.steps, "world_size": _world_size(),
    }  # fmt: skip
    write_json_atomic(result_path, record)
    return result


def _world_size() -> int:
    """The size of the process group the Trainer trained in (1 without one)."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def read_result(scratch: Path) -> TrainResult:
    record = _result_record(scratch)
    if record is None:
        raise RuntimeError(f"the workers finished without writing {scratch / 'result.json'}")
    metrics = {**record["metrics"], "world_size": record["world_size"]}
    return TrainResult(Path(record["model_dir"]), metrics, record["seconds"], record["steps"])


def _result_record(scratch: Path) -> dict[str, Any] | None:
    """The workers' result.json; a user error a worker recorded is raised here, on the driver."""
    path = scratch / "result.json"
    if not path.exists():
        return None
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if "error" in record:
        error = record["error"]
        kind = getattr(errors, error["kind"], errors.LlmlineError)
        raise kind(error["what"], where=error["where"], fix=error["fix"])
    return record


def wants_gpu(cfg: DistributedSpec, gpus: int) -> bool:
    """use_gpu resolved against the GPUs there are: one per worker, or none at all."""
    use = gpus > 0 if cfg.use_gpu == "auto" else cfg.use_gpu
    if use and gpus < cfg.workers:
        raise SpecError(
            f"{cfg.workers} GPU workers need {cfg.workers} GPUs; {gpus} found",
            where="train.distributed.workers",
            fix=f"set workers to at most {gpus}" if gpus else "set use_gpu: false",
        )
    return bool(use)


# --- backend: ray ---------------------------------------------------------------------------


@LAUNCHERS.register("ray")
def launch_ray(spec: PipelineSpec, data: DataArtifact, out_dir: Path, workspace: Workspace) -> str:
    """Ray Train TorchTrainer with one worker per `workers`, storage inside the run dir."""
    cfg = spec.train.distributed
    assert cfg is not None
    ray, started_here = _start_ray(cfg.workers)
    try:
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchConfig, TorchTrainer

        resources = ray.cluster_resources()
        gpu = wants_gpu(cfg, int(resources.get("GPU", 0)))
        # CPU workers share the cluster's cores; Ray sets each worker's OMP_NUM_THREADS to them.
        per_worker = None if gpu else {"CPU": max(1, int(resources.get("CPU", 1)) // cfg.workers)}
        job = {"spec": spec, "data": data, "out_dir": out_dir, "workspace": workspace,
               "cwd": os.getcwd()}  # fmt: skip
        trainer = TorchTrainer(
            ray_worker,
            train_loop_config=job,
            torch_config=TorchConfig(backend="nccl" if gpu else "gloo"),
            scaling_config=ScalingConfig(
                num_workers=cfg.workers, use_gpu=gpu, resources_per_worker=per_worker
            ),
            run_config=RunConfig(
                name="train", storage_path=str(out_dir / SCRATCH / "ray"), **_quiet_train(ray)
            ),
        )
        try:
            trainer.fit()
        except Exception:
            _result_record(out_dir / SCRATCH)  # a user error a worker met beats Ray's wrapper
            raise
        return "GPUs (NCCL)" if gpu else "CPUs (gloo)"
    finally:
        if started_here:
            ray.shutdown()


def _quiet_train(ray: Any) -> dict[str, Any]:
    """Ray Train v2 logs every resource request and worker start at INFO; keep warnings."""
    if not hasattr(ray.train, "LoggingConfig"):  # Ray Train v1
        return {}
    return {"logging_config": ray.train.LoggingConfig(log_level="WARNING")}


def ray_worker(config: dict[str, Any]) -> None:
    """Ray Train's train_loop_per_worker: Ray has set RANK/WORLD_SIZE and the process group."""
    if Path(config["cwd"]).is_dir():  # Ray moved into its own dir; spec paths may be relative
        os.chdir(config["cwd"])
    run_worker(config["spec"], config["data"], config["out_dir"], config["workspace"])


def _start_ray(workers: int) -> tuple[Any, bool]:
    """Join the running Ray (or the cluster RAY_ADDRESS names), else start a local one."""
    import logging

    try:
        import ray
        import ray.train  # ray without the train extra has no ray.train
    except ImportError:
        raise SpecError(
            "train.distributed.backend ray needs Ray Train",
            where="train.distributed.backend",
            fix="pip install 'llmline[ray]'",
        ) from None
    if ray.is_initialized():
        return ray, False
    # Ray's own INFO/WARNING lines (resource requests, state-API retries without a dashboard)
    # would bury the training output; the workers' prints still reach this console.
    quiet: dict[str, Any] = {
        "include_dashboard": False, "logging_level": logging.ERROR,
        "logging_config": ray.LoggingConfig(log_level="ERROR"),
    }  # fmt: skip
    if os.environ.get("RAY_ADDRESS"):
        ray.init(**quiet)
    else:  # at least one CPU per worker, so a small machine runs the workers instead of waiting
        # One machine is never preempted; the watcher would only log a warning of its own.
        no_watcher = {"env_vars": {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}}
        ray.init(num_cpus=max(os.cpu_count() or 1, workers), runtime_env=no_watcher, **quiet)
    return ray, True


# --- backend: accelerate --------------------------------------------------------------------


@LAUNCHERS.register("accelerate")
def launch_accelerate(
    spec: PipelineSpec, data: DataArtifact, out_dir: Path, workspace: Workspace
) -> str:
    """`accelerate launch` N copies of this module on this machine, each reading job.json."""
    import torch

    cfg = spec.train.distributed
    assert cfg is not None
    gpu = wants_gpu(cfg, torch.cuda.device_count())
    job = out_dir / SCRATCH / "job.json"
    write_json_atomic(job, {
        "spec": spec.model_dump(mode="json"), "out_dir": str(out_dir),
        "workspace": str(workspace.root),
        "data": {"train": str(data.train), "validation": str(data.validation),
                 "labels": data.labels, "report": data.report},
    })  # fmt: skip
    env = dict(os.environ)
    if not gpu:  # CPU workers: no GPU, and the cores shared out instead of oversubscribed
        env["CUDA_VISIBLE_DEVICES"] = ""
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // cfg.workers)))
    # --multi_gpu picks accelerate's multi-process (torchrun) launcher; `--cpu` would start a
    # single process. On CPU the Trainer (use_cpu) then joins the group over gloo. accelerate
    # refuses --multi_gpu for one process, which then simply runs alone.
    multi = ["--multi_gpu"] if cfg.workers > 1 else []
    command = [
        sys.executable, "-m", "accelerate.commands.launch", *multi,
        "--num_processes", str(cfg.workers), "--num_machines", "1",
        "--main_process_port", str(_free_port()), "--mixed_precision", "no",
        "--dynamo_backend", "no", "-m", "llmline.train.distributed", str(job),
    ]  # fmt: skip
    code = subprocess.run(command, env=env, check=False).returncode
    if code != 0:
        _result_record(out_dir / SCRATCH)
        raise RuntimeError(f"accelerate launch exited with code {code}; see the worker output")
    return "GPUs (NCCL)" if gpu else "CPUs (gloo)"


def _free_port() -> int:
    """A port for the process group, so two runs on one machine do not collide on 29500."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> int:
    """One `accelerate launch` worker: rebuild the job the driver wrote and train."""
    (job_path,) = argv if argv is not None else sys.argv[1:]
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    spec = PipelineSpec.model_validate(job["spec"])
    raw = job["data"]
    data = DataArtifact(Path(raw["train"]), Path(raw["validation"]), raw["labels"], raw["report"])
    try:
        run_worker(spec, data, Path(job["out_dir"]), Workspace(Path(job["workspace"])))
    except errors.LlmlineError:
        return 2  # run_worker wrote it to result.json; the driver reports it
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()  # else torch warns at exit that the group was left open
    return 0


if __name__ == "__main__":
    sys.exit(main())
