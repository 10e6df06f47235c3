"""Training controls shared by every head: freezing, PEFT adapters, early stopping, arguments.

Each head builds its model, then calls these so `train.freeze`, `train.peft` and
`train.early_stopping_patience` mean the same thing for classification, NER and causal LMs.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmline.console import console
from llmline.errors import SpecError
from llmline.spec import FreezeSpec, PeftSpec, PipelineSpec, TrainSpec
from llmline.variants import Registry

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


def apply_peft(model: Any, cfg: PeftSpec, *, task_type: str, total_steps: int) -> Any:
    """Wrap model with the configured adapter; only adapter (and head) parameters train."""
    from peft import get_peft_model

    # Prompt tuning prepends virtual tokens; the per-token heads cut them off their logits
    # (ner: its loss, metrics and predictor), the pooled classifier off its hidden states.
    config = PEFT_METHODS.get(cfg.method, key="train.peft.method")(cfg, task_type, total_steps)
    try:
        with upstream_deprecations():
            wrapped = get_peft_model(model, config)
    except ValueError as exc:  # e.g. no default target modules for this architecture
        raise SpecError(
            f"peft {cfg.method} cannot wrap this model: {exc}",
            where="train.peft",
            fix="set train.peft.target_modules to the model's linear layer names",
        ) from None
    trainable, total = count_parameters(wrapped)
    console.print(f"peft {cfg.method}: {trainable:,} of {total:,} parameters train")
    return wrapped


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


def training_arguments(
    cfg: TrainSpec,
    output_dir: Path,
    *,
    seed: int,
    metric: str,
    greater_is_better: bool = True,
    sampling: str = "random",
) -> Any:
    """HF TrainingArguments from the spec: epoch checkpoints, best model kept, bf16/fp16 on CUDA."""
    import torch
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    cadence = "steps" if cfg.eval_steps else "epoch"
    # Native bf16 needs Ampere or newer (emulated bf16 is slow): older GPUs (T4, V100) get fp16,
    # which the Trainer runs with loss scaling.
    bf16 = cuda and torch.cuda.is_bf16_supported(including_emulation=False)
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm or 0.0,
        warmup_steps=cfg.warmup_ratio,
        lr_scheduler_type=cfg.scheduler,
        # HF saves at each evaluation (load_best_model_at_end needs that alignment); the
        # train.save_steps checkpoints in between come from checkpoints.resumable().
        eval_strategy=cadence,
        save_strategy=cadence,
        eval_steps=cfg.eval_steps,
        save_steps=cfg.eval_steps or 500,  # 500 is HF's default, unused when saving per epoch
        save_total_limit=2,  # the best checkpoint and the latest, to resume from
        load_best_model_at_end=True,
        metric_for_best_model=cfg.metric_for_best or metric,
        greater_is_better=greater_is_better,
        train_sampling_strategy=sampling,
        logging_steps=20,
        report_to=[],
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
        use_cpu=not cuda,
        bf16=bf16,
        fp16=cuda and not bf16,
        dataloader_num_workers=0,
    )


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


def build_optimizer(model: Any, cfg: TrainSpec, head_names: tuple[str, ...]) -> Any:
    """AdamW with discriminative learning rates: head_learning_rate for parameters whose
    name contains one of head_names, learning_rate for the body; no decay on norms/biases."""
    import torch

    head_lr = cfg.head_learning_rate or cfg.learning_rate
    groups: dict[tuple[float, float], list[Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_head = any(part in name for part in head_names)
        lr = head_lr if is_head else cfg.learning_rate
        no_decay = param.ndim < 2 or "LayerNorm" in name or "norm" in name.lower()
        decay = 0.0 if no_decay or is_head else cfg.weight_decay
        groups.setdefault((lr, decay), []).append(param)
    return torch.optim.AdamW(
        [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]
    )
