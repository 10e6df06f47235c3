"""Target-dependent sentiment: a label and a score per (post, entity), the target marked.

A post about two companies can praise one and blame the other, so the classifier sees the post
once per entity with that entity's mentions wrapped in `<t>...</t>`. `mark_target` is the one
definition of the marking: training data for a target-aware model must be prepared with it
(FiQA's posts carry their target ticker), so what the model learnt is what it is shown here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmline.errors import ModelError
from llmline.spec.watch import SENTIMENTS
from llmline.watch.entities import Mention

if TYPE_CHECKING:
    from llmline.models.predictor import Predictor

TARGET_OPEN = "<t>"
TARGET_CLOSE = "</t>"


def mark_target(text: str, mentions: Sequence[Mention], entity: str) -> str:
    """The text with every mention of `entity` wrapped in <t>...</t> (others left as they are)."""
    pieces, cursor = [], 0
    for mention in sorted(mentions, key=lambda m: m.start):
        if mention.entity != entity:
            continue
        pieces += [text[cursor : mention.start], TARGET_OPEN, text[mention.start : mention.end]]
        pieces.append(TARGET_CLOSE)
        cursor = mention.end
    pieces.append(text[cursor:])
    return "".join(pieces)


@dataclass(frozen=True)
class Judgement:
    label: str  # negative, neutral or positive
    score: float  # P(positive) - P(negative), in [-1, 1]


def sentiment_of(model_label: str, label_map: Mapping[str, str], labels: Sequence[str]) -> str:
    """Map a model label onto negative/neutral/positive: the map, the name, or 0/1/2 in order."""
    if model_label in label_map:
        return label_map[model_label]
    lowered = model_label.lower()
    for name in SENTIMENTS:
        if lowered.startswith(name[:3]):
            return name
    if len(labels) == 3 and lowered in ("0", "1", "2", "label_0", "label_1", "label_2"):
        return SENTIMENTS[int(lowered[-1])]
    raise ModelError(
        f"model label {model_label!r} is not negative, neutral or positive",
        where="watch.label_map",
        fix=f"map each of the model's labels {list(labels)} to negative/neutral/positive",
    )


class TargetSentiment:
    """Wraps a classification predictor; judges each (post, entity) pair in model batches."""

    def __init__(
        self, predictor: Predictor, *, label_map: Mapping[str, str] | None = None, version: str = ""
    ) -> None:
        self.predictor = predictor
        self.version = version
        labels = list(predictor.labels)
        self._sentiment = {
            label: sentiment_of(label, label_map or {}, labels) for label in labels
        }  # checked once, so a bad map fails at start, not mid-stream

    def sentiment(self, model_label: str) -> str:
        """negative, neutral or positive for one of the model's labels."""
        return self._sentiment[model_label]

    def judge(self, marked_texts: Sequence[str]) -> list[Judgement]:
        if not marked_texts:
            return []
        results = self.predictor.predict(list(marked_texts), top_k=len(self._sentiment))
        return [self._judgement(result) for result in results]

    def _judgement(self, result: dict[str, Any]) -> Judgement:
        probs = {name: 0.0 for name in SENTIMENTS}
        for option in result.get("top_k") or [result]:
            probs[self._sentiment[option["label"]]] += float(option["score"])
        score = max(-1.0, min(1.0, probs["positive"] - probs["negative"]))
        return Judgement(self._sentiment[result["label"]], round(score, 4))


class LanguageJudges:
    """The judge of each post's language (`watch.models`), else the default (`watch.model`).

    A Chinese stock-forum model and an English news model are two classifiers; one stream of
    mixed posts sends each post to the one that reads its language.
    """

    def __init__(
        self,
        default: TargetSentiment | None,
        by_language: Mapping[str, TargetSentiment] | None = None,
    ) -> None:
        self.default = default
        self.by_language = dict(by_language or {})
        if default is None and not self.by_language:
            raise ModelError("no sentiment model", where="watch.model", fix="name one")

    def pick(self, language: str) -> TargetSentiment:
        """The language's judge; posts in other languages go to the default, or, with none, to
        the first listed judge (a mislabelled short post is still judged, not dropped)."""
        judge = self.by_language.get(language) or self.default
        return judge if judge is not None else next(iter(self.by_language.values()))

    def judges(self) -> list[TargetSentiment]:
        found = [*self.by_language.values(), *([self.default] if self.default else [])]
        return list({id(j): j for j in found}.values())


def model_version(model_dir: Path) -> str:
    """A short content id of a model directory: its name and the hash of its metadata files."""
    digest = hashlib.sha256()
    for name in sorted(("llmline_model.json", "config.json")):
        path = model_dir / name
        if path.is_file():
            digest.update(path.read_bytes())
    return f"{model_dir.name}@{digest.hexdigest()[:10]}"


def load_sentiment(
    reference: str, workspace: Any, label_map: Mapping[str, str], *, batch_size: int | None = None
) -> TargetSentiment:
    """Resolve a model reference (run dir, models:/..., local dir) to a TargetSentiment; an
    exported model (`llmline optimize --method onnx-int8`) runs on ONNX Runtime, its threads
    sleeping rather than spinning when idle (the stream's own work shares the cores)."""
    import os

    from llmline.models.backend import load_serving_predictor
    from llmline.models.resolve import resolve_model

    model_dir = resolve_model(reference, workspace)
    predictor = load_serving_predictor(model_dir, cores=os.cpu_count() or 1)
    if batch_size is not None and hasattr(predictor, "batch_size"):
        predictor.batch_size = batch_size
    if predictor.task != "classification":
        raise ModelError(
            f"{reference} is a {predictor.task} model, not a classifier",
            where="watch.model",
            fix="name a classification run (negative/neutral/positive)",
        )
    meta = model_dir / "llmline_model.json"
    run = json.loads(meta.read_text(encoding="utf-8")).get("run_id", "") if meta.is_file() else ""
    version = f"{reference} ({run or model_version(model_dir)})"
    return TargetSentiment(predictor, label_map=label_map, version=version)
