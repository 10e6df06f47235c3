"""The pipeline spec: pydantic models that are the only place configuration is defined.

One model per stage, `extra="forbid"`, so the YAML maps onto it 1:1 and a typo is an error that
names the key. Field descriptions are the reference documentation (`llmline validate --explain`).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llmline.errors import SpecError

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SourceSpec(StrictModel):
    """Where rows come from and which columns hold the text and the label."""

    path: Path = Field(
        description="A CSV/TSV/JSONL/Parquet file (optionally .gz/.bz2/.xz) or a directory."
    )
    format: str = Field(
        "auto",
        description="File format; 'auto' infers it from the extension. "
        "Data-chain sources (text_dir, email, html, conll, label_studio) register more.",
    )
    text_column: str = Field("text", description="Column with the input text.")
    label_column: str | None = Field(
        "label", description="Column with the target label; null for unlabeled text."
    )
    encoding: str | None = Field(None, description="Text encoding; null detects it.")
    glob: str = Field(
        "**/*", description="Directory sources (text_dir, email, html): files to read, by glob."
    )
    strip_quotes: bool = Field(False, description="E-mail: drop quoted reply lines ('> ...').")
    strip_signature: bool = Field(False, description="E-mail: drop the signature after '-- '.")


class CleanSpec(StrictModel):
    """Normalisation applied to every text before deduplication and splitting."""

    nfkc: bool = Field(True, description="Unicode NFKC normalisation (full-width -> ASCII).")
    strip_control: bool = Field(True, description="Remove control and format characters.")
    collapse_whitespace: bool = Field(True, description="Collapse runs of whitespace to one.")
    min_chars: int = Field(1, ge=0, description="Drop texts shorter than this after cleaning.")
    strip_html: bool = Field(False, description="Remove HTML tags/entities left in the text.")
    urls: Literal["keep", "mask", "remove"] = Field(
        "keep", description="URLs: keep, replace by <URL>, or remove."
    )
    emails: Literal["keep", "mask", "remove"] = Field(
        "keep", description="E-mail addresses: keep, replace by <EMAIL>, or remove."
    )


class QualitySpec(StrictModel):
    """Data step `quality`: heuristic filters (Gopher/C4 style); failures are dropped by reason."""

    min_chars: int = Field(0, ge=0, description="Drop texts shorter than this.")
    max_chars: int | None = Field(None, gt=0, description="Drop texts longer than this.")
    min_words: int = Field(0, ge=0, description="Drop texts with fewer words (CJK: characters).")
    max_symbol_ratio: float = Field(0.3, ge=0, le=1, description="Max share of symbol chars.")
    max_digit_ratio: float = Field(0.5, ge=0, le=1, description="Max share of digit chars.")
    max_duplicate_line_fraction: float = Field(
        0.5, ge=0, le=1, description="Max share of lines that repeat another line."
    )
    max_top_ngram_fraction: float = Field(
        0.4, ge=0, le=1, description="Max share of characters covered by the top word n-gram."
    )
    ngram: int = Field(3, ge=2, le=10, description="n of the repeated n-gram check.")
    languages: list[str] | None = Field(
        None, description="Keep only these languages (ISO codes, e.g. [en, zh]); null keeps all."
    )


class NearDedupSpec(StrictModel):
    """Data step `near_dedup`: MinHash LSH near-duplicates, verified by exact Jaccard."""

    threshold: float = Field(0.8, gt=0, le=1, description="Jaccard similarity that counts.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
    shingle: Literal["auto", "word", "char"] = Field(
        "auto", description="Word shingles, character shingles (CJK), or auto-detect per text."
    )
    ngram: int | None = Field(None, ge=1, le=20, description="Shingle size; null: 3 words/5 chars.")
    action: Literal["drop", "keep"] = Field(
        "drop", description="drop near-duplicates, or keep them and only mark their cluster."
    )
    seed: int = Field(1, description="Seed of the MinHash permutations.")


class RedactSpec(StrictModel):
    """Data step `redact`: PII found by verified patterns (and optional NER names) is replaced."""

    mode: Literal["mask", "pseudonym", "hash"] = Field(
        "mask", description="<EMAIL>, consistent <EMAIL_1> pseudonyms, or salted hashes."
    )
    salt: str = Field("", description="Secret salt of hash mode.")
    names: bool = Field(False, description="Also redact person names (needs a spaCy pipeline).")


class LabelRuleSpec(StrictModel):
    """One labeling function: votes `label` when a keyword or the regex matches, else abstains."""

    label: str
    keywords: list[str] = Field(default_factory=list, description="Case-insensitive words.")
    regex: str | None = Field(None, description="A Python regular expression.")


class LabelRulesSpec(StrictModel):
    """Data step `label_rules`: labeling functions combined by vote or a label model."""

    rules: list[LabelRuleSpec] = Field(min_length=1)
    combine: Literal["vote", "label_model"] = Field(
        "vote", description="Majority vote, or a label model weighting rules by agreement."
    )
    overwrite: bool = Field(False, description="Relabel rows that already have a label.")


class AugmentSpec(StrictModel):
    """Data step `augment`: EDA edits / back-translation; copies never go to validation."""

    ops: list[Literal["synonym", "swap", "delete", "insert", "back_translation"]] = Field(
        ["swap", "delete"], description="Operations, one per copy, cycled."
    )
    copies: int = Field(1, ge=1, le=16, description="Augmented copies per row.")
    alpha: float = Field(0.1, gt=0, le=0.5, description="Share of words an EDA edit touches.")
    seed: int = 0
    model: str | None = Field(
        None, description="back_translation: seq2seq model ref (src->pivot), e.g. a local dir."
    )
    reverse_model: str | None = Field(
        None, description="back_translation: seq2seq model ref (pivot->src)."
    )
    max_new_tokens: int = Field(256, gt=0, description="back_translation: tokens per pass.")


DATA_STEP_CONFIGS: dict[str, type[StrictModel]] = {
    "quality": QualitySpec,
    "near_dedup": NearDedupSpec,
    "redact": RedactSpec,
    "label_rules": LabelRulesSpec,
    "augment": AugmentSpec,
}


class DataSpec(StrictModel):
    """The data stage: load, clean, drop empty and duplicate rows, split."""

    source: SourceSpec
    validation: SourceSpec | None = Field(
        None, description="An explicit validation file; when null the source is split."
    )
    label_map: dict[str, str] = Field(
        default_factory=dict, description="Rename raw labels, e.g. {fresh: positive}."
    )
    drop_labels: list[str] = Field(
        default_factory=list, description="Raw labels whose rows are dropped, e.g. [plot]."
    )
    clean: CleanSpec = Field(default_factory=CleanSpec)
    dedup: bool = Field(True, description="Drop exact duplicates after normalisation.")
    validation_fraction: float = Field(
        0.1, gt=0.0, lt=0.9, description="Share of rows held out, stratified by label."
    )
    max_rows: int | None = Field(
        None, gt=0, description="Keep only the first N rows (a small slice for tests)."
    )
    steps: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Extra data-chain steps by registered name, run after cleaning: "
        "quality, near_dedup, redact, label_rules, augment (each {step: NAME, ...options}).",
    )
    strict: bool = Field(
        False, description="Abort on the first bad row instead of rejecting and counting it."
    )
    max_bad_fraction: float = Field(
        0.1, ge=0, le=1, description="Abort when more than this share of rows is unreadable."
    )
    label_issues: bool = Field(
        False, description="Find likely label errors with cleanlab and list them in the report."
    )
    keep_rejects: bool = Field(False, description="Write dropped rows to rejects.jsonl.")

    @model_validator(mode="after")
    def _check_steps(self) -> DataSpec:
        for index, options in enumerate(self.steps):
            name = options.get("step")
            config = DATA_STEP_CONFIGS.get(str(name))
            if config is None:
                continue  # third-party steps are checked by the registry when run
            try:
                config(**{k: v for k, v in options.items() if k != "step"})
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"data.steps[{index}].{loc}: {first['msg']}") from None
        return self


class PeftSpec(StrictModel):
    """Parameter-efficient fine-tuning through `peft`: only the adapter (and head) train."""

    method: Literal["lora", "adalora", "ia3", "prefix", "prompt"] = Field(
        "lora", description="PEFT method: lora, adalora, ia3, prefix (tuning) or prompt (tuning)."
    )
    r: int = Field(8, gt=0, description="LoRA/AdaLoRA rank (AdaLoRA: the target average rank).")
    alpha: int = Field(16, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA path.")
    target_modules: list[str] | None = Field(
        None, description="Module names to adapt; null lets peft pick the architecture default."
    )
    virtual_tokens: int = Field(16, gt=0, description="Virtual tokens of prefix and prompt tuning.")


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
        "accuracy", description="Evaluation metric to optimise (e.g. accuracy, macro_f1)."
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
        "decoding follows train.generation.",
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> PretrainSpec:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} must be a multiple of n_head {self.n_head}")
        return self


class TrainSpec(StrictModel):
    """Fine-tuning hyper-parameters; defaults are the ones that worked on Banking77."""

    base_model: str = Field(
        "packaged:minilm",
        description="Model reference: packaged:minilm, a run dir, models:/NAME@ALIAS, a local "
        "dir, or a hub id.",
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
    label_all_tokens: bool = Field(
        False, description="NER: label every word piece, not only the first of each word."
    )
    max_minutes: float | None = Field(
        None,
        gt=0,
        description="Time budget: stop, evaluate and keep the best checkpoint "
        "once training has run this long.",
    )
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    pretrain: PretrainSpec | None = Field(
        None, description="Pre-training settings (tasks mlm, causal_lm_pretrain); null: defaults."
    )
    distributed: DistributedSpec | None = Field(
        None, description="Train data-parallel on several workers; null trains in this process."
    )


class GateSpec(StrictModel):
    """Thresholds a model must meet before it may become the registry's champion."""

    min_accuracy: float | None = Field(None, ge=0, le=1)
    min_macro_f1: float | None = Field(None, ge=0, le=1)
    max_perplexity: float | None = Field(
        None, gt=1, description="Highest validation perplexity (tasks mlm, causal_lm_pretrain)."
    )


class EvaluateSpec(StrictModel):
    gates: GateSpec = Field(default_factory=GateSpec)
    batch_size: int = Field(128, gt=0)


class RegistrySpec(StrictModel):
    """Where the model version is registered (MLflow; embedded SQLite in the workspace)."""

    name: str | None = Field(
        None, description="Registered model name; null uses the spec name.", pattern=r"^[\w.-]+$"
    )
    alias: str = Field("champion", description="Alias set only when every gate passes.")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; null uses <workspace>/mlflow.db."
    )


class BiasSpec(StrictModel):
    """Counterfactual invariance and group-fairness checks; thresholds become promotion gates."""

    enabled: bool = Field(False, description="Run the bias stage after evaluation.")
    languages: list[Literal["en", "zh"]] = Field(
        ["en"], description="Shipped term lists to probe with."
    )
    attributes: list[str] = Field(
        default_factory=lambda: ["name", "gender", "nationality", "religion", "age"],
        description="Attributes whose terms are swapped (names of the term lists).",
    )
    terms_file: Path | None = Field(
        None, description="YAML with extra or replacement term lists (shape of the shipped ones)."
    )
    max_texts: int = Field(200, gt=0, description="Validation texts probed per attribute.")
    max_flip_rate: float | None = Field(
        None, ge=0, le=1,
        description="Gate: highest share of texts whose label changes when only a term changes.",
    )  # fmt: skip
    max_score_change: float | None = Field(
        None, ge=0, le=1,
        description="Gate: highest mean spread of the predicted label's probability over terms.",
    )  # fmt: skip
    group_data: SourceSpec | None = Field(
        None, description="Labelled file with a sensitive-attribute column, for group metrics."
    )
    sensitive_column: str | None = Field(None, description="Column of group_data with the group.")
    max_demographic_parity_difference: float | None = Field(
        None, ge=0, le=1, description="Gate on fairlearn's demographic-parity difference."
    )
    max_equalized_odds_difference: float | None = Field(
        None, ge=0, le=1, description="Gate on fairlearn's equalized-odds difference."
    )

    @model_validator(mode="after")
    def _group_data_needs_column(self) -> BiasSpec:
        if (self.group_data is None) != (self.sensitive_column is None):
            raise ValueError("govern.bias: group_data and sensitive_column must be given together")
        return self


class RouteSafetySpec(StrictModel):
    """What the service does when a check fires on one route: block (4xx), flag, or pass."""

    input: Literal["block", "flag", "pass"] = Field("flag", description="Action on inputs.")
    output: Literal["block", "flag", "pass"] = Field("pass", description="Action on outputs.")


def _default_safety_routes() -> dict[str, RouteSafetySpec]:
    chat = RouteSafetySpec(input="block", output="block")
    return {
        "/v1/classify": RouteSafetySpec(),
        "/v1/explain": RouteSafetySpec(),
        "/v1/chat/completions": chat,
        "/v1/completions": chat,
    }


class SafetySpec(StrictModel):
    """Harmful-content and prompt-injection checks for data, service inputs and outputs."""

    enabled: bool = Field(False, description="Run the safety stage (scan training data).")
    languages: list[Literal["en", "zh"]] = Field(
        ["en", "zh"], description="Shipped lexicons to use."
    )
    lexicon_file: Path | None = Field(
        None, description="YAML of extra lexicon terms by category (shape of the shipped ones)."
    )
    injection: bool = Field(True, description="Check prompt-injection patterns.")
    classifier: str | None = Field(
        None, description="Optional model reference of a harmful-content classifier."
    )
    classifier_labels: list[str] = Field(
        default_factory=lambda: ["toxic", "unsafe", "harmful", "spam"],
        description="Labels of the classifier that count as harmful.",
    )
    classifier_threshold: float = Field(0.5, gt=0, le=1, description="Score that counts.")
    routes: dict[str, RouteSafetySpec] = Field(
        default_factory=_default_safety_routes,
        description="Per-route actions by path, e.g. {/v1/classify: {input: flag}}; routes not "
        "listed pass unchecked. The service reads these keys from $LLMLINE_SAFETY_POLICY.",
    )
    max_flagged_rate: float | None = Field(
        None, ge=0, le=1, description="Gate: highest share of training rows flagged as harmful."
    )


class CardSpec(StrictModel):
    """Model card and datasheet, generated from the run's artifacts after registration."""

    enabled: bool = Field(
        True, description="Write card.md, card.html and datasheet.md after registration."
    )
    intended_use: str = Field("", description="What the model is for, in the owner's words.")
    out_of_scope: str = Field("", description="Uses the model must not be put to.")
    limitations: list[str] = Field(
        default_factory=list, description="Known limitations added to the measured ones."
    )
    data_license: str | None = Field(
        None, description="Licence of the training data; null reads a LICENSE file beside it."
    )
    base_model_license: str | None = Field(
        None, description="Licence of the base model; null reads it from the base model."
    )


class GovernSpec(StrictModel):
    """Governance: bias and safety checks (promotion gates) and the model card."""

    bias: BiasSpec = Field(default_factory=BiasSpec)
    safety: SafetySpec = Field(default_factory=SafetySpec)
    card: CardSpec = Field(default_factory=CardSpec)


class OptimizeSpec(StrictModel):
    """Compressed variants of the trained model, each measured and gated (`llmline optimize`)."""

    methods: list[str] = Field(
        default_factory=list,
        description="Registered optimize methods to run after evaluation, e.g. [onnx-int8, "
        "dynamic-int8, magnitude-prune, head-prune, neuron-prune, distill]; empty skips the "
        "stage.",
    )
    max_accuracy_drop: float = Field(
        0.01, ge=0, le=1, description="Gate: a variant may lose at most this much accuracy."
    )
    sparsity: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="magnitude-prune: share of the encoder's Linear weights zeroed (unstructured "
        "L1). Tensors keep their shape, so this changes accuracy only, not size or speed.",
    )
    heads_per_layer: int = Field(
        1,
        ge=1,
        description="head-prune: attention heads removed from every layer (each keeps at least "
        "one).",
    )
    head_share: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="head-prune: share of all attention heads removed, the least important "
        "across every layer, so layers keep different head counts (each at least one). Replaces "
        "heads_per_layer; set one of the two.",
    )
    neuron_share: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="neuron-prune: share of the FFN intermediate neurons removed, lowest weight "
        "norm first.",
    )
    neuron_scope: Literal["layer", "global"] = Field(
        "layer",
        description="neuron-prune: 'layer' removes neuron_share of every layer; 'global' removes "
        "the weakest neurons across all layers (scored against their layer's mean), so layers "
        "end up with different widths.",
    )
    prune_recover_epochs: float = Field(
        1.0,
        ge=0,
        description="Fine-tuning epochs on the train split after magnitude-, head- or "
        "neuron-prune, with the unpruned model as teacher (soft + gold labels, as in distill); "
        "0 turns it off. Skipped, with a note, when there is no train split.",
    )
    student_layers: int = Field(3, ge=1, description="Encoder layers of a distilled student.")
    distill_epochs: float = Field(1.0, gt=0, description="Distillation epochs on train split.")
    distill_temperature: float = Field(2.0, gt=0, description="Softmax temperature of KD.")
    latency_repeats: int = Field(30, ge=5, description="Timed calls per batch size.")

    @model_validator(mode="after")
    def _one_head_count(self) -> OptimizeSpec:
        if self.head_share is not None and "heads_per_layer" in self.model_fields_set:
            raise ValueError(
                "optimize.head_share and optimize.heads_per_layer both set: head-prune removes "
                "either a share of all heads or a count per layer; keep one"
            )
        return self


class ServeSpec(StrictModel):
    """How the service batches, limits, authenticates and logs (`llmline serve --config`)."""

    max_batch_size: int = Field(32, ge=1, description="Texts per model call at most.")
    max_wait_ms: float = Field(
        5.0,
        ge=0,
        description="How long a batch waits to fill at most; it stops waiting once it holds as "
        "many texts as the last batch, so a lone client never waits.",
    )
    max_queue: int = Field(512, ge=1, description="Queued texts before requests get 429.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Larger bodies get 413.")
    max_text_chars: int = Field(10_000, ge=1, description="Longer texts get 422.")
    api_keys: Path | None = Field(
        None, description="JSON file of hashed API keys (`llmline apikey create`); null is open."
    )
    backend: Literal["auto", "torch", "onnx"] = Field(
        "auto", description="'auto' uses ONNX Runtime when the model directory has model.onnx."
    )
    reload_interval_s: float = Field(
        10.0, ge=0, description="Poll the registry alias this often; 0 turns hot reload off."
    )
    workers: int = Field(1, ge=1, description="uvicorn worker processes behind one port.")
    threads: int | None = Field(
        None,
        ge=1,
        description="Model threads per worker (overrides OMP_NUM_THREADS); null: the worker's "
        "share of the cores for ONNX Runtime, one fewer (at least 1) for PyTorch.",
    )
    graceful_timeout_s: float = Field(30.0, ge=0, description="Wait for in-flight requests.")
    monitor: bool = Field(True, description="Log every request to the monitoring store.")


class AlertRuleSpec(StrictModel):
    """One alert: fire when `metric` over the last `window` crosses `threshold`."""

    name: str = Field(pattern=r"^[\w.-]+$")
    metric: str = Field(
        description="psi, chi2_p, ks_confidence_p, ks_length_p, mmd, mmd_p, latency_p99_ms, "
        "error_rate or prediction_share (with label)."
    )
    window: str = Field("1h", description="'15m', '1h', '2d' or '500' (the last N requests).")
    threshold: float
    op: Literal[">", "<", ">=", "<="] = Field(">", description="Fires when metric OP threshold.")
    label: str | None = Field(None, description="Label of a prediction_share rule.")
    min_requests: int = Field(50, ge=1, description="Skip windows with fewer requests.")


class MonitorSpec(StrictModel):
    """The monitoring store and the alert rules evaluated over it."""

    store_url: str | None = Field(
        None, description="SQLAlchemy URL; null is <workspace>/monitor.db (SQLite)."
    )
    retention_days: float = Field(30.0, gt=0, description="Requests older than this are purged.")
    store_text: bool = Field(True, description="Keep PII-redacted text (never raw) for drift.")
    rules: list[AlertRuleSpec] = Field(default_factory=list)
    webhook_url: str | None = Field(None, description="POST alerts here as JSON.")
    alert_log: Path | None = Field(None, description="JSONL alert log; null is the workspace's.")
    evaluate_every_s: float = Field(60.0, ge=0, description="Rule checks in the service; 0 off.")


class RetrainSpec(StrictModel):
    """Champion vs challenger: when to re-train and when the challenger may replace it."""

    replay_fraction: float = Field(
        1.0, ge=0, le=1, description="Share of the old training rows mixed in (replay)."
    )
    new_slice_fraction: float = Field(
        0.25, gt=0, lt=1, description="Share of new labelled rows held out as the new slice."
    )
    old_tolerance: float = Field(
        0.01, ge=0, le=1, description="Challenger may lose at most this accuracy on old data."
    )
    min_new_rows: int = Field(100, ge=1, description="--auto: re-train once this many rows.")
    on_alerts: list[str] = Field(
        default_factory=list, description="--auto: re-train when one of these alerts fired."
    )


class PipelineSpec(StrictModel):
    """A whole chain: data -> train -> evaluate -> register."""

    name: str = Field(pattern=r"^[a-zA-Z0-9][\w.-]*$", description="Run and model name.")
    description: str = ""
    task: str = Field("classification", description="Task head, e.g. classification.")
    seed: int = 42
    workspace: Path | None = Field(None, description="Workspace dir; CLI --workspace wins.")
    executor: Literal["local", "ray"] = "local"
    variables: dict[str, str] = Field(
        default_factory=dict, description="Defaults for ${NAME} placeholders; --var overrides."
    )
    data: DataSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec)
    registry: RegistrySpec = Field(default_factory=RegistrySpec)
    hpo: HpoSpec | None = Field(None, description="Search space for `llmline hpo`.")
    govern: GovernSpec = Field(default_factory=GovernSpec)
    optimize: OptimizeSpec = Field(default_factory=OptimizeSpec)
    serve: ServeSpec = Field(default_factory=ServeSpec)
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    retrain: RetrainSpec = Field(default_factory=RetrainSpec)

    @model_validator(mode="after")
    def _files_exist(self) -> PipelineSpec:
        for key, source in (
            ("data.source", self.data.source),
            ("data.validation", self.data.validation),
        ):
            if source is not None and not source.path.exists():
                raise ValueError(
                    f"{key}.path: file {str(source.path)!r} does not exist "
                    "(relative paths are read from the directory you run llmline in)"
                )
        if (
            self.task == "classification"
            and self.data.validation is None
            and self.data.source.label_column is None
        ):
            raise ValueError("data.source.label_column: a classifier needs a label column")
        return self

    @property
    def model_name(self) -> str:
        return self.registry.name or self.name


def substitute_variables(
    node: Any, variables: dict[str, str], *, where: str, path: str = ""
) -> Any:
    """Replace ${NAME} in every string of a parsed YAML tree; unknown names are errors."""
    if isinstance(node, dict):
        return {
            k: substitute_variables(v, variables, where=where, path=f"{path}.{k}".lstrip("."))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [
            substitute_variables(v, variables, where=where, path=f"{path}[{i}]")
            for i, v in enumerate(node)
        ]
    if not isinstance(node, str):
        return node

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise SpecError(
                f"variable ${{{name}}} used at {path or 'top level'} has no value",
                where=where,
                fix=f"pass --var {name}=VALUE or declare it under 'variables:'",
            )
        return variables[name]

    return _VARIABLE.sub(replace, node)


def parse_vars(pairs: list[str]) -> dict[str, str]:
    """Turn `--var NAME=VALUE` arguments into a dict."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not _VARIABLE.fullmatch("${" + name + "}"):
            raise SpecError(f"--var {pair!r} is not NAME=VALUE", fix="write e.g. --var data_dir=/x")
        out[name] = value
    return out


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, turning syntax errors into one line with the position."""
    if not path.is_file():
        raise SpecError(f"spec file {str(path)!r} not found", fix="check the path")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise SpecError(
            f"malformed YAML: {exc.problem}", where=where, fix="fix the syntax"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SpecError(f"unreadable YAML: {exc}", where=str(path)) from None
    if not isinstance(raw, dict):
        raise SpecError("a spec must be a YAML mapping of keys", where=str(path))
    return raw


def load_spec(path: Path | str, variables: dict[str, str] | None = None) -> PipelineSpec:
    """Read, substitute and validate a spec; every failure is a SpecError naming the key."""
    path = Path(path)
    raw = read_yaml(path)
    declared = raw.get("variables") or {}
    if not isinstance(declared, dict):
        raise SpecError("'variables' must be a mapping of NAME: default", where=str(path))
    merged = {str(k): str(v) for k, v in declared.items()} | (variables or {})
    resolved = substitute_variables(raw, merged, where=str(path))
    resolved["variables"] = merged
    return validate_spec(resolved, where=str(path))


def validate_spec(raw: dict[str, Any], *, where: str = "spec") -> PipelineSpec:
    try:
        return PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc), where=where, fix=_fix_hint(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "top level"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        problems.append(f"{key}: {msg}")
    return "; ".join(problems)


def _fix_hint(exc: ValidationError) -> str:
    for err in exc.errors():
        if err["type"] == "extra_forbidden":
            return _unknown_key_hint(tuple(err["loc"]))
        if err["type"] == "missing":
            return "add the missing key (see `llmline validate --explain`)"
    return "correct the value (see `llmline validate --explain`)"


def _unknown_key_hint(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = PipelineSpec
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        nested = _nested_model(annotation)
        if nested is None:
            break
        model = nested
    allowed = sorted(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    prefix = f"did you mean {close[0]!r}? " if close else ""
    return f"{prefix}allowed keys here: {', '.join(allowed)}"


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def explain(model: type[BaseModel] = PipelineSpec, prefix: str = "") -> list[str]:
    """Every key with its type, default and description: the spec reference."""
    lines = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = _nested_model(field.annotation)
        if nested is not None:
            lines.extend(explain(nested, prefix=f"{key}."))
            continue
        default = (
            "required"
            if field.is_required()
            else f"default {field.get_default(call_default_factory=True)!r}"
        )
        lines.append(f"{key}  ({default})  {field.description or ''}".rstrip())
    return lines
