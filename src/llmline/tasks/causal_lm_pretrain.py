"""Causal-LM pre-training from scratch: a byte-level BPE and a small Llama/GPT-2 on raw text.

The tokenizer is trained on the training split only; the corpus is concatenated, each document
ended by <|endoftext|>, and cut into blocks of `task_config.pretrain.block_size` tokens.
Metrics: validation perplexity (primary, lower is better), next-token accuracy and macro-F1.
The saved model is a plain causal LM: `llmline predict` and `serve` generate with it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import Field
from rich.markup import escape

from llmline.console import console
from llmline.data.stage import DataArtifact
from llmline.errors import DataError
from llmline.spec import GenerationSpec, PipelineSpec, PretrainSpec, StrictModel
from llmline.tasks import EvalOptions, ReadOptions, Task, register, task_config
from llmline.tasks.mlm import LM_METRICS, lm_report
from llmline.train.corpus_data import prepare_corpus, read_texts
from llmline.train.lm_metrics import evaluation_device, lm_report_markdown, token_scores
from llmline.train.prepared import Prepared
from llmline.workspace import Workspace

TASK_NAME = "causal_lm_pretrain"


class PretrainConfig(StrictModel):
    """Settings only pre-training from scratch has."""

    pretrain: PretrainSpec = Field(
        default_factory=PretrainSpec, description="Tokenizer, architecture and size, samples."
    )
    generation: GenerationSpec = Field(
        default_factory=GenerationSpec,
        description="Decoding of the samples, predict and the service.",
    )


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
            where="task_config.pretrain.block_size",
            fix="lower task_config.pretrain.block_size or give more text",
        )
    return torch.tensor(ids[: blocks * block_size], dtype=torch.long).view(blocks, block_size)


def build_model(pre: PretrainSpec, tokenizer: Any) -> Any:
    """A randomly initialised Llama or GPT-2 sized by the spec, embeddings tied to the output."""
    special = {k: tokenizer.eos_token_id for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    if pre.architecture == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        return GPT2LMHeadModel(
            GPT2Config(
                vocab_size=len(tokenizer), n_positions=pre.block_size, n_embd=pre.n_embd,
                n_layer=pre.n_layer, n_head=pre.n_head, resid_pdrop=pre.dropout,
                embd_pdrop=pre.dropout, attn_pdrop=pre.dropout, **special,
            )
        )  # fmt: skip
    from transformers import LlamaConfig, LlamaForCausalLM

    # SwiGLU has three projections, so 8/3 x width keeps the MLP at GPT-2's 8 x width^2 weights.
    intermediate = -(-8 * pre.n_embd // 3 // 32) * 32
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=pre.n_embd, intermediate_size=intermediate,
            num_hidden_layers=pre.n_layer, num_attention_heads=pre.n_head,
            num_key_value_heads=pre.n_head, max_position_embeddings=pre.block_size,
            attention_dropout=pre.dropout, tie_word_embeddings=True, **special,
        )
    )  # fmt: skip


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


def build(
    spec: PipelineSpec, data: DataArtifact, workspace: Workspace, resume: str | None
) -> Prepared:
    """Tokenizer and model from the training split; the validation split in the same blocks."""
    from transformers import default_data_collator

    pre = task_config(spec, PretrainConfig).pretrain
    if "base_model" in spec.train.model_fields_set:
        console.print(
            f"[yellow]train.base_model is ignored: {TASK_NAME} starts from random weights[/]"
        )
    texts = read_texts(data.train)
    tokenizer = _tokenizer(texts, pre, resume)
    train = token_blocks(texts, tokenizer, pre.block_size, split="train")
    validation = token_blocks(
        read_texts(data.validation), tokenizer, pre.block_size, split="validation"
    )
    model = build_model(pre, tokenizer)
    console.print(
        f"model: {pre.architecture}, {model.num_parameters() / 1e6:.2f}M parameters; "
        f"{train.numel():,} train / {validation.numel():,} validation tokens in blocks of "
        f"{pre.block_size}"
    )
    return Prepared(
        model=model, tokenizer=tokenizer,
        train=[{"input_ids": b, "labels": b} for b in train],
        validation=[{"input_ids": b, "labels": b} for b in validation],
        collator=default_data_collator, language_model=True, initial_eval=True,
        log_every=pre.log_every, state={"train_tokens": train.numel()},
    )  # fmt: skip


def save(
    prepared: Prepared, trainer: Any, spec: PipelineSpec, model_dir: Path, metrics: dict[str, Any]
) -> dict[str, Any]:
    """Model + tokenizer, samples (in the run's train/); returns sizes, speed, samples path."""
    from llmline.lineage import write_json_atomic

    config = task_config(spec, PretrainConfig)
    pre = config.pretrain
    save_pretrained_lm(trainer.model, prepared.tokenizer, model_dir, spec, metrics)
    samples = generate_samples(
        trainer.model, prepared.tokenizer, pre.sample_prompts, config.generation,
        seed=spec.seed, block_size=pre.block_size,
    )  # fmt: skip
    samples_path = model_dir.parent / "train" / "samples.json"
    write_json_atomic(samples_path, samples)
    show_samples(samples)
    runtime = next((e["train_runtime"] for e in reversed(trainer.state.log_history)
                    if "train_runtime" in e), 0.0)  # fmt: skip
    cfg = spec.train
    seen = trainer.state.global_step * cfg.batch_size * cfg.gradient_accumulation_steps
    seen *= trainer.args.world_size
    return {
        "parameters": trainer.model.num_parameters(),
        "vocab_size": len(prepared.tokenizer),
        "train_tokens": prepared.state["train_tokens"],
        "tokens_per_second": seen * pre.block_size / max(runtime, 1e-9),
        "samples": str(samples_path),
    }


def save_pretrained_lm(
    model: Any, tokenizer: Any, directory: Path, spec: PipelineSpec, metrics: dict[str, Any]
) -> Path:
    """Safetensors + tokenizer (AutoModelForCausalLM / AutoTokenizer load them) and the
    llmline_model.json that lets `llmline predict` and `serve` generate with it."""
    from llmline.models.meta import ModelMeta
    from llmline.train.fit import save_pretrained

    config = task_config(spec, PretrainConfig)
    extra = {
        "generation": config.generation.model_dump(), "pretrain": config.pretrain.model_dump(),
        "initial_perplexity": metrics["initial_perplexity"], "trained_as": TASK_NAME,
    }  # fmt: skip
    meta = ModelMeta(
        labels=[], pooling="none", normalize=False, task="causal_lm",
        max_length=config.pretrain.block_size, base_model=None, extra=extra,
    )  # fmt: skip
    save_pretrained(model, tokenizer, directory, spec, meta)
    return directory


def generate_samples(
    model: Any, tokenizer: Any, prompts: list[str], gen: GenerationSpec, *, seed: int,
    block_size: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Continue each prompt, decoding as the generation settings say; seeded, so a re-run
    matches."""
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
                input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=room,
                pad_token_id=tokenizer.eos_token_id, **_decoding(gen),
            )  # fmt: skip
        completion = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        samples.append(
            {"prompt": prompt, "completion": completion, "tokens": out.shape[1] - ids.shape[1]}
        )
    return samples


def _decoding(gen: GenerationSpec) -> dict[str, Any]:
    if gen.temperature > 0:
        return {"do_sample": True, "temperature": gen.temperature, "top_p": gen.top_p,
                "repetition_penalty": gen.repetition_penalty}  # fmt: skip
    return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None,
            "repetition_penalty": gen.repetition_penalty}  # fmt: skip


def show_samples(samples: list[dict[str, Any]]) -> None:
    for sample in samples:
        console.print(
            f"[bold]sample[/] [dim]{escape(sample['prompt'])}[/]{escape(sample['completion'])}"
        )


def evaluate(model_dir: Path, rows: list[str], options: EvalOptions) -> dict[str, Any]:
    """Perplexity, next-token accuracy and macro-F1 on the texts' blocks; samples."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmline.models.meta import ModelMeta

    meta = ModelMeta.load(model_dir)
    config = PretrainConfig.model_validate(
        {k: meta.extra[k] for k in ("pretrain", "generation") if k in meta.extra}
    )
    pre = config.pretrain
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True)
    model.to(evaluation_device())
    blocks = token_blocks(rows, tokenizer, pre.block_size, split="validation")
    size = options.batch_size
    batches = ({"input_ids": b, "labels": b} for b in blocks.split(size))
    scores = token_scores(model, batches, shift=True, total=-(-len(blocks) // size))
    report = lm_report(scores, len(blocks), meta.extra.get("initial_perplexity"))
    report["samples"] = generate_samples(
        model, tokenizer, pre.sample_prompts, config.generation, seed=options.seed,
        block_size=pre.block_size,
    )  # fmt: skip
    console.print(
        f"[bold]evaluate[/]: validation perplexity {report['perplexity']:.2f} over "
        f"{report['tokens']:,} tokens, next-token accuracy {report['accuracy']:.4f}"
    )
    return report


def read_file(path: Path, options: ReadOptions, model_dir: Path) -> list[str]:
    from llmline.tasks.mlm import read_file as read_corpus

    return read_corpus(path, options, model_dir)


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    from llmline.lineage import write_json_atomic, write_text_atomic

    write_json_atomic(out_dir / "report.json", report)
    write_text_atomic(out_dir / "report.md", lm_report_markdown(report, "Pre-training evaluation"))


def _load_predictor(directory: Path) -> Any:
    from llmline.models.generator import load_generator

    return load_generator(directory)


TASK = register(
    Task(
        name=TASK_NAME, config=PretrainConfig, metrics=LM_METRICS, primary="perplexity",
        greater_is_better=False, build=build, save=save, load_predictor=_load_predictor,
        read_snapshot=read_texts, read_file=read_file, evaluate=evaluate,
        write_report=write_report, prepare_data=prepare_corpus, routes=("openai",),
    )
)  # fmt: skip
