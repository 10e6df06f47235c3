"""Back-test of `llmline watch` surge alerts on streams of real posts with injected surges.

Posts are real sentences (English: Financial PhraseBank + FiQA; Chinese: FinFE stock-forum
posts, label 0 read as negative, 1 neutral, 2 positive) about a watch list of companies, with
timestamps drawn per entity (Poisson arrivals, busier by day than by night, each entity its own
rate and its own usual negative share). After a calm week, negative surges are injected: for
three hours one entity's posts are `surge_factor` x as often negative (at most 90 %) and three
times as many; a quiet day follows. Every post goes through the real stream (fold, redact,
language, link, judge, store, detect). The judge is either a stand-in that returns each
sentence's gold label with a given share flipped to another label at random (`--judge oracle`,
so it errs like a real classifier would), or the trained sentiment models (`--judge model`,
by default the ONNX int8 variants `llmline optimize` registered), whose agreement with the gold
labels on the stream is reported beside the detection scores. Most sentences of the streams
are in the models' training splits, so that agreement is above the models' validation accuracy.

The same judged links are then replayed through two baselines:
- fixed threshold: window negative share >= 0.5 with >= 10 posts (a typical dashboard rule);
- ratio only: our rule without the significance test (share >= 2 x baseline, >= min_posts).

An alert is a hit if it names a surging entity between the surge's start and one window after
its end; anything else is a false alert. Delay is from surge start to the alert, in simulated
minutes and in posts about the entity.

    .venv/bin/python benchmarks/bench_watch.py --lang en --lang zh
    .venv/bin/python benchmarks/bench_watch.py --judge model --workspace WS   # trained models
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.spec.watch import SurgeRuleSpec, WatchSpec
from llmline.watch.entities import EntityLinker, load_watch_list
from llmline.watch.ingest import Post
from llmline.watch.sentiment import TargetSentiment
from llmline.watch.store import open_watch_store
from llmline.watch.stream import WatchStream
from llmline.watch.surge import SurgeDetector

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
LABELS = ("negative", "neutral", "positive")
HOUR = 3600.0
T0 = 1_764_460_800.0  # 2025-11-30 00:00 UTC
ENTITIES = {
    # name, aliases, posts per hour (daytime), usual negative share
    "en": [("Apple", "AAPL|Apple Inc.", 6, 0.12), ("Tesla", "TSLA", 4, 0.20),
           ("Boeing", "$BA", 3, 0.15), ("Nokia", "$NOK", 2, 0.10)],
    "zh": [("贵州茅台", "茅台|600519.SH", 24, 0.25), ("宁德时代", "300750.SZ", 14, 0.30),
           ("比亚迪", "002594.SZ", 9, 0.20), ("中国平安", "601318.SH", 6, 0.28),
           ("招商银行", "600036.SH", 4, 0.22), ("腾讯控股", "腾讯|0700.HK", 3, 0.30)],
}  # fmt: skip
RULE = {"name": "neg-surge", "metric": "negative_share", "ratio": 2.0, "min_posts": 20,
        "window": "1h", "p_value": 0.01, "cooldown": "6h"}  # fmt: skip
# small names rarely have 20 posts in an hour: the same test over 3 hours
SLOW_RULE = RULE | {"name": "neg-surge-3h", "window": "3h"}


def pools(lang: str) -> dict[str, list[str]]:
    """Real sentences per gold label, shuffled."""
    out: dict[str, list[str]] = {label: [] for label in LABELS}
    if lang == "en":
        for line in (DATA / "financial-phrasebank" / "train.txt").read_text("latin-1").splitlines():
            text, _, label = line.rpartition("@")
            if label in out:
                out[label].append(text.strip())
        fiqa = json.loads((DATA / "fiqa" / "FiQA_post.json").read_text(encoding="utf-8"))
        for post in fiqa.values():
            score = float(post["info"][0]["sentiment_score"])
            label = "negative" if score < -0.1 else "positive" if score > 0.1 else "neutral"
            out[label].append(post["sentence"])
    else:
        for text, label in json.loads((DATA / "finfe" / "train_list.json").read_text("utf-8")):
            out[LABELS[int(label)]].append(text.strip())
    rng = random.Random(0)
    for sentences in out.values():
        rng.shuffle(sentences)
    return out


@dataclass
class Surge:
    entity: str
    start: float
    end: float


def scenario(
    lang: str, *, seed: int, calm_days: float, surge_factor: float
) -> tuple[list[tuple[float, str, str]], list[Surge]]:
    """(ts, text, gold label) posts and the injected surges."""
    rng = random.Random(seed)
    entities = ENTITIES[lang]
    surges = [
        Surge(name, T0 + calm_days * 86400 + i * 5 * HOUR + 9 * HOUR, 0.0)
        for i, (name, *_rest) in enumerate(entities)
    ]
    for surge in surges:
        surge.end = surge.start + 3 * HOUR
    end = surges[-1].end + 24 * HOUR
    sentences, used = pools(lang), dict.fromkeys(LABELS, 0)
    weights = [len(sentences["neutral"]), len(sentences["positive"])]
    posts = []
    for (name, aliases, rate, negative), surge in zip(entities, surges, strict=True):
        mentions = [name, *aliases.split("|")]
        ts = T0
        while True:
            hour = (ts / HOUR) % 24
            busy = 1.5 if 8 <= hour < 22 else 0.3
            surging = surge.start <= ts < surge.end
            ts += rng.expovariate(rate * busy * (3 if surging else 1) / HOUR)
            if ts >= end:
                break
            share = min(0.9, negative * surge_factor) if surging else negative
            # neutral vs positive in proportion to the pools, so neither runs out first
            other = rng.choices(("neutral", "positive"), weights=weights)[0]
            label = "negative" if rng.random() < share else other
            pool = sentences[label]
            text = pool[used[label] % len(pool)]  # reused only when a pool runs out
            used[label] += 1
            mention = rng.choice(mentions)
            sep = "：" if lang == "zh" else ": "
            posts.append((ts, f"{mention}{sep}{text}", label))
    posts.sort()
    return posts, surges


class NoisyOracle:
    """Returns each post's gold label, flipped to another label with probability `error`."""

    task = "classification"

    def __init__(self, gold: dict[str, str], error: float, seed: int) -> None:
        self.labels = list(LABELS)
        self.gold, self.error, self.rng = gold, error, random.Random(seed)

    def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[dict[str, Any]]:
        out = []
        for text in texts:
            label = self.gold.get(text.replace("<t>", "").replace("</t>", ""), "neutral")
            if self.rng.random() < self.error:
                label = self.rng.choice([x for x in LABELS if x != label])
            top = [{"label": label, "score": 0.9}] + [
                {"label": x, "score": 0.05} for x in LABELS if x != label
            ]
            out.append({"label": label, "score": 0.9, "top_k": top[:top_k]})
        return out


class Recording:
    """A predictor that remembers what it said about each text (for its agreement with gold)."""

    task = "classification"

    def __init__(self, predictor: Any) -> None:
        self.predictor, self.labels = predictor, list(predictor.labels)
        self.said: dict[str, str] = {}

    def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = self.predictor.predict(texts, top_k=top_k)
        self.said.update((t, r["label"]) for t, r in zip(texts, results, strict=True))
        return results


_MODELS: dict[str, Any] = {}  # loaded once per process, shared by the seeds


def judge_for(lang: str, gold: dict[str, str], args: argparse.Namespace) -> TargetSentiment:
    if args.judge == "oracle":
        oracle = NoisyOracle(gold, args.error, args.seed)
        return TargetSentiment(oracle, version=f"noisy-oracle(error={args.error})")
    from llmline.watch.sentiment import load_sentiment
    from llmline.workspace import Workspace

    reference = args.model_en if lang == "en" else args.model_zh
    if reference not in _MODELS:
        _MODELS[reference] = load_sentiment(
            reference, Workspace.resolve(args.workspace), {}, batch_size=args.model_batch_size
        )
    loaded = _MODELS[reference]
    return TargetSentiment(Recording(loaded.predictor), version=loaded.version)


def agreement(judge: TargetSentiment, gold: dict[str, str]) -> float | None:
    """Share of judged (post, target) pairs whose label is the sentence's gold label."""
    said = getattr(judge.predictor, "said", None)
    if said is None:
        return None
    pairs = [
        (gold[key], judge.sentiment(label))
        for text, label in said.items()
        if (key := text.replace("<t>", "").replace("</t>", "")) in gold
    ]
    return round(sum(g == p for g, p in pairs) / len(pairs), 4) if pairs else None


def fixed_threshold(links: list[dict[str, Any]], share: float, min_posts: int) -> list[tuple]:
    """Alert when the last hour's negative share >= `share` with >= `min_posts`; 6 h cooldown."""
    windows: dict[str, deque[tuple[float, bool]]] = {}
    last: dict[str, float] = {}
    alerts = []
    for link in links:
        window = windows.setdefault(link["entity"], deque())
        window.append((link["ts"], link["label"] == "negative"))
        while window[0][0] < link["ts"] - HOUR:
            window.popleft()
        negatives = sum(neg for _, neg in window)
        surging = len(window) >= min_posts and negatives / len(window) >= share
        if surging and link["ts"] - last.get(link["entity"], -math.inf) >= 6 * HOUR:
            last[link["entity"]] = link["ts"]
            alerts.append((link["entity"], link["ts"]))
    return alerts


def rules_of(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [r | {"p_value": args.p_value} for r in (RULE, SLOW_RULE)]


def ratio_only(links: list[dict[str, Any]], args: argparse.Namespace) -> list[tuple]:
    # p_value above 1 (bypassing validation) switches the significance test off
    rules = [
        SurgeRuleSpec.model_validate(r).model_copy(update={"p_value": 1e9}) for r in rules_of(args)
    ]
    detector = SurgeDetector(rules, min_baseline_posts=args.min_baseline)
    return [
        (a.entity, a.ts)
        for link in links
        for a in detector.observe(link["entity"], link["ts"], link["label"] == "negative", "x")
    ]


def volume_only(links: list[dict[str, Any]], args: argparse.Namespace, season: str) -> list[tuple]:
    """A volume rule alone (>= 2x the usual posts in the hour, Poisson test), with one rate for
    all hours (season none) or a rate per hour of the day (season daily)."""
    rule = SurgeRuleSpec.model_validate(
        RULE | {"name": f"volume-{season}", "metric": "volume", "p_value": args.p_value,
                "season": season}
    )  # fmt: skip
    detector = SurgeDetector([rule], min_baseline_posts=args.min_baseline)
    return [
        (a.entity, a.ts)
        for link in links
        for a in detector.observe(link["entity"], link["ts"], False, "x")
    ]


def score(alerts: list[tuple], surges: list[Surge], links: list[dict[str, Any]]) -> dict[str, Any]:
    hits: dict[str, tuple[float, int]] = {}
    false = 0
    for entity, ts in alerts:
        surge = next(
            (s for s in surges if s.entity == entity and s.start <= ts <= s.end + HOUR), None
        )
        if surge is None:
            false += 1
        elif entity not in hits:
            posts = sum(
                1 for link in links if link["entity"] == entity and surge.start <= link["ts"] <= ts
            )
            hits[entity] = ((ts - surge.start) / 60, posts)
    return {
        "alerts": len(alerts),
        "false": false,
        "surges": len(surges),
        "delay_min": [round(hits[s.entity][0]) if s.entity in hits else None for s in surges],
        "delay_posts": [hits[s.entity][1] if s.entity in hits else None for s in surges],
    }


def run(lang: str, args: argparse.Namespace) -> dict[str, Any]:
    posts, surges = scenario(
        lang, seed=args.seed, calm_days=args.calm_days, surge_factor=args.surge_factor
    )
    work = Path(tempfile.mkdtemp(prefix=f"bench-watch-{lang}-"))
    watch_list = work / "watch.csv"
    watch_list.write_text(
        "entity,aliases,language\n" + "".join(f"{n},{a},{lang}\n" for n, a, _, _ in ENTITIES[lang]),
        encoding="utf-8",
    )
    spec = WatchSpec.model_validate(
        {"watch_list": watch_list, "rules": rules_of(args),
         "store_url": f"sqlite:///{work / 'm.db'}", "min_baseline_posts": args.min_baseline,
         "link_unlisted": False}
    )  # fmt: skip
    gold = {text: label for _, text, label in posts}
    judge = judge_for(lang, gold, args)
    stream = WatchStream(
        spec, open_watch_store(str(spec.store_url)),
        EntityLinker(load_watch_list(watch_list), link_unlisted=False), judge,
    )  # fmt: skip
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(posts), 256):
        batch = posts[start : start + 256]
        stream.process([Post(text, ts, "bench") for ts, text, _ in batch])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    links = stream.store.links()
    alerts = [(a["entity"], a["ts"]) for a in stream.store.alerts()]
    calm_end = min(s.start for s in surges)
    result = {
        "lang": lang,
        "seed": args.seed,
        "posts": len(posts),
        "stored": stream.counts["stored"],
        "folded": stream.counts["folded"],
        "days": round((posts[-1][0] - T0) / 86400, 1),
        "posts_per_s": round(len(posts) / seconds, 1),
        "posts_per_cpu_s": round(len(posts) / cpu, 1),
        "judge": judge.version,
        "judge_agreement": agreement(judge, gold),
        "calm_false_alerts": sum(1 for _, ts in alerts if ts < calm_end),
        "watch": score(alerts, surges, links),
        "fixed_threshold": score(fixed_threshold(links, 0.5, 10), surges, links),
        "ratio_only": score(ratio_only(links, args), surges, links),
        "volume_daily": score(volume_only(links, args, "daily"), surges, links),
        "volume_flat": score(volume_only(links, args, "none"), surges, links),
    }
    return result


def table(results: list[dict[str, Any]]) -> str:
    """One row per stream and detector, summed over seeds; delays are medians of the hits;
    throughput (the watch row) is the median over seeds, wall and per CPU-second."""
    lines = [
        "| stream | judge (agreement with gold) | detector | alerts | false (calm week) "
        "| precision | recall | median delay min | median delay posts | posts/s wall (CPU) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lang in dict.fromkeys(r["lang"] for r in results):
        runs = [r for r in results if r["lang"] == lang]
        agree = [r["judge_agreement"] for r in runs if r["judge_agreement"] is not None]
        judge = runs[0]["judge"] + (f" ({sum(agree) / len(agree):.3f})" if agree else "")
        speed = (
            f"{_median([r['posts_per_s'] for r in runs])} "
            f"({_median([r['posts_per_cpu_s'] for r in runs])})"
        )
        for name in ("watch", "ratio_only", "fixed_threshold", "volume_daily", "volume_flat"):
            rows = [r[name] for r in runs if name in r]
            if not rows:
                continue
            minutes = [d for s in rows for d in s["delay_min"] if d is not None]
            posts = [d for s in rows for d in s["delay_posts"] if d is not None]
            false = sum(s["false"] for s in rows)
            calm = sum(r["calm_false_alerts"] for r in runs) if name == "watch" else "-"
            lines.append(
                f"| {lang} ({len(runs)} seeds) | {judge} | {name} | "
                f"{sum(s['alerts'] for s in rows)} | "
                f"{false} ({calm}) | {len(minutes) / max(1, len(minutes) + false):.2f} | "
                f"{len(minutes)}/{sum(s['surges'] for s in rows)} | {_median(minutes)} | "
                f"{_median(posts)} | {speed if name == 'watch' else '-'} |"
            )
    return "\n".join(lines)


def _median(values: list[Any]) -> str:
    return str(sorted(values)[len(values) // 2]) if values else "-"


def write_days(directory: Path, args: argparse.Namespace) -> list[Path]:
    """The English and Chinese streams of one seed, mixed, as one JSONL file per UTC day (what a
    crawler would drop into a watched directory); surges go to surges.json beside them."""
    from datetime import UTC, datetime

    directory.mkdir(parents=True, exist_ok=True)
    days: dict[str, list[str]] = {}
    injected = []
    for lang in args.lang or ["en", "zh"]:
        posts, surges = scenario(
            lang, seed=args.seed, calm_days=args.calm_days, surge_factor=args.surge_factor
        )
        injected += [{"entity": s.entity, "start": s.start, "end": s.end} for s in surges]
        for ts, text, _ in posts:
            when = datetime.fromtimestamp(ts, UTC)
            row = {"text": text, "time": when.isoformat().replace("+00:00", "Z")}
            days.setdefault(when.date().isoformat(), []).append(json.dumps(row, ensure_ascii=False))
    paths = []
    for day, rows in sorted(days.items()):
        path = directory / f"posts-{day}.jsonl"
        rows.sort(key=lambda row: json.loads(row)["time"])
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        paths.append(path)
    (directory / "surges.json").write_text(json.dumps(injected, ensure_ascii=False, indent=1))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", action="append", choices=["en", "zh"], default=[])
    parser.add_argument("--seeds", type=int, default=3, help="streams per language")
    parser.add_argument("--calm-days", type=float, default=7.0)
    parser.add_argument("--surge-factor", type=float, default=4.0)
    parser.add_argument("--error", type=float, default=0.15, help="judge error rate")
    parser.add_argument("--min-baseline", type=int, default=50)
    parser.add_argument("--p-value", type=float, default=0.01)
    parser.add_argument("--judge", choices=["oracle", "model"], default="oracle")
    parser.add_argument("--workspace", type=Path, default=None, help="--judge model: registry")
    parser.add_argument("--model-batch-size", type=int, default=8, help="texts per forward pass")
    parser.add_argument("--model-en", default="models:/finance-sentiment-en-onnx-int8@candidate")
    parser.add_argument("--model-zh", default="models:/finance-sentiment-zh-onnx-int8@candidate")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--seed", type=int, default=0, help="--write-days: the stream's seed")
    parser.add_argument(
        "--write-days", type=Path, default=None,
        help="only write the streams of --seed as one JSONL file per day into this directory",
    )  # fmt: skip
    args = parser.parse_args()
    if args.write_days is not None:
        for path in write_days(args.write_days, args):
            print(path)
        return
    results = [
        run(lang, argparse.Namespace(**{**vars(args), "seed": seed}))
        for lang in args.lang or ["en", "zh"]
        for seed in range(args.seeds)
    ]
    for r in results:
        print(
            f"{r['lang']} seed {r['seed']}: {r['posts']} posts over {r['days']} days "
            f"({r['folded']} folded), "
            f"{r['posts_per_s']} posts/s wall, {r['posts_per_cpu_s']} per CPU-second through "
            f"the stream with judge {r['judge']} (agreement with gold: {r['judge_agreement']}), "
            f"false alerts in the calm week: {r['calm_false_alerts']}"
        )
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
