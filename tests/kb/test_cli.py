"""`llmline kb ...`: the contract other scripts call, exit code 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_unknown_kb_missing_column_and_empty_input_exit_2(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    code, _, err = _run(capsys, "kb", "search", "nope", "信用卡", "--workspace", ws)
    assert code == 2 and "no knowledge base 'nope'" in err
    code, _, err = _run(
        capsys, "kb", "build", "bank", "--input", str(corpus / "faq.csv"), "--id-col", "qid",
        "--workspace", ws,
    )  # fmt: skip
    assert code == 2 and "--id-col" in err and "column 'qid' not found" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _run(capsys, "kb", "build", "bank", "--input", str(empty), "--workspace", ws)
    assert code == 2 and "no Markdown" in err
    assert not (tmp_path / "ws" / "kb" / "bank").exists()


def test_bad_spec_block_names_the_key(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "kb.yaml"
    spec.write_text("kb:\n  chunk_sise: 100\n", encoding="utf-8")
    code, _, err = _run(
        capsys, "kb", "build", "bank", "--input", str(corpus), "--spec", str(spec),
        "--workspace", str(tmp_path / "ws"),
    )  # fmt: skip
    assert code == 2 and "kb.chunk_sise" in err


def test_pipeline_spec_accepts_a_kb_block(tmp_path: Path) -> None:
    from llmline.spec import PipelineSpec

    data = tmp_path / "d.csv"
    data.write_text("text,label\na,b\n", encoding="utf-8")
    spec = PipelineSpec.model_validate(
        {"name": "x", "data": {"source": {"path": str(data)}}, "kb": {"retriever": "bm25"}}
    )
    assert spec.kb is not None and spec.kb.retriever == "bm25"


@pytest.mark.slow
def test_build_search_eval_graph_delete_end_to_end(
    tmp_path: Path, corpus: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    spec = tmp_path / "kb.yaml"
    spec.write_text(f"kb:\n  encoder: {tiny_bert_dir}\n  top_k: 3\n", encoding="utf-8")
    (corpus / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    code, out, _ = _run(
        capsys, "kb", "build", "bank", "--input", str(corpus), "--id-col", "id",
        "--spec", str(spec), "--workspace", ws,
    )  # fmt: skip
    report = json.loads(out)
    assert code == 0 and report["counts"]["chunks"] == 6
    assert report["skipped"][0]["path"] == "bad.pdf"
    code, out, _ = _run(
        capsys, "kb", "search", "bank", "修改密码", "--retriever", "bm25", "--workspace", ws
    )
    first = json.loads(out.splitlines()[0])
    assert code == 0 and first["doc_id"] == "q2" and len(first["sha256"]) == 64
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        '{"q": "修改密码", "id": "q3"}\n{"q": "refund days", "id": "guides/lost-card.md"}\n',
        encoding="utf-8",
    )
    code, out, _ = _run(
        capsys, "kb", "eval", "bank", "--data", str(gold), "--query-col", "q", "--gold-col", "id",
        "--retriever", "hybrid", "--workspace", ws,
    )  # fmt: skip
    metrics = json.loads(out)
    assert code == 0 and metrics["queries"] == 2
    assert {"recall@1", "recall@5", "recall@10", "mrr@10"} <= set(metrics)
    assert metrics["recall@10"] == 1.0
    code, _, err = _run(
        capsys, "kb", "eval", "bank", "--data", str(gold), "--query-col", "q", "--gold-col", "id",
        "--retriever", "hybrid+rerank", "--workspace", ws,
    )  # fmt: skip
    assert code == 2 and "needs a reranker" in err
    code, out, _ = _run(
        capsys, "kb", "graph", "bank", "--graphml", str(tmp_path / "g.graphml"), "--workspace", ws
    )
    assert code == 0 and (tmp_path / "g.graphml").exists() and json.loads(out)["entities"] == 0
    code, out, _ = _run(capsys, "kb", "delete", "bank", "faq.csv", "--workspace", ws)
    assert code == 0 and json.loads(out)["deleted"] == ["faq.csv"]
    code, out, _ = _run(capsys, "kb", "delete", "bank", "--all", "--workspace", ws)
    assert code == 0 and not (tmp_path / "ws" / "kb" / "bank").exists()
