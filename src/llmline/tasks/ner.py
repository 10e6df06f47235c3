"""Token classification (NER): word-piece label alignment, seqeval metrics.

Data are sentences of (words, IOB2 tags) from CoNLL files or JSONL spans (`train.token_data`);
the model is AutoModelForTokenClassification; metrics are entity-level precision, recall and F1
(primary), macro F1 over entity types and token accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from llmline.console import console
from llmline.data.stage import DataArtifact
from llmline.spec import PipelineSpec, StrictModel
from llmline.tasks import EvalOptions, ReadOptions, Task, register, task_config
from llmline.train.prepared import Prepared
from llmline.train.token_data import Sentence, prepare_token_data, read_sentences_snapshot
from llmline.workspace import Workspace

IGNORE = -100  # label id the loss skips (HF convention)
METRICS = ("entity_f1", "entity_precision", "entity_recall", "macro_f1", "accuracy")


class NerConfig(StrictModel):
    """Settings only token classification has."""

    label_all_tokens: bool = Field(
        False, description="Label every word piece, not only the first of each word."
    )


def align_labels(
    word_ids: list[int | None], word_tags: list[int], *, label_all_tokens: bool, tags: list[str]
) -> list[int]:
    """Per-sub-token label ids: the first piece of each word gets the word's tag; later pieces
    get IGNORE, or (label_all_tokens) the word's tag with B- turned into I-."""
    index = {tag: i for i, tag in enumerate(tags)}
    out, previous = [], None
    for word in word_ids:
        if word is None:
            out.append(IGNORE)
        elif word != previous:
            out.append(word_tags[word])
        elif label_all_tokens:
            tag = tags[word_tags[word]]
            out.append(index.get("I-" + tag[2:], word_tags[word]) if tag.startswith("B-") else
                       word_tags[word])  # fmt: skip
        else:
            out.append(IGNORE)
        previous = word
    return out


def encode_sentences(
    sentences: list[Sentence], tokenizer: Any, tags: list[str], *, max_length: int,
    label_all_tokens: bool = False, one_token_per_word: bool = False,
) -> list[dict[str, Any]]:  # fmt: skip
    """Token ids and aligned labels. one_token_per_word (character-level corpora) gives each
    character exactly its own vocabulary piece (`models.encoding.encode_chars`) instead of
    letting the tokenizer split words: E5's SentencePiece would put a `▁` before each one."""
    index = {tag: i for i, tag in enumerate(tags)}
    if one_token_per_word:
        from llmline.models.encoding import encode_chars

        features = []
        for sentence in sentences:
            encoded_row = encode_chars(tokenizer, sentence.tokens, max_length=max_length)
            word_ids = encoded_row.pop("word_ids")
            labels = align_labels(word_ids, [index[t] for t in sentence.tags],
                                  label_all_tokens=False, tags=tags)  # fmt: skip
            features.append({**encoded_row, "labels": labels})
        return features
    encoded = tokenizer(
        [s.tokens for s in sentences], is_split_into_words=True, truncation=True,
        max_length=max_length,
    )  # fmt: skip
    features = []
    for row, sentence in enumerate(sentences):
        word_tags = [index[t] for t in sentence.tags]
        labels = align_labels(encoded.word_ids(row), word_tags,
                              label_all_tokens=label_all_tokens, tags=tags)  # fmt: skip
        ids, mask = encoded["input_ids"][row], encoded["attention_mask"][row]
        features.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return features


def seqeval_report(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, Any]:
    """Entity-level micro and macro P/R/F1, per-type scores (seqeval), token accuracy."""
    from seqeval.metrics import accuracy_score, classification_report, f1_score
    from seqeval.scheme import IOB2

    per_type = classification_report(
        gold, predicted, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    types = {
        k: {"precision": round(float(v["precision"]), 4), "recall": round(float(v["recall"]), 4),
            "f1": round(float(v["f1-score"]), 4), "support": int(v["support"])}
        for k, v in per_type.items() if not k.endswith("avg")
    }  # fmt: skip
    micro = per_type.get("micro avg", {})
    metrics = {
        "entity_f1": round(float(f1_score(gold, predicted, mode="strict", scheme=IOB2)), 4),
        "entity_precision": round(float(micro.get("precision", 0.0)), 4),
        "entity_recall": round(float(micro.get("recall", 0.0)), 4),
        "macro_f1": round(float(per_type.get("macro avg", {}).get("f1-score", 0.0)), 4),
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
    }
    return {"rows": len(gold), "metrics": metrics, "primary": "entity_f1", **metrics,
            "per_type": types}  # fmt: skip


def _metrics_fn(tags: list[str]) -> Any:
    def compute(eval_pred: Any) -> dict[str, float]:
        import numpy as np

        logits, labels = eval_pred.predictions, eval_pred.label_ids
        predicted = np.asarray(logits[0] if isinstance(logits, tuple) else logits).argmax(-1)
        predicted = predicted[:, predicted.shape[1] - labels.shape[1] :]  # prompt tuning's prefix
        gold_rows, pred_rows = [], []
        for p_row, l_row in zip(predicted, labels, strict=True):
            keep = l_row != IGNORE
            gold_rows.append([tags[i] for i in l_row[keep]])
            pred_rows.append([tags[i] for i in p_row[keep]])
        return dict(seqeval_report(gold_rows, pred_rows)["metrics"])

    return compute


def build(
    spec: PipelineSpec, data: DataArtifact, workspace: Workspace, resume: str | None
) -> Prepared:
    """AutoModelForTokenClassification over the data's tag set; class-weighted token loss."""
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
    )

    from llmline.models.ner import label_config
    from llmline.models.resolve import resolve_model
    from llmline.train.losses import class_weights, token_loss

    cfg, tags = spec.train, data.labels
    options = task_config(spec, NerConfig)
    base_dir = resolve_model(cfg.base_model, workspace)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForTokenClassification.from_pretrained(
        base_dir, use_safetensors=True, **label_config(tags)
    )
    train_sentences = read_sentences_snapshot(data.train)
    unit = word_unit(train_sentences)
    one_token_per_word = unit == "char"
    encode: dict[str, Any] = {
        "max_length": cfg.max_length,
        "label_all_tokens": options.label_all_tokens,
        "one_token_per_word": one_token_per_word,
    }

    def cut(sentences: list[Sentence], split: str) -> list[Sentence]:
        return cut_long_sentences(sentences, tokenizer, max_length=cfg.max_length,
                                  one_token_per_word=one_token_per_word, split=split)  # fmt: skip

    train_sentences = cut(train_sentences, "train")
    validation_sentences = cut(read_sentences_snapshot(data.validation), "validation")
    train = encode_sentences(train_sentences, tokenizer, tags, **encode)
    validation = encode_sentences(validation_sentences, tokenizer, tags, **encode)
    weights = class_weights(cfg, tags, [i for f in train for i in f["labels"]])
    prompt_tuning = cfg.peft is not None and cfg.peft.method == "prompt"
    loss = token_loss(
        model, smoothing=cfg.label_smoothing, weights=weights, virtual_tokens=prompt_tuning
    )
    return Prepared(
        model=model, tokenizer=tokenizer, train=train, validation=validation,
        collator=DataCollatorForTokenClassification(tokenizer), head_names=("classifier",),
        compute_metrics=_metrics_fn(tags), compute_loss=loss, sampling="group_by_length",
        state={"base_dir": base_dir, "tags": tags, "word_unit": unit},
    )  # fmt: skip


def cut_long_sentences(
    sentences: list[Sentence], tokenizer: Any, *, max_length: int, one_token_per_word: bool,
    split: str,
) -> list[Sentence]:  # fmt: skip
    """Sentences longer than max_length tokens as windows that fit (`models.windows`), so no
    word is truncated away; a window starting inside an entity starts it with B-."""
    from llmline.models.windows import sentence_windows

    windows = sentence_windows([s.tokens for s in sentences], tokenizer, max_length,
                               one_token_per_word=one_token_per_word)  # fmt: skip
    out: list[Sentence] = []
    for sentence, bounds in zip(sentences, windows, strict=True):
        for start, end in bounds:
            tags = sentence.tags[start:end]
            if tags and tags[0].startswith("I-"):
                tags = ["B-" + tags[0][2:], *tags[1:]]
            out.append(Sentence(sentence.tokens[start:end], tags))
    if len(out) > len(sentences):
        long = sum(len(b) > 1 for b in windows)
        console.print(
            f"{split}: {long} sentences longer than max_length {max_length} cut into windows at "
            f"sentence ends ({len(sentences)} sentences -> {len(out)} windows)"
        )
    return out


def word_unit(sentences: list[Sentence]) -> str:
    """ "char" when the training corpus is written one CJK character per token (Resume, Weibo,
    CLUENER): the model then sees one token per character, and the predictor splits raw text
    the same way; "word" otherwise."""
    from llmline.models.words import char_level

    chars = sum(char_level(s.tokens) for s in sentences)
    return "char" if chars > len(sentences) / 2 else "word"


def save(
    prepared: Prepared, trainer: Any, spec: PipelineSpec, model_dir: Path, metrics: dict[str, Any]
) -> dict[str, Any]:
    from llmline.models.meta import ModelMeta
    from llmline.train.fit import save_pretrained

    meta = ModelMeta(
        labels=prepared.state["tags"], pooling="token", normalize=False,
        max_length=spec.train.max_length, task="ner", base_model=spec.train.base_model,
        extra={"label_all_tokens": task_config(spec, NerConfig).label_all_tokens,
               "word_unit": prepared.state.get("word_unit", "word"),
               "token_unit": "char" if prepared.state.get("word_unit") == "char" else "piece"},
    )  # fmt: skip
    save_pretrained(trainer.model, prepared.tokenizer, model_dir, spec, meta,
                    prepared.state["base_dir"])  # fmt: skip
    return {}


def read_file(path: Path, options: ReadOptions, model_dir: Path) -> list[Sentence]:
    """Sentences of a CoNLL file or JSONL rows (tokens+tags or text+entities), entity types
    renamed by the run's label map."""
    from llmline.errors import DataError
    from llmline.evaluate.files import refuse_pair, run_label_map, source_spec
    from llmline.train.token_data import read_sentences

    refuse_pair(options, "ner")
    sentences = list(read_sentences(source_spec(path, options), key="--data"))
    if not sentences:
        raise DataError(f"no sentences in {path}", where="--data", fix="check the file/--format")
    mapping = run_label_map(model_dir)
    return [Sentence(s.tokens, [map_tag(t, mapping) for t in s.tags]) for s in sentences]


def map_tag(tag: str, mapping: dict[str, str]) -> str:
    """B-/I- keep their prefix and rename the entity type; other tags are renamed whole."""
    if tag[:2] in ("B-", "I-"):
        return tag[:2] + mapping.get(tag[2:], tag[2:])
    return mapping.get(tag, tag)


def evaluate(model_dir: Path, rows: list[Sentence], options: EvalOptions) -> dict[str, Any]:
    """seqeval report of the model's tags for the rows' words."""
    from llmline.models.ner import load_ner_predictor

    predictor = load_ner_predictor(model_dir)
    predicted = predictor.tag_words([s.tokens for s in rows])
    report = seqeval_report([s.tags for s in rows], predicted)
    console.print(
        f"[bold]evaluate[/]: entity F1 {report['entity_f1']:.4f} (macro {report['macro_f1']:.4f})"
        f", token accuracy {report['accuracy']:.4f} on {report['rows']} sentences"
    )
    return report


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    from llmline.lineage import write_json_atomic, write_text_atomic

    write_json_atomic(out_dir / "report.json", report)
    write_text_atomic(out_dir / "report.md", render_ner_markdown(report))


def render_ner_markdown(report: dict[str, Any]) -> str:
    from llmline.evaluate.report import gate_lines

    lines = [
        "# NER evaluation report (seqeval, strict IOB2)", "",
        f"- sentences: {report['rows']}",
        f"- entity F1 (micro): **{report['entity_f1']:.4f}** "
        f"(P {report['entity_precision']:.4f}, R {report['entity_recall']:.4f})",
        f"- entity F1 (macro over types): {report['macro_f1']:.4f}",
        f"- token accuracy: {report['accuracy']:.4f}", *gate_lines(report), "",
        "| type | precision | recall | F1 | support |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for name, m in sorted(report["per_type"].items()):
        lines.append(f"| {name} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | "
                     f"{m['support']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _load_predictor(directory: Path) -> Any:
    from llmline.models.ner import load_ner_predictor

    return load_ner_predictor(directory)


TASK = register(
    Task(
        name="ner", config=NerConfig, metrics=METRICS, primary="entity_f1",
        greater_is_better=True, build=build, save=save, load_predictor=_load_predictor,
        read_snapshot=read_sentences_snapshot, read_file=read_file, evaluate=evaluate,
        write_report=write_report, prepare_data=prepare_token_data, peft_task_type="TOKEN_CLS",
        routes=("ner",),
    )
)  # fmt: skip
