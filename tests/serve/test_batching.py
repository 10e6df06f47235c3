from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from llmline.serve.batching import BatcherClosed, MicroBatcher, QueueFull


def _double(items: list[int]) -> list[int]:
    return [2 * i for i in items]


def test_concurrent_jobs_share_batches_and_get_their_own_slices() -> None:
    calls: list[int] = []

    def record(items: list[int]) -> list[int]:
        calls.append(len(items))
        time.sleep(0.01)
        return _double(items)

    batcher = MicroBatcher(max_batch_size=16, max_wait_ms=200, max_queue=1000)
    with ThreadPoolExecutor(8) as pool:
        futures = [
            pool.submit(lambda i=i: batcher.submit(record, [i, i + 100], group="g"))
            for i in range(24)
        ]
        results = [f.result().result(timeout=5) for f in futures]
    assert results == [[2 * i, 2 * (i + 100)] for i in range(24)]
    assert sum(calls) == 48 and max(calls) <= 16
    assert len(calls) < 24  # some requests were merged into one model call
    batcher.close()


def test_groups_never_mix() -> None:
    seen: list[set[str]] = []

    def tag(items: list[str]) -> list[str]:
        seen.append({i[0] for i in items})
        return items

    batcher = MicroBatcher(max_batch_size=32, max_wait_ms=30)
    futures = [batcher.submit(tag, [f"{g}{i}"], group=g) for i in range(5) for g in "ab"]
    assert [f.result(timeout=5)[0] for f in futures] == [f"{g}{i}" for i in range(5) for g in "ab"]
    assert all(len(s) == 1 for s in seen)
    batcher.close()


def test_full_queue_raises_with_retry_after_and_errors_reach_the_caller() -> None:
    gate = threading.Event()

    def blocked(items: list[int]) -> list[int]:
        gate.wait(5)
        return items

    batcher = MicroBatcher(max_batch_size=2, max_wait_ms=0, max_queue=4)
    first = batcher.submit(blocked, [1, 2], group="g")
    deadline = time.time() + 30
    while batcher.pending and time.time() < deadline:
        time.sleep(0.01)  # until the worker has taken the first batch and blocks in it
    queued = batcher.submit(blocked, [3, 4, 5, 6], group="g")
    with pytest.raises(QueueFull) as full:
        batcher.submit(blocked, [7], group="g")
    assert full.value.retry_after >= 1.0
    gate.set()
    assert first.result(timeout=5) == [1, 2] and queued.result(timeout=5) == [3, 4, 5, 6]

    def broken(items: list[int]) -> list[int]:
        raise ValueError("model failed")

    with pytest.raises(ValueError, match="model failed"):
        batcher.submit(broken, [1], group="x").result(timeout=5)
    batcher.close()


def test_close_finishes_queued_work_then_refuses_new_work() -> None:
    batcher = MicroBatcher(max_batch_size=1, max_wait_ms=0)

    def slow(items: list[int]) -> list[int]:
        time.sleep(0.02)
        return items

    futures = [batcher.submit(slow, [i], group="g") for i in range(5)]
    batcher.close()
    assert [f.result(timeout=0) for f in futures] == [[i] for i in range(5)]
    with pytest.raises(BatcherClosed):
        batcher.submit(slow, [9], group="g")


def test_a_lone_client_waits_for_company_only_until_its_first_batch_shows_none() -> None:
    batcher = MicroBatcher(max_batch_size=32, max_wait_ms=1000)
    started = time.monotonic()
    assert batcher.submit(_double, [1], group="g").result(timeout=10) == [2]
    assert time.monotonic() - started >= 0.9  # nothing known yet: the first batch waits to fill
    started = time.monotonic()
    for i in range(5):
        assert batcher.submit(_double, [i], group="g").result(timeout=10) == [2 * i]
    assert time.monotonic() - started < 2.5  # the last batch had one text: it goes at once
    batcher.close()
