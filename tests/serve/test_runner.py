from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from llmline.errors import ServeError
from llmline.serve.runner import OPTIONS_ENV, ServeOptions, app_from_env, build_app


def test_a_missing_key_file_refuses_to_start_open(
    tiny_classifier_dir: Path, tmp_path: Path
) -> None:
    options = ServeOptions(
        str(tiny_classifier_dir),
        str(tmp_path / "ws"),
        settings={"api_keys": str(tmp_path / "nope.json")},
    )
    with pytest.raises(ServeError, match="does not exist"):
        build_app(options)


def test_each_worker_builds_the_same_service_from_the_environment(
    tiny_classifier_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = ServeOptions(
        str(tiny_classifier_dir),
        str(tmp_path / "ws"),
        settings={"max_batch_size": 4},
        monitor={"retention_days": 7},
    )
    monkeypatch.setenv(OPTIONS_ENV, options.to_env())
    app = app_from_env()
    state = app.state.llmline
    assert state.batcher.max_batch_size == 4 and state.request_log is not None
    with TestClient(app) as client:  # runs the lifespan, so shutdown drains and closes
        assert client.post("/v1/classify", json={"texts": ["hello"]}).status_code == 200
    assert (tmp_path / "ws" / "monitor.db").exists()
    assert state.request_log.store.count() == 1


def test_a_served_torch_model_leaves_one_core_to_the_event_loop(tiny_classifier_dir: Path) -> None:
    import torch

    from llmline.models.backend import load_serving_predictor

    before = torch.get_num_threads()
    try:
        load_serving_predictor(tiny_classifier_dir, "torch", cores=3)
        assert torch.get_num_threads() == 2
        load_serving_predictor(tiny_classifier_dir, "torch", cores=1)
        assert torch.get_num_threads() == 1
        load_serving_predictor(tiny_classifier_dir, "torch", cores=4, threads=3)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
