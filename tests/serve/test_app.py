from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from llmline.models.predictor import load_predictor
from llmline.serve.app import create_app
from llmline.serve.schemas import MAX_CHARS, MAX_TEXTS


@pytest.fixture(scope="module")
def client(tiny_classifier_dir: Path) -> TestClient:
    app = create_app(load_predictor(tiny_classifier_dir), model_ref="test-model")
    return TestClient(app)


def test_classify_returns_label_score_and_top_k(client: TestClient) -> None:
    response = client.post("/v1/classify", json={"texts": ["where is my card", "hi"], "top_k": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "test-model"
    assert len(body["results"]) == 2
    first = body["results"][0]
    assert first["label"] in {"billing", "cards", "other"}
    assert len(first["top_k"]) == 2 and first["top_k"][0]["label"] == first["label"]
    assert first["top_k"][0]["score"] >= first["top_k"][1]["score"]


def test_results_keep_input_order(client: TestClient) -> None:
    texts = ["a much longer text about a card that has not arrived yet", "short", "medium text"]
    together = client.post("/v1/classify", json={"texts": texts}).json()["results"]
    alone = [client.post("/v1/classify", json={"texts": [t]}).json()["results"][0] for t in texts]
    assert [r["label"] for r in together] == [r["label"] for r in alone]
    for a, b in zip(together, alone, strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"texts": []}, "texts"),
        ({"texts": [1, 2]}, "texts.0"),
        ({"texts": ["x" * (MAX_CHARS + 1)]}, "limit"),
        ({"texts": ["ok"] * (MAX_TEXTS + 1)}, "texts"),
        ({"texts": ["   "]}, "empty"),
        ({"text": ["wrong key"]}, "texts"),
        ({"texts": ["ok"], "top_k": 0}, "top_k"),
    ],
)
def test_bad_requests_get_422_with_a_message(
    client: TestClient, payload: dict[str, Any], fragment: str
) -> None:
    response = client.post("/v1/classify", json=payload)
    assert response.status_code == 422
    assert fragment in response.json()["detail"]


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/classify", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    client.post("/v1/classify", json={"texts": ["one", "two", "three"]})
    text = client.get("/metrics").text
    assert 'llmline_requests_total{route="/v1/classify",status="200"}' in text
    assert "llmline_request_latency_seconds_bucket" in text
    assert "llmline_batch_size_bucket" in text


def test_openapi_documents_classify(client: TestClient) -> None:
    assert "/v1/classify" in client.get("/openapi.json").json()["paths"]


def test_not_ready_without_model() -> None:
    client = TestClient(create_app(None, model_ref="none"))
    assert client.get("/readyz").status_code == 503
    assert client.post("/v1/classify", json={"texts": ["x"]}).status_code == 503


def test_a_crashing_model_is_counted_as_a_500() -> None:
    class Broken:
        task, labels = "classification", ["a", "b"]

        def predict(self, texts: list[str], *, top_k: int = 1) -> list[dict[str, Any]]:
            raise RuntimeError("model exploded")

    client = TestClient(create_app(Broken(), model_ref="m"), raise_server_exceptions=False)
    assert client.post("/v1/classify", json={"texts": ["x"]}).status_code == 500
    assert 'llmline_requests_total{route="/v1/classify",status="500"} 1.0' in (
        client.get("/metrics").text
    )
