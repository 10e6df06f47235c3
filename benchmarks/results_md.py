"""One way for a benchmark to put its section into benchmarks/RESULTS.md.

A section sits between its own start/end markers, so a re-run replaces it in place; the first
run inserts it before an existing heading of the file.
"""

from __future__ import annotations

from pathlib import Path


def write_section(results: Path, section: str, start: str, end: str, *, before: str) -> None:
    """Replace the text from `start` to `end` with `section` (which carries both markers), or,
    when the markers are not there yet, insert it before the heading `before`."""
    text = results.read_text(encoding="utf-8")
    if start in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.replace(before, f"{section}\n\n{before}", 1)
    results.write_text(text, encoding="utf-8")
