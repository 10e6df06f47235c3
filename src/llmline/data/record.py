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

# Modules whose steps register themselves; imported on the first lookup so that code checking
# a spec's step names (e.g. `llmline validate`) sees them without importing numpy up front.
BUILTIN_STEP_MODULES = (
    "llmline.data.filters",
    "llmline.data.dedup",
    "llmline.data.pii",
    "llmline.data.label",
    "llmline.data.augment",
)


class _StepRegistry(Registry[StepFactory]):
    _loaded = False

    def _load(self) -> None:
        if not self._loaded:
            import importlib

            self._loaded = True
            for module in BUILTIN_STEP_MODULES:
                importlib.import_module(module)

    def get(self, name: str, *, key: str | None = None) -> StepFactory:
        self._load()
        return super().get(name, key=key)

    def names(self) -> list[str]:
        self._load()
        return super().names()

    def __contains__(self, name: object) -> bool:
        self._load()
        return super().__contains__(name)

    def __iter__(self) -> Iterator[str]:
        self._load()
        return super().__iter__()


# name -> factory(**options from the spec) -> step
DATA_STEPS: Registry[StepFactory] = _StepRegistry("data step")
