"""Faithfulness of word attributions: deletion and insertion curves (Petsiuk et al., 2018).

Deletion removes the words from the most to the least supporting one and follows p(target):
a faithful explanation makes it fall fast (low area under the curve). Insertion starts from the
text with every word removed and puts them back in the same order: it should rise fast (high
area). Every method is scored on the same word units (`explain_sampling.word_units`), with
its scores summed into them, so IG's word pieces and jieba's Chinese words compare alike.
"""

from __future__ import annotations

from typing import Any

from llmline.models.predictor import Predictor


def curves(
    predictor: Predictor, text: str, label: str, words: list[dict[str, Any]]
) -> dict[str, Any]:
    """Deletion and insertion curves (k = 0..n words) and their areas, x scaled to [0, 1]."""
    import numpy as np

    from llmline.govern.bias import probabilities
    from llmline.govern.explain_sampling import rebuild, regroup, word_units

    units = word_units(text)
    n = len(units)
    if n == 0:
        return {"words": 0, "deletion": [], "insertion": [], "deletion_auc": 0.0,
                "insertion_auc": 0.0}  # fmt: skip
    scores = [u["score"] for u in regroup(units, words)]
    order = sorted(range(n), key=lambda i: -scores[i])  # most supporting first
    texts = []
    for k in range(n + 1):
        removed = set(order[:k])
        texts.append(rebuild(text, units, [i not in removed for i in range(n)]))
    for k in range(n + 1):
        added = set(order[:k])
        texts.append(rebuild(text, units, [i in added for i in range(n)]))
    probs = probabilities(predictor, texts)[:, predictor.labels.index(label)]
    deletion, insertion = probs[: n + 1].tolist(), probs[n + 1 :].tolist()
    x = np.linspace(0.0, 1.0, n + 1)
    return {
        "words": n,
        "deletion": deletion,
        "insertion": insertion,
        "deletion_auc": float(np.trapezoid(deletion, x)),
        "insertion_auc": float(np.trapezoid(insertion, x)),
    }
