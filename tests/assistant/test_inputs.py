"""assistant.input kinds, the spec block's checks, and the chain's kb stage on a tiny spec."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from llmline.assistant.inputs import prepare_input
from llmline.errors import DataError, SpecError
from llmline.spec.assistant import AssistantSpec


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_question_pairs_cluster_into_canonical_questions(tmp_path: Path) -> None:
    table = tmp_path / "bq.csv"
    table.write_text(
        "\ufeffsentence1,sentence2,label\n"
        "怎么还款,如何还款,1\n如何还款,还款方式有哪些,1\n怎么还款,借款额度多少,0\n"
        "如何还款,怎么还款,1\n借款额度多少,额度怎么提高,0\n",
        encoding="utf-8",
    )
    spec = AssistantSpec.model_validate({"kb": "bank", "input": {
        "kind": "question_pairs", "path": str(table), "text_column": "sentence1",
        "pair_column": "sentence2", "label_column": "label"}})  # fmt: skip
    path, columns = prepare_input(spec, tmp_path / "out")
    answers = {r["question"]: r["answer"] for r in _rows(path)}
    assert columns.id_col == "id" and len(answers) == 5
    # 如何还款 is paired most often: the canonical question of its cluster
    assert answers["怎么还款"] == answers["还款方式有哪些"] == "如何还款"
    assert answers["借款额度多少"] == "借款额度多少"  # no same-meaning pair: itself
    assert answers["额度怎么提高"] == "额度怎么提高"


def test_answer_pairs_write_answers_and_gold_queries(tmp_path: Path) -> None:
    table = tmp_path / "dev.txt"
    table.write_text("1\t头疼怎么办\t多休息。\n0\t头疼怎么办\t多喝水。\n1\t发烧怎么办\t多喝水。\n",
                     encoding="utf-8")  # fmt: skip
    spec = AssistantSpec.model_validate({"kb": "med", "input": {
        "kind": "answer_pairs", "path": str(table), "columns": ["label", "q", "a"],
        "text_column": "q", "pair_column": "a", "label_column": "label"}})  # fmt: skip
    path, columns = prepare_input(spec, tmp_path / "out")
    answers = _rows(path)
    assert [a["text"] for a in answers] == ["多休息。", "多喝水。"] and columns.text_col == "text"
    queries = _rows(tmp_path / "out" / "queries.csv")
    assert [(q["question"], q["answer_id"]) for q in queries] == [
        ("头疼怎么办", answers[0]["id"]), ("发烧怎么办", answers[1]["id"])
    ]  # fmt: skip


def test_templates_take_training_examples_of_their_intent(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text("text,category\nwhere is my card,card_arrival\ncard not here yet,"
                     "card_arrival\nhello,other\nstill no card,card_arrival\n")  # fmt: skip
    spec = AssistantSpec.model_validate({"kb": "t", "templates": {"card_arrival": "3-5 days."},
        "input": {"kind": "templates", "path": str(train), "text_column": "text",
                  "label_column": "category", "examples_per_intent": 2}})  # fmt: skip
    rows = _rows(prepare_input(spec, tmp_path / "out")[0])
    questions = [r["question"] for r in rows]
    assert questions == ["card arrival", "where is my card", "card not here yet"]
    assert {(r["answer"], r["intent"]) for r in rows} == {("3-5 days.", "card_arrival")}


def test_missing_pair_column_or_file_is_named(tmp_path: Path) -> None:
    table = tmp_path / "p.csv"
    table.write_text("a,b,label\nx,y,1\n")
    spec = AssistantSpec.model_validate({"kb": "k", "input": {
        "kind": "question_pairs", "path": str(table), "text_column": "a",
        "pair_column": "问题二", "label_column": "label"}})  # fmt: skip
    with pytest.raises(DataError, match="column '问题二' not in"):
        prepare_input(spec, tmp_path / "out")
    gone = spec.model_copy(update={"input": spec.input.model_copy(  # type: ignore[union-attr]
        update={"path": tmp_path / "nope.csv"})})  # fmt: skip
    with pytest.raises(DataError, match="does not exist"):
        prepare_input(gone, tmp_path / "out")


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ({}, "name a knowledge base, or give templates"),
        ({"kb": "a", "templates": {"x": "y"}, "human_only": ["x"]}, "x also has a template"),
        ({"kb": "a/b"}, "kb"),
        ({"kb": "a", "input": {"kind": "question_pairs", "path": "p.csv"}}, "text_column"),
        ({"kb": "a", "min_confidence": 2}, "min_confidence"),
        ({"kb": "a", "confidence": "bm25"}, "confidence"),
    ],
)
def test_spec_block_errors(block: dict[str, object], words: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=words):
        AssistantSpec.model_validate(block)


def test_kb_build_from_spec_without_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from llmline.cli import main
    from tests.kb.conftest import HashEncoder

    monkeypatch.setattr("llmline.kb.embed.load_encoder", lambda spec, ws: HashEncoder())
    table = tmp_path / "pairs.tsv"
    table.write_text("怎么还款\t如何还款\t1\n借款额度\t额度多少\t1\n", encoding="utf-8")
    spec = tmp_path / "faq.yaml"
    spec.write_text(
        "variables: {dir: /nowhere}\nassistant:\n  kb: faq\n  input: {kind: question_pairs, "
        "path: '${dir}/pairs.tsv', columns: [a, b, l], text_column: a, pair_column: b, "
        "label_column: l}\n", encoding="utf-8",
    )  # fmt: skip
    ws = str(tmp_path / "ws")
    args = ["kb", "build", "faq", "--spec", str(spec), "--workspace", ws]
    assert main([*args, "--var", f"dir={tmp_path}"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["documents"] == 4
    assert main(args) == 2 and "does not exist" in capsys.readouterr().err
    assert main(["kb", "build", "other", "--spec", str(spec), "--var", f"dir={tmp_path}",
                 "--workspace", ws]) == 2  # fmt: skip
    assert "assistant.kb is 'faq', not 'other'" in capsys.readouterr().err
    assert main(["kb", "build", "faq", "--workspace", ws]) == 2
    assert "pass --input" in capsys.readouterr().err


def test_recipes_wire_an_assistant(tmp_path: Path) -> None:
    from llmline.spec import load_spec

    root = Path(__file__).resolve().parents[2] / "recipes"
    if not (root.parent.parent / "shared" / "datasets").is_dir():
        pytest.skip("the shared datasets are not present")
    kinds = {}
    for name in ("bank-faq-zh", "medical-qa-zh", "banking77-assistant"):
        variables = {}
        if name == "medical-qa-zh":  # its pairs are written by `make medqa-pairs`
            for split in ("embed-train", "embed-dev"):
                (tmp_path / f"{split}.tsv").write_text("1\t问\t答\n0\t问\t错\n", encoding="utf-8")
            variables["pairs_dir"] = str(tmp_path)
        spec = load_spec(root / f"{name}.yaml", variables)
        assert spec.assistant is not None and spec.assistant.input is not None
        kinds[name] = spec.assistant.input.kind
    assert kinds == {"bank-faq-zh": "question_pairs", "medical-qa-zh": "answer_pairs",
                     "banking77-assistant": "templates"}  # fmt: skip
    with pytest.raises(SpecError):
        load_spec(root / "medical-qa-zh.yaml", {"min_confidence": "high"})


def test_the_kb_stage_runs_last_and_only_for_an_assistant_input(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from llmline.chain import stage_list

    stages = stage_list()
    kb = next(s for s in stages if s.name == "kb")
    assert stages[-1] is kb and kb.order > next(s for s in stages if s.name == "register").order
    with_input = AssistantSpec.model_validate(
        {"kb": "k", "input": {"kind": "files", "path": str(tmp_path)}}
    )
    for assistant, enabled in ((None, False), (AssistantSpec(kb="k"), False), (with_input, True)):
        ctx = SimpleNamespace(spec=SimpleNamespace(assistant=assistant))
        assert kb.enabled(ctx) is enabled  # type: ignore[arg-type]
