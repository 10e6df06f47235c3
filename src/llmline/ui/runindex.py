"""A cached summary of every run directory, refreshed by file stamps, for lists and look-ups.

Listing 1,000 runs must not parse 1,000 manifests and specs per page view: each run's summary
is kept with the (mtime, size) of its manifest and spec, and a page view only stats them.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmline.workspace import Workspace

try:  # libyaml's loader is ~10x faster on the first scan of a big workspace
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


@dataclass
class RunSummary:
    run_id: str
    recipe: str
    task: str
    status: str
    started: str
    finished: str
    seconds: float
    stages: list[str]
    primary: str | None = None
    score: float | None = None
    registered: tuple[str, str] | None = None
    hashes: set[str] = field(default_factory=set)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file, or {} when it is missing or half-written."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def read_spec(path: Path) -> dict[str, Any]:
    try:
        value = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError):
        return {}
    return value if isinstance(value, dict) else {}


def summarize(run_dir: Path) -> RunSummary:
    manifest = read_json(run_dir / "manifest.json")
    spec = read_spec(run_dir / "spec.yaml")
    stages: dict[str, Any] = manifest.get("stages") or {}
    hashes: set[str] = set()
    for record in stages.values():
        for output in (record.get("outputs") or {}).values():
            if isinstance(output, dict) and output.get("sha256"):
                hashes.add(output["sha256"])
    evaluation = (stages.get("evaluate") or {}).get("result") or {}
    primary = evaluation.get("primary")
    score = (evaluation.get("metrics") or {}).get(primary) if primary else None
    registered = (stages.get("register") or {}).get("result") or {}
    return RunSummary(
        run_id=run_dir.name,
        recipe=str(spec.get("name") or run_dir.name.rsplit("-", 1)[0]),
        task=str(spec.get("task") or "?"),
        status=str(manifest.get("status") or "unknown"),
        started=str(manifest.get("started_at") or ""),
        finished=str(manifest.get("finished_at") or ""),
        seconds=round(sum(float(r.get("seconds") or 0) for r in stages.values()), 2),
        stages=list(stages),
        primary=primary,
        score=float(score) if isinstance(score, int | float) else None,
        registered=(str(registered["name"]), str(registered["version"]))
        if registered.get("name") and registered.get("version")
        else None,
        hashes=hashes,
    )


class RunIndex:
    """Summaries of `<workspace>/runs/*`, re-read only for runs whose files changed."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._cache: dict[str, tuple[tuple[Any, ...], RunSummary]] = {}
        self._lock = threading.Lock()

    def all(self) -> list[RunSummary]:
        """Every run, newest first."""
        runs_dir = self.workspace.runs
        seen: dict[str, RunSummary] = {}
        entries = list(os.scandir(runs_dir)) if runs_dir.is_dir() else []
        with self._lock:
            for entry in entries:
                if not entry.is_dir() or entry.name.startswith("."):
                    continue
                path = Path(entry.path)
                stamp = (_stamp(path / "manifest.json"), _stamp(path / "spec.yaml"))
                cached = self._cache.get(entry.name)
                if cached is None or cached[0] != stamp:
                    cached = (stamp, summarize(path))
                    self._cache[entry.name] = cached
                seen[entry.name] = cached[1]
            for gone in set(self._cache) - set(seen):
                del self._cache[gone]
        return sorted(seen.values(), key=lambda r: (r.started, r.run_id), reverse=True)

    def find(self, sha256: str) -> list[RunSummary]:
        return [r for r in self.all() if sha256 in r.hashes]


def filter_runs(
    runs: list[RunSummary],
    *,
    recipe: str = "",
    task: str = "",
    status: str = "",
    since: str = "",
    until: str = "",
) -> list[RunSummary]:
    """Exact recipe/task/status; dates compare as ISO strings (a day `until` includes that day)."""
    kept = []
    for run in runs:
        if (recipe and run.recipe != recipe) or (task and run.task != task):
            continue
        if (status and run.status != status) or (since and run.started[: len(since)] < since):
            continue
        if until and run.started[: len(until)] > until:
            continue
        kept.append(run)
    return kept
