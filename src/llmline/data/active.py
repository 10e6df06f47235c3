"""Model-assisted labeling: pre-labels, active-learning batches, label-error detection.

Probabilities come from a registered model (any `--model` reference) or, when none is given,
from a cross-validated TF-IDF + logistic regression on the labelled rows, so the loop works
before any model has been trained. Label errors use cleanlab's confident learning on
out-of-fold probabilities (in-sample probabilities would hide the errors they memorised).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from llmline.errors import DataError


def model_probabilities(model_dir: Any, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Class probabilities from a saved llmline classifier directory."""
    from llmline.models.predictor import load_predictor

    predictor = load_predictor(model_dir)
    if not hasattr(predictor, "probabilities"):
        raise DataError(
            f"model task {predictor.task!r} gives no class probabilities",
            fix="use a classification model for pre-labels and active learning",
        )
    return np.asarray(predictor.probabilities(list(texts))), list(predictor.labels)


def prelabels(probs: np.ndarray, labels: Sequence[str]) -> list[tuple[str, float]]:
    """(label, confidence) per row, for Label Studio `predictions` or a review queue."""
    best = probs.argmax(axis=1)
    return [(labels[int(i)], float(probs[row, i])) for row, i in enumerate(best)]


def uncertainty(probs: np.ndarray, strategy: str = "entropy") -> np.ndarray:
    """Higher is more uncertain: normalised entropy, or 1 - (top1 - top2) margin."""
    if strategy == "entropy":
        clipped = np.clip(probs, 1e-12, 1)
        return -(clipped * np.log(clipped)).sum(axis=1) / np.log(max(probs.shape[1], 2))
    if strategy == "margin":
        top = np.sort(probs, axis=1)[:, ::-1]
        return 1 - (top[:, 0] - top[:, 1])
    raise DataError(f"unknown selection strategy {strategy!r}", fix="use entropy or margin")


def select_batch(
    probs: np.ndarray,
    vectors: np.ndarray,
    size: int,
    *,
    strategy: str = "entropy",
    diversity: float = 0.5,
) -> list[int]:
    """Greedy batch: uncertainty plus `diversity` x cosine distance to the rows already chosen.

    The diversity term stops a batch from being twenty copies of the same confusing e-mail.
    """
    score = uncertainty(probs, strategy)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1, norms)
    chosen: list[int] = []
    nearest = np.ones(len(score))  # distance to the closest chosen row (1 = far)
    for _ in range(min(size, len(score))):
        total = score + diversity * nearest
        total[chosen] = -np.inf
        pick = int(total.argmax())
        chosen.append(pick)
        nearest = np.minimum(nearest, 1 - unit @ unit[pick])
    return chosen


def tfidf_vectors(texts: Sequence[str]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(max_features=20_000, sublinear_tf=True, ngram_range=(1, 2))
    return vectorizer.fit_transform(texts).toarray().astype(np.float32)


def proxy_probabilities(
    labelled: Sequence[str], labels: Sequence[str], unlabelled: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """Probabilities for unlabelled rows from TF-IDF + logistic regression on labelled rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    classes = sorted(set(labels))
    if len(classes) < 2:
        raise DataError("active learning needs labelled rows of at least two labels",
                        fix="label a few rows of each class first or pass --model")  # fmt: skip
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)
    model = LogisticRegression(max_iter=1000).fit(vectorizer.fit_transform(labelled), labels)
    return model.predict_proba(vectorizer.transform(unlabelled)), list(model.classes_)


def out_of_fold_probabilities(
    texts: Sequence[str], labels: Sequence[str], *, folds: int = 5, seed: int = 0
) -> tuple[np.ndarray, list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    classes = sorted(set(labels))
    smallest = min(list(labels).count(c) for c in classes)
    folds = max(2, min(folds, smallest))
    pipeline = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)), LogisticRegression(max_iter=1000)
    )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probs = cross_val_predict(
        pipeline, list(texts), list(labels), cv=splitter, method="predict_proba"
    )
    return np.asarray(probs), classes


def find_label_issues(
    texts: Sequence[str], labels: Sequence[str], *, limit: int = 50, seed: int = 0
) -> list[dict[str, Any]]:
    """Rows whose given label is likely wrong, worst first, with cleanlab's suggested label."""
    try:
        from cleanlab.filter import find_label_issues as cleanlab_issues
        from cleanlab.rank import get_label_quality_scores
    except ImportError:
        raise DataError(
            "label-error detection needs cleanlab",
            fix="pip install 'llmline[data]' or set data.label_issues: false",
        ) from None
    if len(set(labels)) < 2 or min(Counter(labels).values()) < 2:
        return []
    probs, classes = out_of_fold_probabilities(texts, labels, seed=seed)
    index = {c: i for i, c in enumerate(classes)}
    given = np.array([index[label] for label in labels])
    flagged = cleanlab_issues(given, probs, return_indices_ranked_by="self_confidence")
    quality = get_label_quality_scores(given, probs)
    return [
        {"row": int(i), "text": texts[i][:200], "given": labels[i],
         "suggested": classes[int(probs[i].argmax())], "quality": round(float(quality[i]), 4)}
        for i in flagged[:limit]
    ]  # fmt: skip
