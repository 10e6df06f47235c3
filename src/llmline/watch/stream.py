"""The stream: fold reposts, redact, detect language, link entities, judge, store, detect surges.

Every source (a watched directory, `POST /v1/ingest`, a replayed file) hands batches of `Post`s
to one `WatchStream.process`, so they behave the same. Posts are handled in event-time order
within a batch, and the surge detector sees each link as it would have arrived, so a replay at
`--speed max` alerts at the same post as a live stream would.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmline.spec.watch import WatchSpec, duration_seconds
from llmline.watch.entities import EntityLinker, Mention, entities_of
from llmline.watch.ingest import FileBatch, Post, read_file, ready_files
from llmline.watch.language import post_language
from llmline.watch.notify import Notifier
from llmline.watch.sentiment import Judgement, LanguageJudges, TargetSentiment, mark_target
from llmline.watch.store import TOTAL, SeriesDelta, WatchStore
from llmline.watch.surge import Alert, SurgeDetector

log = logging.getLogger("llmline.watch")
_REPOST_PREFIX = re.compile(r"^(?:\s*(?:RT|转发)\s*@[^\s:：]+\s*[:：]?\s*)+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_MAX_REMEMBERED = 200_000  # posts kept for folding; the indexes restart beyond this


@dataclass
class BatchReport:
    received: int = 0
    stored: int = 0
    folded: int = 0
    without_entity: int = 0
    links: int = 0
    alerts: list[Alert] = field(default_factory=list)


def repost_key(text: str) -> str:
    """Reposts differ only by an `RT @user:` prefix, case and spacing."""
    core = _SPACE.sub(" ", _REPOST_PREFIX.sub("", text)).strip().casefold()
    return hashlib.sha256(core.encode()).hexdigest()


class Folder:
    """Exact reposts by key, near-duplicates by MinHash LSH (the data chain's `near_dedup`)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._reset()

    def _reset(self) -> None:
        from llmline.data.minhash import NearDuplicateIndex

        self._exact: dict[str, str] = {}
        self._near = NearDuplicateIndex(self.threshold)
        self._near_ids: list[str] = []

    def originals(self, texts: Sequence[str], post_ids: Sequence[str]) -> list[str | None]:
        """Per text, the id of the post it repeats, or None (it is then remembered as original).

        Signatures of the whole batch are computed in one vectorised pass (a signature per call
        cost about 0.8 ms a post); matching stays sequential so a batch folds into itself.
        """
        from llmline.data.minhash import shingles

        if len(self._near_ids) >= _MAX_REMEMBERED:
            self._reset()
        sets = [shingles(_REPOST_PREFIX.sub("", text)) for text in texts]
        signatures: Any = self._near.hasher.signatures(sets) if sets else []
        found: list[str | None] = []
        for text, pid, shingle_set, signature in zip(
            texts, post_ids, sets, signatures, strict=True
        ):
            key = repost_key(text)
            match = self._exact.get(key)
            if match is None:
                near = self._near.query(signature, shingle_set)
                match = None if near is None else self._near_ids[near[0]]
            if match is None:
                self._exact[key] = pid
                self._near.add(signature, shingle_set)
                self._near_ids.append(pid)
            found.append(match)
        return found


class WatchStream:
    """One stream's state: the folder, the detector and the counters; `process` is thread-safe."""

    def __init__(
        self,
        spec: WatchSpec,
        store: WatchStore,
        linker: EntityLinker,
        sentiment: TargetSentiment | LanguageJudges,
        notifier: Notifier | None = None,
    ) -> None:
        self.spec, self.store, self.linker = spec, store, linker
        self.judges = (
            sentiment if isinstance(sentiment, LanguageJudges) else LanguageJudges(sentiment)
        )
        self.notifier = notifier or Notifier(store, spec.webhook_url)
        self.bucket_s = duration_seconds(spec.bucket)
        self.folder = Folder(spec.dedup_threshold)
        self.detector = SurgeDetector(
            spec.rules,
            halflife=spec.baseline_halflife,
            min_baseline_posts=spec.min_baseline_posts,
        )
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def process(self, posts: Sequence[Post]) -> BatchReport:
        with self._lock:
            return self._process(sorted(posts, key=lambda p: p.ts))

    def _process(self, posts: list[Post]) -> BatchReport:
        from llmline.data.pii import redact_text

        report = BatchReport(received=len(posts))
        kept, ids, reposts = self._fold(posts)
        texts = [redact_text(p.text)[0] for p in kept]  # nothing below sees raw PII
        languages = [post_language(text) for text in texts]
        mentions = self.linker.link(texts, languages)
        judged = self._judge(texts, mentions, languages)
        now = time.time()
        post_rows, link_rows = [], []
        series: dict[tuple[str, float], SeriesDelta] = {}
        for post, pid, text, found, language, judgements in zip(
            kept, ids, texts, mentions, languages, judged, strict=True
        ):
            overall = judgements[0][1]
            post_rows.append(
                {"id": pid, "ts": post.ts, "received": now, "origin": post.origin[:500],
                 "lang": language, "text_redacted": text, "label": overall.label,
                 "score": overall.score, "reposts": 0}
            )  # fmt: skip
            self._count(series, TOTAL, post.ts, overall)
            version = self.judges.pick(language).version[:300]
            for entity, judgement in judgements if found else ():
                listed = any(m.listed for m in found if m.entity == entity)
                link_rows.append(
                    {"post_id": pid, "ts": post.ts, "entity": entity[:200], "listed": listed,
                     "label": judgement.label, "score": judgement.score,
                     "model_version": version}
                )  # fmt: skip
                self._count(series, entity[:200], post.ts, judgement)
            report.without_entity += not found
        self.store.add(post_rows, link_rows, series, reposts)
        report.stored, report.folded, report.links = (
            len(kept),
            len(posts) - len(kept),
            len(link_rows),
        )
        report.alerts = self._detect(link_rows)
        self._tally(report)
        return report

    def _fold(self, posts: list[Post]) -> tuple[list[Post], list[str], dict[str, int]]:
        kept, ids, reposts = [], [], Counter[str]()
        fresh = [uuid.uuid4().hex for _ in posts]
        for post, pid, original in zip(
            posts, fresh, self.folder.originals([p.text for p in posts], fresh), strict=True
        ):
            if original is None:
                kept.append(post)
                ids.append(pid)
            else:
                reposts[original] += 1
        return kept, ids, dict(reposts)

    def _judge(
        self, texts: list[str], mentions: list[list[Mention]], languages: list[str]
    ) -> list[list[tuple[str, Judgement]]]:
        """(entity, judgement) per entity of each post, by the judge of the post's language; a
        post without an entity is judged as a whole."""
        asks: dict[int, list[tuple[int, str, str]]] = {}
        for index, (text, found, language) in enumerate(
            zip(texts, mentions, languages, strict=True)
        ):
            queue = asks.setdefault(id(self.judges.pick(language)), [])
            for entity in entities_of(found) or [TOTAL]:
                queue.append((index, entity, mark_target(text, found, entity)))
        out: list[list[tuple[str, Judgement]]] = [[] for _ in texts]
        size = self.spec.batch_size
        for judge in self.judges.judges():
            mine = asks.get(id(judge), [])
            for start in range(0, len(mine), size):
                chunk = mine[start : start + size]
                for (index, entity, _), judgement in zip(
                    chunk, judge.judge([m for _, _, m in chunk]), strict=True
                ):
                    out[index].append((entity, judgement))
        return out

    def _count(
        self, series: dict[tuple[str, float], SeriesDelta], entity: str, ts: float, j: Judgement
    ) -> None:
        bucket = ts // self.bucket_s * self.bucket_s
        series.setdefault((entity, bucket), SeriesDelta()).add(j.label, j.score)

    def _detect(self, links: list[dict[str, Any]]) -> list[Alert]:
        alerts = []
        for link in links:
            for alert in self.detector.observe(
                link["entity"], link["ts"], link["label"] == "negative", link["post_id"]
            ):
                self.notifier.send(alert)
                alerts.append(alert)
        return alerts

    def _tally(self, report: BatchReport) -> None:
        self.counts.update(
            received=report.received, stored=report.stored, folded=report.folded,
            without_entity=report.without_entity, links=report.links, alerts=len(report.alerts),
        )  # fmt: skip

    def warm_start(self) -> int:
        """Rebuild the detector from stored links (no alerts re-sent); returns links replayed."""
        horizon = max((duration_seconds(r.window) for r in self.spec.rules), default=0.0)
        horizon += 5 * duration_seconds(self.spec.baseline_halflife)
        latest = self.store.latest_link_ts()
        if latest is None:
            return 0
        links = self.store.links(since=latest - horizon)
        for link in links:
            negative = link["label"] == "negative"
            self.detector.observe(link["entity"], link["ts"], negative, link["post_id"], emit=False)
        for alert in self.store.alerts(since=latest - horizon):
            self.detector.mark_alerted(alert["entity"], alert["rule"], alert["ts"])
        return len(links)

    def ingest_file(self, batch: FileBatch) -> BatchReport:
        """Process a read file's posts, log its malformed lines, remember its sha256."""
        for bad in batch.malformed:
            log.warning("skipped malformed line %s: %s", bad.where, bad.reason)
        report = self.process(batch.posts)
        self.counts.update(malformed=len(batch.malformed), files=1)
        self.store.record_file(batch.sha256, batch.path, len(batch.posts), len(batch.malformed))
        return report


def scan_directory(stream: WatchStream, directory: Any, pattern: str, settle_s: float) -> int:
    """Read every new file in the directory once; returns how many files were read."""
    read = 0
    for path in ready_files(directory, pattern, settle_s=settle_s):
        if stream.store.file_seen(hashlib.sha256(path.read_bytes()).hexdigest()):
            continue
        batch = read_file(
            path, text_column=stream.spec.text_column, time_column=stream.spec.time_column
        )
        report = stream.ingest_file(batch)
        log.info(
            "%s: %d posts (%d folded), %d malformed, %d alerts",
            path, report.received, report.folded, len(batch.malformed), len(report.alerts),
        )  # fmt: skip
        read += 1
    return read


def replay(
    stream: WatchStream,
    batch: FileBatch,
    speed: float | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> BatchReport:
    """Feed a dated file through the stream at `speed` x real time (None: as fast as possible)."""
    for bad in batch.malformed:
        log.warning("skipped malformed line %s: %s", bad.where, bad.reason)
    stream.counts.update(malformed=len(batch.malformed))
    posts, total = batch.posts, BatchReport()
    start_wall, start_event = clock(), posts[0].ts if posts else 0.0
    cursor, size = 0, stream.spec.batch_size
    while cursor < len(posts):
        if speed is None:
            due = cursor + size
        else:
            reached = start_event + (clock() - start_wall) * speed
            due = cursor
            while due < len(posts) and due - cursor < size and posts[due].ts <= reached:
                due += 1
            if due == cursor:
                sleep(min(1.0, max(0.001, (posts[cursor].ts - reached) / speed)))
                continue
        _merge(total, stream.process(posts[cursor:due]))
        cursor = due
    return total


def _merge(total: BatchReport, part: BatchReport) -> None:
    total.received += part.received
    total.stored += part.stored
    total.folded += part.folded
    total.without_entity += part.without_entity
    total.links += part.links
    total.alerts += part.alerts
