"""Bias mitigation measured: flip rates before/after counterfactual data augmentation.

Takes a finished run of a recipe and of its `-cda` variant (recipes/banking77-intents-cda.yaml,
recipes/chnsenticorp-cda.yaml: the same recipe plus the `counterfactual` data step) and runs
the bias checks of bench_bias.py (every attribute plus the colour placebo) on both, on the same
validation texts, and reports flip rates side by side with the accuracy cost.

Caveat written into the table: the augmentation uses the same term lists and templates the
checks probe with, so the "after" flip rate measures invariance to those very terms; the
placebo row (colours, never augmented) shows whether the model became invariant to any
inserted sentence instead.

    python benchmarks/bench_cda.py --name banking77 --language en \
        --before RUN_DIR --after RUN_DIR [--max-texts 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench_bias import CACHE, PLACEBO, bench, write_results


def accuracy(run_dir: Path, texts_of: Path) -> float:
    """Accuracy of run_dir's model on texts_of's validation split."""
    from llmline.data.stage import read_snapshot
    from llmline.models.predictor import load_predictor

    texts, labels = read_snapshot(texts_of / "data" / "validation.parquet")
    predicted = load_predictor(run_dir / "model").predict(list(texts))
    hits = sum(p["label"] == str(gold) for p, gold in zip(predicted, labels, strict=True))
    return hits / len(predicted)


def render(name: str, before: dict[str, Any], after: dict[str, Any], command: str) -> str:
    start, end = f"<!-- bench_cda_{name}:start -->", f"<!-- bench_cda_{name}:end -->"
    change = after["accuracy"] - before["accuracy"]
    lines = [
        start,
        f"### Bias mitigation by counterfactual augmentation: {name} (bench_cda.py)",
        "",
        f"Machine: {platform.machine()} Linux, 2-core CPU shared with other jobs, no GPU. "
        f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}. Command: `{command}`.",
        "",
        f"Before: `{Path(before['run_dir']).name}` (validation accuracy "
        f"{before['accuracy']:.4f}); after: `{Path(after['run_dir']).name}` (accuracy "
        f"{after['accuracy']:.4f}, change {change:+.4f}), both on the before run's validation "
        "split. The augmentation swaps the checks' own terms and templates (so the after column "
        "measures invariance to the very terms trained on); the placebo (colours) was never "
        "augmented.",
        "",
        "| attribute | flip rate before | flip rate after | score change before | after |",
        "|---|---|---|---|---|",
    ]
    rows_after = {r["attribute"]: r for r in after["attributes"]}
    for r in before["attributes"]:
        a = rows_after[r["attribute"]]
        lines.append(
            f"| {r['attribute']} | {r['flip_rate']:.4f} | {a['flip_rate']:.4f} | "
            f"{r['mean_score_change']:.4f} | {a['mean_score_change']:.4f} |"
        )
    lines += ["", end]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", choices=["banking77", "chnsenticorp"], required=True)
    parser.add_argument("--before", type=Path, required=True, help="run dir without the step")
    parser.add_argument("--after", type=Path, required=True, help="run dir with the step")
    parser.add_argument("--max-texts", type=int, default=200)
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/bench-cda"))
    args = parser.parse_args()
    os.environ.setdefault("LLMLINE_NO_PROGRESS", "1")
    terms = args.workspace / "placebo_terms.yaml"
    terms.parent.mkdir(parents=True, exist_ok=True)
    terms.write_text(PLACEBO, encoding="utf-8")
    results = {}
    for tag, run_dir in (("before", args.before), ("after", args.after)):
        # Both models are probed, and scored, on the "before" run's validation texts: the
        # step's duplicate drops can move rows between the two runs' splits.
        results[tag] = bench(args.name, run_dir, args.max_texts, terms, texts_of=args.before)
        results[tag]["accuracy"] = accuracy(run_dir, args.before)
        saved = CACHE / f"cda-{args.name}-{tag}.json"
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(results[tag], ensure_ascii=False), encoding="utf-8")
        flips = {r["attribute"]: r["flip_rate"] for r in results[tag]["attributes"]}
        print(json.dumps({tag: flips}))
    command = (
        f"python benchmarks/bench_cda.py --name {args.name} --before {args.before} "
        f"--after {args.after} --max-texts {args.max_texts}"
    )
    section = render(args.name, results["before"], results["after"], command)
    write_results(section, section.split("\n", 1)[0], section.rsplit("\n", 1)[1])


if __name__ == "__main__":
    main()
