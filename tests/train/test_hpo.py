"""Optuna search: trials run the chain with sampled values; table and best spec written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from llmline.errors import SpecError
from llmline.spec import SearchDimension, load_spec
from llmline.train.hpo import search, trial_spec
from llmline.workspace import Workspace
from tests.conftest import toy_spec_text

pytest.importorskip("optuna")

HPO = (
    "hpo:\n  trials: 2\n  metric: accuracy\n  space:\n"
    "    learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}\n"
    "    peft.r: {choices: [2, 4]}\n"
)


def test_trial_spec_sets_dotted_keys(tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(toy_spec_text(toy_csv, tiny_bert_dir) + HPO)
    spec = load_spec(path)
    trial = trial_spec(spec, {"learning_rate": 0.003, "freeze.layers": 1}, 7)
    assert trial.name == "toy-trial7" and trial.train.learning_rate == 0.003
    assert trial.train.freeze.layers == 1 and trial.hpo is None
    with pytest.raises(SpecError, match="learning_rat"):
        trial_spec(spec, {"learning_rat": 0.1}, 1)
    with pytest.raises(ValueError, match="low and high"):
        SearchDimension(low=1.0)


@pytest.mark.slow
def test_search_writes_table_and_best_spec(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path
) -> None:
    path = tmp_path / "s.yaml"
    text = toy_spec_text(toy_csv, tiny_bert_dir, max_steps=2, peft="{method: lora}")
    path.write_text(text + HPO)
    spec = load_spec(path)
    result = search(spec, Workspace.resolve(tmp_path / "ws"))
    rows = list(csv.DictReader(result.table.open()))
    assert len(rows) == 2 and {r["state"] for r in rows} == {"COMPLETE"}
    assert 0.0 <= result.best_value <= 1.0 and set(result.best_params) == {
        "learning_rate",
        "peft.r",
    }
    best = load_spec(result.best_spec)
    assert best.train.learning_rate == pytest.approx(result.best_params["learning_rate"])
    assert best.train.peft is not None and best.train.peft.r == result.best_params["peft.r"]
