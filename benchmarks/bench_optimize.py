"""Optimization table on the Banking77 model: every optimize method against fp32 PyTorch.

Runs `llmline optimize`'s library function on the trained model with its own validation split
and prints size, latency p50/p99 at batch 1 and 32, throughput and accuracy delta per variant;
the headline ratio is int8 ONNX Runtime vs fp32 PyTorch at batch 1.

    .venv/bin/python benchmarks/bench_optimize.py --run /tmp/bench-ws/runs/<banking77 run>
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

METHODS = [
    "onnx-fp32", "onnx-int8", "dynamic-int8", "magnitude-prune", "head-prune", "neuron-prune",
    "distill",
]  # fmt: skip


def head_to_head(
    model_dir: Path, variant_dirs: list[Path], texts: list[str], calls: int, batch: int
) -> dict:
    """Alternate calls between fp32 PyTorch and each variant, so CPU contention from other jobs
    and the process's own drift (the per-variant table measures them minutes apart, after
    training runs in the same process) hit every model alike."""
    import time

    import numpy as np

    from llmline.models.backend import load_serving_predictor
    from llmline.models.predictor import load_predictor

    models = {"torch-fp32": load_predictor(model_dir)}
    models |= {path.name: load_serving_predictor(path) for path in variant_dirs}
    timings: dict[str, list[float]] = {name: [] for name in models}
    for i in range(calls):
        chunk = [texts[(i * batch + j) % len(texts)] for j in range(batch)]
        for name, predictor in models.items():
            started = time.perf_counter()
            predictor.predict(chunk)
            timings[name].append((time.perf_counter() - started) * 1000)
    p50 = {name: float(np.percentile(t[5:], 50)) for name, t in timings.items()}
    p99 = {name: float(np.percentile(t[5:], 99)) for name, t in timings.items()}
    base = p50["torch-fp32"]
    return {
        "batch": batch,
        "p50_ms": p50,
        "p99_ms": p99,
        "speedup_p50": {name: base / value for name, value in p50.items()},
    }


def main() -> None:
    from llmline.optimize.methods import OptimizeInputs
    from llmline.optimize.stage import optimize_model
    from llmline.spec import OptimizeSpec

    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=Path, required=True, help="a finished Banking77 run dir")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-optimize"))
    parser.add_argument("--methods", nargs="*", default=METHODS)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--heads-per-layer", type=int, default=2, help="head-prune")
    parser.add_argument("--head-share", type=float, default=None, help="head-prune, global")
    parser.add_argument("--neuron-share", type=float, default=0.3, help="neuron-prune")
    parser.add_argument(
        "--head-to-head",
        type=Path,
        nargs="+",
        default=None,
        help="only time fp32 torch against these variant dirs, calls interleaved",
    )
    parser.add_argument("--batch", type=int, nargs="+", default=[1], help="for --head-to-head")
    parser.add_argument("--calls", type=int, default=200, help="for --head-to-head")
    args = parser.parse_args()
    if args.head_to_head:
        from llmline.data.stage import read_snapshot

        texts = read_snapshot(args.run / "data" / "validation.parquet")[0]
        for batch in args.batch:
            result = head_to_head(args.run / "model", args.head_to_head, texts, args.calls, batch)
            print(json.dumps(result, indent=2), flush=True)
        return
    spec = OptimizeSpec(
        methods=args.methods,
        latency_repeats=args.repeats,
        student_layers=3,
        distill_epochs=1.0,
        sparsity=0.3,
        neuron_share=args.neuron_share,
        **(
            {"heads_per_layer": args.heads_per_layer}
            if args.head_share is None
            else {"head_share": args.head_share}
        ),
    )
    inputs = OptimizeInputs(
        args.run / "model",
        spec,
        args.run / "data" / "train.parquet",
        args.run / "data" / "validation.parquet",
    )
    started = time.perf_counter()
    result = optimize_model(inputs, args.methods, args.out)
    print((args.out / "report.md").read_text())
    base = result.baseline
    for row in result.variants:
        print(
            f"{row['name']}: {row['speedup_b1']}x faster at batch 1, "
            f"{base['p50_ms_b32'] / row['p50_ms_b32']:.2f}x at batch 32, "
            f"accuracy delta {row['accuracy_delta'] * 100:+.2f} points"
        )
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
