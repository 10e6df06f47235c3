"""Instruction tuning of a causal LM: chat template, loss on assistant tokens only, HF Trainer.

Registers the `causal_lm` task head with its data preparation (chat JSONL, prompt/response
pairs) and evaluation (perplexity on held-out answers, exact match and ROUGE-L of generations).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from llmline.console import console, progress_bar
from llmline.data.stage import DataArtifact
from llmline.errors import SpecError
from llmline.models.resolve import resolve_model
from llmline.spec import GenerationSpec, PipelineSpec
from llmline.train.chat_data import (
    Message,
    apply_generation_settings,
    prepare_chat_data,
    read_conversations_snapshot,
)
from llmline.train.heads import TASK_DATA, TASK_EVALUATORS, TASK_HEADS, TrainResult
from llmline.workspace import Workspace

IGNORE = -100
TASK_DATA.register("causal_lm")(prepare_chat_data)


def encode_conversation(
    messages: list[Message], tokenizer: Any, *, max_length: int
) -> dict[str, list[int]]:
    """Token ids of the templated conversation; labels are IGNORE except on assistant turns.

    Each assistant turn's span is found by templating the conversation up to that turn with and
    without the answer: the difference is exactly what the model must learn to write (its
    end-of-turn token included), whatever the template's markup looks like.
    """
    ids: list[int] = _template(tokenizer, messages, add_generation_prompt=False)
    labels = [IGNORE] * len(ids)
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(_template(tokenizer, messages[:index], add_generation_prompt=True))
        end = len(_template(tokenizer, messages[: index + 1], add_generation_prompt=False))
        labels[start:end] = ids[start:end]
    ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def _template(tokenizer: Any, messages: list[Message], *, add_generation_prompt: bool) -> list[int]:
    if not messages:
        return []
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_snapshot(path: Path, tokenizer: Any, gen: GenerationSpec, max_length: int) -> list[Any]:
    features = []
    for messages in read_conversations_snapshot(path):
        feature = encode_conversation(apply_generation_settings(messages, gen), tokenizer,
                                      max_length=max_length)  # fmt: skip
        if any(label != IGNORE for label in feature["labels"]):  # answer not truncated away
            features.append(feature)
    return features


def load_causal_lm(base_dir: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_dir, use_safetensors=True, dtype=dtype)
    return model, tokenizer


@TASK_HEADS.register("causal_lm")
def train_causal_lm(
    spec: PipelineSpec, data: DataArtifact, out_dir: Path, workspace: Workspace
) -> TrainResult:
    """Fine-tune (fully or with an adapter) on the conversations; keep the lowest eval loss."""
    from transformers import DataCollatorForSeq2Seq, Trainer

    from llmline.train import controls
    from llmline.train.checkpoints import resume_checkpoint
    from llmline.train.losses import token_loss
    from llmline.train.progress import use_rich_progress

    started = time.perf_counter()
    cfg = spec.train
    controls.seed_and_threads(spec)
    if cfg.class_weights != "none":
        raise SpecError(
            "class weights do not apply to a causal LM's vocabulary",
            where="train.class_weights",
            fix="remove it, or set it to none",
        )
    base_dir = resolve_model(cfg.base_model, workspace)
    model, tokenizer = load_causal_lm(base_dir)
    train = encode_snapshot(data.train, tokenizer, cfg.generation, cfg.max_length)
    validation = encode_snapshot(data.validation, tokenizer, cfg.generation, cfg.max_length)
    controls.apply_freeze(model.base_model if cfg.peft is None else model, cfg.freeze)
    if cfg.peft:
        steps = cfg.max_steps or math.ceil(len(train) / cfg.batch_size * cfg.epochs)
        model = controls.apply_peft(model, cfg.peft, task_type="CAUSAL_LM", total_steps=steps)
    checkpoints = out_dir / "checkpoints"
    resume = resume_checkpoint(checkpoints)
    args = controls.training_arguments(cfg, checkpoints, seed=spec.seed, metric="loss",
                                       greater_is_better=False)  # fmt: skip
    trainer = Trainer(
        model=model, args=args, train_dataset=train, eval_dataset=validation,
        data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE),
        processing_class=tokenizer,
        compute_loss_func=token_loss(model, smoothing=cfg.label_smoothing, shift=True),
        optimizers=(controls.build_optimizer(model, cfg, ("lm_head",)), None),
        callbacks=controls.callbacks(cfg, model),
    )  # fmt: skip
    use_rich_progress(trainer)
    output = trainer.train(resume_from_checkpoint=resume)
    best = controls.best_evaluation(trainer)
    best["eval_perplexity"] = math.exp(min(best["eval_loss"], 50))
    model_dir = out_dir / "model"
    if trainer.is_world_process_zero():  # data-parallel workers: rank 0 alone writes
        save_generator(trainer.model, tokenizer, model_dir, spec, base_dir)
    seconds = time.perf_counter() - started
    console.print(
        f"[bold]train[/]: {output.global_step} steps in {seconds:.0f}s, validation loss "
        f"{best['eval_loss']:.4f} (perplexity {best['eval_perplexity']:.2f} on answer tokens)"
    )
    return TrainResult(model_dir, {"train_loss": output.training_loss, **best}, seconds,
                       output.global_step)  # fmt: skip


def save_generator(
    model: Any, tokenizer: Any, directory: Path, spec: PipelineSpec, base_dir: Path
) -> Path:
    """Full safetensors, or the adapter alone pinned to its base; settings in llmline_model.json."""
    from llmline.models.adapters import pin_base
    from llmline.models.classifier import ClassifierMeta

    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    extra: dict[str, Any] = {"generation": spec.train.generation.model_dump()}
    if spec.train.peft:
        extra["peft"] = spec.train.peft.model_dump()
        extra["base"] = pin_base(directory, spec.train.base_model, base_dir)
    meta = ClassifierMeta(
        labels=[], pooling="none", normalize=False, max_length=spec.train.max_length,
        task="causal_lm", base_model=spec.train.base_model, extra=extra,
    )  # fmt: skip
    meta.save(directory)
    return directory


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F1 over lower-cased whitespace tokens.

    Written by hand (a longest-common-subsequence table) because the rouge-score package pulls
    nltk and absl for what is twenty lines here.
    """
    ref, cand = reference.lower().split(), candidate.lower().split()
    if not ref or not cand:
        return float(ref == cand)
    table = [[0] * (len(cand) + 1) for _ in range(len(ref) + 1)]
    for i, r in enumerate(ref):
        for j, c in enumerate(cand):
            table[i + 1][j + 1] = (
                table[i][j] + 1 if r == c else max(table[i][j + 1], table[i + 1][j])
            )
    lcs = table[-1][-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(cand), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def generation_scores(generator: Any, conversations: list[list[Message]]) -> dict[str, Any]:
    """Generate each conversation's last answer from its prefix; exact match and ROUGE-L."""
    prompts = [generator.chat_prompt(c[:-1]) for c in conversations]
    gold = [c[-1]["content"].strip() for c in conversations]
    outputs = []
    with progress_bar() as bar:
        task = bar.add_task("generating answers", total=len(prompts))
        for start in range(0, len(prompts), generator.batch_size):
            outputs += generator.generate(prompts[start : start + generator.batch_size])
            bar.advance(task, min(generator.batch_size, len(prompts) - start))
    texts = [o.text.strip() for o in outputs]
    exact = sum(t == g for t, g in zip(texts, gold, strict=True)) / max(len(gold), 1)
    rouge = sum(rouge_l(g, t) for t, g in zip(texts, gold, strict=True)) / max(len(gold), 1)
    samples = [{"gold": g, "generated": t} for g, t in list(zip(gold, texts, strict=True))[:10]]
    return {"exact_match": round(exact, 4), "rouge_l": round(rouge, 4), "samples": samples}


def answer_perplexity(generator: Any, conversations: list[list[Message]], max_length: int) -> float:
    """exp(mean loss over assistant tokens) of the held-out conversations."""
    import torch

    total_loss, total_tokens = 0.0, 0
    settings = generator.settings
    with torch.inference_mode():
        for messages in conversations:
            feature = encode_conversation(apply_generation_settings(messages, settings),
                                          generator.tokenizer, max_length=max_length)  # fmt: skip
            labels = torch.tensor([feature["labels"]])
            n = int((labels[:, 1:] != IGNORE).sum())
            if n == 0:
                continue
            out = generator.model(input_ids=torch.tensor([feature["input_ids"]]), labels=labels)
            total_loss += float(out.loss) * n
            total_tokens += n
    return math.exp(min(total_loss / max(total_tokens, 1), 50))


@TASK_EVALUATORS.register("causal_lm")
def evaluate_causal_lm(
    spec: PipelineSpec, model_dir: Path, snapshot: Path, out_dir: Path
) -> dict[str, Any]:
    """Perplexity, exact match and ROUGE-L on held-out conversations; gates: min_accuracy is
    exact match, min_macro_f1 is ROUGE-L."""
    from llmline.evaluate.report import check_gates
    from llmline.lineage import write_json_atomic, write_text_atomic
    from llmline.models.generator import load_generator

    generator = load_generator(model_dir)
    conversations = list(read_conversations_snapshot(snapshot))
    scores = generation_scores(generator, conversations)
    report: dict[str, Any] = {
        "rows": len(conversations),
        "perplexity": round(answer_perplexity(generator, conversations, spec.train.max_length), 4),
        **scores,
    }
    report["accuracy"], report["macro_f1"] = report["exact_match"], report["rouge_l"]
    report["gates"] = check_gates(report, spec.evaluate.gates)
    report["passed"] = all(g["passed"] for g in report["gates"])
    write_json_atomic(out_dir / "report.json", report)
    lines = ["# Instruction-tuning evaluation", "", f"- conversations: {report['rows']}",
             f"- answer perplexity: {report['perplexity']:.3f}",
             f"- exact match: **{report['exact_match']:.4f}**",
             f"- ROUGE-L: {report['rouge_l']:.4f}",
             "", "| gold | generated |", "|---|---|",
             *[f"| {s['gold']} | {s['generated']} |" for s in report["samples"]]]  # fmt: skip
    write_text_atomic(out_dir / "report.md", "\n".join(lines) + "\n")
    console.print(
        f"[bold]evaluate[/]: exact match {report['exact_match']:.4f}, ROUGE-L "
        f"{report['rouge_l']:.4f}, perplexity {report['perplexity']:.2f} on {report['rows']} rows"
    )
    return report
