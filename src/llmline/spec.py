"""The pipeline spec: pydantic models that are the only place configuration is defined.

One model per stage, `extra="forbid"`, so the YAML maps onto it 1:1 and a typo is an error that
names the key. Field descriptions are the reference documentation (`llmline validate --explain`).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llmline.errors import SpecError

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SourceSpec(StrictModel):
    """Where rows come from and which columns hold the text and the label."""

    path: Path = Field(description="A CSV/TSV/JSONL/Parquet file (optionally .gz/.bz2/.xz).")
    format: str = Field(
        "auto",
        description="File format; 'auto' infers it from the extension. "
        "Data-chain sources (text_dir, email, html, conll, label_studio) register more.",
    )
    text_column: str = Field("text", description="Column with the input text.")
    label_column: str | None = Field(
        "label", description="Column with the target label; null for unlabeled text."
    )
    encoding: str | None = Field(None, description="Text encoding; null detects it.")


class CleanSpec(StrictModel):
    """Normalisation applied to every text before deduplication and splitting."""

    nfkc: bool = Field(True, description="Unicode NFKC normalisation (full-width -> ASCII).")
    strip_control: bool = Field(True, description="Remove control and format characters.")
    collapse_whitespace: bool = Field(True, description="Collapse runs of whitespace to one.")
    min_chars: int = Field(1, ge=0, description="Drop texts shorter than this after cleaning.")


class DataSpec(StrictModel):
    """The data stage: load, clean, drop empty and duplicate rows, split."""

    source: SourceSpec
    validation: SourceSpec | None = Field(
        None, description="An explicit validation file; when null the source is split."
    )
    label_map: dict[str, str] = Field(
        default_factory=dict, description="Rename raw labels, e.g. {fresh: positive}."
    )
    drop_labels: list[str] = Field(
        default_factory=list, description="Raw labels whose rows are dropped, e.g. [plot]."
    )
    clean: CleanSpec = Field(default_factory=CleanSpec)
    dedup: bool = Field(True, description="Drop exact duplicates after normalisation.")
    validation_fraction: float = Field(
        0.1, gt=0.0, lt=0.9, description="Share of rows held out, stratified by label."
    )
    max_rows: int | None = Field(
        None, gt=0, description="Keep only the first N rows (a small slice for tests)."
    )
    steps: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Extra data-chain steps by registered name, run after cleaning.",
    )


class TrainSpec(StrictModel):
    """Fine-tuning hyper-parameters; defaults are the ones that worked on Banking77."""

    base_model: str = Field(
        "packaged:minilm",
        description="Model reference: packaged:minilm, a run dir, models:/NAME@ALIAS, a local "
        "dir, or a hub id.",
    )
    pooling: Literal["mean", "cls"] = Field(
        "mean", description="Sentence pooling; MiniLM was trained with mean pooling."
    )
    head_init: Literal["probe", "random"] = Field(
        "probe",
        description="'probe' starts the head from a logistic regression on frozen embeddings.",
    )
    epochs: float = Field(2.0, gt=0)
    max_steps: int | None = Field(None, gt=0, description="Stop after N optimiser steps.")
    learning_rate: float = Field(5e-5, gt=0, description="Learning rate of the encoder body.")
    head_learning_rate: float | None = Field(
        None, gt=0, description="Learning rate of the head; null uses learning_rate."
    )
    batch_size: int = Field(32, gt=0)
    eval_batch_size: int = Field(128, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    max_length: int = Field(128, gt=8, description="Tokens kept per text (truncation).")
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant_with_warmup"] = "linear"
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    probe_c: float = Field(10.0, gt=0, description="Inverse regularisation of the probe head.")
    probe_max_rows: int | None = Field(
        None, gt=0, description="Fit the probe on at most this many training rows."
    )
    threads: int | None = Field(None, gt=0, description="CPU threads; null uses all cores.")


class GateSpec(StrictModel):
    """Thresholds a model must meet before it may become the registry's champion."""

    min_accuracy: float | None = Field(None, ge=0, le=1)
    min_macro_f1: float | None = Field(None, ge=0, le=1)


class EvaluateSpec(StrictModel):
    gates: GateSpec = Field(default_factory=GateSpec)
    batch_size: int = Field(128, gt=0)


class RegistrySpec(StrictModel):
    """Where the model version is registered (MLflow; embedded SQLite in the workspace)."""

    name: str | None = Field(
        None, description="Registered model name; null uses the spec name.", pattern=r"^[\w.-]+$"
    )
    alias: str = Field("champion", description="Alias set only when every gate passes.")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; null uses <workspace>/mlflow.db."
    )


class PipelineSpec(StrictModel):
    """A whole chain: data -> train -> evaluate -> register."""

    name: str = Field(pattern=r"^[a-zA-Z0-9][\w.-]*$", description="Run and model name.")
    description: str = ""
    task: str = Field("classification", description="Task head, e.g. classification.")
    seed: int = 42
    workspace: Path | None = Field(None, description="Workspace dir; CLI --workspace wins.")
    executor: Literal["local", "ray"] = "local"
    variables: dict[str, str] = Field(
        default_factory=dict, description="Defaults for ${NAME} placeholders; --var overrides."
    )
    data: DataSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec)
    registry: RegistrySpec = Field(default_factory=RegistrySpec)

    @model_validator(mode="after")
    def _files_exist(self) -> PipelineSpec:
        for key, source in (
            ("data.source", self.data.source),
            ("data.validation", self.data.validation),
        ):
            if source is not None and not source.path.exists():
                raise ValueError(
                    f"{key}.path: file {str(source.path)!r} does not exist "
                    "(relative paths are read from the directory you run llmline in)"
                )
        if self.data.validation is None and self.data.source.label_column is None:
            raise ValueError("data.source.label_column: a classifier needs a label column")
        return self

    @property
    def model_name(self) -> str:
        return self.registry.name or self.name


def substitute_variables(
    node: Any, variables: dict[str, str], *, where: str, path: str = ""
) -> Any:
    """Replace ${NAME} in every string of a parsed YAML tree; unknown names are errors."""
    if isinstance(node, dict):
        return {
            k: substitute_variables(v, variables, where=where, path=f"{path}.{k}".lstrip("."))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [
            substitute_variables(v, variables, where=where, path=f"{path}[{i}]")
            for i, v in enumerate(node)
        ]
    if not isinstance(node, str):
        return node

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise SpecError(
                f"variable ${{{name}}} used at {path or 'top level'} has no value",
                where=where,
                fix=f"pass --var {name}=VALUE or declare it under 'variables:'",
            )
        return variables[name]

    return _VARIABLE.sub(replace, node)


def parse_vars(pairs: list[str]) -> dict[str, str]:
    """Turn `--var NAME=VALUE` arguments into a dict."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not _VARIABLE.fullmatch("${" + name + "}"):
            raise SpecError(f"--var {pair!r} is not NAME=VALUE", fix="write e.g. --var data_dir=/x")
        out[name] = value
    return out


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, turning syntax errors into one line with the position."""
    if not path.is_file():
        raise SpecError(f"spec file {str(path)!r} not found", fix="check the path")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise SpecError(
            f"malformed YAML: {exc.problem}", where=where, fix="fix the syntax"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SpecError(f"unreadable YAML: {exc}", where=str(path)) from None
    if not isinstance(raw, dict):
        raise SpecError("a spec must be a YAML mapping of keys", where=str(path))
    return raw


def load_spec(path: Path | str, variables: dict[str, str] | None = None) -> PipelineSpec:
    """Read, substitute and validate a spec; every failure is a SpecError naming the key."""
    path = Path(path)
    raw = read_yaml(path)
    declared = raw.get("variables") or {}
    if not isinstance(declared, dict):
        raise SpecError("'variables' must be a mapping of NAME: default", where=str(path))
    merged = {str(k): str(v) for k, v in declared.items()} | (variables or {})
    resolved = substitute_variables(raw, merged, where=str(path))
    resolved["variables"] = merged
    return validate_spec(resolved, where=str(path))


def validate_spec(raw: dict[str, Any], *, where: str = "spec") -> PipelineSpec:
    try:
        return PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc), where=where, fix=_fix_hint(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "top level"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        problems.append(f"{key}: {msg}")
    return "; ".join(problems)


def _fix_hint(exc: ValidationError) -> str:
    for err in exc.errors():
        if err["type"] == "extra_forbidden":
            return _unknown_key_hint(tuple(err["loc"]))
        if err["type"] == "missing":
            return "add the missing key (see `llmline validate --explain`)"
    return "correct the value (see `llmline validate --explain`)"


def _unknown_key_hint(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = PipelineSpec
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        nested = _nested_model(annotation)
        if nested is None:
            break
        model = nested
    allowed = sorted(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    prefix = f"did you mean {close[0]!r}? " if close else ""
    return f"{prefix}allowed keys here: {', '.join(allowed)}"


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def explain(model: type[BaseModel] = PipelineSpec, prefix: str = "") -> list[str]:
    """Every key with its type, default and description: the spec reference."""
    lines = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = _nested_model(field.annotation)
        if nested is not None:
            lines.extend(explain(nested, prefix=f"{key}."))
            continue
        default = (
            "required"
            if field.is_required()
            else f"default {field.get_default(call_default_factory=True)!r}"
        )
        lines.append(f"{key}  ({default})  {field.description or ''}".rstrip())
    return lines
