"""Pre-training on CPU: a causal LM from scratch on Tiny Shakespeare, continued MLM on Banking77.

    .venv/bin/python benchmarks/bench_pretrain.py [--data-root ../shared/datasets]
        [--quick] [--downstream] [--output /tmp/bench-pretrain/pretrain.json]

Runs the shipped recipes `tinyshakespeare-pretrain.yaml` and `banking77-mlm.yaml` end to end
through the chain (data, train, evaluate, register, card) and reports, for each: validation
perplexity before and after training, training tokens/s, the loss-curve files, the generated
samples and wall time. `--downstream` also fine-tunes the Banking77 intent classifier
(`banking77-intents.yaml`) twice, from MiniLM and from the MLM-adapted MiniLM, and reports both
accuracies (minutes more). `--quick` shrinks data, model and steps to check the script works.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"


def load_recipe(name: str, data_dir: Path, scratch: Path, edit: Any = None) -> Any:
    """The shipped recipe with its data_dir, optionally edited (sizes for --quick)."""
    from llmline.spec import load_spec

    raw = yaml.safe_load((RECIPES / name).read_text(encoding="utf-8"))
    if edit is not None:
        edit(raw)
    path = scratch / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_spec(path, {"data_dir": str(data_dir)})


def run(spec: Any, workspace: Any) -> dict[str, Any]:
    from llmline.chain import run_chain

    started = time.perf_counter()
    ctx = run_chain(spec, workspace, force=True)
    wall = time.perf_counter() - started
    train = ctx.results["train"]["result"]
    report = json.loads((ctx.run.eval_dir / "report.json").read_text(encoding="utf-8"))
    metrics = train["metrics"]
    return {
        "run_dir": str(ctx.run.dir),
        "wall_seconds": round(wall, 1),
        "train_seconds": round(train["seconds"], 1),
        "steps": train["steps"],
        "perplexity_before": round(report["perplexity_before"], 3),
        "perplexity_after": report["perplexity"],
        "token_accuracy": report["accuracy"],
        "tokens_scored": report["tokens"],
        "tokens_per_second": round(metrics.get("tokens_per_second", 0.0)),
        "parameters": metrics.get("parameters"),
        "loss_curve": metrics.get("loss_curve"),
        "loss_curve_png": metrics.get("loss_curve_png"),
        "samples": report.get("samples", []),
        "registered": ctx.results.get("register", {}).get("result"),
    }


def shakespeare(args: argparse.Namespace, workspace: Any, scratch: Path) -> dict[str, Any]:
    data_dir = args.data_root / "tinyshakespeare"

    def quick(raw: dict[str, Any]) -> None:
        raw["train"].update(max_steps=40, eval_steps=20, epochs=1)
        raw["task_config"]["pretrain"].update(
            vocab_size=512, n_layer=1, n_embd=32, n_head=2, block_size=64
        )
        raw["task_config"]["generation"]["max_new_tokens"] = 24

    if args.quick:  # the first 60k characters
        text = (data_dir / "input.txt").read_text(encoding="utf-8")[:60_000]
        data_dir = scratch / "tinyshakespeare"
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "input.txt").write_text(text, encoding="utf-8")
    spec = load_recipe(
        "tinyshakespeare-pretrain.yaml", data_dir, scratch, quick if args.quick else None
    )
    return run(spec, workspace)


def banking_mlm(args: argparse.Namespace, workspace: Any, scratch: Path) -> dict[str, Any]:
    def quick(raw: dict[str, Any]) -> None:
        raw["data"]["max_rows"] = 400
        raw["train"].update(max_steps=6, eval_steps=3)

    spec = load_recipe(
        "banking77-mlm.yaml", args.data_root / "banking77", scratch, quick if args.quick else None
    )
    result = run(spec, workspace)
    result["tokens_per_second"] = None  # windows are padded per batch: not counted here
    return result


def downstream(
    args: argparse.Namespace, workspace: Any, scratch: Path, adapted: str
) -> dict[str, Any]:
    """Banking77 intent accuracy from MiniLM and from the MLM-adapted MiniLM, same recipe."""
    from llmline.chain import run_chain

    out = {}
    for label, base in (("minilm", "packaged:minilm"), ("minilm+mlm", adapted)):

        def edit(raw: dict[str, Any], base: str = base, label: str = label) -> None:
            raw["name"] = f"bench-intents-{label.replace('+', '-')}"
            raw["train"]["base_model"] = base
            if args.quick:
                raw["data"]["max_rows"] = 600
                raw["train"]["max_steps"] = 4

        spec = load_recipe(
            "banking77-intents.yaml", args.data_root / "banking77", scratch / label, edit
        )
        started = time.perf_counter()
        ctx = run_chain(spec, workspace, force=True, until="evaluate")
        evaluation = ctx.results["evaluate"]["result"]
        out[label] = {
            "accuracy": evaluation["metrics"]["accuracy"],
            "macro_f1": evaluation["metrics"]["macro_f1"],
            "seconds": round(time.perf_counter() - started, 1),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared/datasets")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script")
    parser.add_argument(
        "--downstream",
        action="store_true",
        help="also fine-tune Banking77 intents from both encoders",
    )
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/bench-pretrain"))
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    from llmline.workspace import Workspace

    workspace = Workspace.resolve(args.workspace)
    scratch = workspace.root / "specs"
    started = time.perf_counter()
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "date": time.strftime("%Y-%m-%d"),
        "quick": args.quick,
        "command": "benchmarks/bench_pretrain.py" + (" --quick" if args.quick else ""),
    }
    result["tinyshakespeare"] = shakespeare(args, workspace, scratch)
    result["banking77_mlm"] = banking_mlm(args, workspace, scratch)
    if args.downstream:
        adapted = str(Path(result["banking77_mlm"]["run_dir"]) / "model")
        result["banking77_intents"] = downstream(args, workspace, scratch, adapted)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    print_table(result)
    output = args.output or workspace.root / "pretrain.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"results: {output}")


def print_table(result: dict[str, Any]) -> None:
    print("| run | steps | perplexity before | after | token accuracy | tokens/s | wall s |")
    print("|---|---|---|---|---|---|---|")
    for name in ("tinyshakespeare", "banking77_mlm"):
        r = result[name]
        print(
            f"| {name} | {r['steps']} | {r['perplexity_before']:.1f} | "
            f"{r['perplexity_after']:.2f} | {r['token_accuracy']:.4f} | "
            f"{r['tokens_per_second'] or '-'} | {r['wall_seconds']:.0f} |"
        )
    for sample in result["tinyshakespeare"]["samples"]:
        print(f"--- sample\n{sample['prompt']}{sample['completion']}")
    for label, scores in result.get("banking77_intents", {}).items():
        print(
            f"banking77 intents from {label}: accuracy {scores['accuracy']:.4f}, "
            f"macro-F1 {scores['macro_f1']:.4f} ({scores['seconds']:.0f}s)"
        )
    print(f"loss curve: {result['tinyshakespeare']['loss_curve_png']}")
    print(f"total wall time {result['wall_seconds']:.0f}s")


if __name__ == "__main__":
    main()
