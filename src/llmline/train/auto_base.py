"""`train.base_model: auto`: the packaged encoder that fits the training data's language.

MiniLM-L6 knows English only (244 CJK characters in its vocabulary); multilingual-e5-small
knows Chinese and about a hundred other languages at twice MiniLM's cost. So English data gets
MiniLM and everything else gets E5. The language is the majority vote of
`data.filters.detect_language` over a sample of training rows, and the pick is printed and kept
in the train stage's result, where the model card reads it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.console import console
from llmline.errors import SpecError
from llmline.spec import PipelineSpec

AUTO = "auto"
ENCODER_FOR_ENGLISH = "packaged:minilm"
MULTILINGUAL_ENCODER = "packaged:e5-small"
ENCODER_TASKS = ("classification", "ner", "mlm")
SAMPLE_ROWS = 200


@dataclass(frozen=True)
class BaseModelPick:
    model: str
    language: str
    votes: dict[str, int]

    def as_record(self) -> dict[str, Any]:
        return {"picked": self.model, "language": self.language, "votes": self.votes}


def resolve_auto_base(
    spec: PipelineSpec, train_snapshot: Path
) -> tuple[PipelineSpec, BaseModelPick | None]:
    """The spec with `auto` replaced by the chosen encoder (and the pick), or the spec as is."""
    if spec.train.base_model != AUTO:
        return spec, None
    if spec.task not in ENCODER_TASKS:
        raise SpecError(
            f"train.base_model: auto picks an encoder, and task {spec.task!r} needs a language "
            "model",
            where="train.base_model",
            fix="name the model, e.g. packaged:smollm2 (English) or packaged:gemma3-270m (Chinese)",
        )
    pick = pick_encoder(sample_texts(train_snapshot, SAMPLE_ROWS))
    console.print(
        f"[bold]train[/]: base_model auto -> {pick.model} (training data detected as "
        f"{pick.language}: {', '.join(f'{k} {v}' for k, v in pick.votes.items())} of the "
        f"{sum(pick.votes.values())} rows sampled)"
    )
    train = spec.train.model_copy(update={"base_model": pick.model})
    return spec.model_copy(update={"train": train}), pick


def pick_encoder(texts: list[str]) -> BaseModelPick:
    """MiniLM when most rows are English, E5 otherwise (no rows: English)."""
    from llmline.data.filters import detect_language

    votes = Counter(detect_language(text) for text in texts if text.strip())
    votes.pop("und", None)
    language = votes.most_common(1)[0][0] if votes else "en"
    model = ENCODER_FOR_ENGLISH if language == "en" else MULTILINGUAL_ENCODER
    return BaseModelPick(model, language, dict(votes.most_common()))


def sample_texts(snapshot: Path, rows: int) -> list[str]:
    """The `text` column of the snapshot's first rows (every encoder task's snapshot has one;
    a NER sentence's is its tokens joined by spaces, which language detection ignores)."""
    import pyarrow.parquet as pq

    column = pq.read_table(snapshot, columns=["text"]).column("text").slice(0, rows)
    return [str(text) for text in column.to_pylist() if text is not None]
