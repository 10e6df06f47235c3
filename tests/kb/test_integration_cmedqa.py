"""The real packaged MiniLM and jieba BM25 on a slice of cMedQA (patient question -> answer)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_minilm_kb_on_a_cmedqa_slice(
    tmp_path: Path, shared_datasets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from llmline.cli import main

    answers: dict[str, str] = {}
    gold: list[tuple[str, str]] = []
    with (shared_datasets / "cmedqa" / "dev.txt").open(encoding="utf-8") as fh:
        for label, question, answer in csv.reader(fh, delimiter="\t"):
            answer_id = answers.setdefault(answer, f"a{len(answers)}")
            if label == "1":
                gold.append((question, answer_id))
            if len(answers) >= 300:
                break
    table, queries = tmp_path / "answers.csv", tmp_path / "queries.csv"
    with table.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("id", "text"), *((v, k) for k, v in answers.items())])
    with queries.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("question", "answer_id"), *gold])
    ws = str(tmp_path / "ws")
    args = ["--input", str(table), "--id-col", "id", "--text-col", "text", "--workspace", ws]
    assert main(["kb", "build", "med", *args]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["documents"] >= 290
    results = {}
    for retriever in ("bm25", "dense", "hybrid"):
        code = main([
            "kb", "eval", "med", "--data", str(queries), "--query-col", "question",
            "--gold-col", "answer_id", "--retriever", retriever, "--workspace", ws,
        ])  # fmt: skip
        assert code == 0
        results[retriever] = json.loads(capsys.readouterr().out)
    # among ~300 answers, chance recall@10 is ~3 %: every retriever must do far better
    for report in results.values():
        assert report["queries"] == len({q for q, _ in gold})  # repeated questions count once
        assert 0 <= report["recall@1"] <= report["recall@5"] <= report["recall@10"] <= 1
    # cMedQA answers share few words with the questions (full-set BM25 recall@1 is ~0.07, see
    # benchmarks/bench_kb.py); among ~300 answers chance recall@10 is ~0.033
    assert results["bm25"]["recall@10"] >= 0.06, results
