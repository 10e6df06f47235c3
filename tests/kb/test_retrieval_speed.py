"""The approximate (HNSW) index, its tombstones, the query-vector cache and reranker prefixes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmline.kb.base import KnowledgeBase
from llmline.kb.build import build_kb
from llmline.kb.embed import Encoder, Reranker, reranker_prefixes
from llmline.kb.ingest import TableColumns
from llmline.kb.vectors import FaissStore
from llmline.models.meta import ModelMeta
from llmline.spec.kb import KbSpec, PrefixSpec
from llmline.workspace import Workspace
from tests.kb.conftest import HashEncoder


def _clustered(n: int, dim: int = 48, seed: int = 0) -> np.ndarray:
    """Unit vectors around 40 centres: the shape real embeddings have, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim))
    data = centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, dim))
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    return data.astype(np.float32)


def test_auto_index_turns_approximate_above_the_threshold_and_keeps_recall(
    tmp_path: Path,
) -> None:
    data = _clustered(3000)
    exact = FaissStore(tmp_path / "exact.faiss", 48, index="exact")
    auto = FaissStore(tmp_path / "auto.faiss", 48, approximate_above=1000)
    ids = list(range(100, 3100))
    exact.add(ids[:900], data[:900])
    auto.add(ids[:900], data[:900])
    assert not auto.approximate  # small: an exact scan
    exact.add(ids[900:], data[900:])
    auto.add(ids[900:], data[900:])
    assert auto.approximate and auto.count() == exact.count() == 3000
    queries = _clustered(100, seed=1)
    overlap = [
        len({i for i, _ in auto.search(q, 10)} & {i for i, _ in exact.search(q, 10)}) / 10
        for q in queries
    ]
    assert np.mean(overlap) >= 0.95


def test_hnsw_deletes_are_tombstones_that_survive_a_reload(tmp_path: Path) -> None:
    data = _clustered(600)
    store = FaissStore(tmp_path / "v.faiss", 48, index="approximate")
    store.add(list(range(600)), data)
    assert store.search(data[7], 1)[0][0] == 7
    store.delete([7, 8, 9999])  # an unknown id is ignored
    assert store.count() == 598 and store.deleted == {7, 8}
    assert 7 not in {i for i, _ in store.search(data[7], 50)}
    store.save()
    again = FaissStore(tmp_path / "v.faiss", 48, index="approximate")
    assert again.approximate and again.count() == 598
    assert 7 not in {i for i, _ in again.search(data[7], 50)}
    # re-adding a tombstoned id rebuilds first, so the new vector wins, not the stale one
    again.add([7], data[100:101])
    assert again.deleted == set() and again.count() == 599
    top = again.search(data[100], 2)
    assert {i for i, _ in top} == {7, 100}


def test_tombstones_past_their_share_rebuild_and_a_shrunk_index_goes_exact(
    tmp_path: Path,
) -> None:
    data = _clustered(1000)
    store = FaissStore(tmp_path / "v.faiss", 48, approximate_above=500)
    store.add(list(range(1000)), data)
    assert store.approximate
    store.delete(list(range(50)))  # 5 %: kept as tombstones
    assert len(store.deleted) == 50 and store.index.ntotal == 1000
    store.delete(list(range(50, 150)))  # 15 % > REBUILD_SHARE: rebuilt without them
    assert store.deleted == set() and store.index.ntotal == 850 and store.approximate
    store.delete(list(range(150, 800)))  # 200 left, under half the threshold: exact again
    assert not store.approximate and store.count() == 200
    assert store.search(data[900], 1)[0][0] == 900


def test_index_setting_is_honoured_when_a_saved_kb_reopens(tmp_path: Path) -> None:
    data = _clustered(300)
    store = FaissStore(tmp_path / "v.faiss", 48, index="approximate")
    store.add(list(range(300)), data)
    store.save()
    assert not FaissStore(tmp_path / "v.faiss", 48, index="exact").approximate
    import faiss  # the conversion was saved, so the next open does not convert again

    saved = faiss.read_index(str(tmp_path / "v.faiss"))
    assert not isinstance(faiss.downcast_index(saved.index), faiss.IndexHNSW)


@pytest.mark.parametrize("index", ["exact", "approximate"])
def test_a_kb_searches_and_deletes_through_either_index(
    tmp_path: Path, corpus: Path, encoder: HashEncoder, index: str
) -> None:
    ws = Workspace.resolve(tmp_path / "ws")
    spec = KbSpec(index=index)  # type: ignore[arg-type]
    build_kb("bank", ws, corpus, TableColumns("id"), spec=spec, encoder=encoder)
    kb = KnowledgeBase.open("bank", ws, encoder=encoder)
    assert kb.store.approximate == (index == "approximate")
    hits = kb.search("房贷提前还款需要预约", retriever="dense", top_k=3)
    assert hits[0].chunk.source == "贷款.txt"
    kb.delete(["贷款.txt"])
    again = KnowledgeBase.open("bank", ws, encoder=encoder)
    assert all(
        h.chunk.source != "贷款.txt" for h in again.search("房贷提前还款", retriever="dense")
    )
    assert again.store.count() == again.catalog.counts()["chunks"]


class _CountingModel:
    """Stands in for a SentenceTransformer: a vector per text, and what it was asked."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        self.seen += texts
        return np.asarray([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_query_vectors_are_cached_in_order_and_threads_restored() -> None:
    import torch

    encoder = Encoder.__new__(Encoder)
    encoder.prefixes, encoder.batch_size = PrefixSpec(query="query: "), 4
    encoder.model, encoder._cache = _CountingModel(), __import__("collections").OrderedDict()
    threads = torch.get_num_threads()
    first = encoder.encode_queries(["信用卡丢了", "ab", "信用卡丢了"])
    assert encoder.model.seen == ["query: 信用卡丢了", "query: ab"]  # one per distinct text
    assert first[:, 0].tolist() == [12.0, 9.0, 12.0]  # rows follow the input order
    encoder.encode_queries(["ab"])
    assert len(encoder.model.seen) == 2  # served from the cache
    assert torch.get_num_threads() == threads


def test_reranker_reads_the_prefixes_it_was_trained_with(tmp_path: Path) -> None:
    assert reranker_prefixes(tmp_path) == PrefixSpec()  # not an llmline model: none
    ModelMeta(labels=["1"], task="pair_classification", extra={"text_prefix": "query: "}).save(
        tmp_path
    )
    assert reranker_prefixes(tmp_path) == PrefixSpec(query="query: ", passage="query: ")

    class Model:
        def predict(self, pairs: list[tuple[str, str]], **_: Any) -> np.ndarray:
            self.pairs = pairs
            return np.asarray([0.5] * len(pairs))

    reranker = Reranker.__new__(Reranker)
    reranker.model, reranker.batch_size = Model(), 8
    reranker.prefixes = reranker_prefixes(tmp_path)
    assert reranker.score("胃疼吃什么药", ["多喝热水"]) == [0.5]
    assert reranker.model.pairs == [("query: 胃疼吃什么药", "query: 多喝热水")]
