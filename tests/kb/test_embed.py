"""Encoder and reranker on tiny random models through the real sentence-transformers path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmline.errors import ModelError
from llmline.kb.embed import Encoder, Reranker, resolve_prefixes
from llmline.spec.kb import KbSpec, PrefixSpec


def test_auto_prefixes_come_from_the_model_directory(tmp_path: Path) -> None:
    assert resolve_prefixes("auto", tmp_path) == PrefixSpec()
    (tmp_path / "llmline_encoder.json").write_text(
        json.dumps({"prefixes": {"query": "query: ", "passage": "passage: "}})
    )
    assert resolve_prefixes("auto", tmp_path) == PrefixSpec(query="query: ", passage="passage: ")
    assert resolve_prefixes("none", tmp_path) == PrefixSpec()
    explicit = PrefixSpec(query="q: ")
    assert resolve_prefixes(explicit, tmp_path) is explicit
    (tmp_path / "llmline_encoder.json").write_text('{"prefixes": ["query: "]}')
    with pytest.raises(ModelError, match=r"llmline_encoder\.json"):
        resolve_prefixes("auto", tmp_path)


def test_spec_prefixes_accept_auto_none_or_a_pair() -> None:
    assert KbSpec().prefixes == "auto"
    assert KbSpec.model_validate({"prefixes": {"query": "query: "}}).prefixes == PrefixSpec(
        query="query: "
    )
    with pytest.raises(ValueError, match="chunk_overlap"):
        KbSpec(chunk_size=50, chunk_overlap=50)


@pytest.mark.slow
def test_encoder_mean_pools_normalises_and_prefixes(tiny_bert_dir: Path) -> None:
    plain = Encoder(tiny_bert_dir, PrefixSpec(), batch_size=2)
    prefixed = Encoder(tiny_bert_dir, PrefixSpec(query="query: ", passage="passage: "))
    texts = ["信用卡丢了怎么办", "reset my PIN", "refunds take five days"]
    vectors = plain.encode_passages(texts, progress="embedding")
    assert vectors.shape == (3, plain.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(
        prefixed.encode_queries(["x"]), plain.encode_queries(["query: x"]), atol=1e-5
    )
    assert np.allclose(
        prefixed.encode_passages(["x"]), plain.encode_passages(["passage: x"]), atol=1e-5
    )
    assert plain.encode_passages([]).shape == (0, plain.dim)


@pytest.fixture(scope="module")
def tiny_cross_encoder(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-cross-encoder")
    config = BertConfig.from_pretrained(tiny_bert_dir, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(directory, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(directory)
    return directory


@pytest.mark.slow
def test_reranker_scores_pairs_with_a_tiny_cross_encoder(
    tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    reranker = Reranker(tiny_cross_encoder)
    scores = reranker.score("信用卡丢了", ["请冻结信用卡", "refunds take five days"])
    assert len(scores) == 2 and scores[0] != scores[1]
    assert reranker.score("q", []) == []
    with pytest.raises(ModelError, match="cross-encoder"):
        Reranker(tmp_path / "missing")


@pytest.mark.slow
def test_hybrid_rerank_orders_candidates_by_the_cross_encoder(
    tiny_cross_encoder: Path, tmp_path: Path, corpus: Path
) -> None:
    from llmline.kb.base import KnowledgeBase
    from llmline.kb.build import build_kb
    from llmline.kb.ingest import TableColumns
    from llmline.workspace import Workspace
    from tests.kb.conftest import HashEncoder

    ws, encoder = Workspace.resolve(tmp_path / "ws"), HashEncoder()
    spec = KbSpec(reranker=str(tiny_cross_encoder), top_k=3, candidates=6)
    build_kb("bank", ws, corpus, TableColumns("id"), spec=spec, encoder=encoder)
    hits = KnowledgeBase.open("bank", ws, encoder=encoder).search(
        "信用卡丢了", retriever="hybrid+rerank"
    )
    assert len(hits) == 3 and all("rerank" in h.scores and "rrf" in h.scores for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.score == h.scores["rerank"] for h in hits)
