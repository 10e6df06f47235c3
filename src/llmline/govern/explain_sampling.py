"""LIME and SHAP word attributions: model-agnostic, by removing words and watching p(label).

Both treat a text as a row of word units that are present (1) or removed (0); the model sees the
text rebuilt from the present words. LIME (`lime.lime_base.LimeBase`) fits a kernel-weighted
ridge regression on random removals around the full text; SHAP (`shap.KernelExplainer`) gives
each word its Shapley value against the all-removed text. Sampling the masks here rather than
through `LimeTextExplainer` keeps every unit's character offsets exact (its text splitter
re-derives them from a regex) and lets LIME, SHAP and occlusion share one unit list.

Chinese has no spaces: a CJK run is split into jieba words (信用卡 stays one unit) instead of
single characters, so an explanation reads like the sentence and the sampling space stays
small; other scripts use the explainers' word pattern.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from llmline.models.predictor import Predictor

LIME_KERNEL_WIDTH = 25.0  # LimeTextExplainer's default: distances are cosine distance * 100


def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def word_units(text: str) -> list[dict[str, Any]]:
    """Words with character offsets: jieba words inside CJK runs, the explainers' words else."""
    from llmline.govern.explain import split_words
    from llmline.models.words import has_cjk

    if not has_cjk(text):
        return split_words(text)
    units: list[dict[str, Any]] = []
    for token, start, _end in _jieba().tokenize(text):
        if has_cjk(token):
            units.append({"word": token, "start": start, "end": start + len(token)})
        else:  # Latin runs, digits and marks between Chinese words: split as elsewhere
            units += [
                {**w, "start": w["start"] + start, "end": w["end"] + start}
                for w in split_words(token)
            ]
    return units


def rebuild(text: str, units: list[dict[str, Any]], keep: Any) -> str:
    """The text with the units whose keep flag is 0 removed; runs of spaces collapse to one."""
    pieces, cursor = [], 0
    for unit, kept in zip(units, keep, strict=True):
        pieces.append(text[cursor : unit["start"]])
        if kept:
            pieces.append(text[unit["start"] : unit["end"]])
        cursor = unit["end"]
    pieces.append(text[cursor:])
    return " ".join("".join(pieces).split())


def target_probability(
    predictor: Predictor, text: str, units: list[dict[str, Any]], label: str
) -> Callable[[Any], Any]:
    """f(masks) -> p(label | rebuilt text) for a 2-D 0/1 array of masks, batched."""
    from llmline.govern.bias import probabilities

    column = predictor.labels.index(label)

    def f(masks: Any) -> Any:
        texts = [rebuild(text, units, row) for row in masks]
        return probabilities(predictor, texts)[:, column]

    return f


def lime_scores(
    predictor: Predictor, text: str, label: str, *, samples: int, seed: int = 0
) -> list[dict[str, Any]]:
    """LIME: weights of a kernel-weighted ridge fit on `samples` random word removals."""
    import numpy as np
    from lime.lime_base import LimeBase
    from sklearn.metrics.pairwise import cosine_distances

    units = word_units(text)
    if not units:
        return []
    rng = np.random.RandomState(seed)
    n = len(units)
    # As LimeTextExplainer samples: the first row is the text itself, then for each row a
    # uniform number of words (1..n-1, at least 1) removed at random positions.
    masks = np.ones((samples, n), dtype=np.int64)
    for row in range(1, samples):
        removed = rng.choice(n, rng.randint(1, max(2, n)), replace=False)
        masks[row, removed] = 0
    probs = target_probability(predictor, text, units, label)(masks)
    distances = cosine_distances(masks, masks[:1]).ravel() * 100

    def kernel(d: Any) -> Any:
        return np.sqrt(np.exp(-(d**2) / LIME_KERNEL_WIDTH**2))

    base = LimeBase(kernel, random_state=rng)
    _, ranked, _, _ = base.explain_instance_with_data(
        masks, probs[:, None], distances, 0, n, feature_selection="none"
    )
    weights = dict(ranked)
    return [{**u, "score": round(float(weights.get(i, 0.0)), 5)} for i, u in enumerate(units)]


def shap_scores(
    predictor: Predictor, text: str, label: str, *, samples: int
) -> list[dict[str, Any]]:
    """Kernel SHAP: each word's Shapley value against the text with every word removed."""
    import numpy as np
    import shap

    units = word_units(text)
    if not units:
        return []
    n = len(units)
    f = target_probability(predictor, text, units, label)
    explainer = shap.KernelExplainer(f, np.zeros((1, n)), link="identity")
    # With 2**n <= samples KernelExplainer enumerates every coalition: exact Shapley values.
    values = explainer.shap_values(np.ones((1, n)), nsamples=max(samples, 2 * n + 2), silent=True)
    row = np.asarray(values).reshape(-1)
    return [{**u, "score": round(float(row[i]), 5)} for i, u in enumerate(units)]


def regroup(units: list[dict[str, Any]], words: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sum finer-grained scores (IG's per-character Chinese words) into the units that hold
    them, so every method answers in the same words; scores outside any unit are dropped."""
    out = [{**u, "score": 0.0} for u in units]
    for word in words:  # the unit that holds the piece, else the one it starts in
        holder = next(
            (u for u in out if u["start"] <= word["start"] and word["end"] <= u["end"]),
            next((u for u in out if u["start"] <= word["start"] < u["end"]), None),
        )
        if holder is not None:
            holder["score"] += word["score"]
    for unit in out:
        unit["score"] = round(float(unit["score"]), 5)
    return out
