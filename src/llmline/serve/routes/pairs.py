"""POST /v1/pairs: a label, its score and top-k for each [first, second] pair (cross-encoders).

The same shape as /v1/classify with `pairs` instead of `texts`; the service's text limits
apply to each text of a pair, and a request may hold as many pairs as it may hold texts.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmline.serve.metrics import ServiceMetrics
from llmline.serve.schemas import (
    MAX_TEXTS,
    MAX_TOP_K,
    Classification,
    JsonInt,
    Text,
    check_texts,
    limits,
)
from llmline.serve.state import ServiceState

TextPair = Annotated[list[Text], Field(min_length=2, max_length=2)]


class PairsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    pairs: list[TextPair] = Field(
        min_length=1, max_length=MAX_TEXTS,
        json_schema_extra=limits(maxItems=("max_texts", MAX_TEXTS)),
        description=f"1 to {MAX_TEXTS} pairs [first text, second text], each text non-blank.",
    )  # fmt: skip
    top_k: JsonInt = Field(1, ge=1, le=MAX_TOP_K, description="Alternatives returned per pair.")

    @field_validator("pairs", mode="before")
    @classmethod
    def _text_lengths(cls, pairs: Any) -> Any:
        if isinstance(pairs, list):
            for index, pair in enumerate(pairs):
                if isinstance(pair, list) and all(isinstance(t, str) for t in pair):
                    check_texts(pair, field=f"pairs[{index}]")
        return pairs


class PairsResponse(BaseModel):
    model: str = Field(description="The model reference and version that answered.")
    results: list[Classification]


def install(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    @app.post("/v1/pairs", response_model=PairsResponse, summary="Classify text pairs")
    async def pairs(body: PairsRequest) -> PairsResponse | JSONResponse:
        predictor = state.predictor
        if predictor is None:
            return JSONResponse({"detail": "model is loading, retry shortly"}, status_code=503)
        if predictor.task != "pair_classification":
            return JSONResponse(
                {"detail": f"this model does {predictor.task}, not pair_classification"},
                status_code=400,
            )
        items = [(a, b) for a, b in body.pairs]
        if (error := _limit_error(state, items)) is not None:
            return error
        started = time.perf_counter()
        metrics.texts.labels("/v1/pairs").inc(len(items))
        results = await state.run_batched(
            lambda batch: predictor.predict(batch, top_k=MAX_TOP_K),
            items,
            group=("pairs", id(predictor)),
        )
        results = [{**r, "top_k": r["top_k"][: body.top_k]} for r in results]
        logged = [f"{a}\t{b}" for a, b in items]
        state.log_predictions("/v1/pairs", logged, results, time.perf_counter() - started)
        return PairsResponse.model_validate({"model": state.model_ref, "results": results})


def _limit_error(state: ServiceState, items: list[tuple[str, str]]) -> JSONResponse | None:
    """The service's own limits (settings): pairs per request as texts, characters per text."""
    settings = state.settings
    if len(items) > settings.max_texts:
        return JSONResponse(
            {"detail": f"{len(items)} pairs; the limit is {settings.max_texts} per request"},
            status_code=422,
        )
    for index, pair in enumerate(items):
        for side, text in enumerate(pair):
            if len(text) > settings.max_text_chars:
                detail = (f"pairs.{index}.{side}: {len(text)} characters; the limit is "
                          f"{settings.max_text_chars}")  # fmt: skip
                return JSONResponse({"detail": detail}, status_code=422)
    return None
