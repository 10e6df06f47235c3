"""The finance corpora as sources: PhraseBank lines, FinFE pairs, FiQA posts marked and binned,
and `llmline evaluate` scoring a file in the source's own labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.cli import main
from llmline.data.sources import ReadTally, read_records
from llmline.errors import DataError
from llmline.spec import SourceSpec
from llmline.watch.corpora import fiqa_bin, mark_fiqa_target


def read(path: Path, fmt: str, *, strict: bool = False) -> tuple[list, ReadTally]:
    tally = ReadTally("data.source", str(path))
    source = SourceSpec(path=path, format=fmt)
    records = [r for r in read_records(source, strict=strict, tally=tally, max_bad_fraction=0.9)]
    return [r for r in records if r.dropped is None], tally


def test_phrasebank_label_after_the_last_at(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text(
        "Profit rose to EUR 3.0 mn .@positive\n"
        "Mail ir@company.fi for the report .@neutral\n"  # an @ inside the sentence
        "\n"
        "no label on this line\n"
        "Nothing after the at sign@\n"
        "Sales fell 5 % .@negative\r\n",  # a CRLF line
        encoding="utf-8",
    )
    rows, tally = read(path, "phrasebank")
    assert [(r.text, r.label) for r in rows] == [
        ("Profit rose to EUR 3.0 mn .", "positive"),
        ("Mail ir@company.fi for the report .", "neutral"),
        ("Sales fell 5 % .", "negative"),
    ]
    assert tally.rejected == {"no_label": 2} and tally.rejected_lines["no_label"] == [4, 5]
    assert tally.blank_lines == 1
    with pytest.raises(DataError, match="line 4 is not 'sentence@label'") as caught:
        read(path, "phrasebank", strict=True)
    assert f"{path}:4" in str(caught.value)


def test_finfe_pairs_and_bad_items(tmp_path: Path) -> None:
    path = tmp_path / "train_list.json"
    items = [["贵州茅台涨停了", 2], ["垃圾股", 0], ["周末要出消息", "1"], ["only text"],
             [3, 1], ["真的假的", None], ["嗯", True], {"text": "x"}]  # fmt: skip
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    rows, tally = read(path, "finfe")
    assert [(r.text, r.label) for r in rows] == [
        ("贵州茅台涨停了", "2"), ("垃圾股", "0"), ("周末要出消息", "1"),
    ]  # fmt: skip
    assert tally.rejected == {"not_a_pair": 5}
    (tmp_path / "object.json").write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(DataError, match="not an array"):
        read(tmp_path / "object.json", "finfe")
    (tmp_path / "broken.json").write_text('[["a", 1],', encoding="utf-8")
    with pytest.raises(DataError, match="not JSON"):
        read(tmp_path / "broken.json", "finfe")


def test_fiqa_rows_are_target_marked_and_binned(tmp_path: Path) -> None:
    posts = {
        "1": {"sentence": "Long $aapl, short $TSLA here", "info": [
            {"target": "AAPL", "sentiment_score": "0.6"},
            {"target": "TSLA", "sentiment_score": "-0.45"}]},
        "2": {"sentence": "Tesco flat today, Tesco's margins hold", "info": [
            {"target": "Tesco", "sentiment_score": "0.05"}]},
        "3": {"sentence": "$XLI potential top", "info": [
            {"target": "CRM", "sentiment_score": "-0.3"}]},
        "4": {"sentence": "no score", "info": [{"target": "X", "sentiment_score": "n/a"}]},
        "5": {"sentence": "out of range", "info": [{"target": "X", "sentiment_score": "7"}]},
        "6": {"info": []},
    }  # fmt: skip
    path = tmp_path / "FiQA_post.json"
    path.write_text(json.dumps(posts), encoding="utf-8")
    rows, tally = read(path, "fiqa")
    assert [(r.text, r.label) for r in rows] == [
        ("Long <t>$aapl</t>, short $TSLA here", "positive"),  # one row per target:
        ("Long $aapl, short <t>$TSLA</t> here", "negative"),  # each marked alone
        ("<t>Tesco</t> flat today, <t>Tesco</t>'s margins hold", "neutral"),
        ("$XLI potential top", "negative"),  # the target is not in the post: kept, unmarked
    ]
    assert rows[0].meta["score"] == 0.6 and rows[1].meta["target"] == "TSLA"
    assert tally.rejected == {"bad_info": 2, "not_a_post": 1}


def test_fiqa_marking_is_the_watch_marking() -> None:
    assert mark_fiqa_target("$AMZN and amzn but not AMZNX", "AMZN") == (
        "<t>$AMZN</t> and <t>amzn</t> but not AMZNX"
    )
    assert [fiqa_bin(s) for s in (-0.5, -0.1, 0.0, 0.1, 0.11)] == [
        "negative", "neutral", "neutral", "neutral", "positive",
    ]  # fmt: skip


def test_evaluate_scores_a_finfe_file_in_the_source_labels(
    tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The model's labels are names; a test file in 0/1/2 is renamed by the recorded map."""
    from transformers import AutoModel, AutoTokenizer

    from llmline.models.classifier import build_classifier, save_classifier
    from llmline.models.meta import ModelMeta
    from llmline.tasks import ReadOptions, get_task

    mapping = {"0": "negative", "1": "neutral", "2": "positive"}
    meta = ModelMeta(labels=["negative", "neutral", "positive"], max_length=32,
                     extra={"label_map": mapping})  # fmt: skip
    model = build_classifier(AutoModel.from_pretrained(tiny_bert_dir), meta)
    save_classifier(model, AutoTokenizer.from_pretrained(tiny_bert_dir), tmp_path / "m")
    data = tmp_path / "test_list.json"
    data.write_text(json.dumps([["跌停了", 0], ["开会", 1], ["涨停", 2], ["大涨", 2]]), "utf-8")
    _, gold = get_task("classification").read_file(
        data, ReadOptions(format="finfe"), tmp_path / "m"
    )
    assert gold == ["negative", "neutral", "positive", "positive"]
    argv = ["evaluate", "--model", str(tmp_path / "m"), "--data", str(data), "--format", "finfe"]
    assert main([*argv, "--workspace", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{") :])
    assert report["rows"] == 4 and 0.0 <= report["metrics"]["accuracy"] <= 1.0


@pytest.mark.integration
def test_the_shared_corpora_read_whole(shared_datasets: Path) -> None:
    counts = {}
    files = {"phrasebank": "financial-phrasebank/train.txt", "finfe": "finfe/train_list.json",
             "fiqa": "fiqa/FiQA_post.json"}  # fmt: skip
    for fmt, name in files.items():
        rows, tally = read(shared_datasets / name, fmt, strict=True)
        counts[fmt] = (len(rows), sum(tally.rejected.values()))
    assert counts == {"phrasebank": (3876, 0), "finfe": (16157, 0), "fiqa": (675, 0)}


def test_a_fresh_process_knows_the_formats_for_evaluate(tmp_path: Path) -> None:
    """`--format phrasebank` is checked before anything has read a file (and so before the
    modules that register formats were imported): a fresh interpreter must still know it."""
    import os
    import subprocess
    import sys

    path = tmp_path / "test.txt"
    path.write_text("Sales fell .@negative\n", encoding="utf-8")
    code = (
        "import sys; from pathlib import Path; from llmline.evaluate.files import source_spec;"
        "from llmline.tasks import ReadOptions;"
        "print(source_spec(Path(sys.argv[1]), ReadOptions(format='phrasebank')).format)"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "phrasebank"
