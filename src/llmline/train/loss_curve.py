"""The loss curve of a run: train and validation loss per step, JSON and PNG, for every task.

A run is judged by its curve as much as by one number: the train loss says whether it learns,
the validation loss (and, for language models, its perplexity) whether it generalises. When the
task evaluates before the first step, that evaluation is the curve's step-0 point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmline.lineage import atomic_path, write_json_atomic
from llmline.train.lm_metrics import perplexity


def curve_points(log_history: list[dict[str, Any]], initial_loss: float | None) -> dict[str, Any]:
    """{"train": [{step, loss}], "validation": [{step, loss, perplexity}]} from HF's log."""
    train = [{"step": e["step"], "loss": e["loss"]} for e in log_history if "loss" in e]
    losses = [] if initial_loss is None else [(0, initial_loss)]
    losses += [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e]
    validation = [{"step": s, "loss": v, "perplexity": perplexity(v)} for s, v in losses]
    return {"train": train, "validation": validation}


def write_loss_curve(points: dict[str, Any], directory: Path, title: str) -> dict[str, Path]:
    """loss_curve.json and loss_curve.png in directory."""
    paths = {"json": directory / "loss_curve.json", "png": directory / "loss_curve.png"}
    write_json_atomic(paths["json"], points)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    train, validation = points["train"], points["validation"]
    ax.plot([p["step"] for p in train], [p["loss"] for p in train], label="train loss", lw=1)
    ax.plot(
        [p["step"] for p in validation], [p["loss"] for p in validation], "o-",
        label="validation loss",
    )  # fmt: skip
    if validation:
        first, best = validation[0], min(p["loss"] for p in validation)
        title += f"\nvalidation loss {first['loss']:.3f} at step {first['step']}, best {best:.3f}"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("cross-entropy (nats per token or row)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(paths["png"]) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return paths
