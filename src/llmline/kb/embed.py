"""Encoders: the bi-encoder that embeds chunks and queries, and the cross-encoder reranker.

Both load through `resolve_model` (packaged, registry, run or local directory) and
sentence-transformers; a directory without a sentence-transformers config gets mean pooling.
Embeddings are L2-normalised so the vector store's inner product is the cosine.
Prefixes: e5-style encoders were trained with `query: ` / `passage: `; with `auto` they are
read from `llmline_encoder.json` in the model directory, so the converter that ships the
model decides them, not every user.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llmline.errors import ModelError
from llmline.spec.kb import KbSpec, PrefixSpec


def resolve_prefixes(setting: str | PrefixSpec, directory: Path) -> PrefixSpec:
    """The prefix pair a spec's `prefixes` means for this model directory (`auto`: what the
    directory's llmline_encoder.json says, read by `models.encoding.encoder_prefixes`)."""
    from llmline.models.encoding import encoder_prefixes

    if isinstance(setting, PrefixSpec):
        return setting
    if setting == "none":
        return PrefixSpec()
    found = encoder_prefixes(directory)
    return PrefixSpec(query=found.get("query", ""), passage=found.get("passage", ""))


QUERY_CACHE = 2048  # query vectors kept: customer questions repeat (FAQ traffic)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread for the block.

    Short queries gain little from a second thread, and on shared cores the threads'
    spin-waiting is ruinous: e5-small embedded one cMedQA question in 4.9 s p50 with two
    threads while a training run held the cores, 69 ms with one (benchmarks/bench_kb.py), and
    a batch of 12 questions took 98 s."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Encoder:
    """A sentence-transformers bi-encoder with the spec's prefixes, normalised output.

    Queries run on one thread, and the last QUERY_CACHE query vectors are kept (a repeated
    question costs a dictionary lookup); passages (a build) use torch's threads."""

    def __init__(self, directory: Path, prefixes: PrefixSpec, batch_size: int = 64) -> None:
        self.directory, self.prefixes, self.batch_size = directory, prefixes, batch_size
        self.model = _sentence_transformer(directory)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def dim(self) -> int:
        # renamed in sentence-transformers 6; the old name warns
        get = getattr(self.model, "get_embedding_dimension", None)
        return int(get() if get else self.model.get_sentence_embedding_dimension())

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            with one_thread():
                vectors = self._encode([self.prefixes.query + t for t in missing])
            for text, vector in zip(missing, vectors, strict=True):
                self._cache[text] = vector
        out = np.stack([self._cache[t] for t in texts]) if texts else self._encode([])
        for text in texts:
            self._cache.move_to_end(text)
        while len(self._cache) > QUERY_CACHE:
            self._cache.popitem(last=False)
        return out

    def encode_passages(self, texts: Sequence[str], *, progress: str | None = None) -> np.ndarray:
        """Embeddings of chunks in batches, with a progress bar when `progress` names it."""
        if progress is None or len(texts) <= self.batch_size:
            return self._encode([self.prefixes.passage + t for t in texts])
        from llmline.console import progress_bar

        parts = []
        with progress_bar(transient=True) as bar:
            task = bar.add_task(progress, total=len(texts))
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                parts.append(self._encode([self.prefixes.passage + t for t in batch]))
                bar.advance(task, len(batch))
        return np.concatenate(parts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )  # fmt: skip
        return np.asarray(out, dtype=np.float32)


def _sentence_transformer(directory: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(directory), device="cpu")
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"cannot load an encoder from {str(directory)!r} ({exc})",
            fix="set kb.encoder to a sentence-transformers or Hugging Face encoder directory",
        ) from None


def reranker_prefixes(directory: Path) -> PrefixSpec:
    """The prefixes a cross-encoder saw in training, from its llmline_model.json: the
    pair_classification task puts `extra.text_prefix` (E5's "query: ") before both texts; a
    `pair_prefix` there, when a model has one, goes before the second. None for a model
    llmline did not train (a plain sentence-transformers CrossEncoder directory)."""
    from llmline.models.meta import MODEL_META, ModelMeta

    if not (directory / MODEL_META).exists():
        return PrefixSpec()
    meta = ModelMeta.load(directory)
    first = meta.text_prefix
    return PrefixSpec(query=first, passage=str(meta.extra.get("pair_prefix", first)))


class Reranker:
    """A cross-encoder scoring (query, chunk) pairs; higher = more relevant. Texts get the
    prefixes the model was trained with (`reranker_prefixes`)."""

    def __init__(self, directory: Path, batch_size: int = 32) -> None:
        from sentence_transformers import CrossEncoder

        try:
            self.model = CrossEncoder(str(directory), device="cpu")
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"cannot load a cross-encoder from {str(directory)!r} ({exc})",
                fix="set kb.reranker to a pair_classification model or cross-encoder directory",
            ) from None
        self.batch_size = batch_size
        self.prefixes = reranker_prefixes(directory)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        first, second = self.prefixes.query, self.prefixes.passage
        scores = self.model.predict(
            [(first + query, second + t) for t in texts], batch_size=self.batch_size,
            show_progress_bar=False,
        )  # fmt: skip
        array = np.asarray(scores, dtype=np.float32)
        if array.ndim == 2:  # two-label pair classifiers: the "relevant" column
            array = array[:, -1]
        return [float(s) for s in array]


def load_encoder(spec: KbSpec, workspace: Any) -> Encoder:
    from llmline.models.resolve import resolve_model

    directory = resolve_model(spec.encoder, workspace)
    return Encoder(directory, resolve_prefixes(spec.prefixes, directory), spec.batch_size)


def load_reranker(spec: KbSpec, workspace: Any) -> Reranker:
    from llmline.models.resolve import resolve_model

    if spec.reranker is None:
        raise ModelError(
            "retriever hybrid+rerank needs a reranker, and this KB has none",
            where="kb.reranker",
            fix="set kb.reranker to a cross-encoder (pair_classification) model and rebuild, "
            "or use --retriever hybrid",
        )
    return Reranker(resolve_model(spec.reranker, workspace))
