"""The one rich console and progress-bar style every long step uses."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Messages go to stderr so `llmline evaluate ... > report.json` keeps stdout clean.
console = Console(stderr=True, highlight=False, soft_wrap=True)


def progress_bar(*, transient: bool = False) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=bool(os.environ.get("LLMLINE_NO_PROGRESS")) or not sys.stderr.isatty(),
    )
