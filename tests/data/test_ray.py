"""executor: ray gives the same snapshots and counts as the local executor (2 local workers)."""

from __future__ import annotations

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
