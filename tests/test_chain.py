"""The whole chain on a toy spec and a tiny random BERT: run, cache, resume, gates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.chain import run_chain
from llmline.registry.store import list_versions
from llmline.spec import load_spec
from llmline.workspace import Workspace
from tests.conftest import toy_spec_text, write_csv


def _load(tmp_path: Path, data: Path, base: Path, **train: object):  # type: ignore[no-untyped-def]
    path = tmp_path / "spec.yaml"
    path.write_text(toy_spec_text(data, base, **train), encoding="utf-8")
    return load_spec(path)


@pytest.mark.slow
def test_chain_runs_caches_and_registers(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path
) -> None:
    spec = _load(tmp_path, toy_csv, tiny_bert_dir)
    workspace = Workspace.resolve(tmp_path / "ws")
    ctx = run_chain(spec, workspace)

    run_dir = ctx.run.dir
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert {"data", "train", "evaluate", "register"} <= set(manifest["stages"])
    assert manifest["stages"]["data"]["outputs"]["train"]["sha256"]
    assert manifest["packages"]["torch"]
    for name in (
        "model/model.safetensors",
        "model/head.safetensors",
        "model/llmline_model.json",
        "eval/report.json",
        "eval/report.md",
        "eval/confusion.png",
        "spec.yaml",
        "card.md",
    ):
        assert (run_dir / name).exists(), name
    card = (run_dir / "card.md").read_text()
    assert manifest["stages"]["data"]["outputs"]["train"]["sha256"] in card  # facts, not prose
    report = json.loads((run_dir / "eval/report.json").read_text())
    assert set(report["per_class"]) == {"neg", "pos"}

    versions = list_versions(workspace)
    assert len(versions) == 1 and versions[0]["aliases"] == ["champion"]
    assert (
        versions[0]["tags"]["llmline.data_train_sha256"]
        == (manifest["stages"]["data"]["outputs"]["train"]["sha256"])
    )

    again = run_chain(spec, workspace)
    assert again.run.dir == run_dir
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {s["status"] for s in manifest["stages"].values()} == {"cached"}
    assert len(list_versions(workspace)) == 1  # nothing registered twice


@pytest.mark.slow
def test_killed_run_registers_nothing_and_resumes(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llmline.evaluate.stage as evaluate_stage

    spec = _load(tmp_path, toy_csv, tiny_bert_dir)
    workspace = Workspace.resolve(tmp_path / "ws")

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate_stage, "evaluate_snapshot", crash)
    with pytest.raises(KeyboardInterrupt):
        run_chain(spec, workspace)
    assert list_versions(workspace) == []
    monkeypatch.undo()

    ctx = run_chain(spec, workspace)
    stages = json.loads(ctx.run.manifest_path.read_text())["stages"]
    assert stages["data"]["status"] == "cached" and stages["train"]["status"] == "cached"
    assert stages["register"]["status"] == "finished"


@pytest.mark.slow
def test_failed_gate_registers_without_alias(tmp_path: Path, tiny_bert_dir: Path) -> None:
    rows = [(f"same words here {i}", "a" if i % 3 else "b") for i in range(40)]
    data = write_csv(tmp_path / "noise.csv", rows)
    text = toy_spec_text(data, tiny_bert_dir).replace("min_accuracy: 0.5", "min_accuracy: 1.0")
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    ctx = run_chain(load_spec(path), Workspace.resolve(tmp_path / "ws"))
    registered = ctx.results["register"]["result"]
    assert registered["alias"] is None and registered["failed_gates"]
    versions = list_versions(Workspace.resolve(tmp_path / "ws"))
    assert versions[0]["aliases"] == [] and versions[0]["tags"]["llmline.gates"] == "failed"


def _statuses(run_dir: Path) -> dict[str, str]:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {name: stage["status"] for name, stage in manifest["stages"].items()}


def _reused_from(run_dir: Path, stage: str) -> str | None:
    marker = json.loads((run_dir / "stages" / f"{stage}.json").read_text())
    return marker.get("reused_from")


@pytest.mark.slow
def test_editing_gates_re_evaluates_without_re_training(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path
) -> None:
    workspace = Workspace.resolve(tmp_path / "ws")
    first = run_chain(_load(tmp_path, toy_csv, tiny_bert_dir), workspace)
    path = tmp_path / "spec.yaml"
    path.write_text(path.read_text().replace("min_accuracy: 0.5", "min_accuracy: 0.4"))
    second = run_chain(load_spec(path), workspace)

    assert second.run.dir != first.run.dir  # a run belongs to one whole spec
    statuses = _statuses(second.run.dir)
    assert statuses["data"] == statuses["train"] == "cached"
    assert statuses["evaluate"] == statuses["register"] == "finished"
    assert _reused_from(second.run.dir, "train") == first.run.run_id
    model = "model/model.safetensors"
    assert (second.run.dir / model).read_bytes() == (first.run.dir / model).read_bytes()
    assert (second.run.dir / "eval/report.json").exists()
    # the same weights, validation data and verdict: the version is reused, not duplicated
    versions = list_versions(workspace)
    assert len(versions) == 1 and versions[0]["tags"]["llmline.run_id"] == first.run.run_id
    assert second.results["register"]["result"]["version"] == versions[0]["version"]
    audit = (workspace.audit_log).read_text(encoding="utf-8")
    assert audit.count('"alias_moved"') == 1  # the alias already sat on the reused version


@pytest.mark.slow
def test_editing_train_re_trains_on_the_reused_data_stage(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path
) -> None:
    workspace = Workspace.resolve(tmp_path / "ws")
    first = run_chain(_load(tmp_path, toy_csv, tiny_bert_dir), workspace)
    second = run_chain(_load(tmp_path, toy_csv, tiny_bert_dir, weight_decay=0.1), workspace)

    statuses = _statuses(second.run.dir)
    assert statuses["data"] == "cached" and statuses["train"] == "finished"
    assert _reused_from(second.run.dir, "data") == first.run.run_id
    # Forcing the second run re-trains into fresh files: the first run's linked model is intact.
    before = (first.run.dir / "model/model.safetensors").read_bytes()
    run_chain(_load(tmp_path, toy_csv, tiny_bert_dir, weight_decay=0.1), workspace, force=True)
    assert (first.run.dir / "model/model.safetensors").read_bytes() == before
    assert _statuses(first.run.dir)["train"] == "finished"


@pytest.mark.slow
def test_changed_input_bytes_are_not_reused(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path
) -> None:
    workspace = Workspace.resolve(tmp_path / "ws")
    run_chain(_load(tmp_path, toy_csv, tiny_bert_dir), workspace, until="data")
    toy_csv.write_text(toy_csv.read_text() + "one more brand new row,pos\n")
    second = run_chain(_load(tmp_path, toy_csv, tiny_bert_dir), workspace, until="data")
    assert _statuses(second.run.dir)["data"] == "finished"
    assert _reused_from(second.run.dir, "data") is None
