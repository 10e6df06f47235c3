"""What one service instance holds: the loaded model, its settings, batcher, keys and log.

Its own module so the app, the gate, the middlewares and the route modules can all name it
without importing each other (the app imports them; none of them imports the app).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmline.serve.auth import KeyStore, RateLimiter
from llmline.serve.batching import BatchFn, MicroBatcher
from llmline.spec import ServeSpec

if TYPE_CHECKING:
    from llmline.models.predictor import Predictor
    from llmline.monitor.store import RequestLogger


@dataclass
class ServiceState:
    """The loaded model and what it was loaded from; swapped whole on reload."""

    predictor: Predictor | None = None
    model_ref: str = ""
    model_info: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    settings: ServeSpec = field(default_factory=lambda: ServeSpec.model_validate({}))
    batcher: MicroBatcher | None = None
    request_log: RequestLogger | None = None
    keys: KeyStore | None = None
    limiter: RateLimiter = field(default_factory=RateLimiter)
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def model_version(self) -> str:
        return str(self.model_info.get("version", ""))

    def swap(self, predictor: Predictor, model_info: dict[str, Any]) -> None:
        """Hot reload: new requests see the new model; batches in flight finish on the old one."""
        with self.lock:
            self.predictor, self.model_info = predictor, model_info

    async def run_batched(self, fn: BatchFn, items: list[Any], *, group: Hashable) -> list[Any]:
        """Queue items on the shared micro-batcher and await this request's slice of outputs."""
        import asyncio

        if self.batcher is None:
            return list(fn(items))
        return await asyncio.wrap_future(self.batcher.submit(fn, items, group=group))

    def log_predictions(
        self, route: str, texts: list[str], results: list[dict[str, Any]], latency_s: float
    ) -> None:
        """Hand one row per text to the monitoring store's writer thread (never blocks)."""
        if self.request_log is not None:
            self.request_log.log_predictions(
                route=route,
                model_ref=self.model_ref,
                model_version=self.model_version,
                texts=texts,
                results=results,
                latency_s=latency_s,
            )
