"""Measure a model variant the same way for every method: size, latency, throughput, accuracy."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmline.models.predictor import Predictor


@dataclass
class Measurement:
    """One row of the optimization table."""

    name: str
    size_mb: float
    p50_ms_b1: float
    p99_ms_b1: float
    p50_ms_b32: float
    p99_ms_b32: float
    throughput_tps: float
    accuracy: float
    macro_f1: float

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def size_on_disk_mb(directory: Path) -> float:
    """Weights only (tokenizer files are the same for every variant)."""
    weights = [p for p in directory.rglob("*") if p.suffix in (".safetensors", ".onnx", ".bin")]
    return sum(p.stat().st_size for p in weights) / 1e6


def percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def time_calls(predictor: Predictor, batches: list[list[str]]) -> list[float]:
    """Milliseconds per predict call; the first call warms up and is not counted."""
    predictor.predict(batches[0])
    timings = []
    for batch in batches:
        started = time.perf_counter()
        predictor.predict(batch)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def measure(
    name: str,
    predictor: Predictor,
    directory: Path,
    texts: list[str],
    gold: list[str],
    *,
    repeats: int,
    size_mb: float | None = None,
) -> Measurement:
    """Latency at batch 1 and 32 on real validation texts, then accuracy on all of them."""
    from llmline.evaluate.stage import evaluate_texts

    singles = [[texts[i % len(texts)]] for i in range(repeats)]
    thirty_twos = [[texts[(i * 32 + j) % len(texts)] for j in range(32)] for i in range(repeats)]
    b1 = time_calls(predictor, singles)
    b32 = time_calls(predictor, thirty_twos)
    report = evaluate_texts(predictor, texts, gold)
    return Measurement(
        name=name,
        size_mb=size_on_disk_mb(directory) if size_mb is None else size_mb,
        p50_ms_b1=percentile(b1, 50),
        p99_ms_b1=percentile(b1, 99),
        p50_ms_b32=percentile(b32, 50),
        p99_ms_b32=percentile(b32, 99),
        throughput_tps=32 * len(b32) / (sum(b32) / 1000),
        accuracy=float(report["accuracy"]),
        macro_f1=float(report["macro_f1"]),
    )
