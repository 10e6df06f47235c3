"""The OpenAI-compatible routes, driven by the official `openai` client, streaming included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from llmline.models.meta import ModelMeta
from llmline.models.predictor import load_predictor
from llmline.serve.app import create_app

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def generator_dir(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("generator") / "model"
    shutil.copytree(tiny_llama_dir, directory)
    ModelMeta(labels=[], pooling="none", normalize=False, task="causal_lm",
                   extra={"generation": {"max_new_tokens": 6}}).save(directory)  # fmt: skip
    return directory


@pytest.fixture(scope="module")
def client(generator_dir: Path) -> TestClient:
    return TestClient(create_app(load_predictor(generator_dir), model_ref="tiny-llama"))


@pytest.fixture(scope="module")
def sdk(client: TestClient) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)


def test_chat_completion_with_the_official_client(sdk: openai.OpenAI) -> None:
    reply = sdk.chat.completions.create(
        model="tiny-llama", messages=[{"role": "user", "content": "hello there"}], max_tokens=5
    )
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.role == "assistant"
    assert isinstance(reply.choices[0].message.content, str)
    assert reply.choices[0].finish_reason in {"stop", "length"}
    assert 0 < reply.usage.completion_tokens <= 5 and reply.usage.prompt_tokens > 3


def test_streamed_chat_equals_the_whole_answer(sdk: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "count with me"}]
    whole = sdk.chat.completions.create(model="m", messages=messages, max_tokens=6)
    stream = sdk.chat.completions.create(model="m", messages=messages, max_tokens=6, stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in {"stop", "length"}
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.strip() == (whole.choices[0].message.content or "").strip()


def test_text_completion_streams_and_returns(sdk: openai.OpenAI) -> None:
    done = sdk.completions.create(model="m", prompt="once upon a time", max_tokens=4)
    assert done.object == "text_completion" and done.usage.completion_tokens <= 4
    pieces = list(sdk.completions.create(model="m", prompt="once upon a time", max_tokens=4,
                                         stream=True))  # fmt: skip
    assert pieces[-1].choices[0].finish_reason in {"stop", "length"}


def test_models_and_sse_framing(client: TestClient) -> None:
    assert client.get("/v1/models").json()["data"][0]["id"] == "tiny-llama"
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 2}
    raw = client.post("/v1/chat/completions", json=body).text
    events = [e for e in raw.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[0].removeprefix("data: "))["object"] == "chat.completion.chunk"


@pytest.mark.parametrize(
    "body",
    [{"messages": []}, {"messages": [{"role": "robot", "content": "x"}]},
     {"messages": [{"role": "user", "content": "x"}], "n": 2},
     {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}],
)  # fmt: skip
def test_bad_chat_requests_are_422(client: TestClient, body: dict[str, object]) -> None:
    assert client.post("/v1/chat/completions", json=body).status_code == 422


def test_classifier_refuses_generation(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    from llmline.models.classifier import build_classifier, save_classifier

    meta = ModelMeta(labels=["a", "b"], max_length=16)
    model = build_classifier(AutoModel.from_pretrained(tiny_bert_dir), meta)
    save_classifier(model, AutoTokenizer.from_pretrained(tiny_bert_dir), tmp_path / "clf")
    client = TestClient(create_app(load_predictor(tmp_path / "clf"), model_ref="clf"))
    response = client.post("/v1/chat/completions",
                           json={"messages": [{"role": "user", "content": "hi"}]})  # fmt: skip
    assert response.status_code == 400 and "not text generation" in response.json()["detail"]
