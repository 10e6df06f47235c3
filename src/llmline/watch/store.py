"""The watch tables on the monitoring store's database: posts, entity links, series, alerts, files.

They live beside the service's `requests` table (same URL, SQLite `<workspace>/monitor.db` by
default, PostgreSQL by URL) but in tables of their own, so the two applications never touch each
other's rows. Text is stored only redacted: the stream redacts before it calls `add_posts`.
Series rows are updated by read-add-write in one transaction, which works the same on SQLite and
PostgreSQL (no dialect-specific upsert).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.errors import ServeError

TOTAL = "*"  # the series of every post, with or without an entity


def _tables(metadata: Any) -> dict[str, Any]:
    from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

    posts = Table(
        "watch_posts", metadata,
        Column("id", String(32), primary_key=True),
        Column("ts", Float, nullable=False),
        Column("received", Float, nullable=False),
        Column("origin", String(500), nullable=False),
        Column("lang", String(8), nullable=False),
        Column("text_redacted", Text, nullable=False),
        Column("label", String(10)),
        Column("score", Float),
        Column("reposts", Integer, nullable=False, default=0),
    )  # fmt: skip
    links = Table(
        "watch_links", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("post_id", String(32), nullable=False),
        Column("ts", Float, nullable=False),
        Column("entity", String(200), nullable=False),
        Column("listed", Boolean, nullable=False),
        Column("label", String(10), nullable=False),
        Column("score", Float, nullable=False),
        Column("model_version", String(300), nullable=False),
    )  # fmt: skip
    series = Table(
        "watch_series", metadata,
        Column("entity", String(200), primary_key=True),
        Column("bucket", Float, primary_key=True),
        Column("volume", Integer, nullable=False),
        Column("negative", Integer, nullable=False),
        Column("neutral", Integer, nullable=False),
        Column("positive", Integer, nullable=False),
        Column("score_sum", Float, nullable=False),
    )  # fmt: skip
    alerts = Table(
        "watch_alerts", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("ts", Float, nullable=False),
        Column("created", Float, nullable=False),
        Column("entity", String(200), nullable=False),
        Column("rule", String(100), nullable=False),
        Column("metric", String(40), nullable=False),
        Column("window_start", Float, nullable=False),
        Column("window_end", Float, nullable=False),
        Column("value", Float, nullable=False),
        Column("baseline", Float, nullable=False),
        Column("p_value", Float, nullable=False),
        Column("posts", Integer, nullable=False),
        Column("post_ids", Text, nullable=False),
    )  # fmt: skip
    files = Table(
        "watch_files", metadata,
        Column("sha256", String(64), primary_key=True),
        Column("path", String(1000), nullable=False),
        Column("ts", Float, nullable=False),
        Column("posts", Integer, nullable=False),
        Column("malformed", Integer, nullable=False),
    )  # fmt: skip
    Index("ix_watch_links_entity_ts", links.c.entity, links.c.ts)
    Index("ix_watch_links_post", links.c.post_id)
    Index("ix_watch_posts_ts", posts.c.ts)
    Index("ix_watch_alerts_ts", alerts.c.ts)
    return {"posts": posts, "links": links, "series": series, "alerts": alerts, "files": files}


@dataclass
class SeriesDelta:
    volume: int = 0
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    score_sum: float = 0.0

    def add(self, label: str, score: float) -> None:
        self.volume += 1
        setattr(self, label, getattr(self, label) + 1)
        self.score_sum += score


class WatchStore:
    """Create, append to and query the watch tables."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import MetaData, create_engine

        self.url = url
        sqlite = url.startswith("sqlite")
        self.engine = create_engine(url, connect_args={"timeout": 30} if sqlite else {})
        self.metadata = MetaData()
        self.t = _tables(self.metadata)
        self.metadata.create_all(self.engine)

    # -- writes ---------------------------------------------------------------------------------

    def add(
        self,
        posts: list[dict[str, Any]],
        links: list[dict[str, Any]],
        series: dict[tuple[str, float], SeriesDelta],
        reposts: dict[str, int],
    ) -> None:
        """One batch in one transaction: posts, their links, series increments, repost counts."""
        from sqlalchemy import update

        with self.engine.begin() as conn:
            if posts:
                conn.execute(self.t["posts"].insert(), posts)
            if links:
                conn.execute(self.t["links"].insert(), links)
            table = self.t["posts"]
            for post_id, extra in reposts.items():
                conn.execute(
                    update(table)
                    .where(table.c.id == post_id)
                    .values(reposts=table.c.reposts + extra)
                )
            if series:
                self._bump(conn, series)

    def _bump(self, conn: Any, series: dict[tuple[str, float], SeriesDelta]) -> None:
        """Add to existing buckets in one executemany, insert the new ones in another."""
        from sqlalchemy import bindparam, select, update

        table = self.t["series"]
        buckets = sorted({bucket for _, bucket in series})
        existing = {
            (row.entity, row.bucket)
            for row in conn.execute(
                select(table.c.entity, table.c.bucket).where(table.c.bucket.in_(buckets))
            )
        }
        rows = [{"e": e, "b": b, **d.__dict__} for (e, b), d in series.items()]
        old = [row for row in rows if (row["e"], row["b"]) in existing]
        new = [row for row in rows if (row["e"], row["b"]) not in existing]
        if old:
            names = ("volume", "negative", "neutral", "positive", "score_sum")
            statement = (
                update(table)
                .where((table.c.entity == bindparam("e")) & (table.c.bucket == bindparam("b")))
                .values({name: getattr(table.c, name) + bindparam(name) for name in names})
            )
            conn.execute(statement, old)
        if new:
            conn.execute(
                table.insert(),
                [{"entity": r.pop("e"), "bucket": r.pop("b"), **r} for r in new],
            )

    def add_alert(self, alert: dict[str, Any]) -> int:
        row = {**alert, "post_ids": json.dumps(alert["post_ids"]), "created": time.time()}
        with self.engine.begin() as conn:
            key = conn.execute(self.t["alerts"].insert(), [row]).inserted_primary_key
        return int(key[0]) if key else 0

    def record_file(self, sha256: str, path: Path, posts: int, malformed: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.t["files"].insert(),
                [{"sha256": sha256, "path": str(path), "ts": time.time(), "posts": posts,
                  "malformed": malformed}],
            )  # fmt: skip

    # -- reads ----------------------------------------------------------------------------------

    def _select(self, query: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def file_seen(self, sha256: str) -> bool:
        from sqlalchemy import select

        table = self.t["files"]
        return bool(self._select(select(table.c.sha256).where(table.c.sha256 == sha256)))

    def series(
        self, entity: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[dict[str, Any]]:
        """Buckets oldest first, with shares and mean score filled in."""
        from sqlalchemy import select

        table = self.t["series"]
        query = select(table).order_by(table.c.entity, table.c.bucket)
        if entity is not None:
            query = query.where(table.c.entity == entity)
        if since is not None:
            query = query.where(table.c.bucket >= since)
        if until is not None:
            query = query.where(table.c.bucket < until)
        return [_with_shares(row) for row in self._select(query)]

    def alerts(
        self, since: float | None = None, until: float | None = None
    ) -> list[dict[str, Any]]:
        from sqlalchemy import select

        table = self.t["alerts"]
        query = select(table).order_by(table.c.ts)
        if since is not None:
            query = query.where(table.c.ts >= since)
        if until is not None:
            query = query.where(table.c.ts < until)
        return [{**row, "post_ids": json.loads(row["post_ids"])} for row in self._select(query)]

    def posts(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        from sqlalchemy import select

        wanted = list(dict.fromkeys(ids))
        found: dict[str, dict[str, Any]] = {}
        table = self.t["posts"]
        for start in range(0, len(wanted), 500):  # stay under bound-parameter limits
            chunk = wanted[start : start + 500]
            for row in self._select(select(table).where(table.c.id.in_(chunk))):
                found[row["id"]] = row
        return [found[i] for i in wanted if i in found]

    def links(
        self, since: float | None = None, until: float | None = None, *, most_negative: int = 0
    ) -> list[dict[str, Any]]:
        """Entity links with their post's redacted text, oldest first (or the N most negative)."""
        from sqlalchemy import select

        links, posts = self.t["links"], self.t["posts"]
        query = select(links, posts.c.text_redacted, posts.c.lang).join(
            posts, posts.c.id == links.c.post_id
        )
        if since is not None:
            query = query.where(links.c.ts >= since)
        if until is not None:
            query = query.where(links.c.ts < until)
        if most_negative:
            query = query.order_by(links.c.score, links.c.ts).limit(most_negative)
        else:
            query = query.order_by(links.c.ts, links.c.id)
        return self._select(query)

    def latest_link_ts(self) -> float | None:
        from sqlalchemy import func, select

        with self.engine.connect() as conn:
            found = conn.execute(select(func.max(self.t["links"].c.ts))).scalar_one()
        return None if found is None else float(found)

    def count(self, name: str) -> int:
        from sqlalchemy import func, select

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(self.t[name])).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()


def _with_shares(row: dict[str, Any]) -> dict[str, Any]:
    volume = row["volume"] or 1
    return {
        **row,
        **{f"{name}_share": row[name] / volume for name in ("negative", "neutral", "positive")},
        "mean_score": row["score_sum"] / volume,
    }


def open_watch_store(url: str) -> WatchStore:
    """Open (and create) the watch tables; a bad URL or server is one clear error."""
    from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError

    try:
        return WatchStore(url)
    except (DatabaseError, OperationalError, ArgumentError) as exc:
        raise ServeError(
            f"cannot open the watch store ({type(exc).__name__}: {exc})",
            where=url,
            fix="check watch.store_url, the server and the credentials",
        ) from None
