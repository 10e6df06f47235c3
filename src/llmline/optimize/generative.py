"""Compressed variants of a causal LM (a tuned chat model): dynamic int8 and GGUF exports.

A causal LM gets its own method table: the classifier methods (ONNX export of a pooled
encoder, head pruning, distillation into fewer encoder layers) do not apply to a decoder, and
asking for one should say so rather than fail inside it. A LoRA (or other mergeable) adapter
is merged first: quantizing base + adapter would quantize the low-rank matrices separately and
keep two matmuls per layer, and GGUF has no place for an unmerged adapter.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmline.models.backend import DYNAMIC_INT8, QUANTIZATION_KEY
from llmline.optimize.methods import OptimizeInputs
from llmline.variants import Registry

CausalLmMethod = Callable[[OptimizeInputs, Path], Path]
CAUSAL_LM_METHODS: Registry[CausalLmMethod] = Registry("optimize method for causal LMs")


def is_causal_lm(model_dir: Path) -> bool:
    from llmline.models.backend import infer_task

    return infer_task(model_dir) == "causal_lm"


def full_model(model_dir: Path, scratch: Path) -> Path:
    """model_dir itself when it holds full weights, else base + adapter merged into scratch."""
    from llmline.models.adapters import is_adapter_dir
    from llmline.models.merge import merge_adapter

    if not is_adapter_dir(model_dir):
        return model_dir
    return merge_adapter(model_dir, scratch).output


@CAUSAL_LM_METHODS.register(DYNAMIC_INT8)
def dynamic_int8(inputs: OptimizeInputs, out_dir: Path) -> Path:
    """fp32 safetensors plus the recipe; int8 Linear layers are made on load (see quantize)."""
    from llmline.models.meta import MODEL_META, ModelMeta

    source = full_model(inputs.model_dir, out_dir)
    if source != out_dir:
        shutil.copytree(source, out_dir, dirs_exist_ok=True)
    plain = ModelMeta(labels=[], pooling="none", normalize=False, task="causal_lm")
    meta = ModelMeta.load(out_dir) if (out_dir / MODEL_META).exists() else plain
    meta.extra = {**meta.extra, QUANTIZATION_KEY: DYNAMIC_INT8}
    meta.save(out_dir)
    return out_dir


def _gguf(qtype: str) -> CausalLmMethod:
    def export(inputs: OptimizeInputs, out_dir: Path) -> Path:
        import tempfile

        from llmline.optimize.gguf_export import export_gguf

        with tempfile.TemporaryDirectory(prefix="llmline-merge-") as scratch:
            return export_gguf(full_model(inputs.model_dir, Path(scratch)), out_dir, qtype=qtype)

    export.__doc__ = f"GGUF file with {qtype} linear weights (llama.cpp, Ollama; see gguf_export)."
    return export


CAUSAL_LM_METHODS.register("gguf-q8_0")(_gguf("Q8_0"))
CAUSAL_LM_METHODS.register("gguf-f16")(_gguf("F16"))


def gate(name: str, base: dict[str, Any], row: dict[str, Any], spec: Any) -> dict[str, Any]:
    """Exact match may drop by max_accuracy_drop, perplexity rise by max_perplexity_increase."""
    drop = base["exact_match"] - row["exact_match"]
    rise = row["perplexity"] / max(base["perplexity"], 1e-9) - 1
    row["exact_match_delta"] = round(-drop, 4)
    row["perplexity_ratio"] = round(1 + rise, 4)
    row["speedup"] = round(row["tokens_per_s"] / max(base["tokens_per_s"], 1e-9), 2)
    passed = drop <= spec.max_accuracy_drop + 1e-9 and rise <= spec.max_perplexity_increase + 1e-9
    return {
        "gate": f"{name}.exact_match_and_perplexity",
        "threshold": {"exact_match_drop": spec.max_accuracy_drop,
                      "perplexity_increase": spec.max_perplexity_increase},
        "actual": {"exact_match_drop": round(drop, 4), "perplexity_increase": round(rise, 4)},
        "passed": passed,
    }  # fmt: skip


def summary_line(row: dict[str, Any], base: dict[str, Any]) -> str:
    verdict = "passes" if row["gate"]["passed"] else "REJECTED (quality gate)"
    return (
        f"[bold]optimize[/]: {row['name']} — {row['size_mb']:.1f} MB (was {base['size_mb']:.1f}),"
        f" {row['tokens_per_s']:.1f} tokens/s ({row['speedup']}x), peak RSS "
        f"{row['peak_rss_mb']:.0f} MB, exact match {row['exact_match_delta']:+.4f}, perplexity "
        f"x{row['perplexity_ratio']} — {verdict}"
    )


def report_table(baseline: dict[str, Any], variants: list[dict[str, Any]]) -> str:
    head = (
        "| variant | size MB | tokens/s | peak RSS MB | perplexity | exact match | gate |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    rows = [_row(baseline, "-")]
    rows += [_row(v, "pass" if v["gate"]["passed"] else "REJECTED") for v in variants]
    return head + "\n".join(rows) + "\n"


def _row(row: dict[str, Any], gate: str) -> str:
    return (
        f"| {row['name']} | {row['size_mb']:.1f} | {row['tokens_per_s']:.1f} "
        f"| {row['peak_rss_mb']:.0f} | {row['perplexity']:.3f} | {row['exact_match']:.4f} "
        f"| {gate} |"
    )
