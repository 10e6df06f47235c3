"""The work a console's first page views would otherwise pay for, done once at start.

Measured over a 1,000-run, 1,000,000-request workspace (benchmarks/RESULTS.md, console
section): the first registry read imports MLflow and opens its store (1.6 s; the lineage page
is the first to need it), the first drift view imports SciPy's statistics (0.5 s), the first run
list summarises every run directory (0.2 s), and the first monitoring view folds every request
row the console has not seen yet (minutes at 1,000,000 rows). `llmline ui` calls `warm_up`
before it starts listening, so no page pays the first three; the fold goes on in a background
thread, and monitoring pages render the roll-ups committed so far (saying so) until it ends.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI


@dataclass
class WarmUp:
    """What warming took, for the start-up line and the benchmark."""

    seconds: dict[str, float] = field(default_factory=dict)
    fold: threading.Thread | None = None

    def summary(self) -> str:
        parts = ", ".join(f"{name} {s:.1f} s" for name, s in self.seconds.items())
        folding = "; folding the monitoring store in the background" if self.fold else ""
        return f"warmed in {sum(self.seconds.values()):.1f} s ({parts}){folding}"


def warm_up(app: FastAPI, fold_in_background: bool = True) -> WarmUp:
    """Fill the console's caches and import what its pages import lazily."""
    from starlette.requests import Request

    from llmline.ui import monitoring, registry, runs

    request = Request({"type": "http", "app": app, "headers": [], "method": "GET", "path": "/"})
    done = WarmUp()

    def timed(name: str, work: Any) -> None:
        started = time.perf_counter()
        work()
        done.seconds[name] = time.perf_counter() - started

    timed("runs", lambda: runs.run_index(request).all())
    if (app.state.workspace.root / "mlflow.db").is_file():
        timed("registry", lambda: registry.versions(request))
    else:  # nothing registered yet: import MLflow only, and write no store into the workspace
        timed("registry", _import_mlflow)
    timed("statistics", _import_statistics)
    folded = monitoring.rollup_without_refresh(request)
    if folded.store_exists():
        if fold_in_background:
            done.fold = threading.Thread(
                target=folded.refresh, name="llmline-console-fold", daemon=True
            )
            done.fold.start()
        else:
            timed("fold", folded.refresh)
    return done


def _import_mlflow() -> None:
    import mlflow  # noqa: F401


def _import_statistics() -> None:
    """SciPy's stats module (0.5 s to import) and the drift reference loader."""
    import scipy.stats  # noqa: F401

    import llmline.monitor.reference  # noqa: F401
