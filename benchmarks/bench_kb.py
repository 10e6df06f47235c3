"""Knowledge-base retrieval quality on cMedQA and search speed at 10k/100k chunks, one run.

Quality (issue 13, item 7): the 4,593 distinct doctors' answers of
`shared/datasets/cmedqa/dev.txt` become a KB; each patient question with at least one answer
labelled 1 is a query (218 of the 895: 677 have none), a hit is any of its gold answers. None of
these questions was trained on: the tuned bi-encoder and reranker learn from
`shared/datasets/medical-dialogue` (`make medqa-pairs`). Most cMedQA positives of
questions with 5-18 of them are noise (answers about other illnesses), so the metrics are also
given for the 120 "clean" questions with 1-4 gold answers. Side by side: BM25 (jieba), dense and
hybrid (RRF) for the untuned e5-small and the tuned `medical-embedding-zh`, hybrid + rerank
(`medical-rerank-zh`, 20 candidates), hybrid + entity boost (the `medical-ner-zh` tagger when
registered, else a stand-in gazetteer of the entity strings annotated in `cmedqa-ner/train.txt`;
the output says which). Build rate with embedding per encoder; HNSW's recall@10 against the exact
scan on the real e5 vectors.

Speed: synthetic KBs of 10k and 100k chunks (texts sampled from cMedQA's jieba vocabulary, random
unit vectors: the worst case for an approximate index) searched through the real code path with
the exact and the HNSW index; the query embedded by e5-small (one thread, as `Encoder` does for a
few queries; two threads and a cached repeat for comparison).

    PYTHONPATH=src nice python benchmarks/bench_kb.py --workspace WS [--out FILE]

WS is where `models:/medical-embedding-zh@champion` (and the reranker, the NER model) are
registered; a model that does not resolve is reported as unavailable and its rows left out.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
KS = (1, 5, 10)
CLEAN_MAX_GOLD = 4


def load_cmedqa(path: Path) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Answer id -> answer text, and question -> gold answer ids."""
    answers: dict[str, str] = {}
    gold: dict[str, set[str]] = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            label, question, answer = row[0], row[1], row[2]
            answer_id = answers.setdefault(answer, f"a{len(answers)}")
            gold.setdefault(question, set())
            if label == "1":
                gold[question].add(answer_id)
    return {v: k for k, v in answers.items()}, {q: ids for q, ids in gold.items() if ids}


def write_table(path: Path, answers: dict[str, str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(["id", "text"])
        writer.writerows(answers.items())
    return path


def gazetteer(path: Path, min_chars: int = 2) -> Any:
    """Entity strings annotated in a B_/I_ character-per-line NER file, as a Tagger."""
    names: dict[str, str] = {}
    current, kind = "", ""
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        parts = line.split()
        tag = parts[1] if len(parts) == 2 else "O"
        if tag.startswith("I_") and current:
            current += parts[0]
            continue
        if len(current) >= min_chars:
            names.setdefault(current, kind)
        current, kind = (parts[0], tag[2:]) if tag.startswith("B_") else ("", "")
    pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))

    def tag(texts: Sequence[str]) -> list[list[tuple[int, int, str, str]]]:
        return [
            [(m.start(), m.end(), names[m.group()], m.group()) for m in pattern.finditer(t)]
            for t in texts
        ]

    return tag, len(names)


def resolve(reference: str, workspace: Path | None) -> Path | str:
    """The model directory a reference names, or why it cannot be had (a string)."""
    from llmline.errors import LlmlineError
    from llmline.models.resolve import resolve_model
    from llmline.workspace import Workspace

    try:
        return resolve_model(reference, Workspace.resolve(workspace))
    except LlmlineError as exc:
        return f"unavailable: {exc}"
    except Exception as exc:  # a registry error must not end a run 20 minutes in: reported
        return f"unavailable: {type(exc).__name__}: {exc}"


def memo_tagger(tagger: Callable[..., Any]) -> Callable[..., Any]:
    """Tag each distinct text once across the KBs built from the same answers."""
    seen: dict[str, Any] = {}

    def tag(texts: Sequence[str]) -> list[Any]:
        missing = [t for t in dict.fromkeys(texts) if t not in seen]
        if missing:
            seen.update(zip(missing, tagger(missing), strict=True))
        return [seen[t] for t in texts]

    return tag


def pick_tagger(ner: str, models: Path | None) -> tuple[Any, str]:
    directory = resolve(ner, models)
    if isinstance(directory, Path):
        from llmline.kb.entities import ner_tagger

        return memo_tagger(ner_tagger(directory)), f"NER model {ner}"
    tagger, names = gazetteer(DATA / "cmedqa-ner" / "train.txt")
    return memo_tagger(tagger), (
        f"stand-in gazetteer of {names} entity strings from cmedqa-ner/train.txt "
        f"({ner} {directory})"
    )


def scores(ranks: list[int | None]) -> dict[str, float]:
    out = {f"recall@{k}": round(sum(r is not None and r <= k for r in ranks) / len(ranks), 4)
           for k in KS}  # fmt: skip
    out["mrr@10"] = round(sum(1 / r for r in ranks if r is not None and r <= 10) / len(ranks), 4)
    return out


def evaluate(kb: Any, gold: dict[str, set[str]], retriever: str) -> dict[str, Any]:
    """All queries and the clean ones (1-4 gold answers), from one search each."""
    from llmline.kb.evaluate import rank_of_first_hit

    queries = list(gold)
    began = time.perf_counter()
    results = kb.search_many(queries, retriever=retriever, top_k=max(KS))
    seconds = time.perf_counter() - began
    ranks = [rank_of_first_hit(h, gold[q]) for q, h in zip(queries, results, strict=True)]
    clean = [r for q, r in zip(queries, ranks, strict=True) if len(gold[q]) <= CLEAN_MAX_GOLD]
    return {"all": scores(ranks), "clean": scores(clean), "queries": [len(ranks), len(clean)],
            "seconds": round(seconds, 1)}  # fmt: skip


def quality(
    workdir: Path, models: Path | None, encoders: list[str], reranker: str, ner: str,
    limit: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    from llmline.kb.base import KnowledgeBase
    from llmline.kb.build import build_kb
    from llmline.kb.ingest import TableColumns
    from llmline.spec.kb import KbSpec
    from llmline.workspace import Workspace

    answers, gold = load_cmedqa(DATA / "cmedqa" / "dev.txt")
    if limit:  # a smoke run: the first queries, their answers and as many distractors
        gold = dict(list(gold.items())[:limit])
        keep = set().union(*gold.values()) | set(list(answers)[: 4 * limit])
        answers = {k: v for k, v in answers.items() if k in keep}
    table = write_table(workdir / "answers.tsv", answers)
    tagger, tagger_name = pick_tagger(ner, models)
    rerank_dir = resolve(reranker, models)
    ws = Workspace.resolve(workdir / "ws")
    out: dict[str, Any] = {"answers": len(answers), "queries": len(gold), "tagger": tagger_name,
                           "reranker": f"{reranker}: {rerank_dir}", "rows": {}}  # fmt: skip
    rows = out["rows"]

    def record(key: str, value: dict[str, Any]) -> None:
        rows[key] = value
        print(key, json.dumps(value), file=sys.stderr, flush=True)

    for number, reference in enumerate(encoders):
        directory = resolve(reference, models)
        if not isinstance(directory, Path):
            out[f"encoder {reference}"] = directory
            continue
        name = f"kb{number}"
        rerank = None if isinstance(rerank_dir, str) else str(rerank_dir)
        spec = KbSpec(encoder=str(directory), chunk_size=512, chunk_overlap=64,
                      entity_boost=0.0, redact=False, reranker=rerank)  # fmt: skip
        began = time.perf_counter()
        report = build_kb(name, ws, table, TableColumns("id", "text"), spec=spec, tagger=tagger)
        seconds = time.perf_counter() - began
        chunks = report["counts"]["chunks"]
        out[f"build {reference}"] = {"chunks": chunks, "seconds": round(seconds, 1),
                                     "chunks_per_s": round(chunks / seconds, 1)}  # fmt: skip
        kb = KnowledgeBase.open(name, ws, tagger=tagger)
        if "bm25" not in rows:
            record("bm25", evaluate(kb, gold, "bm25"))
        for retriever in ("dense", "hybrid"):
            record(f"{retriever} {reference}", evaluate(kb, gold, retriever))
        kb.spec = kb.spec.model_copy(update={"entity_boost": 1.0})
        record(f"hybrid+entity {reference}", evaluate(kb, gold, "hybrid"))
        kb.spec = kb.spec.model_copy(update={"entity_boost": 0.0, "candidates": 20})
        if kb.spec.reranker is not None and number == len(encoders) - 1:
            record(f"hybrid+rerank {reference}", evaluate(kb, gold, "hybrid+rerank"))
        out[f"hnsw recall@10 {reference}"] = hnsw_recall_real(kb, list(gold))
    return out


def hnsw_recall_real(kb: Any, queries: list[str]) -> float:
    """Top-10 overlap of an HNSW index with the KB's exact one, on its real vectors."""
    from llmline.kb.vectors import FaissStore

    exact = kb.store
    vectors = exact.index.index.reconstruct_n(0, exact.index.ntotal)
    with tempfile.TemporaryDirectory() as tmp:
        graph = FaissStore(Path(tmp) / "h.faiss", exact.dim, index="approximate")
        graph.add(exact._ids().tolist(), vectors)
        return recall_overlap(graph, exact, kb.encoder.encode_queries(queries))


def recall_overlap(approximate: Any, exact: Any, vectors: np.ndarray, k: int = 10) -> float:
    shares = [
        len({i for i, _ in approximate.search(v, k)} & {i for i, _ in exact.search(v, k)}) / k
        for v in vectors
    ]
    return round(float(np.mean(shares)), 4)


class SyntheticPassages:
    """The real encoder for queries, random unit vectors for the synthetic chunks."""

    def __init__(self, real: Any, seed: int = 0) -> None:
        self.real, self.directory, self.prefixes = real, real.directory, real.prefixes
        self.dim = real.dim
        self.rng = np.random.default_rng(seed)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        vectors: np.ndarray = self.real.encode_queries(texts)
        return vectors

    def encode_passages(self, texts: Sequence[str], *, progress: str | None = None) -> np.ndarray:
        vectors = self.rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic_table(path: Path, rows: int, vocabulary: list[str], seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(["id", "text"])
        for i in range(rows):
            writer.writerow([f"s{i}", "".join(rng.choices(vocabulary, k=rng.randint(20, 60)))])
    return path


def latency(
    workdir: Path, sizes: Sequence[int], queries: list[str], models: Path | None
) -> dict[str, Any]:
    from llmline.kb.base import KnowledgeBase
    from llmline.kb.bm25 import tokenize
    from llmline.kb.build import build_kb
    from llmline.kb.embed import Encoder, resolve_prefixes
    from llmline.kb.ingest import TableColumns
    from llmline.spec.kb import KbSpec
    from llmline.workspace import Workspace

    ws = Workspace.resolve(workdir / "ws")
    directory = resolve("packaged:e5-small", models)
    assert isinstance(directory, Path), directory
    real = Encoder(directory, resolve_prefixes("auto", directory))
    encoder = SyntheticPassages(real)
    out: dict[str, Any] = {"query_embedding": query_embedding(real, queries)}
    answers, _ = load_cmedqa(DATA / "cmedqa" / "dev.txt")
    vocabulary = [t for text in list(answers.values())[:1500] for t in tokenize(text)]
    for size in sizes:
        spec = KbSpec(encoder=str(directory), chunk_size=512, chunk_overlap=64, redact=False,
                      index="exact")  # fmt: skip
        table = synthetic_table(workdir / f"synthetic-{size}.tsv", size, vocabulary)
        began = time.perf_counter()
        build_kb(f"syn{size}", ws, table, TableColumns("id", "text"), spec=spec, encoder=encoder)
        row: dict[str, Any] = {"build_chunks_per_s_without_embedding":
                               round(size / (time.perf_counter() - began), 1)}  # fmt: skip
        kb = KnowledgeBase.open(f"syn{size}", ws, encoder=encoder)
        vectors = real.encode_queries(queries)
        row["bm25"] = _timed(partial(kb.search, retriever="bm25"), queries)
        exact = kb.store
        for index in ("exact", "approximate"):
            kb.spec = kb.spec.model_copy(update={"index": index})
            kb._store = None
            began = time.perf_counter()
            store = kb.store  # opening converts the saved flat index to HNSW
            row[f"{index} open_s"] = round(time.perf_counter() - began, 1)
            row[f"{index} dense_given_vector"] = _timed(partial(store.search, k=50), vectors)
            row[f"{index} hybrid_given_vector"] = _timed_index(kb, queries, vectors)
            real._cache.clear()
            search = partial(kb.search, retriever="hybrid")
            row[f"{index} hybrid_end_to_end"] = _timed(search, queries, warm_up=0)
            if index == "approximate":
                row["hnsw recall@10 (random vectors)"] = recall_overlap(store, exact, vectors)
            else:
                exact = store
        out[str(size)] = row
        print(size, json.dumps(row), file=sys.stderr, flush=True)
    return out


def query_embedding(encoder: Any, queries: list[str]) -> dict[str, Any]:
    """One query at a time: on one thread (Encoder's default for a few queries), on torch's
    default threads, and a repeated (cached) query."""
    out = {}
    encoder._cache.clear()
    out["one_thread"] = _timed(lambda q: encoder.encode_queries([q]), queries)
    out["cached_repeat"] = _timed(lambda q: encoder.encode_queries([q]), queries)
    out["default_threads"] = _timed(
        lambda q: encoder._encode([encoder.prefixes.query + q]), queries[:20]
    )
    return out


def _timed_index(kb: Any, queries: list[str], vectors: np.ndarray) -> dict[str, float]:
    """Hybrid search minus the query embedding: BM25 + vector search + RRF + catalog fetch."""
    from llmline.kb.retrieve import Searcher

    searcher = Searcher(kb, "hybrid", kb.spec.top_k)

    def search(pair: tuple[str, np.ndarray]) -> None:
        scored, parts = searcher._one(*pair)
        searcher._hits(scored[: kb.spec.top_k], parts)

    return _timed(search, list(zip(queries, vectors, strict=True)), warm_up=0)


def _timed(call: Any, queries: Any, *, warm_up: int = 5) -> dict[str, float]:
    """p50/p99 milliseconds of call over queries (texts or vectors), after warm_up calls that
    fill caches and lazy loads."""
    for query in queries[:warm_up]:
        call(query)
    times = []
    for query in queries:
        began = time.perf_counter()
        call(query)
        times.append((time.perf_counter() - began) * 1000)
    return _percentiles(times)


def _percentiles(times: list[float]) -> dict[str, float]:
    array = np.asarray(times)
    return {
        "p50_ms": round(float(np.percentile(array, 50)), 2),
        "p99_ms": round(float(np.percentile(array, 99)), 2),
        "n": len(times),
    }


def markdown(results: dict[str, Any]) -> str:
    """The RESULTS.md tables of this run."""
    lines = []
    quality = results.get("quality")
    if quality:
        header = (
            "| retriever | recall@1 | recall@5 | recall@10 | MRR@10 | clean: R@1 / R@10 / MRR |"
        )
        lines += [header,
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for key, row in quality["rows"].items():
            a, c = row["all"], row["clean"]
            lines.append(f"| {key} | {a['recall@1']:.3f} | {a['recall@5']:.3f} | "
                         f"{a['recall@10']:.3f} | {a['mrr@10']:.3f} | {c['recall@1']:.3f} / "
                         f"{c['recall@10']:.3f} / {c['mrr@10']:.3f} |")  # fmt: skip
    for size, row in (results.get("latency") or {}).items():
        if size == "query_embedding":
            continue
        cells = [f"{name}: {v['p50_ms']} / {v['p99_ms']}" for name, v in row.items()
                 if isinstance(v, dict)]  # fmt: skip
        lines.append(f"- {size} chunks (p50 / p99 ms): " + "; ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/kb_results.json"))
    parser.add_argument("--workspace", type=Path, help="where the tuned models are registered")
    parser.add_argument(
        "--encoders", default="packaged:e5-small,models:/medical-embedding-zh@champion"
    )
    parser.add_argument("--reranker", default="models:/medical-rerank-zh@champion")
    parser.add_argument("--ner", default="models:/medical-ner-zh@champion")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--limit", type=int, help="smoke run: only the first N queries")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()  # fmt: skip
    os.environ.setdefault("LLMLINE_NO_PROGRESS", "1")
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f} at start",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": "PYTHONPATH=src nice python benchmarks/bench_kb.py " + " ".join(sys.argv[1:]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if not args.skip_quality:
            encoders = [e for e in args.encoders.split(",") if e]
            results["quality"] = quality(
                workdir, args.workspace, encoders, args.reranker, args.ner, args.limit
            )
            _save(args.out, results)
        if not args.skip_latency:
            questions = list(dict.fromkeys(_questions(DATA / "cmedqa" / "dev.txt")))
            questions = questions[: args.limit or 200]
            sizes = [int(s) for s in args.sizes.split(",")]
            results["latency"] = latency(workdir, sizes, questions, args.workspace)
    results["load at end"] = round(os.getloadavg()[0], 1)
    _save(args.out, results)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    print(markdown(results))


def _questions(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        return [row[1] for row in csv.reader(fh, delimiter="\t")]


def _save(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
