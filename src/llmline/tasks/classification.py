"""Sentence classification: a pretrained encoder, mean (or CLS) pooling, a probe-initialised head.

Data comes from the generic data stage (one label per text); the model is
`models.classifier.build_classifier`; metrics are accuracy (primary) and macro-F1. Its sentence
settings (train.pooling, head_init, head_dropout, probe_c, probe_max_rows) shape fine-tuning
and stay in `train`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from llmline.console import console, progress_bar
from llmline.data.stage import DataArtifact, read_snapshot
from llmline.spec import PipelineSpec, StrictModel, TrainSpec
from llmline.tasks import EvalOptions, ReadOptions, Task, register
from llmline.train.prepared import Prepared
from llmline.workspace import Workspace


class ClassificationConfig(StrictModel):
    """Classification has no task-only settings: its sentence settings live in `train`."""


def build(
    spec: PipelineSpec, data: DataArtifact, workspace: Workspace, resume: str | None
) -> Prepared:
    """Encoder + pooled linear head; the head starts as a probe unless resuming."""
    from transformers import AutoModel, AutoTokenizer, DataCollatorWithPadding

    from llmline.models.classifier import build_classifier
    from llmline.models.encoding import encoder_prefixes
    from llmline.models.meta import ModelMeta
    from llmline.models.resolve import resolve_model
    from llmline.train.losses import class_weights

    cfg = spec.train
    base_dir = resolve_model(cfg.base_model, workspace)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    encoder = AutoModel.from_pretrained(base_dir, use_safetensors=True)
    # A text to classify is a "query" to E5 (its model card: use "query: " for classification)
    prefix = encoder_prefixes(base_dir).get("query", "")
    meta = ModelMeta(
        labels=data.labels, pooling=cfg.pooling, normalize=cfg.pooling == "mean",
        max_length=cfg.max_length, base_model=cfg.base_model,
        extra={"label_map": dict(spec.data.label_map), "text_prefix": prefix},
    )  # fmt: skip
    encode: dict[str, Any] = {"labels": data.labels, "max_length": cfg.max_length, "prefix": prefix}
    train, label_ids = encode_split(data.train, tokenizer, **encode)
    validation, _ = encode_split(data.validation, tokenizer, **encode)
    weights = class_weights(cfg, data.labels, label_ids)
    model = build_classifier(
        encoder, meta, label_smoothing=cfg.label_smoothing, head_dropout=cfg.head_dropout,
        class_weights=weights,
    )  # fmt: skip
    if not resume and cfg.head_init == "probe":
        init_head_from_probe(model, train, label_ids, cfg, seed=spec.seed, weights=weights)
    return Prepared(
        model=model, tokenizer=tokenizer, train=train, validation=validation,
        collator=DataCollatorWithPadding(tokenizer), body="encoder", head_names=("head.",),
        compute_metrics=classification_metrics, sampling="group_by_length",
        state={"base_dir": base_dir},
    )  # fmt: skip


def save(
    prepared: Prepared, trainer: Any, spec: PipelineSpec, model_dir: Path, metrics: dict[str, Any]
) -> dict[str, Any]:
    from llmline.models.adapters import pin_base
    from llmline.models.classifier import save_classifier

    model = trainer.model
    if spec.train.peft is not None:
        model.meta.extra["peft"] = spec.train.peft.model_dump()
    save_classifier(model, prepared.tokenizer, model_dir)
    if spec.train.peft is not None:  # the adapter is saved alone: pin the base it belongs to
        pin_base(model_dir, spec.train.base_model, prepared.state["base_dir"])
    return {}


def encode_split(
    path: Path, tokenizer: Any, *, labels: list[str], max_length: int, prefix: str = ""
) -> tuple[list[dict[str, Any]], list[int]]:
    texts, raw_labels = read_snapshot(path)
    index = {label: i for i, label in enumerate(labels)}
    label_ids = [index[str(label)] for label in raw_labels]
    encoded = tokenizer([prefix + text for text in texts], truncation=True, max_length=max_length)
    features = [
        {"input_ids": ids, "attention_mask": mask, "labels": label}
        for ids, mask, label in zip(
            encoded["input_ids"], encoded["attention_mask"], label_ids, strict=True
        )
    ]
    return features, label_ids


def init_head_from_probe(
    model: Any, features: list[dict[str, Any]], label_ids: list[int], cfg: TrainSpec, *,
    seed: int, weights: list[float] | None = None,
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


def read_file(path: Path, options: ReadOptions, model_dir: Path) -> tuple[list[str], list[str]]:
    """Texts and gold labels of a CSV/TSV/JSONL/Parquet file, renamed by the run's label map."""
    from llmline.data.clean import normalize_text
    from llmline.data.sources import read_records
    from llmline.errors import DataError
    from llmline.evaluate.files import refuse_pair, run_label_map, source_spec

    refuse_pair(options, "classification")
    records = list(read_records(source_spec(path, options), key="--data"))
    missing = sum(r.label is None for r in records)
    if missing:
        raise DataError(
            f"{missing} rows have no label in column {options.label_col!r}",
            where=str(path),
            fix="fill the labels or pick the right --label-col",
        )
    mapping = run_label_map(model_dir)
    labels = [mapping.get(str(r.label), str(r.label)) for r in records]
    return [normalize_text(r.text) for r in records], labels


def read_rows(snapshot: Path) -> tuple[list[str], list[str]]:
    texts, labels = read_snapshot(snapshot)
    return texts, [str(label) for label in labels]


def evaluate(
    model_dir: Path, rows: tuple[list[str], list[str]], options: EvalOptions
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class scores and the confusion matrix of the model on rows."""
    from llmline.evaluate.stage import evaluate_texts
    from llmline.models.predictor import load_predictor

    texts, gold = rows
    report = evaluate_texts(load_predictor(model_dir), texts, gold)
    console.print(
        f"[bold]evaluate[/]: accuracy {report['accuracy']:.4f}, macro-F1 "
        f"{report['macro_f1']:.4f} on {report['rows']} rows"
    )
    return report


def _load_predictor(directory: Path) -> Any:
    from llmline.models.predictor import load_classification_predictor

    return load_classification_predictor(directory)


def write_report_lazily(report: dict[str, Any], out_dir: Path) -> None:
    """The classification report (confusion matrix, per-label table); its plotting imports
    load only when a report is written. The pair task writes the same report."""
    from llmline.evaluate.report import write_report

    write_report(report, out_dir)


TASK = register(
    Task(
        name="classification", config=ClassificationConfig, metrics=("accuracy", "macro_f1"),
        primary="accuracy", greater_is_better=True, build=build, save=save,
        load_predictor=_load_predictor, read_snapshot=read_rows, read_file=read_file,
        evaluate=evaluate, write_report=write_report_lazily, peft_task_type="FEATURE_EXTRACTION",
        routes=("classify", "embeddings", "explain"),
    )
)  # fmt: skip
