"""POST /v1/embeddings: sentence vectors from the model's encoder (OpenAI response shape)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from llmline.models.embedding import embed_texts, supports_embeddings
from llmline.serve.metrics import ServiceMetrics
from llmline.serve.routes.classify import text_limit_error
from llmline.serve.schemas import EmbeddingsRequest, EmbeddingsResponse
from llmline.serve.state import ServiceState


def install(app: FastAPI, state: ServiceState, metrics: ServiceMetrics) -> None:
    @app.post("/v1/embeddings", response_model=EmbeddingsResponse, summary="Embed texts")
    async def embeddings(body: EmbeddingsRequest) -> EmbeddingsResponse | JSONResponse:
        predictor = state.predictor
        if predictor is None:
            return JSONResponse({"detail": "model is loading, retry shortly"}, status_code=503)
        if not supports_embeddings(predictor):
            return JSONResponse(
                {"detail": f"this {predictor.task} model has no sentence encoder"},
                status_code=400,
            )
        texts = body.texts
        if (error := text_limit_error(state, texts)) is not None:
            return error
        started = time.perf_counter()
        metrics.texts.labels("/v1/embeddings").inc(len(texts))

        # Tokens are counted in the batcher's thread too: a fast tokenizer used from two threads
        # at once raises "Already borrowed" (seen under concurrent load).
        def embed_and_count(items: list[str]) -> list[tuple[list[float], int]]:
            vectors = embed_texts(predictor, items)
            return list(zip(vectors, _token_counts(predictor, items), strict=True))

        rows = await state.run_batched(embed_and_count, texts, group=("embed", id(predictor)))
        vectors = [vector for vector, _ in rows]
        tokens = sum(count for _, count in rows)
        state.log_predictions(
            "/v1/embeddings", texts, [{} for _ in texts], time.perf_counter() - started
        )
        return EmbeddingsResponse.model_validate(
            {
                "model": state.model_ref,
                "data": [{"index": i, "embedding": v} for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def _token_counts(predictor: Any, texts: list[str]) -> list[int]:
    tokenizer = getattr(predictor, "tokenizer", None)
    if tokenizer is None:
        return [len(t.split()) for t in texts]
    return [len(ids) for ids in tokenizer(texts, truncation=True)["input_ids"]]
