"""Serving configuration comes from ServeSpec: safety policy, request audit, middleware order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import llmline.serve.app as app_module
from llmline.models.predictor import load_predictor
from llmline.serve.app import MIDDLEWARES, create_app
from llmline.serve.auth import KeyStore
from llmline.serve.gate import ServiceGate
from llmline.serve.runner import environment_overrides
from llmline.serve.safety import SafetyGuard
from llmline.serve.trail import RequestTrail
from llmline.spec import ServeSpec

BLOCK_CLASSIFY = {"routes": {"/v1/classify": {"input": "block"}}}


@pytest.fixture(scope="module")
def predictor(tiny_classifier_dir: Path) -> Any:
    return load_predictor(tiny_classifier_dir)


def _layers(app: Any) -> list[type]:
    return [layer.cls for layer in app.user_middleware]


def test_middlewares_wrap_in_the_order_of_the_one_list(predictor: Any, tmp_path: Path) -> None:
    settings = ServeSpec(request_audit=tmp_path / "requests.jsonl")
    app = create_app(predictor, model_ref="m", settings=settings)
    # user_middleware is outermost first, like the list: trail, then the gate, then safety.
    assert _layers(app) == [RequestTrail, ServiceGate, SafetyGuard]
    assert [factory.__module__ for factory in MIDDLEWARES] == [
        "llmline.serve.trail", "llmline.serve.gate", "llmline.serve.safety",
    ]  # fmt: skip


def test_the_list_alone_sets_the_order(
    predictor: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Module names play no part: reversing the list reverses the layers, nothing else does."""
    monkeypatch.setattr(app_module, "MIDDLEWARES", list(reversed(MIDDLEWARES)))
    settings = ServeSpec(request_audit=tmp_path / "requests.jsonl")
    app = create_app(predictor, model_ref="m", settings=settings)
    assert _layers(app) == [SafetyGuard, ServiceGate, RequestTrail]


def test_audit_off_leaves_its_layer_out(predictor: Any) -> None:
    assert _layers(create_app(predictor, model_ref="m")) == [ServiceGate, SafetyGuard]


def test_keys_are_checked_before_the_text_is_read_and_the_trail_sees_both(
    predictor: Any, tmp_path: Path
) -> None:
    from llmline.govern.audit import read_entries

    store = KeyStore([])
    key = store.create("app", scopes=["classify"], rate_per_s=None, burst=5)
    log = tmp_path / "requests.jsonl"
    settings = ServeSpec.model_validate({"safety": BLOCK_CLASSIFY, "request_audit": str(log)})
    client = TestClient(create_app(predictor, model_ref="m", settings=settings, keys=store))
    harmful = {"texts": ["how to make a bomb"]}
    assert client.post("/v1/classify", json=harmful).status_code == 401  # not 400: no key
    metrics = client.get("/metrics").text
    assert "llmline_safety_checked_texts_total{" not in metrics  # nothing was read
    headers = {"Authorization": f"Bearer {key}"}
    assert client.post("/v1/classify", json=harmful, headers=headers).status_code == 400
    assert [e["status"] for e in read_entries(log)] == [401, 400]


def test_the_safety_policy_comes_from_the_spec(predictor: Any) -> None:
    blocked = TestClient(
        create_app(
            predictor, model_ref="m", settings=ServeSpec.model_validate({"safety": BLOCK_CLASSIFY})
        )
    )
    refused = blocked.post("/v1/classify", json={"texts": ["教我怎么做炸弹", "hello"]})
    assert refused.status_code == 400 and refused.json()["categories"]
    default = TestClient(create_app(predictor, model_ref="m"))
    flagged = default.post("/v1/classify", json={"texts": ["how to make a bomb"]})
    assert flagged.status_code == 200 and flagged.headers["x-llmline-safety"].startswith("flagged")


def test_environment_overrides_win_over_the_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("routes:\n  /v1/ner: {input: block}\n", encoding="utf-8")
    spec = {"safety": BLOCK_CLASSIFY, "request_audit": str(tmp_path / "spec.jsonl")}
    monkeypatch.delenv("LLMLINE_SAFETY_POLICY", raising=False)
    monkeypatch.delenv("LLMLINE_REQUEST_AUDIT", raising=False)
    assert ServeSpec.model_validate(environment_overrides(spec)) == ServeSpec.model_validate(spec)
    monkeypatch.setenv("LLMLINE_SAFETY_POLICY", str(policy))
    monkeypatch.setenv("LLMLINE_REQUEST_AUDIT", str(tmp_path / "env.jsonl"))
    settings = ServeSpec.model_validate(environment_overrides(spec))
    assert settings.safety is not None and list(settings.safety.routes) == ["/v1/ner"]
    assert settings.request_audit == tmp_path / "env.jsonl"


def test_a_bad_policy_in_the_environment_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmline.errors import ServeError

    policy = tmp_path / "policy.yaml"
    policy.write_text("routes: {/v1/classify: {input: explode}}\n", encoding="utf-8")
    monkeypatch.setenv("LLMLINE_SAFETY_POLICY", str(policy))
    with pytest.raises(ServeError, match="LLMLINE_SAFETY_POLICY"):
        environment_overrides({})


def test_serve_config_takes_govern_safety_unless_serve_safety_is_set(tmp_path: Path) -> None:
    from llmline.commands.serve import _blocks

    pipeline = tmp_path / "spec.yaml"
    pipeline.write_text(
        "name: x\ngovern:\n  safety:\n    routes: {/v1/ner: {input: block}}\n"
        "serve:\n  max_batch_size: 4\n",
        encoding="utf-8",
    )
    serve, _ = _blocks(pipeline)
    assert serve == {"max_batch_size": 4, "safety": {"routes": {"/v1/ner": {"input": "block"}}}}
    own = tmp_path / "serve.yaml"
    own.write_text(
        "govern: {safety: {routes: {}}}\nserve:\n  safety: {routes: {/v1/classify: {}}}\n",
        encoding="utf-8",
    )
    assert _blocks(own)[0]["safety"] == {"routes": {"/v1/classify": {}}}


def test_a_bad_serve_block_names_the_file_and_key(tmp_path: Path) -> None:
    from llmline.commands.serve import _blocks
    from llmline.errors import SpecError

    path = tmp_path / "serve.yaml"
    path.write_text("serve:\n  safety: {routes: {/v1/classify: {input: explode}}}\n", "utf-8")
    with pytest.raises(SpecError, match=r"safety\.routes"):
        _blocks(path)
    path.write_text("serve:\n  max_texts: 100000\n", encoding="utf-8")
    with pytest.raises(SpecError, match="max_texts"):
        _blocks(path)


def test_audit_entries_are_json_lines(predictor: Any, tmp_path: Path) -> None:
    log = tmp_path / "a" / "requests.jsonl"
    client = TestClient(create_app(predictor, model_ref="m", settings=ServeSpec(request_audit=log)))
    client.post("/v1/classify", json={"texts": ["张三的卡丢了"]})
    entry = json.loads(log.read_text(encoding="utf-8").splitlines()[0])
    assert entry["route"] == "/v1/classify" and "张三" not in log.read_text(encoding="utf-8")


def test_pair_and_ner_texts_are_checked_by_default() -> None:
    from llmline.serve.safety import input_texts
    from llmline.spec.govern import SafetySpec

    body = {"pairs": [["我的卡被冻结了", "卡为什么被冻结"], ["a", 3]], "top_k": 1}
    assert input_texts(body) == ["我的卡被冻结了", "卡为什么被冻结", "a"]
    routes = SafetySpec().routes
    assert routes["/v1/pairs"].input == "flag" and routes["/v1/ner"].input == "flag"
