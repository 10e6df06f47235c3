"""Measure a model variant the same way for every method: size, latency, throughput, accuracy.

The optimize stage measures every model in a fresh process of its own (`measure_in_fresh_process`
runs this module): timed one after another in the stage's own process, after the methods had
trained there, a variant with exactly the baseline's shapes measured 0.77x of it (2026-11-23) —
allocator and thread-pool state left behind by training, and a second runtime's idle threads,
skewed latency by up to about 25 %.
"""

from __future__ import annotations

import json
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
    """Weights only (tokenizer files are the same for every variant). An adapter counts its
    pinned base too: serving it needs both, and its own few MB beside a merged variant's
    hundreds would make every compression look like growth."""
    from llmline.models.adapters import is_adapter_dir, pinned_base_dir

    weights = [
        p for p in directory.rglob("*") if p.suffix in (".safetensors", ".onnx", ".bin", ".gguf")
    ]
    own = sum(p.stat().st_size for p in weights) / 1e6
    return own + size_on_disk_mb(pinned_base_dir(directory)) if is_adapter_dir(directory) else own


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


def measure_directory(
    name: str, directory: Path, validation: Path, repeats: int, *, backend: str = "auto"
) -> dict[str, Any]:
    """Load the model as the service would, then measure it on the validation snapshot."""
    from llmline.data.stage import read_snapshot
    from llmline.models.backend import load_serving_predictor
    from llmline.optimize.quantize import quantized_state_bytes

    predictor: Any = load_serving_predictor(directory, backend)
    size = None
    if hasattr(predictor, "model") and predictor.meta.extra.get("quantization"):
        size = quantized_state_bytes(predictor.model) / 1e6  # int8 lives in memory, see quantize
    texts, gold = read_snapshot(validation)
    gold = [str(g) for g in gold]
    return measure(name, predictor, directory, texts, gold, repeats=repeats, size_mb=size).as_dict()


def measure_in_fresh_process(
    name: str,
    directory: Path,
    validation: Path,
    repeats: int,
    *,
    backend: str = "auto",
    kind: str = "classification",
    rows: int | None = None,
) -> dict[str, Any]:
    """`measure_directory` (or, for kind causal_lm, the generative measurement) in a new
    Python process, so every model is timed in the same state."""
    import subprocess
    import sys
    import tempfile

    from llmline.console import console
    from llmline.errors import ModelError

    job = {
        "name": name,
        "directory": str(directory),
        "validation": str(validation),
        "repeats": repeats,
        "backend": backend,
        "kind": kind,
        "rows": rows,
    }
    with tempfile.TemporaryDirectory(prefix="llmline-measure-") as scratch:
        result = Path(scratch) / "measurement.json"
        command = [sys.executable, "-m", __name__, json.dumps(job), str(result)]
        what = "tokens/s, memory, quality" if kind == "causal_lm" else "size, latency, accuracy"
        with console.status(f"measuring {name} ({what}) in a fresh process"):
            done = subprocess.run(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
        if done.returncode != 0 or not result.exists():
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise ModelError(
                f"measuring {name} in {directory} failed: {tail[0]}",
                fix="load the variant with `llmline serve --model DIR` to see the whole error",
            )
        measurement: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
        return measurement


def _main(argv: list[str]) -> None:
    job = json.loads(argv[0])
    if job.get("kind") == "causal_lm":
        from llmline.optimize.measure_generative import measure_generative_directory

        row = measure_generative_directory(
            job["name"], Path(job["directory"]), Path(job["validation"]), job["rows"]
        )
        Path(argv[1]).write_text(json.dumps(row), encoding="utf-8")
        return
    row = measure_directory(
        job["name"],
        Path(job["directory"]),
        Path(job["validation"]),
        int(job["repeats"]),
        backend=job["backend"],
    )
    Path(argv[1]).write_text(json.dumps(row), encoding="utf-8")


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
