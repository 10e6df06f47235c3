"""The serve link's spec: batching, limits, authentication, backend, workers, safety, audit."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from llmline.spec.base import StrictModel
from llmline.spec.govern import SafetySpec

# Hard caps of the request schemas; a service may set lower limits, never higher ones.
TEXTS_CAP = 256
TEXT_CHARS_CAP = 10_000
NEW_TOKENS_CAP = 4096

SAFETY_POLICY_ENV = "LLMLINE_SAFETY_POLICY"
REQUEST_AUDIT_ENV = "LLMLINE_REQUEST_AUDIT"


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
    max_texts: int = Field(
        TEXTS_CAP, ge=1, le=TEXTS_CAP, description="Texts (or chat messages) per request at most."
    )
    max_text_chars: int = Field(
        TEXT_CHARS_CAP,
        ge=1,
        le=TEXT_CHARS_CAP,
        description="Longer texts (or prompts, or chat messages) get 422.",
    )
    max_new_tokens: int = Field(
        1024,
        ge=1,
        le=NEW_TOKENS_CAP,
        description="Highest max_tokens a generation request may ask.",
    )
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
    engine: Literal["uvicorn", "ray"] = Field(
        "uvicorn",
        description="'uvicorn': `workers` processes on this machine; 'ray': the same app on Ray "
        "Serve with autoscaling replicas (local Ray, or the cluster at $RAY_ADDRESS).",
    )
    min_replicas: int = Field(1, ge=0, description="engine ray: replicas kept when idle.")
    max_replicas: int = Field(2, ge=1, description="engine ray: replicas added under load at most.")
    target_ongoing_requests: float = Field(
        2.0,
        gt=0,
        description="engine ray: in-flight requests per replica the autoscaler aims for; more "
        "adds replicas, fewer removes them.",
    )
    replica_cpus: float = Field(
        0.5, gt=0, description="engine ray: CPUs Ray reserves for each replica."
    )
    downscale_delay_s: float = Field(
        30.0, ge=0, description="engine ray: how long load must stay low before a replica goes."
    )
    monitor: bool = Field(True, description="Log every request to the monitoring store.")
    safety: SafetySpec | None = Field(
        None,
        description="The service's safety policy: the keys of govern.safety (lexicons, classifier, "
        "per-route actions under `routes`). null: the govern.safety block of the --config file "
        f"when it has one, else the defaults. ${SAFETY_POLICY_ENV}, a YAML file of these keys, "
        "wins over both when set.",
    )
    request_audit: Path | None = Field(
        None,
        description="Append one hash-chained entry per /v1 POST to this JSONL file (route, "
        "status, sha256 of request and answer, model version; never text); null: off. "
        f"${REQUEST_AUDIT_ENV} wins over this key when set.",
    )
