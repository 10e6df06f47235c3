"""Generative compression table: SmolLM2-135M (or a tuned run of it) fp32 vs int8 and GGUF.

Runs `llmline optimize`'s library function on a causal LM with the Banking77 instruction
recipe's validation split: greedy tokens/s (8 fixed prompts x 32 forced tokens, batch 1),
peak resident memory of the measuring process, answer perplexity and exact match on the first
--rows conversations, each model in a fresh process. Without a validation split in the
workspace it runs the recipe's data stage first (`llmline run ... --until data`).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_optimize_generative.py \
        --model packaged:smollm2 --workspace /work/runs/gencompress
    # after `llmline run recipes/banking77-instruct.yaml --workspace /work/runs/gencompress`:
    PYTHONPATH=src .venv/bin/python benchmarks/bench_optimize_generative.py --model tuned ...
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from results_md import write_section

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "banking77-instruct.yaml"
METHODS = ["dynamic-int8", "gguf-q8_0", "gguf-f16"]


def validation_split(workspace: Path, data_dir: Path) -> Path:
    """The recipe's held-out conversations: the newest run's split, else a data-only run."""
    from llmline.cli import main

    found = sorted(workspace.glob("runs/banking77-instruct*/data/validation.parquet"))
    if not found:
        code = main(["run", str(RECIPE), "--until", "data", "--workspace", str(workspace),
                     "--var", f"data_dir={data_dir}"])  # fmt: skip
        assert code == 0, "the recipe's data stage failed"
        found = sorted(workspace.glob("runs/banking77-instruct*/data/validation.parquet"))
    return max(found, key=lambda p: p.stat().st_mtime)


def tuned_model(workspace: Path) -> Path:
    """`--model tuned`: the newest trained banking77-instruct run's model in the workspace."""
    found = sorted(workspace.glob("runs/banking77-instruct*/model/llmline_model.json"))
    assert found, f"no trained banking77-instruct run in {workspace}: run the recipe first"
    return max(found, key=lambda p: p.stat().st_mtime).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="packaged:smollm2")
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/bench-gencompress"))
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared/datasets/banking77",
    )
    parser.add_argument("--validation", type=Path, default=None, help="default: the recipe's")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/optimize_generative.json"))
    args = parser.parse_args()  # fmt: skip

    from llmline.models.resolve import resolve_model
    from llmline.optimize.methods import OptimizeInputs
    from llmline.optimize.stage import optimize_model
    from llmline.spec import OptimizeSpec
    from llmline.workspace import Workspace

    workspace = Workspace.resolve(args.workspace)
    validation = args.validation or validation_split(workspace.root, args.data_dir)
    model_dir = (
        tuned_model(workspace.root)
        if args.model == "tuned"
        else resolve_model(args.model, workspace)
    )
    spec = OptimizeSpec.model_validate({"methods": args.methods, "generation_rows": args.rows})
    started = time.time()
    result = optimize_model(
        OptimizeInputs(model_dir, spec, None, validation),
        args.methods,
        workspace.root / "optimize" / "generative",
    )
    report = {
        "model": args.model, "validation": str(validation), "rows": args.rows,
        "machine": f"{platform.processor() or platform.machine()}, 2 shared cores",
        "date": time.strftime("%Y-%m-%d"), "seconds": round(time.time() - started),
        "baseline": result.baseline, "variants": result.variants,
    }  # fmt: skip
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    table = (workspace.root / "optimize" / "generative" / "report.md").read_text()
    print(table)
    write_results(report, table.split("\n", 2)[2], " ".join(sys.argv))


def write_results(report: dict, table: str, command: str) -> None:
    """This benchmark's section of RESULTS.md, between its markers (added before the drift
    scenario the first time)."""
    results = Path(__file__).resolve().parent / "RESULTS.md"
    start, end = (
        "<!-- bench_optimize_generative:start -->",
        "<!-- bench_optimize_generative:end -->",
    )
    section = "\n".join([
        start, "### Compressing a chat model (bench_optimize_generative.py)", "",
        f"Machine: {report['machine']}; {report['date']}, {report['seconds']} s. Command: "
        f"`{command}`. Model `{report['model']}`, {report['rows']} validation conversations "
        f"of `{report['validation']}`; tokens/s: greedy, 8 fixed prompts x 32 forced tokens, "
        "batch 1, one torch thread (the service's setting on 2 cores); peak RSS of the fresh "
        "measuring process.", "", table.strip(), "", end,
    ])  # fmt: skip
    write_section(results, section, start, end, before="### Drift scenario")


if __name__ == "__main__":
    main()
