"""Token classification (NER): word-piece label alignment, seqeval metrics, HF Trainer.

Registers the `ner` task head with its own data preparation (CoNLL / JSONL spans) and
evaluation (entity-level precision/recall/F1 per type with seqeval).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from llmline.console import console
from llmline.data.stage import DataArtifact
from llmline.models.ner import label_config
from llmline.models.resolve import resolve_model
from llmline.spec import PipelineSpec
from llmline.train.heads import TASK_DATA, TASK_EVALUATORS, TASK_HEADS, TrainResult
from llmline.train.token_data import Sentence, prepare_token_data, read_sentences_snapshot
from llmline.workspace import Workspace

IGNORE = -100  # label id the loss skips (HF convention)

TASK_DATA.register("ner")(prepare_token_data)


def align_labels(
    word_ids: list[int | None], word_tags: list[int], *, label_all_tokens: bool, tags: list[str]
) -> list[int]:
    """Per-sub-token label ids: the first piece of each word gets the word's tag; later pieces
    get IGNORE, or (label_all_tokens) the word's tag with B- turned into I-."""
    index = {tag: i for i, tag in enumerate(tags)}
    out, previous = [], None
    for word in word_ids:
        if word is None:
            out.append(IGNORE)
        elif word != previous:
            out.append(word_tags[word])
        elif label_all_tokens:
            tag = tags[word_tags[word]]
            out.append(index.get("I-" + tag[2:], word_tags[word]) if tag.startswith("B-") else
                       word_tags[word])  # fmt: skip
        else:
            out.append(IGNORE)
        previous = word
    return out


def encode_sentences(
    sentences: list[Sentence], tokenizer: Any, tags: list[str], *, max_length: int,
    label_all_tokens: bool = False,
) -> list[dict[str, Any]]:  # fmt: skip
    index = {tag: i for i, tag in enumerate(tags)}
    encoded = tokenizer(
        [s.tokens for s in sentences], is_split_into_words=True, truncation=True,
        max_length=max_length,
    )  # fmt: skip
    features = []
    for row, sentence in enumerate(sentences):
        word_tags = [index[t] for t in sentence.tags]
        labels = align_labels(encoded.word_ids(row), word_tags,
                              label_all_tokens=label_all_tokens, tags=tags)  # fmt: skip
        ids, mask = encoded["input_ids"][row], encoded["attention_mask"][row]
        features.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return features


def seqeval_report(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, Any]:
    """Entity-level micro and macro P/R/F1, per-type scores (seqeval), token accuracy."""
    from seqeval.metrics import accuracy_score, classification_report, f1_score
    from seqeval.scheme import IOB2

    per_type = classification_report(
        gold, predicted, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    types = {
        k: {"precision": round(float(v["precision"]), 4), "recall": round(float(v["recall"]), 4),
            "f1": round(float(v["f1-score"]), 4), "support": int(v["support"])}
        for k, v in per_type.items() if not k.endswith("avg")
    }  # fmt: skip
    micro = per_type.get("micro avg", {})
    return {
        "rows": len(gold),
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "entity_precision": round(float(micro.get("precision", 0.0)), 4),
        "entity_recall": round(float(micro.get("recall", 0.0)), 4),
        "entity_f1": round(float(f1_score(gold, predicted, mode="strict", scheme=IOB2)), 4),
        "macro_f1": round(float(per_type.get("macro avg", {}).get("f1-score", 0.0)), 4),
        "per_type": types,
    }


def _metrics_fn(tags: list[str]) -> Any:
    def compute(eval_pred: Any) -> dict[str, float]:
        import numpy as np

        logits, labels = eval_pred.predictions, eval_pred.label_ids
        predicted = np.asarray(logits[0] if isinstance(logits, tuple) else logits).argmax(-1)
        predicted = predicted[:, predicted.shape[1] - labels.shape[1] :]  # prompt tuning's prefix
        gold_rows, pred_rows = [], []
        for p_row, l_row in zip(predicted, labels, strict=True):
            keep = l_row != IGNORE
            gold_rows.append([tags[i] for i in l_row[keep]])
            pred_rows.append([tags[i] for i in p_row[keep]])
        report = seqeval_report(gold_rows, pred_rows)
        return {k: report[k] for k in ("entity_f1", "entity_precision", "entity_recall",
                                       "macro_f1", "accuracy")}  # fmt: skip

    return compute


@TASK_HEADS.register("ner")
def train_ner(
    spec: PipelineSpec, data: DataArtifact, out_dir: Path, workspace: Workspace
) -> TrainResult:
    """Fine-tune AutoModelForTokenClassification; keep the best epoch by entity F1."""
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
    )

    from llmline.train import controls
    from llmline.train.checkpoints import resume_checkpoint
    from llmline.train.losses import class_weights, token_loss
    from llmline.train.progress import use_rich_progress

    started = time.perf_counter()
    cfg, tags = spec.train, data.labels
    controls.seed_and_threads(spec)
    base_dir = resolve_model(cfg.base_model, workspace)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForTokenClassification.from_pretrained(
        base_dir, use_safetensors=True, **label_config(tags)
    )
    encode: dict[str, Any] = {
        "max_length": cfg.max_length,
        "label_all_tokens": cfg.label_all_tokens,
    }
    train = encode_sentences(read_sentences_snapshot(data.train), tokenizer, tags, **encode)
    validation = encode_sentences(
        read_sentences_snapshot(data.validation), tokenizer, tags, **encode
    )
    controls.apply_freeze(model.base_model, cfg.freeze)
    steps = _total_steps(len(train), cfg)
    if cfg.peft:
        model = controls.apply_peft(model, cfg.peft, task_type="TOKEN_CLS", total_steps=steps)
    checkpoints = out_dir / "checkpoints"
    resume = resume_checkpoint(checkpoints)
    weights = class_weights(cfg, tags, [i for f in train for i in f["labels"]])
    prompt_tuning = cfg.peft is not None and cfg.peft.method == "prompt"
    loss = token_loss(
        model, smoothing=cfg.label_smoothing, weights=weights, virtual_tokens=prompt_tuning
    )
    trainer = Trainer(
        model=model,
        args=controls.training_arguments(
            cfg, checkpoints, seed=spec.seed, metric="entity_f1", sampling="group_by_length"
        ),
        compute_loss_func=loss,
        train_dataset=train, eval_dataset=validation,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer, compute_metrics=_metrics_fn(tags),
        optimizers=(controls.build_optimizer(model, cfg, ("classifier",)), None),
        callbacks=controls.callbacks(cfg, model),
    )  # fmt: skip
    use_rich_progress(trainer)
    output = trainer.train(resume_from_checkpoint=resume)
    best = controls.best_evaluation(trainer)
    model_dir = out_dir / "model"
    if trainer.is_world_process_zero():  # data-parallel workers: rank 0 alone writes
        save_token_model(trainer.model, tokenizer, model_dir, spec, base_dir, tags)
    seconds = time.perf_counter() - started
    console.print(
        f"[bold]train[/]: {output.global_step} steps in {seconds:.0f}s, "
        f"best validation entity F1 {best['eval_entity_f1']:.4f}"
    )
    return TrainResult(model_dir, {"train_loss": output.training_loss, **best}, seconds,
                       output.global_step)  # fmt: skip


def _total_steps(rows: int, cfg: Any) -> int:
    import math

    if cfg.max_steps:
        return int(cfg.max_steps)
    per_epoch = math.ceil(rows / cfg.batch_size / cfg.gradient_accumulation_steps)
    return max(1, math.ceil(per_epoch * cfg.epochs))


def save_token_model(
    model: Any, tokenizer: Any, directory: Path, spec: PipelineSpec, base_dir: Path,
    tags: list[str],
) -> Path:  # fmt: skip
    """safetensors weights (or the adapter pinned to its base), tokenizer, llmline_model.json."""
    from llmline.models.adapters import pin_base
    from llmline.models.classifier import ClassifierMeta

    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    extra: dict[str, Any] = {"label_all_tokens": spec.train.label_all_tokens}
    if spec.train.peft:
        extra["peft"] = spec.train.peft.model_dump()
        extra["base"] = pin_base(directory, spec.train.base_model, base_dir)
    meta = ClassifierMeta(
        labels=tags, pooling="token", normalize=False, max_length=spec.train.max_length,
        task="ner", base_model=spec.train.base_model, extra=extra,
    )  # fmt: skip
    meta.save(directory)
    return directory


@TASK_EVALUATORS.register("ner")
def evaluate_ner(
    spec: PipelineSpec, model_dir: Path, snapshot: Path, out_dir: Path
) -> dict[str, Any]:
    """seqeval report on the validation snapshot, gates on token accuracy / macro entity F1."""
    from llmline.evaluate.report import check_gates
    from llmline.lineage import write_json_atomic, write_text_atomic
    from llmline.models.ner import load_ner_predictor

    predictor = load_ner_predictor(model_dir)
    sentences = read_sentences_snapshot(snapshot)
    predicted = predictor.tag_words([s.tokens for s in sentences])
    report = seqeval_report([s.tags for s in sentences], predicted)
    report["gates"] = check_gates(report, spec.evaluate.gates)
    report["passed"] = all(g["passed"] for g in report["gates"])
    write_json_atomic(out_dir / "report.json", report)
    write_text_atomic(out_dir / "report.md", render_ner_markdown(report))
    console.print(
        f"[bold]evaluate[/]: entity F1 {report['entity_f1']:.4f} (macro {report['macro_f1']:.4f})"
        f", token accuracy {report['accuracy']:.4f} on {report['rows']} sentences"
    )
    return report


def render_ner_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# NER evaluation report (seqeval, strict IOB2)", "",
        f"- sentences: {report['rows']}",
        f"- entity F1 (micro): **{report['entity_f1']:.4f}** "
        f"(P {report['entity_precision']:.4f}, R {report['entity_recall']:.4f})",
        f"- entity F1 (macro over types): {report['macro_f1']:.4f}",
        f"- token accuracy: {report['accuracy']:.4f}", "",
        "| type | precision | recall | F1 | support |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for name, m in sorted(report["per_type"].items()):
        lines.append(f"| {name} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | "
                     f"{m['support']} |")  # fmt: skip
    return "\n".join(lines) + "\n"
