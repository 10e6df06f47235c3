"""OpenAI-compatible generation: POST /v1/chat/completions, /v1/completions, GET /v1/models.

The request and response shapes follow the OpenAI API closely enough that the official
`openai` Python client works unchanged (`base_url=http://host:port/v1`), streaming included
(server-sent events, one `chat.completion.chunk` per decoded piece, then `data: [DONE]`).
Parameters a small local model cannot honour (n > 1, logprobs, tools) are refused with a 400
that names them, rather than silently ignored.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from llmline.serve.metrics import ServiceMetrics
from llmline.serve.schemas import AS_INTEGER, MAX_CHARS, MAX_TEXTS, JsonInt, limits
from llmline.serve.state import ServiceState
from llmline.spec.serve import NEW_TOKENS_CAP

# Below this a temperature divides the logits into infinities: decode greedily instead.
MIN_TEMPERATURE = 1e-3
_CHARS = limits(maxLength=("max_text_chars", MAX_CHARS))
_TOKENS = limits(maximum=("max_new_tokens", NEW_TOKENS_CAP))
NewTokens = Annotated[int, Field(ge=1, le=NEW_TOKENS_CAP, json_schema_extra=_TOKENS), AS_INTEGER]


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    type: Literal["text"] = "text"
    text: str = Field(json_schema_extra=_CHARS)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: Annotated[str, Field(json_schema_extra=_CHARS)] | list[TextPart] = Field(
        description="Text, or OpenAI text parts."
    )

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)  # OpenAI clients send more fields

    model: str = ""
    max_tokens: NewTokens | None = None
    max_completion_tokens: NewTokens | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    stream: bool = False
    n: JsonInt = Field(1, ge=1, le=1, description="Only one choice per request is generated.")

    def overrides(self) -> dict[str, Any]:
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        temperature = self.temperature
        if temperature is not None and temperature < MIN_TEMPERATURE:
            temperature = 0.0
        return {
            "max_new_tokens": self.max_completion_tokens or self.max_tokens,
            "temperature": temperature, "top_p": self.top_p, "stop": stop,
        }  # fmt: skip

    def texts(self) -> list[str]:
        return []


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=MAX_TEXTS,
        json_schema_extra=limits(maxItems=("max_texts", MAX_TEXTS)),
    )
    knowledge_base: str | None = Field(
        None, pattern=r"^[a-zA-Z0-9][\w.-]{0,199}$",
        description="Answer the last user message with this KB's assistant (POST /v1/assistant); "
        "the reply's message carries `citations`.",
    )  # fmt: skip
    conversation_id: str | None = Field(
        None, pattern=r"^[\w.-]{1,64}$", description="With knowledge_base: the conversation."
    )
    generate: bool = Field(False, description="With knowledge_base: a chat model writes it.")

    def texts(self) -> list[str]:
        return [m.text() for m in self.messages]


class CompletionRequest(_Sampling):
    prompt: str = Field(min_length=1, max_length=MAX_CHARS, json_schema_extra=_CHARS)

    def texts(self) -> list[str]:
        return [self.prompt]


def limit_error(state: ServiceState, body: _Sampling) -> JSONResponse | None:
    """The service's own limits (settings) on messages, their length and max_tokens."""
    settings = state.settings
    asked = max(body.max_completion_tokens or 0, body.max_tokens or 0)
    if asked > settings.max_new_tokens:
        detail = f"max_tokens {asked} is over this service's limit of {settings.max_new_tokens}"
        return JSONResponse({"detail": detail}, status_code=422)
    texts = body.texts()
    if len(texts) > settings.max_texts:
        detail = f"{len(texts)} messages; the limit is {settings.max_texts} per request"
        return JSONResponse({"detail": detail}, status_code=422)
    for index, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            detail = (
                f"message {index}: {len(text)} characters; the limit is {settings.max_text_chars}"
            )
            return JSONResponse({"detail": detail}, status_code=422)
    return None


def install(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    @app.get("/v1/models", summary="The served model, OpenAI list shape")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": state.model_ref, "object": "model",
                                            "created": 0, "owned_by": "llmline"}]}  # fmt: skip

    @app.post(
        "/v1/chat/completions",
        summary="Chat completion (OpenAI-compatible)",
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    def chat(body: ChatRequest) -> Any:
        if body.knowledge_base is not None:
            return _assistant_chat(app, state, metrics, body)
        generator = state.predictor
        if (error := _unavailable(generator) or limit_error(state, body)) is not None:
            return error
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                    for m in body.messages]  # fmt: skip
        prompt = generator.chat_prompt(messages)  # type: ignore[union-attr]
        if (error := _context_error(generator, prompt)) is not None:
            return error
        metrics.texts.labels("/v1/chat/completions").inc()
        if body.stream:
            return _sse(_chat_chunks(state, prompt, body))
        return _respond(state, prompt, body, chat=True)

    @app.post(
        "/v1/completions",
        summary="Text completion (OpenAI-compatible)",
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    def complete(body: CompletionRequest) -> Any:
        if (error := _unavailable(state.predictor) or limit_error(state, body)) is not None:
            return error
        if (error := _context_error(state.predictor, body.prompt)) is not None:
            return error
        metrics.texts.labels("/v1/completions").inc()
        if body.stream:
            return _sse(_completion_chunks(state, body.prompt, body))
        return _respond(state, body.prompt, body, chat=False)


def _assistant_chat(
    app: FastAPI, state: ServiceState, metrics: ServiceMetrics, body: ChatRequest
) -> Any:
    """The assistant answers the last user message (the client keeps the history)."""
    from llmline.serve.routes.assistant import answer

    if (error := limit_error(state, body)) is not None:
        return error
    asked = [m.text() for m in body.messages if m.role == "user"]
    if not asked or not asked[-1].strip():
        return JSONResponse({"detail": "messages: the last user message is empty"}, 422)
    metrics.texts.labels("/v1/chat/completions").inc()
    return answer(app, asked[-1], body.conversation_id, body.knowledge_base,
                  generate=body.generate, stream=body.stream, chat=True)  # fmt: skip


def _unavailable(predictor: Any) -> JSONResponse | None:
    if predictor is None:
        return JSONResponse({"detail": "model is loading, retry shortly"}, status_code=503)
    if predictor.task != "causal_lm":
        return JSONResponse(
            {"detail": f"this model does {predictor.task}, not text generation"}, status_code=400
        )
    return None


def _context_error(generator: Any, prompt: str) -> JSONResponse | None:
    """A prompt longer than the model's context window is refused, not silently mangled."""
    context = getattr(getattr(generator.model, "config", None), "max_position_embeddings", None)
    tokens = generator.count_tokens(prompt)
    if isinstance(context, int) and tokens >= context:
        detail = f"the prompt has {tokens} tokens; this model reads at most {context - 1}"
        return JSONResponse({"detail": detail}, status_code=400)
    return None


def _respond(state: ServiceState, prompt: str, body: _Sampling, *, chat: bool) -> dict[str, Any]:
    started = time.perf_counter()
    with state.lock:  # one generation at a time keeps the CPU threads from fighting
        result = state.predictor.generate([prompt], **body.overrides())[0]  # type: ignore[union-attr]
    state.log_predictions("/v1/chat/completions" if chat else "/v1/completions", [prompt],
                          [{"label": result.text}], time.perf_counter() - started)  # fmt: skip
    usage = {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
             "total_tokens": result.prompt_tokens + result.completion_tokens}  # fmt: skip
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": result.text},
                  "finish_reason": result.finish_reason, "logprobs": None}  # fmt: skip
        kind, prefix = "chat.completion", "chatcmpl"
    else:
        choice = {"index": 0, "text": result.text, "finish_reason": result.finish_reason,
                  "logprobs": None}  # fmt: skip
        kind, prefix = "text_completion", "cmpl"
    return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()),
            "model": state.model_ref, "choices": [choice], "usage": usage}  # fmt: skip


def _pieces(state: ServiceState, prompt: str, body: _Sampling) -> Iterator[tuple[str, str | None]]:
    """(text piece, None) while decoding, then ("", finish_reason); stop strings honoured."""
    overrides = body.overrides()
    stop = overrides["stop"] or []
    limit = overrides["max_new_tokens"] or state.predictor.settings.max_new_tokens  # type: ignore[union-attr]
    sent, produced = "", ""
    with state.lock:
        for piece in state.predictor.stream(prompt, **overrides):  # type: ignore[union-attr]
            produced += piece
            cut = min((produced.find(s) for s in stop if s and s in produced), default=-1)
            if cut >= 0:
                if produced[:cut] != sent:
                    yield produced[len(sent) : cut], None
                yield "", "stop"
                return
            if piece:
                sent = produced
                yield piece, None
    tokens = state.predictor.count_tokens(produced)  # type: ignore[union-attr]
    yield "", "length" if tokens >= limit else "stop"


def _chat_chunks(state: ServiceState, prompt: str, body: _Sampling) -> Iterator[dict[str, Any]]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": state.model_ref}  # fmt: skip
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                "finish_reason": None}]}  # fmt: skip
    for piece, reason in _pieces(state, prompt, body):
        delta = {"content": piece} if reason is None else {}
        yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}


def _completion_chunks(
    state: ServiceState, prompt: str, body: _Sampling
) -> Iterator[dict[str, Any]]:
    base = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
            "created": int(time.time()), "model": state.model_ref}  # fmt: skip
    for piece, reason in _pieces(state, prompt, body):
        yield {**base, "choices": [{"index": 0, "text": piece, "finish_reason": reason,
                                    "logprobs": None}]}  # fmt: skip


def _sse(chunks: Iterator[dict[str, Any]]) -> StreamingResponse:
    def events() -> Iterator[str]:
        for chunk in chunks:
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
