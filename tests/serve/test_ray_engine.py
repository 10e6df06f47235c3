"""`llmline serve --engine ray`: options, refusals, and one real local Ray Serve deployment."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

from llmline.cli import build_parser
from llmline.errors import ServeError
from llmline.serve.runner import ServeOptions


def test_engine_flags_land_in_the_serve_spec(tmp_path: Path) -> None:
    flags = "--engine ray --min-replicas 0 --max-replicas 3 --target-ongoing-requests 1.5"
    argv = ["serve", "--model", "x", *flags.split(), "--replica-cpus", "0.25"]
    args = build_parser().parse_args(argv)
    keys = ("engine", "min_replicas", "max_replicas", "target_ongoing_requests", "replica_cpus")
    settings = {k: getattr(args, k) for k in keys}
    spec = ServeOptions("x", str(tmp_path), settings).serve_spec
    assert (spec.engine, spec.min_replicas, spec.max_replicas) == ("ray", 0, 3)
    assert spec.target_ongoing_requests == 1.5 and spec.replica_cpus == 0.25


@pytest.mark.parametrize(
    ("settings", "where"),
    [
        ({"engine": "ray", "workers": 2}, "serve.workers"),
        ({"engine": "ray", "min_replicas": 3, "max_replicas": 2}, "serve.min_replicas"),
    ],
)
def test_contradictory_settings_are_refused_before_ray_starts(
    tmp_path: Path, settings: dict[str, object], where: str
) -> None:
    pytest.importorskip("ray.serve")
    from llmline.serve.ray_engine import deploy

    with pytest.raises(ServeError) as caught:
        deploy(ServeOptions("x", str(tmp_path), settings), host="127.0.0.1", port=1)
    assert caught.value.where == where


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.integration
@pytest.mark.slow
def test_local_ray_serve_answers_classify_with_one_replica(
    tiny_classifier_dir: Path, tmp_path: Path
) -> None:
    serve = pytest.importorskip("ray.serve", reason="Ray Serve is not installed (ray[serve])")
    import httpx
    import ray

    from llmline.serve.ray_engine import deploy, replica_counts

    settings = {"engine": "ray", "min_replicas": 1, "max_replicas": 1, "monitor": False,
                "replica_cpus": 0.5, "reload_interval_s": 0}  # fmt: skip
    port = _free_port()
    try:
        ray.init(num_cpus=1, include_dashboard=False, logging_level=logging.ERROR)
    except Exception as exc:  # a sandbox without shared memory or sockets for Ray's daemons
        pytest.skip(f"local Ray cannot start here: {exc}")
    try:
        deploy(ServeOptions(str(tiny_classifier_dir), str(tmp_path / "ws"), settings),
               host="127.0.0.1", port=port)  # fmt: skip
        texts = {"texts": ["great service, thank you", "这个服务太差了"]}
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/classify", json=texts, timeout=60)
        assert reply.status_code == 200, reply.text
        assert len(reply.json()["results"]) == 2
        bad = httpx.post(f"http://127.0.0.1:{port}/v1/classify", json={"texts": []}, timeout=60)
        assert bad.status_code == 422  # the same validation as under uvicorn
        deadline = time.time() + 30
        while replica_counts().get("RUNNING") != 1 and time.time() < deadline:
            time.sleep(1)
        assert replica_counts().get("RUNNING") == 1
    finally:
        serve.shutdown()
        ray.shutdown()
