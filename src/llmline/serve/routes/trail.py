"""Optional per-request audit trail for regulated deployments.

With `LLMLINE_REQUEST_AUDIT=/path/requests.jsonl` every POST to a /v1 route appends one entry
to that hash-chained log (same format as the workspace audit log, so `llmline audit verify`
checks it): route, status, the sha256 of the request body and of the response body, and the
model reference and version that answered. Only hashes are kept, never text, so the log
proves what was asked and answered without holding personal data. Streaming responses are
hashed as they pass, so nothing is buffered. (Route modules install in name order and the
last-installed middleware runs first, so this one, `trail`, sees every request, including
those the safety policy or the key check refuse.)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from llmline.lineage import audit_append
from llmline.serve.app import ServiceState
from llmline.serve.metrics import ServiceMetrics

AUDIT_ENV = "LLMLINE_REQUEST_AUDIT"


def install(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    target = os.environ.get(AUDIT_ENV)
    if not target:
        return
    log = Path(target)

    def record(request: Request, status: int, request_sha: str, output_sha: str) -> None:
        audit_append(
            log,
            "request",
            route=request.url.path,
            status=status,
            request_sha256=request_sha,
            output_sha256=output_sha,
            model=state.model_ref,
            model_version=state.model_version,
        )

    @app.middleware("http")
    async def audit_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.method != "POST" or not request.url.path.startswith("/v1/"):
            return await call_next(request)
        request_sha = hashlib.sha256(await request.body()).hexdigest()
        response = await call_next(request)
        body = getattr(response, "body_iterator", None)
        if body is None:  # a plain Response: its bytes are already there
            output_sha = hashlib.sha256(getattr(response, "body", b"")).hexdigest()
            await run_in_threadpool(record, request, response.status_code, request_sha, output_sha)
            return response

        async def hashed() -> AsyncIterator[Any]:
            digest = hashlib.sha256()
            async for chunk in body:
                digest.update(chunk if isinstance(chunk, bytes) else chunk.encode())
                yield chunk
            await run_in_threadpool(
                record, request, response.status_code, request_sha, digest.hexdigest()
            )

        response.body_iterator = hashed()  # type: ignore[attr-defined]
        return response
