"""Vector stores keyed by catalog chunk id: embedded FAISS (default) or PostgreSQL + pgvector.

Why FAISS for the embedded default: measured on this 2-core machine (benchmarks/bench_kb.py,
384-d vectors, top 50, load average ~9 from other jobs), FAISS' exact flat index answered in
0.8 ms p50 at 10k vectors and 82 ms at 100k, LanceDB's exact search (no ANN index) in 25 ms and
615 ms. sqlite-vec could not be measured: this Python's sqlite3 is built without
`enable_load_extension`, which is itself a reason not to depend on it; hnswlib publishes no
wheel for Python 3.11 (0.8.0, 2023, source only). FAISS is exact (no recall loss, no graph
parameters), adds and removes by id (IndexIDMap2), is maintained by Meta with CPU wheels, and
saves to its own binary format (no pickle). LanceDB and Qdrant's local mode also bring storage
engines that would duplicate the SQLite catalog, which already keeps the chunk text.

Both stores take L2-normalised float32 vectors, so the score is the cosine similarity.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from llmline.errors import SpecError


class VectorStore(Protocol):
    dim: int

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None: ...
    def delete(self, ids: Sequence[int]) -> None: ...
    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]: ...
    def count(self) -> int: ...
    def save(self) -> None: ...


class FaissStore:
    """Inner-product search with ids, saved to one file: exact (IndexFlatIP) for small KBs,
    approximate (HNSW) once the KB outgrows `approximate_above` vectors.

    Why switch by size: an exact scan is free of recall loss and costs 1 ms at 10k vectors,
    but 100k 384-d vectors (150 MB) no longer fit the cache and the scan took 82 ms p50 on the
    shared 2 cores; HNSW answers in a few ms with recall@10 >= 0.95 of the exact scan
    (benchmarks/bench_kb.py measures both). HNSW cannot delete a vector, so deletes become
    tombstones (ids filtered out of results, saved beside the index in `*.deleted.npy`), and the
    graph is rebuilt from the live vectors once tombstones reach REBUILD_SHARE of the index, or
    when a tombstoned id is added again. Falling below half the threshold goes back to exact.
    """

    kind = "faiss"
    HNSW_M = 32  # neighbours per node: the usual default for 100-1000-d embeddings
    EF_CONSTRUCTION = 80
    EF_SEARCH = 96  # at least 2x the 50 candidates a hybrid search asks for
    REBUILD_SHARE = 0.1

    def __init__(
        self, path: Path, dim: int, *, index: str = "auto", approximate_above: int = 20_000
    ) -> None:
        import faiss

        self.path, self.dim = path, dim
        self.mode, self.approximate_above = index, approximate_above
        # One query at a time gains nothing from OpenMP threads, and on shared cores their
        # spin-waiting made a 2,000-vector search 100x slower (0.2 ms -> 16 ms, measured).
        faiss.omp_set_num_threads(1)
        self.index: Any = None  # IndexIDMap2 over IndexFlatIP or IndexHNSWFlat
        self.deleted: set[int] = set()
        self._selector: tuple[int, Any, Any] | None = None  # cached tombstone filter
        if path.exists():
            self.index = faiss.read_index(str(path))
            if self.index.d != dim:
                raise SpecError(
                    f"vector index {str(path)!r} holds {self.index.d}-d vectors, "
                    f"the encoder makes {dim}-d ones",
                    where="kb.encoder",
                    fix="rebuild the KB (delete its folder) after changing the encoder",
                )
            if self._tomb_path.exists():
                self.deleted = {int(i) for i in np.load(self._tomb_path, allow_pickle=False)}
            if self._fit_kind():  # the spec's index setting changed since the save: keep
                self.save()  # the converted index, or every later open converts again
        else:
            self.index = self._empty(approximate=index == "approximate")

    @property
    def _tomb_path(self) -> Path:
        return self.path.with_name(self.path.name + ".deleted.npy")

    @property
    def approximate(self) -> bool:
        """Whether the index is an HNSW graph (else an exact flat scan)."""
        import faiss

        return isinstance(faiss.downcast_index(self.index.index), faiss.IndexHNSW)

    def _empty(self, *, approximate: bool) -> Any:
        import faiss

        if not approximate:
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        graph = faiss.IndexHNSWFlat(self.dim, self.HNSW_M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self.EF_CONSTRUCTION
        return faiss.IndexIDMap2(graph)

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        if not len(ids):
            return
        if self.deleted.intersection(int(i) for i in ids):  # the graph still holds the old one
            self._rebuild(approximate=self.approximate)
        self.index.add_with_ids(_f32(vectors), np.asarray(ids, dtype=np.int64))
        self._fit_kind()

    def delete(self, ids: Sequence[int]) -> None:
        if not len(ids):
            return
        if not self.approximate:
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))
        else:
            self.deleted |= {int(i) for i in ids} & set(self._ids().tolist())
        self._fit_kind()

    def _fit_kind(self) -> bool:
        """Switch exact <-> approximate by size (auto), or drop tombstones past their share;
        whether the index was rebuilt."""
        live = self.count()
        want = self.approximate
        if self.mode == "auto":
            if live > self.approximate_above:
                want = True
            elif live < self.approximate_above // 2:
                want = False
        else:
            want = self.mode == "approximate"
        if want != self.approximate or len(self.deleted) > self.REBUILD_SHARE * max(live, 1):
            self._rebuild(approximate=want)
            return True
        return False

    def _ids(self) -> np.ndarray:
        import faiss

        return faiss.vector_to_array(self.index.id_map)

    def _rebuild(self, *, approximate: bool) -> None:
        """A fresh index of the live vectors (tombstoned ones left out)."""
        ids = self._ids()
        vectors = self.index.index.reconstruct_n(0, self.index.ntotal) if len(ids) else None
        keep = np.fromiter((int(i) not in self.deleted for i in ids), bool, len(ids))
        self.index, self.deleted = self._empty(approximate=approximate), set()
        if vectors is not None and keep.any():
            self.index.add_with_ids(_f32(vectors[keep]), ids[keep])

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self.count() == 0:
            return []
        k = min(k, self.count())
        vector = _f32(query.reshape(1, -1))
        if self.approximate:
            scores, ids = self.index.search(vector, k, params=self._hnsw_params(k))
        else:
            scores, ids = self.index.search(vector, k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _hnsw_params(self, k: int) -> Any:
        """efSearch for k results; tombstones excluded inside the graph walk (an IDSelector),
        so a search never has to over-fetch past them."""
        import faiss

        swig: Any = faiss  # the bundled type stubs lack SearchParametersHNSW
        params = swig.SearchParametersHNSW(efSearch=max(self.EF_SEARCH, 2 * k))
        if self.deleted:
            if self._selector is None or self._selector[0] != len(self.deleted):
                batch = faiss.IDSelectorBatch(np.asarray(sorted(self.deleted), dtype=np.int64))
                # both SWIG objects must outlive the searches that use them: kept here
                self._selector = (len(self.deleted), batch, faiss.IDSelectorNot(batch))
            params.sel = self._selector[2]
        return params

    def count(self) -> int:
        return int(self.index.ntotal) - len(self.deleted)

    def save(self) -> None:
        import faiss

        from llmline.lineage import atomic_path

        # The tombstones go first: a crash between the two writes leaves a stale vector
        # unmasked, which search drops anyway (no catalog row), never a live one hidden.
        if self.deleted or self._tomb_path.exists():
            with atomic_path(self._tomb_path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, np.asarray(sorted(self.deleted), dtype=np.int64))
        with atomic_path(self.path) as tmp:
            faiss.write_index(self.index, str(tmp))


def _f32(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype=np.float32)


def table_name(kb_name: str) -> str:
    """A safe SQL identifier for the KB's table (names are validated, this is belt and braces)."""
    return "llmline_kb_" + re.sub(r"[^a-z0-9_]", "_", kb_name.lower())


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form, `[0.1,0.2,...]`, passed as a parameter and cast with ::vector."""
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


def pg_statements(table: str, dim: int) -> dict[str, str]:
    """The SQL of the pgvector store; `<=>` is cosine distance, so score = 1 - distance."""
    return {
        "extension": "CREATE EXTENSION IF NOT EXISTS vector",
        "create": f"CREATE TABLE IF NOT EXISTS {table} (id BIGINT PRIMARY KEY, "
        f"embedding vector({dim}) NOT NULL)",
        "insert": f"INSERT INTO {table} (id, embedding) VALUES (%s, %s::vector) "
        "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding",
        "delete": f"DELETE FROM {table} WHERE id = ANY(%s)",
        "search": f"SELECT id, 1 - (embedding <=> %s::vector) AS score FROM {table} "
        "ORDER BY embedding <=> %s::vector LIMIT %s",
        "count": f"SELECT count(*) FROM {table}",
        "dim": f"SELECT atttypmod FROM pg_attribute WHERE attrelid = '{table}'::regclass "
        "AND attname = 'embedding'",
    }


def connection_url(url: str) -> str:
    """SQLAlchemy-style `postgresql+psycopg://` to the libpq form psycopg connects with."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


class PgVectorStore:
    """Vectors in a PostgreSQL table with the pgvector extension (exact cosine search)."""

    kind = "pgvector"

    def __init__(self, url: str, kb_name: str, dim: int) -> None:
        self.dim, self.table = dim, table_name(kb_name)
        self.sql = pg_statements(self.table, dim)
        self.conn = _connect(url)
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        import psycopg

        try:
            with self.conn.cursor() as cur:
                cur.execute(self.sql["extension"])
                cur.execute(self.sql["create"])
                cur.execute(self.sql["dim"])
                stored = cur.fetchone()
            self.conn.commit()
        except psycopg.Error as exc:
            self.conn.rollback()
            raise SpecError(
                f"PostgreSQL cannot provide the pgvector extension ({exc.diag.message_primary})",
                where="kb.store_url",
                fix="install pgvector on the server (CREATE EXTENSION vector needs it), "
                "or leave kb.store_url empty for the embedded store",
            ) from None
        if stored and stored[0] not in (-1, self.dim):
            raise SpecError(
                f"table {self.table} holds {stored[0]}-d vectors, the encoder makes {self.dim}-d",
                where="kb.encoder",
                fix="delete the KB (its table too) and rebuild after changing the encoder",
            )

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        rows = [(int(i), vector_literal(v)) for i, v in zip(ids, vectors, strict=True)]
        with self.conn.cursor() as cur:
            cur.executemany(self.sql["insert"], rows)
        self.conn.commit()

    def delete(self, ids: Sequence[int]) -> None:
        with self.conn.cursor() as cur:
            cur.execute(self.sql["delete"], ([int(i) for i in ids],))
        self.conn.commit()

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        literal = vector_literal(query)
        with self.conn.cursor() as cur:
            cur.execute(self.sql["search"], (literal, literal, k))
            return [(int(i), float(s)) for i, s in cur.fetchall()]

    def count(self) -> int:
        with self.conn.cursor() as cur:
            cur.execute(self.sql["count"])
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def save(self) -> None:
        """Every change is committed as it is made."""

    def drop(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.conn.commit()


def _connect(url: str) -> Any:
    try:
        import psycopg
    except ImportError:
        raise SpecError(
            "kb.store_url names PostgreSQL but psycopg is not installed",
            fix="pip install 'llmline[postgres]'",
        ) from None
    try:
        return psycopg.connect(connection_url(url))
    except psycopg.Error as exc:
        raise SpecError(
            f"cannot connect to PostgreSQL ({str(exc).strip().splitlines()[0]})",
            where="kb.store_url",
            fix="check host, port, user and password in the URL, and that the server runs",
        ) from None


def open_store(
    directory: Path, kb_name: str, dim: int, url: str | None, *, index: str = "auto",
    approximate_above: int = 20_000,
) -> VectorStore:  # fmt: skip
    """The embedded FAISS file under the KB dir, or the pgvector table `url` points at
    (`index`/`approximate_above` choose FAISS' exact or HNSW index; pgvector scans exactly)."""
    if url is None:
        return FaissStore(
            directory / "vectors.faiss", dim, index=index, approximate_above=approximate_above
        )
    if not url.startswith(("postgresql", "postgres")):
        raise SpecError(
            f"unsupported kb.store_url {url!r}",
            where="kb.store_url",
            fix="use postgresql+psycopg://USER:PW@HOST/DB, or leave it empty",
        )
    return PgVectorStore(url, kb_name, dim)
