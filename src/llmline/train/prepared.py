"""What a task hands to the shared fit(): its model, data, collator and the few ways it differs.

Kept apart from fit() so the task modules and the Task contract (`llmline.tasks`) can name it
without importing the training loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Prepared:
    """What a task hands to fit(): everything that differs between tasks, nothing else."""

    model: Any
    tokenizer: Any
    train: Any  # a sized dataset of feature dicts
    validation: Any
    collator: Any
    body: str = ""
    """Attribute of model holding the pretrained body that freezing and PEFT act on ("" = the
    model itself, whose `base_model` is frozen)."""
    head_names: tuple[str, ...] = ()
    """Parameter-name parts of the new head (train.head_learning_rate, no weight decay)."""
    compute_metrics: Callable[[Any], dict[str, float]] | None = None
    compute_loss: Callable[..., Any] | None = None
    sampling: str = "random"
    language_model: bool = False
    """Report validation perplexity (exp of the loss) beside the loss."""
    initial_eval: bool = False
    """Evaluate before the first step: the loss curve's step 0, the 'before' of pre-training."""
    log_every: int = 20
    state: dict[str, Any] = field(default_factory=dict)
    """Whatever the task's save needs later (base dir, labels, meta)."""
    trainer_class: Any = None
    """A Trainer subclass (e.g. sentence-transformers'); None: HF Trainer."""
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)
    arguments_class: Any = None
    """A TrainingArguments subclass matching trainer_class; None: HF TrainingArguments."""
