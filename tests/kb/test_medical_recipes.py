"""The retrieval recipes validate, and the pair writer's negatives are real near misses."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from llmline.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]


def _pairs_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_medqa_pairs", ROOT / "scripts" / "make_medqa_pairs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "task"),
    [("medical-embedding-zh", "embedding"), ("medical-rerank-zh", "pair_classification")],
)
def test_retrieval_recipes_validate_and_register_their_names(
    name: str, task: str, tmp_path: Path
) -> None:
    for split in ("embed-train", "embed-dev", "rerank-train", "rerank-dev"):
        (tmp_path / f"{split}.tsv").write_text("1\t胃疼吃什么药\t奥美拉唑\n", encoding="utf-8")
    spec = load_spec(ROOT / "recipes" / f"{name}.yaml", {"data_dir": str(tmp_path)})
    assert spec.task == task and spec.registry.name == name
    assert spec.train.base_model == "packaged:e5-small"
    assert spec.data.source.pair_column == "answer"


def test_negatives_are_the_closest_other_answer_and_a_random_one() -> None:
    pairs = [
        ("胃疼吃什么药好", "胃疼可以吃奥美拉唑，饭后服用。"),
        ("头疼失眠怎么办", "头疼失眠建议规律作息，必要时服用安眠药。"),
        ("胃疼反酸怎么回事", "胃疼反酸多是胃食管反流，少吃辛辣。"),
        ("How to treat a cold?", "Rest and drink water."),
    ]
    rows = _pairs_module().negatives(pairs[:1], pairs, seed=0)
    assert rows[0] == ("1", *pairs[0])
    assert rows[1] == ("0", pairs[0][0], pairs[2][1])  # shares 胃疼: the hard negative
    assert all(label == "0" and answer != pairs[0][1] for label, _, answer in rows[1:])
