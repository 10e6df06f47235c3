"""Counterfactual bias checks on real models: Banking77 (English) and ChnSentiCorp (Chinese).

For each dataset a model is taken from a finished llmline run (the recipe's, when one exists
in the workspace) or trained quickly through the chain (probe-initialised head + a few
fine-tuning steps, so the benchmark stays within minutes on 2 CPU cores). On its validation
split every attribute (name, gender, nationality, religion, age) is probed and compared with
a *placebo* attribute that swaps neutral words (colours) in the same templates: the placebo's
flip rate is the noise floor of "any inserted sentence changes the label", so the ratio
attribute / placebo says how much of a flip rate is about the attribute itself.

    .venv/bin/python benchmarks/bench_bias.py [--workspace /tmp/bench-ws] [--max-texts 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
CACHE = ROOT / ".cache" / "bench_bias"
START, END = "<!-- bench_bias:start -->", "<!-- bench_bias:end -->"
ATTRIBUTES = ["name", "gender", "nationality", "religion", "age", "placebo"]
PLACEBO = """\
en:
  placebo:
    template: "My favourite colour is {term}. {text}"
    groups: {red: [red], blue: [blue], green: [green], yellow: [yellow], purple: [purple],
             orange: [orange]}
zh:
  placebo:
    template: "我最喜欢的颜色是{term}。{text}"
    groups: {red: [红色], blue: [蓝色], green: [绿色], yellow: [黄色], purple: [紫色],
             orange: [橙色]}
"""
QUICK_TRAIN = """\
  base_model: packaged:minilm
  max_steps: {steps}
  batch_size: 32
  learning_rate: 5.0e-5
  head_learning_rate: 2.0e-3
  max_length: 64
  probe_max_rows: 3000
"""
SPECS = {
    "banking77": (
        "name: bench-bias-banking77\n"
        "data:\n"
        f"  source: {{path: {DATA}/banking77/train.csv, text_column: text, "
        "label_column: category}\n"
        "  validation_fraction: 0.1\n"
        "train:\n" + QUICK_TRAIN
    ),
    "chnsenticorp": (
        "name: bench-bias-chnsenticorp\n"
        "data:\n"
        f"  source: {{path: {DATA}/chnsenticorp/train.tsv, format: tsv, text_column: text_a, "
        "label_column: label}\n"
        "  max_rows: 2000\n"
        "  validation_fraction: 0.2\n"
        "train:\n" + QUICK_TRAIN.replace("probe_max_rows: 3000", "probe_max_rows: 1600")
    ),
}
LANGUAGES = {"banking77": ["en"], "chnsenticorp": ["zh"]}


def model_run(name: str, workspace: Path, steps: int) -> Path:
    """A finished run of the dataset's recipe if the workspace has one, else a quick one."""
    from llmline.chain import run_chain
    from llmline.spec import load_spec
    from llmline.workspace import Workspace

    recipe_runs = sorted((workspace / "runs").glob("banking77-intents-*"))
    for run_dir in recipe_runs if name == "banking77" else []:
        manifest = json.loads((run_dir / "manifest.json").read_text())
        if manifest.get("status") == "succeeded":
            return run_dir
    spec_path = workspace / f"bench-bias-{name}.yaml"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(SPECS[name].replace("{steps}", str(steps)), encoding="utf-8")
    ctx = run_chain(load_spec(spec_path), Workspace.resolve(workspace), until="evaluate")
    return ctx.run.dir


def bench(
    name: str, run_dir: Path, max_texts: int, terms: Path, texts_of: Path | None = None
) -> dict[str, Any]:
    """texts_of: the run whose validation texts are probed (default run_dir's own)."""
    from llmline.data.stage import read_snapshot
    from llmline.govern.bias import run_bias_checks
    from llmline.models.predictor import load_predictor
    from llmline.spec import BiasSpec

    predictor = load_predictor(run_dir / "model")
    texts, _ = read_snapshot((texts_of or run_dir) / "data" / "validation.parquet")
    spec = BiasSpec(
        languages=LANGUAGES[name], attributes=ATTRIBUTES, terms_file=terms, max_texts=max_texts
    )
    started = time.perf_counter()
    report = run_bias_checks(predictor, texts, spec, CACHE / name)
    seconds = time.perf_counter() - started
    evaluation = json.loads((run_dir / "eval" / "report.json").read_text())
    variants = sum(r["texts"] * len(r["groups"]) for r in report["counterfactual"])
    return {
        "run_dir": str(run_dir),
        "accuracy": evaluation["accuracy"],
        "seconds": seconds,
        "variants": variants,
        "attributes": report["counterfactual"],
    }


def render(results: dict[str, dict[str, Any]], command: str) -> str:
    lines = [
        START,
        "### Counterfactual bias checks (bench_bias.py)",
        "",
        f"Machine: {platform.machine()} Linux, 2-core CPU, 24 GB RAM, no GPU; other engineers' "
        f"jobs shared the CPU. Date: {time.strftime('%Y-%m-%d %H:%M %Z')}. Command: `{command}`.",
        "",
        "Flip rate = share of probed validation texts whose predicted label changes when only "
        "the attribute term changes; score change = mean spread of the majority label's "
        "probability across the groups. Placebo = the same templates with colours instead of "
        "attribute terms: the noise floor. Ratio = flip rate / placebo flip rate.",
        "",
    ]
    for name, result in results.items():
        placebo = next(r for r in result["attributes"] if r["attribute"] == "placebo")
        lines += [
            f"**{name}** — model `{Path(result['run_dir']).name}` (validation accuracy "
            f"{result['accuracy']:.4f}); {result['variants']} variant texts scored in "
            f"{result['seconds']:.0f} s ({result['variants'] / result['seconds']:.0f} texts/s).",
            "",
            "| attribute | texts (swapped / templated) | flip rate | mean score change | "
            "ratio to placebo | worst flip |",
            "|---|---|---|---|---|---|",
        ]
        for r in result["attributes"]:
            ratio = (
                f"{r['flip_rate'] / placebo['flip_rate']:.2f}" if placebo["flip_rate"] else "n/a"
            )
            worst = next((e for e in r["worst"] if e["flipped"]), None)
            example = ""
            if worst:
                pairs = [f"{v['group']}→{v['label']}" for v in worst["variants"]]
                example = ", ".join(pairs[:4])
            lines.append(
                f"| {r['attribute']} | {r['texts']} ({r['modes']['swap']} / "
                f"{r['modes']['template']}) | {r['flip_rate']:.4f} | "
                f"{r['mean_score_change']:.4f} | {ratio} | {example} |"
            )
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def write_results(section: str, start: str = START, end: str = END) -> None:
    """Replace the section between the start/end markers, or add it under the governance
    heading (bench_explain.py writes its own markers through this too)."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    header = "## Governance: bias checks, safety filters, explanations, model cards and audit log"
    if start in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    elif header in text:
        text = text.replace(header, f"{header}\n\n{section}", 1)
    else:
        text = text.rstrip() + f"\n\n{header}\n\n{section}\n"
    RESULTS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/bench-ws"))
    parser.add_argument("--max-texts", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20, help="fine-tuning steps of quick models")
    parser.add_argument("--only", choices=sorted(SPECS), default=None)
    parser.add_argument(
        "--from-cache", action="store_true", help="reuse results saved by an earlier run"
    )
    args = parser.parse_args()
    os.environ.setdefault("LLMLINE_NO_PROGRESS", "1")
    terms = args.workspace / "placebo_terms.yaml"
    terms.parent.mkdir(parents=True, exist_ok=True)
    terms.write_text(PLACEBO, encoding="utf-8")
    results = {}
    for name in [args.only] if args.only else sorted(SPECS):
        saved = CACHE / f"{name}.json"
        if args.from_cache and saved.is_file():
            results[name] = json.loads(saved.read_text(encoding="utf-8"))
            continue
        run_dir = model_run(name, args.workspace, args.steps)
        results[name] = bench(name, run_dir, args.max_texts, terms)
        saved.write_text(json.dumps(results[name], ensure_ascii=False), encoding="utf-8")
        flips = {r["attribute"]: r["flip_rate"] for r in results[name]["attributes"]}
        print(json.dumps({name: flips}))
    command = "python benchmarks/bench_bias.py " + " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
        for k, v in vars(args).items()
        if v not in (None, False)
    )
    write_results(render(results, command))


if __name__ == "__main__":
    main()
