"""POST /v1/classify: labels, scores and top-k for a batch of texts."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from llmline.serve.app import ServiceState
from llmline.serve.metrics import ServiceMetrics
from llmline.serve.schemas import ClassifyRequest, ClassifyResponse


def install(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    @app.post("/v1/classify", response_model=ClassifyResponse, summary="Classify texts")
    def classify(body: ClassifyRequest) -> ClassifyResponse | JSONResponse:
        predictor = state.predictor
        if predictor is None:
            return JSONResponse({"detail": "model is loading, retry shortly"}, status_code=503)
        if predictor.task != "classification":
            return JSONResponse(
                {"detail": f"this model does {predictor.task}, not classification"},
                status_code=400,
            )
        metrics.batch_size.observe(len(body.texts))
        metrics.texts.labels("/v1/classify").inc(len(body.texts))
        with state.lock:  # one model call at a time keeps the CPU threads from fighting
            results = predictor.predict(body.texts, top_k=body.top_k)
        return ClassifyResponse.model_validate({"model": state.model_ref, "results": results})
