"""The two pair tasks on the real E5 encoder and real slices: 200 LCQMC question pairs (a header-
less TSV) train a cross-encoder that the evaluate CLI scores and the KB loads as its reranker;
200 cMedQQ pairs tune a bi-encoder that keeps E5's prefixes and retrieves well."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmline.workspace import Workspace
from tests.conftest import run_spec as run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def head(source: Path, out: Path, lines: int) -> Path:
    rows = source.read_text(encoding="utf-8").splitlines()[:lines]
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def test_lcqmc_slice_trains_a_cross_encoder_the_cli_and_the_kb_use(
    tmp_path: Path, shared_datasets: Path, e5_workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from llmline.cli import main
    from llmline.kb.embed import Reranker
    from llmline.models.predictor import load_predictor

    data = head(shared_datasets / "lcqmc" / "dev.txt", tmp_path / "lcqmc.tsv", 200)
    columns = ["text_a", "text_b", "label"]
    ctx = run(tmp_path, e5_workspace, {
        "name": "lcqmc-slice", "task": "pair_classification",
        "data": {"source": {"path": str(data), "format": "tsv", "columns": columns,
                            "text_column": "text_a", "pair_column": "text_b"},
                 "validation_fraction": 0.2},
        "train": {"base_model": "packaged:e5-small", "max_steps": 4, "batch_size": 16,
                  "learning_rate": 5e-5, "head_learning_rate": 1e-3, "max_length": 64,
                  "save_steps": None, "freeze": {"embeddings": True}},
    })  # fmt: skip
    data_report = ctx.results["data"]["result"]["report"]
    assert data_report["rows_in"] == 200  # header-less: the first line is a row, not a header
    predictor: Any = load_predictor(ctx.run.model_dir)
    assert predictor.meta.text_prefix == "query: " and predictor.labels == ["0", "1"]
    pairs = [("开初婚未育证明怎么弄？", "初婚未育情况证明怎么开？")]
    assert 0.0 <= predictor.probabilities(pairs)[0, 1] <= 1.0
    # the KB's CrossEncoder loads the same directory: one probability per pair
    scores = Reranker(ctx.run.model_dir).score(pairs[0][0], [pairs[0][1], "今天天气怎么样"])
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)
    test = tmp_path / "test.tsv"
    lines = (shared_datasets / "lcqmc" / "dev.txt").read_text(encoding="utf-8").splitlines()
    test.write_text("a\tb\ty\n" + "\n".join(lines[-40:]) + "\n", encoding="utf-8")
    argv = ["evaluate", "--model", str(ctx.run.model_dir), "--data", str(test), "--text-col", "a",
            "--pair-col", "b", "--label-col", "y",
            "--workspace", str(e5_workspace.root)]  # fmt: skip
    capsys.readouterr()
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 40 and 0.0 <= out["metrics"]["accuracy"] <= 1.0


def test_cmedqq_slice_tunes_a_bi_encoder_that_retrieves(
    tmp_path: Path, shared_datasets: Path, e5_workspace: Workspace
) -> None:
    from llmline.models.encoding import encoder_prefixes

    columns = ["label", "q1", "q2"]
    source = {"format": "tsv", "columns": columns, "text_column": "q1", "pair_column": "q2"}
    cmedqq = shared_datasets / "cmedqq"
    ctx = run(tmp_path, e5_workspace, {
        "name": "cmedqq-slice", "task": "embedding",
        "data": {"source": {"path": str(head(cmedqq / "train.txt", tmp_path / "t.tsv", 200)),
                            **source},
                 "validation": {"path": str(head(cmedqq / "dev.txt", tmp_path / "d.tsv", 200)),
                                **source}},
        "train": {"base_model": "packaged:e5-small", "max_steps": 4, "batch_size": 16,
                  "learning_rate": 3e-5, "max_length": 64, "save_steps": None,
                  "freeze": {"embeddings": True}},
        "evaluate": {"compare_base": True},
    })  # fmt: skip
    report = ctx.results["evaluate"]["result"]
    assert encoder_prefixes(ctx.run.model_dir) == {"query": "query: ", "passage": "passage: "}
    # ~100 dev questions each find their paraphrase among ~200 passages: E5 is already good at
    # this, and 4 small steps must not have broken it (wrong prefixes or pooling would)
    assert report["metrics"]["mrr@10"] > 0.5 and report["base"]["metrics"]["mrr@10"] > 0.5
    assert abs(report["change"]["mrr@10"]) < 0.2
