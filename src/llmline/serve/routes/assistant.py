"""POST /v1/assistant, and the chat route's `knowledge_base` field: the customer-service assistant.

Both answer through `app.state.assistants` (`llmline.assistant.service.AssistantHub`, attached
by `llmline serve`), so they route, cite, hand off and log exactly as `llmline kb ask` does.
Streaming uses the chat route's server-sent events: `chat.completion.chunk` objects, the first
carrying the citations, the last the whole reply (hand-off included), then `data: [DONE]`.
Handlers are plain functions (FastAPI runs them on its thread pool) that wait for the hub's
worker thread, so a generating model never blocks the event loop. Bad input is a 4xx naming
the problem: an unknown KB or conversation 404, an empty or over-long message 422, a model
that cannot load 503.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmline.errors import DataError, LlmlineError, ModelError
from llmline.serve.metrics import ServiceMetrics
from llmline.serve.schemas import MAX_CHARS, Text, check_texts
from llmline.serve.state import ServiceState

CONVERSATION_ID = r"^[\w.-]{1,64}$"
KB_NAME = r"^[a-zA-Z0-9][\w.-]{0,199}$"


class AssistantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    message: Text = Field(description="The customer's message (non-blank).")
    conversation_id: str | None = Field(
        None, pattern=CONVERSATION_ID,
        description="An id an earlier reply returned; omit it to start a conversation.",
    )  # fmt: skip
    knowledge_base: str | None = Field(
        None, pattern=KB_NAME,
        description="KB to ask; omit it when the service has one configured assistant.",
    )  # fmt: skip
    generate: bool = Field(False, description="A chat model writes the answer from passages.")
    stream: bool = Field(False, description="Server-sent events, as the chat route streams.")

    @field_validator("message", mode="before")
    @classmethod
    def _length(cls, value: Any) -> Any:
        if isinstance(value, str):
            check_texts([value], limit=MAX_CHARS, field="message")
        return value


def install(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    @app.post(
        "/v1/assistant",
        summary="Answer a customer message from a knowledge base, or hand it off",
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    def assistant(body: AssistantRequest) -> Any:
        if len(body.message) > state.settings.max_text_chars:
            detail = (f"message: {len(body.message)} characters; the limit is "
                      f"{state.settings.max_text_chars}")  # fmt: skip
            return JSONResponse({"detail": detail}, status_code=422)
        metrics.texts.labels("/v1/assistant").inc()
        return answer(app, body.message, body.conversation_id, body.knowledge_base,
                            generate=body.generate, stream=body.stream, chat=False)  # fmt: skip


def answer(
    app: FastAPI, message: str, conversation_id: str | None, knowledge_base: str | None,
    *, generate: bool, stream: bool, chat: bool,
) -> Any:  # fmt: skip
    """The reply as JSON (the assistant's shape, or a chat completion), or as SSE."""
    hub = getattr(app.state, "assistants", None)
    if hub is None:
        return JSONResponse(
            {"detail": "this service has no assistant (start it with `llmline serve`)"}, 404
        )
    try:
        helper = hub.get(knowledge_base)
        plan = hub.submit(lambda: helper.plan(message, conversation_id, generate=generate)).result()
        if stream:
            return _sse(_chunks(helper, plan))
        reply = helper.finish(plan, "".join(helper.stream(plan)))
    except LlmlineError as exc:
        return problem(exc)
    return _completion(reply.as_dict()) if chat else reply.as_dict()


def problem(exc: LlmlineError) -> JSONResponse:
    """A user mistake as a 4xx (unknown KB or conversation: 404); a model that fails: 503."""
    from llmline.assistant.service import UnknownKnowledgeBase
    from llmline.assistant.store import UnknownConversation

    status = 400
    if isinstance(exc, UnknownKnowledgeBase | UnknownConversation):
        status = 404
    elif isinstance(exc, DataError) and exc.what.startswith("no knowledge base"):
        status = 404  # configured, but not built yet
    elif isinstance(exc, DataError) and "characters; the limit" in exc.what:
        status = 422
    elif isinstance(exc, ModelError):
        status = 503
    return JSONResponse({"detail": exc.message}, status_code=status)


def _completion(reply: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion whose message carries the citations; the reply's facts beside it."""
    message = {"role": "assistant", "content": reply["answer"], "citations": reply["citations"]}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
        "created": int(time.time()), "model": f"kb:{reply['kb']}",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "citations": reply["citations"], "assistant": _facts(reply),
    }  # fmt: skip


def _facts(reply: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k not in ("answer", "citations")}


def _chunks(helper: Any, plan: Any) -> Iterator[dict[str, Any]]:
    """Chat-completion chunks: citations first, the answer's pieces, the final reply last."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": f"kb:{plan.reply.kb}"}  # fmt: skip
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                "finish_reason": None}],
           "citations": plan.reply.citations}  # fmt: skip
    text = ""
    for piece in helper.stream(plan):
        text += piece
        if piece:
            yield {**base, "choices": [{"index": 0, "delta": {"content": piece},
                                        "finish_reason": None}]}  # fmt: skip
    withheld = plan.prompt is not None
    reply = helper.finish(plan, text).as_dict()
    if withheld and reply["handoff"]:  # the generated text was replaced by a hand-off
        yield {**base, "choices": [{"index": 0, "delta": {"content": "\n\n" + reply["answer"]},
                                    "finish_reason": None}]}  # fmt: skip
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
           "assistant": reply}  # fmt: skip


def _sse(chunks: Iterator[dict[str, Any]]) -> StreamingResponse:
    def events() -> Iterator[str]:
        try:
            for chunk in chunks:
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
        except LlmlineError as exc:  # the 200 is sent: end the stream with the error instead
            yield f"data: {json.dumps({'error': {'message': exc.message}}, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
