"""Pair classification and embedding: the pair column through the data stage, the predictors,
the evaluate CLI's JSON, bad input, and the saved models as the KB's reranker and encoder."""

from __future__ import annotations

import csv
from pathlib import Path

QUESTIONS = [
    ("how do I reset my password", "how can I change my password"),
    ("怎么开通网上银行", "网上银行如何开通"),
    ("where is my card", "my card has not arrived yet"),
    ("信用卡额度怎么提高", "如何提升信用卡额度"),
    ("can I cancel a transfer", "how to stop a payment I sent"),
    ("借款审核期间能否取消借款", "审核中的借款可以取消吗"),
]


def write_pairs(path: Path, n: int, *, header: str = "text_a,text_b,label") -> Path:
    """n labelled pairs, English and Chinese: matching pairs (1) and mismatched ones (0)."""
    rows = []
    for i in range(n):
        a, b = QUESTIONS[i % len(QUESTIONS)]
        if i % 2:
            rows.append((f"{a} {i}", f"{b} {i}", "1"))
        else:
            other = QUESTIONS[(i + 1) % len(QUESTIONS)][1]
            rows.append((f"{a} {i}", f"{other} {i}", "0"))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header.split(","))
        writer.writerows(rows)
    return path
