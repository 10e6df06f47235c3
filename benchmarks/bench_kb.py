"""Knowledge-base retrieval quality on cMedQA and search latency at 10k/100k chunks, one run.

Quality: the ~4,600 distinct doctors' answers of `shared/datasets/cmedqa/dev.txt` become a KB
(`--id-col id --text-col text`); each of the 895 patient questions is a query whose gold ids are
its answers labelled 1. Retrievers: BM25 (jieba), dense (each untuned encoder available: MiniLM,
e5-small when its converter is installed), hybrid (RRF), and hybrid + entity boost where the
"NER model" is a gazetteer of the entity strings annotated in `cmedqa-ner/train.txt` (a stand-in
for a trained tagger: it measures what the boost can do with good entities).

Latency: synthetic KBs of 10k and 100k chunks (texts sampled from cMedQA's jieba vocabulary,
random unit vectors) searched through the real code path, the query embedded by MiniLM; plus
the raw vector-store comparison behind the embedded default (FAISS flat vs sqlite-vec).

    PYTHONPATH=src nice python benchmarks/bench_kb.py [--out benchmarks/kb_results.json]
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
RETRIEVERS = ("bm25", "dense", "hybrid")


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


def quality(workdir: Path, encoders: list[str]) -> dict[str, Any]:
    from llmline.kb.base import KnowledgeBase
    from llmline.kb.build import build_kb
    from llmline.kb.evaluate import evaluate_kb
    from llmline.kb.ingest import TableColumns
    from llmline.spec.kb import KbSpec
    from llmline.workspace import Workspace

    answers, gold = load_cmedqa(DATA / "cmedqa" / "dev.txt")
    table = write_table(workdir / "answers.tsv", answers)
    tagger, names = gazetteer(DATA / "cmedqa-ner" / "train.txt")
    ws = Workspace.resolve(workdir / "ws")
    out: dict[str, Any] = {"answers": len(answers), "queries": len(gold), "gazetteer": names}
    for encoder in encoders:
        name = encoder.replace("packaged:", "")
        spec = KbSpec(encoder=encoder, chunk_size=512, chunk_overlap=64, entity_boost=0.0)
        began = time.perf_counter()
        report = build_kb(name, ws, table, TableColumns("id", "text"), spec=spec, tagger=tagger)
        seconds = time.perf_counter() - began
        chunks = report["counts"]["chunks"]
        out[f"build[{name}]"] = {
            "chunks": chunks, "seconds": round(seconds, 1),
            "chunks_per_s": round(chunks / seconds, 1),
        }  # fmt: skip
        kb = KnowledgeBase.open(name, ws, tagger=tagger)
        for retriever in RETRIEVERS:
            if retriever == "bm25" and "bm25" in out:
                continue
            key = "bm25" if retriever == "bm25" else f"{retriever}[{name}]"
            out[key] = _metrics(evaluate_kb(kb, gold, retriever))  # type: ignore[arg-type]
            print(key, out[key], file=sys.stderr, flush=True)
        kb.spec = kb.spec.model_copy(update={"entity_boost": 1.0})
        out[f"hybrid+entity[{name}]"] = _metrics(evaluate_kb(kb, gold, "hybrid"))
        print(f"hybrid+entity[{name}]", out[f"hybrid+entity[{name}]"], file=sys.stderr, flush=True)
    return out


def _metrics(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("recall@1", "recall@5", "recall@10", "mrr@10", "seconds")
    return {k: report[k] for k in keys}


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


def latency(workdir: Path, sizes: Sequence[int], queries: list[str]) -> dict[str, Any]:
    from llmline.kb.base import KnowledgeBase
    from llmline.kb.bm25 import tokenize
    from llmline.kb.build import build_kb
    from llmline.kb.embed import load_encoder
    from llmline.kb.ingest import TableColumns
    from llmline.spec.kb import KbSpec
    from llmline.workspace import Workspace

    ws = Workspace.resolve(workdir / "ws")
    spec = KbSpec(chunk_size=512, chunk_overlap=64, redact=False)
    encoder = SyntheticPassages(load_encoder(spec, ws))
    answers, _ = load_cmedqa(DATA / "cmedqa" / "dev.txt")
    vocabulary = [t for text in list(answers.values())[:1500] for t in tokenize(text)]
    out: dict[str, Any] = {}
    for size in sizes:
        table = synthetic_table(workdir / f"synthetic-{size}.tsv", size, vocabulary)
        began = time.perf_counter()
        build_kb(f"syn{size}", ws, table, TableColumns("id", "text"), spec=spec, encoder=encoder)
        built = time.perf_counter() - began
        kb = KnowledgeBase.open(f"syn{size}", ws, encoder=encoder)
        row: dict[str, Any] = {"build_s_without_embedding": round(built, 1)}
        for retriever in RETRIEVERS:
            row[retriever] = _timed(_searcher(kb, retriever), queries)
        vectors = encoder.encode_queries(queries)
        row["hybrid_given_query_vector"] = _timed_index(kb, queries, vectors)
        out[str(size)] = row
        print(size, row, file=sys.stderr, flush=True)
    out["query_embedding"] = _timed(lambda q: encoder.encode_queries([q]), queries)
    return out


def _searcher(kb: Any, retriever: str) -> Any:
    return lambda query: kb.search(query, retriever=retriever)


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


def _timed_index(kb: Any, queries: list[str], vectors: np.ndarray) -> dict[str, float]:
    """Hybrid search minus the query embedding: BM25 + vector search + RRF + catalog fetch."""
    from llmline.kb.retrieve import Searcher

    searcher = Searcher(kb, "hybrid", kb.spec.top_k)

    def search(pair: tuple[str, np.ndarray]) -> None:
        scored, parts = searcher._one(*pair)
        searcher._hits(scored[: kb.spec.top_k], parts)

    return _timed(search, list(zip(queries, vectors, strict=True)), warm_up=0)


def _percentiles(times: list[float]) -> dict[str, float]:
    array = np.asarray(times)
    return {
        "p50_ms": round(float(np.percentile(array, 50)), 2),
        "p99_ms": round(float(np.percentile(array, 99)), 2),
        "n": len(times),
    }


def vector_stores(workdir: Path, sizes: Sequence[int], dim: int = 384) -> dict[str, Any]:
    """FAISS flat (the embedded default) against LanceDB and sqlite-vec on the same vectors.

    sqlite-vec is measured only where Python's sqlite3 can load extensions (this machine's
    build cannot: `enable_load_extension` is missing), hnswlib not at all: it publishes no
    wheel for this Python (0.8.0, 2023, source only).
    """
    rng = np.random.default_rng(1)
    out: dict[str, Any] = {}
    for size in sizes:
        data = rng.standard_normal((size, dim)).astype(np.float32)
        data /= np.linalg.norm(data, axis=1, keepdims=True)
        queries = data[rng.choice(size, 200, replace=False)] + 0.01
        row = {"faiss_flat": _timed(_faiss(workdir, data), queries, warm_up=1)}
        for name, make in (("lancedb_flat", _lancedb), ("sqlite_vec", _sqlite_vec)):
            try:
                row[name] = _timed(make(workdir, data), queries, warm_up=1)
            except (ImportError, AttributeError) as exc:
                row[name] = {"unavailable": f"{type(exc).__name__}: {exc}"}
        out[str(size)] = row
        print(size, row, file=sys.stderr, flush=True)
    return out


def _faiss(workdir: Path, data: np.ndarray) -> Any:
    from llmline.kb.vectors import FaissStore

    store = FaissStore(workdir / f"f{len(data)}.faiss", data.shape[1])
    store.add(list(range(len(data))), data)
    return lambda q: store.search(q, 50)


def _lancedb(workdir: Path, data: np.ndarray) -> Any:
    import lancedb
    import pyarrow as pa

    db = lancedb.connect(workdir / f"lance{len(data)}")
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1)), data.shape[1])
    table = db.create_table("v", pa.table({"id": np.arange(len(data)), "vector": vectors}))
    return lambda q: table.search(q).metric("cosine").limit(50).to_arrow()


def _sqlite_vec(workdir: Path, data: np.ndarray) -> Any:
    import sqlite3

    import sqlite_vec

    db = sqlite3.connect(workdir / f"v{len(data)}.db")
    db.enable_load_extension(True)
    sqlite_vec.load(db)
    dim = data.shape[1]
    db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{dim}] distance_metric=cosine)")
    rows = ((i, data[i].tobytes()) for i in range(len(data)))
    db.executemany("INSERT INTO v(rowid, embedding) VALUES (?, ?)", rows)
    sql = "SELECT rowid, distance FROM v WHERE embedding MATCH ? AND k = 50"
    return lambda q: db.execute(sql, (q.tobytes(),)).fetchall()


def encoders_available() -> list[str]:
    found = ["packaged:minilm"]
    try:
        import llmline.models.e5_small  # noqa: F401  (the colleague's converter)

        found.append("packaged:e5-small")
    except ImportError:
        pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/kb_results.json"))
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-stores", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("LLMLINE_NO_PROGRESS", "1")
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": "PYTHONPATH=src nice python benchmarks/bench_kb.py " + " ".join(sys.argv[1:]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if not args.skip_quality:
            results["quality"] = quality(workdir, encoders_available())
        _, gold = load_cmedqa(DATA / "cmedqa" / "dev.txt")
        queries = list(gold)[:200]
        if not args.skip_stores:
            results["vector_stores"] = vector_stores(workdir, sizes)
        results["latency"] = latency(workdir, sizes, queries)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
