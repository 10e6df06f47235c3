"""Near-duplicate detection: llmline's NearDedup vs a datasketch MinHashLSH loop, same corpus.

Corpus: real text (Tiny Shakespeare in 80-word passages + ChnSentiCorp Chinese reviews) with
injected near-duplicates of known kinds: word/character edits, reorderings, truncations.
Ground truth is exact Jaccard on the shingle sets (word 3-grams; character 5-grams for
Chinese): a pair counts as a near-duplicate at Jaccard >= 0.8. Precision is measured on every
pair a method reports (including natural duplicates already in the text), recall on the
injected pairs at or above the threshold.

    .venv/bin/python benchmarks/bench_dedup.py [--data-dir ../shared/datasets] [--docs 3000]
"""

from __future__ import annotations

import argparse
import random
import re
import time
from pathlib import Path

from llmline.data.dedup import NearDedup, NearDedupSpec
from llmline.data.filters import cjk_ratio
from llmline.data.record import Record

THRESHOLD = 0.8
TOKEN = re.compile(r"\w+")


def shingle_strings(text: str) -> set[str]:
    """The same shingles llmline uses (as strings), for ground truth and for datasketch."""
    folded = text.casefold()
    if cjk_ratio(text) >= 0.3:
        chars = "".join(folded.split())
        return {chars[i : i + 5] for i in range(max(1, len(chars) - 4))}
    words = TOKEN.findall(folded)
    return {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def base_documents(data_dir: Path, count: int) -> list[str]:
    words = (data_dir / "tinyshakespeare" / "input.txt").read_text().split()
    english = [" ".join(words[i : i + 80]) for i in range(0, len(words) - 80, 80)]
    lines = (data_dir / "chnsenticorp" / "train.tsv").read_text().splitlines()[1:]
    chinese = [line.split("\t", 1)[1] for line in lines if len(line) > 60]
    n_zh = count // 4
    return english[: count - n_zh] + chinese[:n_zh]


def variant(text: str, rng: random.Random) -> str:
    """An edit, reordering or truncation of a document (characters for Chinese)."""
    zh = cjk_ratio(text) >= 0.3
    units = list(text) if zh else text.split()
    kind = rng.choice(["edit", "reorder", "truncate"])
    if kind == "edit":
        for _ in range(rng.randint(1, 4) if not zh else rng.randint(1, 3)):
            units[rng.randrange(len(units))] = "某" if zh else rng.choice(["thee", "lord", "sir"])
    elif kind == "reorder":
        cut = rng.randrange(len(units) // 4, 3 * len(units) // 4)
        units = units[cut:] + units[:cut]
    else:
        units = units[: int(len(units) * rng.uniform(0.8, 0.97))]
    return ("" if zh else " ").join(units)


def build_corpus(data_dir: Path, count: int, seed: int) -> tuple[list[str], list[tuple[int, int]]]:
    rng = random.Random(seed)
    docs = base_documents(data_dir, count)
    injected = []
    for source in rng.sample(range(len(docs)), len(docs) // 4):
        injected.append((source, len(docs)))
        docs.append(variant(docs[source], rng))
    order = list(range(len(docs)))
    rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    shuffled = [docs[i] for i in order]
    return shuffled, [(position[a], position[b]) for a, b in injected]


def run_llmline(docs: list[str]) -> tuple[list[tuple[int, int]], float]:
    start = time.perf_counter()
    step = NearDedup(NearDedupSpec(threshold=THRESHOLD))
    out = list(step(Record(text=t, row=i) for i, t in enumerate(docs)))
    seconds = time.perf_counter() - start
    pairs = [(r.meta["cluster"], r.row) for r in out if r.dropped]
    return pairs, seconds


def run_datasketch(
    docs: list[str], lsh_threshold: float, *, batch: bool, verify: bool
) -> tuple[list[tuple[int, int]], float]:
    from datasketch import MinHash, MinHashLSH

    start = time.perf_counter()
    lsh = MinHashLSH(threshold=lsh_threshold, num_perm=128)
    sets: dict[int, set[str]] = {}
    pairs = []
    for index, text in enumerate(docs):
        shingles = shingle_strings(text)
        minhash = MinHash(num_perm=128)
        if batch:
            minhash.update_batch([s.encode() for s in shingles])
        else:
            for s in shingles:
                minhash.update(s.encode())
        found = [int(k) for k in lsh.query(minhash)]
        if verify:
            found = [k for k in found if jaccard(shingles, sets[k]) >= THRESHOLD]
        if found:
            pairs.append((min(found), index))
            continue
        lsh.insert(str(index), minhash)
        sets[index] = shingles
    return pairs, time.perf_counter() - start


def score(
    name: str, docs: list[str], truth: list[tuple[int, int]], pairs: list[tuple[int, int]],
    seconds: float, sets: list[set[str]],
) -> dict[str, float | str]:  # fmt: skip
    positives = [(a, b) for a, b in truth if jaccard(sets[a], sets[b]) >= THRESHOLD]
    flagged = {b for _, b in pairs} | {a for a, _ in pairs}
    # an injected pair is found when its later member was flagged (matched to any cluster
    # member; the first of the two is kept as the cluster's representative)
    found = sum(max(a, b) in flagged for a, b in positives)
    correct = sum(jaccard(sets[a], sets[b]) >= THRESHOLD for a, b in pairs)
    return {
        "method": name,
        "recall": found / max(len(positives), 1),
        "precision": correct / max(len(pairs), 1),
        "pairs": len(pairs),
        "seconds": seconds,
        "docs_per_s": len(docs) / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    docs, truth = build_corpus(args.data_dir, args.docs, args.seed)
    sets = [shingle_strings(d) for d in docs]
    positives = sum(jaccard(sets[a], sets[b]) >= THRESHOLD for a, b in truth)
    print(
        f"corpus: {len(docs)} docs, {len(truth)} injected variants, {positives} at J >= {THRESHOLD}"
    )
    results = [score("llmline NearDedup (verified)", docs, truth, *run_llmline(docs), sets)]
    for lsh_threshold in (0.8, 0.7):
        for batch, verify in ((False, False), (True, True)):
            label = f"datasketch loop t={lsh_threshold} " + (
                "update_batch +verify" if verify else "update"
            )
            found = run_datasketch(docs, lsh_threshold, batch=batch, verify=verify)
            results.append(score(label, docs, truth, *found, sets))
    ours = float(results[0]["docs_per_s"])
    print("| method | recall | precision | pairs | seconds | docs/s | llmline speed-up |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        speedup = ours / float(r["docs_per_s"])
        print(
            f"| {r['method']} | {r['recall']:.4f} | {r['precision']:.4f} | {r['pairs']} | "
            f"{r['seconds']:.2f} | {r['docs_per_s']:.0f} | {speedup:.2f}x |"
        )


if __name__ == "__main__":
    main()
