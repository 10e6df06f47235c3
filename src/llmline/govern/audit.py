"""Check and read the hash-chained audit log that `lineage.audit_append` writes.

Each line's `prev` is the sha256 of the previous line's bytes (64 zeros for the first) and the
`.head` file beside the log holds the entry count and the last line's sha256, so any edit,
deletion, insertion or reordering of lines breaks a link that `verify_log` names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmline.lineage import GENESIS, audit_head_path, sha256_bytes


@dataclass
class Verdict:
    """Result of a chain check: ok, entries read, and the first broken entry (1-based line)."""

    ok: bool
    entries: int
    broken_line: int | None = None
    reason: str = ""
    anchored: bool = True
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _lines(log: Path) -> Iterator[tuple[int, bytes]]:
    with log.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.rstrip(b"\n")
            if line.strip():
                yield number, line


def verify_log(log: Path) -> Verdict:
    """Walk the chain; the first line whose `prev` does not match is where tampering starts."""
    if not log.exists():
        return Verdict(ok=True, entries=0, warnings=[f"{log} does not exist yet (no events)"])
    previous, count = GENESIS, 0
    for number, line in _lines(log):
        count += 1
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            return Verdict(False, count, number, f"not valid JSON ({exc.msg})")
        if not isinstance(entry, dict) or entry.get("prev") != previous:
            return Verdict(False, count, number, "prev does not match the previous entry's sha256")
        previous = sha256_bytes(line)
    return _check_head(log, count, previous)


def _check_head(log: Path, count: int, last_hash: str) -> Verdict:
    head_path = audit_head_path(log)
    if not head_path.exists():
        missing = f"{head_path.name} is missing: the last entry is not anchored"
        return Verdict(True, count, anchored=False, warnings=[missing])
    head = json.loads(head_path.read_text(encoding="utf-8"))
    if head.get("entries") != count:
        reason = f"the log has {count} entries but its head records {head.get('entries')}"
        return Verdict(False, count, count + 1 if count < head.get("entries", 0) else count, reason)
    if head.get("sha256") != last_hash:
        return Verdict(False, count, count, "the last entry does not match the head's sha256")
    return Verdict(True, count)


def read_entries(log: Path) -> list[dict[str, Any]]:
    """Every entry with its 1-based line number as `line`; unreadable lines are skipped."""
    if not log.exists():
        return []
    entries = []
    for number, line in _lines(log):
        try:
            entries.append({"line": number, **json.loads(line)})
        except json.JSONDecodeError:
            continue
    return entries


def filter_entries(
    entries: list[dict[str, Any]],
    *,
    event: str | None = None,
    since: str | None = None,
    until: str | None = None,
    where: dict[str, str] | None = None,
    last: int | None = None,
) -> list[dict[str, Any]]:
    """Filter by event (prefix match), time range (ISO strings compare in order) and fields."""
    kept = []
    for entry in entries:
        if event and not str(entry.get("event", "")).startswith(event):
            continue
        ts = str(entry.get("ts", ""))
        if (since and ts < since) or (until and ts > until):
            continue
        if where and any(str(entry.get(k)) != v for k, v in where.items()):
            continue
        kept.append(entry)
    return kept[-last:] if last else kept
