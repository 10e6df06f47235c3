"""Safety checks on the service's inputs and outputs, per route: block (4xx), flag, or pass.

The policy is `govern.safety` of the spec (`LLMLINE_SAFETY_POLICY=policy.yaml` holds those
keys; without it the defaults apply: chat routes block, classify and explain flag). Every
verdict is counted in Prometheus; flagged and blocked texts are logged to the monitoring store
under the route `<route>:safety` with the label `flagged:<categories>` or `blocked:...`.
Installed as a middleware so every route module is covered without knowing about safety.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import Counter

from llmline.serve.app import ServiceState
from llmline.serve.metrics import ServiceMetrics

POLICY_ENV = "LLMLINE_SAFETY_POLICY"
CHAT_HINTS = ("chat", "completions", "generate")


def load_policy() -> Any:
    """The SafetySpec from $LLMLINE_SAFETY_POLICY (YAML of govern.safety keys) or defaults."""
    from llmline.errors import ServeError
    from llmline.spec import SafetySpec, describe_validation_error, read_yaml

    path = os.environ.get(POLICY_ENV)
    if not path:
        return SafetySpec.model_validate({})
    from pydantic import ValidationError

    try:
        return SafetySpec.model_validate(read_yaml(Path(path)))
    except ValidationError as exc:
        raise ServeError(
            describe_validation_error(exc),
            where=path,
            fix="use the keys of govern.safety (llmline validate --explain)",
        ) from None


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
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):  # OpenAI content parts: [{"type": "text", "text": ...}]
            texts += [p["text"] for p in content if isinstance(p, dict) and "text" in p]
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


def install(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    from llmline.govern.safety import build_checker

    policy = load_policy()
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

    @app.middleware("http")
    async def safety(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rule = policy.routes.get(request.url.path)
        if rule is None or request.method != "POST" or rule.input == rule.output == "pass":
            return await call_next(request)
        route = request.url.path
        flags: list[str] = []
        if rule.input != "pass":
            try:
                body = json.loads(await request.body() or b"null")
            except (ValueError, UnicodeDecodeError):
                body = None  # the route's own validation answers malformed bodies
            categories = verdict(route, "input", rule.input, input_texts(body))
            if categories and rule.input == "block":
                return JSONResponse(
                    {
                        "detail": "the input was blocked by the safety policy "
                        f"({', '.join(categories)})",
                        "categories": categories,
                    },
                    status_code=400,
                )
            flags += categories
        response = await call_next(request)
        if rule.output != "pass" and _is_event_stream(response):
            return _guard_stream(
                response,
                check=lambda text: sorted(set(checker.check(text, injection=False).categories)),
                record=lambda text: verdict(route, "output", rule.output, [text]),
                block=rule.output == "block",
            )
        if rule.output != "pass" and response.status_code == 200:
            response, categories = await _check_output(
                response, lambda t: verdict(route, "output", rule.output, t)
            )
            if categories and rule.output == "block":
                return JSONResponse(
                    {
                        "detail": "the model's output was withheld by the safety policy "
                        f"({', '.join(categories)})",
                        "categories": categories,
                    },
                    status_code=422,
                )
            flags += categories
        if flags:
            response.headers["X-Llmline-Safety"] = "flagged=" + ",".join(sorted(set(flags)))
        return response


async def _check_output(
    response: Response, check: Callable[[list[str]], list[str]]
) -> tuple[Response, list[str]]:
    """Buffer the (non-streaming JSON) body, check its generated text, rebuild the response."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return response, []
    chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
    raw = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
    try:
        categories = check(output_texts(json.loads(raw)))
    except ValueError:
        categories = []
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    rebuilt = Response(
        raw, status_code=response.status_code, headers=headers, media_type=response.media_type
    )
    return rebuilt, categories


def _is_event_stream(response: Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")


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


def _guard_stream(
    response: Response,
    *,
    check: Callable[[str], list[str]],
    record: Callable[[str], list[str]],
    block: bool,
) -> Response:
    """Check the text generated so far before each chunk goes out.

    The 200 status is already sent when a stream turns harmful, so a block ends the stream with
    an error event instead of a 4xx; the whole answer is counted and logged once, at the end.
    """
    upstream = response.body_iterator  # type: ignore[attr-defined]

    async def guarded() -> Any:
        generated = ""
        async for chunk in upstream:
            data = chunk if isinstance(chunk, bytes) else chunk.encode()
            generated += _delta_text(data)
            categories = check(generated) if block and generated else []
            if categories:
                record(generated)
                error = {
                    "error": {
                        "message": "the model's output was withheld by the safety policy "
                        f"({', '.join(categories)})",
                        "type": "safety_block",
                        "categories": categories,
                    }
                }
                yield f"data: {json.dumps(error)}\n\ndata: [DONE]\n\n".encode()
                return
            yield data
        if generated:
            record(generated)

    response.body_iterator = guarded()  # type: ignore[attr-defined]
    return response
