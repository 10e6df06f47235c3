"""Embedding: a bi-encoder fine-tuned with in-batch negatives on (query, positive) pairs.

sentence-transformers does the training (`MultipleNegativesRankingLoss`, its trainer through
the shared fit(), batches without duplicate texts so no positive is another row's false
negative); the saved directory is a sentence-transformers model with `llmline_encoder.json`
(the base's prefixes, its pooling), so `/v1/embeddings`, `models.embedding` and the knowledge
base's `Encoder` embed with it exactly as it was trained. E5's `query: ` goes before queries,
`passage: ` before passages.

Data: the generic data stage with `data.source.pair_column` (the passage). With a label column,
labels must be 0/1 and only label-1 pairs train; the 0 rows' passages stay in the held-out
corpus as distractors. Metrics (own exact code, `retrieval_metrics`): each distinct validation
query searches every distinct validation passage; recall@k is the share of queries with a gold
passage in the top k (any of its golds, the `llmline kb eval` definition: sentence-transformers'
evaluator instead counts the share of golds found), MRR@10 and nDCG@10 (binary relevance).
Primary: MRR@10, which credits a gold passage at rank 2 instead of scoring it as a miss like
recall@1, and so moves less on a few hundred validation queries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmline.console import console
from llmline.data.stage import DataArtifact
from llmline.errors import DataError
from llmline.spec import PipelineSpec, StrictModel
from llmline.tasks import EvalOptions, ReadOptions, Task, register
from llmline.train.prepared import Prepared
from llmline.workspace import Workspace

METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
POSITIVE, NEGATIVE = "1", "0"
Rows = tuple[list[str], list[str], list[str | None]]


class EmbeddingConfig(StrictModel):
    """The embedding task has no task-only settings (prefixes come from the base model)."""


def check_labels(labels: list[str | None], where: str) -> None:
    """Pair labels are 1 (a matching pair), 0 (not) or absent (every pair matches)."""
    bad = sorted({str(label) for label in labels if label is not None} - {POSITIVE, NEGATIVE})
    if bad:
        raise DataError(
            f"embedding pairs are labelled 1 (match) or 0 (no match); found {', '.join(bad[:5])}",
            where=where,
            fix="map the labels to 1 and 0 with data.label_map, or drop the label column",
        )


def read_rows(snapshot: Path) -> Rows:
    from llmline.data.stage import read_pair_snapshot

    firsts, seconds, labels = read_pair_snapshot(snapshot)
    plain = [None if label in (None, "None") else str(label) for label in labels]
    return firsts, [str(s) for s in seconds], plain


def positive_pairs(rows: Rows, where: str) -> tuple[list[str], list[str]]:
    firsts, seconds, labels = rows
    check_labels(labels, where)
    keep = [i for i, label in enumerate(labels) if label in (None, POSITIVE)]
    if not keep:
        raise DataError(
            f"no matching pairs (label 1) in {where}",
            where=where,
            fix="check data.source.label_column and data.label_map",
        )
    return [firsts[i] for i in keep], [seconds[i] for i in keep]


def build(
    spec: PipelineSpec, data: DataArtifact, workspace: Workspace, resume: str | None
) -> Prepared:
    """A sentence-transformers model (encoder + the base's pooling) and MNRL over the pairs."""
    from functools import partial

    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.modules import Pooling

    from llmline.models.encoding import encoder_info, encoder_prefixes
    from llmline.models.resolve import resolve_model

    cfg = spec.train
    base_dir = resolve_model(cfg.base_model, workspace)
    prefixes = encoder_prefixes(base_dir)
    pooling = str(encoder_info(base_dir).get("pooling", "mean"))
    query, passage = prefixes.get("query", ""), prefixes.get("passage", "")

    def dataset(path: Path) -> Any:
        anchors, positives = positive_pairs(read_rows(path), str(path.name))
        return Dataset.from_dict(
            {"anchor": [query + t for t in anchors], "positive": [passage + t for t in positives]}
        )

    train, validation = dataset(data.train), dataset(data.validation)  # labels checked first
    encoder = Transformer(str(base_dir), max_seq_length=cfg.max_length)
    model = SentenceTransformer(
        modules=[encoder, Pooling(encoder.get_embedding_dimension(), pooling_mode=pooling)]
    )
    # fit() freezes `Prepared.body`; kept off the module tree so it is not run or saved twice
    object.__setattr__(model, "llmline_body", encoder.auto_model)
    return Prepared(
        model=model, tokenizer=encoder.tokenizer, train=train, validation=validation,
        collator=None, body="llmline_body",
        trainer_class=SentenceTransformerTrainer,
        arguments_class=partial(
            SentenceTransformerTrainingArguments, batch_sampler=BatchSamplers.NO_DUPLICATES
        ),
        trainer_kwargs={"loss": MultipleNegativesRankingLoss(model)},
        state={"base_dir": base_dir, "prefixes": prefixes, "pooling": pooling},
    )  # fmt: skip


def save(
    prepared: Prepared, trainer: Any, spec: PipelineSpec, model_dir: Path, metrics: dict[str, Any]
) -> dict[str, Any]:
    """A sentence-transformers directory plus llmline_encoder.json and llmline_model.json."""
    from llmline.models.encoding import write_encoder_info
    from llmline.models.meta import ModelMeta

    model_dir.mkdir(parents=True, exist_ok=True)
    trainer.model.save(str(model_dir))
    prefixes, pooling = prepared.state["prefixes"], prepared.state["pooling"]
    write_encoder_info(model_dir, pooling=pooling, prefixes=prefixes)
    ModelMeta(
        labels=[], pooling=pooling, normalize=True, max_length=spec.train.max_length,
        base_model=spec.train.base_model, task="embedding",
        extra={"label_map": dict(spec.data.label_map),
               "text_prefix": prefixes.get("query", "")},
    ).save(model_dir)  # fmt: skip
    return {}


def retrieval_metrics(
    query_vectors: Any, passage_vectors: Any, relevant: list[set[int]], k: int = 10
) -> dict[str, float]:
    """recall@1/5/10 (a gold passage in the top k), MRR@10 and nDCG@10 by cosine similarity
    (vectors L2-normalised); ties go to the passage listed first."""
    import numpy as np

    scores = np.asarray(query_vectors) @ np.asarray(passage_vectors).T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    hits = np.array(
        [[int(p) in gold for p in row] for row, gold in zip(top, relevant, strict=True)]
    )
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    discounts = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))  # fewer than k passages: fewer
    ideal = np.array([discounts[: min(len(gold), k)].sum() for gold in relevant])
    out = {f"recall@{n}": float(hits[:, :n].any(axis=1).mean()) for n in (1, 5, 10)}
    out["mrr@10"] = float(np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0).mean())
    out["ndcg@10"] = float(((hits * discounts).sum(axis=1) / ideal).mean())
    return {name: round(value, 4) for name, value in out.items()}


def retrieval_set(rows: Rows) -> tuple[list[str], list[str], list[set[int]]]:
    """Distinct queries of the matching pairs, distinct passages of every row (0-labelled
    passages are distractors), and each query's gold passages."""
    firsts, seconds, labels = rows
    check_labels(labels, "the evaluated pairs")
    passages = list(dict.fromkeys(seconds))
    index = {text: i for i, text in enumerate(passages)}
    gold: dict[str, set[int]] = {}
    for first, second, label in zip(firsts, seconds, labels, strict=True):
        if label in (None, POSITIVE):
            gold.setdefault(first, set()).add(index[second])
    if not gold:
        raise DataError("nothing to evaluate: no matching (label 1) pairs", fix="check the data")
    return list(gold), passages, list(gold.values())


def evaluate(model_dir: Path, rows: Rows, options: EvalOptions) -> dict[str, Any]:
    """Retrieval of each query's gold passages among all passages of the evaluated pairs."""
    from sentence_transformers import SentenceTransformer

    from llmline.models.encoding import encoder_prefixes

    queries, passages, relevant = retrieval_set(rows)
    prefixes = encoder_prefixes(model_dir)
    model = SentenceTransformer(str(model_dir), device="cpu")

    def encode(texts: list[str], prefix: str) -> Any:
        return model.encode(
            [prefix + t for t in texts], batch_size=options.batch_size,
            normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
        )  # fmt: skip

    metrics = retrieval_metrics(
        encode(queries, prefixes.get("query", "")), encode(passages, prefixes.get("passage", "")),
        relevant,
    )  # fmt: skip
    console.print(
        f"[bold]evaluate[/]: MRR@10 {metrics['mrr@10']:.4f}, recall@1 {metrics['recall@1']:.4f} "
        f"({len(queries)} queries, {len(passages)} passages)"
    )
    return {"rows": len(queries), "queries": len(queries), "passages": len(passages),
            "metrics": metrics, "primary": "mrr@10", **metrics}  # fmt: skip


def read_file(path: Path, options: ReadOptions, model_dir: Path) -> Rows:
    """Queries (--text-col), passages (--pair-col) and optional 0/1 labels (--label-col when
    the file has that column)."""
    from llmline.data.clean import normalize_text
    from llmline.data.sources import read_records
    from llmline.evaluate.files import require_pair, run_label_map, source_spec

    require_pair(options, "embedding")
    spec = source_spec(path, options)
    try:
        records = list(read_records(spec, key="--data"))
    except DataError as exc:
        if "label_column" not in (exc.where or ""):
            raise
        records = list(read_records(source_spec(path, options, label=False), key="--data"))
    mapping = run_label_map(model_dir)
    labels = [None if r.label is None else mapping.get(r.label, r.label) for r in records]
    firsts = [normalize_text(r.text) for r in records]
    return firsts, [normalize_text(r.pair or "") for r in records], labels


def _load_predictor(directory: Path) -> Any:
    from llmline.models.embedding import load_encoder

    return load_encoder(directory)


def _write_report(report: dict[str, Any], out_dir: Path) -> None:
    import json

    from llmline.lineage import write_text_atomic

    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "report.json", json.dumps(report, indent=2, ensure_ascii=False))
    lines = ["# Retrieval evaluation", "", f"- queries: {report['queries']}",
             f"- passages: {report['passages']}", ""]  # fmt: skip
    lines += [f"- {name}: **{value:.4f}**" for name, value in report["metrics"].items()]
    for gate in report.get("gates") or []:
        lines.append(f"- gate {gate['gate']} {gate['threshold']}: "
                     f"{'pass' if gate['passed'] else 'FAIL'} ({gate['actual']:.4f})")  # fmt: skip
    write_text_atomic(out_dir / "report.md", "\n".join(lines) + "\n")


TASK = register(
    Task(
        name="embedding", config=EmbeddingConfig, metrics=METRICS, primary="mrr@10",
        greater_is_better=True, build=build, save=save, load_predictor=_load_predictor,
        read_snapshot=read_rows, read_file=read_file, evaluate=evaluate,
        write_report=_write_report, routes=("embeddings",),
    )
)  # fmt: skip
