"""Measure a causal-LM variant: size, greedy tokens/s, peak memory, perplexity, exact match.

Run in a fresh process per model by `measure.measure_in_fresh_process(kind="causal_lm")`, so
the peak resident memory is this model's alone (load + generation), and timings are not skewed
by what an earlier model left behind. The model loads exactly as `llmline serve` loads it.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

TIMED_PROMPTS = 8  # fixed prompts: the first validation questions
NEW_TOKENS = 32  # forced length, so every variant decodes the same number of tokens


def tokens_per_second(generator: Any, prompts: list[str]) -> float:
    """Greedy decoding at batch 1 with exactly NEW_TOKENS new tokens per prompt."""
    import torch

    fixed = {"max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS, "do_sample": False,
             "pad_token_id": generator.tokenizer.pad_token_id}  # fmt: skip
    generator.tokenizer.padding_side = "left"
    batches = [generator._encode([p]) for p in prompts]
    with torch.inference_mode():
        generator.model.generate(**batches[0], **fixed)  # warm-up, not counted
        started = time.perf_counter()
        for batch in batches:
            generator.model.generate(**batch, **fixed)
        elapsed = time.perf_counter() - started
    return NEW_TOKENS * len(batches) / elapsed


def measure_generative_directory(
    name: str, directory: Path, validation: Path, rows: int | None
) -> dict[str, Any]:
    from llmline.models.backend import load_serving_predictor
    from llmline.optimize.measure import size_on_disk_mb
    from llmline.optimize.quantize import quantized_state_bytes
    from llmline.tasks.causal_lm import answer_perplexity, generation_scores
    from llmline.train.chat_data import read_conversations_snapshot

    # The service's thread count (cores - 1 for torch, see load_serving_predictor): on 2 cores
    # shared with other work, 2 spinning OpenMP threads made the tiny test model 5x slower.
    generator: Any = load_serving_predictor(directory, "torch", cores=os.cpu_count() or 1)
    conversations = list(read_conversations_snapshot(validation))[:rows]
    prompts = [generator.chat_prompt(c[:-1]) for c in conversations[:TIMED_PROMPTS]]
    speed = tokens_per_second(generator, prompts)
    scores = generation_scores(generator, conversations)
    ppl = answer_perplexity(generator, conversations, generator.meta.max_length)
    quantized = generator.meta.extra.get("quantization")
    size = quantized_state_bytes(generator.model) / 1e6 if quantized else size_on_disk_mb(directory)
    return {
        "name": name,
        "size_mb": round(size, 2),
        "tokens_per_s": round(speed, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "perplexity": round(ppl, 4),
        "exact_match": scores["exact_match"],
        "rouge_l": scores["rouge_l"],
        "rows": len(conversations),
    }
