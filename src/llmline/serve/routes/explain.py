"""POST /v1/explain: word attributions for the served model's predictions (JSON or HTML).

Guarded like every /v1 route by the service's API keys: a key needs the `explain` scope (or
`*`). Explanations run Integrated Gradients (dozens of forward/backward passes per text) or
LIME/SHAP (hundreds of forward passes), so
requests are limited to a few texts and share the model lock rather than the micro-batcher.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from llmline.serve.metrics import ServiceMetrics
from llmline.serve.schemas import NON_BLANK, JsonInt
from llmline.serve.state import ServiceState

MAX_EXPLAIN_TEXTS = 8
MAX_EXPLAIN_CHARS = 2_000


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    texts: list[
        Annotated[
            StrictStr,
            Field(json_schema_extra={"maxLength": MAX_EXPLAIN_CHARS, "pattern": NON_BLANK}),
        ]
    ] = Field(
        min_length=1,
        max_length=MAX_EXPLAIN_TEXTS,
        description=f"1 to {MAX_EXPLAIN_TEXTS} texts to explain.",
    )
    target: str | None = Field(
        None, description="Label to explain; null explains the predicted one."
    )
    method: Literal["auto", "ig", "integrated_gradients", "occlusion", "lime", "shap"] = Field(
        "auto", description="ig (Integrated Gradients), occlusion, lime or shap; auto: ig."
    )
    steps: JsonInt = Field(32, ge=4, le=128, description="Integrated Gradients steps.")
    samples: JsonInt = Field(
        256, ge=16, le=2048, description="LIME/SHAP: model calls (word masks) per text."
    )
    entity: JsonInt = Field(0, ge=0, description="NER: which entity of each text to explain.")
    format: Literal["json", "html"] = Field("json", description="html returns a highlight view.")

    @field_validator("texts")
    @classmethod
    def _lengths(cls, texts: list[str]) -> list[str]:
        for index, text in enumerate(texts):
            if not re.search(NON_BLANK, text):
                raise ValueError(f"texts[{index}] is empty")
            if len(text) > MAX_EXPLAIN_CHARS:
                raise ValueError(
                    f"texts[{index}] has {len(text)} characters; the limit for "
                    f"explanations is {MAX_EXPLAIN_CHARS}"
                )
        return texts


class WordScore(BaseModel):
    word: str
    start: int
    end: int
    score: float


class Explanation(BaseModel):
    text: str
    target: str | None
    method: str
    words: list[WordScore]
    top: list[str]
    entity: dict[str, Any] | None = None


class ExplainResponse(BaseModel):
    model: str
    explanations: list[Explanation]


def install(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    @app.post(
        "/v1/explain",
        response_model=ExplainResponse,
        summary="Explain predictions",
        responses={200: {"content": {"text/html": {}}}},
    )
    async def explain_route(body: ExplainRequest) -> Any:
        from llmline.errors import ModelError
        from llmline.govern.explain import explain, render_html

        predictor = state.predictor
        if predictor is None:
            return JSONResponse({"detail": "model is loading, retry shortly"}, status_code=503)

        def run() -> list[dict[str, Any]]:
            with state.lock:  # gradients on a shared model: one explanation at a time
                return [
                    explain(
                        predictor,
                        text,
                        target=body.target,
                        method=body.method,
                        steps=body.steps,
                        entity=body.entity,
                        samples=body.samples,
                    )
                    for text in body.texts
                ]

        try:
            results = await run_in_threadpool(run)
        except ModelError as exc:
            return JSONResponse({"detail": exc.message}, status_code=400)
        metrics.texts.labels("/v1/explain").inc(len(body.texts))
        if body.format == "html":
            return HTMLResponse(render_html(results, title=f"Explanations: {state.model_ref}"))
        return ExplainResponse.model_validate({"model": state.model_ref, "explanations": results})
