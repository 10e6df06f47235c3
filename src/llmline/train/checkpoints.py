"""Crash-safe training: step checkpoints, a replayable data order, the last complete checkpoint.

HF Trainer keeps the best-model logic on evaluation checkpoints (per epoch unless
`train.eval_steps`); `train.save_steps` adds checkpoints in between, so a run killed mid-epoch
resumes from at most that many steps back and ends on the same optimiser step.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from llmline.console import console

TRAINER_STATE = "trainer_state.json"  # HF writes it last, after weights, optimiser and RNG


def resume_checkpoint(checkpoints: Path) -> str | None:
    """The newest checkpoint that was written completely; half-written newer ones are removed.

    A kill during a save leaves a checkpoint-N without (or with a truncated) trainer state, and
    HF's get_last_checkpoint would pick it by its number alone.
    """
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if not checkpoints.is_dir():
        return None
    found = sorted(
        (int(p.name.rsplit("-", 1)[1]), p)
        for p in checkpoints.glob(f"{PREFIX_CHECKPOINT_DIR}-*")
        if p.is_dir() and p.name.rsplit("-", 1)[1].isdigit()
    )
    for _, path in reversed(found):
        if _complete(path):
            console.print(f"resuming training from {path.name}")
            return str(path)
        console.print(f"[yellow]removing the half-written {path.name}[/]")
        shutil.rmtree(path, ignore_errors=True)
    return None


def _complete(checkpoint: Path) -> bool:
    try:
        json.loads((checkpoint / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def resumable(save_steps: int | None) -> list[Any]:
    """Callbacks that make a run resumable mid-epoch: step saves and a per-epoch data order."""
    out = [_epoch_order()]
    if save_steps:
        out.append(_step_checkpoints(save_steps))
    return out


def _step_checkpoints(every: int) -> Any:
    """Save every N optimiser steps, besides the evaluation checkpoints HF saves itself."""
    from transformers import TrainerCallback
    from transformers.trainer_utils import SaveStrategy

    class StepCheckpoints(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            step = state.global_step
            # The last step of an epoch (or of the run) is saved right after by the epoch's
            # evaluation checkpoint; saving here as well would write it twice.
            epoch_save_follows = args.save_strategy == SaveStrategy.EPOCH and (
                float(state.epoch or 0).is_integer() or step >= state.max_steps
            )
            if step % every == 0 and not epoch_save_follows:
                control.should_save = True
            return control

    return StepCheckpoints()


def _epoch_order() -> Any:
    """Draw each epoch's length-grouped order from (args.seed, epoch), not the global RNG.

    HF restores the global RNG only from the checkpoint, after a resumed run has already drawn
    the order of its epoch, so a run resumed in its second epoch would otherwise replay the
    first epoch's order. The random sampler (NER, causal LM) is seeded per epoch already.
    """
    import torch
    from transformers import TrainerCallback

    class EpochOrder(TrainerCallback):
        def on_epoch_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            sampler = _length_sampler(kw.get("train_dataloader"))
            if sampler is not None:
                epoch = int(state.epoch or 0)
                sampler.generator = torch.Generator().manual_seed(args.seed + epoch)

    return EpochOrder()


def _length_sampler(dataloader: Any) -> Any:
    from transformers.trainer_pt_utils import LengthGroupedSampler

    node = getattr(dataloader, "batch_sampler", None)
    for _ in range(3):  # DataLoader -> BatchSampler (-> accelerate's BatchSamplerShard) -> sampler
        sampler = getattr(node, "sampler", None)
        if isinstance(sampler, LengthGroupedSampler):
            return sampler
        node = getattr(node, "batch_sampler", None)
    return None
