"""Pair classification and embedding: the pair column through the data stage, the predictors,
the evaluate CLI's JSON, bad input, and the saved models as the KB's reranker and encoder."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmline.workspace import Workspace

QUESTIONS = [
    ("how do I reset my password", "how can I change my password"),
    ("怎么开通网上银行", "网上银行如何开通"),
    ("where is my card", "my card has not arrived yet"),
    ("信用卡额度怎么提高", "如何提升信用卡额度"),
    ("can I cancel a transfer", "how to stop a payment I sent"),
    ("借款审核期间能否取消借款", "审核中的借款可以取消吗"),
]


def write_pairs(path: Path, n: int, *, header: str = "text_a,text_b,label") -> Path:
    """n labelled pairs, English and Chinese: matching pairs (1) and mismatched ones (0)."""
    rows = []
    for i in range(n):
        a, b = QUESTIONS[i % len(QUESTIONS)]
        if i % 2:
            rows.append((f"{a} {i}", f"{b} {i}", "1"))
        else:
            other = QUESTIONS[(i + 1) % len(QUESTIONS)][1]
            rows.append((f"{a} {i}", f"{other} {i}", "0"))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header.split(","))
        writer.writerows(rows)
    return path


def _spec(tmp: Path, task: str, bert: Path, source: dict[str, Any], **data: Any) -> Any:
    from llmline.spec import load_spec

    raw = {
        "name": f"pairs-{task.replace('_', '-')}", "task": task,
        "data": {"source": source, "validation_fraction": 0.25, **data},
        "train": {"base_model": str(bert), "max_steps": 2, "batch_size": 4, "eval_batch_size": 8,
                  "save_steps": None, "learning_rate": 1e-3},
    }  # fmt: skip
    path = tmp / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return load_spec(path)


def _train(tmp: Path, task: str, bert: Path) -> Path:
    from llmline.data.stage import prepare_data
    from llmline.train.fit import train_task
    from llmline.workspace import Workspace

    source = {"path": str(write_pairs(tmp / "pairs.csv", 24)), "text_column": "text_a",
              "pair_column": "text_b"}  # fmt: skip
    spec = _spec(tmp, task, bert, source)
    data = prepare_data(spec.data, tmp / "data", seed=spec.seed)
    return train_task(spec, data, tmp / "run", Workspace.resolve(tmp / "ws")).model_dir


@pytest.fixture(scope="module")
def pair_model(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    return _train(tmp_path_factory.mktemp("pair-model"), "pair_classification", tiny_bert_dir)


@pytest.fixture(scope="module")
def embedding_model(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    return _train(tmp_path_factory.mktemp("embedding-model"), "embedding", tiny_bert_dir)


# --- the pair column through the data stage -------------------------------------------------


def test_pair_column_is_cleaned_deduplicated_and_split_with_the_first_text(
    tmp_path: Path,
) -> None:
    from llmline.data.stage import prepare_data, read_pair_snapshot
    from llmline.spec import DataSpec

    rows = [("同一个问题", f"不同的回答 {i}", str(i % 2)) for i in range(10)]  # same first text
    rows += [
        ("ｆｕｌｌ　ｗｉｄｔｈ", "ＡＢＣ１２３", "1"),
        ("full width", "ABC123", "1"),
    ]  # NFKC twins
    rows += [("no second text", "", "0"), ("  ", "only the second", "1")]  # empty sides
    path = tmp_path / "p.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("q", "a", "label"), *rows])
    spec = DataSpec.model_validate({
        "source": {"path": str(path), "text_column": "q", "pair_column": "a"},
        "validation_fraction": 0.2,
    })  # fmt: skip
    artifact = prepare_data(spec, tmp_path / "out", seed=1)
    firsts, seconds, labels = [], [], []
    for snapshot in (artifact.train, artifact.validation):
        a, b, y = read_pair_snapshot(snapshot)
        firsts, seconds, labels = firsts + a, seconds + b, labels + y
    # pairs sharing a first text are different pairs: all ten kept; the NFKC twins are one pair
    assert sum(f == "同一个问题" for f in firsts) == 10
    assert sorted(zip(firsts, seconds, strict=True))[0] == ("full width", "ABC123")
    assert artifact.report["dropped"] == {"empty": 2, "duplicate": 1}
    assert len(firsts) == 11 and set(labels) == {"0", "1"}


def test_header_less_tsv_reads_its_first_line_as_a_row(tmp_path: Path) -> None:
    from llmline.data.sources import read_records
    from llmline.spec import SourceSpec

    path = tmp_path / "lcqmc.tsv"
    path.write_text(
        "开初婚未育证明怎么弄？\t初婚未育情况证明怎么开？\t1\nhow old\tage?\t0\n", "utf-8"
    )
    spec = SourceSpec(path=path, columns=["a", "b", "label"], text_column="a", pair_column="b")
    records = list(read_records(spec))
    assert [(r.text, r.pair, r.label) for r in records] == [
        ("开初婚未育证明怎么弄？", "初婚未育情况证明怎么开？", "1"), ("how old", "age?", "0"),
    ]  # fmt: skip


def test_missing_pair_column_is_a_data_error_naming_it(tmp_path: Path) -> None:
    from llmline.data.sources import read_records
    from llmline.errors import DataError
    from llmline.spec import SourceSpec

    path = write_pairs(tmp_path / "p.csv", 4)
    spec = SourceSpec(path=path, text_column="text_a", pair_column="answer")
    with pytest.raises(DataError) as error:
        list(read_records(spec))
    assert "'answer'" in error.value.what and error.value.where == "data.source.pair_column"


def test_embedding_refuses_labels_other_than_0_and_1(tmp_path: Path, tiny_bert_dir: Path) -> None:
    from llmline.data.stage import prepare_data
    from llmline.errors import DataError
    from llmline.tasks.embedding import build
    from llmline.workspace import Workspace

    path = write_pairs(tmp_path / "p.csv", 12)
    text = path.read_text(encoding="utf-8").replace(",1\n", ",same\n")
    path.write_text(text, encoding="utf-8")
    source = {"path": str(path), "text_column": "text_a", "pair_column": "text_b"}
    spec = _spec(tmp_path, "embedding", tiny_bert_dir, source)
    data = prepare_data(spec.data, tmp_path / "data", seed=1)
    with pytest.raises(DataError, match="found same"):
        build(spec, data, Workspace.resolve(tmp_path / "ws"), None)


def test_positive_label_must_be_a_label_of_the_data() -> None:
    from llmline.errors import SpecError
    from llmline.tasks.pair_classification import ordered_labels

    assert ordered_labels(["1", "0"], "1") == ["0", "1"]
    assert ordered_labels(["same", "different"], "same") == ["different", "same"]
    with pytest.raises(SpecError, match="'yes' is not a label"):
        ordered_labels(["0", "1"], "yes")


# --- pair classification: predictor, reranker, CLI, route -------------------------------------


def test_binary_head_collapses_to_one_logit_with_the_same_probability(
    tiny_bert_dir: Path,
) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from llmline.models.pairs import collapse_binary_head

    torch.manual_seed(3)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=2).eval()
    batch = AutoTokenizer.from_pretrained(tiny_bert_dir)(
        ["我的卡丢了", "lost card"], ["卡片挂失", "where is my card"], padding=True,
        return_tensors="pt",
    )  # fmt: skip
    with torch.no_grad():
        before = torch.softmax(model(**batch).logits, -1)[:, 1]
        collapse_binary_head(model, positive=1)
        after = torch.sigmoid(model(**batch).logits[:, 0])
    assert model.config.num_labels == 1
    assert torch.allclose(before, after, atol=1e-6)


def test_pair_model_predicts_pairs_and_is_the_kb_reranker(pair_model: Path) -> None:
    from llmline.errors import DataError
    from llmline.kb.embed import Reranker
    from llmline.models.predictor import load_predictor

    predictor = load_predictor(pair_model)
    assert predictor.task == "pair_classification" and predictor.labels == ["0", "1"]
    pairs = [["怎么开通网上银行", "网上银行如何开通"], ["where is my card", "how to cook rice"]]
    results = predictor.predict(pairs, top_k=2)
    assert [len(r["top_k"]) for r in results] == [2, 2]
    positive = [next(s["score"] for s in r["top_k"] if s["label"] == "1") for r in results]
    # sentence-transformers' CrossEncoder loads the same directory: P(positive) per pair
    scores = Reranker(pair_model).score("where is my card", ["how to cook rice"])
    assert scores[0] == pytest.approx(positive[1], abs=1e-5)
    with pytest.raises(DataError, match="not a pair"):
        predictor.predict(["a single text"])


def test_evaluate_cli_scores_a_pair_model_as_json(
    pair_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmline.cli import main

    data = write_pairs(tmp_path / "test.csv", 10, header="q1,q2,gold")
    argv = ["evaluate", "--model", str(pair_model), "--data", str(data), "--text-col", "q1",
            "--pair-col", "q2", "--label-col", "gold",
            "--workspace", str(tmp_path / "ws")]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["task"] == "pair_classification" and out["rows"] == 10
    assert set(out["metrics"]) == {"accuracy", "macro_f1", "f1", "precision", "recall"}
    assert 0.0 <= out["metrics"]["accuracy"] <= 1.0
    # without --pair-col the second text is unknown: a clear error, exit 2
    assert main(argv[:7] + argv[9:]) == 2
    assert "--pair-col" in capsys.readouterr().err


def test_predict_cli_labels_each_pair_and_wants_pair_col_for_a_pair_model(
    pair_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmline.cli import main

    data = write_pairs(tmp_path / "in.csv", 6, header="q1,q2,gold")
    out = tmp_path / "out.jsonl"
    argv = ["predict", "--model", str(pair_model), "--input", str(data), "--output", str(out),
            "--text-col", "q1", "--workspace", str(tmp_path / "ws")]  # fmt: skip
    assert main([*argv, "--pair-col", "q2"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6 and all(r["text"] and r["pair"] and r["label"] for r in rows)
    out.unlink()
    assert main(argv) == 2 and "--pair-col is missing" in capsys.readouterr().err
    assert not out.exists()


def test_pairs_route_answers_per_pair_and_refuses_bad_shapes(pair_model: Path) -> None:
    from fastapi.testclient import TestClient

    from llmline.models.predictor import load_predictor
    from llmline.serve.app import create_app

    client = TestClient(create_app(load_predictor(pair_model), model_ref="pairs"))
    pairs = [["信用卡额度怎么提高", "如何提升信用卡额度"], ["reset password", "change password"]]
    answer = client.post("/v1/pairs", json={"pairs": pairs, "top_k": 2})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == 2 and {r["label"] for r in results} <= {"0", "1"}
    assert all(len(r["top_k"]) == 2 for r in results)
    for bad in ([["only one"]], [["a", "b", "c"]], [["a", "   "]], []):
        assert client.post("/v1/pairs", json={"pairs": bad}).status_code == 422
    assert client.post("/v1/classify", json={"texts": ["a"]}).status_code == 400


# --- embedding ------------------------------------------------------------------------------


def test_retrieval_metrics_are_exact() -> None:
    import numpy as np

    from llmline.tasks.embedding import retrieval_metrics

    passages = np.eye(4)
    # query 0 finds its gold first; query 1 its gold third; query 2 its two golds 2nd and 3rd
    queries = np.array([[1, 0, 0, 0], [0.9, 0.5, 0.1, 0], [0.2, 0.9, 0.0, 0.1]])
    metrics = retrieval_metrics(queries, passages, [{0}, {2}, {0, 3}])
    assert metrics["recall@1"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["recall@5"] == 1.0 and metrics["recall@10"] == 1.0
    assert metrics["mrr@10"] == pytest.approx((1 + 1 / 3 + 1 / 2) / 3, abs=1e-4)
    dcg2 = 1 / np.log2(3) + 1 / np.log2(4)
    ideal2 = 1 + 1 / np.log2(3)
    expected = (1 + 1 / np.log2(4) + dcg2 / ideal2) / 3
    assert metrics["ndcg@10"] == pytest.approx(expected, abs=1e-4)


def test_embedding_model_serves_embeddings_and_is_the_kb_encoder(embedding_model: Path) -> None:
    import numpy as np

    from llmline.kb.embed import Encoder, resolve_prefixes
    from llmline.models.embedding import embed_texts
    from llmline.models.predictor import load_predictor

    assert (embedding_model / "modules.json").exists()
    assert (embedding_model / "llmline_encoder.json").exists()
    predictor = load_predictor(embedding_model)
    vectors = np.asarray(embed_texts(predictor, ["网上银行如何开通", "reset my password"]))
    encoder = Encoder(embedding_model, resolve_prefixes("auto", embedding_model))
    same = encoder.encode_queries(["网上银行如何开通", "reset my password"])
    assert np.allclose(vectors, same, atol=1e-5)  # one pooling, one prefix, both consumers


def test_e5_prefixes_are_kept_and_used(
    tmp_path: Path, tiny_bert_dir: Path, embedding_model: Path
) -> None:
    """A base with llmline_encoder.json (E5's prefixes): training data, the saved model and
    the predictor all carry them."""
    import shutil

    from llmline.data.stage import prepare_data
    from llmline.models.embedding import load_encoder
    from llmline.models.encoding import encoder_prefixes, write_encoder_info
    from llmline.tasks.embedding import build, save

    base = tmp_path / "e5-like"
    shutil.copytree(tiny_bert_dir, base)
    write_encoder_info(base, pooling="mean", prefixes={"query": "query: ", "passage": "passage: "})
    source = {"path": str(write_pairs(tmp_path / "p.csv", 12)), "text_column": "text_a",
              "pair_column": "text_b"}  # fmt: skip
    spec = _spec(tmp_path, "embedding", base, source)
    data = prepare_data(spec.data, tmp_path / "data", seed=1)
    prepared = build(spec, data, Workspace.resolve(tmp_path / "ws"), None)
    row = prepared.train[0]
    assert row["anchor"].startswith("query: ") and row["positive"].startswith("passage: ")

    class Trained:
        model = prepared.model

    save(prepared, Trained, spec, tmp_path / "model", {})
    assert encoder_prefixes(tmp_path / "model")["passage"] == "passage: "
    assert load_encoder(tmp_path / "model").prefix == "query: "


def test_evaluate_cli_scores_an_embedding_model(
    embedding_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmline.cli import main

    data = tmp_path / "pairs.tsv"
    lines = ["q\tp"] + [f"{a} {i}\t{b} {i}" for i, (a, b) in enumerate(QUESTIONS)]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["evaluate", "--model", str(embedding_model), "--data", str(data), "--text-col", "q",
            "--pair-col", "p", "--workspace", str(tmp_path / "ws")]  # fmt: skip
    assert main(argv) == 0  # no label column: every row is a matching pair
    out = json.loads(capsys.readouterr().out)
    assert out["task"] == "embedding" and out["primary"] == "mrr@10" and out["rows"] == 6
    assert set(out["metrics"]) == {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"}
