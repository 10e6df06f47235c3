"""The model link's spec: fine-tuning hyper-parameters, PEFT, freezing, HPO, distribution."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from llmline.spec.base import StrictModel


class PeftSpec(StrictModel):
    """Parameter-efficient fine-tuning through `peft`: only the adapter (and head) train."""

    method: Literal["lora", "adalora", "ia3", "prefix", "prompt", "adapter"] = Field(
        "lora",
        description="PEFT method: lora, adalora, ia3, prefix (tuning), prompt (tuning) or "
        "adapter (bottleneck adapters; cannot be merged).",
    )
    r: int = Field(8, gt=0, description="LoRA/AdaLoRA rank (AdaLoRA: the target average rank).")
    alpha: int = Field(16, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA path.")
    target_modules: list[str] | None = Field(
        None, description="Module names to adapt; null lets peft pick the architecture default."
    )
    virtual_tokens: int = Field(16, gt=0, description="Virtual tokens of prefix and prompt tuning.")
    reduction_factor: int = Field(
        16, gt=0, description="Bottleneck adapters: hidden size / adapter size."
    )
    adapter_layout: Literal["houlsby", "pfeiffer"] = Field(
        "houlsby",
        description="Bottleneck adapters: houlsby (after attention and feed-forward outputs) "
        "or pfeiffer (after the feed-forward output only).",
    )


class FreezeSpec(StrictModel):
    """Which parts of the pretrained body stay fixed during fine-tuning."""

    embeddings: bool = Field(False, description="Freeze the token/position embeddings.")
    layers: int = Field(0, ge=0, description="Freeze the first N transformer layers.")
    body: bool = Field(False, description="Freeze the whole body: train only the head.")


class GenerationSpec(StrictModel):
    """Decoding settings of a causal LM, used by evaluation, predict and the service."""

    max_new_tokens: int = Field(64, gt=0, description="Tokens generated at most per answer.")
    temperature: float = Field(0.0, ge=0, description="0 decodes greedily.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    repetition_penalty: float = Field(1.0, gt=0, description="1.0 disables it.")
    system_prompt: str | None = Field(
        None, description="System message put before every conversation; null for none."
    )
    prompt_template: str = Field(
        "{text}", description="User turn built from a prompt/response row; {text} is the prompt."
    )


class SearchDimension(StrictModel):
    """One train.* key to search: a float/int range, or a list of choices."""

    low: float | None = Field(None, description="Lower bound of a numeric range.")
    high: float | None = Field(None, description="Upper bound of a numeric range.")
    log: bool = Field(False, description="Sample the range on a log scale (learning rates).")
    integer: bool = Field(False, description="Sample whole numbers.")
    choices: list[Any] | None = Field(None, description="Pick one of these values instead.")

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchDimension:
        if self.choices is None and (self.low is None or self.high is None):
            raise ValueError("give low and high, or choices")
        return self


class HpoSpec(StrictModel):
    """Hyper-parameter search with Optuna (`llmline hpo spec.yaml`)."""

    trials: int = Field(10, gt=0, description="Trial budget.")
    metric: str = Field(
        "accuracy",
        description="A metric of the task's evaluation to optimise (e.g. accuracy, entity_f1).",
    )
    direction: Literal["maximize", "minimize"] = "maximize"
    pruning: bool = Field(True, description="Stop unpromising trials early (median pruner).")
    space: dict[str, SearchDimension] = Field(
        default_factory=dict, description="train.* key -> range or choices, e.g. learning_rate."
    )


class DistributedSpec(StrictModel):
    """Data-parallel training: the task head runs on N workers that average gradients each step."""

    backend: Literal["ray", "accelerate"] = Field(
        description="ray: Ray Train TorchTrainer workers (this machine, or the cluster "
        "RAY_ADDRESS names); accelerate: N processes on this machine via `accelerate launch`.",
    )
    workers: int = Field(
        2, ge=1, description="Worker processes; each takes train.batch_size rows per step, so "
        "one optimiser step sees workers x batch_size rows and an epoch takes 1/workers the steps.",
    )  # fmt: skip
    use_gpu: Literal["auto"] | bool = Field(
        "auto", description="One GPU per worker (NCCL) or CPU workers (gloo); auto uses GPUs "
        "when there are any.",
    )  # fmt: skip


class PretrainSpec(StrictModel):
    """Pre-training on unlabeled text: continued masked-LM (`task: mlm`) or a causal LM built
    and trained from scratch (`task: causal_lm_pretrain`, with its own byte-level BPE)."""

    mlm_probability: float = Field(
        0.15, gt=0, lt=1, description="mlm: share of tokens masked (80% [MASK], 10% random)."
    )
    vocab_size: int = Field(
        8000, ge=300,
        description="causal_lm_pretrain: byte-level BPE vocabulary trained on the training "
        "split (256 bytes + merges + special tokens).",
    )  # fmt: skip
    min_frequency: int = Field(2, ge=1, description="causal_lm_pretrain: rarer pairs not merged.")
    architecture: Literal["llama", "gpt2"] = Field(
        "llama", description="causal_lm_pretrain: Llama (RoPE, RMSNorm, SwiGLU) or GPT-2 blocks."
    )
    block_size: int = Field(
        256, ge=8,
        description="causal_lm_pretrain: tokens per training block, the context length; the "
        "corpus is concatenated and cut into blocks of this size.",
    )  # fmt: skip
    n_layer: int = Field(4, ge=1, description="causal_lm_pretrain: transformer blocks.")
    n_embd: int = Field(256, ge=8, description="causal_lm_pretrain: hidden size.")
    n_head: int = Field(4, ge=1, description="causal_lm_pretrain: attention heads.")
    dropout: float = Field(0.0, ge=0, lt=1, description="causal_lm_pretrain: dropout.")
    log_every: int = Field(
        10, gt=0, description="Log the training loss every N steps (the loss curve's points)."
    )
    sample_prompts: list[str] = Field(
        default_factory=lambda: ["The "],
        description="causal_lm_pretrain: prompts continued after training (samples.json); "
        "decoding follows task_config.generation.",
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> PretrainSpec:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} must be a multiple of n_head {self.n_head}")
        return self


# Keys that sat in `train` before each task got its own `task_config` block.
MOVED_TO_TASK_CONFIG = ("label_all_tokens", "generation", "pretrain")


class TrainSpec(StrictModel):
    """Fine-tuning hyper-parameters; defaults are the ones that worked on Banking77."""

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            moved = [k for k in MOVED_TO_TASK_CONFIG if k in value]
            if moved:
                raise ValueError(
                    f"{', '.join(moved)} moved from train to task_config (settings only some "
                    f"tasks have): write task_config: {{{moved[0]}: ...}}"
                )
        return value

    base_model: str = Field(
        "packaged:minilm",
        description="Model reference: packaged:minilm, packaged:e5-small, a run dir, "
        "models:/NAME@ALIAS, a local dir, a hub id, or auto (encoder tasks: MiniLM for English "
        "training data, multilingual E5 for anything else).",
    )
    pooling: Literal["mean", "cls"] = Field(
        "mean", description="Sentence pooling; MiniLM was trained with mean pooling."
    )
    head_init: Literal["probe", "random"] = Field(
        "probe",
        description="'probe' starts the head from a logistic regression on frozen embeddings.",
    )
    epochs: float = Field(2.0, gt=0)
    max_steps: int | None = Field(None, gt=0, description="Stop after N optimiser steps.")
    learning_rate: float = Field(5e-5, gt=0, description="Learning rate of the encoder body.")
    head_learning_rate: float | None = Field(
        None, gt=0, description="Learning rate of the head; null uses learning_rate."
    )
    batch_size: int = Field(32, gt=0)
    eval_batch_size: int = Field(128, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    max_length: int = Field(128, gt=8, description="Tokens kept per text (truncation).")
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant_with_warmup"] = "linear"
    label_smoothing: float = Field(
        0.0, ge=0, lt=1,
        description="Label smoothing of the training loss (classification, ner, causal_lm); "
        "validation losses are never smoothed.",
    )  # fmt: skip
    class_weights: Literal["none", "balanced"] | dict[str, Annotated[float, Field(gt=0)]] = Field(
        "none",
        description="Loss weight per label (classification, ner): none, balanced (inverse "
        "training frequency) or a mapping label: weight (unlisted labels weigh 1).",
    )
    head_dropout: float = Field(
        0.0, ge=0, lt=1,
        description="Dropout on the pooled embedding before the head; 0 keeps the logits of a "
        "probe-initialised head intact.",
    )  # fmt: skip
    max_grad_norm: float | None = Field(
        1.0, gt=0, description="Clip the gradient norm to this; null disables clipping."
    )
    probe_c: float = Field(10.0, gt=0, description="Inverse regularisation of the probe head.")
    probe_max_rows: int | None = Field(
        None, gt=0, description="Fit the probe on at most this many training rows."
    )
    threads: int | None = Field(None, gt=0, description="CPU threads; null uses all cores.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Arithmetic of the forward and backward passes (the weights and the "
        "optimizer stay fp32). auto: bf16 on Ampere or newer GPUs, fp16 with loss scaling on "
        "older ones, fp32 on CPU. bf16 on CPU needs AMX or AVX512-BF16 (Sapphire Rapids and "
        "newer; measured about 2x faster a step there); fp16 needs a GPU.",
    )
    peft: PeftSpec | None = Field(None, description="Train an adapter instead of the full body.")
    freeze: FreezeSpec = Field(default_factory=FreezeSpec)
    early_stopping_patience: int | None = Field(
        None, gt=0, description="Stop after N evaluations without improvement of the best metric."
    )
    save_steps: int | None = Field(
        200, gt=0,
        description="Also checkpoint every N optimiser steps, so a killed run loses at most N "
        "steps when re-run (or `llmline run --resume`); null: checkpoint only at evaluations.",
    )  # fmt: skip
    eval_steps: int | None = Field(
        None, gt=0,
        description="Evaluate, and keep the checkpoint if it is the best so far, every N "
        "optimiser steps; null: once per epoch.",
    )  # fmt: skip
    metric_for_best: str | None = Field(
        None, description="Validation metric that picks the best checkpoint; null: the task's."
    )
    max_minutes: float | None = Field(
        None,
        gt=0,
        description="Time budget: stop, evaluate and keep the best checkpoint "
        "once training has run this long.",
    )
    distributed: DistributedSpec | None = Field(
        None, description="Train data-parallel on several workers; null trains in this process."
    )
