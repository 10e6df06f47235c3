"""Which English model should judge target-marked posts: PhraseBank only, FiQA only, or both?

Trains (or reuses, by the chain's cache) the two recipes `finance-sentiment-en` (Financial
PhraseBank news sentences) and `finance-sentiment-fiqa` (FiQA posts, target marked), then
- joint: one model on both training splits together (the PhraseBank recipe's settings);
- sequential: the FiQA recipe continued from the PhraseBank model's encoder
  (`--var base_model=<PhraseBank run>`), which a user can run from the recipes alone;
and scores all four on both validation splits: PhraseBank's carved 15 % and FiQA's carved 20 %.
The splits are the recipes' own snapshots, so no validation row of either corpus is trained on.

    PYTHONPATH=src python benchmarks/bench_finance_sentiment.py --workspace /work/runs/finance
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from llmline.chain import run_chain
from llmline.spec import load_spec
from llmline.spec.load import read_with_variables, validate_spec
from llmline.tasks import EvalOptions, get_task
from llmline.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {"phrasebank": "finance-sentiment-en", "fiqa": "finance-sentiment-fiqa"}


def snapshots(workspace: Workspace) -> dict[str, tuple[Path, Path]]:
    """Each recipe's finished run: (run dir, data dir) — trained here if not there yet."""
    out = {}
    for corpus, recipe in RECIPES.items():
        ctx = run_chain(load_spec(ROOT / "recipes" / f"{recipe}.yaml"), workspace, until="evaluate")
        out[corpus] = (ctx.run.dir, ctx.run.dir / "data")
    return out


def concat(paths: list[Path], out: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(p).select(["text", "label"]) for p in paths]
    pq.write_table(pa.concat_tables(tables), out)
    return out


def train_mix(workspace: Workspace, data: dict[str, tuple[Path, Path]], minutes: str) -> Path:
    """The PhraseBank recipe's settings on PhraseBank train + FiQA train (validation: both)."""
    mix = workspace.root / "bench-finance-mix"
    mix.mkdir(parents=True, exist_ok=True)
    train = concat([d / "train.parquet" for _, d in data.values()], mix / "train.parquet")
    valid = concat([d / "validation.parquet" for _, d in data.values()], mix / "validation.parquet")
    raw = read_with_variables(ROOT / "recipes" / "finance-sentiment-en.yaml", {"minutes": minutes})
    raw["name"] = "finance-sentiment-mix"
    raw["registry"] = {"name": "finance-sentiment-mix"}
    raw["data"] = {
        "source": {"path": str(train), "format": "parquet"},
        "validation": {"path": str(valid), "format": "parquet"},
    }
    (mix / "spec.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    ctx = run_chain(validate_spec(raw, where=str(mix / "spec.yaml")), workspace, until="evaluate")
    return Path(ctx.run.dir)


def train_sequential(workspace: Workspace, phrasebank_run: Path) -> Path:
    variables = {"base_model": str(phrasebank_run / "model")}
    spec = load_spec(ROOT / "recipes" / "finance-sentiment-fiqa.yaml", variables)
    return Path(run_chain(spec, workspace, until="evaluate").run.dir)


def score(model_dir: Path, snapshot: Path) -> dict[str, Any]:
    task = get_task("classification")
    report = task.evaluate(model_dir, task.read_snapshot(snapshot), EvalOptions(batch_size=64))
    return {k: round(float(v), 4) for k, v in report["metrics"].items()} | {"rows": report["rows"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--minutes", default="25", help="training budget of the mixed model")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument(
        "--recipes-only", action="store_true",
        help="score the two recipes' models across both splits, train nothing more",
    )  # fmt: skip
    args = parser.parse_args()
    workspace = Workspace.resolve(args.workspace)
    data = snapshots(workspace)
    models = {
        "phrasebank only": data["phrasebank"][0] / "model",
        "fiqa only": data["fiqa"][0] / "model",
    }
    if not args.recipes_only:
        models["phrasebank + fiqa (joint)"] = train_mix(workspace, data, args.minutes) / "model"
        sequential = train_sequential(workspace, data["phrasebank"][0])
        models["phrasebank, then fiqa"] = sequential / "model"
    results = {
        name: {corpus: score(model, d / "validation.parquet") for corpus, (_, d) in data.items()}
        for name, model in models.items()
    }
    print("| trained on | PhraseBank val accuracy / macro-F1 | FiQA val accuracy / macro-F1 |")
    print("|---|---|---|")
    for name, row in results.items():
        cells = [f"{row[c]['accuracy']:.4f} / {row[c]['macro_f1']:.4f}" for c in RECIPES]
        print(f"| {name} | {' | '.join(cells)} |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
