"""Content hashes, atomic writes, the run manifest and the hash-chained audit log.

Every artifact is identified by the sha256 of its bytes so a served prediction can be traced
to the exact data and spec that produced it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20
TRACKED_PACKAGES = (
    "llmline", "torch", "transformers", "accelerate", "safetensors", "tokenizers", "peft",
    "datasets", "mlflow", "scikit-learn", "numpy", "pandas", "pyarrow", "fastapi",
)  # fmt: skip


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_path(path: Path) -> str:
    """Hash a file, or a directory as the sorted list of (relative name, file hash)."""
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def sha256_json(value: Any) -> str:
    """Hash of a JSON-serialisable value in canonical form (sorted keys)."""
    return sha256_bytes(json.dumps(value, sort_keys=True, default=str).encode())


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path beside target; rename it over target only if the block succeeds.

    Readers never see a half-written file, and a crash leaves the old version in place.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(target: Path, value: Any) -> None:
    write_text_atomic(target, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


class Manifest:
    """`manifest.json` of a run: inputs, outputs, stage timings and status, rewritten atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = (
            json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        )
        self.data.setdefault("stages", {})

    def start(self, *, run_id: str, spec_sha256: str, seed: int) -> None:
        self.data.update(
            run_id=run_id,
            spec_sha256=spec_sha256,
            seed=seed,
            packages=package_versions(),
            status="running",
            started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        self.save()

    def record_stage(self, name: str, record: dict[str, Any]) -> None:
        self.data["stages"][name] = record
        self.save()

    def stage(self, name: str) -> dict[str, Any] | None:
        stage: dict[str, Any] | None = self.data["stages"].get(name)
        return stage

    def finish(self, status: str) -> None:
        self.data["status"] = status
        self.data["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path, self.data)


def artifact_record(path: Path, root: Path) -> dict[str, str]:
    return {"path": path.relative_to(root).as_posix(), "sha256": sha256_path(path)}


GENESIS = "0" * 64


def audit_head_path(log: Path) -> Path:
    """Where the entry count and the last entry's sha256 are kept beside the log."""
    return log.with_name(log.name + ".head")


def _log_tail(fh: Any, head_path: Path) -> tuple[bytes, int]:
    """(last line, entry count) without reading the whole log: per-request logs grow large.

    The last line is read backwards from the end in blocks; the count comes from the head
    file, and only a log without one is counted line by line (once).
    """
    fh.seek(0, os.SEEK_END)
    position, buffer = fh.tell(), b""
    while position > 0 and b"\n" not in buffer.rstrip():
        step = min(1 << 16, position)
        position -= step
        fh.seek(position)
        buffer = fh.read(step) + buffer
    last = buffer.rstrip().rsplit(b"\n", 1)[-1]
    if not last:
        return b"", 0
    if head_path.exists():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return last, int(json.loads(head_path.read_text(encoding="utf-8"))["entries"])
    fh.seek(0)
    return last, sum(1 for line in fh if line.strip())


def audit_append(log: Path, event: str, **details: Any) -> dict[str, Any]:
    """Append one entry whose `prev` is the sha256 of the previous line, so edits show.

    Appends are serialised with an exclusive lock on the log so concurrent writers
    (service workers, a training run) cannot fork the chain.
    """
    import fcntl

    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            last, count = _log_tail(fh, audit_head_path(log))
            entry = {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "event": event,
                "prev": sha256_bytes(last) if last else GENESIS,
                **details,
            }
            line_bytes = json.dumps(entry, sort_keys=True, default=str).encode()
            fh.seek(0, os.SEEK_END)
            fh.write(line_bytes + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
            # The head anchors the tail: without it, editing or dropping the last line is silent.
            head = {"entries": count + 1, "sha256": sha256_bytes(line_bytes)}
            write_json_atomic(audit_head_path(log), head)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return entry
