"""Hyper-parameter search with Optuna over the spec's `hpo.space`, each trial a chain run.

A trial copies the spec, sets the sampled `train.*` values, and runs the chain up to
evaluation (its own run directory, so trials are cached and inspectable like any run). With
pruning on, every epoch's validation metric is reported to Optuna and a trial the median
pruner rejects stops there. The study lives in `<workspace>/hpo/<name>/study.db`, so an
interrupted search resumes; the results table and the best spec are written beside it.
"""

from __future__ import annotations

import contextvars
import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmline.console import console
from llmline.errors import SpecError
from llmline.lineage import write_text_atomic
from llmline.spec import PipelineSpec, SearchDimension, validate_spec
from llmline.workspace import Workspace

# The trial being run, read by the pruning callback that controls.callbacks() adds.
ACTIVE_TRIAL: contextvars.ContextVar[tuple[Any, str] | None] = contextvars.ContextVar(
    "llmline_active_trial", default=None
)


@dataclass
class SearchResult:
    best_value: float
    best_params: dict[str, Any]
    table: Path
    best_spec: Path


def suggest(trial: Any, key: str, dim: SearchDimension) -> Any:
    if dim.choices is not None:
        return trial.suggest_categorical(key, dim.choices)
    low, high = float(dim.low or 0), float(dim.high or 0)
    if dim.integer:
        return trial.suggest_int(key, int(low), int(high), log=dim.log)
    return trial.suggest_float(key, low, high, log=dim.log)


def trial_spec(spec: PipelineSpec, params: dict[str, Any], number: int) -> PipelineSpec:
    """The spec with sampled values set at their (dotted) train.* keys, validated again."""
    raw = spec.model_dump(mode="json")
    for key, value in params.items():
        node = raw["train"]
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {}) if node.get(part) is not None else {}
            if not isinstance(node, dict):
                raise SpecError(f"hpo.space.{key}: {part} is not a section", where="hpo.space")
        node[leaf] = value
    raw["name"] = f"{spec.name}-trial{number}"
    raw["hpo"] = None
    return validate_spec(raw, where=f"hpo trial {number}")


def search(spec: PipelineSpec, workspace: Workspace, *, trials: int | None = None) -> SearchResult:
    """Run the study; return the best value and parameters, write table + best spec."""
    try:
        import optuna
        from optuna.pruners import MedianPruner, NopPruner
        from optuna.samplers import TPESampler
    except ImportError:
        raise SpecError("llmline hpo needs optuna", fix="pip install 'llmline[hpo]'") from None

    from llmline.chain import run_chain

    cfg = spec.hpo
    if cfg is None or not cfg.space:
        raise SpecError(
            "the spec has no hpo.space to search", where="hpo",
            fix="add hpo: {space: {learning_rate: {low: 1.0e-5, high: 1.0e-3, log: true}}}",
        )  # fmt: skip
    out_dir = workspace.root / "hpo" / spec.name
    out_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=spec.name, storage=f"sqlite:///{out_dir / 'study.db'}", load_if_exists=True,
        direction=cfg.direction, sampler=TPESampler(seed=spec.seed),
        pruner=MedianPruner(n_startup_trials=2) if cfg.pruning else NopPruner(),
    )  # fmt: skip

    def objective(trial: Any) -> float:
        params = {key: suggest(trial, key, dim) for key, dim in cfg.space.items()}
        candidate = trial_spec(spec, params, trial.number)
        token = ACTIVE_TRIAL.set((trial, cfg.metric))
        try:
            ctx = run_chain(candidate, workspace, until="evaluate")
        finally:
            ACTIVE_TRIAL.reset(token)
        value = float(ctx.results["evaluate"]["result"]["metrics"][cfg.metric])
        console.print(f"hpo trial {trial.number}: {cfg.metric} {value:.4f} with {params}")
        return value

    study.optimize(objective, n_trials=trials or cfg.trials)
    table = write_table(study, out_dir / "trials.csv")
    best_spec = out_dir / "best_spec.yaml"
    best = trial_spec(spec, study.best_params, study.best_trial.number)
    best_raw = best.model_dump(mode="json", exclude={"workspace"})
    best_raw["name"] = f"{spec.name}-best"
    write_text_atomic(best_spec, yaml.safe_dump(best_raw, sort_keys=False))
    return SearchResult(float(study.best_value), dict(study.best_params), table, best_spec)


def write_table(study: Any, path: Path) -> Path:
    """One row per trial: number, state, value, parameters."""
    keys = sorted({k for t in study.trials for k in t.params})
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["trial", "state", "value", *keys])
        for t in study.trials:
            writer.writerow([t.number, t.state.name, t.value, *[t.params.get(k) for k in keys]])
    return path


def pruning_callback() -> Any:
    """Report each evaluation to the active trial; stop the trial when Optuna prunes it."""
    from transformers import TrainerCallback

    class OptunaPruning(TrainerCallback):
        def __init__(self) -> None:
            self.reported: set[int] = set()

        def on_evaluate(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            import optuna

            active = ACTIVE_TRIAL.get()
            value = (kw.get("metrics") or {}).get(f"eval_{active[1]}") if active else None
            if active is None or value is None or state.global_step in self.reported:
                return  # the final re-evaluation of the best checkpoint is not a new step
            self.reported.add(state.global_step)
            trial = active[0]
            trial.report(float(value), step=int(state.global_step))
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {state.global_step}")

    return OptunaPruning()
