"""Chinese person-name redaction (jieba POS tags + surname check) scored on labelled sentences.

Three sets: `benchmarks/data/zh_names.tsv` (written for this benchmark: names of 2-4 characters,
compound surnames, names beside titles, and negatives such as places and words that start with a
surname character), and the person-name spans of two real corpora nobody here labelled: the
Resume NER dev split (NAME) and the Weibo NER dev split (PER.NAM). A prediction counts when its
span equals a gold span exactly. Also scored: jieba's raw `nr` tags, to show what the checks add.

    .venv/bin/python benchmarks/bench_zh_names.py [--data-dir ../shared/datasets]
        [--name-model REF ...] [--workspace DIR]

Each `--name-model` (an NER model reference: models:/NAME@ALIAS, a run or model dir) adds a
column: the names that model's person entities give (`redact.name_model`). A model scored on
the corpus it was trained on is scored on its own dev split: that column is in-domain.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

from llmline.data.pii_model_names import model_names
from llmline.data.pii_names import _jieba_posseg, chinese_names

Spans = set[tuple[int, int]]
Labelled = list[tuple[str, Spans]]


def tsv_set(path: Path) -> Labelled:
    out: Labelled = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        text, _, names = line.partition("\t")
        spans: Spans = set()
        for name in filter(None, names.split("|")):
            start = text.index(name)
            spans.add((start, start + len(name)))
        out.append((text, spans))
    return out


def bmes_set(path: Path, label: str) -> Labelled:
    """Sentences of a character-per-line BMES file with the spans of one entity type."""
    out: Labelled = []
    chars: list[str] = []
    spans: Spans = set()
    start = 0
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        parts = line.split()
        if len(parts) < 2:
            if chars:
                out.append(("".join(chars), spans))
            chars, spans = [], set()
            continue
        char, tag = parts[0], parts[-1]
        position = len(chars)
        chars.append(char)
        if tag in (f"B-{label}", f"S-{label}"):
            start = position
        if tag in (f"E-{label}", f"S-{label}"):
            spans.add((start, position + 1))
    return out


def llmline_spans(text: str) -> Spans:
    return {(f.start, f.end) for f in chinese_names(text)}


def raw_jieba_spans(text: str) -> Spans:
    spans, cursor = set(), 0
    for pair in _jieba_posseg().cut(text):
        if pair.flag in ("nr", "nrfg", "nrt"):
            spans.add((cursor, cursor + len(pair.word)))
        cursor += len(pair.word)
    return spans


def score(detect: Callable[[str], Spans], labelled: Labelled) -> str:
    tp = fp = fn = 0
    started = time.perf_counter()
    for text, gold in labelled:
        found = detect(text)
        tp += len(found & gold)
        fp += len(found - gold)
        fn += len(gold - found)
    seconds = time.perf_counter() - started
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return (
        f"P {precision:.3f} R {recall:.3f} F1 {f1:.3f} ({tp} tp, {fp} fp, {fn} fn; {seconds:.1f} s)"
    )


def model_spans(reference: str) -> Callable[[str], Spans]:
    return lambda text: {(f.start, f.end) for f in model_names(text, reference)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--name-model", action="append", default=[], help="NER model reference")
    parser.add_argument("--workspace", type=Path, help="workspace of models:/ references")
    args = parser.parse_args()
    if args.workspace:
        os.environ["LLMLINE_HOME"] = str(args.workspace.resolve())
    _jieba_posseg().lcut("预热")  # load the dictionary outside the timings
    sets = {"zh_names.tsv": tsv_set(Path(__file__).parent / "data" / "zh_names.tsv")}
    resume = args.data_dir / "resume-ner" / "dev.char.bmes"
    weibo = args.data_dir / "weibo-ner" / "dev.all.bmes"
    if resume.is_file():
        sets["resume-ner dev NAME"] = bmes_set(resume, "NAME")
    if weibo.is_file():
        sets["weibo-ner dev PER.NAM"] = bmes_set(weibo, "PER.NAM")
    detectors = {
        "llmline (jieba + surname check)": llmline_spans,
        "jieba nr tags alone": raw_jieba_spans,
    }
    for reference in args.name_model:
        detectors[f"name_model {reference}"] = model_spans(reference)
    print(f"| set | sentences | names | {' | '.join(detectors)} |")
    print("|---|---|---|" + "---|" * len(detectors))
    for name, labelled in sets.items():
        names = sum(len(gold) for _, gold in labelled)
        cells = " | ".join(score(detect, labelled) for detect in detectors.values())
        print(f"| {name} | {len(labelled)} | {names} | {cells} |")


if __name__ == "__main__":
    main()
