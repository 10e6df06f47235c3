"""Reference statistics of a model on its validation split, the baseline drift is measured from.

Captured once (the chain's `monitor-reference` stage, right after evaluation) into
`<run>/monitor/`: predicted-label counts, confidence and input-length samples, and a sample of
sentence embeddings (`.npy`, loaded with allow_pickle=False).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.chain import CHAIN_STAGES, Context, Stage, StageOutput
from llmline.errors import DataError
from llmline.lineage import sha256_path, write_json_atomic
from llmline.workspace import Workspace

REFERENCE_FILE = "reference.json"
EMBEDDINGS_FILE = "reference_embeddings.npy"
_SAMPLE = 1000
_EMBED_SAMPLE = 300


@dataclass
class Reference:
    labels: list[str]
    label_counts: dict[str, int]
    confidence: list[float]
    length: list[int]
    embeddings: Any  # numpy array (n, dim) or None

    @classmethod
    def load(cls, directory: Path) -> Reference:
        import numpy as np

        data = json.loads((directory / REFERENCE_FILE).read_text(encoding="utf-8"))
        path = directory / EMBEDDINGS_FILE
        embeddings = np.load(path, allow_pickle=False) if path.exists() else None
        return cls(
            data["labels"], data["label_counts"], data["confidence"], data["length"], embeddings
        )


def build_reference(predictor: Any, texts: list[str], out_dir: Path, *, seed: int = 0) -> Path:
    """Predict and embed (a sample of) the texts and write the reference into out_dir."""
    import numpy as np

    from llmline.models.embedding import embed_texts, supports_embeddings

    if not texts:
        raise DataError("no texts to build a drift reference from", fix="check the data file")
    rng = random.Random(seed)
    sample = rng.sample(texts, min(len(texts), _SAMPLE))
    results = predictor.predict(sample)
    counts: dict[str, int] = dict.fromkeys(predictor.labels, 0)
    for result in results:
        counts[result["label"]] = counts.get(result["label"], 0) + 1
    out_dir.mkdir(parents=True, exist_ok=True)
    if supports_embeddings(predictor):
        vectors = embed_texts(predictor, sample[:_EMBED_SAMPLE])
        np.save(out_dir / EMBEDDINGS_FILE, np.asarray(vectors, dtype=np.float32))
    write_json_atomic(
        out_dir / REFERENCE_FILE,
        {
            "labels": list(predictor.labels),
            "label_counts": counts,
            "confidence": [round(float(r["score"]), 5) for r in results],
            "length": [len(t) for t in sample],
            "rows": len(sample),
        },
    )
    return out_dir


def reference_dir(model_dir: Path, workspace: Workspace, run_dir: Path | None = None) -> Path:
    """<run>/monitor for a model made by a run, else a per-model folder in the workspace."""
    if run_dir is None and (model_dir.parent / "manifest.json").exists():
        run_dir = model_dir.parent
    if run_dir is not None:
        return run_dir / "monitor"
    return workspace.root / "monitor" / "reference" / sha256_path(model_dir)[:16]


def ensure_reference(
    predictor: Any,
    model_dir: Path,
    workspace: Workspace,
    *,
    run_dir: Path | None = None,
    data: Path | None = None,
) -> Reference:
    """Load the model's reference, building it from `data` or its run's validation split."""
    from llmline.data.stage import read_snapshot

    directory = reference_dir(model_dir, workspace, run_dir)
    if (directory / REFERENCE_FILE).exists() and data is None:
        return Reference.load(directory)
    source = data or (directory.parent / "data" / "validation.parquet")
    if not source.exists():
        raise DataError(
            f"no drift reference for {model_dir} and no validation data at {source}",
            fix="pass --data VALIDATION.parquet to `llmline monitor reference`",
        )
    build_reference(predictor, read_snapshot(source)[0], directory)
    return Reference.load(directory)


def _stage(ctx: Context) -> StageOutput:
    from llmline.data.stage import read_snapshot
    from llmline.models.predictor import load_predictor

    out = ctx.run.dir / "monitor"
    texts = read_snapshot(ctx.run.data_dir / "validation.parquet")[0]
    build_reference(load_predictor(ctx.run.model_dir), texts, out, seed=ctx.spec.seed)
    return StageOutput(paths={"reference": out / REFERENCE_FILE}, result={"rows": len(texts)})


CHAIN_STAGES.register("monitor-reference")(
    Stage(
        name="monitor-reference",
        order=35,
        run=_stage,
        config=lambda ctx: {"version": 1},
        enabled=lambda ctx: ctx.spec.task == "classification",
    )
)
