"""When should the bank FAQ assistant hand off? Its confidence on bank questions vs off-topic ones.

`recipes/bank-faq-zh.yaml` answers with the FAQ question its matcher (the BQ cross-encoder)
rates most likely "the same question", and hands off below `assistant.min_confidence`. A
threshold is only as good as the two populations it separates, so this measures both:

- in domain: the first sentence of every same-meaning pair in bq-matching's validation split
  (never trained on). The KB holds every question of BQ's dev file, the message itself included,
  so its own row is skipped: the assistant must find another question of its cluster. Right
  means the answer (the cluster's canonical question) is that of the message's own row.
- off topic: open-domain questions (LCQMC's, Baidu Zhidao: games, weather, health, school...),
  minus any that mention banking, plus small talk written here. A bank FAQ must not answer them.

For every threshold: the share of bank questions answered right, answered wrong and handed
off, and the share of off-topic questions answered (false answers). Two confidence sources side
by side: the matcher's probability (the recipe's `confidence: rerank`) and the encoder's cosine
of message and FAQ question (`confidence: dense`).

    PYTHONPATH=src python benchmarks/bench_faq_handoff.py --workspace WS [--spec SPEC]

SPEC defaults to recipes/bank-faq-zh.yaml; WS holds the built `bank-faq-zh` KB and
`models:/bq-matching@champion` (run the recipe first).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BANKING = re.compile(
    r"银行|贷|借|还款|还钱|额度|信用|花呗|借呗|微粒|利息|利率|转账|账户|账号|卡|钱|款|分期|逾期|"
    r"支付|提现|充值|工资|手续费|征信|审核|微信|支付宝"
)
SMALL_TALK = [
    "今天天气怎么样", "你是机器人吗", "给我讲个笑话吧", "你叫什么名字", "明天会下雨吗",
    "附近有什么好吃的餐厅", "周末去哪里玩比较好", "推荐一部好看的电影", "你好", "谢谢你",
    "现在几点了", "北京到上海的高铁要多久", "感冒了吃什么药好", "怎么学好英语",
    "今晚的球赛谁赢了", "我想订一张去广州的机票", "帮我写一首诗", "猫为什么喜欢睡觉",
    "手机屏幕碎了怎么办", "怎么减肥最快",
]  # fmt: skip
THRESHOLDS = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98]
FLOORS = [0.84, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9, 0.91]  # e5 cosines sit high


def bank_questions(workspace: Path, limit: int) -> list[str]:
    """First sentences of validation pairs labelled same-meaning, from bq-matching's run."""
    import pandas as pd

    runs = sorted((workspace / "runs").glob("bq-matching-*/data/validation.parquet"))
    if not runs:
        sys.exit(f"no bq-matching run in {workspace}: run recipes/bq-matching.yaml first")
    frame = pd.read_parquet(runs[-1])
    texts = frame.loc[frame["label"].astype(str) == "1", "text"].drop_duplicates().tolist()
    return texts[:limit]


def off_topic_questions(lcqmc: Path, limit: int) -> list[str]:
    seen: set[str] = set()
    with lcqmc.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            for text in row[:2]:
                if text and not BANKING.search(text):
                    seen.add(text)
    pool = sorted(seen)
    random.Random(13).shuffle(pool)
    return SMALL_TALK + pool[: max(0, limit - len(SMALL_TALK))]


def score(assistant: object, kb: object, messages: list[str], *, skip_self: bool) -> list[dict]:
    """Best other FAQ row per message, its answer, the matcher's and the encoder's confidence."""
    from rich.progress import track

    from llmline.assistant import answers
    from llmline.kb.ingest import clean

    rows = []
    for message in track(messages, description="asking", transient=True):
        query = clean(message, redact=False)
        hits = kb.search(query, top_k=6)  # type: ignore[attr-defined]
        own = next((h for h in hits if answers.faq_question(h, redact=False) == query), None)
        others = [h for h in hits if h is not own] if skip_self else hits
        if not others:
            continue
        best = others[0]
        rerank, _ = assistant.confidence(query, best)  # type: ignore[attr-defined]
        question = answers.faq_question(best, redact=False) or best.chunk.text
        rows.append(
            {
                "message": message,
                "matched": question,
                "right": own is not None
                and answers.faq_answer(best, redact=False) == answers.faq_answer(own, redact=False),
                "rerank": rerank,
                "dense": assistant.similarity(query, best),  # type: ignore[attr-defined]
            }
        )
    return rows


def outcome(bank: list[dict], off: list[dict], answers: object, **where: float) -> dict:
    """Shares at one operating point; answers(row) says whether the assistant answers it."""
    answered = [r for r in bank if answers(r)]  # type: ignore[operator]
    return {
        **where,
        "bank_right": sum(r["right"] for r in answered) / len(bank),
        "bank_wrong": sum(not r["right"] for r in answered) / len(bank),
        "bank_handed_off": 1 - len(answered) / len(bank),
        "off_topic_answered": sum(bool(answers(r)) for r in off) / len(off),  # type: ignore[operator]
    }


def sweep(bank: list[dict], off: list[dict], source: str) -> list[dict]:
    return [outcome(bank, off, lambda r, t=t: r[source] >= t, threshold=t) for t in THRESHOLDS]


def floors(bank: list[dict], off: list[dict], threshold: float) -> list[dict]:
    """The matcher's threshold with a floor on the cosine (assistant.min_similarity)."""
    return [
        outcome(
            bank,
            off,
            lambda r, f=f: r["rerank"] >= threshold and r["dense"] >= f,
            threshold=threshold,
            floor=f,
        )
        for f in FLOORS
    ]


def auroc(positive: list[float], negative: list[float]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([1] * len(positive) + [0] * len(negative), positive + negative))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--spec", type=Path, default=ROOT / "recipes/bank-faq-zh.yaml")
    parser.add_argument("--lcqmc", type=Path, default=ROOT / "../shared/datasets/lcqmc/dev.txt")
    parser.add_argument("--bank", type=int, default=200)
    parser.add_argument("--off-topic", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/faq_handoff.json")
    parser.add_argument(
        "--rows",
        type=Path,
        help="also write every message, its match and both confidences here (dataset text: keep "
        "it out of the repository; the --out report holds only the aggregates)",
    )
    args = parser.parse_args()

    from llmline.assistant.cli import load_assistant_spec
    from llmline.assistant.core import Assistant
    from llmline.assistant.store import ConversationStore
    from llmline.workspace import Workspace

    workspace = Workspace.resolve(args.workspace)
    spec = load_assistant_spec("bank-faq-zh", args.spec)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:  # no tickets in the workspace's store
        store = ConversationStore(f"sqlite:///{tmp}/assistant.db")
        assistant = Assistant(spec, workspace, store=store)
        kb = assistant.kb
        bank = score(assistant, kb, bank_questions(workspace.root, args.bank), skip_self=True)
        off = score(assistant, kb, off_topic_questions(args.lcqmc, args.off_topic), skip_self=False)
        assistant.close()
    report = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": round(time.perf_counter() - started, 1),
        "bank_questions": len(bank),
        "off_topic_questions": len(off),
        "top1_right": sum(r["right"] for r in bank) / len(bank),
        "recipe_threshold": spec.min_confidence,
        "sources": {
            source: {
                "auroc_bank_vs_off_topic": auroc(
                    [r[source] for r in bank], [r[source] for r in off]
                ),
                "auroc_right_vs_off_topic": auroc(
                    [r[source] for r in bank if r["right"]], [r[source] for r in off]
                ),
                "sweep": sweep(bank, off, source),
            }
            for source in ("rerank", "dense")
        },
        "rerank_with_dense_floor": floors(bank, off, spec.min_confidence),
    }
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    if args.rows:
        rows = {"bank": bank, "off_topic": off}
        args.rows.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    print(render(report))
    return 0


def render(report: dict) -> str:
    lines = [
        f"{report['bank_questions']} bank questions (top-1 right {report['top1_right']:.3f}), "
        f"{report['off_topic_questions']} off-topic; {report['seconds']} s",
    ]
    for source, body in report["sources"].items():
        lines += [
            "",
            f"confidence: {source} (AUROC bank vs off-topic "
            f"{body['auroc_bank_vs_off_topic']:.3f}, right answers vs off-topic "
            f"{body['auroc_right_vs_off_topic']:.3f})",
            "",
            "| threshold | bank: answered right | answered wrong | handed off "
            "| off-topic answered |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['threshold']} | {r['bank_right']:.3f} | {r['bank_wrong']:.3f} "
            f"| {r['bank_handed_off']:.3f} | {r['off_topic_answered']:.3f} |"
            for r in body["sweep"]
        ]
    lines += [
        "",
        f"matcher >= {report['recipe_threshold']} and cosine >= floor",
        "",
        "| floor | bank: answered right | answered wrong | handed off | off-topic answered |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['floor']} | {r['bank_right']:.3f} | {r['bank_wrong']:.3f} "
        f"| {r['bank_handed_off']:.3f} | {r['off_topic_answered']:.3f} |"
        for r in report["rerank_with_dense_floor"]
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
