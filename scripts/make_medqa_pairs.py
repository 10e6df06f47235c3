"""Write the medical question -> answer pair files the KB's tuned models train on.

Why not cMedQA itself: `shared/datasets/cmedqa/dev.txt` is the retrieval benchmark (the tuned
models must not see its questions), and most of its positives are noise: 677 of its 895
questions have no positive at all, and the 106 questions with 5-18 "positives" mostly list
answers about other illnesses (a question on chest pain is "answered" by text on haemorrhoids,
athlete's foot and amniotic fluid). The training pairs come from `shared/datasets/medical-
dialogue/sample.csv` instead (7,644 patient questions and doctors' answers, GB18030, internal
medicine, MIT; no question or answer in common with cMedQA, checked), split 90/10 by a hash of
the question so a repeated question never straddles the split.

Files (TSV, no header, `label<TAB>question<TAB>answer`, the cmedqa/cmedqq layout):
- `embed-train.tsv`, `embed-dev.tsv`: the matching pairs (label 1) for the bi-encoder
  (`recipes/medical-embedding-zh.yaml`; MNRL's in-batch negatives need no sampled ones, the
  few 0 rows are there because the data stage wants two labels, and training skips them);
- `rerank-train.tsv`, `rerank-dev.tsv`: for the cross-encoder (`recipes/medical-rerank-zh.yaml`)
  each question's answer (1), its hardest BM25 negative (0: the best-scoring other answer under
  jieba BM25 over that side's answers, the kind of near miss the reranker sees after hybrid
  recall) and one random other answer (0). Answers equal to the question's own after
  whitespace folding never serve as negatives.

    PYTHONPATH=src python scripts/make_medqa_pairs.py OUT_DIR [--rerank-questions 3000]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
Pair = tuple[str, str]


def read_dialogue(path: Path) -> list[Pair]:
    """(question, answer) rows with both texts present, whitespace folded."""
    with path.open(encoding="gb18030", newline="") as fh:
        rows = [
            (" ".join(r["ask"].split()), " ".join(r["answer"].split())) for r in csv.DictReader(fh)
        ]
    return [(q, a) for q, a in rows if q and a]


def held_out(question: str, percent: int = 10) -> bool:
    return int(hashlib.sha256(question.encode()).hexdigest(), 16) % 100 < percent


def negatives(pairs: list[Pair], pool: list[Pair], seed: int) -> list[tuple[str, str, str]]:
    """Each pair as (1, q, a), plus its hardest BM25 negative among the pool's answers and a
    random one (0)."""
    from llmline.kb.bm25 import Bm25Index, tokenize

    answers = list(dict.fromkeys(a for _, a in pool))
    index = Bm25Index.build(list(range(len(answers))), [tokenize(a) for a in answers])
    rng = random.Random(seed)
    rows = []
    for question, answer in pairs:
        rows.append(("1", question, answer))
        hard = next(
            (answers[i] for i, _ in index.search(question, 5) if answers[i] != answer), None
        )
        if hard is not None:
            rows.append(("0", question, hard))
        other = rng.choice(answers)
        if other not in (answer, hard):
            rows.append(("0", question, other))
    return rows


def write(path: Path, rows: list[tuple[str, str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_MINIMAL).writerows(rows)
    print(f"{path}: {len(rows)} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rerank-questions", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    pairs = read_dialogue(DATA / "medical-dialogue" / "sample.csv")
    train = [p for p in pairs if not held_out(p[0])]
    dev = [p for p in pairs if held_out(p[0])]
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    sample = rng.sample(train, min(args.rerank_questions, len(train)))
    rerank_train = negatives(sample, train, args.seed)
    dev_rows = negatives(dev, dev, 1)
    # The data stage wants both labels; MNRL trains on the 1 rows only, and the 0 rows'
    # answers are already among the positives, so they add no passage to the validation search.
    zeros = [row for row in rerank_train if row[0] == "0"][:200]
    embed_train = [("1", q, a) for q, a in train] + zeros
    rng.shuffle(embed_train)  # so a data.max_rows slice still holds both labels
    write(args.out / "embed-train.tsv", embed_train)
    write(args.out / "embed-dev.tsv", dev_rows)
    write(args.out / "rerank-train.tsv", rerank_train)
    write(args.out / "rerank-dev.tsv", dev_rows[: 3 * max(1, args.rerank_questions // 10)])


if __name__ == "__main__":
    main()
