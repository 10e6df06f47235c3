"""The small record type every data step streams, and the registry of steps.

A step is `def step(records: Iterable[Record]) -> Iterator[Record]`; a filter marks a record
dropped with a reason instead of losing it, so every decision is counted and reversible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from llmline.variants import Registry


@dataclass
class Record:
    """One row: its text, optional label, original row number and every other column."""

    text: str
    label: str | None = None
    row: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    dropped: str | None = None  # reason, when a filter rejected the record


Step = Callable[[Iterable[Record]], Iterator[Record]]
StepFactory = Callable[..., Step]

# name -> factory(**options from the spec) -> step
DATA_STEPS: Registry[StepFactory] = Registry("data step")
