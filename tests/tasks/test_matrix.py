"""The task matrix (STYLE.md): every registered task trains a step through the one fit(),
saves, reloads with its own evaluator, and reports exactly the metrics it declares.

A new task adds its case here; the first test fails until it does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmline.spec import load_spec
from llmline.tasks import EvalOptions, load_tasks
from llmline.workspace import Workspace
from tests.conftest import write_csv
from tests.models.conftest import build_tiny_llama
from tests.tasks.test_ner import write_conll

LINES = [f"the king spoke to the queen and the queen answered, {i}." for i in range(60)]


def _classification(tmp: Path, bert: Path) -> dict[str, Any]:
    rows = [(f"I loved it {i}", "pos") for i in range(12)]
    rows += [(f"我不喜欢这部电影 {i}", "neg") for i in range(12)]
    return {"data": {"source": {"path": str(write_csv(tmp / "c.csv", rows))}},
            "train": {"base_model": str(bert), "probe_c": 1.0}}  # fmt: skip


def _ner(tmp: Path, bert: Path) -> dict[str, Any]:
    source = {"path": str(write_conll(tmp / "n.txt", 16))}
    return {"data": {"source": source, "dedup": False}, "train": {"base_model": str(bert)},
            "task_config": {"label_all_tokens": True}}  # fmt: skip


def _causal_lm(tmp: Path, bert: Path) -> dict[str, Any]:
    chat = tmp / "chat.jsonl"
    rows = [{"id": i, "prompt": f"say {w}", "response": w}
            for i, w in enumerate(["apple", "苹果", "cherry", "樱桃"] * 4)]  # fmt: skip
    chat.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return {"data": {"source": {"path": str(chat)}, "dedup": False},
            "train": {"base_model": str(build_tiny_llama(tmp / "llama")), "max_length": 64},
            "task_config": {"generation": {"max_new_tokens": 3}}}  # fmt: skip


def _corpus(tmp: Path) -> str:
    corpus = tmp / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": t}) for t in LINES), encoding="utf-8")
    return str(corpus)


def _mlm(tmp: Path, bert: Path) -> dict[str, Any]:
    return {"data": {"source": {"path": _corpus(tmp), "label_column": None}},
            "train": {"base_model": str(bert), "max_length": 16}}  # fmt: skip


def _pretrain(tmp: Path, bert: Path) -> dict[str, Any]:
    pre = {"vocab_size": 300, "block_size": 16, "n_layer": 1, "n_embd": 16, "n_head": 2}
    return {"data": {"source": {"path": _corpus(tmp), "label_column": None}},
            "task_config": {"pretrain": pre, "generation": {"max_new_tokens": 4}}}  # fmt: skip


def _pairs_csv(tmp: Path) -> str:
    from tests.tasks.test_pairs import write_pairs

    return str(write_pairs(tmp / "pairs.csv", 24))


def _pair_classification(tmp: Path, bert: Path) -> dict[str, Any]:
    source = {"path": _pairs_csv(tmp), "text_column": "text_a", "pair_column": "text_b"}
    return {"data": {"source": source}, "train": {"base_model": str(bert)}}


def _embedding(tmp: Path, bert: Path) -> dict[str, Any]:
    source = {"path": _pairs_csv(tmp), "text_column": "text_a", "pair_column": "text_b"}
    return {"data": {"source": source}, "train": {"base_model": str(bert)}}


CASES: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "classification": _classification, "ner": _ner, "causal_lm": _causal_lm, "mlm": _mlm,
    "causal_lm_pretrain": _pretrain, "pair_classification": _pair_classification,
    "embedding": _embedding,
}  # fmt: skip


def test_every_registered_task_has_a_case() -> None:
    assert set(CASES) == set(load_tasks())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_task_trains_a_step_saves_and_reloads(
    name: str, tmp_path: Path, tiny_bert_dir: Path
) -> None:
    from llmline.tasks import get_task
    from llmline.train.fit import train_task

    raw = CASES[name](tmp_path, tiny_bert_dir)
    raw = {"name": f"matrix-{name.replace('_', '-')}", "task": name, **raw}
    raw["train"] = {"max_steps": 1, "batch_size": 4, "eval_batch_size": 8, "save_steps": None,
                    "learning_rate": 1e-3, **raw.get("train", {})}  # fmt: skip
    raw["data"]["validation_fraction"] = 0.25
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    spec = load_spec(path)
    task = get_task(name)
    data = _prepare(spec, tmp_path / "data")
    result = train_task(spec, data, tmp_path / "run", Workspace.resolve(tmp_path / "ws"))
    assert result.steps == 1 and "eval_loss" in result.metrics
    assert (tmp_path / "run" / "train" / "loss_curve.png").exists()  # every task has its curve
    report = task.evaluate(result.model_dir, task.read_snapshot(data.validation), EvalOptions(8))
    assert set(report["metrics"]) == set(task.metrics) and report["primary"] == task.primary
    assert all(isinstance(v, float | int) for v in report["metrics"].values())
    task.write_report({**report, "gates": []}, tmp_path / "eval")
    assert (tmp_path / "eval" / "report.json").exists()


def _prepare(spec: Any, out: Path) -> Any:
    from llmline.data.stage import prepare_data
    from llmline.tasks import get_task

    task = get_task(spec.task)
    if task.prepare_data is not None:
        return task.prepare_data(spec, out)
    return prepare_data(spec.data, out, seed=spec.seed)
