"""One training step of multilingual-e5-small on CPU: fp32 (HF's default) against bf16.

`train.precision: bf16` on a CPU with AMX or AVX512-BF16 trains under `torch.autocast("cpu",
bfloat16)` with eager attention (`train.fit.cpu_bf16_attention`). This times what that buys on
real ChnSentiCorp reviews, step by step (forward, backward, AdamW): HF's default (fp32, sdpa
attention, every parameter trained), the same with E5's 96M-parameter vocabulary matrix frozen
(`train.freeze.embeddings`), bf16 with sdpa, and bf16 with eager attention, which is what
llmline runs. It also reports how far bf16's sentence embeddings are from fp32's (cosine).

    .venv/bin/python benchmarks/bench_cpu_precision.py [--data-dir ../shared/datasets]
        [--workspace DIR] [--steps 8] [--batch 16] [--max-length 160]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from results_md import write_section

CONFIGS = [  # name, precision, attention, freeze embeddings
    ("HF default: fp32, sdpa, all parameters", "fp32", "sdpa", False),
    ("fp32, sdpa, embeddings frozen", "fp32", "sdpa", True),
    ("bf16, sdpa, embeddings frozen", "bf16", "sdpa", True),
    ("bf16, eager, embeddings frozen (train.precision: bf16)", "bf16", "eager", True),
    ("bf16, eager, all parameters", "bf16", "eager", False),
]


def reviews(data_dir: Path, count: int) -> list[str]:
    lines = (data_dir / "chnsenticorp" / "dev.tsv").read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 1)[1] for line in lines[1 : count + 1]]


def time_steps(model_dir: Path, batches: list[Any], precision: str, attention: str,
               freeze: bool) -> float:  # fmt: skip
    """Median seconds of one optimiser step after a warm-up step."""
    import torch
    from transformers import AutoModel

    torch.manual_seed(0)
    model = AutoModel.from_pretrained(model_dir, attn_implementation=attention)
    head = torch.nn.Linear(model.config.hidden_size, 2)
    if freeze:
        model.embeddings.requires_grad_(False)
    params = [p for p in [*model.parameters(), *head.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    seconds = []
    for index, batch in enumerate(batches):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            logits = head(pooled).float()
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(logits)) % 2)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if index:  # the first step warms up oneDNN's kernels
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def embedding_cosine(model_dir: Path, batch: Any) -> float:
    """Mean cosine between fp32 and bf16-autocast mean-pooled embeddings of the same texts."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    mask = batch["attention_mask"].unsqueeze(-1)
    with torch.inference_mode():
        fp32 = (model(**batch).last_hidden_state * mask).sum(1) / mask.sum(1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = (model(**batch).last_hidden_state.float() * mask).sum(1) / mask.sum(1)
    return float(torch.nn.functional.cosine_similarity(fp32, half).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--workspace", type=Path, default=Path(".bench/precision"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=160)
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from llmline.models.resolve import resolve_model
    from llmline.train.fit import cpu_has_native_bf16
    from llmline.workspace import Workspace

    torch.set_num_threads(os.cpu_count() or 1)
    model_dir = resolve_model("packaged:e5-small", Workspace.resolve(args.workspace))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = reviews(args.data_dir, args.batch * (args.steps + 1))
    batches = [
        tokenizer(["query: " + t for t in texts[i : i + args.batch]], padding=True,
                  truncation=True, max_length=args.max_length, return_tensors="pt")
        for i in range(0, len(texts), args.batch)
    ]  # fmt: skip
    tokens = statistics.mean(int(b["input_ids"].shape[1]) for b in batches)
    rows = []
    for name, precision, attention, freeze in CONFIGS:
        seconds = time_steps(model_dir, batches, precision, attention, freeze)
        rows.append((name, seconds))
        print(f"{name}: {seconds:.3f} s a step", flush=True)
    cosine = embedding_cosine(model_dir, batches[0])
    base = rows[0][1]
    lines = [
        "| configuration | s / step | speed-up over HF default |",
        "|---|---|---|",
        *(f"| {name} | {s:.3f} | {base / s:.2f}x |" for name, s in rows),
    ]
    start, end = "<!-- bench_cpu_precision:start -->", "<!-- bench_cpu_precision:end -->"
    command = (
        f"python benchmarks/bench_cpu_precision.py --steps {args.steps} --batch {args.batch} "
        f"--max-length {args.max_length}"
    )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = "\n".join([
        start,
        "### bf16 training on CPU (`train.precision: bf16`) — `benchmarks/bench_cpu_precision.py`",
        "",
        f"Machine: {platform.machine()} Linux, {os.cpu_count()} CPU cores (native bf16: "
        f"{cpu_has_native_bf16()}), no GPU. Date: {when}. "
        f"Command: `{command}`.",
        "",
        f"multilingual-e5-small (12 layers), one AdamW step on {args.batch} ChnSentiCorp reviews "
        f"padded to {tokens:.0f} tokens on average, median of {args.steps} steps:",
        "",
        *lines,
        "",
        f"bf16 against fp32 mean-pooled embeddings of the same reviews: cosine {cosine:.4f}.",
        end,
    ])  # fmt: skip
    write_section(args.results, section, start, end, before="## Chinese recipes on multilingual")
    print(section)


if __name__ == "__main__":
    main()
