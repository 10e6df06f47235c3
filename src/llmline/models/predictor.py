"""Batched inference over a saved model, shared by `predict`, `evaluate` and the service.

Each task (`llmline.tasks`) names its predictor loader, so the service and the batch tools
need no change when a task is added; `load_predictor` dispatches on the saved model's task.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from llmline.models.classifier import load_classifier
from llmline.models.meta import MODEL_META, ModelMeta


class Predictor(Protocol):
    task: str

    @property
    def labels(self) -> list[str]: ...

    def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[dict[str, Any]]: ...


def length_chunks(texts: Sequence[str], max_size: int, spread: float = 1.25) -> list[list[int]]:
    """Indices of `texts` in model batches of similar length, shortest first.

    A batch is padded to its longest text, and on a CPU padding costs as much as text: 32
    random Banking77 texts took about twice the model time in one batch as in batches whose
    lengths stay within `spread` of each other (plus a few characters, so short texts group).
    """
    chunks: list[list[int]] = []
    for i in sorted(range(len(texts)), key=lambda i: len(texts[i])):
        current = chunks[-1] if chunks else []
        fits = current and len(texts[i]) <= spread * len(texts[current[0]]) + 8
        if fits and len(current) < max_size:
            current.append(i)
        else:
            chunks.append([i])
    return chunks


def encoded_chunks(
    tokenizer: Any, texts: Sequence[str], *, batch_size: int, max_length: int, tensors: str,
    prefix: str = "",
) -> Iterator[tuple[list[int], Any]]:  # fmt: skip
    """(indices, padded encoding) per model call, in length-grouped chunks (`length_chunks`);
    prefix (E5's "query: ", see `ModelMeta.text_prefix`) goes before every text."""
    for chunk in length_chunks(texts, batch_size):
        encoded = tokenizer(
            [prefix + texts[i] for i in chunk],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors=tensors,
        )
        yield chunk, encoded


@dataclass
class ClassifierPredictor:
    """Batches of similar length so padding stays small; results come back in input order."""

    model: Any
    tokenizer: Any
    meta: ModelMeta
    batch_size: int = 64
    task: str = "classification"

    @property
    def labels(self) -> list[str]:
        return self.meta.labels

    def probabilities(self, texts: Sequence[str]) -> Any:
        import numpy as np
        import torch

        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            chunks = encoded_chunks(
                self.tokenizer, texts, batch_size=self.batch_size,
                max_length=self.meta.max_length, tensors="pt", prefix=self.meta.text_prefix,
            )  # fmt: skip
            for chunk, batch in chunks:
                logits = self.model(batch["input_ids"], batch["attention_mask"])["logits"]
                probs[chunk] = torch.softmax(logits.float(), dim=-1).numpy()
        return probs

    def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[dict[str, Any]]:
        if not texts:
            return []
        return top_k_results(self.probabilities(texts), self.labels, top_k)


def top_k_results(probs: Any, labels: list[str], top_k: int) -> list[dict[str, Any]]:
    """Label, score and the top-k alternatives per row of a probability matrix."""
    k = max(1, min(top_k, len(labels)))
    results = []
    for row in probs:
        best = row.argsort()[::-1][:k]
        results.append(
            {
                "label": labels[int(best[0])],
                "score": float(row[best[0]]),
                "top_k": [{"label": labels[int(i)], "score": float(row[i])} for i in best],
            }
        )
    return results


def load_classification_predictor(directory: Path) -> Predictor:
    model, tokenizer = load_classifier(directory)
    return ClassifierPredictor(model, tokenizer, ModelMeta.load(directory))


def load_predictor(directory: Path) -> Predictor:
    """Load whichever task the directory's llmline_model.json (or, without one, its HF config)
    names. A bare sentence encoder (a packaged encoder, `BertModel` and kin) is served by
    `EncoderPredictor` for /v1/embeddings; every trained model by its task's loader."""
    from llmline.models.backend import infer_task
    from llmline.tasks import get_task

    task = infer_task(directory)
    if task == "embedding":
        from llmline.models.embedding import load_encoder

        return load_encoder(directory)
    return get_task(task, key=f"{directory / MODEL_META}: task").load_predictor(directory)
