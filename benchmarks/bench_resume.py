"""Crash-safe training: an uninterrupted run against one killed (kill -9) mid-epoch and resumed.

    .venv/bin/python benchmarks/bench_resume.py [--rows 2000] [--kill-at 0.5] [--save-steps 10]
    .venv/bin/python benchmarks/bench_resume.py --quick     # a tiny slice: proves the script runs

Both runs train packaged:minilm for one epoch on the same seeded Banking77 slice (max_length
32, the recipe's other settings, the same seed) through `python -m llmline run`. The second is
killed with SIGKILL once it has finished --kill-at of its optimiser steps, then continued with
`llmline run --resume`. Reports steps, final validation accuracy and loss of both, wall times,
and the work lost to the kill (steps recomputed after the resume, extra wall seconds). A step
tracer callback records the last finished step; it runs in both, so they pay the same cost.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes/banking77-intents.yaml"

# `llmline` with a callback writing the last finished optimiser step to $BENCH_TRACE.
TRACED_CLI = """
import os, sys
from transformers import TrainerCallback
from llmline.train import controls

class Trace(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        path = os.environ["BENCH_TRACE"]
        with open(path + ".tmp", "w") as fh:
            fh.write(str(state.global_step))
        os.replace(path + ".tmp", path)

callbacks = controls.callbacks
controls.callbacks = lambda *a, **k: [*callbacks(*a, **k), Trace()]
from llmline.cli import main
sys.exit(main(sys.argv[1:]))
"""


def write_slice(source: Path, out: Path, *, rows: int, labels: int, seed: int) -> Path:
    """A seeded random slice (every label keeps examples), optionally of the first N labels."""
    with source.open(encoding="utf-8", newline="") as fh:
        data = list(csv.DictReader(fh))
    if labels:
        keep = sorted({r["category"] for r in data})[:labels]
        data = [r for r in data if r["category"] in keep]
    random.Random(seed).shuffle(data)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows({"text": r["text"], "category": r["category"]} for r in data[:rows])
    return out


def write_spec(args: argparse.Namespace, data: Path, out: Path) -> Path:
    import yaml

    from llmline.spec import load_spec

    spec = load_spec(RECIPE, {"data_dir": str(Path(args.data_dir).resolve())})
    spec.name = "bench-resume"
    spec.data.source.path = data
    spec.data.validation_fraction = 0.2
    spec.train.epochs = 1
    spec.train.max_length = 32
    spec.train.batch_size = args.batch_size
    spec.train.save_steps = args.save_steps
    spec.train.threads = args.threads
    raw = spec.model_dump(mode="json", exclude={"workspace", "variables"})
    out.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return out


def launch(spec: Path, workspace: Path, trace: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BENCH_TRACE": str(trace), "LLMLINE_NO_PROGRESS": "1"}
    argv = [sys.executable, "-c", TRACED_CLI, "run", str(spec), "--workspace", str(workspace),
            "--until", "train", *extra]  # fmt: skip
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def finish(process: subprocess.Popen[bytes]) -> None:
    if process.wait() != 0:
        raise SystemExit(f"llmline exited with {process.returncode}")


def train_result(workspace: Path) -> dict[str, Any]:
    (run_dir,) = (workspace / "runs").iterdir()
    record = json.loads((run_dir / "stages" / "train.json").read_text(encoding="utf-8"))
    metrics = record["result"]["metrics"]
    return {
        "steps": record["result"]["steps"],
        "accuracy": round(metrics["eval_accuracy"], 4),
        "eval_loss": round(metrics["eval_loss"], 4),
    }


def last_step(trace: Path) -> int:
    return int(trace.read_text()) if trace.exists() else 0


def uninterrupted(spec: Path, workspace: Path) -> dict[str, Any]:
    started = time.perf_counter()
    finish(launch(spec, workspace, workspace / "trace"))
    return {**train_result(workspace), "wall_seconds": round(time.perf_counter() - started, 1)}


def last_complete_checkpoint(checkpoints: Path) -> int:
    """The step the resume will start from (read only: the resumed run itself cleans up)."""
    steps = [0]
    for path in checkpoints.glob("checkpoint-*"):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # half-written by the kill
        steps.append(int(path.name.rsplit("-", 1)[1]))
    return max(steps)


def killed_and_resumed(spec: Path, workspace: Path, kill_step: int) -> dict[str, Any]:
    trace = workspace / "trace"
    workspace.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    process = launch(spec, workspace, trace)
    while process.poll() is None and last_step(trace) < kill_step:
        time.sleep(0.05)
    if process.poll() is not None:
        raise SystemExit("the run finished before the kill; use more --rows")
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_wall = time.perf_counter() - started
    killed_at = last_step(trace)
    (run_dir,) = (workspace / "runs").iterdir()
    resumed_from = last_complete_checkpoint(run_dir / "checkpoints")
    finished = (run_dir / "stages" / "train.json").exists() or (run_dir / "model").exists()
    started = time.perf_counter()
    finish(launch(spec, workspace, trace, "--resume"))
    resume_wall = time.perf_counter() - started
    return {
        **train_result(workspace),
        "killed_at_step": killed_at,
        "resumed_from_step": resumed_from,
        "lost_steps": killed_at - resumed_from,
        "train_stage_finished_while_killed": finished,
        "wall_seconds_until_kill": round(killed_wall, 1),
        "wall_seconds_resume": round(resume_wall, 1),
        "wall_seconds": round(killed_wall + resume_wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared/datasets/banking77"))
    parser.add_argument("--rows", type=int, default=2000, help="seeded random Banking77 rows")
    parser.add_argument("--labels", type=int, default=0, help="only the first N labels; 0: all")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--save-steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of steps before kill")
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/bench-resume"))
    parser.add_argument("--output", type=Path, default=Path("/tmp/bench-resume/resume.json"))
    parser.add_argument("--quick", action="store_true", help="160 rows of 4 labels, batch 16")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.labels, args.batch_size, args.save_steps = 160, 4, 16, 2
    import shutil

    shutil.rmtree(args.workspace, ignore_errors=True)
    args.workspace.mkdir(parents=True)
    data = write_slice(Path(args.data_dir) / "train.csv", args.workspace / "slice.csv",
                       rows=args.rows, labels=args.labels, seed=0)  # fmt: skip
    spec = write_spec(args, data, args.workspace / "spec.yaml")

    whole = uninterrupted(spec, args.workspace / "uninterrupted")
    kill_step = max(1, round(whole["steps"] * args.kill_at))
    resumed = killed_and_resumed(spec, args.workspace / "killed", kill_step)
    result = {
        "benchmark": "bench_resume", "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {_device()}",
        "command": " ".join(["benchmarks/bench_resume.py", *sys.argv[1:]]),
        "rows": args.rows, "labels": args.labels or "all", "save_steps": args.save_steps,
        "uninterrupted": whole, "killed_and_resumed": resumed,
        "same_steps": whole["steps"] == resumed["steps"],
        "accuracy_delta": round(resumed["accuracy"] - whole["accuracy"], 4),
        "extra_wall_seconds": round(resumed["wall_seconds"] - whole["wall_seconds"], 1),
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def _device() -> str:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"


if __name__ == "__main__":
    main()
