from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.data.record import Record
from llmline.data.split import stratified_group_split
from llmline.data.stage import prepare_data, read_snapshot
from llmline.errors import DataError
from llmline.spec import DataSpec, SourceSpec
from tests.conftest import write_csv


def _spec(path: Path, **kw: object) -> DataSpec:
    return DataSpec(source=SourceSpec(path=path), validation_fraction=0.25, **kw)


def test_cleans_dedups_and_reports(toy_csv: Path, tmp_path: Path) -> None:
    artifact = prepare_data(_spec(toy_csv), tmp_path / "out", seed=1)
    report = artifact.report
    assert report["rows_in"] == 63
    assert report["dropped"] == {"duplicate": 2, "empty": 1}
    assert report["train_rows"] + report["validation_rows"] == 60
    assert artifact.labels == ["neg", "pos"]
    train_texts, _ = read_snapshot(artifact.train)
    validation_texts, validation_labels = read_snapshot(artifact.validation)
    assert not set(train_texts) & set(validation_texts)
    assert set(validation_labels) == {"neg", "pos"}
    assert json.loads((tmp_path / "out" / "data_report.json").read_text())["rows_in"] == 63
    assert (tmp_path / "out" / "data_report.png").stat().st_size > 0


def test_split_is_seeded(toy_csv: Path, tmp_path: Path) -> None:
    a = prepare_data(_spec(toy_csv), tmp_path / "a", seed=7)
    b = prepare_data(_spec(toy_csv), tmp_path / "b", seed=7)
    assert read_snapshot(a.validation) == read_snapshot(b.validation)


def test_duplicate_groups_stay_on_one_side() -> None:
    records = [Record(text=f"t{i % 10}", label="a" if i % 2 else "b") for i in range(40)]
    groups = [r.text for r in records]
    train, validation = stratified_group_split(records, groups, fraction=0.3, seed=0)
    assert not {r.text for r in train} & {r.text for r in validation}
    assert validation and train


def test_label_map_and_drop_labels(tmp_path: Path) -> None:
    rows = [(f"good {i}", "fresh") for i in range(6)] + [(f"bad {i}", "rotten") for i in range(6)]
    rows += [("a plot summary", "plot")]
    path = write_csv(tmp_path / "r.csv", rows)
    spec = _spec(path, label_map={"fresh": "positive", "rotten": "negative"}, drop_labels=["plot"])
    artifact = prepare_data(spec, tmp_path / "out", seed=0)
    assert artifact.labels == ["negative", "positive"]
    assert artifact.report["dropped"] == {"dropped_label": 1}


def test_nfkc_and_control_characters(tmp_path: Path) -> None:
    rows = [("ＡＢＣ\u200b  text\x07 one", "x"), ("abc text one", "x")] + [
        (f"y{i}", "y") for i in range(4)
    ]
    rows += [(f"x{i}", "x") for i in range(4)]
    path = write_csv(tmp_path / "n.csv", rows)
    artifact = prepare_data(_spec(path), tmp_path / "out", seed=0)
    assert artifact.report["dropped"] == {"duplicate": 1}


def test_missing_column_names_it(toy_csv: Path, tmp_path: Path) -> None:
    spec = DataSpec(source=SourceSpec(path=toy_csv, label_column="category"))
    with pytest.raises(DataError, match="'category' not found") as err:
        prepare_data(spec, tmp_path / "out", seed=0)
    assert "data.source.label_column" in err.value.message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match="empty"):
        prepare_data(_spec(path), tmp_path / "out", seed=0)


def test_header_only_file(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("text,label\n")
    with pytest.raises(DataError, match="no rows"):
        prepare_data(_spec(path), tmp_path / "out", seed=0)


def test_too_few_examples_per_label(tmp_path: Path) -> None:
    rows = [(f"a{i}", "a") for i in range(5)] + [("lonely", "b")]
    path = write_csv(tmp_path / "rare.csv", rows)
    with pytest.raises(DataError, match="fewer than 2 examples") as err:
        prepare_data(_spec(path), tmp_path / "out", seed=0)
    assert "'b' (1)" in err.value.message
    assert not (tmp_path / "out" / "train.parquet").exists()


def test_broken_json_line_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": oops}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2"):
        prepare_data(_spec(path), tmp_path / "out", seed=0)


def test_latin1_file_is_detected(tmp_path: Path) -> None:
    rows = "text,label\n" + "".join(f"caf\xe9 cr\xe8me {i},a\nna\xefve {i},b\n" for i in range(5))
    path = tmp_path / "latin.csv"
    path.write_bytes(rows.encode("latin-1"))
    artifact = prepare_data(_spec(path), tmp_path / "out", seed=0)
    texts, _ = read_snapshot(artifact.train)
    assert any("café" in t for t in texts)
