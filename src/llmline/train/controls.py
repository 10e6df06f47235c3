"""Training controls fit() applies to every task: freezing, PEFT adapters, callbacks.

So `train.freeze`, `train.peft` and `train.early_stopping_patience` mean the same thing for
classification, NER, causal LMs and whatever task comes next.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from llmline.console import console
from llmline.errors import SpecError
from llmline.spec import FreezeSpec, PeftSpec, PipelineSpec, TrainSpec
from llmline.variants import Registry

if TYPE_CHECKING:
    from llmline.train.prepared import Prepared

PeftConfigFn = Any  # (PeftSpec, task_type: str) -> peft.PeftConfig
PEFT_METHODS: Registry[PeftConfigFn] = Registry("peft method")


@PEFT_METHODS.register("lora")
def _lora(cfg: PeftSpec, task_type: str, total_steps: int) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        task_type=task_type, r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules,
    )  # fmt: skip


@PEFT_METHODS.register("adalora")
def _adalora(cfg: PeftSpec, task_type: str, total_steps: int) -> Any:
    from peft import AdaLoraConfig

    # AdaLoRA prunes ranks on a schedule that must fit inside the run's optimiser steps.
    total = max(total_steps, 10)
    return AdaLoraConfig(
        task_type=task_type, init_r=cfg.r + 4, target_r=cfg.r, lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout, target_modules=cfg.target_modules, total_step=total,
        tinit=total // 10, tfinal=total // 5,
    )  # fmt: skip


@PEFT_METHODS.register("ia3")
def _ia3(cfg: PeftSpec, task_type: str, total_steps: int) -> Any:
    from peft import IA3Config

    return IA3Config(task_type=task_type, target_modules=cfg.target_modules)


@PEFT_METHODS.register("prefix")
def _prefix(cfg: PeftSpec, task_type: str, total_steps: int) -> Any:
    from peft import PrefixTuningConfig

    return PrefixTuningConfig(task_type=task_type, num_virtual_tokens=cfg.virtual_tokens)


@PEFT_METHODS.register("prompt")
def _prompt(cfg: PeftSpec, task_type: str, total_steps: int) -> Any:
    from peft import PromptTuningConfig

    return PromptTuningConfig(task_type=task_type, num_virtual_tokens=cfg.virtual_tokens)


@PEFT_METHODS.register("adapter")
def _adapter(cfg: PeftSpec, task_type: str, total_steps: int) -> Any:
    """Bottleneck adapters: not a peft method (see models.bottleneck), so a wrapping function
    instead of a peft config; apply_peft calls it in place of get_peft_model."""
    from llmline.models.bottleneck import insert_adapters

    config = {"layout": cfg.adapter_layout, "reduction_factor": cfg.reduction_factor,
              "target_modules": cfg.target_modules, "task_type": task_type}  # fmt: skip
    return lambda model: insert_adapters(model, config)


def adapt_body(prepared: Prepared, cfg: TrainSpec, *, task_type: str | None, steps: int) -> Any:
    """Freeze parts of the pretrained body and/or wrap it in a PEFT adapter, in place (a new
    head always trains). Returns the PEFT-wrapped module, or None without train.peft."""
    model = prepared.model
    body = getattr(model, prepared.body) if prepared.body else model
    apply_freeze(body if prepared.body else getattr(model, "base_model", model), cfg.freeze)
    if cfg.peft is None or task_type is None:
        return None
    wrapped = apply_peft(body, cfg.peft, task_type=task_type, total_steps=steps)
    if prepared.body:
        setattr(model, prepared.body, wrapped)
    else:
        prepared.model = wrapped
    return wrapped


def apply_peft(model: Any, cfg: PeftSpec, *, task_type: str, total_steps: int) -> Any:
    """Wrap model with the configured adapter; only adapter (and head) parameters train."""
    from peft import get_peft_model

    if (
        cfg.method == "prefix"
        and task_type in PREFIX_CHECKED
        and not accepts_past_key_values(model)
    ):
        raise SpecError(
            f"prefix tuning cannot adapt {type(model).__name__}: its forward takes no "
            "past_key_values (transformers 5 renamed it), and peft's prefix tuning for this task "
            "hands its prefix over only through that argument",
            where="train.peft.method",
            fix="use prompt (prompt tuning), lora, adalora or ia3 for this model",
        )
    # Prompt tuning prepends virtual tokens; the per-token heads cut them off their logits
    # (ner: its loss, metrics and predictor), the pooled classifier off its hidden states.
    config = PEFT_METHODS.get(cfg.method, key="train.peft.method")(cfg, task_type, total_steps)
    try:
        with upstream_deprecations():
            wrapped = config(model) if callable(config) else get_peft_model(model, config)
    except ValueError as exc:  # e.g. no default target modules for this architecture
        raise SpecError(
            f"peft {cfg.method} cannot wrap this model: {exc}",
            where="train.peft",
            fix="set train.peft.target_modules to the model's linear layer names",
        ) from None
    trainable, total = count_parameters(wrapped)
    console.print(f"peft {cfg.method}: {trainable:,} of {total:,} parameters train")
    return wrapped


# peft task types whose prefix tuning checks the forward signature for past_key_values, at the
# first forward pass. The others (CAUSAL_LM, FEATURE_EXTRACTION) pass it through **kwargs, which
# transformers 5 still maps onto `cache` with a FutureWarning, until 5.40: the tests assert that
# warning, so the day it turns into an error is seen here first.
PREFIX_CHECKED = frozenset({"SEQ_CLS", "TOKEN_CLS", "QUESTION_ANS"})


def accepts_past_key_values(model: Any) -> bool:
    """What peft's prefix tuning checks at the first forward, checked before training starts:
    the model, or its transformer backbone, takes past_key_values."""
    import inspect

    candidates = [model, getattr(model, "base_model", None)]
    for candidate in candidates:
        forward = getattr(candidate, "forward", None)
        if forward is not None and "past_key_values" in inspect.signature(forward).parameters:
            return True
    return False


@contextlib.contextmanager
def upstream_deprecations() -> Iterator[None]:
    """Silence only the deprecation peft itself triggers inside transformers.

    peft 0.21 still reads `is_gradient_checkpointing`, which transformers 5 deprecated; that is
    not our API use, and the test suite turns transformers deprecations into errors.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        yield


def seed_and_threads(spec: PipelineSpec) -> None:
    """How every head starts: the spec's seed for python, numpy and torch, and train.threads
    CPU threads when set."""
    import torch
    from transformers import set_seed

    set_seed(spec.seed)
    if spec.train.threads:
        torch.set_num_threads(spec.train.threads)


def count_parameters(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def transformer_layers(body: Any) -> Any:
    """The ModuleList of transformer blocks (BERT encoder.layer, Llama model.layers, ...)."""
    for path in ("encoder.layer", "model.layers", "layers", "transformer.h", "bert.encoder.layer"):
        node = body
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if node is not None:
            return node
    return None


def apply_freeze(body: Any, cfg: FreezeSpec) -> None:
    """Freeze embeddings, the first N layers, or the whole body, in place."""
    if cfg.body:
        for param in body.parameters():
            param.requires_grad_(False)
        return
    if cfg.embeddings:
        embeddings = getattr(body, "embeddings", None) or body.get_input_embeddings()
        for param in embeddings.parameters():
            param.requires_grad_(False)
    if cfg.layers:
        layers = transformer_layers(body)
        if layers is None or cfg.layers > len(layers):
            found = "no layer list" if layers is None else f"{len(layers)} layers"
            raise SpecError(
                f"cannot freeze {cfg.layers} layers: the model has {found}",
                where="train.freeze.layers",
                fix="use a smaller number",
            )
        for layer in list(layers)[: cfg.layers]:
            for param in layer.parameters():
                param.requires_grad_(False)


def callbacks(cfg: TrainSpec, model: Any = None) -> list[Any]:
    """Step checkpoints, early stopping, the time budget and AdaLoRA's rank allocation (progress
    display is `use_rich_progress`'s job). model is the PEFT-wrapped module, when there is one."""
    from transformers import EarlyStoppingCallback

    from llmline.train.checkpoints import resumable

    out: list[Any] = resumable(cfg.save_steps)
    if cfg.peft and cfg.peft.method == "adalora" and model is not None:
        out.append(_adalora_allocation(model))
    if cfg.early_stopping_patience:
        out.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    if cfg.max_minutes:
        out.append(_time_budget(cfg.max_minutes))
    from llmline.train.hpo import ACTIVE_TRIAL, pruning_callback

    if ACTIVE_TRIAL.get() is not None:
        out.append(pruning_callback())
    return out


def _adalora_allocation(peft_model: Any) -> Any:
    """AdaLoRA re-allocates ranks from gradient sensitivities after every optimiser step;
    HF Trainer does not call it, so this callback does (after step, before zero_grad)."""
    from transformers import TrainerCallback

    class AdaLoraAllocation(TrainerCallback):
        def on_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            peft_model.base_model.update_and_allocate(state.global_step)

    return AdaLoraAllocation()


def _time_budget(minutes: float) -> Any:
    """Stop at the first step past the budget, evaluating and saving that step first so the
    best-checkpoint logic still sees it. With per-epoch evaluation HF's epoch end, which also
    runs when training stops mid-epoch, does both; asking here too evaluated twice."""
    import time

    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        started = time.monotonic()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.started = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            if time.monotonic() - self.started > minutes * 60:
                console.print(f"time budget of {minutes:g} min reached at step {state.global_step}")
                control.should_training_stop = True
                if args.eval_strategy != "epoch":
                    control.should_evaluate = True
                    control.should_save = True
            return control

    return TimeBudget()


def best_evaluation(trainer: Any) -> dict[str, Any]:
    """The logged evaluation of the checkpoint that was kept, without evaluating it again
    (a full pass over the validation set is minutes on a CPU); evaluates only if none logged."""
    best_step = getattr(trainer.state, "best_global_step", None)
    evaluations = [e for e in trainer.state.log_history if "eval_loss" in e]
    for entry in evaluations:
        if entry.get("step") == best_step:
            return {k: v for k, v in entry.items() if k.startswith("eval_")}
    result: dict[str, Any] = trainer.evaluate()
    return result
