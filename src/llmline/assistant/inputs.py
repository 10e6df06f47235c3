"""Turn an `assistant.input` into what `kb build` indexes: the files themselves, or a table.

Pair corpora have no FAQ of their own, so one is derived, and what its answers are is said
plainly:
- question_pairs (BQ, LCQMC, ATEC): every distinct question is a row; questions joined by
  same-meaning pairs form a cluster, and a row's "answer" is its cluster's canonical question
  (the one most often paired, then the shortest). The corpus has no answers: a bank puts its
  own answer text in that column (or indexes its FAQ table with kind files).
- answer_pairs (cMedQA): the distinct answers are the documents, and the question -> answer
  pairs labelled positive are written as `queries.csv` for `llmline kb eval`.
- templates: one row per templated intent with its template as the answer, its questions the
  intent's name and up to N training texts of that intent.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from llmline.errors import DataError
from llmline.kb.ingest import TableColumns
from llmline.lineage import sha256_bytes
from llmline.spec.assistant import AssistantSpec, KbInputSpec


def prepare_input(spec: AssistantSpec, out_dir: Path) -> tuple[Path, TableColumns]:
    """The folder or table to index and its columns; derived tables are written to out_dir."""
    source = spec.input
    if source is None:
        raise DataError("the assistant has no input to index", where="assistant.input",
                        fix="add assistant.input, or build the KB with --input")  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    if source.kind == "files":
        assert source.path is not None
        return source.path, TableColumns(source.id_column, source.text_column)
    if source.kind == "question_pairs":
        faq = _write(out_dir / "faq.csv", ["id", "question", "answer"], question_rows(source))
        return faq, TableColumns("id")
    if source.kind == "answer_pairs":
        rows, queries = answer_rows(source)
        _write(out_dir / "queries.csv", ["question", "answer_id"], iter(queries))
        table = _write(out_dir / "answers.csv", ["id", "text"], iter(rows))
        return table, TableColumns("id", "text")
    header = ["id", "question", "answer", "intent"]
    table = _write(out_dir / "templates.csv", header, template_rows(spec.templates, source))
    return table, TableColumns("id")


def _write(path: Path, header: list[str], rows: Iterator[tuple[str, ...]]) -> Path:
    import io

    from llmline.lineage import write_text_atomic

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    if count == 0:
        raise DataError(
            f"no rows to index were derived for {path.name}",
            where="assistant.input", fix="check its path, columns and labels",
        )  # fmt: skip
    write_text_atomic(path, buffer.getvalue())
    return path


def read_pairs(source: KbInputSpec) -> list[dict[str, str]]:
    """Rows of a pair table with the named columns as strings (unreadable rows skipped)."""
    from llmline.data import sources
    from llmline.spec import SourceSpec

    assert source.path is not None
    fmt = source.format or {".csv": "csv", ".jsonl": "jsonl"}.get(source.path.suffix, "tsv")
    if not source.path.is_file():
        raise DataError(
            f"pair table {str(source.path)!r} does not exist",
            where="assistant.input.path", fix="check the path (or --var data_dir)",
        )  # fmt: skip
    reader = {"csv": sources.read_csv, "tsv": sources.read_tsv, "jsonl": sources.read_jsonl}[fmt]
    spec = SourceSpec(path=source.path, format=fmt, columns=source.columns, label_column=None)
    wanted = [c for c in (source.text_column, source.pair_column, source.label_column) if c]
    rows = []
    for row in reader(spec):
        if sources.ERROR_KEY in row:
            continue
        missing = [c for c in wanted if c not in row]
        if missing:
            raise DataError(
                f"column {missing[0]!r} not in {str(source.path)!r} (columns: "
                f"{', '.join(k for k in row if not k.startswith('_'))})",
                where="assistant.input", fix="set text_column/pair_column/label_column",
            )  # fmt: skip
        rows.append({c: "" if row[c] is None else str(row[c]).strip() for c in wanted})
    return rows


def question_rows(source: KbInputSpec) -> Iterator[tuple[str, str, str]]:
    rows = read_pairs(source)
    a, b, label = source.text_column, source.pair_column, source.label_column
    assert a is not None and b is not None and label is not None
    parent: dict[str, str] = {}

    def root(q: str) -> str:
        while parent.setdefault(q, q) != q:
            parent[q] = parent[parent[q]]
            q = parent[q]
        return q

    counts: Counter[str] = Counter()
    for row in rows:
        first, second = row[a], row[b]
        if not first or not second:
            continue
        counts.update((first, second))
        if row[label] == source.positive_label:
            parent[root(first)] = root(second)
        root(first), root(second)
    members: dict[str, list[str]] = {}
    for question in counts:
        members.setdefault(root(question), []).append(question)
    canonical = {r: min(qs, key=lambda q: (-counts[q], len(q), q)) for r, qs in members.items()}
    for question in counts:
        yield f"q-{sha256_bytes(question.encode())[:10]}", question, canonical[root(question)]


def answer_rows(
    source: KbInputSpec,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(answer id, answer) for each distinct answer; (question, answer id) per positive pair."""
    a, b, label = source.text_column, source.pair_column, source.label_column
    assert a is not None and b is not None
    ids: dict[str, str] = {}
    queries = []
    for row in read_pairs(source):
        if not row[b]:
            continue
        answer_id = ids.setdefault(row[b], f"a-{sha256_bytes(row[b].encode())[:10]}")
        if label is not None and row[label] == source.positive_label and row[a]:
            queries.append((row[a], answer_id))
    return [(v, k) for k, v in ids.items()], queries


def template_rows(templates: dict[str, str], source: KbInputSpec) -> Iterator[tuple[str, ...]]:
    examples = _examples(source, set(templates)) if source.path is not None else {}
    for intent, answer in templates.items():
        questions = [intent.replace("_", " "), *examples.get(intent, [])]
        for n, question in enumerate(questions):
            yield f"{intent}-{n}", question, answer, intent


def _examples(source: KbInputSpec, intents: set[str]) -> dict[str, list[str]]:
    """Up to examples_per_intent texts per intent, in file order."""
    text, label = source.text_column or "text", source.label_column or "label"
    found: dict[str, list[str]] = {}
    probe = source.model_copy(update={"text_column": text, "pair_column": None,
                                      "label_column": label})  # fmt: skip
    for row in read_pairs(probe):
        bucket = found.setdefault(row[label], [])
        if row[label] in intents and len(bucket) < source.examples_per_intent and row[text]:
            bucket.append(row[text])
    return found
