"""The `llmline data ...` verbs: input in, one row per kept input row out, in order."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from llmline.cli import main
from tests.conftest import write_csv


def _rows(path: Path) -> list[dict[str, object]]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture()
def messy(tmp_path: Path) -> Path:
    rows = [
        ("<p>Win a <b>FREE</b> prize at http://spam.example</p>", "spam"),
        ("Meeting moved to 3pm, call me on +44 20 7946 0958", "ham"),
        ("Meeting moved to 3pm, call me on +44 20 7946 0958!", "ham"),
        ("!!!! $$$$ #### @@@@", "spam"),
        ("Lunch tomorrow? mail jane@example.org", "ham"),
    ]
    return write_csv(tmp_path / "messy.csv", rows)


def test_clean_keeps_order_and_writes_rejects(messy: Path, tmp_path: Path) -> None:
    out, rejects = tmp_path / "clean.parquet", tmp_path / "rejects.jsonl"
    argv = ["data", "clean", "--input", str(messy), "--output", str(out), "--strip-html",
            "--urls", "mask", "--keep-rejects", str(rejects)]  # fmt: skip
    assert main(argv) == 0
    rows = _rows(out)
    assert [r["source_row"] for r in rows] == [0, 1, 2, 4]
    assert rows[0]["text"] == "Win a FREE prize at <URL>"
    assert _rows(rejects)[0]["reason"] == "quality:symbols"


def test_dedup_and_cluster_report(messy: Path, tmp_path: Path) -> None:
    out, clusters = tmp_path / "dedup.jsonl", tmp_path / "clusters.json"
    argv = ["data", "dedup", "--input", str(messy), "--output", str(out),
            "--clusters", str(clusters), "--threshold", "0.7"]  # fmt: skip
    assert main(argv) == 0
    assert [r["source_row"] for r in _rows(out)] == [0, 1, 3, 4]
    assert json.loads(clusters.read_text())["near_duplicates"] == 1


def test_redact_leaves_no_identifier(messy: Path, tmp_path: Path) -> None:
    out = tmp_path / "redacted.jsonl"
    assert main(["data", "redact", "--input", str(messy), "--output", str(out)]) == 0
    text = out.read_text()
    assert "7946" not in text and "jane@example.org" not in text and "<PHONE>" in text
    assert len(_rows(out)) == 5


def test_label_rules_selection_label_studio_and_issues(tmp_path: Path) -> None:
    rows = [(f"free prize offer number {i}", "spam") for i in range(8)]
    rows += [(f"team meeting notes part {i}", "ham") for i in range(8)]
    rows += [
        ("free prize for the meeting", ""),
        ("claim the free prize", ""),
        ("meeting at noon", ""),
    ]
    data = write_csv(tmp_path / "l.csv", rows)
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {label: spam, keywords: [claim]}\n")
    out, tasks, issues = tmp_path / "l.jsonl", tmp_path / "tasks.json", tmp_path / "issues.json"
    argv = ["data", "label", "--input", str(data), "--output", str(out), "--rules", str(rules),
            "--select", "2", "--label-studio", str(tasks), "--issues", str(issues)]  # fmt: skip
    assert main(argv) == 0
    labelled = _rows(out)
    assert labelled[17]["label"] == "spam" and labelled[17]["label_source"] == "rules"
    exported = json.loads(tasks.read_text())
    assert len(exported) == 2 and {t["data"]["source_row"] for t in exported} <= {16, 18}
    assert isinstance(json.loads(issues.read_text()), list)
    assert '<Choice value="spam"/>' in tasks.with_suffix(".xml").read_text()


def test_augment_and_report(messy: Path, tmp_path: Path) -> None:
    out = tmp_path / "aug.jsonl"
    argv = ["data", "augment", "--input", str(messy), "--output", str(out), "--ops", "delete"]
    assert main(argv) == 0
    rows = _rows(out)
    assert len(rows) > 5 and rows[1]["augmented_from"] == 0
    assert main(["data", "report", "--input", str(messy), "--output", str(tmp_path / "rep")]) == 0
    report = json.loads((tmp_path / "rep" / "data_report.json").read_text())
    assert report["pii_by_type"] == {"PHONE": 2, "EMAIL": 1} and report["near_duplicates"] == 1


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        (lambda p: p.write_bytes(b"\x00\x01binary\x00"), "looks binary"),
        (lambda p: p.write_text(""), "is empty"),
        (lambda p: p.write_text('{"text": "a"}\n{"text": broken\n'), "1 of 2 rows cannot be read"),
    ],
)
def test_bad_input_gives_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: object, fragment: str
) -> None:
    path = tmp_path / "bad.jsonl"
    setup(path)  # type: ignore[operator]
    out = tmp_path / "out.jsonl"
    code = main(["data", "clean", "--input", str(path), "--output", str(out), "--label-col", ""])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and err.startswith("llmline: error:") and fragment in err
    assert not out.exists()


def test_unknown_output_format(
    messy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "redact", "--input", str(messy), "--output", str(tmp_path / "x.txt")]) == 2
    assert ".jsonl or .parquet" in capsys.readouterr().err
