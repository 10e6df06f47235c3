from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from llmline.errors import DataError, ModelError
from llmline.kb.base import KnowledgeBase
from llmline.kb.build import build_kb
from llmline.kb.entities import Span
from llmline.kb.evaluate import evaluate_kb, read_gold
from llmline.kb.ingest import TableColumns
from llmline.spec.kb import KbSpec
from llmline.workspace import Workspace
from tests.kb.conftest import HashEncoder

FAQ = TableColumns("id")


def _build(ws: Workspace, root: Path, encoder: HashEncoder, **spec: object) -> dict[str, object]:
    return build_kb("bank", ws, root, FAQ, spec=KbSpec(**spec), encoder=encoder)  # type: ignore[arg-type]


def test_build_indexes_every_file_and_dedups_exact_copies(
    tmp_path: Path, corpus: Path, encoder: HashEncoder
) -> None:
    ws = Workspace.resolve(tmp_path / "ws")
    report = _build(ws, corpus, encoder)
    assert sorted(report["added"]) == [
        "faq.csv",
        "guides/lost-card.md",
        "transfer.html",
        "贷款.txt",
    ]  # type: ignore[call-overload]
    assert report["counts"] == {"sources": 4, "documents": 6, "duplicates": 1, "chunks": 6}
    manifest = json.loads((ws.root / "kb/bank/manifest.json").read_text(encoding="utf-8"))
    assert manifest["sources"]["faq.csv"]["duplicates"] == 1
    assert len(manifest["sources"]["贷款.txt"]["sha256"]) == 64
    assert manifest["store"] == {"kind": "faiss", "vectors": 6, "table": None}
    kb = KnowledgeBase.open("bank", ws, encoder=encoder)
    hit = kb.search("如何修改密码", retriever="bm25")[0]
    assert hit.chunk.doc_id == "q2" and hit.chunk.meta["duplicate_ids"] == ["q3"]
    document = kb.catalog.document_text("贷款.txt")
    assert document is not None
    for row in kb.catalog.chunks(range(1, 7)).values():
        if row.doc_id == "贷款.txt":
            assert document[row.start : row.end] == row.text


def test_update_skips_unchanged_replaces_changed_and_removes_missing(
    tmp_path: Path, corpus: Path, encoder: HashEncoder
) -> None:
    ws = Workspace.resolve(tmp_path / "ws")
    _build(ws, corpus, encoder)
    embedded = encoder.calls
    (corpus / "transfer.html").write_text("<p>Wire transfers now arrive the same day.</p>")
    (corpus / "贷款.txt").unlink()
    report = _build(ws, corpus, encoder)
    assert report["updated"] == ["transfer.html"] and report["deleted"] == ["贷款.txt"]
    assert sorted(report["unchanged"]) == ["faq.csv", "guides/lost-card.md"]  # type: ignore[call-overload]
    assert encoder.calls == embedded + 1  # only the changed page was re-embedded
    kb = KnowledgeBase.open("bank", ws, encoder=encoder)
    assert kb.store.count() == kb.catalog.counts()["chunks"] == 5
    assert [h.chunk.source for h in kb.search("房贷 提前还款", retriever="bm25")] == []
    assert "same day" in kb.search("wire transfer", retriever="bm25")[0].chunk.text


def test_add_and_delete_keep_vectors_and_bm25_in_step(
    tmp_path: Path, corpus: Path, encoder: HashEncoder
) -> None:
    ws = Workspace.resolve(tmp_path / "ws")
    _build(ws, corpus, encoder)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "fx.md").write_text("外汇兑换每日限额五万美元。", encoding="utf-8")
    kb = KnowledgeBase.open("bank", ws, encoder=encoder)
    assert kb.sync(extra, FAQ, remove_missing=False).added == ["fx.md"]
    assert kb.catalog.counts()["sources"] == 5  # add keeps the others
    assert kb.search("外汇兑换限额", retriever="bm25")[0].chunk.source == "fx.md"
    kb.delete(["fx.md"])
    assert kb.search("外汇兑换限额", retriever="bm25") == []
    assert kb.store.count() == kb.catalog.counts()["chunks"]
    with pytest.raises(DataError, match=r"did you mean 'faq\.csv'"):
        kb.delete(["faq.cvs"])


def test_deleting_the_original_promotes_its_duplicate(tmp_path: Path, encoder: HashEncoder) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.md").write_text("年费政策：首年免年费。", encoding="utf-8")
    (root / "b.md").write_text("年费政策：首年免年费。", encoding="utf-8")
    ws = Workspace.resolve(tmp_path / "ws")
    _build(ws, root, encoder)
    kb = KnowledgeBase.open("bank", ws, encoder=encoder)
    assert kb.catalog.counts()["duplicates"] == 1
    kb.delete(["a.md"])
    (hit,) = kb.search("年费", retriever="bm25")
    assert hit.chunk.source == "b.md" and kb.store.count() == 1


def test_retrievers_thresholds_and_missing_reranker(
    tmp_path: Path, corpus: Path, encoder: HashEncoder
) -> None:
    ws = Workspace.resolve(tmp_path / "ws")
    _build(ws, corpus, encoder, top_k=3, candidates=5)
    kb = KnowledgeBase.open("bank", ws, encoder=encoder)
    for retriever in ("bm25", "dense", "hybrid"):
        hits = kb.search("信用卡丢了", retriever=retriever)  # type: ignore[arg-type]
        assert hits[0].chunk.doc_id == "q1", retriever
        assert len(hits) <= 3
    hybrid = kb.search("信用卡丢了", retriever="hybrid")[0]
    assert set(hybrid.scores) == {"bm25", "dense", "rrf"}
    assert kb.search("reset PIN", retriever="dense")[0].chunk.doc_id == "q4"
    kb.spec = kb.spec.model_copy(update={"min_score": 0.99})
    assert kb.search("信用卡", retriever="dense") == []
    with pytest.raises(ModelError, match="needs a reranker"):
        kb.search("信用卡", retriever="hybrid+rerank")


class DictTagger:
    """Stand-in NER: tags every occurrence of known names (texts -> (start, end, type, text))."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def __call__(self, texts: Sequence[str]) -> list[list[Span]]:
        out = []
        for text in texts:
            spans = []
            for name, kind in self.names.items():
                start = text.find(name)
                if start >= 0:
                    spans.append((start, start + len(name), kind, name))
            out.append(spans)
        return out


def test_entity_index_graph_and_boost(tmp_path: Path, encoder: HashEncoder) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.md").write_text("招商银行的信用卡年费政策。", encoding="utf-8")
    (root / "b.md").write_text("信用卡年费政策说明，工商银行适用。", encoding="utf-8")
    (root / "c.md").write_text("Visa cards issued by 招商银行 work abroad.", encoding="utf-8")
    tagger = DictTagger({"招商银行": "ORG", "工商银行": "ORG", "Visa": "BRAND"})
    ws = Workspace.resolve(tmp_path / "ws")
    build_kb("bank", ws, root, FAQ, spec=KbSpec(entity_boost=0.0), tagger=tagger, encoder=encoder)
    plain = KnowledgeBase.open("bank", ws, encoder=encoder, tagger=tagger)
    assert set(plain.entities.chunks) == {"招商银行", "工商银行", "visa"}
    graph = plain.entities.graph()
    assert graph.has_edge("招商银行", "visa") and not graph.has_edge("招商银行", "工商银行")
    assert graph.nodes["visa"]["type"] == "BRAND"
    query = "工商银行 信用卡年费"
    boosted = KnowledgeBase.open("bank", ws, encoder=encoder, tagger=tagger)
    boosted.spec = boosted.spec.model_copy(update={"entity_boost": 5.0})
    assert boosted.search(query, retriever="hybrid")[0].chunk.source == "b.md"
    ranks = {h.chunk.source: h.score for h in plain.search(query, retriever="hybrid")}
    boosted_ranks = {h.chunk.source: h.score for h in boosted.search(query, retriever="hybrid")}
    assert boosted_ranks["b.md"] > ranks["b.md"]
    assert boosted_ranks["a.md"] == pytest.approx(ranks["a.md"])  # no shared entity, no boost


def test_eval_counts_queries_once_and_duplicates_as_hits(
    tmp_path: Path, corpus: Path, encoder: HashEncoder
) -> None:
    ws = Workspace.resolve(tmp_path / "ws")
    _build(ws, corpus, encoder)
    data = tmp_path / "gold.csv"
    data.write_text(
        "query,gold\n怎么修改密码,q3\n怎么修改密码,q9\n信用卡丢了,q1\nrefund time,nope\n",
        encoding="utf-8",
    )
    gold = read_gold(data, "query", "gold")
    assert gold["怎么修改密码"] == {"q3", "q9"}
    report = evaluate_kb(KnowledgeBase.open("bank", ws, encoder=encoder), gold, "bm25")
    assert report["queries"] == 3
    assert report["recall@1"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["mrr@10"] == pytest.approx(2 / 3, abs=1e-4)
    with pytest.raises(DataError, match="column 'question' not found"):
        read_gold(data, "question", "gold")


def test_unknown_kb_and_empty_input(tmp_path: Path, encoder: HashEncoder) -> None:
    ws = Workspace.resolve(tmp_path / "ws")
    with pytest.raises(DataError, match="no knowledge base 'nope'"):
        KnowledgeBase.open("nope", ws)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blank.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="nothing to index"):
        _build(ws, empty, encoder)
    assert not (ws.root / "kb" / "bank").exists()  # a failed first build leaves nothing
    with pytest.raises(DataError, match="invalid KB name"):
        KnowledgeBase.open("../x", ws)


def test_changing_the_chunking_rebuilds(tmp_path: Path, corpus: Path, encoder: HashEncoder) -> None:
    ws = Workspace.resolve(tmp_path / "ws")
    _build(ws, corpus, encoder)
    again = _build(ws, corpus, encoder, chunk_size=40, chunk_overlap=5)
    assert again["rebuilt"] is True and len(again["added"]) == 4  # type: ignore[arg-type]
    same = _build(ws, corpus, encoder, chunk_size=40, chunk_overlap=5, top_k=3)
    assert same["rebuilt"] is False and len(same["unchanged"]) == 4  # type: ignore[arg-type]
