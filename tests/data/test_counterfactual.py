"""Counterfactual data augmentation: attribute terms swapped (English and Chinese), templates for
rows without terms, copies in train only, idempotent, summarised in the data report."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmline.data.counterfactual import Counterfactual, CounterfactualSpec
from llmline.data.record import Record
from llmline.data.stage import prepare_data
from llmline.errors import SpecError
from llmline.spec import DataSpec, SourceSpec
from tests.conftest import write_csv


def _run(spec: CounterfactualSpec, rows: list[Record]) -> tuple[list[Record], Counterfactual]:
    step = Counterfactual(spec)
    return list(step(rows)), step


def test_gender_terms_are_swapped_with_case_kept() -> None:
    spec = CounterfactualSpec(attributes=["gender"], languages=["en"])
    out, step = _run(spec, [Record("He says his wife lost HIS card", "lost_card", row=3)])
    assert len(out) == 2
    copy = out[1]
    assert copy.text == "She says her husband lost HER card" and copy.label == "lost_card"
    assert copy.meta["augmented_from"] == 3
    assert copy.meta["augment_op"] == "counterfactual:gender:female"
    assert step.summary["swapped"] == 1 and step.summary["templated"] == 0


def test_chinese_terms_are_swapped() -> None:
    spec = CounterfactualSpec(attributes=["gender"], languages=["zh"])
    out, _ = _run(spec, [Record("我老公的信用卡被冻结了，他很着急", "1", row=0)])
    assert [r.text for r in out[1:]] == ["我老婆的信用卡被冻结了，她很着急"]


def test_rows_without_terms_are_templated_only_at_the_given_share() -> None:
    rows = [Record(f"where is my card number {i}", "card", row=i) for i in range(200)]
    none, _ = _run(CounterfactualSpec(attributes=["religion"], languages=["en"]), rows)
    assert len(none) == 200  # template_fraction 0: only rows with terms get copies
    spec = CounterfactualSpec(attributes=["religion"], languages=["en"], template_fraction=0.25)
    out, step = _run(spec, rows)
    copies = [r for r in out if "augmented_from" in r.meta]
    assert 30 <= len(copies) <= 70 and step.summary["templated"] == len(copies)
    assert all(r.text.startswith("I am ") and r.text.endswith(f"number {r.meta['augmented_from']}")
               for r in copies)  # fmt: skip
    zh, _ = _run(CounterfactualSpec(attributes=["religion"], languages=["zh"], template_fraction=1),
                 [Record("酒店房间很干净", "1")])  # fmt: skip
    assert zh[1].text.startswith("我是") and zh[1].text.endswith("。酒店房间很干净")


def test_copies_per_row_and_languages_by_text() -> None:
    spec = CounterfactualSpec(attributes=["name"], copies=3, template_fraction=1.0)
    rows = [Record("Jamal cannot log in", "login"), Record("张伟的卡丢了", "card", row=1)]
    out, _ = _run(spec, rows)
    english = [r.text for r in out if r.meta.get("augmented_from") == 0 and r.text != out[0].text]
    assert len(english) == 3 and all("Jamal" not in t for t in english)
    chinese = [r for r in out if "卡丢了" in r.text and "augmented_from" in r.meta]
    assert len(chinese) == 3 and all("张伟" not in r.text for r in chinese)


def test_idempotent_over_its_own_output() -> None:
    spec = CounterfactualSpec(attributes=["gender", "name"], template_fraction=0.5, seed=7)
    rows = [Record(t, "x", row=i) for i, t in enumerate(
        ["he lost his card", "she lost her card", "my card is gone", "我丈夫的账户被锁了",
         "Emily wants a refund", "", "  ", "退款还没到账"])]  # fmt: skip
    once, _ = _run(spec, rows)
    twice, step = _run(spec, once)
    kept = lambda rs: sorted(r.text for r in rs if r.dropped is None)  # noqa: E731
    assert kept(twice) == kept(once)
    assert step.summary["duplicates_dropped"] > 0
    # "she lost her card" is the counterfactual twin of row 0: kept once, not twice
    assert kept(once).count("she lost her card") == 1


def test_unknown_attribute_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="no en term list for attribute 'caste'"):
        Counterfactual(CounterfactualSpec(attributes=["caste"], languages=["en"]))


def test_copies_stay_in_train_and_are_reported(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    rows = [(f"{'he' if i % 2 else 'she'} asked about {'his' if i % 2 else 'her'} card {i}",
             "ab"[i % 2]) for i in range(40)]  # fmt: skip
    spec = DataSpec(
        source=SourceSpec(path=write_csv(tmp_path / "a.csv", rows)),
        steps=[{"step": "counterfactual", "attributes": ["gender"], "languages": ["en"]}],
        validation_fraction=0.25,
    )
    artifact = prepare_data(spec, tmp_path / "out", seed=0)
    train = pq.read_table(artifact.train).to_pylist()
    validation = pq.read_table(artifact.validation).to_pylist()
    assert len(validation) == 10 and artifact.report["augmented_train_rows"] == 30
    assert len(train) == 60
    assert not {r["source_row"] for r in train} & {r["source_row"] for r in validation}
    summary = artifact.report["step_summaries"]["counterfactual"]
    assert summary["swapped"] == 40  # every row made its copy; 10 stayed out with their source
    markdown = (tmp_path / "out" / "data_report.md").read_text(encoding="utf-8")
    assert "Counterfactual augmentation" in markdown
