"""Banking77 with MiniLM-L6: full fine-tuning vs LoRA, AdaLoRA, IA3, prefix and prompt tuning.

    .venv/bin/python benchmarks/bench_peft.py [--data-dir ../shared/datasets/banking77]
        [--rows 3000] [--steps 150] [--methods full,lora,adalora,ia3,prefix,prompt]
        [--base-model packaged:minilm]

Each method runs in its own process (so peak RSS is its own) through the same chain as
`recipes/banking77-intents.yaml`, on the same seeded slice, with the same probe-initialised
head and step budget; only `train.peft` differs. Reports trainable parameters, training time,
peak memory and validation accuracy, with ratios to full fine-tuning. On a CUDA machine the
same script runs in bf16; peak memory is then the GPU's (torch.cuda.max_memory_allocated).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from results_md import write_section

ROOT = Path(__file__).resolve().parents[1]
PEFT = {
    "full": None,
    "lora": {"method": "lora", "r": 8, "alpha": 16},
    "adalora": {"method": "adalora", "r": 8, "alpha": 16},
    "ia3": {"method": "ia3"},
    "prefix": {"method": "prefix", "virtual_tokens": 16},
    "prompt": {"method": "prompt", "virtual_tokens": 16},
    "adapter": {"method": "adapter", "reduction_factor": 16},  # Houlsby bottleneck adapters
}
# Usual learning rates per method: adapters with few parameters need larger steps.
LEARNING_RATE = {
    "full": 5e-5, "lora": 1e-3, "adalora": 1e-3, "ia3": 3e-3, "prefix": 1e-2, "prompt": 3e-2,
    "adapter": 1e-3,
}  # fmt: skip


def one_run(
    method: str, data_dir: str, rows: int, steps: int, workspace: str, base_model: str
) -> dict:
    """Train + evaluate one method in this process; print a JSON line for the parent."""
    import resource

    from llmline.chain import run_chain
    from llmline.spec import load_spec
    from llmline.train.controls import count_parameters
    from llmline.workspace import Workspace

    spec = load_spec(ROOT / "recipes/banking77-intents.yaml", {"data_dir": data_dir})
    spec.name = f"bench-peft-{method}"
    spec.data.max_rows = rows or None  # 0: every row
    spec.train.max_steps = steps or None  # 0: the recipe's epochs
    spec.train.base_model = base_model
    spec.train.learning_rate = LEARNING_RATE[method]
    if PEFT[method] is not None:
        spec.train.peft = PEFT[method]  # type: ignore[assignment]  (validated on assignment)
    ctx = run_chain(spec, Workspace.resolve(workspace), until="evaluate")
    from llmline.models.predictor import load_predictor

    model = load_predictor(ctx.run.model_dir).model  # type: ignore[attr-defined]
    trainable = _trainable(model, method)
    return {
        "method": method, "trainable": trainable, "total": count_parameters(model)[1],
        "train_seconds": ctx.results["train"]["result"]["seconds"],
        "steps": ctx.results["train"]["result"]["steps"],
        "accuracy": ctx.results["evaluate"]["result"]["metrics"]["accuracy"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": _peak_gpu_mb(),
    }  # fmt: skip


def _peak_gpu_mb() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def _trainable(model: object, method: str) -> int:
    """Parameters the method trains: adapter + head (loading marks everything trainable)."""
    if method == "full":
        return sum(p.numel() for p in model.parameters())  # type: ignore[attr-defined]
    names = ("lora_", "ia3_", "prompt_encoder", ".adapter.", "head.")
    return sum(
        p.numel()
        for n, p in model.named_parameters()  # type: ignore[attr-defined]
        if any(k in n for k in names)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared/datasets/banking77"))
    parser.add_argument(
        "--rows", type=int, default=3000, help="Banking77 rows used (seeded); 0: all"
    )
    parser.add_argument(
        "--steps", type=int, default=150, help="optimiser steps per method; 0: the recipe epochs"
    )
    parser.add_argument("--methods", default="full,lora,adalora,ia3,prefix,prompt")
    parser.add_argument("--base-model", default="packaged:minilm")
    parser.add_argument("--workspace", default="/tmp/bench-peft")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--results", action="store_true", help="write the table into RESULTS.md (CPU section)"
    )
    parser.add_argument("--output", type=Path, default=Path("/tmp/bench-peft/peft.json"))
    args = parser.parse_args()
    if args.one:
        result = one_run(
            args.one, args.data_dir, args.rows, args.steps, args.workspace, args.base_model
        )
        print("RESULT " + json.dumps(result))
        return
    results = []
    for method in args.methods.split(","):
        command = [sys.executable, __file__, "--one", method, "--data-dir", args.data_dir,
                   "--rows", str(args.rows), "--steps", str(args.steps),
                   "--workspace", args.workspace, "--base-model", args.base_model]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        line = next(x for x in out.splitlines() if x.startswith("RESULT "))
        results.append(json.loads(line.removeprefix("RESULT ")))
        print(f"done: {results[-1]}", file=sys.stderr)
    table = render_table(results)
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    if args.results:
        command = " ".join(["python benchmarks/bench_peft.py", *sys.argv[1:]])
        write_cpu_section(table, command)


def render_table(results: list[dict]) -> str:
    full = next((r for r in results if r["method"] == "full"), results[0])
    lines = [
        f"| method | trainable params | share | train time | vs {full['method']} | peak RSS | "
        "peak GPU | val accuracy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        gpu = f"{r['peak_gpu_mb']:.0f} MB" if r.get("peak_gpu_mb") is not None else "-"
        lines.append(
            f"| {r['method']} | {r['trainable']:,} | {r['trainable'] / r['total']:.2%} | "
            f"{r['train_seconds']:.0f}s | {r['train_seconds'] / full['train_seconds']:.2f}x | "
            f"{r['peak_rss_mb']:.0f} MB | {gpu} | {r['accuracy']:.4f} |"
        )
    return "\n".join(lines)


def write_cpu_section(table: str, command: str) -> None:
    """The CPU rows go in their own section right after the GPU-measured PEFT table, between
    markers (re-runs replace them): the machines differ, so the rows are not merged."""
    import platform
    import time

    start, end = "<!-- bench_peft_cpu:start -->", "<!-- bench_peft_cpu:end -->"
    section = "\n".join([
        start, "",
        "#### The same recipe on this 2-core CPU (bottleneck adapters beside LoRA)", "",
        f"Machine: {platform.machine()} Linux, 2-core CPU shared with other jobs, no GPU (not the "
        f"GPU of the table above: compare rows within this table only). Date: "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}. Command: `{command}`.", "",
        table, "", end,
    ])  # fmt: skip
    results = ROOT / "benchmarks" / "RESULTS.md"
    write_section(results, section, start, end, before="### Pre-training: a causal LM from scratch")


if __name__ == "__main__":
    main()
