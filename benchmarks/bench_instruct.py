"""SmolLM2-135M-Instruct + LoRA on CPU: Banking77 questions as chat turns, before vs after.

    .venv/bin/python benchmarks/bench_instruct.py [--data-dir ../shared/datasets/banking77]
        [--intents 6] [--train-per-intent 40] [--eval-per-intent 10] [--steps 40]

The system prompt lists the allowed intent names; the answer must be exactly one of them.
Held-out questions are scored by exact match (and ROUGE-L) with the base model first, then
with the LoRA-tuned model trained through the `causal_lm` chain (loss on assistant tokens
only). Reports training tokens/s, peak RSS of the training process and both scores.
The GGUF -> safetensors conversion runs once, in its own process, before any timing.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_data(data_dir: Path, out: Path, intents: int, n_train: int, n_eval: int, seed: int):
    """Seeded per-intent slices of train.csv as chat JSONL (kept outside the repository)."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    with (data_dir / "train.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_intent[row["category"]].append(row["text"])
    rng = random.Random(seed)
    chosen = sorted(rng.sample(sorted(by_intent), intents))
    train, held = [], []
    for intent in chosen:
        texts = by_intent[intent][:]
        rng.shuffle(texts)
        train += [(t, intent) for t in texts[:n_train]]
        held += [(t, intent) for t in texts[n_train : n_train + n_eval]]
    rng.shuffle(train)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("held_out", held)):
        with (out / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            for text, intent in rows:
                fh.write(json.dumps({"prompt": text, "response": intent}) + "\n")
    system = (
        "You route banking customer questions. Answer with exactly one intent name from this "
        f"list and nothing else: {', '.join(chosen)}."
    )
    return out / "train.jsonl", out / "held_out.jsonl", system


def spec_dict(train: Path, held: Path, system: str, steps: int) -> dict:
    return {
        "name": "bench-instruct", "task": "causal_lm", "seed": 42,
        "data": {"source": {"path": str(train)}, "validation": {"path": str(held)}},
        "train": {
            "base_model": "packaged:smollm2", "epochs": 1, "max_steps": steps, "batch_size": 8,
            "learning_rate": 1e-3, "max_length": 160, "warmup_ratio": 0.1,
            "peft": {"method": "lora", "r": 16, "alpha": 32,
                     "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        },
        "task_config": {"generation": {"max_new_tokens": 12, "system_prompt": system}},
    }  # fmt: skip


def score_base(spec, workspace) -> dict:
    """Exact match / ROUGE-L of the untuned model with the same prompts and decoding."""
    from llmline.models.generator import Generator
    from llmline.models.meta import ModelMeta
    from llmline.models.resolve import resolve_model
    from llmline.tasks.causal_lm import generation_scores, load_causal_lm
    from llmline.train.chat_data import read_conversations

    model, tokenizer = load_causal_lm(resolve_model(spec.train.base_model, workspace))
    model.eval()
    generator = Generator(model, tokenizer, ModelMeta(labels=[], task="causal_lm"),
                          spec.task_config.generation)  # fmt: skip
    held = read_conversations(spec.data.validation, key="data.validation", max_rows=None)
    started = time.perf_counter()
    scores = generation_scores(generator, held)
    scores["seconds"] = time.perf_counter() - started
    return scores


def train_tokens(spec, workspace, steps: int) -> int:
    """Tokens the model saw: mean encoded conversation length x steps x batch size."""
    from transformers import AutoTokenizer

    from llmline.models.resolve import resolve_model
    from llmline.tasks.causal_lm import encode_conversation
    from llmline.train.chat_data import apply_generation_settings, read_conversations

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(spec.train.base_model, workspace))
    rows = read_conversations(spec.data.source, key="data.source", max_rows=None)
    lengths = [len(encode_conversation(apply_generation_settings(r, spec.task_config.generation),
                                       tokenizer, max_length=spec.train.max_length)["input_ids"])
               for r in rows]  # fmt: skip
    return int(sum(lengths) / len(lengths) * steps * spec.train.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared/datasets/banking77")
    parser.add_argument("--intents", type=int, default=6)
    parser.add_argument("--train-per-intent", type=int, default=40)
    parser.add_argument("--eval-per-intent", type=int, default=10)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/bench-instruct"))
    parser.add_argument("--output", type=Path, default=Path("/tmp/bench-instruct/instruct.json"))
    args = parser.parse_args()

    from llmline.chain import run_chain
    from llmline.spec import validate_spec
    from llmline.workspace import Workspace

    workspace = Workspace.resolve(args.workspace)
    convert = (
        "from llmline.models.resolve import resolve_model as r; from llmline.workspace "
        f"import Workspace as W; r('packaged:smollm2', W.resolve('{workspace.root}'))"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", convert], check=True)
    convert_s = time.perf_counter() - started
    train, held, system = make_data(
        args.data_dir, workspace.root / "data", args.intents,
        args.train_per_intent, args.eval_per_intent, seed=42,
    )  # fmt: skip
    spec = validate_spec(spec_dict(train, held, system, args.steps))
    before = score_base(spec, workspace)
    ctx = run_chain(spec, workspace, until="evaluate")
    after = json.loads((ctx.run.eval_dir / "report.json").read_text())
    seconds = ctx.results["train"]["result"]["seconds"]
    tokens = train_tokens(spec, workspace, ctx.results["train"]["result"]["steps"])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "intents": args.intents, "train_rows": args.intents * args.train_per_intent,
        "held_out_rows": after["rows"], "steps": ctx.results["train"]["result"]["steps"],
        "train_seconds": seconds, "tokens_per_second": tokens / seconds, "peak_rss_mb": peak_mb,
        "convert_seconds_first_time": convert_s,
        "before": {k: before[k] for k in ("exact_match", "rouge_l")},
        "after": {k: after[k] for k in ("exact_match", "rouge_l", "perplexity")},
        "samples_after": after["samples"][:5],
    }  # fmt: skip
    print("| model | exact match | ROUGE-L |\n|---|---|---|")
    print(
        f"| SmolLM2-135M-Instruct (base) | {before['exact_match']:.4f} | {before['rouge_l']:.4f} |"
    )
    print(f"| + LoRA r16, {result['steps']} steps | {after['exact_match']:.4f} | "
          f"{after['rouge_l']:.4f} |")  # fmt: skip
    print(
        f"training: {tokens} tokens in {seconds:.0f}s = {tokens / seconds:.0f} tokens/s; "
        f"peak RSS {peak_mb:.0f} MB; answer perplexity after {after['perplexity']:.3f}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
