"""Reading accounts for every physical record: counts and speed on real and synthetic files.

For each file: physical records, read, rejected, flagged, the encoding found and the time,
next to Python's csv.DictReader over the same text (what the reader used before, which
swallowed 454 ChnSentiCorp reviews into one row). The synthetic files have 200,000 rows in
English and Chinese, every 50th with a quoted newline (CSV) or a stray quote (TSV).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_reading.py [--data-dir ../shared/datasets]
"""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
import time
from pathlib import Path

from llmline.data.encoding import detect
from llmline.data.sources import ReadTally, read_records
from llmline.spec import SourceSpec

ROWS = 200_000


def synthetic(directory: Path) -> list[tuple[Path, str, str | None]]:
    big_csv, big_tsv = directory / "synthetic.csv", directory / "synthetic.tsv"
    with big_csv.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for i in range(ROWS):
            extra = "\nsecond line" if i % 50 == 0 else ""
            writer.writerow([f"review {i}: 这家酒店的服务很好, a 'quoted' bit{extra}", "ab"[i % 2]])
    with big_tsv.open("w", encoding="utf-8") as fh:
        fh.write("label\ttext\n")
        for i in range(ROWS):
            stray = '"' if i % 50 == 0 else ""
            fh.write(f"{i % 2}\t{stray}评论 {i}: the room was fine\n")
    return [(big_csv, "text", "label"), (big_tsv, "text", "label")]


def measure(path: Path, text_column: str, label_column: str | None) -> None:
    tally = ReadTally("data.source", str(path))
    source = SourceSpec(path=path, text_column=text_column, label_column=label_column)
    start = time.perf_counter()
    records = list(read_records(source, strict=False, max_bad_fraction=1.0, tally=tally))
    ours = time.perf_counter() - start
    decoded = detect(path.read_bytes())
    assert decoded is not None
    sep = "\t" if path.suffix == ".tsv" else ","
    start = time.perf_counter()
    rows = list(csv.DictReader(io.StringIO(decoded.text, newline=""), delimiter=sep))
    theirs = time.perf_counter() - start
    longest = max((len(r.text) for r in records), default=0)
    longest_dict = max((len(str(r.get(text_column) or "")) for r in rows), default=0)
    print(
        f"| {path.name} | {tally.encoding} | {tally.records} | {tally.read} | "
        f"{sum(tally.rejected.values())} | {len(tally.long_rows)} | {longest} | {ours:.2f} s | "
        f"{len(rows)} rows, longest {longest_dict}, {theirs:.2f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    args = parser.parse_args()
    files = [
        (args.data_dir / "chnsenticorp" / "train.tsv", "text_a", "label"),
        (args.data_dir / "medical-dialogue" / "sample.csv", "ask", "department"),
        (args.data_dir / "banking77" / "train.csv", "text", "category"),
    ]
    print("| file | encoding | records | read | rejected | flagged | longest | time |"
          " csv.DictReader |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for path, text, label in [f for f in files if f[0].exists()] + synthetic(Path(tmp)):
            measure(path, text, label)


if __name__ == "__main__":
    main()
