"""A Trainer callback that draws one rich progress bar per epoch and logs evaluations."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from llmline.console import console, progress_bar


class RichProgressCallback(TrainerCallback):
    """Replaces the tqdm bars: one bar per epoch, the loss in its description."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._epoch = 0

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._epoch += 1
        steps_per_epoch = max(1, state.max_steps // max(1, int(args.num_train_epochs + 0.999)))
        self._bar = progress_bar()
        self._bar.start()
        self._task = self._bar.add_task(f"epoch {self._epoch}", total=steps_per_epoch)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if self._bar is not None and logs and "loss" in logs:
            self._bar.update(self._task, description=f"epoch {self._epoch} loss {logs['loss']:.3f}")

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any
    ) -> None:
        if metrics:
            shown = {k: round(v, 4) for k, v in metrics.items() if k.startswith("eval_")}
            # the metric that picks the best checkpoint (NER: entity_f1), else accuracy or loss
            best = args.metric_for_best_model or ""
            best = best if best.startswith("eval_") else f"eval_{best}"
            key = next((k for k in (best, "eval_accuracy", "eval_loss") if k in shown), None)
            headline = f"validation {key[5:]} {shown[key]}, " if key else "validation "
            console.print(f"  step {state.global_step}: {headline}{shown}")


def use_rich_progress(trainer: Any) -> None:
    """Swap the Trainer's dict-printing and tqdm callbacks for one rich bar per epoch."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(RichProgressCallback())
