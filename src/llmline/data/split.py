"""Seeded stratified train/validation split that keeps each duplicate group on one side.

Written by hand because scikit-learn's StratifiedGroupKFold gives folds, not a fraction, and
cannot guarantee every label appears on both sides of a small split.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

from llmline.data.record import Record
from llmline.errors import DataError


def check_label_counts(records: list[Record], *, minimum: int = 2) -> None:
    counts = Counter(r.label for r in records)
    if None in counts:
        raise DataError(
            f"{counts[None]} rows have no label",
            fix="fill the label column or drop those rows before training",
        )
    if len(counts) < 2:
        raise DataError(
            f"only one label ({next(iter(counts))!r}) in the data; a classifier needs two or more",
            fix="check data.source.label_column and data.drop_labels",
        )
    rare = sorted((label, n) for label, n in counts.items() if n < minimum)
    if rare:
        shown = ", ".join(f"{label!r} ({n})" for label, n in rare[:5])
        raise DataError(
            f"{len(rare)} label(s) have fewer than {minimum} examples, too few to split: {shown}",
            fix="add examples, drop them with data.drop_labels, or give data.validation a file",
        )


def stratified_group_split(
    records: list[Record], groups: list[str], *, fraction: float, seed: int
) -> tuple[list[Record], list[Record]]:
    """Split so validation gets ~fraction of each label and no group straddles both sides.

    A group (texts equal after normalisation) goes where its first record's label sends it;
    each label keeps at least one group on each side when it has two or more groups.
    """
    check_label_counts(records)
    members: dict[str, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    by_label: dict[str, list[str]] = defaultdict(list)
    for group, indices in members.items():
        by_label[str(records[indices[0]].label)].append(group)

    rng = random.Random(seed)
    held_out: set[str] = set()
    for label in sorted(by_label):
        label_groups = sorted(by_label[label])
        rng.shuffle(label_groups)
        size = sum(len(members[g]) for g in label_groups)
        target = max(1, math.floor(size * fraction + 0.5)) if len(label_groups) > 1 else 0
        taken = 0
        for group in label_groups[:-1]:  # the last group always stays in train
            if taken >= target:
                break
            held_out.add(group)
            taken += len(members[group])

    train = [r for r, g in zip(records, groups, strict=True) if g not in held_out]
    validation = [r for r, g in zip(records, groups, strict=True) if g in held_out]
    return train, validation
