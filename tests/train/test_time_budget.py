"""train.max_minutes: the run stops at the first step past the budget, and that step is
evaluated and checkpointed exactly once, whichever evaluation cadence the spec uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.chain import run_chain
from llmline.spec import load_spec
from llmline.workspace import Workspace
from tests.conftest import toy_spec_text


@pytest.mark.parametrize("cadence", [{}, {"eval_steps": 2}])
def test_budget_stop_evaluates_the_last_step_once(
    cadence: dict[str, int], tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path
) -> None:
    spec_path = tmp_path / "spec.yaml"
    text = toy_spec_text(toy_csv, tiny_bert_dir, epochs=3, max_minutes=1.0e-6, **cadence)
    spec_path.write_text(text, encoding="utf-8")
    ctx = run_chain(load_spec(spec_path), Workspace.resolve(tmp_path / "ws"), until="train")
    assert ctx.results["train"]["result"]["steps"] == 1  # stopped after the first step
    curve = json.loads((ctx.run.dir / "train" / "loss_curve.json").read_text(encoding="utf-8"))
    assert [p["step"] for p in curve["validation"]] == [1]
    assert not (ctx.run.dir / "checkpoints").exists()  # the finished stage's scratch is gone
