"""The serve link's spec: batching, limits, authentication, backend and workers."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from llmline.spec.base import StrictModel


class ServeSpec(StrictModel):
    """How the service batches, limits, authenticates and logs (`llmline serve --config`)."""

    max_batch_size: int = Field(32, ge=1, description="Texts per model call at most.")
    max_wait_ms: float = Field(
        5.0,
        ge=0,
        description="How long a batch waits to fill at most; it stops waiting once it holds as "
        "many texts as the last batch, so a lone client never waits.",
    )
    max_queue: int = Field(512, ge=1, description="Queued texts before requests get 429.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Larger bodies get 413.")
    max_text_chars: int = Field(10_000, ge=1, description="Longer texts get 422.")
    api_keys: Path | None = Field(
        None, description="JSON file of hashed API keys (`llmline apikey create`); null is open."
    )
    backend: Literal["auto", "torch", "onnx"] = Field(
        "auto", description="'auto' uses ONNX Runtime when the model directory has model.onnx."
    )
    reload_interval_s: float = Field(
        10.0, ge=0, description="Poll the registry alias this often; 0 turns hot reload off."
    )
    workers: int = Field(1, ge=1, description="uvicorn worker processes behind one port.")
    threads: int | None = Field(
        None,
        ge=1,
        description="Model threads per worker (overrides OMP_NUM_THREADS); null: the worker's "
        "share of the cores for ONNX Runtime, one fewer (at least 1) for PyTorch.",
    )
    graceful_timeout_s: float = Field(30.0, ge=0, description="Wait for in-flight requests.")
    monitor: bool = Field(True, description="Log every request to the monitoring store.")
