"""Cross-encoder inference: both texts of a pair through one encoder, a label per pair.

A pair classifier is a plain `AutoModelForSequenceClassification` over the text pair, so
sentence-transformers' `CrossEncoder` (the knowledge base's reranker) loads the same directory.
A binary model is saved with one logit, positive minus negative (`collapse_binary_head`):
softmax over two logits is exactly the sigmoid of their difference, and one sigmoid logit is
what `CrossEncoder` scores relevance with by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.errors import DataError
from llmline.models.meta import ModelMeta
from llmline.models.predictor import length_chunks, top_k_results

Pair = Sequence[str]


def check_pairs(pairs: Sequence[Any], where: str = "pairs") -> list[tuple[str, str]]:
    """Each item must be two strings (first text, second text)."""
    checked = []
    for index, pair in enumerate(pairs):
        if (
            isinstance(pair, str)
            or not isinstance(pair, Sequence)
            or len(pair) != 2
            or not all(isinstance(t, str) for t in pair)
        ):
            raise DataError(
                f"{where}[{index}] is not a pair of two texts: {str(pair)[:80]!r}",
                where=where,
                fix="pass each item as [first text, second text]",
            )
        checked.append((pair[0], pair[1]))
    return checked


def collapse_binary_head(model: Any, positive: int) -> None:
    """Replace a 2-logit classification layer by one logit (positive minus negative), in place.

    The layer is the last Linear with num_labels outputs (BERT's `classifier`, XLM-R's
    `classifier.out_proj`); the predicted probability of the positive class is unchanged."""
    import torch

    found = None
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module.out_features == 2:
            found = name, module
    if found is None:
        raise ValueError(f"{type(model).__name__} has no 2-output classification layer")
    name, layer = found
    negative = 1 - positive
    single = torch.nn.Linear(layer.in_features, 1, bias=layer.bias is not None)
    with torch.no_grad():
        single.weight.copy_(layer.weight[positive] - layer.weight[negative])
        if layer.bias is not None:
            single.bias.copy_(layer.bias[positive] - layer.bias[negative])
    parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    setattr(parent, name.rsplit(".", 1)[-1], single)
    label = model.config.id2label[positive]
    model.config.num_labels = 1
    model.config.id2label, model.config.label2id = {0: label}, {label: 0}
    model.config.problem_type = None


@dataclass
class PairPredictor:
    """Batches of pairs of similar length; `predict` takes [first, second] pairs."""

    model: Any
    tokenizer: Any
    meta: ModelMeta
    batch_size: int = 64
    task: str = "pair_classification"

    @property
    def labels(self) -> list[str]:
        return self.meta.labels

    def probabilities(self, pairs: Sequence[Pair]) -> Any:
        import numpy as np
        import torch

        checked = check_pairs(pairs)
        prefix = self.meta.text_prefix
        probs = np.zeros((len(checked), len(self.labels)), dtype=np.float32)
        chunks = length_chunks([a + b for a, b in checked], self.batch_size)
        with torch.inference_mode():
            for chunk in chunks:
                batch = self.tokenizer(
                    [prefix + checked[i][0] for i in chunk],
                    [prefix + checked[i][1] for i in chunk],
                    padding=True, truncation=True, max_length=self.meta.max_length,
                    return_tensors="pt",
                )  # fmt: skip
                logits = self.model(**batch).logits.float()
                if logits.shape[-1] == 1:  # a binary model saved with one logit
                    positive = torch.sigmoid(logits[:, 0])
                    probs[chunk] = torch.stack([1 - positive, positive], dim=-1).numpy()
                else:
                    probs[chunk] = torch.softmax(logits, dim=-1).numpy()
        return probs

    def predict(self, pairs: Sequence[Any], *, top_k: int = 1) -> list[dict[str, Any]]:
        if not pairs:
            return []
        return top_k_results(self.probabilities(pairs), self.labels, top_k)


def load_pair_predictor(directory: Path) -> PairPredictor:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(directory, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    return PairPredictor(model.eval(), tokenizer, ModelMeta.load(directory))
