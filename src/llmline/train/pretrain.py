"""Causal-LM pre-training from scratch: a byte-level BPE and a small Llama/GPT-2 on raw text.

Registers the `causal_lm_pretrain` task head with its corpus preparation (unlabeled text, split
by row or by tail) and evaluation (validation perplexity, next-token accuracy, samples). The
tokenizer is trained on the training split only; the corpus is concatenated, each document
ended by <|endoftext|>, and cut into blocks of `train.pretrain.block_size` tokens.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.markup import escape

from llmline.console import console
from llmline.data.stage import DataArtifact
from llmline.errors import DataError, SpecError
from llmline.spec import GenerationSpec, PipelineSpec, PretrainSpec, TrainSpec
from llmline.train.corpus_data import prepare_corpus, read_texts
from llmline.train.heads import TASK_DATA, TASK_EVALUATORS, TASK_HEADS, TrainResult
from llmline.train.lm_metrics import (
    evaluation_device,
    lm_gates,
    lm_report_markdown,
    token_scores,
)
from llmline.workspace import Workspace

TASK = "causal_lm_pretrain"
TASK_DATA.register(TASK)(prepare_corpus)


def pretrain_settings(cfg: TrainSpec, task: str) -> PretrainSpec:
    """train.pretrain (defaults when absent); adapters make no sense when every weight learns."""
    if cfg.peft is not None:
        raise SpecError(
            f"train.peft is not supported by task {task}: pre-training updates the whole model",
            where="train.peft",
            fix="remove train.peft (adapt the pre-trained model in a later run instead)",
        )
    return pretrain_spec(cfg)


def pretrain_spec(cfg: TrainSpec) -> PretrainSpec:
    return cfg.pretrain or PretrainSpec.model_validate({})


def token_blocks(texts: list[str], tokenizer: Any, block_size: int, *, split: str) -> Any:
    """The texts as one token stream (each ended by end-of-text) cut into [n, block_size]."""
    import torch

    ids: list[int] = []
    for row in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]:
        ids.extend(row)
        ids.append(tokenizer.eos_token_id)
    blocks = len(ids) // block_size
    if blocks == 0:
        raise DataError(
            f"the {split} split has {len(ids)} tokens, fewer than one block of {block_size}",
            where="train.pretrain.block_size",
            fix="lower train.pretrain.block_size or give more text",
        )
    return torch.tensor(ids[: blocks * block_size], dtype=torch.long).view(blocks, block_size)


def build_model(pre: PretrainSpec, tokenizer: Any) -> Any:
    """A randomly initialised Llama or GPT-2 sized by the spec, embeddings tied to the output."""
    special = {k: tokenizer.eos_token_id for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    if pre.architecture == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        return GPT2LMHeadModel(
            GPT2Config(
                vocab_size=len(tokenizer),
                n_positions=pre.block_size,
                n_embd=pre.n_embd,
                n_layer=pre.n_layer,
                n_head=pre.n_head,
                resid_pdrop=pre.dropout,
                embd_pdrop=pre.dropout,
                attn_pdrop=pre.dropout,
                **special,
            )
        )
    from transformers import LlamaConfig, LlamaForCausalLM

    # SwiGLU has three projections, so 8/3 x width keeps the MLP at GPT-2's 8 x width^2 weights.
    intermediate = -(-8 * pre.n_embd // 3 // 32) * 32
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=pre.n_embd,
            intermediate_size=intermediate,
            num_hidden_layers=pre.n_layer,
            num_attention_heads=pre.n_head,
            num_key_value_heads=pre.n_head,
            max_position_embeddings=pre.block_size,
            attention_dropout=pre.dropout,
            tie_word_embeddings=True,
            **special,
        )
    )


def _tokenizer(texts: list[str], pre: PretrainSpec, resume: str | None) -> Any:
    """A resumed run keeps the tokenizer its checkpoint was trained with."""
    from transformers import AutoTokenizer

    from llmline.train.bpe import train_bpe

    if resume:
        return AutoTokenizer.from_pretrained(resume)
    started = time.perf_counter()
    tokenizer = train_bpe(
        texts, vocab_size=pre.vocab_size, min_frequency=pre.min_frequency, max_length=pre.block_size
    )
    console.print(
        f"tokenizer: byte-level BPE, {len(tokenizer):,} tokens, trained in "
        f"{time.perf_counter() - started:.1f}s"
    )
    return tokenizer


def _corpus_blocks(data: DataArtifact, pre: PretrainSpec, resume: str | None) -> tuple[Any, ...]:
    """(tokenizer, train blocks, validation blocks); the tokenizer sees the train split only."""
    texts = read_texts(data.train)
    tokenizer = _tokenizer(texts, pre, resume)
    train = token_blocks(texts, tokenizer, pre.block_size, split="train")
    validation = token_blocks(
        read_texts(data.validation), tokenizer, pre.block_size, split="validation"
    )
    return tokenizer, train, validation


@TASK_HEADS.register(TASK)
def train_from_scratch(
    spec: PipelineSpec, data: DataArtifact, out_dir: Path, workspace: Workspace
) -> TrainResult:
    """Train tokenizer and model on data.train; keep the step with the lowest validation loss."""
    from transformers import Trainer, default_data_collator

    from llmline.train import controls
    from llmline.train.checkpoints import resume_checkpoint
    from llmline.train.loss_curve import lm_schedule, train_with_curve

    started = time.perf_counter()
    cfg = spec.train
    pre = pretrain_settings(cfg, TASK)
    if "base_model" in cfg.model_fields_set:
        console.print(f"[yellow]train.base_model is ignored: {TASK} starts from random weights[/]")
    controls.seed_and_threads(spec)
    checkpoints = out_dir / "checkpoints"
    resume = resume_checkpoint(checkpoints)
    tokenizer, train, validation = _corpus_blocks(data, pre, resume)
    model = build_model(pre, tokenizer)
    console.print(
        f"model: {pre.architecture}, {model.num_parameters() / 1e6:.2f}M parameters; "
        f"{train.numel():,} train / {validation.numel():,} validation tokens in blocks of "
        f"{pre.block_size}"
    )
    args = controls.training_arguments(
        cfg, checkpoints, seed=spec.seed, metric="loss", greater_is_better=False
    )
    trainer = Trainer(
        model=model,
        args=lm_schedule(args, pre),
        train_dataset=[{"input_ids": b, "labels": b} for b in train],
        eval_dataset=[{"input_ids": b, "labels": b} for b in validation],
        data_collator=default_data_collator,
        processing_class=tokenizer,
        optimizers=(controls.build_optimizer(model, cfg, ()), None),
        callbacks=controls.callbacks(cfg, model),
    )
    output, metrics = train_with_curve(trainer, resume)
    seen = output.global_step * cfg.batch_size * cfg.gradient_accumulation_steps * args.world_size
    metrics |= {
        "parameters": model.num_parameters(),
        "vocab_size": len(tokenizer),
        "train_tokens": train.numel(),
        "tokens_per_second": seen * pre.block_size / max(output.metrics["train_runtime"], 1e-9),
    }
    model_dir = out_dir / "model"
    if trainer.is_world_process_zero():  # data-parallel workers: rank 0 alone writes
        metrics.update(_write_outputs(trainer, tokenizer, spec, pre, out_dir, metrics))
    seconds = time.perf_counter() - started
    console.print(
        f"[bold]train[/]: {output.global_step} steps in {seconds:.0f}s "
        f"({metrics['tokens_per_second']:,.0f} tokens/s), validation perplexity "
        f"{metrics['initial_perplexity']:.1f} -> {metrics['eval_perplexity']:.2f}"
    )
    return TrainResult(model_dir, metrics, seconds, output.global_step)


def _write_outputs(
    trainer: Any,
    tokenizer: Any,
    spec: PipelineSpec,
    pre: PretrainSpec,
    out_dir: Path,
    metrics: dict[str, Any],
) -> dict[str, str]:
    """Model + tokenizer, the loss curve and samples (in out_dir/train); returns their paths."""
    from llmline.lineage import write_json_atomic
    from llmline.train.loss_curve import curve_points, write_loss_curve

    save_pretrained_lm(trainer.model, tokenizer, out_dir / "model", spec, metrics)
    points = curve_points(trainer.state.log_history, metrics["initial_eval_loss"])
    curve = write_loss_curve(points, out_dir / "train", f"{spec.name} ({TASK})")
    samples = generate_samples(
        trainer.model,
        tokenizer,
        pre.sample_prompts,
        spec.train.generation,
        seed=spec.seed,
        block_size=pre.block_size,
    )
    write_json_atomic(out_dir / "train" / "samples.json", samples)
    show_samples(samples)
    return {
        "loss_curve": str(curve["json"]),
        "loss_curve_png": str(curve["png"]),
        "samples": str(out_dir / "train" / "samples.json"),
    }


def save_pretrained_lm(
    model: Any, tokenizer: Any, directory: Path, spec: PipelineSpec, metrics: dict[str, Any]
) -> Path:
    """Safetensors + tokenizer (AutoModelForCausalLM / AutoTokenizer load them) and the
    llmline_model.json that lets `llmline predict` and `serve` generate with it."""
    from llmline.models.classifier import ClassifierMeta

    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    pre = pretrain_spec(spec.train)
    extra = {
        "generation": spec.train.generation.model_dump(),
        "pretrain": pre.model_dump(),
        "initial_perplexity": metrics["initial_perplexity"],
    }
    ClassifierMeta(
        labels=[],
        pooling="none",
        normalize=False,
        max_length=pre.block_size,
        task="causal_lm",
        base_model=None,
        extra=extra,
    ).save(directory)
    return directory


def generate_samples(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    gen: GenerationSpec,
    *,
    seed: int,
    block_size: int,
) -> list[dict[str, Any]]:
    """Continue each prompt, decoding as train.generation says; seeded, so a re-run matches."""
    import torch

    model.eval()
    torch.manual_seed(seed)
    samples = []
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        if ids.shape[1] == 0:  # an empty prompt starts a new document
            ids = torch.tensor([[tokenizer.eos_token_id]])
        ids = ids[:, -(block_size - 1) :].to(model.device)
        # Learned positions (GPT-2) end at block_size; RoPE would run on, but untrained there.
        room = max(1, min(gen.max_new_tokens, block_size - ids.shape[1]))
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=room,
                pad_token_id=tokenizer.eos_token_id,
                **_decoding(gen),
            )
        completion = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        samples.append(
            {"prompt": prompt, "completion": completion, "tokens": out.shape[1] - ids.shape[1]}
        )
    return samples


def _decoding(gen: GenerationSpec) -> dict[str, Any]:
    if gen.temperature > 0:
        return {
            "do_sample": True,
            "temperature": gen.temperature,
            "top_p": gen.top_p,
            "repetition_penalty": gen.repetition_penalty,
        }
    return {
        "do_sample": False,
        "temperature": None,
        "top_p": None,
        "top_k": None,
        "repetition_penalty": gen.repetition_penalty,
    }


def show_samples(samples: list[dict[str, Any]]) -> None:
    for sample in samples:
        console.print(
            f"[bold]sample[/] [dim]{escape(sample['prompt'])}[/]{escape(sample['completion'])}"
        )


@TASK_EVALUATORS.register(TASK)
def evaluate_pretrained(
    spec: PipelineSpec, model_dir: Path, snapshot: Path, out_dir: Path
) -> dict[str, Any]:
    """Perplexity, next-token accuracy and macro-F1 on the validation blocks; samples."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmline.lineage import write_json_atomic, write_text_atomic
    from llmline.models.classifier import ClassifierMeta

    pre = pretrain_spec(spec.train)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True)
    model.to(evaluation_device())
    blocks = token_blocks(read_texts(snapshot), tokenizer, pre.block_size, split="validation")
    size = spec.evaluate.batch_size
    batches = ({"input_ids": b, "labels": b} for b in blocks.split(size))
    report: dict[str, Any] = {
        "rows": len(blocks),
        **token_scores(model, batches, shift=True, total=-(-len(blocks) // size)),
    }
    report["perplexity_before"] = ClassifierMeta.load(model_dir).extra.get("initial_perplexity")
    report["samples"] = generate_samples(
        model,
        tokenizer,
        pre.sample_prompts,
        spec.train.generation,
        seed=spec.seed,
        block_size=pre.block_size,
    )
    report["gates"] = lm_gates(report, spec.evaluate.gates)
    report["passed"] = all(g["passed"] for g in report["gates"])
    write_json_atomic(out_dir / "report.json", report)
    write_text_atomic(out_dir / "report.md", lm_report_markdown(report, "Pre-training evaluation"))
    console.print(
        f"[bold]evaluate[/]: validation perplexity {report['perplexity']:.2f} over "
        f"{report['tokens']:,} tokens, next-token accuracy {report['accuracy']:.4f}"
    )
    return report
