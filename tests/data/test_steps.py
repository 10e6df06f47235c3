"""Data steps register once (options model, factory, row-local flag); a third-party step needs
no edit to any central file to be validated, documented, run and counted."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from pydantic import Field

from llmline.data.record import DATA_STEPS, Record, Step, register_step
from llmline.data.stage import prepare_data, read_snapshot
from llmline.data.steps import StepRun
from llmline.errors import SpecError
from llmline.spec import DataSpec, SourceSpec, explain, load_spec
from llmline.spec.base import StrictModel
from tests.conftest import write_csv


class ShoutSpec(StrictModel):
    """Test step `test_shout`: upper-case the text and mark it; short rows are dropped."""

    suffix: str = Field("!", description="Appended to every text.")
    min_chars: int = Field(0, ge=0, description="Drop texts shorter than this.")


def shout(spec: ShoutSpec) -> Step:
    def step(records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            if record.dropped is None:
                if len(record.text) < spec.min_chars:
                    record.dropped = "shout:short"
                else:
                    record.text = record.text.upper() + spec.suffix
                    record.meta["shout_pid"] = os.getpid()
            yield record

    return step


class NumberSpec(StrictModel):
    """Test step `test_number`: number the live rows of the whole stream, in order."""

    start: int = 0


def number(spec: NumberSpec) -> Step:
    def step(records: Iterable[Record]) -> Iterator[Record]:
        seen = spec.start
        for record in records:
            if record.dropped is None:
                record.meta["seq"], record.meta["number_pid"] = seen, os.getpid()
                seen += 1
            yield record

    return step


def register_fakes() -> None:
    """Registered here, as a plugin would in its own module: no central file knows them."""
    register_step("test_shout", config=ShoutSpec, row_local=True)(shout)
    register_step("test_number", config=NumberSpec)(number)


STEPS = [{"step": "test_shout", "suffix": "!!", "min_chars": 4}, {"step": "test_number"}]


def test_builtin_steps_register_their_options_and_row_locality() -> None:
    assert {"quality", "near_dedup", "redact", "label_rules", "augment"} <= set(DATA_STEPS)
    assert DATA_STEPS.get("quality").is_row_local({})
    assert not DATA_STEPS.get("near_dedup").is_row_local({})
    assert DATA_STEPS.get("redact").is_row_local({"mode": "hash"})
    assert not DATA_STEPS.get("redact").is_row_local({"mode": "pseudonym"})
    assert DATA_STEPS.get("augment").train_only and not DATA_STEPS.get("quality").train_only


def test_registering_twice_is_a_no_op_but_a_clash_is_an_error() -> None:
    register_fakes()
    register_fakes()
    with pytest.raises(ValueError, match="registered twice"):
        register_step("test_shout", config=NumberSpec)(shout)


def test_third_party_step_options_checked_at_spec_load(tmp_path: Path) -> None:
    register_fakes()
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: t\ntask: classification\ndata:\n  source: {path: x.csv}\n"
        "  steps:\n    - {step: quality}\n    - {step: test_shout, min_chars: -3}\n"
    )
    with pytest.raises(SpecError, match=r"data\.steps\[1\]\.min_chars: Input should be greater"):
        load_spec(spec)
    spec.write_text(spec.read_text().replace("test_shout, min_chars: -3", "test_shuot"))
    with pytest.raises(SpecError, match=r"data\.steps\[1\]\.step: .*did you mean 'test_shout'"):
        load_spec(spec)
    spec.write_text(spec.read_text().replace("{step: test_shuot}", "{suffix: x}"))
    with pytest.raises(SpecError, match=r"data\.steps\[1\]\.step: missing"):
        load_spec(spec)


def test_explain_documents_every_registered_step() -> None:
    register_fakes()
    lines = explain()
    for name in DATA_STEPS.names():
        assert any(line.startswith(f"data.steps[step: {name}]  ") for line in lines), name
    assert any(
        line.startswith("data.steps[step: test_shout].suffix  (default '!')  Appended")
        for line in lines
    )
    assert any(line.startswith("data.steps[step: quality].max_chars") for line in lines)


def test_third_party_step_runs_locally_and_is_counted(tmp_path: Path) -> None:
    register_fakes()
    rows = [(f"row number {i}", "ab"[i % 2]) for i in range(40)] + [("abc", "a"), ("xy", "b")]
    spec = DataSpec(source=SourceSpec(path=write_csv(tmp_path / "r.csv", rows)), steps=STEPS)
    artifact = prepare_data(spec, tmp_path / "out", seed=0)
    texts, _ = read_snapshot(artifact.train)
    assert all(t.startswith("ROW NUMBER") and t.endswith("!!") for t in texts)
    shout_tally = next(s for s in artifact.report["steps"] if s["step"] == "test_shout")
    assert shout_tally == {"step": "test_shout", "rows_in": 42, "rows_out": 40,
                           "dropped": {"shout:short": 2}}  # fmt: skip


def test_segments_follow_row_locality_without_an_executor() -> None:
    """Only consecutive row-local steps are handed to the remote runner, as one segment."""
    register_fakes()
    options = [STEPS[0], {"step": "quality"}, STEPS[1], {"step": "redact", "mode": "pseudonym"}]
    handed: list[list[str]] = []

    def remote(records: Iterable[Record], segment, summaries):  # type: ignore[no-untyped-def]
        handed.append([e.name for e in segment.entries])
        out, summary = segment(list(records))
        summaries.update(summary)
        yield from out

    run = StepRun.build(options)
    out = list(run.run((Record(text=f"hello there {i}", row=i) for i in range(5)), remote=remote))
    assert handed == [["test_shout", "quality"]]
    assert [r.meta["seq"] for r in out] == [0, 1, 2, 3, 4]
    assert out[0].text == "HELLO THERE 0!!"


PLUGIN = '''
from pydantic import Field

from llmline.data.record import register_step
from llmline.spec.base import StrictModel


class TagSpec(StrictModel):
    """Plugin step `plugin_tag`: add a tag column."""

    tag: str = Field("x", description="The tag.")


@register_step("plugin_tag", config=TagSpec, row_local=True)
def plugin_tag(spec):
    def step(records):
        for record in records:
            record.meta["tag"] = spec.tag
            yield record

    return step
'''


def test_installed_plugin_registers_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "llmline_tag_plugin.py").write_text(PLUGIN)
    info = tmp_path / "llmline_tag_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: llmline-tag-plugin\nVersion: 1\n")
    (info / "entry_points.txt").write_text("[llmline.data_steps]\ntag = llmline_tag_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(DATA_STEPS, "_loaded", False)
    step = DATA_STEPS.get("plugin_tag")
    assert step.is_row_local({}) and step.parse({"step": "plugin_tag", "tag": "t"}) is not None
    (record,) = step.build({"tag": "标签"})([Record(text="a")])
    assert record.meta["tag"] == "标签"
