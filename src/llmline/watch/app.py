"""`POST /v1/ingest`: posts in batches over HTTP, into the same stream as the watched directory.

A batch is all or nothing: one bad row rejects the request with 422 and every bad row's index
and reason, so a client can fix and resend without duplicating the good rows. Bodies over
`max_body_bytes` (by header, or as read when the header lies or is absent) get 413 before
they are parsed, as do batches of more than `max_batch` posts. FastAPI is imported at the top
because it resolves the handlers' annotations from this module; the CLI imports this module
only when a spec has an http source.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from llmline.spec.watch import HttpSourceSpec
from llmline.watch.ingest import Post, post_from_row
from llmline.watch.notify import alert_event
from llmline.watch.stream import WatchStream


def build_app(stream: WatchStream, source: HttpSourceSpec) -> FastAPI:
    app = FastAPI(title="llmline watch", docs_url=None, redoc_url=None)

    def error(status: int, detail: Any) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "counts": dict(stream.counts)}

    @app.post("/v1/ingest")
    async def ingest(request: Request) -> Any:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > source.max_body_bytes:
            return error(413, f"body over {source.max_body_bytes} bytes; send smaller batches")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > source.max_body_bytes:
                return error(413, f"body over {source.max_body_bytes} bytes; send smaller batches")
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return error(422, f"body is not JSON: {exc}")
        rows = payload.get("posts") if isinstance(payload, dict) else payload
        if not isinstance(rows, list):
            return error(422, 'send {"posts": [{"text": ..., "time": ...}, ...]}')
        if len(rows) > source.max_batch:
            return error(413, f"{len(rows)} posts in one batch; at most {source.max_batch}")
        posts, problems = _parse(rows, stream)
        if problems:
            return error(422, problems)
        report = await run_in_threadpool(stream.process, posts)
        return {
            "received": report.received,
            "stored": report.stored,
            "folded": report.folded,
            "without_entity": report.without_entity,
            "links": report.links,
            "alerts": [alert_event(a) for a in report.alerts],
        }

    return app


def _parse(rows: list[Any], stream: WatchStream) -> tuple[list[Post], list[dict[str, Any]]]:
    posts, problems, now = [], [], time.time()
    for index, row in enumerate(rows):
        try:
            posts.append(
                post_from_row(
                    row,
                    f"http[{index}]",
                    text_column=stream.spec.text_column,
                    time_column=stream.spec.time_column,
                    now=now,
                )
            )
        except ValueError as exc:
            problems.append({"row": index, "error": str(exc)})
    return posts, problems
