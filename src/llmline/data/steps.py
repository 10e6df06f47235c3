"""Run the spec's data steps over a stream, counting rows in/out and drops per step.

Each step is built from its registered factory; steps that expose `summary` (dedup clusters,
PII counts, rule coverage, augmentation) contribute it to the data report. Dropped rows are
kept aside (bounded) so `keep_rejects` can write them out for inspection.

Given a `remote` runner (the Ray executor), each run of consecutive steps registered as
row-local goes there as one `Segment`; this module knows no executor and no step by name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from llmline.data.record import DATA_STEPS, DataStep, Record, Step

MAX_REJECTS_KEPT = 100_000
# (records, segment, summaries) -> records: runs a segment elsewhere, summing its summaries
Remote = Callable[[Iterable[Record], "Segment", dict[str, Any]], Iterator[Record]]


@dataclass
class StepTally:
    name: str
    rows_in: int = 0
    rows_out: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(self.dropped.most_common()),
        }


@dataclass(frozen=True)
class Segment:
    """Consecutive row-local steps to run on a batch elsewhere: picklable, rebuilt there.

    It carries the registered steps themselves, not their names, so a step registered at run
    time (a plugin, a test) needs no registry lookup on the worker.
    """

    entries: tuple[DataStep, ...]
    options: tuple[dict[str, Any], ...]

    def __call__(self, records: Iterable[Record]) -> tuple[list[Record], dict[str, Any]]:
        """The batch after the steps (dropped rows marked `dropped_by`), and their summaries."""
        run = StepRun.from_entries(list(self.entries), list(self.options))
        return list(run.run(records)), run.summaries()


@dataclass
class StepRun:
    """The built steps of one stream, their tallies, summaries and the rejected rows."""

    entries: list[DataStep]
    steps: list[Step]
    tallies: list[StepTally]
    options: list[dict[str, Any]]
    rejects: list[Record] = field(default_factory=list)
    remote_summaries: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, step_options: list[dict[str, Any]], *, first: str = "clean") -> StepRun:
        entries = [
            DATA_STEPS.get(str(options.get("step", "")), key=f"data.steps[{index}].step")
            for index, options in enumerate(step_options)
        ]
        return cls.from_entries(entries, step_options, first=first)

    @classmethod
    def from_entries(
        cls, entries: list[DataStep], step_options: list[dict[str, Any]], *, first: str = "clean"
    ) -> StepRun:
        steps = [entry.build(options) for entry, options in zip(entries, step_options, strict=True)]
        tallies = [StepTally(first), *(StepTally(e.name) for e in entries)]
        return cls(entries, steps, tallies, [dict(o) for o in step_options])

    def held_out(self) -> StepRun:
        """A fresh run of the steps that also apply to a held-out file (not `train_only`)."""
        kept = [(e, o) for e, o in zip(self.entries, self.options, strict=True) if not e.train_only]
        return StepRun.from_entries([e for e, _ in kept], [o for _, o in kept])

    @property
    def names(self) -> list[str]:
        return [entry.name for entry in self.entries]

    def run(self, records: Iterable[Record], *, remote: Remote | None = None) -> Iterator[Record]:
        """Apply the steps lazily; the caller's first stage is tallied as `first`.

        With `remote`, each run of consecutive row-local steps goes there as one segment.
        """
        stream = self._tally(records, self.tallies[0])
        index = 0
        while index < len(self.steps):
            end = index
            while remote is not None and end < len(self.steps):
                if not self.entries[end].is_row_local(self.options[end]):
                    break
                end += 1
            if remote is not None and end > index:
                segment = Segment(tuple(self.entries[index:end]), tuple(self.options[index:end]))
                remote_stream = remote(stream, segment, self.remote_summaries)
                stream = self._tally_segment(remote_stream, self.tallies[index + 1 : end + 1])
                index = end
            else:
                stream = self._tally(self.steps[index](stream), self.tallies[index + 1])
                index += 1
        for record in stream:
            if record.dropped is not None and len(self.rejects) < MAX_REJECTS_KEPT:
                self.rejects.append(record)
            yield record

    @staticmethod
    def _tally(records: Iterable[Record], tally: StepTally) -> Iterator[Record]:
        for record in records:
            if record.dropped is None:
                tally.rows_out += 1
            elif "dropped_by" not in record.meta:
                record.meta["dropped_by"] = tally.name
                tally.dropped[record.dropped] += 1
            yield record

    @staticmethod
    def _tally_segment(records: Iterable[Record], tallies: list[StepTally]) -> Iterator[Record]:
        """Tallies for steps that ran remotely, from the `dropped_by` mark each row carries."""
        names = [t.name for t in tallies]
        for record in records:
            by = record.meta.get("dropped_by") if record.dropped else None
            if by is not None and by not in names:  # dropped before this segment
                yield record
                continue
            stop = names.index(by) if by in names else len(tallies)
            for tally in tallies[:stop]:
                tally.rows_out += 1
            if stop < len(tallies) and record.dropped is not None:
                tallies[stop].dropped[record.dropped] += 1
            yield record

    def summaries(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.remote_summaries)
        for name, step in zip(self.names, self.steps, strict=True):
            summary = getattr(step, "summary", None)
            if summary is not None and name not in out:
                out[name] = summary
        return out

    def per_step(self, rows_in: int) -> list[dict[str, Any]]:
        self.tallies[0].rows_in = rows_in
        for before, tally in zip(self.tallies, self.tallies[1:], strict=False):
            tally.rows_in = before.rows_out
        return [t.as_dict() for t in self.tallies]

    def option(self, name: str) -> dict[str, Any] | None:
        """The options of the first step with this name (e.g. near_dedup for decontamination)."""
        for step, step_name in zip(self.steps, self.names, strict=True):
            if step_name == name:
                spec = getattr(step, "spec", None)
                return spec.model_dump() if spec is not None else {}
        return None
