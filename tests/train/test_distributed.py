"""train.distributed: the spec block, and the chain trained by 2 CPU workers (Ray, accelerate)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from llmline.errors import SpecError
from llmline.spec import DistributedSpec, PipelineSpec, load_spec
from llmline.train.distributed import _result_record, train_model, wants_gpu
from tests.conftest import toy_spec_text


def _spec(tmp_path: Path, data: Path, base: Path, distributed: str) -> PipelineSpec:
    path = tmp_path / "spec.yaml"
    text = toy_spec_text(data, base, distributed=distributed, head_init="random")
    path.write_text(text, encoding="utf-8")
    return load_spec(path)


@pytest.mark.parametrize(
    ("block", "key"),
    [
        ("{backend: ray, workers: 0}", "train.distributed.workers"),
        ("{backend: horovod}", "train.distributed.backend"),
        ("{workers: 2}", "train.distributed.backend"),
        ("{backend: ray, nodes: 2}", "train.distributed.nodes"),
        ("{backend: ray, use_gpu: sometimes}", "train.distributed.use_gpu"),
    ],
)
def test_bad_blocks_name_their_key(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path, block: str, key: str
) -> None:
    with pytest.raises(SpecError, match=key.replace(".", r"\.")):
        _spec(tmp_path, toy_csv, tiny_bert_dir, block)


def test_defaults_and_single_process(tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path) -> None:
    spec = _spec(tmp_path, toy_csv, tiny_bert_dir, "{backend: accelerate}")
    assert spec.train.distributed == DistributedSpec(backend="accelerate", workers=2)
    assert spec.train.distributed.use_gpu == "auto"
    assert _spec(tmp_path, toy_csv, tiny_bert_dir, "null").train.distributed is None


def test_gpu_choice() -> None:
    auto = DistributedSpec(backend="ray", workers=2)
    assert wants_gpu(auto, 0) is False and wants_gpu(auto, 4) is True
    assert wants_gpu(DistributedSpec(backend="ray", workers=2, use_gpu=False), 4) is False
    with pytest.raises(SpecError, match="2 GPUs; 1 found"):
        wants_gpu(auto, 1)
    with pytest.raises(SpecError, match="use_gpu: false"):
        wants_gpu(DistributedSpec(backend="ray", use_gpu=True), 0)


def test_refuses_to_run_under_an_outside_launcher(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    spec = _spec(tmp_path, toy_csv, tiny_bert_dir, "null")
    with pytest.raises(SpecError, match="once per process"):
        train_model(spec, None, tmp_path, None)  # type: ignore[arg-type]


def test_a_worker_user_error_comes_back_as_itself(tmp_path: Path) -> None:
    error = {"kind": "SpecError", "what": "bad peft", "where": "train.peft", "fix": "use lora"}
    (tmp_path / "result.json").write_text(json.dumps({"error": error}), encoding="utf-8")
    with pytest.raises(SpecError, match=r"train\.peft: bad peft — fix: use lora"):
        _result_record(tmp_path)
    assert _result_record(tmp_path / "missing") is None


# --- 2 CPU workers, end to end --------------------------------------------------------------


def _train_rows(run_dir: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(run_dir / "data" / "train.parquet").num_rows)


def train_sha256(ctx: Any) -> str:
    return str(ctx.results["train"]["outputs"]["model"]["sha256"])


def _check_trained_by_two(ctx: Any) -> None:
    """Steps halve: each of the 2 workers takes batch_size (8) rows of every step."""
    from llmline.models.predictor import load_predictor

    train = ctx.results["train"]
    rows = _train_rows(ctx.run.dir)
    assert train["result"]["metrics"]["world_size"] == 2
    assert train["result"]["steps"] == math.ceil(rows / 16) < math.ceil(rows / 8)
    assert train_sha256(ctx)
    (prediction,) = load_predictor(ctx.run.model_dir).predict(["I loved this film"], top_k=2)
    assert {alternative["label"] for alternative in prediction["top_k"]} == {"pos", "neg"}


@pytest.mark.integration
def test_ray_workers_train_and_the_chain_registers(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray.train")
    import os

    import ray

    from llmline.chain import run_chain
    from llmline.registry.store import list_versions
    from llmline.workspace import Workspace

    monkeypatch.chdir(tmp_path)  # a relative base_model must resolve in the workers too
    base = Path(os.path.relpath(tiny_bert_dir, tmp_path))
    spec = _spec(tmp_path, toy_csv, base, "{backend: ray, workers: 2, use_gpu: false}")
    workspace = Workspace.resolve(tmp_path / "ws")
    try:
        ctx = run_chain(spec, workspace)
    finally:
        ray.shutdown()
    assert not ray.is_initialized()  # the run stopped the local Ray it started
    _check_trained_by_two(ctx)
    manifest = json.loads((ctx.run.dir / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert (ctx.run.dir / "distributed" / "ray" / "train").is_dir()  # Ray's storage: in the run
    (version,) = list_versions(workspace)
    assert version["tags"]["llmline.model_sha256"] == train_sha256(ctx)


@pytest.mark.integration
def test_accelerate_launch_trains_on_two_cpu_processes(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path
) -> None:
    from llmline.chain import run_chain
    from llmline.workspace import Workspace

    spec = _spec(tmp_path, toy_csv, tiny_bert_dir, "{backend: accelerate, workers: 2}")
    ctx = run_chain(spec, Workspace.resolve(tmp_path / "ws"), until="train")
    _check_trained_by_two(ctx)
    assert (ctx.run.dir / "distributed" / "job.json").exists()
