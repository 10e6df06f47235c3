"""POST /v1/classify: labels, scores and top-k for a batch of texts, micro-batched."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from llmline.serve.metrics import ServiceMetrics
from llmline.serve.schemas import MAX_TOP_K, ClassifyRequest, ClassifyResponse
from llmline.serve.state import ServiceState


def text_limit_error(state: ServiceState, texts: list[str]) -> JSONResponse | None:
    """The service's own limits (settings), tighter than the schema's hard caps."""
    settings = state.settings
    if len(texts) > settings.max_texts:
        return JSONResponse(
            {"detail": f"{len(texts)} texts; the limit is {settings.max_texts} per request"},
            status_code=422,
        )
    limit = settings.max_text_chars
    for index, text in enumerate(texts):
        if len(text) > limit:
            return JSONResponse(
                {"detail": f"texts.{index}: {len(text)} characters; the limit is {limit}"},
                status_code=422,
            )
    return None


def install(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    @app.post("/v1/classify", response_model=ClassifyResponse, summary="Classify texts")
    async def classify(body: ClassifyRequest) -> ClassifyResponse | JSONResponse:
        predictor = state.predictor
        if predictor is None:
            return JSONResponse({"detail": "model is loading, retry shortly"}, status_code=503)
        if predictor.task != "classification":
            return JSONResponse(
                {"detail": f"this model does {predictor.task}, not classification"},
                status_code=400,
            )
        if (error := text_limit_error(state, body.texts)) is not None:
            return error
        started = time.perf_counter()
        metrics.texts.labels("/v1/classify").inc(len(body.texts))
        # Every request asks for the widest top-k, so requests with different top_k share
        # a batch; each answer is cut to its own top_k afterwards.
        results = await state.run_batched(
            lambda texts: predictor.predict(texts, top_k=MAX_TOP_K),
            body.texts,
            group=("classify", id(predictor)),
        )
        results = [_cut(r, body.top_k) for r in results]
        state.log_predictions("/v1/classify", body.texts, results, time.perf_counter() - started)
        return ClassifyResponse.model_validate({"model": state.model_ref, "results": results})


def _cut(result: dict[str, Any], top_k: int) -> dict[str, Any]:
    return {**result, "top_k": result["top_k"][:top_k]}
