"""Crash-safe training: step checkpoints, kill -9 mid-epoch, --resume, stale partial work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from llmline.chain import _claim_scratch, run_chain
from llmline.cli import main
from llmline.errors import SpecError
from llmline.spec import TrainSpec, load_spec
from llmline.train.checkpoints import resumable, resume_checkpoint
from llmline.workspace import Workspace
from tests.conftest import toy_spec_text, write_csv

ROOT = Path(__file__).resolve().parents[2]

# `python -m llmline` with every optimiser step slowed down, so the test can kill it mid-epoch.
SLOW_CLI = """
import sys, time
from transformers import TrainerCallback
from llmline.train import controls

class Slow(TrainerCallback):
    def on_step_end(self, *args, **kwargs):
        time.sleep(0.1)

callbacks = controls.callbacks
controls.callbacks = lambda *a, **k: [*callbacks(*a, **k), Slow()]
from llmline.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_resume_checkpoint_skips_and_removes_half_written(tmp_path: Path) -> None:
    for step, state in ((10, "{}"), (20, "{}"), (30, '{"trunc'), (40, None)):
        path = tmp_path / f"checkpoint-{step}"
        path.mkdir()
        if state is not None:
            (path / "trainer_state.json").write_text(state)
    assert resume_checkpoint(tmp_path) == str(tmp_path / "checkpoint-20")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10", "checkpoint-20"]
    assert resume_checkpoint(tmp_path / "missing") is None


def test_step_checkpoints_leave_epoch_ends_to_the_evaluation_save() -> None:
    from transformers.trainer_utils import SaveStrategy

    callback = resumable(save_steps=5)[-1]
    args = SimpleNamespace(save_strategy=SaveStrategy.EPOCH)

    def saves(step: int, epoch: float, max_steps: int = 40) -> bool:
        control = SimpleNamespace(should_save=False)
        state = SimpleNamespace(global_step=step, epoch=epoch, max_steps=max_steps)
        return bool(callback.on_step_end(args, state, control).should_save)

    assert saves(5, 0.25) and saves(25, 1.25)
    assert not saves(6, 0.3)  # not a multiple of save_steps
    assert not saves(20, 1.0)  # epoch end: HF saves it with the evaluation
    assert not saves(35, 1.75, max_steps=35)  # last step: the epoch-end save follows
    args.save_strategy = SaveStrategy.STEPS
    assert saves(20, 1.0)  # evaluations every N steps: an epoch end is an ordinary step


def test_eval_steps_and_save_steps_pass_hf_best_model_checks(tmp_path: Path) -> None:
    from llmline.train.fit import training_arguments

    common: dict[str, Any] = {"seed": 1, "metric": "accuracy", "greater_is_better": True,
                              "steps": 100}  # fmt: skip
    per_epoch = training_arguments(TrainSpec(save_steps=7), tmp_path, **common)
    assert per_epoch.eval_strategy == per_epoch.save_strategy == "epoch"
    stepped = training_arguments(TrainSpec(save_steps=7, eval_steps=10), tmp_path, **common)
    assert stepped.eval_strategy == stepped.save_strategy == "steps"
    assert stepped.eval_steps == stepped.save_steps == 10 and stepped.load_best_model_at_end


def test_partial_work_is_kept_only_for_its_stage_key(tmp_path: Path) -> None:
    scratch = tmp_path / "checkpoints"
    _claim_scratch(scratch, "key-a", fresh=False)
    (scratch / "checkpoint-5").mkdir()
    _claim_scratch(scratch, "key-a", fresh=False)
    assert (scratch / "checkpoint-5").is_dir()  # same configuration: resume from it
    _claim_scratch(scratch, "key-b", fresh=False)
    assert not (scratch / "checkpoint-5").exists()  # another configuration's optimiser state
    (scratch / "checkpoint-5").mkdir()
    _claim_scratch(scratch, "key-b", fresh=True)
    assert not (scratch / "checkpoint-5").exists()  # --force starts over


def test_resume_without_a_run_fails_clearly(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(toy_spec_text(toy_csv, tiny_bert_dir), encoding="utf-8")
    with pytest.raises(SpecError, match="nothing to resume"):
        run_chain(load_spec(spec_path), Workspace.resolve(tmp_path / "ws"), resume=True)
    with pytest.raises(SystemExit):
        main(["run", str(spec_path), "--resume", "--force"])
    assert "not allowed with argument" in capsys.readouterr().err


def _spec(tmp_path: Path, tiny_bert_dir: Path) -> Path:
    """Two epochs of 26 steps; a step checkpoint every 4 steps."""
    rows = [(f"invoice charge fee question {i}", "billing") for i in range(70)]
    rows += [(f"card pin atm question {i}", "cards") for i in range(70)]
    data = write_csv(tmp_path / "data.csv", rows)
    text = (
        toy_spec_text(data, tiny_bert_dir, save_steps=4, head_init="random", head_dropout=0.1)
        .replace("epochs: 1", "epochs: 2")
        .replace("batch_size: 8", "batch_size: 4")
    )
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _cli(*args: str, slow: bool = False) -> list[str]:
    prefix = ["-c", SLOW_CLI] if slow else ["-m", "llmline"]
    return [sys.executable, *prefix, *args]


def _kill_in_second_epoch(argv: list[str], checkpoints: Path, steps_per_epoch: int) -> None:
    """Start the run and kill -9 it once a step checkpoint inside the second epoch exists."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            done = [int(p.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*")
                    if (p / "trainer_state.json").exists()]  # fmt: skip
            if any(steps_per_epoch < step < 2 * steps_per_epoch for step in done):
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        if process.poll() is None and time.monotonic() >= deadline:
            process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"


def _train_record(workspace: Path) -> tuple[Path, dict[str, object]]:
    (run_dir,) = (workspace / "runs").iterdir()
    return run_dir, json.loads((run_dir / "stages" / "train.json").read_text())["result"]


def _evaluations(run_dir: Path) -> list[tuple[int, float]]:
    """(step, validation loss) of every evaluation, from the run's loss curve."""
    curve = json.loads((run_dir / "train" / "loss_curve.json").read_text())
    return [(p["step"], p["loss"]) for p in curve["validation"]]


@pytest.mark.slow
@pytest.mark.integration
def test_killed_mid_epoch_resumes_to_the_same_steps_and_metrics(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    spec = str(_spec(tmp_path, tiny_bert_dir))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole = tmp_path / "whole"
    subprocess.run(_cli("run", spec, "--workspace", str(whole), "--until", "train"),
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    whole_dir, expected = _train_record(whole)
    per_epoch = int(expected["steps"]) // 2  # type: ignore[call-overload]

    killed = tmp_path / "killed"
    argv = _cli("run", spec, "--workspace", str(killed), slow=True)
    _kill_in_second_epoch(argv, killed / "runs" / whole_dir.name / "checkpoints", per_epoch)
    run_dir = killed / "runs" / whole_dir.name
    assert not (run_dir / "stages" / "train.json").exists()  # the stage never finished
    assert not (run_dir / "model").exists() and not (killed / "mlflow.db").exists()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] != "succeeded"

    out = subprocess.run(
        _cli("run", spec, "--workspace", str(killed), "--until", "train", "--resume"),
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert "resuming training from checkpoint-" in out.stdout + out.stderr
    _, resumed = _train_record(killed)
    assert resumed["steps"] == expected["steps"]
    metrics, want = resumed["metrics"], expected["metrics"]
    assert isinstance(metrics, dict) and isinstance(want, dict)
    assert metrics["eval_accuracy"] == pytest.approx(want["eval_accuracy"], abs=1e-6)
    # The second epoch ran partly after the resume: its evaluation matches the whole run's,
    # which needs the same data order and RNG state, not only the same step count.
    evaluations, wanted = _evaluations(run_dir), _evaluations(whole_dir)
    assert [s for s, _ in evaluations] == [s for s, _ in wanted] == [per_epoch, 2 * per_epoch]
    assert [v for _, v in evaluations] == pytest.approx([v for _, v in wanted], abs=1e-4)
