"""Dynamic micro-batching shared by every route: many small requests, one model call.

A single worker thread owns the model: it takes the first waiting request, waits up to
`max_wait_ms` for more of the same kind, runs them as one batch of at most `max_batch_size`
texts and hands each request its slice back. The wait ends early once as many texts are queued
as the group's last batch had: a lone client never waits for company that is not coming,
while clients that arrive together are still taken together. The queue is bounded in texts,
so overload turns into a quick `QueueFull` (429 + Retry-After) instead of unbounded latency.
Written by hand because neither FastAPI nor uvicorn batches, and MLflow serving does not
either (mlflow #8007).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

BatchFn = Callable[[list[Any]], Sequence[Any]]


class QueueFull(Exception):
    """The bounded queue cannot take these items now; retry after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"queue full, retry after {retry_after:.1f}s")
        self.retry_after = retry_after


class BatcherClosed(Exception):
    """The service is shutting down and takes no new work."""


@dataclass
class _Job:
    fn: BatchFn
    group: Hashable
    items: list[Any]
    future: Future[list[Any]] = field(default_factory=Future)


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    busy_s: float = 0.0

    @property
    def seconds_per_item(self) -> float:
        return self.busy_s / self.items if self.items else 0.01


class MicroBatcher:
    """Groups queued jobs by `group` and calls their `fn` once per batch, in one thread."""

    def __init__(
        self,
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 512,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.stats = BatchStats()
        self._jobs: deque[_Job] = deque()
        self._last_size: dict[Hashable, int] = {}
        self._pending = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="llmline-batcher", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Items queued and not yet taken into a batch."""
        return self._pending

    def submit(self, fn: BatchFn, items: list[Any], *, group: Hashable) -> Future[list[Any]]:
        """Queue items; the future resolves to fn's outputs for exactly these items, in order.

        Jobs share a batch only when their `group` is equal, so a route passes a key naming the
        function and its parameters (and the model object, so a hot reload never mixes models).
        """
        job = _Job(fn, group, list(items))
        with self._cond:
            if self._closed:
                raise BatcherClosed("the service is shutting down")
            if self._pending and self._pending + len(job.items) > self.max_queue:
                raise QueueFull(self._retry_after())
            self._jobs.append(job)
            self._pending += len(job.items)
            self._cond.notify()
        return job.future

    def _retry_after(self) -> float:
        """Time to drain the queue at the measured speed, at least one second."""
        return max(1.0, self._pending * self.stats.seconds_per_item)

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop taking work, finish everything queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._run(batch)

    def _next_batch(self) -> list[_Job] | None:
        """Wait for a first job, then up to max_wait for more of its group (queue order kept)."""
        with self._cond:
            while not self._jobs:
                if self._closed:
                    return None
                self._cond.wait()
            group = self._jobs[0].group
            enough = min(self.max_batch_size, self._last_size.get(group, self.max_batch_size))
            deadline = time.monotonic() + self.max_wait_s
            while not self._closed and self._group_size(group) < enough:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            taken = self._take(group)
            if len(self._last_size) > 256:  # groups can carry request parameters: stay bounded
                self._last_size.clear()
            self._last_size[group] = sum(len(job.items) for job in taken)
            return taken

    def _group_size(self, group: Hashable) -> int:
        return sum(len(j.items) for j in self._jobs if j.group == group)

    def _take(self, group: Hashable) -> list[_Job]:
        """Jobs of one group up to max_batch_size items; an oversize first job goes alone."""
        taken: list[_Job] = []
        size = 0
        for job in list(self._jobs):
            if job.group != group:
                continue
            if taken and size + len(job.items) > self.max_batch_size:
                break
            taken.append(job)
            size += len(job.items)
            self._jobs.remove(job)
        self._pending -= size
        return taken

    def _run(self, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job.items]
        started = time.perf_counter()
        try:
            outputs = list(jobs[0].fn(items))
        except BaseException as exc:  # the error belongs to the requests, not to this thread
            for job in jobs:
                job.future.set_exception(exc)
            return
        elapsed = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.items += len(items)
        self.stats.busy_s += elapsed
        if self.on_batch is not None:
            self.on_batch(len(items), elapsed)
        start = 0
        for job in jobs:
            job.future.set_result(outputs[start : start + len(job.items)])
            start += len(job.items)
