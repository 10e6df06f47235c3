"""What every request passes before and after its route: body limit, API key, rate limit, metrics.

Plain ASGI rather than `@app.middleware("http")`: each of those (Starlette's
BaseHTTPMiddleware) costs an extra task, a memory stream and a Request/Response pair per request,
about 0.8 ms of CPU each on the 2-core benchmark machine; this layer costs tens of microseconds.
"""

from __future__ import annotations

import time

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmline.serve.auth import presented_key, route_scope
from llmline.serve.metrics import ServiceMetrics
from llmline.serve.state import ServiceState


def too_many(detail: str, retry_after: float) -> JSONResponse:
    seconds = max(1, int(retry_after + 0.999))
    return JSONResponse({"detail": detail}, status_code=429, headers={"Retry-After": str(seconds)})


async def read_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body; the returned receive hands it to the route again."""
    chunks: list[bytes] = []
    message: Message = {"type": "http.request", "more_body": True}
    while message["type"] == "http.request" and message.get("more_body", False):
        message = await receive()
        chunks.append(message.get("body", b""))
    body = b"".join(chunks)
    if message["type"] == "http.request":  # else the client left: the route sees that instead
        message = {"type": "http.request", "body": body, "more_body": False}
    replayed = False

    async def again() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return message

    return body, again


class BodyTooLarge(HTTPException):
    """The request body passed the service's byte limit while it was being read."""


def middleware(state: ServiceState, metrics: ServiceMetrics) -> Middleware:
    return Middleware(ServiceGate, state=state, metrics=metrics)


class ServiceGate:
    """Refuse oversize bodies (413), then unknown keys (401), out-of-scope keys (403) and keys
    over their rate (429); count and time what reaches the routes, logging 5xx answers."""

    def __init__(self, app: ASGIApp, state: ServiceState, metrics: ServiceMetrics) -> None:
        self.app, self.state, self.metrics = app, state, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.measured(scope, receive, send)

    def refusal(self, scope: Scope) -> JSONResponse | None:
        """The answer to a request that may not reach its route, or None to let it through."""
        headers = Headers(scope=scope)
        limit = self.state.settings.max_body_bytes
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return JSONResponse(
                {"detail": f"body of {declared} bytes over the {limit} byte limit"}, 413
            )
        keys = self.state.keys
        route = route_scope(scope["path"])
        if keys is None or not keys.keys or route is None:
            return None
        presented = presented_key(headers.get("authorization"), headers.get("x-api-key"))
        key = keys.find(presented) if presented else None
        if key is None:
            return JSONResponse(
                {"detail": "missing or unknown API key (send Authorization: Bearer KEY)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not key.allows(route):
            return JSONResponse({"detail": f"key {key.name!r} may not call {route}"}, 403)
        wait = self.state.limiter.acquire(key)
        if wait > 0:
            return too_many(f"rate limit of key {key.name!r} reached", wait)
        return None

    async def measured(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status, responded = 500, False  # 500: what an exception before the first byte becomes

        async def send_status(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
            await send(message)

        try:
            await self.app(scope, self.limited(receive), send_status)
        except BodyTooLarge as exc:  # from a layer that read the body before the routes
            if responded:
                raise
            await JSONResponse({"detail": exc.detail}, 413)(scope, receive, send_status)
        finally:
            self.record(scope, status, time.perf_counter() - started)

    def limited(self, receive: Receive) -> Receive:
        """`receive` that counts the body's bytes as they arrive: a chunked body, or one whose
        Content-Length lies, gets the same 413 as a declared one. An HTTPException, so that
        FastAPI's body parsing passes it on (to its 413 answer) instead of making it a 400."""
        limit, total = self.state.settings.max_body_bytes, 0

        async def counted() -> Message:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > limit:
                    raise BodyTooLarge(413, f"body over the {limit} byte limit")
            return message

        return counted

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        path = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.requests.labels(path, str(status)).inc()
        self.metrics.latency.labels(path).observe(seconds)
        state = self.state
        if status >= 500 and state.request_log is not None:
            state.request_log.log_error(
                route=path,
                model_ref=state.model_ref,
                model_version=state.model_version,
                status=status,
                latency_s=seconds,
            )
