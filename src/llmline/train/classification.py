"""Fine-tune a sentence classifier with HF Trainer: probe-initialised head, mean pooling."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.console import console, progress_bar
from llmline.data.stage import DataArtifact, read_snapshot
from llmline.models.classifier import ClassifierMeta, build_classifier, save_classifier
from llmline.models.resolve import resolve_model
from llmline.spec import PipelineSpec, TrainSpec
from llmline.train.heads import TASK_HEADS, TrainResult
from llmline.workspace import Workspace


@dataclass
class EncodedSplit:
    features: list[dict[str, Any]]
    label_ids: list[int]


@TASK_HEADS.register("classification")
def train_classifier(
    spec: PipelineSpec, data: DataArtifact, out_dir: Path, workspace: Workspace
) -> TrainResult:
    """Train on data.train, pick the best epoch on data.validation, save to out_dir/model."""
    from transformers import AutoModel, AutoTokenizer, Trainer

    from llmline.models.adapters import pin_base
    from llmline.train import controls
    from llmline.train.checkpoints import resume_checkpoint
    from llmline.train.losses import class_weights
    from llmline.train.progress import use_rich_progress

    started = time.perf_counter()
    cfg = spec.train
    controls.seed_and_threads(spec)
    base_dir = resolve_model(cfg.base_model, workspace)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    encoder = AutoModel.from_pretrained(base_dir, use_safetensors=True)
    meta = ClassifierMeta(
        labels=data.labels, pooling=cfg.pooling, normalize=cfg.pooling == "mean",
        max_length=cfg.max_length, base_model=cfg.base_model,
    )  # fmt: skip
    train = encode_split(data.train, tokenizer, data.labels, cfg.max_length)
    validation = encode_split(data.validation, tokenizer, data.labels, cfg.max_length)
    weights = class_weights(cfg, data.labels, train.label_ids)
    model = build_classifier(
        encoder, meta, label_smoothing=cfg.label_smoothing, head_dropout=cfg.head_dropout,
        class_weights=weights,
    )  # fmt: skip

    checkpoints = out_dir / "checkpoints"
    resume = resume_checkpoint(checkpoints)
    if not resume and cfg.head_init == "probe":
        init_head_from_probe(model, train, cfg, seed=spec.seed, weights=weights)
    adapter = apply_body_controls(model, cfg, rows=len(train.features))

    trainer = Trainer(
        model=model,
        args=controls.training_arguments(
            cfg, checkpoints, seed=spec.seed, metric="accuracy", sampling="group_by_length"
        ),
        train_dataset=train.features,
        eval_dataset=validation.features,
        data_collator=_collator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=classification_metrics,
        optimizers=(build_optimizer(model, cfg), None),
    )
    use_rich_progress(trainer)
    for callback in controls.callbacks(cfg, adapter):
        trainer.add_callback(callback)
    output = trainer.train(resume_from_checkpoint=resume)
    best = controls.best_evaluation(trainer)
    model_dir = out_dir / "model"
    if trainer.is_world_process_zero():  # data-parallel workers: rank 0 alone writes
        save_classifier(trainer.model, tokenizer, model_dir)
        if adapter is not None:  # the adapter is saved alone: pin the base it belongs to
            pin_base(model_dir, cfg.base_model, base_dir)
    seconds = time.perf_counter() - started
    console.print(
        f"[bold]train[/]: {output.global_step} steps in {seconds:.0f}s, "
        f"best validation accuracy {best['eval_accuracy']:.4f}"
    )
    return TrainResult(
        model_dir=model_dir,
        metrics={"train_loss": output.training_loss, **best},
        seconds=seconds,
        steps=output.global_step,
    )


def apply_body_controls(model: Any, cfg: TrainSpec, *, rows: int) -> Any:
    """Freeze parts of the encoder and/or wrap it in a PEFT adapter (the head always trains).

    Returns the PEFT-wrapped encoder, or None when the whole encoder is fine-tuned.
    """
    import math

    from llmline.train import controls

    controls.apply_freeze(model.encoder, cfg.freeze)
    if cfg.peft is None:
        return None
    steps = cfg.max_steps or math.ceil(rows / cfg.batch_size * cfg.epochs)
    model.encoder = controls.apply_peft(
        model.encoder, cfg.peft, task_type="FEATURE_EXTRACTION", total_steps=steps
    )
    model.meta.extra["peft"] = cfg.peft.model_dump()
    return model.encoder


def encode_split(path: Path, tokenizer: Any, labels: list[str], max_length: int) -> EncodedSplit:
    texts, raw_labels = read_snapshot(path)
    index = {label: i for i, label in enumerate(labels)}
    label_ids = [index[str(label)] for label in raw_labels]
    encoded = tokenizer(texts, truncation=True, max_length=max_length)
    features = [
        {"input_ids": ids, "attention_mask": mask, "labels": label}
        for ids, mask, label in zip(
            encoded["input_ids"], encoded["attention_mask"], label_ids, strict=True
        )
    ]
    return EncodedSplit(features, label_ids)


def _collator(tokenizer: Any) -> Any:
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


def build_optimizer(model: Any, cfg: TrainSpec) -> Any:
    """AdamW with a separate (usually larger) learning rate for the new head."""
    import torch

    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, param in model.encoder.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
    head_lr = cfg.head_learning_rate or cfg.learning_rate
    groups = [
        {"params": decay, "lr": cfg.learning_rate, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "lr": cfg.learning_rate, "weight_decay": 0.0},
        {"params": list(model.head.parameters()), "lr": head_lr, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]])


def init_head_from_probe(
    model: Any, train: EncodedSplit, cfg: TrainSpec, *, seed: int,
    weights: list[float] | None = None,
) -> None:  # fmt: skip
    """Start the head as a logistic regression fitted on frozen sentence embeddings.

    A random head first drags the pretrained body around while it learns what a linear probe
    finds in seconds; starting from the probe keeps early gradients small and useful. weights
    (the class weights of the loss) weigh the probe's classes the same way.
    """
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    features, label_ids = train.features, train.label_ids
    if cfg.probe_max_rows and len(features) > cfg.probe_max_rows:
        pick = np.random.default_rng(seed).choice(len(features), cfg.probe_max_rows, replace=False)
        features = [features[i] for i in pick]
        label_ids = [label_ids[i] for i in pick]
    embeddings = embed_features(model, features, batch_size=cfg.eval_batch_size)
    class_weight = None if weights is None else dict(enumerate(weights))
    probe = LogisticRegression(C=cfg.probe_c, max_iter=1000, class_weight=class_weight)
    probe.fit(embeddings, np.asarray(label_ids))
    weight, bias = probe.coef_, probe.intercept_
    if weight.shape[0] == 1:  # binary LR keeps one row: split it across the two logits
        weight = np.vstack([-weight[0], weight[0]]) / 2
        bias = np.array([-bias[0], bias[0]]) / 2
    with torch.no_grad():
        model.head.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        model.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    accuracy = probe.score(embeddings, np.asarray(label_ids))
    console.print(
        f"probe head: fitted on {len(features)} embeddings in "
        f"{time.perf_counter() - started:.0f}s (train accuracy {accuracy:.3f})"
    )


def embed_features(model: Any, features: list[dict[str, Any]], *, batch_size: int) -> Any:
    """Pooled embeddings in input order, batching by length so padding stays small."""
    import numpy as np
    import torch

    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    out = np.zeros((len(features), model.encoder.config.hidden_size), dtype=np.float32)
    model.eval()
    with torch.inference_mode(), progress_bar() as bar:
        task = bar.add_task("embedding for the probe head", total=len(order))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = _pad([features[i] for i in chunk])
            out[chunk] = model.embed(batch["input_ids"], batch["attention_mask"]).float().numpy()
            bar.advance(task, len(chunk))
    model.train()
    return out


def _pad(features: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    width = max(len(f["input_ids"]) for f in features)
    ids = torch.zeros((len(features), width), dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for row, feature in enumerate(features):
        n = len(feature["input_ids"])
        ids[row, :n] = torch.tensor(feature["input_ids"])
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}


def classification_metrics(eval_pred: Any) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple | list):
        logits = logits[0]
    predicted = np.asarray(logits).argmax(-1)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, average="macro")),
    }
