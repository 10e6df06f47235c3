"""Continued masked-LM pre-training of an encoder on unlabeled domain text.

Registers the `mlm` task head with its corpus preparation and evaluation (masked-token
perplexity before and after). Long texts are cut into windows of `train.max_length` tokens
rather than truncated, so no text is wasted. Validation masks are drawn once with the run's
seed, so the loss before and after training is measured on the same masked tokens.

The saved directory is a complete `*ForMaskedLM` checkpoint: `AutoModel` loads its encoder
(dropping the head), so it can be the `train.base_model` of a later classification run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from llmline.console import console
from llmline.data.stage import DataArtifact
from llmline.errors import ModelError
from llmline.models.resolve import resolve_model
from llmline.spec import PipelineSpec
from llmline.train.corpus_data import prepare_corpus, read_texts
from llmline.train.heads import TASK_DATA, TASK_EVALUATORS, TASK_HEADS, TrainResult
from llmline.train.lm_metrics import (
    IGNORE,
    evaluation_device,
    lm_gates,
    lm_report_markdown,
    token_scores,
)
from llmline.train.pretrain import pretrain_settings, pretrain_spec
from llmline.workspace import Workspace

TASK = "mlm"
TASK_DATA.register(TASK)(prepare_corpus)


def encode_windows(texts: list[str], tokenizer: Any, max_length: int) -> list[dict[str, Any]]:
    """Each text as one or more windows of at most max_length tokens, special tokens included."""
    encoded = tokenizer(
        texts, truncation=True, max_length=max_length, return_overflowing_tokens=True
    )
    specials = tokenizer.num_special_tokens_to_add()
    return [
        {"input_ids": ids, "attention_mask": [1] * len(ids)}
        for ids in encoded["input_ids"]
        if len(ids) > specials  # a text that tokenizes to nothing
    ]


def fixed_masks(
    features: list[dict[str, Any]], tokenizer: Any, probability: float, seed: int
) -> list[dict[str, Any]]:
    """Mask each validation window once, reproducibly: (input_ids with masks, labels)."""
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=probability, seed=seed)
    masked = []
    for feature in features:
        batch = collator([feature])
        masked.append(
            {
                "input_ids": batch["input_ids"][0].tolist(),
                "attention_mask": feature["attention_mask"],
                "labels": batch["labels"][0].tolist(),
            }
        )
    return masked


class MaskingCollator:
    """Fresh random masks for training rows; validation rows come masked (they have labels)."""

    def __init__(self, tokenizer: Any, probability: float, seed: int) -> None:
        from transformers import DataCollatorForLanguageModeling

        self.random = DataCollatorForLanguageModeling(
            tokenizer, mlm_probability=probability, seed=seed
        )
        self.pad_id = tokenizer.pad_token_id

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if "labels" not in features[0]:
            return dict(self.random(features))
        return pad_masked(features, self.pad_id)


def pad_masked(features: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(f["input_ids"]) for f in features)

    def padded(key: str, value: int) -> Any:
        return torch.tensor([list(f[key]) + [value] * (width - len(f[key])) for f in features])

    return {
        "input_ids": padded("input_ids", pad_id),
        "attention_mask": padded("attention_mask", 0),
        "labels": padded("labels", IGNORE),
    }


def load_masked_lm(directory: Path) -> Any:
    """AutoModelForMaskedLM; a sentence encoder saved without its MLM head (MiniLM) gets a fresh
    one, its decoder tied to the word embeddings, which is said rather than left to a warning."""
    from transformers import AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report is summarised below instead
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(
            directory, use_safetensors=True, output_loading_info=True
        )
    except ValueError as exc:  # e.g. a decoder-only config has no masked-LM class
        raise ModelError(
            f"{directory} cannot be loaded as a masked LM: {str(exc).splitlines()[0]}",
            where="train.base_model",
            fix="use an encoder such as packaged:minilm or a BERT/RoBERTa directory",
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    fresh = sorted(info.get("missing_keys") or [])
    if fresh:
        output, embeddings = model.get_output_embeddings(), model.get_input_embeddings()
        tied = output is not None and output.weight is embeddings.weight
        console.print(
            f"the base model has no masked-LM head: {len(fresh)} head tensors start fresh"
            + (", the decoder tied to the word embeddings" if tied else "")
        )
    return model


@TASK_HEADS.register(TASK)
def train_mlm(
    spec: PipelineSpec, data: DataArtifact, out_dir: Path, workspace: Workspace
) -> TrainResult:
    """Continue masked-LM training on data.train; keep the step with the lowest eval loss."""
    from transformers import AutoTokenizer, Trainer

    from llmline.train import controls
    from llmline.train.checkpoints import resume_checkpoint
    from llmline.train.loss_curve import lm_schedule, train_with_curve

    started = time.perf_counter()
    cfg = spec.train
    pre = pretrain_settings(cfg, TASK)
    controls.seed_and_threads(spec)
    base_dir = resolve_model(cfg.base_model, workspace)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.mask_token is None:
        raise ModelError(
            f"the tokenizer of {cfg.base_model} has no mask token",
            where="train.base_model",
            fix="use an encoder such as packaged:minilm",
        )
    model = load_masked_lm(base_dir)
    controls.apply_freeze(model.base_model, cfg.freeze)
    train = encode_windows(read_texts(data.train), tokenizer, cfg.max_length)
    validation = fixed_masks(
        encode_windows(read_texts(data.validation), tokenizer, cfg.max_length),
        tokenizer,
        pre.mlm_probability,
        spec.seed,
    )
    checkpoints = out_dir / "checkpoints"
    resume = resume_checkpoint(checkpoints)
    args = controls.training_arguments(
        cfg, checkpoints, seed=spec.seed, metric="loss", greater_is_better=False
    )
    trainer = Trainer(
        model=model,
        args=lm_schedule(args, pre),
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        data_collator=MaskingCollator(tokenizer, pre.mlm_probability, spec.seed),
        optimizers=(controls.build_optimizer(model, cfg, ("cls.predictions",)), None),
        callbacks=controls.callbacks(cfg, model),
    )
    output, metrics = train_with_curve(trainer, resume)
    metrics |= {
        "train_windows": len(train),
    }
    model_dir = out_dir / "model"
    if trainer.is_world_process_zero():  # data-parallel workers: rank 0 alone writes
        metrics.update(_write_outputs(trainer, tokenizer, spec, out_dir, metrics))
    seconds = time.perf_counter() - started
    console.print(
        f"[bold]train[/]: {output.global_step} steps in {seconds:.0f}s, masked-token perplexity "
        f"{metrics['initial_perplexity']:.2f} -> {metrics['eval_perplexity']:.2f}"
    )
    return TrainResult(model_dir, metrics, seconds, output.global_step)


def _write_outputs(
    trainer: Any, tokenizer: Any, spec: PipelineSpec, out_dir: Path, metrics: dict[str, Any]
) -> dict[str, str]:
    from llmline.models.classifier import ClassifierMeta
    from llmline.train.loss_curve import curve_points, write_loss_curve

    directory = out_dir / "model"
    directory.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    extra = {
        "pretrain": pretrain_spec(spec.train).model_dump(),
        "initial_perplexity": metrics["initial_perplexity"],
    }
    ClassifierMeta(
        labels=[],
        pooling="none",
        normalize=False,
        max_length=spec.train.max_length,
        task=TASK,
        base_model=spec.train.base_model,
        extra=extra,
    ).save(directory)
    points = curve_points(trainer.state.log_history, metrics["initial_eval_loss"])
    curve = write_loss_curve(points, out_dir / "train", f"{spec.name} (masked LM)")
    return {"loss_curve": str(curve["json"]), "loss_curve_png": str(curve["png"])}


@TASK_EVALUATORS.register(TASK)
def evaluate_mlm(
    spec: PipelineSpec, model_dir: Path, snapshot: Path, out_dir: Path
) -> dict[str, Any]:
    """Masked-token perplexity, accuracy and macro-F1 on the validation windows (same masks)."""
    from transformers import AutoTokenizer

    from llmline.lineage import write_json_atomic, write_text_atomic
    from llmline.models.classifier import ClassifierMeta

    pre = pretrain_spec(spec.train)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = load_masked_lm(model_dir).to(evaluation_device())
    windows = encode_windows(read_texts(snapshot), tokenizer, spec.train.max_length)
    masked = fixed_masks(windows, tokenizer, pre.mlm_probability, spec.seed)
    size = spec.evaluate.batch_size
    batches = (
        pad_masked(masked[i : i + size], tokenizer.pad_token_id)
        for i in range(0, len(masked), size)
    )
    report: dict[str, Any] = {
        "rows": len(masked),
        **token_scores(model, batches, shift=False, total=-(-len(masked) // size)),
    }
    report["perplexity_before"] = ClassifierMeta.load(model_dir).extra.get("initial_perplexity")
    report["gates"] = lm_gates(report, spec.evaluate.gates)
    report["passed"] = all(g["passed"] for g in report["gates"])
    write_json_atomic(out_dir / "report.json", report)
    write_text_atomic(out_dir / "report.md", lm_report_markdown(report, "Masked-LM evaluation"))
    console.print(
        f"[bold]evaluate[/]: masked-token perplexity {report['perplexity']:.2f} (before "
        f"{report['perplexity_before'] or float('nan'):.2f}), accuracy {report['accuracy']:.4f}"
    )
    return report
