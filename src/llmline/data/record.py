"""The small record type every data step streams, and the registry of steps.

A step is `def step(records: Iterable[Record]) -> Iterator[Record]`; a filter marks a record
dropped with a reason instead of losing it, so every decision is counted and reversible.

Each step registers once, where it is defined, with its options model, its factory and whether
it is row-local (may run on any batch of rows independently, so `executor: ray` can spread
it over workers). Third parties register theirs the same way, from a module named by an
`llmline.data_steps` entry point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from llmline.variants import Registry

if TYPE_CHECKING:
    from pydantic import BaseModel


@dataclass
class Record:
    """One row: its text, optional label, original row number and every other column.

    `pair` is the second text of a pair row (`source.pair_column`), cleaned and deduplicated
    with the first; None for single-text rows."""

    text: str
    label: str | None = None
    row: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    dropped: str | None = None  # reason, when a filter rejected the record
    pair: str | None = None


Step = Callable[[Iterable[Record]], Iterator[Record]]
F = TypeVar("F", bound=Callable[..., Step])


@dataclass(frozen=True)
class DataStep:
    """A registered step: its options model, the factory building it from them, where it runs.

    `row_local` is a flag or, when it depends on the options (pseudonyms must stay consistent
    across the whole stream), a function of the validated options. `train_only` steps
    (augmentation, relabeling) are not applied to an explicit validation file.
    """

    name: str
    config: type[BaseModel]
    factory: Callable[[Any], Step]
    row_local: bool | Callable[[Any], bool] = False
    train_only: bool = False

    def parse(self, options: Mapping[str, Any]) -> BaseModel:
        """The options (a spec's `{step: NAME, ...}` entry) validated by the step's model."""
        return self.config.model_validate({k: v for k, v in options.items() if k != "step"})

    def build(self, options: Mapping[str, Any]) -> Step:
        return self.factory(self.parse(options))

    def is_row_local(self, options: Mapping[str, Any]) -> bool:
        flag = self.row_local
        return bool(flag(self.parse(options))) if callable(flag) else flag


# Modules whose steps register themselves; imported on the first lookup so that code checking
# a spec's step names (e.g. `llmline validate`) sees them without importing them up front.
BUILTIN_STEP_MODULES = (
    "llmline.data.filters",
    "llmline.data.dedup",
    "llmline.data.pii",
    "llmline.data.label",
    "llmline.data.augment",
    "llmline.data.counterfactual",
)
ENTRY_POINT_GROUP = "llmline.data_steps"


class _StepRegistry(Registry[DataStep]):
    _loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        import importlib
        from importlib.metadata import entry_points

        self._loaded = True
        for module in BUILTIN_STEP_MODULES:
            importlib.import_module(module)
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                point.load()
            except Exception as exc:  # a broken plugin must name itself, not crash obscurely
                from llmline.errors import SpecError

                raise SpecError(
                    f"data step plugin {point.name!r} ({point.value}) failed to load: {exc}",
                    fix=f"fix or uninstall the package providing the {ENTRY_POINT_GROUP} entry",
                ) from exc

    def holds(self, step: DataStep) -> bool:
        """Whether exactly this step is registered (without loading the built-in ones)."""
        return Registry.__contains__(self, step.name) and super().get(step.name) == step

    def get(self, name: str, *, key: str | None = None) -> DataStep:
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


DATA_STEPS = _StepRegistry("data step")


def register_step(
    name: str,
    *,
    config: type[BaseModel],
    row_local: bool | Callable[[Any], bool] = False,
    train_only: bool = False,
) -> Callable[[F], F]:
    """Register a step factory (called with the validated `config`) under `name`, once."""

    def add(factory: F) -> F:
        step = DataStep(name, config, factory, row_local, train_only)
        if not DATA_STEPS.holds(step):  # registering the same thing again is a no-op
            DATA_STEPS.register(name)(step)
        return factory

    return add
