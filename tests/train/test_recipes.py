"""The model-chain recipes load, validate and name registered heads and PEFT methods."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmline.spec import load_spec
from llmline.tasks import load_tasks

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "dataset", "task"),
    [("conll2003-ner.yaml", "conll2003", "ner"),
     ("banking77-instruct.yaml", "banking77", "causal_lm")],
)  # fmt: skip
def test_recipe_validates(name: str, dataset: str, task: str, shared_datasets: Path) -> None:
    spec = load_spec(RECIPES / name, {"data_dir": str(shared_datasets / dataset)})
    assert spec.task == task
    load_tasks().get(spec.task)
