"""Continued masked-LM pre-training of an encoder on unlabeled domain text.

Long texts are cut into windows of `train.max_length` tokens rather than truncated, so no text
is wasted. Validation masks are drawn once with the run's seed, so the loss before and after
training is measured on the same masked tokens. Metrics: masked-token perplexity (primary,
lower is better), accuracy and macro-F1 over the masked tokens.

The saved directory is a complete `*ForMaskedLM` checkpoint: `AutoModel` loads its encoder
(dropping the head), so it can be the `train.base_model` of a later classification run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from llmline.console import console
from llmline.data.stage import DataArtifact
from llmline.errors import ModelError
from llmline.spec import PipelineSpec, PretrainSpec, StrictModel
from llmline.tasks import EvalOptions, ReadOptions, Task, register, task_config
from llmline.train.corpus_data import prepare_corpus, read_texts
from llmline.train.lm_metrics import IGNORE, evaluation_device, lm_report_markdown, token_scores
from llmline.train.prepared import Prepared
from llmline.workspace import Workspace

LM_METRICS = ("perplexity", "loss", "accuracy", "macro_f1")


class MlmConfig(StrictModel):
    """Settings only masked-LM pre-training has."""

    pretrain: PretrainSpec = Field(
        default_factory=PretrainSpec, description="Masking probability and logging cadence."
    )


def encode_windows(texts: list[str], tokenizer: Any, max_length: int) -> list[dict[str, Any]]:
    """Each text as one or more windows of at most max_length tokens, special tokens included."""
    encoded = tokenizer(
        texts, truncation=True, max_length=max_length, return_overflowing_tokens=True
    )
    specials = tokenizer.num_special_tokens_to_add()
    return [
        {"input_ids": ids, "attention_mask": [1] * len(ids)}
        for ids in encoded["input_ids"]
        if len(ids) > specials  # a text that tokenizes to nothing
    ]


def fixed_masks(
    features: list[dict[str, Any]], tokenizer: Any, probability: float, seed: int
) -> list[dict[str, Any]]:
    """Mask each validation window once, reproducibly: (input_ids with masks, labels)."""
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=probability, seed=seed)
    masked = []
    for feature in features:
        batch = collator([feature])
        masked.append(
            {
                "input_ids": batch["input_ids"][0].tolist(),
                "attention_mask": feature["attention_mask"],
                "labels": batch["labels"][0].tolist(),
            }
        )
    return masked


class MaskingCollator:
    """Fresh random masks for training rows; validation rows come masked (they have labels)."""

    def __init__(self, tokenizer: Any, probability: float, seed: int) -> None:
        from transformers import DataCollatorForLanguageModeling

        self.random = DataCollatorForLanguageModeling(
            tokenizer, mlm_probability=probability, seed=seed
        )
        self.pad_id = tokenizer.pad_token_id

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if "labels" not in features[0]:
            return dict(self.random(features))
        return pad_masked(features, self.pad_id)


def pad_masked(features: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(f["input_ids"]) for f in features)

    def padded(key: str, value: int) -> Any:
        return torch.tensor([list(f[key]) + [value] * (width - len(f[key])) for f in features])

    return {
        "input_ids": padded("input_ids", pad_id),
        "attention_mask": padded("attention_mask", 0),
        "labels": padded("labels", IGNORE),
    }


def load_masked_lm(directory: Path) -> Any:
    """AutoModelForMaskedLM; a sentence encoder saved without its MLM head (MiniLM) gets a fresh
    one, its decoder tied to the word embeddings, which is said rather than left to a warning."""
    from transformers import AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report is summarised below instead
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(
            directory, use_safetensors=True, output_loading_info=True
        )
    except ValueError as exc:  # e.g. a decoder-only config has no masked-LM class
        raise ModelError(
            f"{directory} cannot be loaded as a masked LM: {str(exc).splitlines()[0]}",
            where="train.base_model",
            fix="use an encoder such as packaged:minilm or a BERT/RoBERTa directory",
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    fresh = sorted(info.get("missing_keys") or [])
    if fresh:
        output, embeddings = model.get_output_embeddings(), model.get_input_embeddings()
        tied = output is not None and output.weight is embeddings.weight
        console.print(
            f"the base model has no masked-LM head: {len(fresh)} head tensors start fresh"
            + (", the decoder tied to the word embeddings" if tied else "")
        )
    return model


def build(
    spec: PipelineSpec, data: DataArtifact, workspace: Workspace, resume: str | None
) -> Prepared:
    """The encoder with a masked-LM head; random masks in training, fixed ones in validation."""
    from transformers import AutoTokenizer

    from llmline.models.resolve import resolve_model

    cfg = spec.train
    pre = task_config(spec, MlmConfig).pretrain
    base_dir = resolve_model(cfg.base_model, workspace)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.mask_token is None:
        raise ModelError(
            f"the tokenizer of {cfg.base_model} has no mask token",
            where="train.base_model",
            fix="use an encoder such as packaged:minilm",
        )
    model = load_masked_lm(base_dir)
    train = encode_windows(read_texts(data.train), tokenizer, cfg.max_length)
    validation = fixed_masks(
        encode_windows(read_texts(data.validation), tokenizer, cfg.max_length),
        tokenizer, pre.mlm_probability, spec.seed,
    )  # fmt: skip
    return Prepared(
        model=model, tokenizer=tokenizer, train=train, validation=validation,
        collator=MaskingCollator(tokenizer, pre.mlm_probability, spec.seed),
        head_names=("cls.predictions",), language_model=True, initial_eval=True,
        log_every=pre.log_every,
    )  # fmt: skip


def save(
    prepared: Prepared, trainer: Any, spec: PipelineSpec, model_dir: Path, metrics: dict[str, Any]
) -> dict[str, Any]:
    """A complete *ForMaskedLM checkpoint, its masking settings and perplexity before."""
    from llmline.models.meta import ModelMeta
    from llmline.train.fit import save_pretrained

    extra = {
        "pretrain": task_config(spec, MlmConfig).pretrain.model_dump(),
        "initial_perplexity": metrics["initial_perplexity"],
    }
    meta = ModelMeta(labels=[], pooling="none", normalize=False, max_length=spec.train.max_length,
                     task="mlm", base_model=spec.train.base_model, extra=extra)  # fmt: skip
    save_pretrained(trainer.model, prepared.tokenizer, model_dir, spec, meta)
    console.print(
        f"masked-token perplexity {metrics['initial_perplexity']:.2f} -> "
        f"{metrics['eval_perplexity']:.2f}"
    )
    return {"train_windows": len(prepared.train)}


def evaluate(model_dir: Path, rows: list[str], options: EvalOptions) -> dict[str, Any]:
    """Masked-token perplexity, accuracy and macro-F1 on the texts' windows (seeded masks)."""
    from transformers import AutoTokenizer

    from llmline.models.meta import ModelMeta

    meta = ModelMeta.load(model_dir)
    pre = PretrainSpec.model_validate(meta.extra.get("pretrain") or {})
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = load_masked_lm(model_dir).to(evaluation_device())
    windows = encode_windows(rows, tokenizer, meta.max_length)
    masked = fixed_masks(windows, tokenizer, pre.mlm_probability, options.seed)
    size = options.batch_size
    batches = (
        pad_masked(masked[i : i + size], tokenizer.pad_token_id)
        for i in range(0, len(masked), size)
    )
    scores = token_scores(model, batches, shift=False, total=-(-len(masked) // size))
    report = lm_report(scores, len(masked), meta.extra.get("initial_perplexity"))
    console.print(
        f"[bold]evaluate[/]: masked-token perplexity {report['perplexity']:.2f} (before "
        f"{report['perplexity_before'] or float('nan'):.2f}), accuracy {report['accuracy']:.4f}"
    )
    return report


def lm_report(scores: dict[str, Any], rows: int, before: float | None) -> dict[str, Any]:
    """A language model's report: its token scores as metrics, perplexity the primary one."""
    metrics = {k: scores[k] for k in LM_METRICS}
    return {"rows": rows, "metrics": metrics, "primary": "perplexity", **scores,
            "perplexity_before": before}  # fmt: skip


def read_file(path: Path, options: ReadOptions, model_dir: Path) -> list[str]:
    """The texts of a plain-text file, a directory of them, or a CSV/JSONL text column."""
    from llmline.errors import DataError
    from llmline.evaluate.files import refuse_pair, source_spec
    from llmline.train.corpus_data import read_corpus_file

    refuse_pair(options, "mlm")
    texts = read_corpus_file(source_spec(path, options, label=False), key="--data")
    if not texts:
        raise DataError(f"no text in {path}", where="--data", fix="check the file/--text-col")
    return texts


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    from llmline.lineage import write_json_atomic, write_text_atomic

    write_json_atomic(out_dir / "report.json", report)
    write_text_atomic(out_dir / "report.md", lm_report_markdown(report, "Masked-LM evaluation"))


def _load_predictor(directory: Path) -> Any:
    raise ModelError(
        f"{directory} is a masked language model: it has no predictor to serve",
        fix="fine-tune it first (use the run as train.base_model of a classification run)",
    )


TASK = register(
    Task(
        name="mlm", config=MlmConfig, metrics=LM_METRICS, primary="perplexity",
        greater_is_better=False, build=build, save=save, load_predictor=_load_predictor,
        read_snapshot=read_texts, read_file=read_file, evaluate=evaluate,
        write_report=write_report, prepare_data=prepare_corpus,
    )
)  # fmt: skip
