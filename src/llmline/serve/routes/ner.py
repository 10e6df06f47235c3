"""POST /v1/ner: entity spans with character offsets for a batch of texts."""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from llmline.serve.metrics import ServiceMetrics
from llmline.serve.routes.classify import text_limit_error
from llmline.serve.schemas import ClassifyRequest
from llmline.serve.state import ServiceState


class NerRequest(ClassifyRequest):
    """The same limits as /v1/classify (1-256 non-empty texts of at most 10,000 chars)."""


class Entity(BaseModel):
    label: str = Field(description="Entity type, e.g. PER, ORG, LOC, MISC.")
    text: str = Field(description="The entity's text, equal to text[start:end].")
    start: int = Field(description="Character offset where the entity starts.")
    end: int = Field(description="Character offset just past the entity.")
    score: float = Field(description="Mean probability of the entity's word tags.")


class NerResult(BaseModel):
    entities: list[Entity]


class NerResponse(BaseModel):
    model: str = Field(description="The model reference and version that answered.")
    results: list[NerResult]


def install(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    @app.post("/v1/ner", response_model=NerResponse, summary="Find named entities in texts")
    async def ner(body: NerRequest) -> NerResponse | JSONResponse:
        predictor = state.predictor
        if predictor is None:
            return JSONResponse({"detail": "model is loading, retry shortly"}, status_code=503)
        if predictor.task != "ner":
            return JSONResponse(
                {"detail": f"this model does {predictor.task}, not ner"}, status_code=400
            )
        if (error := text_limit_error(state, body.texts)) is not None:
            return error
        started = time.perf_counter()
        metrics.texts.labels("/v1/ner").inc(len(body.texts))
        results = await state.run_batched(
            lambda texts: predictor.predict(texts), body.texts, group=("ner", id(predictor))
        )
        state.log_predictions("/v1/ner", body.texts, results, time.perf_counter() - started)
        return NerResponse.model_validate(
            {"model": state.model_ref, "results": [{"entities": r["entities"]} for r in results]}
        )
