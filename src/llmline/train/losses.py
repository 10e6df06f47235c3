"""Loss shaping shared by the heads: class weights and label smoothing.

Both act on the training loss only: the validation loss (and so a best checkpoint picked by
loss, early stopping, the logged perplexity) stays the plain cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llmline.errors import SpecError
from llmline.spec import TrainSpec

IGNORE = -100  # label id the loss skips (HF convention)


def class_weights(
    cfg: TrainSpec, labels: list[str], label_ids: Sequence[int]
) -> list[float] | None:
    """One weight per label from train.class_weights, or None for the unweighted loss.

    balanced is sklearn's n_samples / (n_classes * count) over the labels present in training;
    a label with no training example keeps weight 1.
    """
    import numpy as np
    from sklearn.utils.class_weight import compute_class_weight

    chosen = cfg.class_weights
    if chosen == "none":
        return None
    if isinstance(chosen, dict):
        unknown = sorted(set(chosen) - set(labels))
        if unknown:
            raise SpecError(
                f"unknown label(s) {', '.join(map(repr, unknown))}",
                where="train.class_weights",
                fix=f"use labels of the training data: {', '.join(labels[:20])}",
            )
        return [float(chosen.get(label, 1.0)) for label in labels]
    ids = np.asarray([i for i in label_ids if i != IGNORE])
    present = np.unique(ids)
    weights = np.ones(len(labels))
    weights[present] = compute_class_weight("balanced", classes=present, y=ids)
    return [float(w) for w in weights]


def token_loss(
    model: Any, *, smoothing: float = 0.0, weights: list[float] | None = None, shift: bool = False,
    virtual_tokens: bool = False,
) -> Callable[..., Any] | None:  # fmt: skip
    """A Trainer compute_loss_func over per-token labels (IGNORE skipped), or None when the
    model's own loss already is the one wanted.

    shift: causal LMs predict token t+1 at position t. Normalised by num_items_in_batch (the
    labelled tokens of the whole accumulated batch, as HF counts them), like the models' own loss.
    Weights and smoothing apply while the model trains, never to the evaluation loss.
    virtual_tokens: the model prepends prompt-tuning tokens, so its own loss cannot line its
    logits up with the labels; this one drops the leading positions first.
    """
    if not smoothing and weights is None and not virtual_tokens:
        return None

    def loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        import torch
        from torch.nn import functional

        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        logits = logits[..., -labels.shape[-1] :, :]  # prompt tuning prepends virtual tokens
        if shift:
            logits, labels = logits[..., :-1, :], labels[..., 1:]
        labels = labels.to(logits.device)
        training = model.training
        weight = torch.tensor(weights, device=logits.device) if weights and training else None
        total = functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), weight=weight,
            ignore_index=IGNORE, label_smoothing=smoothing if training else 0.0, reduction="sum",
        )  # fmt: skip
        count = num_items_in_batch if num_items_in_batch is not None else (labels != IGNORE).sum()
        return total / torch.as_tensor(count, device=total.device).clamp(min=1)

    return loss
