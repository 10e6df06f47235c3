"""The one training skeleton every task runs: build, adapt, HF Trainer, best checkpoint, save.

A task's `build` returns a `Prepared` (model, tokenizer, datasets, collator, its metrics and
loss); `fit()` does the rest the same way for all of them: freezing and PEFT adapters, one
optimizer (one no-decay rule, a separate head learning rate), one step count (gradient
accumulation, max_steps and the world size included) from which the warmup is computed,
resuming, the time budget, early stopping, the best checkpoint and a loss curve (JSON + PNG).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmline.console import console
from llmline.errors import SpecError
from llmline.spec import TrainSpec
from llmline.train.prepared import Prepared

if TYPE_CHECKING:
    from llmline.data.stage import DataArtifact
    from llmline.spec import PipelineSpec
    from llmline.tasks import Task
    from llmline.workspace import Workspace


@dataclass
class TrainResult:
    model_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    steps: int = 0


def world_size() -> int:
    """Processes training together (a distributed launcher sets WORLD_SIZE)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def total_steps(cfg: TrainSpec, rows: int, workers: int = 1) -> int:
    """Optimiser steps of the run, exactly as HF Trainer counts them: each of `workers` takes
    batch_size rows per forward pass, gradient_accumulation_steps passes make one step."""
    if cfg.max_steps:
        return int(cfg.max_steps)
    batches = math.ceil(rows / (cfg.batch_size * workers))
    per_epoch = max(1, math.ceil(batches / cfg.gradient_accumulation_steps))
    return max(1, math.ceil(cfg.epochs * per_epoch))


def warmup_steps(cfg: TrainSpec, steps: int) -> int:
    """train.warmup_ratio as a step count: TrainingArguments(warmup_steps=0.06) is a ratio
    only on transformers 5 (a count of 0 steps before), so the count is computed here."""
    return math.ceil(steps * cfg.warmup_ratio)


def build_optimizer(model: Any, cfg: TrainSpec, head_names: tuple[str, ...]) -> Any:
    """AdamW: head_learning_rate for parameters whose name contains a head part, learning_rate
    for the body; no weight decay on biases, norm weights (LayerNorm, RMSNorm) or the head."""
    import torch

    head_lr = cfg.head_learning_rate or cfg.learning_rate
    groups: dict[tuple[float, float], list[Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_head = any(part in name for part in head_names)
        no_decay = is_head or param.ndim < 2 or "norm" in name.lower()
        key = (head_lr if is_head else cfg.learning_rate, 0.0 if no_decay else cfg.weight_decay)
        groups.setdefault(key, []).append(param)
    return torch.optim.AdamW(
        [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]
    )


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX512-BF16 or AMX), not emulated."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def mixed_precision(cfg: TrainSpec, *, cuda: bool | None = None) -> str:
    """The arithmetic train.precision asks for, as this machine can do it natively: fp32, bf16
    or fp16. A request the hardware would only emulate (slower than fp32) falls back with a
    warning instead of failing, so one recipe runs on a laptop, a Sapphire Rapids server and a
    GPU alike."""
    import torch

    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cuda:
        # Native bf16 needs Ampere or newer: older GPUs (T4, V100) get fp16, which the Trainer
        # runs with loss scaling.
        native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
        if cfg.precision in ("auto", "bf16"):
            if cfg.precision == "bf16" and not native_bf16:
                console.print(
                    "[yellow]train.precision bf16: this GPU has no native bf16 "
                    "(Ampere or newer); training in fp16 with loss scaling[/]"
                )
            return "bf16" if native_bf16 else "fp16"
        return cfg.precision
    if cfg.precision == "fp16":
        console.print(
            "[yellow]train.precision fp16 needs a GPU; training in fp32 on CPU "
            "(bf16 is the CPU's half precision, on AMX or AVX512-BF16 cores)[/]"
        )
        return "fp32"
    if cfg.precision == "bf16" and not cpu_has_native_bf16():
        console.print(
            "[yellow]train.precision bf16: this CPU has no native bf16 (AMX or "
            "AVX512-BF16), where emulated bf16 is slower than fp32; training in fp32[/]"
        )
        return "fp32"
    return "bf16" if cfg.precision == "bf16" else "fp32"


def training_arguments(
    cfg: TrainSpec, output_dir: Path, *, seed: int, metric: str, greater_is_better: bool,
    steps: int, sampling: str = "random", logging_steps: int = 20, arguments_class: Any = None,
) -> Any:  # fmt: skip
    """TrainingArguments from the spec: evaluation checkpoints, best model kept, the precision
    of mixed_precision(), warmup as a step count of `steps` (see warmup_steps)."""
    import torch
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    cadence = "steps" if cfg.eval_steps else "epoch"
    precision = mixed_precision(cfg, cuda=cuda)
    return (arguments_class or TrainingArguments)(
        output_dir=str(output_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm or 0.0, warmup_steps=warmup_steps(cfg, steps),
        lr_scheduler_type=cfg.scheduler,
        # HF saves at each evaluation (load_best_model_at_end needs that alignment); the
        # train.save_steps checkpoints in between come from checkpoints.resumable().
        eval_strategy=cadence, save_strategy=cadence, eval_steps=cfg.eval_steps,
        save_steps=cfg.eval_steps or 500,  # 500 is HF's default, unused when saving per epoch
        save_total_limit=2,  # the best checkpoint and the latest, to resume from
        load_best_model_at_end=True, metric_for_best_model=cfg.metric_for_best or metric,
        greater_is_better=greater_is_better, train_sampling_strategy=sampling,
        logging_steps=logging_steps, report_to=[], disable_tqdm=True, seed=seed, data_seed=seed,
        use_cpu=not cuda, bf16=precision == "bf16", fp16=precision == "fp16",
        dataloader_num_workers=0,
    )  # fmt: skip


@contextlib.contextmanager
def cpu_bf16_attention(model: Any, args: Any) -> Iterator[None]:
    """Eager attention while training in bf16 on CPU, the model's own choice again after.

    PyTorch's CPU flash-attention backward is slow in bf16: measured on multilingual-e5-small
    (batch 16 x 96 tokens, 2 Sapphire Rapids cores), a forward and backward took 0.81 s with
    sdpa and 0.50 s with eager attention, whose matmuls run on AMX (fp32: 1.16 and 1.11 s)."""
    from transformers import PreTrainedModel

    if not args.bf16 or not args.use_cpu:
        yield
        return
    # every HF model inside (a task's own head module may wrap one; PEFT wraps one)
    models = [m for m in model.modules() if isinstance(m, PreTrainedModel)]
    chosen = [m.config._attn_implementation for m in models]
    for module in models:
        module.set_attn_implementation("eager")
    try:
        yield
    finally:
        for module, implementation in zip(models, chosen, strict=True):
            module.set_attn_implementation(implementation)


def train_task(
    spec: PipelineSpec, data: DataArtifact, out_dir: Path, workspace: Workspace
) -> TrainResult:
    """The train stage of any task, in this process: build, fit, save (rank 0), loss curve."""
    from llmline.tasks import get_task
    from llmline.train import controls
    from llmline.train.checkpoints import resume_checkpoint

    started = time.perf_counter()
    task = get_task(spec.task)
    if spec.train.peft is not None and task.peft_task_type is None:
        raise SpecError(
            f"train.peft is not supported by task {task.name}: it updates the whole model",
            where="train.peft",
            fix="remove train.peft (adapt the trained model in a later run instead)",
        )
    controls.seed_and_threads(spec)
    checkpoints = out_dir / "checkpoints"
    resume = resume_checkpoint(checkpoints)
    prepared = task.build(spec, data, workspace, resume)
    trainer, output, metrics = fit(spec, task, prepared, checkpoints, resume)
    model_dir = out_dir / "model"
    if trainer.is_world_process_zero():  # data-parallel workers: rank 0 alone writes
        metrics |= task.save(prepared, trainer, spec, model_dir, metrics)
        metrics |= write_curve(trainer, metrics, out_dir / "train", f"{spec.name} ({task.name})")
    seconds = time.perf_counter() - started
    shown = metrics.get(f"eval_{task.primary}", metrics.get("eval_loss"))
    console.print(
        f"[bold]train[/]: {output.global_step} steps in {seconds:.0f}s, best validation "
        f"{task.primary if f'eval_{task.primary}' in metrics else 'loss'} {shown:.4f}"
    )
    return TrainResult(model_dir, metrics, seconds, output.global_step)


def fit(
    spec: PipelineSpec, task: Task, prepared: Prepared, checkpoints: Path, resume: str | None
) -> tuple[Any, Any, dict[str, Any]]:
    """Adapt the body, train with HF Trainer, keep the best evaluation.

    Returns (trainer, train output, metrics: train loss, the best eval_*, perplexities)."""
    from transformers import Trainer

    from llmline.train import controls
    from llmline.train.lm_metrics import perplexity
    from llmline.train.progress import use_rich_progress

    cfg = spec.train
    steps = total_steps(cfg, len(prepared.train), world_size())
    adapter = controls.adapt_body(prepared, cfg, task_type=task.peft_task_type, steps=steps)
    metric = "loss" if prepared.compute_metrics is None else task.primary
    args = training_arguments(
        cfg, checkpoints, seed=spec.seed, metric=metric, steps=steps, sampling=prepared.sampling,
        greater_is_better=metric != "loss" and task.greater_is_better,
        logging_steps=prepared.log_every, arguments_class=prepared.arguments_class,
    )  # fmt: skip
    optional: dict[str, Any] = {}
    if prepared.compute_loss is not None:
        optional["compute_loss_func"] = prepared.compute_loss
    trainer = (prepared.trainer_class or Trainer)(
        model=prepared.model, args=args, train_dataset=prepared.train,
        eval_dataset=prepared.validation, data_collator=prepared.collator,
        processing_class=prepared.tokenizer, compute_metrics=prepared.compute_metrics,
        optimizers=(build_optimizer(prepared.model, cfg, prepared.head_names), None),
        callbacks=controls.callbacks(cfg, adapter), **optional, **prepared.trainer_kwargs,
    )  # fmt: skip
    use_rich_progress(trainer)
    metrics: dict[str, Any] = {}
    if prepared.initial_eval:
        initial = trainer.evaluate()["eval_loss"]
        metrics |= {"initial_eval_loss": initial, "initial_perplexity": perplexity(initial)}
    with cpu_bf16_attention(prepared.model, args):
        output = trainer.train(resume_from_checkpoint=resume)
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    metrics = {"train_loss": output.training_loss, "precision": precision,
               **controls.best_evaluation(trainer), **metrics}  # fmt: skip
    if prepared.language_model:
        metrics["eval_perplexity"] = perplexity(metrics["eval_loss"])
    return trainer, output, metrics


def write_curve(
    trainer: Any, metrics: dict[str, Any], directory: Path, title: str
) -> dict[str, str]:
    """loss_curve.json/.png of the run in directory; returns their paths as metrics."""
    from llmline.train.loss_curve import curve_points, write_loss_curve

    points = curve_points(trainer.state.log_history, metrics.get("initial_eval_loss"))
    curve = write_loss_curve(points, directory, title)
    return {"loss_curve": str(curve["json"]), "loss_curve_png": str(curve["png"])}


def save_pretrained(
    model: Any, tokenizer: Any, model_dir: Path, spec: PipelineSpec, meta: Any,
    base_dir: Path | None = None,
) -> None:  # fmt: skip
    """An HF model the way every task saves one: safetensors weights (or, with train.peft, the
    adapter alone, pinned by sha256 to base_dir), the tokenizer, and llmline_model.json."""
    from llmline.models.adapters import pin_base

    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(model_dir, safe_serialization=True)
    tokenizer.save_pretrained(model_dir)
    meta.extra["label_map"] = dict(spec.data.label_map)
    if spec.train.peft is not None and base_dir is not None:
        meta.extra["peft"] = spec.train.peft.model_dump()
        meta.extra["base"] = pin_base(model_dir, spec.train.base_model, base_dir)
    meta.save(model_dir)
