"""What every packaged model shares: find its file in an installed wheel, check its bytes, and
convert it once into `<workspace>/cache/<name>/`, atomically, with a record of what was done.

A wheel's RECORD lists the sha256 of every file it installed, so a weight file that was
truncated or replaced after installation is caught before hours go into training on it.
Conversion runs under a file lock into a temp directory that appears under its final name by
one rename: a killed conversion leaves nothing that looks finished, and concurrent starts wait
for the first instead of converting twice.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmline.errors import ModelError
from llmline.workspace import Workspace

CONVERSION_RECORD = "conversion.json"
DONE_FILE = "model.safetensors"  # written last of the weights; the rename publishes it all


def package_file(dist_name: str, relative: str, *, pip: str) -> Path:
    """An installed package's file, located without importing the package."""
    from importlib import metadata

    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise ModelError(f"this packaged model needs the {dist_name} package", fix=pip) from None
    path = Path(str(dist.locate_file(relative)))
    if not path.is_file():
        raise ModelError(f"{path} is missing from {dist_name}", fix=f"reinstall: {pip}")
    return path


def recorded_sha256(dist_name: str, relative: str) -> str | None:
    """The hex sha256 the wheel's RECORD lists for one of its files (None if not listed)."""
    from importlib import metadata

    for entry in metadata.distribution(dist_name).files or []:
        if entry.as_posix() == relative and entry.hash and entry.hash.mode == "sha256":
            padded = entry.hash.value + "=" * (-len(entry.hash.value) % 4)
            return base64.urlsafe_b64decode(padded).hex()
    return None


def check_sha256(path: Path, expected: str | None, *, fix: str) -> str:
    """The file's sha256; a mismatch with `expected` (when known) is a ModelError."""
    from llmline.lineage import sha256_file

    actual = sha256_file(path)
    if expected is not None and actual != expected:
        raise ModelError(
            f"{path} has sha256 {actual[:16]}..., expected {expected[:16]}...: the file is "
            "corrupt or not the one this converter was written for",
            fix=fix,
        )
    return actual


def cached_conversion(
    workspace: Workspace, name: str, convert: Callable[[Path], dict[str, Any]]
) -> Path:
    """`<cache>/<name>`, made once by `convert(tmp_dir)` (which returns facts to record).

    Only a directory that holds model.safetensors counts as finished; the rename that makes
    it appear is the last step, so a crash leaves a stray temp directory, never a half model.
    """
    target = workspace.cache / name
    if (target / DONE_FILE).exists():
        return target
    workspace.cache.mkdir(parents=True, exist_ok=True)
    with (workspace.cache / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / DONE_FILE).exists():  # another process finished while we waited
            return target
        tmp = workspace.cache / f".{name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
            started = time.perf_counter()
            facts = convert(tmp)
            facts["seconds"] = round(time.perf_counter() - started, 1)
            write_conversion_record(tmp, facts)
            shutil.rmtree(target, ignore_errors=True)  # a directory left without its weights
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def write_conversion_record(directory: Path, facts: dict[str, Any]) -> None:
    """conversion.json: the source's sha256 and every output's, beside the facts given."""
    from llmline.lineage import sha256_file

    outputs = {
        p.name: sha256_file(p)
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name != CONVERSION_RECORD
    }
    record = {**facts, "outputs": outputs}
    (directory / CONVERSION_RECORD).write_text(json.dumps(record, indent=2) + "\n", "utf-8")


def write_model_card(directory: Path, *, license: str, base_model: str, text: str) -> None:
    """README.md with the front matter `govern.card` reads the base model's licence from."""
    front = f"---\nlicense: {license}\nbase_model: {base_model}\n---\n\n"
    (directory / "README.md").write_text(front + text.strip() + "\n", encoding="utf-8")
