"""POST /v1/assistant and the chat route's knowledge_base field, over FastAPI's TestClient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from llmline.assistant.core import Assistant
from llmline.assistant.service import AssistantHub
from llmline.serve.app import create_app
from llmline.spec import ServeSpec
from llmline.spec.assistant import AssistantSpec
from llmline.workspace import Workspace
from tests.assistant.conftest import EchoGenerator
from tests.kb.conftest import HashEncoder


@pytest.fixture()
def client(ws: Workspace, bank_kb: str, encoder: HashEncoder) -> Iterator[TestClient]:
    settings = ServeSpec.model_validate({"max_body_bytes": 4096, "max_text_chars": 500})
    app = create_app(None, model_ref="none", settings=settings)

    def factory(spec: AssistantSpec) -> Assistant:
        spec = spec.model_copy(update={"min_confidence": 0.3})
        return Assistant(spec, ws, encoder=encoder, generator=EchoGenerator())

    app.state.assistants = AssistantHub(ws, [AssistantSpec(kb="bank")], factory=factory)
    with TestClient(app) as test_client:
        yield test_client


def _events(text: str) -> list[Any]:
    lines = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data:")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def test_assistant_answers_with_citations_and_keeps_the_conversation(client: TestClient) -> None:
    first = client.post("/v1/assistant", json={"message": "信用卡丢了怎么办？"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["mode"] == "faq" and body["citations"][0]["doc_id"] == "q1"
    assert body["kb"] == "bank" and body["confidence_source"] == "dense"
    again = client.post("/v1/assistant", json={
        "message": "How do I reset my PIN?", "conversation_id": body["conversation_id"],
        "knowledge_base": "bank",
    })  # fmt: skip
    assert again.status_code == 200 and again.json()["conversation_id"] == body["conversation_id"]


@pytest.mark.parametrize(
    ("payload", "status", "words"),
    [
        ({"message": "你好", "conversation_id": "c-unknown"}, 404, "unknown conversation"),
        ({"message": "hello", "knowledge_base": "missing"}, 404, "no knowledge base 'missing'"),
        ({"message": "   "}, 422, "message"),
        ({"message": ""}, 422, "message"),
        ({"message": "长" * 501}, 422, "limit is 500"),
        ({"message": "hi", "conversation_id": "../../etc"}, 422, "conversation_id"),
        ({"text": "hi"}, 422, "message"),
    ],
)
def test_bad_input_is_a_clear_4xx(
    client: TestClient, payload: dict[str, Any], status: int, words: str
) -> None:
    answer = client.post("/v1/assistant", json=payload)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]


def test_huge_upload_gets_413(client: TestClient) -> None:
    answer = client.post("/v1/assistant", json={"message": "x" * 10_000})
    assert answer.status_code == 413 and "4096 byte limit" in answer.json()["detail"]


def test_streaming_sends_citations_first_and_the_reply_last(client: TestClient) -> None:
    answer = client.post(
        "/v1/assistant", json={"message": "信用卡丢了怎么办", "stream": True, "generate": True}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = _events(answer.text)
    assert events[0]["citations"][0]["n"] == 1
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert text.endswith("[1]") and len(events) > 3
    assert events[-1]["assistant"]["mode"] == "generated"
    assert events[-1]["assistant"]["answer"] == text


def test_chat_completions_with_knowledge_base(client: TestClient) -> None:
    payload = {"model": "x", "knowledge_base": "bank",
               "messages": [{"role": "user", "content": "How do I reset my PIN?"}]}  # fmt: skip
    answer = client.post("/v1/chat/completions", json=payload)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    message = body["choices"][0]["message"]
    assert message["content"].startswith("Open the app") and message["citations"][0]["n"] == 1
    assert body["object"] == "chat.completion" and body["assistant"]["mode"] == "faq"
    streamed = client.post("/v1/chat/completions", json={**payload, "stream": True})
    events = _events(streamed.text)
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events).startswith("Open")
    blank = {**payload, "messages": [{"role": "user", "content": "  "}]}
    assert client.post("/v1/chat/completions", json=blank).status_code == 422


def test_openai_client_reads_answer_and_citations(client: TestClient) -> None:
    openai = pytest.importorskip("openai")
    api = openai.OpenAI(api_key="none", base_url="http://testserver/v1", http_client=client)
    completion = api.chat.completions.create(
        model="bank", messages=[{"role": "user", "content": "信用卡丢了怎么办？"}],
        extra_body={"knowledge_base": "bank"},
    )  # fmt: skip
    message = completion.choices[0].message
    assert message.content.startswith("请立即")
    assert message.model_extra["citations"][0]["doc_id"] == "q1"
    stream = api.chat.completions.create(
        model="bank", messages=[{"role": "user", "content": "How do I reset my PIN?"}],
        extra_body={"knowledge_base": "bank", "generate": True}, stream=True,
    )  # fmt: skip
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert text.endswith("[1]")


def test_empty_kb_hands_off_over_http(
    client: TestClient, ws: Workspace, encoder: HashEncoder
) -> None:
    from llmline.kb.base import KnowledgeBase

    kb = KnowledgeBase.open("bank", ws, encoder=encoder)
    kb.delete(["faq.csv", "guides/lost-card.md", "transfer.html", "贷款.txt"])
    kb.catalog.close()
    answer = client.post("/v1/assistant", json={"message": "信用卡丢了怎么办？"})
    assert answer.status_code == 200 and answer.json()["handoff"] is True
    assert "is empty" in answer.json()["reason"]


def test_a_service_without_assistants_says_so() -> None:
    app = create_app(None, model_ref="none")
    with TestClient(app) as bare:
        answer = bare.post("/v1/assistant", json={"message": "hi"})
    assert answer.status_code == 404 and "no assistant" in answer.json()["detail"]


def test_shutdown_closes_assistants_on_their_own_thread(
    ws: Workspace, bank_kb: str, encoder: HashEncoder
) -> None:
    hub = AssistantHub(ws, [AssistantSpec(kb="bank")],
                       factory=lambda spec: Assistant(spec, ws, encoder=encoder))  # fmt: skip
    helper = hub.get(None)
    assert hub.submit(lambda: helper.ask("如何修改密码？").mode).result() == "faq"
    hub.close()  # the KB's SQLite connection belongs to the worker: no ProgrammingError
    with pytest.raises(RuntimeError):
        hub.submit(lambda: None)
