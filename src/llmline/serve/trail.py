"""Optional per-request audit trail for regulated deployments.

With `serve.request_audit: /path/requests.jsonl` (or $LLMLINE_REQUEST_AUDIT, which wins) every
POST to a /v1 route appends one entry to that hash-chained log (same format as the workspace
audit log, so `llmline audit verify` checks it): route, status, the sha256 of the request
body and of the response body, and the model reference and version that answered. Only
hashes are kept, never text, so the log proves what was asked and answered without holding
personal data. Streaming responses are hashed as they pass, so no answer is buffered. It is
the outermost layer (`MIDDLEWARES` in llmline.serve.app), so it sees every request,
including those the key check or the safety policy refuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from fastapi.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmline.lineage import audit_append
from llmline.serve.gate import read_body
from llmline.serve.metrics import ServiceMetrics
from llmline.serve.state import ServiceState


def middleware(state: ServiceState, metrics: ServiceMetrics) -> Middleware | None:
    """The RequestTrail layer writing to `state.settings.request_audit`; None when that is off."""
    log = state.settings.request_audit
    if log is None:
        return None

    def record(route: str, status: int, request_sha: str, output_sha: str) -> None:
        audit_append(
            log,
            "request",
            route=route,
            status=status,
            request_sha256=request_sha,
            output_sha256=output_sha,
            model=state.model_ref,
            model_version=state.model_version,
        )

    return Middleware(RequestTrail, record=record)


class RequestTrail:
    """Hash each /v1 POST's body and answer as they pass; one audit entry once it is answered."""

    def __init__(self, app: ASGIApp, record: Callable[[str, int, str, str], None]) -> None:
        self.app, self.record = app, record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith("/v1/")
        ):
            await self.app(scope, receive, send)
            return
        body, receive = await read_body(receive)
        request_sha = hashlib.sha256(body).hexdigest()
        digest = hashlib.sha256()
        status = 500

        async def hashing(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                digest.update(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, hashing)
        await run_in_threadpool(self.record, scope["path"], status, request_sha, digest.hexdigest())
