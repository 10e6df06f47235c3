"""NER inference: words tagged by their first word piece, IOB2 decoded into character spans.

The `ner` task's predictor, so `llmline predict`, `llmline serve` (POST /v1/ner) and
the evaluate stage load it from any saved token-classification model (full or adapter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.models.meta import ModelMeta
from llmline.models.words import characters_with_offsets, words_with_offsets


def model_words(meta: ModelMeta, text: str) -> list[tuple[str, int, int]]:
    """Raw text split the way the model's training sentences were: one character per token for
    a model trained on character-level Chinese corpora (Resume, Weibo, CLUENER), words else
    (each CJK character still a word of its own: see `llmline.models.words`)."""
    if meta.extra.get("word_unit") == "char":
        return characters_with_offsets(text)
    return words_with_offsets(text)


def label_config(tags: list[str]) -> dict[str, Any]:
    """num_labels/id2label/label2id for AutoModelForTokenClassification."""
    return {
        "num_labels": len(tags),
        "id2label": dict(enumerate(tags)),
        "label2id": {t: i for i, t in enumerate(tags)},
    }


@dataclass
class NerPredictor:
    model: Any
    tokenizer: Any
    meta: ModelMeta
    batch_size: int = 32
    task: str = "ner"

    @property
    def labels(self) -> list[str]:
        return self.meta.labels

    def tag_words(self, sentences: Sequence[list[str]]) -> list[list[str]]:
        """One tag per word; a sentence longer than max_length is tagged window by window."""
        return [[self.labels[i] for i, _ in row] for row in self._word_scores(sentences)]

    def _word_scores(self, sentences: Sequence[list[str]]) -> list[list[tuple[int, float]]]:
        """(label id, probability) of every word: sentences longer than the model's input are
        cut into windows at sentence ends (`models.windows`) and their scores joined again."""
        from llmline.models.windows import sentence_windows

        windows = sentence_windows(
            sentences,
            self.tokenizer,
            self.meta.max_length,
            one_token_per_word=self.meta.extra.get("token_unit") == "char",
        )
        pieces = [list(s[a:b]) for s, bounds in zip(sentences, windows, strict=True)
                  for a, b in bounds]  # fmt: skip
        scored = iter(self._window_scores(pieces))
        return [[score for _ in bounds for score in next(scored)] for bounds in windows]

    def _window_scores(self, sentences: Sequence[list[str]]) -> list[list[tuple[int, float]]]:
        import torch

        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        out: list[list[tuple[int, float]]] = [[] for _ in sentences]
        outside = self.labels.index("O") if "O" in self.labels else 0
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                input_ids, attention_mask, word_ids = self._encode([sentences[i] for i in chunk])
                logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
                logits = logits[:, -input_ids.shape[1] :]  # prompt tuning's prefix
                probs = torch.softmax(logits.float(), dim=-1)
                for row, index in enumerate(chunk):
                    words = [(outside, 1.0)] * len(sentences[index])
                    seen: set[int] = set()
                    for piece, word in enumerate(word_ids[row]):
                        if word is None or word in seen:
                            continue
                        seen.add(word)
                        score, label = probs[row, piece].max(-1)
                        words[word] = (int(label), float(score))
                    out[index] = words
        return out

    def _encode(self, sentences: Sequence[list[str]]) -> tuple[Any, Any, list[list[int | None]]]:
        """Padded input ids, attention mask and each token's word index, encoded the way the
        model was trained: one token per character (`token_unit: char`) or word pieces."""
        if self.meta.extra.get("token_unit") != "char":
            batch = self.tokenizer(
                [list(words) for words in sentences], is_split_into_words=True,
                truncation=True, max_length=self.meta.max_length, padding=True,
                return_tensors="pt",
            )  # fmt: skip
            word_ids = [batch.word_ids(row) for row in range(len(sentences))]
            return batch["input_ids"], batch["attention_mask"], word_ids
        import torch

        from llmline.models.encoding import encode_chars

        rows = [encode_chars(self.tokenizer, w, max_length=self.meta.max_length) for w in sentences]
        width = max(len(row["input_ids"]) for row in rows)
        pad = self.tokenizer.pad_token_id or 0
        ids = [row["input_ids"] + [pad] * (width - len(row["input_ids"])) for row in rows]
        mask = [row["attention_mask"] + [0] * (width - len(row["input_ids"])) for row in rows]
        return torch.tensor(ids), torch.tensor(mask), [row["word_ids"] for row in rows]

    def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[dict[str, Any]]:
        """Entity spans with character offsets into each text (top_k is not used by NER)."""
        words = [model_words(self.meta, text) for text in texts]
        scores = self._word_scores([[w for w, _, _ in row] for row in words])
        results = []
        for text, row_words, row_scores in zip(texts, words, scores, strict=True):
            entities = decode_entities(text, row_words, row_scores, self.labels)
            results.append({"entities": entities, "label": _summary(entities)})
        return results


def decode_entities(
    text: str,
    words: list[tuple[str, int, int]],
    scores: list[tuple[int, float]],
    labels: list[str],
) -> list[dict[str, Any]]:
    """IOB2 -> spans; an I- tag that does not continue its type starts a new entity."""
    entities: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for (_, start, end), (label_id, score) in zip(words, scores, strict=True):
        tag = labels[label_id]
        kind = tag[2:] if tag[:2] in ("B-", "I-") else None
        continues = current is not None and tag.startswith("I-") and current["label"] == kind
        if continues and current is not None:
            current["end"] = end
            current["scores"].append(score)
            continue
        current = None
        if kind is not None:
            current = {"label": kind, "start": start, "end": end, "scores": [score]}
            entities.append(current)
    for entity in entities:
        scores_of = entity.pop("scores")
        entity["text"] = text[entity["start"] : entity["end"]]
        entity["score"] = round(sum(scores_of) / len(scores_of), 4)
    return entities


def _summary(entities: list[dict[str, Any]]) -> str:
    """A one-line label for tools that expect one (e.g. predict's table): the types found."""
    return ",".join(sorted({e["label"] for e in entities})) or "O"


def load_ner_predictor(directory: Path) -> NerPredictor:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from llmline.models.adapters import load_body

    meta = ModelMeta.load(directory)
    model = load_body(directory, AutoModelForTokenClassification, **label_config(meta.labels))
    model.eval()
    return NerPredictor(model, AutoTokenizer.from_pretrained(directory), meta)
