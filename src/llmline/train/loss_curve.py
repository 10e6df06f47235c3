"""The loss curve of a language-model run: train and validation loss per step, JSON and PNG.

Pre-training is judged by its curve rather than by one number: the train loss says whether it
learns, the validation loss (and its perplexity) whether it generalises. The evaluation before
the first step is the curve's step-0 point, the "before" of before/after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmline.lineage import atomic_path, write_json_atomic
from llmline.spec import PretrainSpec
from llmline.train.lm_metrics import perplexity


def lm_schedule(args: Any, pretrain: PretrainSpec) -> Any:
    """Log the training loss every log_every steps: the curve's train points (its validation
    points are the evaluations, per epoch or every train.eval_steps)."""
    args.logging_steps = pretrain.log_every
    return args


def train_with_curve(trainer: Any, resume: str | None) -> tuple[Any, dict[str, Any]]:
    """Evaluate before the first step (the curve's step 0), train, resuming where a checkpoint
    says, and keep the best evaluation: the train output and the loss and perplexity metrics
    both pre-training tasks report."""
    from llmline.train import controls
    from llmline.train.progress import use_rich_progress

    use_rich_progress(trainer)
    initial = trainer.evaluate()["eval_loss"]
    output = trainer.train(resume_from_checkpoint=resume)
    best = controls.best_evaluation(trainer)
    return output, {
        "train_loss": output.training_loss,
        **best,
        "eval_perplexity": perplexity(best["eval_loss"]),
        "initial_eval_loss": initial,
        "initial_perplexity": perplexity(initial),
    }


def curve_points(log_history: list[dict[str, Any]], initial_loss: float) -> dict[str, Any]:
    """{"train": [{step, loss}], "validation": [{step, loss, perplexity}]} from HF's log."""
    train = [{"step": e["step"], "loss": e["loss"]} for e in log_history if "loss" in e]
    validation = [{"step": 0, "loss": initial_loss, "perplexity": perplexity(initial_loss)}]
    validation += [
        {"step": e["step"], "loss": e["eval_loss"], "perplexity": perplexity(e["eval_loss"])}
        for e in log_history
        if "eval_loss" in e
    ]
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
        [p["step"] for p in validation],
        [p["loss"] for p in validation],
        "o-",
        label="validation loss",
    )
    best = min(p["perplexity"] for p in validation)
    ax.set_title(
        f"{title}\nvalidation perplexity {validation[0]['perplexity']:.1f} at step 0, "
        f"best {best:.1f}",
        fontsize=10,
    )
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(paths["png"]) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return paths
