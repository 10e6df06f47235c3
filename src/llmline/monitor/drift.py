"""Windowed drift tests of served traffic against the model's reference statistics.

PSI and chi-square on the predicted-label distribution, Kolmogorov-Smirnov on confidence and
input length (scipy.stats), and an RBF-kernel MMD with a permutation p-value on sentence
embeddings. Each test registers itself and returns named metrics that alert rules refer to.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llmline.monitor.reference import Reference
from llmline.variants import Registry

_EPS = 1e-4
_PERMUTATIONS = 200


@dataclass
class Window:
    """The served rows a test looks at, with a lazy embedding of their redacted texts."""

    rows: list[dict[str, Any]]
    embed: Callable[[list[str]], Any] | None = None
    max_embed: int = 300

    @property
    def predictions(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("label") is not None and r.get("status") == 200]

    def embeddings(self) -> Any:
        texts = [r["text_redacted"] for r in self.predictions if r.get("text_redacted")]
        if self.embed is None or not texts:
            return None
        import numpy as np

        return np.asarray(self.embed(texts[-self.max_embed :]), dtype=np.float64)


DriftTest = Callable[[Reference, Window], dict[str, float]]
DRIFT_TESTS: Registry[DriftTest] = Registry("drift test")


def _shares(counts: dict[str, int] | Counter[str], labels: Sequence[str]) -> list[float]:
    total = sum(counts.values()) or 1
    return [max(counts.get(label, 0) / total, _EPS) for label in labels]


@DRIFT_TESTS.register("psi")
def psi(reference: Reference, window: Window) -> dict[str, float]:
    """Population stability index of predicted labels (> 0.2 is the usual 'shifted')."""
    labels = reference.labels
    expected = _shares(reference.label_counts, labels)
    actual = _shares(Counter(r["label"] for r in window.predictions), labels)
    return {"psi": sum((a - e) * math.log(a / e) for a, e in zip(actual, expected, strict=True))}


@DRIFT_TESTS.register("chi2")
def chi2(reference: Reference, window: Window) -> dict[str, float]:
    """Chi-square test of homogeneity: reference vs window label counts (empty labels dropped)."""
    from scipy.stats import chi2_contingency

    current = Counter(r["label"] for r in window.predictions)
    labels = [lb for lb in reference.labels if reference.label_counts.get(lb, 0) + current[lb]]
    table = [[reference.label_counts.get(lb, 0) for lb in labels], [current[lb] for lb in labels]]
    if len(labels) < 2 or not sum(table[1]):
        return {"chi2_p": 1.0}
    return {"chi2_p": float(chi2_contingency(table).pvalue)}


@DRIFT_TESTS.register("ks")
def ks(reference: Reference, window: Window) -> dict[str, float]:
    from scipy.stats import ks_2samp

    rows = window.predictions
    if not rows:
        return {"ks_confidence_p": 1.0, "ks_length_p": 1.0}
    confidence = ks_2samp(reference.confidence, [r["confidence"] for r in rows])
    length = ks_2samp(reference.length, [r["input_chars"] for r in rows])
    return {
        "ks_confidence": float(confidence.statistic),
        "ks_confidence_p": float(confidence.pvalue),
        "ks_length": float(length.statistic),
        "ks_length_p": float(length.pvalue),
    }


def rbf_kernel(pooled: Any) -> Any:
    """RBF kernel matrix with the median pairwise distance as bandwidth."""
    import numpy as np

    norms = (pooled * pooled).sum(1)
    sq = np.maximum(norms[:, None] + norms[None, :] - 2 * pooled @ pooled.T, 0)
    positive = sq[sq > 0]
    bandwidth_sq = float(np.median(positive)) if positive.size else 1.0
    return np.exp(-sq / (2 * bandwidth_sq))


def mmd2(kernel: Any, first: Any, second: Any) -> float:
    """Biased MMD^2 estimate (Gretton et al., 2012) from a precomputed kernel matrix."""
    return float(
        kernel[first][:, first].mean()
        + kernel[second][:, second].mean()
        - 2 * kernel[first][:, second].mean()
    )


@DRIFT_TESTS.register("mmd")
def mmd(reference: Reference, window: Window) -> dict[str, float]:
    """Embedding drift: MMD^2 with an RBF kernel and a permutation-test p-value."""
    import numpy as np

    current = window.embeddings()
    if current is None or reference.embeddings is None or len(current) < 5:
        return {"mmd": 0.0, "mmd_p": 1.0}
    ref = np.asarray(reference.embeddings, dtype=np.float64)
    kernel = rbf_kernel(np.vstack([ref, current]))
    n = len(ref)
    index = np.arange(len(kernel))
    observed = mmd2(kernel, index[:n], index[n:])
    rng = np.random.default_rng(0)
    exceed = 0
    for _ in range(_PERMUTATIONS):
        order = rng.permutation(index)
        exceed += mmd2(kernel, order[:n], order[n:]) >= observed
    return {"mmd": observed, "mmd_p": (exceed + 1) / (_PERMUTATIONS + 1)}


def operational(window: Window, label: str | None = None) -> dict[str, float]:
    """Latency p99, error rate and (with a label) that label's share of predictions."""
    import numpy as np

    rows = window.rows
    latencies = [r["latency_ms"] for r in rows]
    metrics = {
        "latency_p99_ms": float(np.percentile(latencies, 99)) if latencies else 0.0,
        "error_rate": sum(r["status"] >= 500 for r in rows) / len(rows) if rows else 0.0,
        "requests": float(len(rows)),
    }
    if label is not None:
        preds = window.predictions
        metrics["prediction_share"] = (
            sum(r["label"] == label for r in preds) / len(preds) if preds else 0.0
        )
    return metrics


METRIC_SOURCES = {
    "psi": "psi",
    "chi2_p": "chi2",
    "ks_confidence": "ks",
    "ks_confidence_p": "ks",
    "ks_length": "ks",
    "ks_length_p": "ks",
    "mmd": "mmd",
    "mmd_p": "mmd",
}


def drift_metrics(reference: Reference, window: Window, names: set[str]) -> dict[str, float]:
    """Run only the tests that produce the named metrics (MMD embeds texts: not for free)."""
    out: dict[str, float] = {}
    for test in sorted({METRIC_SOURCES[n] for n in names if n in METRIC_SOURCES}):
        out.update(DRIFT_TESTS.get(test)(reference, window))
    return out
