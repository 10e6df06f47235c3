"""Pair classification: two texts -> a label (same question or not, relevant or not).

A cross-encoder: `AutoModelForSequenceClassification` reads both texts as one sequence
(`[CLS] a [SEP] b`), trained by the shared fit() with HF Trainer like any classifier (class
weights and label smoothing through the token loss, freezing, best checkpoint). A plain HF
model rather than sentence-transformers' CrossEncoder trainer: it needs no second skeleton,
and the saved directory still loads as a `CrossEncoder`, so a trained pair model is the
knowledge base's reranker (`kb.reranker`). Data: the generic data stage with
`data.source.pair_column`; both texts are cleaned, and a pair is a duplicate only when both are.
Metrics: accuracy (primary), macro-F1, and F1, precision and recall of the positive class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from llmline.console import console
from llmline.data.stage import DataArtifact
from llmline.errors import DataError, SpecError
from llmline.spec import PipelineSpec, StrictModel
from llmline.tasks import EvalOptions, ReadOptions, Task, register, task_config
from llmline.tasks.classification import write_report_lazily
from llmline.train.prepared import Prepared
from llmline.workspace import Workspace

METRICS = ("accuracy", "macro_f1", "f1", "precision", "recall")
Rows = tuple[list[str], list[str], list[str]]


class PairClassificationConfig(StrictModel):
    """Settings only pair classification has."""

    positive_label: str = Field(
        "1",
        description="The label meaning same / relevant (after data.label_map): f1, precision "
        "and recall are of this class, and a binary model's score is its probability.",
    )


def ordered_labels(labels: list[str], positive: str, where: str = "task_config") -> list[str]:
    """The data's labels with the positive one last: the column a reranker reads."""
    if positive not in labels:
        raise SpecError(
            f"positive_label {positive!r} is not a label of the data (labels: "
            f"{', '.join(labels[:10])})",
            where=f"{where}.positive_label",
            fix="set task_config.positive_label to the label meaning same/relevant",
        )
    return [label for label in labels if label != positive] + [positive]


def read_rows(snapshot: Path) -> Rows:
    from llmline.data.stage import read_pair_snapshot

    firsts, seconds, labels = read_pair_snapshot(snapshot)
    return firsts, [str(s) for s in seconds], [str(label) for label in labels]


def encode_pairs(
    rows: Rows, tokenizer: Any, *, labels: list[str], max_length: int, prefix: str = ""
) -> tuple[list[dict[str, Any]], list[int]]:
    """Token ids of each (prefix + first, prefix + second) pair and its label id."""
    firsts, seconds, gold = rows
    index = {label: i for i, label in enumerate(labels)}
    label_ids = [index[label] for label in gold]
    encoded = tokenizer(
        [prefix + t for t in firsts], [prefix + t for t in seconds], truncation=True,
        max_length=max_length,
    )  # fmt: skip
    features = [
        {"input_ids": ids, "attention_mask": mask, "labels": label}
        for ids, mask, label in zip(
            encoded["input_ids"], encoded["attention_mask"], label_ids, strict=True
        )
    ]
    for name in ("token_type_ids",):  # BERT tells the two texts apart; XLM-R has no such input
        if name in encoded:
            for feature, values in zip(features, encoded[name], strict=True):
                feature[name] = values
    return features, label_ids


def build(
    spec: PipelineSpec, data: DataArtifact, workspace: Workspace, resume: str | None
) -> Prepared:
    """The encoder with a sequence-classification head over the data's labels (positive last)."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
    )

    from llmline.models.encoding import encoder_prefixes
    from llmline.models.meta import ModelMeta
    from llmline.models.resolve import resolve_model
    from llmline.train.losses import class_weights, token_loss

    cfg = spec.train
    options = task_config(spec, PairClassificationConfig)
    labels = ordered_labels(data.labels, options.positive_label)
    base_dir = resolve_model(cfg.base_model, workspace)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForSequenceClassification.from_pretrained(
        base_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)}, use_safetensors=True,
    )  # fmt: skip
    # E5's model card: "query: " before both texts of a symmetric task (paraphrase, matching)
    prefix = encoder_prefixes(base_dir).get("query", "")
    encode: dict[str, Any] = {"labels": labels, "max_length": cfg.max_length, "prefix": prefix}
    train, label_ids = encode_pairs(read_rows(data.train), tokenizer, **encode)
    validation, _ = encode_pairs(read_rows(data.validation), tokenizer, **encode)
    weights = class_weights(cfg, labels, label_ids)
    meta = ModelMeta(
        labels=labels, pooling="cls", normalize=False, max_length=cfg.max_length,
        base_model=cfg.base_model, task="pair_classification",
        extra={"text_prefix": prefix, "positive_label": options.positive_label},
    )  # fmt: skip
    return Prepared(
        model=model, tokenizer=tokenizer, train=train, validation=validation,
        collator=DataCollatorWithPadding(tokenizer), head_names=("classifier",),
        compute_metrics=_metrics_fn(len(labels) - 1),
        compute_loss=token_loss(model, smoothing=cfg.label_smoothing, weights=weights),
        sampling="group_by_length", state={"base_dir": base_dir, "meta": meta},
    )  # fmt: skip


def _metrics_fn(positive: int) -> Any:
    def compute(eval_pred: Any) -> dict[str, float]:
        import numpy as np

        logits = eval_pred.predictions
        if isinstance(logits, tuple | list):
            logits = logits[0]
        predicted = np.asarray(logits).argmax(-1)
        return pair_metrics(np.asarray(eval_pred.label_ids), predicted, positive)

    return compute


def pair_metrics(gold: Any, predicted: Any, positive: Any) -> dict[str, float]:
    """Accuracy, macro-F1 and the positive class's F1, precision and recall."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    p, r, f, _ = precision_recall_fscore_support(
        gold, predicted, labels=[positive], average=None, zero_division=0
    )
    return {
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, average="macro", zero_division=0)), 4),
        "f1": round(float(f[0]), 4),
        "precision": round(float(p[0]), 4),
        "recall": round(float(r[0]), 4),
    }


def save(
    prepared: Prepared, trainer: Any, spec: PipelineSpec, model_dir: Path, metrics: dict[str, Any]
) -> dict[str, Any]:
    """The HF model (a binary head collapsed to one logit, see models.pairs), tokenizer, meta."""
    from llmline.models.pairs import collapse_binary_head
    from llmline.train.fit import save_pretrained

    model, meta = trainer.model, prepared.state["meta"]
    if len(meta.labels) == 2:
        collapse_binary_head(model, positive=1)
    save_pretrained(model, prepared.tokenizer, model_dir, spec, meta)
    return {}


def read_file(path: Path, options: ReadOptions, model_dir: Path) -> Rows:
    """First texts, second texts (--pair-col) and gold labels, renamed by the run's label map."""
    from llmline.data.clean import normalize_text
    from llmline.data.sources import read_records
    from llmline.evaluate.files import require_pair, run_label_map, source_spec

    require_pair(options, "pair_classification")
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
    firsts = [normalize_text(r.text) for r in records]
    return firsts, [normalize_text(r.pair or "") for r in records], labels


def evaluate(model_dir: Path, rows: Rows, options: EvalOptions) -> dict[str, Any]:
    """The metrics, per-class scores and confusion matrix of the model on labelled pairs."""
    from llmline.evaluate.report import classification_report
    from llmline.models.meta import ModelMeta
    from llmline.models.pairs import load_pair_predictor

    firsts, seconds, gold = rows
    if not firsts:
        raise DataError("nothing to evaluate: the data has no rows", fix="check the data file")
    predictor = load_pair_predictor(model_dir)
    predictor.batch_size = options.batch_size
    predicted = [p["label"] for p in predictor.predict(list(zip(firsts, seconds, strict=True)))]
    labels = list(predictor.labels) + sorted(set(gold) - set(predictor.labels))
    report = classification_report(gold, predicted, labels)
    positive = str(ModelMeta.load(model_dir).extra.get("positive_label", predictor.labels[-1]))
    metrics = pair_metrics(gold, predicted, positive)
    report.update(metrics=metrics, primary="accuracy", **metrics)
    console.print(
        f"[bold]evaluate[/]: accuracy {metrics['accuracy']:.4f}, F1 ({positive}) "
        f"{metrics['f1']:.4f} on {report['rows']} pairs"
    )
    return report


def _load_predictor(directory: Path) -> Any:
    from llmline.models.pairs import load_pair_predictor

    return load_pair_predictor(directory)


TASK = register(
    Task(
        name="pair_classification", config=PairClassificationConfig, metrics=METRICS,
        primary="accuracy", greater_is_better=True, build=build, save=save,
        load_predictor=_load_predictor, read_snapshot=read_rows, read_file=read_file,
        evaluate=evaluate, write_report=write_report_lazily, routes=("pairs",),
    )
)  # fmt: skip
