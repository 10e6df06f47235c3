"""Labeling functions (the `label_rules` step) and their combination by vote or label model.

A labeling function votes one label when a keyword or its regex matches and abstains
otherwise. The label model is a small Dawid-Skene style EM with one accuracy per rule (the
symmetric-noise model that Snorkel's MeTaL generalises): rules that agree with the consensus
earn more weight; hand-written because snorkel is unmaintained and pins old numpy.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from llmline.data.record import Record, register_step
from llmline.spec.base import StrictModel

ABSTAIN = None


class LabelRuleSpec(StrictModel):
    """One labeling function: votes `label` when a keyword or the regex matches, else abstains."""

    label: str
    keywords: list[str] = Field(default_factory=list, description="Case-insensitive words.")
    regex: str | None = Field(None, description="A Python regular expression.")


class LabelRulesSpec(StrictModel):
    """Data step `label_rules`: labeling functions combined by vote or a label model."""

    rules: list[LabelRuleSpec] = Field(min_length=1)
    combine: Literal["vote", "label_model"] = Field(
        "vote", description="Majority vote, or a label model weighting rules by agreement."
    )
    overwrite: bool = Field(False, description="Relabel rows that already have a label.")


@dataclass(frozen=True)
class LabelingFunction:
    label: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str] | None

    @classmethod
    def from_spec(cls, spec: LabelRuleSpec) -> LabelingFunction:
        words = tuple(w.casefold() for w in spec.keywords)
        return cls(spec.label, words, re.compile(spec.regex) if spec.regex else None)

    def __call__(self, text: str) -> str | None:
        folded = text.casefold()
        if any(_has_word(folded, w) for w in self.keywords):
            return self.label
        if self.pattern is not None and self.pattern.search(text):
            return self.label
        return ABSTAIN


def _has_word(text: str, word: str) -> bool:
    if not word.isascii():  # CJK keywords have no word boundaries
        return word in text
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def apply_rules(
    functions: Sequence[LabelingFunction], texts: Sequence[str]
) -> list[list[str | None]]:
    """The vote matrix: one row per text, one column per labeling function."""
    return [[lf(text) for lf in functions] for text in texts]


def majority_vote(
    votes: Sequence[str | None], weights: Sequence[float] | None = None
) -> str | None:
    """The label with the most (weighted) votes; None when all abstain or the top ties."""
    tally: Counter[str] = Counter()
    for index, vote in enumerate(votes):
        if vote is not None:
            tally[vote] += 1.0 if weights is None else weights[index]  # type: ignore[assignment]
    ranked = tally.most_common(2)
    if not ranked or (len(ranked) == 2 and math.isclose(ranked[0][1], ranked[1][1])):
        return None
    return ranked[0][0]


def fit_label_model(matrix: Sequence[Sequence[str | None]], iterations: int = 10) -> list[float]:
    """Per-rule log-odds weights from EM on rule accuracies against the weighted consensus."""
    n_rules = len(matrix[0]) if matrix else 0
    weights = [1.0] * n_rules
    for _ in range(iterations):
        consensus = [majority_vote(row, weights) for row in matrix]
        new = []
        for j in range(n_rules):
            pairs = [(row[j], c) for row, c in zip(matrix, consensus, strict=True)]
            voted = [(v, c) for v, c in pairs if v is not None and c is not None]
            agree = sum(v == c for v, c in voted)
            accuracy = (agree + 1) / (len(voted) + 2)  # Laplace smoothing keeps weights finite
            new.append(math.log(accuracy / (1 - accuracy)))
        if all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(new, weights, strict=True)):
            break
        weights = new
    return weights


class LabelRules:
    """Labels unlabeled rows (or all, with overwrite) and reports coverage and conflicts."""

    def __init__(self, spec: LabelRulesSpec) -> None:
        self.spec = spec
        self.functions = [LabelingFunction.from_spec(rule) for rule in spec.rules]
        self.stats: Counter[str] = Counter()
        self.weights: list[float] | None = None

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        if self.spec.combine == "vote":
            for record in records:
                self._label(record, None)
                yield record
            return
        rows = list(records)  # the label model needs every vote before it can weigh them
        live = [r for r in rows if r.dropped is None]
        self.weights = fit_label_model(apply_rules(self.functions, [r.text for r in live]))
        for record in rows:
            self._label(record, self.weights)
            yield record

    def _label(self, record: Record, weights: list[float] | None) -> None:
        if record.dropped is not None:
            return
        votes = [lf(record.text) for lf in self.functions]
        cast = [v for v in votes if v is not None]
        self.stats["rows"] += 1
        self.stats["covered"] += bool(cast)
        self.stats["conflicts"] += len(set(cast)) > 1
        if record.label is not None and not self.spec.overwrite:
            return
        label = majority_vote(votes, weights)
        if label is not None:
            record.label = label
            record.meta["label_source"] = "rules"
            self.stats["labeled"] += 1

    @property
    def summary(self) -> dict[str, Any]:
        rows = max(self.stats["rows"], 1)
        out: dict[str, Any] = {
            "rows": self.stats["rows"],
            "coverage": round(self.stats["covered"] / rows, 4),
            "conflicts": self.stats["conflicts"],
            "labeled": self.stats["labeled"],
        }
        if self.weights is not None:
            out["rule_weights"] = [round(w, 3) for w in self.weights]
        return out


# Not row-local: the label model weighs each rule by its agreement over the whole stream.
@register_step("label_rules", config=LabelRulesSpec, train_only=True)
def label_rules(spec: LabelRulesSpec) -> LabelRules:
    return LabelRules(spec)
