"""Safety checks on the service's inputs and outputs, per route: block (4xx), flag, or pass.

The policy is `serve.safety` (the keys of govern.safety; `llmline serve` fills it from the
config's govern.safety, or from $LLMLINE_SAFETY_POLICY, which wins; without any, the defaults
apply: chat routes block; classify, ner, pairs and explain flag). Every
verdict is counted in Prometheus; flagged and blocked texts are logged to the monitoring store
under the route `<route>:safety` with the label `flagged:<categories>` or `blocked:...`.
Installed as a middleware, inside the key check (`MIDDLEWARES` in llmline.serve.app), so every
route module is covered without knowing about safety and no text is checked or logged for a
caller without a valid key.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse
from prometheus_client import Counter
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmline.serve.gate import read_body
from llmline.serve.metrics import ServiceMetrics
from llmline.serve.state import ServiceState

CHAT_HINTS = ("chat", "completions", "generate")


def input_texts(body: Any) -> list[str]:
    """Texts a request body carries, for every body shape the routes accept."""
    if not isinstance(body, dict):
        return []
    texts: list[str] = []
    for key in ("texts", "input", "prompt", "text"):
        value = body.get(key)
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list):
            texts += [v for v in value if isinstance(v, str)]
    pairs = body.get("pairs")  # /v1/pairs: [[first, second], ...]
    for pair in pairs if isinstance(pairs, list) else []:
        texts += [t for t in pair if isinstance(t, str)] if isinstance(pair, list) else []
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):  # OpenAI content parts: [{"type": "text", "text": ...}]
            parts = [p.get("text") for p in content if isinstance(p, dict)]
            texts += [text for text in parts if isinstance(text, str)]
    return texts


def output_texts(body: Any) -> list[str]:
    """Generated text in a response (OpenAI-style choices); labels are not checked."""
    if not isinstance(body, dict):
        return []
    texts = []
    for choice in body.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            texts.append(message["content"])
        elif isinstance(choice, dict) and isinstance(choice.get("text"), str):
            texts.append(choice["text"])
    return texts


def middleware(state: ServiceState, metrics: ServiceMetrics) -> Middleware:
    """The SafetyGuard layer for `state.settings.safety` (the defaults when it is null)."""
    from llmline.govern.safety import build_checker
    from llmline.spec import SafetySpec

    policy = state.settings.safety or SafetySpec.model_validate({})
    checker = build_checker(policy)
    events = Counter(
        "llmline_safety_events",
        "Safety verdicts by route, direction, action and category",
        ["route", "direction", "action", "category"],
        registry=metrics.registry,
    )
    checked = Counter(
        "llmline_safety_checked_texts",
        "Texts checked by the safety policy",
        ["route", "direction"],
        registry=metrics.registry,
    )

    def verdict(route: str, direction: str, action: str, texts: list[str]) -> list[str]:
        """Check texts; count and log what fired; return the categories (empty when clean)."""
        chat = any(hint in route for hint in CHAT_HINTS)
        found = checker.check_many(texts, injection=chat and direction == "input")
        checked.labels(route, direction).inc(len(texts))
        categories = sorted({c for v in found for c in v.categories})
        for category in categories:
            events.labels(route, direction, action, category).inc()
        flagged = [(t, v) for t, v in zip(texts, found, strict=True) if v.flagged]
        if flagged and state.request_log is not None:
            state.log_predictions(
                f"{route}:safety",
                [t for t, _ in flagged],
                [
                    {
                        "label": f"{'blocked' if action == 'block' else 'flagged'}:"
                        + ",".join(v.categories),
                        "score": None,
                    }
                    for _, v in flagged
                ],
                0.0,
            )
        return categories

    return Middleware(SafetyGuard, policy=policy, checker=checker, verdict=verdict)


Verdict = Callable[[str, str, str, list[str]], list[str]]


class _StreamCut(Exception):
    """Raised into the route when a blocked stream has ended, so it stops generating."""


class SafetyGuard:
    """The policy as a pure ASGI layer (why not `@app.middleware`: see llmline.serve.gate)."""

    def __init__(self, app: ASGIApp, policy: Any, checker: Any, verdict: Verdict) -> None:
        self.app, self.policy, self.checker, self.verdict = app, policy, checker, verdict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self.policy.routes.get(scope["path"]) if scope["type"] == "http" else None
        if rule is None or scope["method"] != "POST" or rule.input == rule.output == "pass":
            await self.app(scope, receive, send)
            return
        route: str = scope["path"]
        flags: list[str] = []
        if rule.input != "pass":
            raw, receive = await read_body(receive)
            try:
                body = json.loads(raw or b"null")
            except (ValueError, UnicodeDecodeError):
                body = None  # the route's own validation answers malformed bodies
            categories = self.verdict(route, "input", rule.input, input_texts(body))
            if categories and rule.input == "block":
                refusal = _refusal("the input was blocked by the safety policy", categories, 400)
                await refusal(scope, receive, send)
                return
            flags += categories
        guard = _OutputGuard(
            scope,
            receive,
            send,
            flags,
            action=rule.output,
            check=lambda text: sorted(set(self.checker.check(text, injection=False).categories)),
            verdict=lambda texts: self.verdict(route, "output", rule.output, texts),
        )
        with contextlib.suppress(_StreamCut):
            await self.app(scope, receive, guard.send)


def _refusal(reason: str, categories: list[str], status: int) -> JSONResponse:
    return JSONResponse(
        {"detail": f"{reason} ({', '.join(categories)})", "categories": categories},
        status_code=status,
    )


class _OutputGuard:
    """Wraps `send`: flags header on plain answers, JSON bodies checked whole, streams per chunk.

    A JSON answer is held back until its last byte so a blocked one becomes a 422. A stream's 200
    is already sent when it turns harmful, so a block ends it with an error event instead; the
    whole generated text is counted and logged once, at the end.
    """

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        flags: list[str],
        *,
        action: str,
        check: Callable[[str], list[str]],
        verdict: Callable[[list[str]], list[str]],
    ) -> None:
        self.scope, self.receive, self.downstream, self.flags = scope, receive, send, flags
        self.action, self.check, self.verdict = action, check, verdict
        self.mode = "pass"
        self.start: Message = {}
        self.chunks: list[bytes] = []
        self.generated = ""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self.started(message)
        elif message["type"] != "http.response.body" or self.mode == "pass":
            await self.downstream(message)
        elif self.mode == "json":
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await self.checked_json()
        else:
            await self.stream_chunk(message)

    async def started(self, message: Message) -> None:
        content_type = Headers(raw=message["headers"]).get("content-type", "")
        if self.action != "pass" and content_type.startswith("text/event-stream"):
            self.mode = "stream"
        elif self.action != "pass" and message["status"] == 200:
            self.mode = "json" if content_type.startswith("application/json") else "pass"
        if self.mode == "json":
            self.start = message
            return
        if self.mode == "pass":
            self.flag(message)
        await self.downstream(message)

    def flag(self, message: Message) -> None:
        if self.flags:
            headers = MutableHeaders(scope=message)
            headers["X-Llmline-Safety"] = "flagged=" + ",".join(sorted(set(self.flags)))

    async def checked_json(self) -> None:
        raw = b"".join(self.chunks)
        try:
            categories = self.verdict(output_texts(json.loads(raw)))
        except ValueError:
            categories = []
        if categories and self.action == "block":
            reason = "the model's output was withheld by the safety policy"
            await _refusal(reason, categories, 422)(self.scope, self.receive, self.downstream)
            return
        self.flags += categories
        self.flag(self.start)
        await self.downstream(self.start)
        await self.downstream({"type": "http.response.body", "body": raw, "more_body": False})

    async def stream_chunk(self, message: Message) -> None:
        if self.mode == "cut":
            raise _StreamCut
        self.generated += _delta_text(message.get("body", b""))
        block = self.action == "block" and self.generated
        categories = self.check(self.generated) if block else []
        if categories:
            self.verdict([self.generated])
            self.mode = "cut"
            error = {
                "error": {
                    "message": "the model's output was withheld by the safety policy "
                    f"({', '.join(categories)})",
                    "type": "safety_block",
                    "categories": categories,
                }
            }
            event = f"data: {json.dumps(error)}\n\ndata: [DONE]\n\n".encode()
            await self.downstream({"type": "http.response.body", "body": event})
            raise _StreamCut
        await self.downstream(message)
        if not message.get("more_body", False) and self.generated:
            self.verdict([self.generated])


def _delta_text(chunk: bytes) -> str:
    """Generated text in one server-sent-events chunk of an OpenAI-style stream."""
    text = ""
    for line in chunk.decode("utf-8", errors="replace").splitlines():
        payload = line.removeprefix("data:").strip()
        if not line.startswith("data:") or payload == "[DONE]":
            continue
        try:
            event = json.loads(payload)
        except ValueError:
            continue
        for choice in event.get("choices") or [] if isinstance(event, dict) else []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                text += delta["content"]
            elif isinstance(choice, dict) and isinstance(choice.get("text"), str):
                text += choice["text"]
    return text
