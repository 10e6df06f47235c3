"""Counterfactual data augmentation (the `counterfactual` step): bias mitigation in the chain.

The bias checks (`govern.bias`) measure how often a label flips when only an attribute term
changes. This step trains that invariance in: a training row that contains terms of an
attribute (he/his, 妻子, Christian) gets copies with the terms of another group swapped in, and
a share of the rows with no such term (`template_fraction`) get copies with the attribute's
template put in front ("My name is Jamal. ...", "我是穆斯林。..."), one group per copy. The term
lists and the swapping are the bias checks' own (`govern.terms`, English and Chinese).

Copies carry `augmented_from`, so the data stage puts them in train only, and only when their
source row is in train. The step is idempotent: a copy gets no copies of its own, and a row
equal (text and label) to a copy already made is dropped as `counterfactual_duplicate`, so
running it over its own output yields the same rows.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from llmline.data.record import Record, register_step
from llmline.spec.base import StrictModel


class CounterfactualSpec(StrictModel):
    """Data step `counterfactual`: attribute-swapped copies of training rows (train only)."""

    attributes: list[str] = Field(
        default_factory=lambda: ["name", "gender", "nationality", "religion", "age"],
        description="Attributes of the bias term lists whose terms are swapped.",
    )
    languages: list[Literal["en", "zh"]] = Field(
        ["en", "zh"], description="Term lists to load; each row uses its own text's language."
    )
    terms_file: Path | None = Field(
        None, description="YAML with extra or replacement term lists (as govern.bias takes)."
    )
    copies: int = Field(1, ge=1, le=16, description="Copies per row and attribute (other groups).")
    template_fraction: float = Field(
        0.0, ge=0, le=1,
        description="Share of rows without any attribute term that get templated copies.",
    )  # fmt: skip
    seed: int = 0


class Counterfactual:
    """Yields each row, then its counterfactual copies."""

    def __init__(self, spec: CounterfactualSpec) -> None:
        from llmline.govern.terms import load_terms

        self.spec = spec
        self.terms = load_terms(spec.languages, spec.attributes, spec.terms_file)
        self.rng = random.Random(spec.seed)
        self.made: set[tuple[str, str | None]] = set()
        self.counts: Counter[str] = Counter()

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            key = (record.text, record.label)
            if record.dropped is None and key in self.made:
                self.counts["duplicates_dropped"] += 1
                yield replace(record, dropped="counterfactual_duplicate")
                continue
            yield record
            if record.dropped is not None or "augmented_from" in record.meta:
                continue
            self.made.add(key)
            yield from self._copies(record)

    def _copies(self, record: Record) -> Iterator[Record]:
        from llmline.govern.terms import text_language, variant_set

        language = text_language(record.text)
        for attribute, terms in self.terms.get(language, {}).items():
            position = self.rng.randrange(64)
            variants = variant_set(record.text, terms, position)
            if variants.mode == "template" and self.rng.random() >= self.spec.template_fraction:
                continue
            options = [(g, t) for g, t in variants.variants.items() if t != record.text]
            for group, text in self.rng.sample(options, min(self.spec.copies, len(options))):
                if (text, record.label) in self.made:
                    continue
                self.made.add((text, record.label))
                self.counts[f"{variants.mode}:{attribute}"] += 1
                meta = {**record.meta, "augmented_from": record.row,
                        "augment_op": f"counterfactual:{attribute}:{group}"}  # fmt: skip
                yield replace(record, text=text, meta=meta)

    @property
    def summary(self) -> dict[str, Any]:
        made = {k: v for k, v in self.counts.items() if ":" in k}
        return {
            "counterfactual_rows": sum(made.values()),
            "swapped": sum(v for k, v in made.items() if k.startswith("swap:")),
            "templated": sum(v for k, v in made.items() if k.startswith("template:")),
            "by_attribute": dict(sorted(made.items())),
            "duplicates_dropped": self.counts["duplicates_dropped"],
        }


# Not row-local: whether a row is a duplicate of a copy depends on the rows before it.
@register_step("counterfactual", config=CounterfactualSpec, train_only=True)
def counterfactual(spec: CounterfactualSpec) -> Counterfactual:
    return Counterfactual(spec)
