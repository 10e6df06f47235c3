"""Retrieval quality of a KB on labelled queries: recall@1/5/10 and MRR@10.

Rows with the same query are one query; a result is a hit when its document id, or the id of
any exact duplicate folded into it at ingest, is among the query's gold ids. Ranks count
chunks, so a document split into several chunks can occupy several ranks.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from llmline.errors import DataError
from llmline.kb.base import Hit, KnowledgeBase
from llmline.spec.kb import Retriever

KS = (1, 5, 10)


def read_gold(path: Path, query_col: str, gold_col: str) -> dict[str, set[str]]:
    """Query -> its gold ids, in first-seen order; blank queries or ids are errors."""
    from llmline.data import sources
    from llmline.spec import SourceSpec

    readers = {".csv": sources.read_csv, ".tsv": sources.read_tsv, ".jsonl": sources.read_jsonl}
    reader = readers.get(path.suffix.lower())
    if reader is None or not path.is_file():
        raise DataError(
            f"{str(path)!r} is not a CSV, TSV or JSONL file", where="--data", fix="check the path"
        )
    gold: dict[str, set[str]] = {}
    for number, row in enumerate(reader(SourceSpec(path=path, label_column=None)), start=1):
        if sources.ERROR_KEY in row:
            raise DataError(str(row[sources.ERROR_KEY]), where=f"{path}:{number}")
        for option, column in (("--query-col", query_col), ("--gold-col", gold_col)):
            if column not in row:
                raise DataError(
                    f"column {column!r} not found in {str(path)!r} (columns: {', '.join(row)})",
                    where=option,
                    fix=f"set {option} to one of the columns",
                )
        query, gold_id = str(row[query_col] or "").strip(), str(row[gold_col] or "").strip()
        if query and gold_id:
            gold.setdefault(query, set()).add(gold_id)
    if not gold:
        raise DataError(f"{str(path)!r} has no rows with a query and a gold id", where="--data")
    return gold


def rank_of_first_hit(hits: list[Hit], gold: set[str]) -> int | None:
    for rank, hit in enumerate(hits, start=1):
        if hit.chunk.doc_id in gold or gold.intersection(hit.chunk.meta.get("duplicate_ids", ())):
            return rank
    return None


def evaluate_kb(
    kb: KnowledgeBase, gold: dict[str, set[str]], retriever: Retriever
) -> dict[str, Any]:
    queries = list(gold)
    began = time.perf_counter()
    results = kb.search_many(queries, retriever=retriever, top_k=max(KS))
    seconds = time.perf_counter() - began
    ranks = [rank_of_first_hit(hits, gold[q]) for q, hits in zip(queries, results, strict=True)]
    report: dict[str, Any] = {"kb": kb.name, "retriever": retriever, "queries": len(queries)}
    for k in KS:
        report[f"recall@{k}"] = round(sum(r is not None and r <= k for r in ranks) / len(ranks), 4)
    report["mrr@10"] = round(sum(1 / r for r in ranks if r is not None and r <= 10) / len(ranks), 4)
    report["seconds"] = round(seconds, 3)
    return report
