"""Playgrounds: classify, tag entities and explain a text with a model loaded in this process;
chat with a served chat model (streamed) and ask the customer-service assistant of a service.

Only models of this workspace can be picked (registry versions and run directories), never a
path or hub id typed into a form. Models load on first use and the last few stay loaded. The
typed text is redacted before the model sees it, as the service's monitoring store would keep
it, so a pasted phone number is never echoed back. Chat and assistant calls go to the service
given with `--service URL` (the OpenAI-compatible `/v1/chat/completions` and `/v1/assistant`).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from llmline.errors import ModelError, ServeError
from llmline.ui.app import render
from llmline.ui.security import read_form
from llmline.ui.text import redact

router = APIRouter()
LOADED_MODELS = 2
MAX_TEXT = 5000
_load_lock = threading.Lock()


def choices(request: Request) -> list[tuple[str, str]]:
    """(reference, description) of every model the playground may load."""
    from llmline.ui.registry import versions
    from llmline.ui.runs import run_index

    found = [
        (
            f"models:/{v['name']}/{v['version']}",
            f"{v['name']} v{v['version']} {' '.join('@' + a for a in v['aliases'])} "
            f"({v['tags'].get('llmline.task', '?')})",
        )
        for v in versions(request)
    ]
    for run in run_index(request).all()[:200]:
        if run.task in ("classification", "ner") and "train" in run.stages:
            found.append((f"run:{run.run_id}", f"run {run.run_id} ({run.task})"))
    return found


def predictor_for(request: Request, reference: str) -> Any:
    allowed = dict(choices(request))
    if reference not in allowed:
        raise ModelError(
            f"{reference!r} is not a model of this workspace", fix="pick one from the list"
        )
    cache: OrderedDict[str, Any] = request.app.state.cache.setdefault("predictors", OrderedDict())
    with _load_lock:
        if reference not in cache:
            from llmline.models.predictor import load_predictor

            workspace = request.app.state.workspace
            if reference.startswith("run:"):
                directory = workspace.run_dir(reference.removeprefix("run:")) / "model"
            else:
                from llmline.models.resolve import resolve_model

                directory = resolve_model(reference, workspace)
            if not Path(directory).is_dir():
                raise ModelError(f"{reference} has no model directory", fix="pick another model")
            cache[reference] = load_predictor(Path(directory))
            while len(cache) > LOADED_MODELS:
                cache.popitem(last=False)
        cache.move_to_end(reference)
        return cache[reference]


@router.get("/playground", response_class=HTMLResponse)
def playground_page(request: Request) -> Response:
    return render(
        request,
        "playground.html",
        choices=choices(request),
        result=None,
        text="",
        model="",
        action="classify",
    )


@router.post("/playground", response_class=HTMLResponse)
async def playground_run(request: Request) -> Response:
    form = await read_form(request)
    from starlette.concurrency import run_in_threadpool

    text = form.get("text", "").strip()
    action, model = form.get("action", "classify"), form.get("model", "")
    if not text:
        raise ModelError("there is no text to run", fix="type a text")
    if len(text) > MAX_TEXT:
        raise ModelError(f"the text has {len(text)} characters", fix=f"keep it under {MAX_TEXT}")
    if action not in ("classify", "ner", "explain"):
        raise ModelError(f"unknown action {action!r}", fix="use classify, ner or explain")
    shown = redact(text)
    result = await run_in_threadpool(_run, request, model, action, shown)
    return render(
        request,
        "playground.html",
        choices=choices(request),
        result=result,
        text=shown,
        model=model,
        action=action,
    )


def _run(request: Request, model: str, action: str, text: str) -> dict[str, Any]:
    predictor = predictor_for(request, model)
    if action == "explain":
        from llmline.govern.explain import explain

        explained = explain(predictor, text)
        peak = max((abs(w["score"]) for w in explained["words"]), default=0.0) or 1.0
        return {
            "kind": "explain",
            "target": explained["target"],
            "method": explained["method"],
            "spans": _spans(text, explained["words"], peak),
        }
    output = predictor.predict([text], top_k=3)[0]
    if action == "ner" or "entities" in output:
        if "entities" not in output:
            raise ModelError("this model does not tag entities", fix="pick an NER model")
        return {
            "kind": "ner",
            "spans": _entity_spans(text, output["entities"]),
            "entities": output["entities"],
        }
    top = output.get("top_k") or [{"label": output.get("label"), "score": output.get("score")}]
    return {
        "kind": "classify",
        "label": output.get("label"),
        "score": output.get("score"),
        "top": top,
    }


def _spans(text: str, words: list[dict[str, Any]], peak: float) -> list[dict[str, Any]]:
    """Text pieces with a colour: green supports the target label, red speaks against it."""
    spans, cursor = [], 0
    for word in sorted(words, key=lambda w: w["start"]):
        if word["start"] > cursor:
            spans.append({"text": text[cursor : word["start"]], "style": "", "title": ""})
        alpha = min(1.0, abs(word["score"]) / peak)
        rgb = "22,163,74" if word["score"] >= 0 else "220,38,38"
        spans.append(
            {
                "text": text[word["start"] : word["end"]],
                "style": f"background:rgba({rgb},{alpha:.2f})",
                "title": f"{word['score']:+.4f}",
            }
        )
        cursor = max(cursor, word["end"])
    spans.append({"text": text[cursor:], "style": "", "title": ""})
    return spans


def _entity_spans(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spans, cursor = [], 0
    for entity in sorted(entities, key=lambda e: e["start"]):
        if entity["start"] < cursor:
            continue
        spans.append({"text": text[cursor : entity["start"]], "label": ""})
        spans.append({"text": text[entity["start"] : entity["end"]], "label": entity["label"]})
        cursor = entity["end"]
    spans.append({"text": text[cursor:], "label": ""})
    return spans


def _service(request: Request) -> str:
    url = request.app.state.config.service_url
    if not url:
        raise ServeError(
            "no service is configured for the chat and assistant playgrounds",
            fix="start the console with --service http://HOST:PORT",
        )
    return str(url).rstrip("/")


@router.get("/chat", response_class=HTMLResponse)
def chat_page(request: Request) -> Response:
    return render(request, "chat.html", service=request.app.state.config.service_url)


@router.post("/chat/stream")
async def chat_stream(request: Request) -> Response:
    """Relay the service's streamed chat completion as plain text chunks."""
    form = await read_form(request)
    import httpx

    base = _service(request)
    message = form.get("message", "").strip()
    if not message:
        raise ServeError("the message is empty", fix="type a message")
    history = [*_history(form.get("history", "[]")), {"role": "user", "content": redact(message)}]
    body = {"model": form.get("model") or "default", "messages": history, "stream": True}

    async def relay() -> AsyncIterator[bytes]:
        try:
            async with (
                httpx.AsyncClient(timeout=120) as client,
                client.stream("POST", f"{base}/v1/chat/completions", json=body) as response,
            ):
                if response.status_code >= 400:
                    detail = (await response.aread()).decode("utf-8", "replace")[:300]
                    yield f"[service error {response.status_code}: {detail}]".encode()
                    return
                async for line in response.aiter_lines():
                    piece = _delta(line)
                    if piece:
                        yield piece.encode()
        except httpx.HTTPError as exc:
            yield f"[cannot reach the service at {base}: {type(exc).__name__}]".encode()

    return StreamingResponse(relay(), media_type="text/plain; charset=utf-8")


def _history(raw: str) -> list[dict[str, str]]:
    try:
        turns = json.loads(raw)
    except ValueError:
        return []
    return [
        {"role": str(t["role"]), "content": redact(t["content"])}
        for t in turns
        if isinstance(t, dict) and t.get("role") in ("user", "assistant") and "content" in t
    ][-20:]


def _delta(line: str) -> str:
    """The text of one server-sent event of an OpenAI-style stream ('' for anything else)."""
    if not line.startswith("data:"):
        return ""
    payload = line[5:].strip()
    if payload == "[DONE]":
        return ""
    try:
        choice = json.loads(payload)["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""
    return str((choice.get("delta") or {}).get("content") or "")


@router.get("/assistant", response_class=HTMLResponse)
def assistant_page(request: Request) -> Response:
    return render(
        request,
        "assistant.html",
        service=request.app.state.config.service_url,
        answer=None,
        message="",
        conversation="",
    )


@router.post("/assistant", response_class=HTMLResponse)
async def assistant_ask(request: Request) -> Response:
    form = await read_form(request)
    import httpx

    base = _service(request)
    message = redact(form.get("message", "").strip())
    if not message:
        raise ServeError("the question is empty", fix="type a question")
    conversation = form.get("conversation_id", "").strip() or "console"
    body = {"message": message, "conversation_id": conversation}
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(f"{base}/v1/assistant", json=body)
    except httpx.HTTPError as exc:
        raise ServeError(
            f"cannot reach the assistant at {base} ({type(exc).__name__})",
            fix="check --service and that the service is running",
        ) from None
    if response.status_code >= 400 or not response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        raise ServeError(
            f"the assistant answered HTTP {response.status_code}: {response.text[:300]}",
            where=f"{base}/v1/assistant",
            fix="see the service's log",
        )
    answer = response.json()
    return render(
        request,
        "assistant.html",
        service=base,
        answer=_answer(answer),
        message=message,
        conversation=conversation,
    )


def _answer(raw: Any) -> dict[str, Any]:
    """The assistant's reply in a fixed shape, whichever optional fields it filled in."""
    raw = raw if isinstance(raw, dict) else {}
    citations = []
    for item in raw.get("citations") or []:
        if isinstance(item, dict):
            citations.append(
                {
                    "source": redact(item.get("source") or item.get("doc") or ""),
                    "text": redact(item.get("text") or item.get("chunk") or ""),
                    "score": item.get("score"),
                }
            )
    return {
        "answer": redact(raw.get("answer") or ""),
        "intent": raw.get("intent"),
        "confidence": raw.get("confidence"),
        "citations": citations,
        "handoff": raw.get("handoff") or raw.get("handed_off") or raw.get("ticket"),
    }
