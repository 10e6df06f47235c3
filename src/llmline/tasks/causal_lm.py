"""Instruction tuning of a causal LM: chat template, loss on assistant tokens only.

Data are conversations (chat JSONL, prompt/response pairs; `train.chat_data`); metrics are
exact match of the generated answer (primary), ROUGE-L, and perplexity on held-out answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from llmline.console import console, progress_bar
from llmline.data.stage import DataArtifact
from llmline.errors import SpecError
from llmline.spec import GenerationSpec, PipelineSpec, StrictModel
from llmline.tasks import EvalOptions, ReadOptions, Task, register, task_config
from llmline.train.chat_data import (
    Message,
    apply_generation_settings,
    prepare_chat_data,
    read_conversations_snapshot,
)
from llmline.train.prepared import Prepared
from llmline.workspace import Workspace

IGNORE = -100


class CausalLmConfig(StrictModel):
    """Settings only instruction tuning has."""

    generation: GenerationSpec = Field(
        default_factory=GenerationSpec,
        description="Decoding and prompting, used by evaluation, predict and the service.",
    )


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


def build(
    spec: PipelineSpec, data: DataArtifact, workspace: Workspace, resume: str | None
) -> Prepared:
    """The base model on the templated conversations; the best checkpoint has the lowest loss."""
    from transformers import DataCollatorForSeq2Seq

    from llmline.models.resolve import resolve_model
    from llmline.train.losses import token_loss

    cfg = spec.train
    if cfg.class_weights != "none":
        raise SpecError(
            "class weights do not apply to a causal LM's vocabulary",
            where="train.class_weights",
            fix="remove it, or set it to none",
        )
    generation = task_config(spec, CausalLmConfig).generation
    base_dir = resolve_model(cfg.base_model, workspace)
    model, tokenizer = load_causal_lm(base_dir)
    return Prepared(
        model=model, tokenizer=tokenizer,
        train=encode_snapshot(data.train, tokenizer, generation, cfg.max_length),
        validation=encode_snapshot(data.validation, tokenizer, generation, cfg.max_length),
        collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE),
        head_names=("lm_head",), language_model=True,
        compute_loss=token_loss(model, smoothing=cfg.label_smoothing, shift=True),
        state={"base_dir": base_dir},
    )  # fmt: skip


def save(
    prepared: Prepared, trainer: Any, spec: PipelineSpec, model_dir: Path, metrics: dict[str, Any]
) -> dict[str, Any]:
    """Full weights or the adapter alone; the generation settings in llmline_model.json."""
    from llmline.models.meta import ModelMeta
    from llmline.train.fit import save_pretrained

    generation = task_config(spec, CausalLmConfig).generation
    meta = ModelMeta(
        labels=[], pooling="none", normalize=False, max_length=spec.train.max_length,
        task="causal_lm", base_model=spec.train.base_model,
        extra={"generation": generation.model_dump()},
    )  # fmt: skip
    save_pretrained(trainer.model, prepared.tokenizer, model_dir, spec, meta,
                    prepared.state["base_dir"])  # fmt: skip
    return {}


def generation_scores(generator: Any, conversations: list[list[Message]]) -> dict[str, Any]:
    """Generate each conversation's last answer from its prefix; exact match and ROUGE-L."""
    from llmline.evaluate.text_match import exact_match, rouge_l

    prompts = [generator.chat_prompt(c[:-1]) for c in conversations]
    gold = [c[-1]["content"].strip() for c in conversations]
    outputs = []
    with progress_bar() as bar:
        task = bar.add_task("generating answers", total=len(prompts))
        for start in range(0, len(prompts), generator.batch_size):
            outputs += generator.generate(prompts[start : start + generator.batch_size])
            bar.advance(task, min(generator.batch_size, len(prompts) - start))
    texts = [o.text.strip() for o in outputs]
    pairs = list(zip(gold, texts, strict=True))
    exact = sum(exact_match(g, t) for g, t in pairs) / max(len(gold), 1)
    rouge = sum(rouge_l(g, t) for g, t in pairs) / max(len(gold), 1)
    samples = [{"gold": g, "generated": t} for g, t in pairs[:10]]
    return {"exact_match": round(exact, 4), "rouge_l": round(rouge, 4), "samples": samples}


def answer_perplexity(generator: Any, conversations: list[list[Message]], max_length: int) -> float:
    """exp(mean loss over assistant tokens) of the held-out conversations."""
    import torch

    from llmline.train.lm_metrics import perplexity

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
    return perplexity(total_loss / max(total_tokens, 1))


def evaluate(model_dir: Path, rows: list[list[Message]], options: EvalOptions) -> dict[str, Any]:
    """Exact match and ROUGE-L of generated answers, perplexity of the reference answers."""
    from llmline.errors import DataError
    from llmline.models.generator import load_generator

    if not rows:
        raise DataError("nothing to evaluate: no conversations", fix="check the data file")
    generator = load_generator(model_dir)
    generator.batch_size = options.batch_size  # evaluate.batch_size: answers generated at once
    scores = generation_scores(generator, rows)
    ppl = answer_perplexity(generator, rows, generator.meta.max_length)
    metrics = {"exact_match": scores["exact_match"], "rouge_l": scores["rouge_l"],
               "perplexity": round(ppl, 4)}  # fmt: skip
    console.print(
        f"[bold]evaluate[/]: exact match {metrics['exact_match']:.4f}, ROUGE-L "
        f"{metrics['rouge_l']:.4f}, perplexity {metrics['perplexity']:.2f} on {len(rows)} rows"
    )
    return {"rows": len(rows), "metrics": metrics, "primary": "exact_match", **metrics,
            "samples": scores["samples"]}  # fmt: skip


def read_file(path: Path, options: ReadOptions, model_dir: Path) -> list[list[Message]]:
    """Conversations of a chat JSONL file (messages, or prompt/response, or the text and label
    columns); the last assistant turn of each is the reference answer."""
    from llmline.errors import DataError
    from llmline.evaluate.files import refuse_pair, source_spec
    from llmline.train.chat_data import read_conversations

    refuse_pair(options, "causal_lm")
    conversations = read_conversations(source_spec(path, options), key="--data", max_rows=None)
    for number, messages in enumerate(conversations, start=1):
        if messages[-1]["role"] != "assistant":
            raise DataError(
                "the conversation does not end with an assistant answer to score",
                where=f"{path}:{number}",
                fix="end each row with the reference answer",
            )
    return conversations


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    from llmline.evaluate.report import gate_lines
    from llmline.lineage import write_json_atomic, write_text_atomic

    write_json_atomic(out_dir / "report.json", report)
    lines = ["# Instruction-tuning evaluation", "", f"- conversations: {report['rows']}",
             f"- answer perplexity: {report['perplexity']:.3f}",
             f"- exact match: **{report['exact_match']:.4f}**",
             f"- ROUGE-L: {report['rouge_l']:.4f}", *gate_lines(report),
             "", "| gold | generated |", "|---|---|",
             *[f"| {s['gold']} | {s['generated']} |" for s in report["samples"]]]  # fmt: skip
    write_text_atomic(out_dir / "report.md", "\n".join(lines) + "\n")


def _load_predictor(directory: Path) -> Any:
    from llmline.models.generator import load_generator

    return load_generator(directory)


def _read_snapshot(path: Path) -> list[list[Message]]:
    return list(read_conversations_snapshot(path))


TASK = register(
    Task(
        name="causal_lm", config=CausalLmConfig,
        metrics=("exact_match", "rouge_l", "perplexity"), primary="exact_match",
        greater_is_better=True, build=build, save=save, load_predictor=_load_predictor,
        read_snapshot=_read_snapshot, read_file=read_file, evaluate=evaluate,
        write_report=write_report, prepare_data=prepare_chat_data, peft_task_type="CAUSAL_LM",
        routes=("openai",),
    )
)  # fmt: skip
