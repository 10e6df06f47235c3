"""Vector stores: embedded FAISS always; PostgreSQL + pgvector where a server is given.

LLMLINE_TEST_PGVECTOR_URL names a server with the pgvector extension (`.ci/start-pgvector` starts
one from a pinned wheel); LLMLINE_TEST_POSTGRES_URL (set by `.ci/start-postgres`) names Debian's
server, which has no pgvector package in bookworm: there the store must refuse with a clear error.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from llmline.errors import SpecError
from llmline.kb.vectors import (
    FaissStore,
    PgVectorStore,
    connection_url,
    open_store,
    pg_statements,
    table_name,
    vector_literal,
)


def _unit(rows: list[list[float]]) -> np.ndarray:
    array = np.asarray(rows, dtype=np.float32)
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def test_faiss_add_search_delete_and_reload(tmp_path: Path) -> None:
    store = FaissStore(tmp_path / "v.faiss", 3)
    store.add([10, 20, 30], _unit([[1, 0, 0], [0, 1, 0], [1, 1, 0]]))
    assert [i for i, _ in store.search(_unit([[1, 0.1, 0]])[0], 2)] == [10, 30]
    store.delete([10])
    store.save()
    again = FaissStore(tmp_path / "v.faiss", 3)
    assert again.count() == 2
    top, score = again.search(_unit([[1, 0.1, 0]])[0], 5)[0]
    assert top == 30 and 0.7 < score < 0.8  # cosine of (1, .1, 0) and (1, 1, 0)
    with pytest.raises(SpecError, match="3-d vectors"):
        FaissStore(tmp_path / "v.faiss", 4)


def test_empty_faiss_store_searches_to_nothing(tmp_path: Path) -> None:
    assert FaissStore(tmp_path / "v.faiss", 3).search(np.ones(3), 5) == []


def test_pgvector_sql_is_parameterised_and_names_are_safe() -> None:
    assert table_name("Bank-FAQ.zh") == "llmline_kb_bank_faq_zh"
    sql = pg_statements("llmline_kb_x", 384)
    assert "vector(384)" in sql["create"]
    assert "ORDER BY embedding <=> %s::vector LIMIT %s" in sql["search"]
    assert "ON CONFLICT (id) DO UPDATE" in sql["insert"]
    assert vector_literal(np.array([0.5, -1.0, 1e-9], dtype=np.float32)) == "[0.5,-1,1e-09]"
    assert connection_url("postgresql+psycopg://u:p@h/db") == "postgresql://u:p@h/db"


def test_bad_store_urls_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"unsupported kb\.store_url"):
        open_store(tmp_path, "x", 3, "mysql://h/db")
    with pytest.raises(SpecError, match="cannot connect to PostgreSQL"):
        open_store(tmp_path, "x", 3, "postgresql+psycopg://u:p@127.0.0.1:1/db")


def _server(env: str) -> str:
    url = os.environ.get(env)
    if not url:
        pytest.skip(f"no PostgreSQL server: set {env}=postgresql+psycopg://USER:PW@HOST/DB")
    pytest.importorskip("psycopg")
    return url


@pytest.mark.integration
def test_debian_server_without_pgvector_is_refused_clearly() -> None:
    url = _server("LLMLINE_TEST_POSTGRES_URL")
    try:
        store = PgVectorStore(url, "probe", 3)
    except SpecError as exc:
        assert exc.where == "kb.store_url" and "pgvector" in exc.what
        return
    store.drop()  # this server has pgvector after all: the store opened


@pytest.mark.integration
def test_pgvector_store_round_trip() -> None:
    store = PgVectorStore(_server("LLMLINE_TEST_PGVECTOR_URL"), "test_round_trip", 3)
    store.drop()
    store = PgVectorStore(_server("LLMLINE_TEST_PGVECTOR_URL"), "test_round_trip", 3)
    store.add([10, 20, 30], _unit([[1, 0, 0], [0, 1, 0], [1, 1, 0]]))
    store.add([20], _unit([[0, 0, 1]]))  # an update replaces the vector
    assert [i for i, _ in store.search(_unit([[1, 0.1, 0]])[0], 2)] == [10, 30]
    assert store.search(_unit([[0, 0, 1]])[0], 1)[0][0] == 20
    store.delete([10])
    assert store.count() == 2
    with pytest.raises(SpecError, match="3-d vectors"):
        PgVectorStore(_server("LLMLINE_TEST_PGVECTOR_URL"), "test_round_trip", 4)
    store.drop()


@pytest.mark.integration
def test_kb_on_pgvector_matches_the_embedded_store(tmp_path: Path, corpus: Path) -> None:
    from llmline.kb.base import KnowledgeBase
    from llmline.kb.build import build_kb
    from llmline.kb.ingest import TableColumns
    from llmline.spec.kb import KbSpec
    from llmline.workspace import Workspace
    from tests.kb.conftest import HashEncoder

    url = _server("LLMLINE_TEST_PGVECTOR_URL")
    ws = Workspace.resolve(tmp_path / "ws")
    encoder = HashEncoder()
    build_kb("pg", ws, corpus, TableColumns("id"), spec=KbSpec(store_url=url), encoder=encoder)
    build_kb("local", ws, corpus, TableColumns("id"), spec=KbSpec(), encoder=encoder)
    pg, local = (KnowledgeBase.open(n, ws, encoder=encoder) for n in ("pg", "local"))
    try:
        for query in ("信用卡丢了", "reset my PIN", "wire transfer"):
            got = [(h.chunk.doc_id, round(h.score, 4)) for h in pg.search(query, retriever="dense")]
            want = [
                (h.chunk.doc_id, round(h.score, 4)) for h in local.search(query, retriever="dense")
            ]
            assert got == want
        pg.delete(["faq.csv"])
        assert pg.store.count() == pg.catalog.counts()["chunks"]
    finally:
        pg.remove()
