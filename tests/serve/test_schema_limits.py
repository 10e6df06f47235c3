"""The OpenAPI document declares the limits the routes enforce, at this service's settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from llmline.models.predictor import load_predictor
from llmline.serve.app import create_app
from llmline.serve.schemas import NON_BLANK, SETTING_MARK
from llmline.spec import ServeSpec

SETTINGS = ServeSpec(max_texts=7, max_text_chars=50, max_new_tokens=9)


@pytest.fixture(scope="module")
def client(tiny_classifier_dir: Path) -> TestClient:
    app = create_app(load_predictor(tiny_classifier_dir), model_ref="m", settings=SETTINGS)
    return TestClient(app)


@pytest.fixture(scope="module")
def schemas(client: TestClient) -> dict[str, Any]:
    document = client.get("/openapi.json").json()
    assert SETTING_MARK not in json.dumps(document)  # every mark was replaced by its value
    return dict(document["components"]["schemas"])


def _text_items(schema: dict[str, Any]) -> dict[str, Any]:
    return dict(schema["items"])


@pytest.mark.parametrize("name", ["ClassifyRequest", "NerRequest"])
def test_text_lists_declare_count_length_and_non_blank(schemas: dict[str, Any], name: str) -> None:
    texts = schemas[name]["properties"]["texts"]
    assert (texts["minItems"], texts["maxItems"]) == (1, SETTINGS.max_texts)
    assert _text_items(texts) == {"type": "string", "maxLength": 50, "pattern": NON_BLANK}
    assert schemas[name]["additionalProperties"] is False


def test_embeddings_input_declares_both_shapes(schemas: dict[str, Any]) -> None:
    one, many = schemas["EmbeddingsRequest"]["properties"]["input"]["anyOf"]
    assert one["maxLength"] == 50 and one["pattern"] == NON_BLANK
    assert many["maxItems"] == 7 and _text_items(many)["maxLength"] == 50


def test_generation_declares_max_tokens_messages_and_prompt(schemas: dict[str, Any]) -> None:
    chat = schemas["ChatRequest"]["properties"]
    for key in ("max_tokens", "max_completion_tokens"):
        bounded = next(s for s in chat[key]["anyOf"] if s.get("type") == "integer")
        assert (bounded["minimum"], bounded["maximum"]) == (1, SETTINGS.max_new_tokens)
    assert chat["messages"]["maxItems"] == 7
    content = schemas["ChatMessage"]["properties"]["content"]["anyOf"][0]
    assert content["maxLength"] == 50
    assert schemas["TextPart"]["properties"]["text"]["maxLength"] == 50
    assert schemas["CompletionRequest"]["properties"]["prompt"]["maxLength"] == 50


def test_explain_declares_its_own_tighter_limits(schemas: dict[str, Any]) -> None:
    texts = schemas["ExplainRequest"]["properties"]["texts"]
    assert texts["maxItems"] == 8 and _text_items(texts)["maxLength"] == 2000


def test_hard_caps_hold_without_settings(tiny_classifier_dir: Path) -> None:
    app = create_app(load_predictor(tiny_classifier_dir), model_ref="m")
    texts = app.openapi()["components"]["schemas"]["ClassifyRequest"]["properties"]["texts"]
    assert (texts["maxItems"], _text_items(texts)["maxLength"]) == (256, 10_000)


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"texts": ["ok"] * 7}, 200),
        ({"texts": ["ok"] * 8}, 422),
        ({"texts": ["八" * 50]}, 200),
        ({"texts": ["八" * 51]}, 422),
        ({"texts": ["\u3000\t\n"]}, 422),  # ideographic space: blank in both languages
        ({"texts": ["\u200b"]}, 200),  # zero-width space is not whitespace, for the schema too
    ],
)
def test_the_routes_enforce_what_the_schema_says(
    client: TestClient, payload: dict[str, Any], status: int
) -> None:
    import re

    assert client.post("/v1/classify", json=payload).status_code == status
    texts = payload["texts"]
    schema_valid = len(texts) <= 7 and all(len(t) <= 50 and re.search(NON_BLANK, t) for t in texts)
    assert schema_valid == (status == 200)
    assert client.post("/v1/embeddings", json={"input": texts}).status_code == status


def test_errors_are_documented_in_the_shape_they_are_sent(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    problem = {"$ref": "#/components/schemas/Problem"}
    for path in ("/v1/classify", "/v1/embeddings", "/v1/chat/completions"):
        responses = document["paths"][path]["post"]["responses"]
        assert responses["422"]["content"]["application/json"]["schema"] == problem
        assert responses["default"]["content"]["application/json"]["schema"] == problem
    assert "HTTPValidationError" not in document["components"]["schemas"]
    answer = client.post("/v1/classify", json={"texts": []}).json()
    assert isinstance(answer["detail"], str) and isinstance(answer["errors"], list)
    chat = document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert "text/event-stream" in chat


@pytest.mark.parametrize(
    ("top_k", "status"), [(2, 200), (2.0, 200), (2.5, 422), (True, 422), ("2", 422)]
)
def test_integers_are_json_schema_integers(client: TestClient, top_k: Any, status: int) -> None:
    answer = client.post("/v1/classify", json={"texts": ["卡丢了"], "top_k": top_k})
    assert answer.status_code == status


@pytest.mark.parametrize(
    "body",
    [
        {"messages": 5},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": {}}]}]},
        {"texts": [1, None, {"a": "b"}]},
        [1, 2, 3],
        "just a string",
    ],
)
def test_the_safety_layer_reads_any_json_without_failing(body: Any) -> None:
    from llmline.serve.safety import input_texts

    assert all(isinstance(text, str) for text in input_texts(body))
