"""Faithfulness of IG, occlusion, LIME and SHAP: deletion/insertion AUC and time per explanation.

Each method explains the predicted label of every text; its word scores order the words for
the deletion curve (remove the most supporting first: p(label) should fall fast, low AUC) and
the insertion curve (add them back in that order: p(label) should rise fast, high AUC). A
random order is the reference row. Text sets:

- probe-en: bench_explain.py's probe sentences on its movie-review model (needs the demo data);
- banking77: ~50 validation texts of a finished `banking77-intents` run in --en-workspace;
- probe-zh: the same kind of probe in Chinese (review templates x adjective pairs);
- chnsenticorp: ~50 ChnSentiCorp dev texts (at most 80 characters, so LIME/SHAP stay within
  minutes on a CPU) on --zh-model (read-only; e.g. models:/chnsenticorp@champion).

    python benchmarks/bench_faithfulness.py --en-workspace /work/runs/peft-explain \
        --zh-model models:/chnsenticorp@champion --zh-workspace /work/runs/zh [--texts 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path
from typing import Any

from bench_bias import write_results

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
START, END = "<!-- bench_faithfulness:start -->", "<!-- bench_faithfulness:end -->"
METHODS = ["integrated_gradients", "occlusion", "lime", "shap", "random"]
ZH_TEMPLATES = ["这家酒店{}。", "房间的环境{}。", "这本书写得{}。", "这台电脑用起来{}。",
                "总的来说，服务{}。", "我觉得质量{}。"]  # fmt: skip
ZH_PAIRS = [("很好", "很差"), ("非常棒", "太糟糕"), ("干净", "肮脏"), ("满意", "失望"),
            ("舒服", "难受"), ("不错", "差劲")]  # fmt: skip


def explain_words(predictor: Any, text: str, label: str, method: str, samples: int) -> Any:
    from llmline.govern.explain import explain
    from llmline.govern.explain_sampling import word_units

    if method == "random":  # the reference: a seeded random order of the same words
        rng = random.Random(text)
        return [{**u, "score": rng.random()} for u in word_units(text)]
    return explain(predictor, text, target=label, method=method, samples=samples)["words"]


def score_set(predictor: Any, texts: list[str], samples: int) -> dict[str, Any]:
    from llmline.govern.explain_faithfulness import curves

    labels = [r["label"] for r in predictor.predict(texts)]
    out: dict[str, Any] = {"texts": len(texts)}
    for method in METHODS:
        deletion, insertion, seconds = [], [], 0.0
        for text, label in zip(texts, labels, strict=True):
            started = time.perf_counter()
            words = explain_words(predictor, text, label, method, samples)
            seconds += time.perf_counter() - started
            result = curves(predictor, text, label, words)
            deletion.append(result["deletion_auc"])
            insertion.append(result["insertion_auc"])
        out[method] = {
            "deletion_auc": sum(deletion) / len(deletion),
            "insertion_auc": sum(insertion) / len(insertion),
            "ms_per_text": 1000 * seconds / len(texts),
        }
        print(json.dumps({method: out[method]}), flush=True)
    return out


def banking77_texts(workspace: Path, count: int) -> tuple[Path, list[str]]:
    from llmline.data.stage import read_snapshot
    from llmline.errors import DataError

    # the recipe's own runs (banking77-intents-<10 hex>), not its -cda variant's
    for run_dir in sorted((workspace / "runs").glob("banking77-intents-" + "?" * 10), reverse=True):
        manifest = json.loads((run_dir / "manifest.json").read_text())
        if manifest.get("status") == "succeeded":
            texts, _ = read_snapshot(run_dir / "data" / "validation.parquet")
            return run_dir / "model", random.Random(0).sample(list(texts), count)
    raise DataError(f"no finished banking77-intents run in {workspace}", fix="run the recipe")


def chnsenticorp_texts(count: int) -> list[str]:
    import csv

    with (DATA / "chnsenticorp" / "dev.tsv").open(encoding="utf-8") as fh:
        rows = [r["text_a"].strip() for r in csv.DictReader(fh, delimiter="\t")]
    short = [t for t in rows if 10 <= len(t) <= 80]
    return random.Random(0).sample(short, count)


def zh_probe() -> list[str]:
    return [t.format(w) for t in ZH_TEMPLATES for pair in ZH_PAIRS for w in pair]


def render(results: dict[str, Any], command: str, samples: int) -> str:
    lines = [
        START,
        "### Explanation faithfulness: deletion / insertion AUC (bench_faithfulness.py)",
        "",
        f"Machine: {platform.machine()} Linux, 2-core CPU shared with other jobs, no GPU. "
        f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}. Command: `{command}`.",
        "",
        "Deletion: remove words from the most supporting one down, area under p(predicted "
        "label) (lower is more faithful). Insertion: add them back in that order from the empty "
        f"text (higher is better). LIME and SHAP use {samples} model calls per text; IG 32 "
        "steps. Random = a seeded random word order (the reference). Chinese in jieba words for "
        "every method.",
        "",
        "| text set | model | texts | method | deletion AUC ↓ | insertion AUC ↑ | ms / text |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        for method in METHODS:
            r = result[method]
            lines.append(
                f"| {name} | `{result['model']}` | {result['texts']} | {method} | "
                f"{r['deletion_auc']:.3f} | {r['insertion_auc']:.3f} | {r['ms_per_text']:.0f} |"
            )
    lines += ["", END]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--en-workspace", type=Path, required=True)
    parser.add_argument("--zh-model", default="models:/chnsenticorp@champion")
    parser.add_argument("--zh-workspace", type=Path, default=Path("/work/runs/zh"))
    parser.add_argument("--probe-workspace", type=Path, default=Path("/tmp/bench-gov-ws"))
    parser.add_argument("--texts", type=int, default=50)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--only", default=None, help="comma-separated text sets")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-faithfulness.json"))
    args = parser.parse_args()
    os.environ.setdefault("LLMLINE_NO_PROGRESS", "1")
    from llmline.models.predictor import load_predictor
    from llmline.models.resolve import resolve_model
    from llmline.workspace import Workspace

    wanted = set(args.only.split(",")) if args.only else None
    sets: dict[str, Any] = {}
    if wanted is None or "probe-en" in wanted:
        from bench_explain import DEMO_DATA, hinged_probes, model_dir

        if DEMO_DATA.is_file():
            directory = model_dir(args.probe_workspace, 20, None)
            predictor = load_predictor(directory)
            sets["probe-en"] = (directory, [p[0] for p in hinged_probes(predictor)[0]])
        else:
            print(f"probe-en skipped: {DEMO_DATA} missing (scripts/fetch_demo_data.py)")
    if wanted is None or "banking77" in wanted:
        sets["banking77"] = banking77_texts(args.en_workspace, args.texts)
    if wanted is None or {"probe-zh", "chnsenticorp"} & wanted:
        zh_dir = resolve_model(args.zh_model, Workspace.resolve(args.zh_workspace))
        if wanted is None or "probe-zh" in wanted:
            sets["probe-zh"] = (zh_dir, zh_probe())
        if wanted is None or "chnsenticorp" in wanted:
            sets["chnsenticorp"] = (zh_dir, chnsenticorp_texts(args.texts))
    results: dict[str, Any] = {}
    for name, (directory, texts) in sets.items():
        print(f"== {name}: {len(texts)} texts on {directory}", flush=True)
        predictor = load_predictor(Path(directory))
        model = (
            args.zh_model if name in ("probe-zh", "chnsenticorp") else Path(directory).parent.name
        )
        results[name] = {"model": model, **score_set(predictor, texts, args.samples)}
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    command = "python benchmarks/bench_faithfulness.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None
    )
    write_results(render(results, command, args.samples), START, END)


if __name__ == "__main__":
    main()
