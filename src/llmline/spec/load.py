"""Reading a spec: YAML, ${NAME} variables, validation errors that name the key, the reference."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from llmline.errors import SpecError
from llmline.spec.pipeline import PipelineSpec

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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


def read_with_variables(path: Path, variables: dict[str, str] | None = None) -> dict[str, Any]:
    """A spec file's YAML with every ${NAME} filled (`variables:` defaults, then the given
    values), and `variables` set to the merged values."""
    raw = read_yaml(path)
    declared = raw.get("variables") or {}
    if not isinstance(declared, dict):
        raise SpecError("'variables' must be a mapping of NAME: default", where=str(path))
    merged = {str(k): str(v) for k, v in declared.items()} | (variables or {})
    resolved: dict[str, Any] = substitute_variables(raw, merged, where=str(path))
    resolved["variables"] = merged
    return resolved


def load_spec(path: Path | str, variables: dict[str, str] | None = None) -> PipelineSpec:
    """Read, substitute and validate a spec; every failure is a SpecError naming the key."""
    path = Path(path)
    return validate_spec(read_with_variables(path, variables), where=str(path))


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
        if model is PipelineSpec and name == "task_config":
            lines.extend(_explain_task_configs(key))
            continue
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
        extra = getattr(model, "explain_field", None)  # a list of variants documents each one
        if extra is not None:
            lines.extend(extra(name, key))
    return lines


def _explain_task_configs(key: str) -> list[str]:
    """The task_config keys of every registered task, each marked with its task."""
    from llmline.tasks import load_tasks

    registry = load_tasks()
    lines = []
    for name in registry:
        lines += [
            f"{line}  [task {name}]" for line in explain(registry.get(name).config, f"{key}.")
        ]
    return lines or [f"{key}  (default {{}})  no task has task-only settings"]
