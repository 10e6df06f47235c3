"""executor: ray gives the same snapshots and counts as the local executor (2 local workers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmline.data.stage import prepare_data, read_snapshot
from llmline.spec import DataSpec, SourceSpec
from tests.conftest import write_csv

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    from llmline.data.ray_executor import ensure_ray

    ray = ensure_ray(workers=2)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_matches_local(tmp_path: Path, local_ray: None) -> None:
    rows = [(f"message {i} about the weekly meeting, call 415-555-{1000 + i:04d}", "ab"[i % 2])
            for i in range(300)]  # fmt: skip
    rows += [
        ("$$$$ !!!! ####", "a"),
        ("message 3 about the weekly meeting, call 415-555-1003", "b"),
    ]
    steps = [{"step": "quality"}, {"step": "redact"}, {"step": "near_dedup", "threshold": 0.9}]
    spec = DataSpec(source=SourceSpec(path=write_csv(tmp_path / "r.csv", rows)), steps=steps)
    local = prepare_data(spec, tmp_path / "local", seed=0)
    remote = prepare_data(spec, tmp_path / "ray", seed=0, executor="ray")
    assert read_snapshot(local.train) == read_snapshot(remote.train)
    assert read_snapshot(local.validation) == read_snapshot(remote.validation)
    for key in ("dropped", "steps"):
        assert local.report[key] == remote.report[key]
    assert remote.report["step_summaries"]["redact"]["pii_by_type"] == {"PHONE": 301}


@pytest.mark.slow
def test_third_party_step_row_locality_on_ray(tmp_path: Path, local_ray: None) -> None:
    """A step registered by the test runs on workers when row-local, on the driver when not,
    and the chain's snapshots and counts match the local executor."""
    from llmline.data.ray_executor import run_on_ray
    from llmline.data.record import Record
    from llmline.data.steps import StepRun
    from tests.data.test_steps import STEPS, register_fakes

    register_fakes()
    run = StepRun.build(STEPS)
    records = (Record(text=f"一行中文 row {i}", row=i) for i in range(600))
    out = list(run.run(records, remote=run_on_ray))
    assert [r.meta["seq"] for r in out] == list(range(600))  # one stream, in order
    assert {r.meta["number_pid"] for r in out} == {os.getpid()}
    assert os.getpid() not in {r.meta["shout_pid"] for r in out}

    rows = [(f"row number {i}", "ab"[i % 2]) for i in range(300)] + [("abc", "a")]
    spec = DataSpec(source=SourceSpec(path=write_csv(tmp_path / "r.csv", rows)), steps=STEPS)
    local = prepare_data(spec, tmp_path / "local", seed=0)
    remote = prepare_data(spec, tmp_path / "ray", seed=0, executor="ray")
    assert read_snapshot(local.train) == read_snapshot(remote.train)
    assert local.report["steps"] == remote.report["steps"]
    assert remote.report["dropped"] == {"shout:short": 1}
