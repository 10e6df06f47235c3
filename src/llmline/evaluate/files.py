"""Reading a labelled file for `llmline evaluate --data`: the source, the run's label map.

Each task reads the file with its own reader; what they share is here: checking the file is
there, the SourceSpec built from the command-line options, and the `data.label_map` of the run
that trained the model, so a test file in the source's own labels scores right.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmline.errors import DataError, SpecError

if TYPE_CHECKING:
    from llmline.spec import SourceSpec
    from llmline.tasks import ReadOptions


def source_spec(path: Path, options: ReadOptions, *, label: bool = True) -> SourceSpec:
    """The SourceSpec of the file (format 'auto' unless --format names one)."""
    from pydantic import ValidationError

    from llmline.data.sources import SOURCES, load_readers

    if not path.exists():
        raise DataError(f"file {str(path)!r} does not exist", where="--data", fix="check the path")
    if path.is_file():
        try:
            with path.open("rb") as fh:
                fh.read(1)
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc}", where="--data") from None
    load_readers()  # formats registered by other modules (finfe, label_studio, ...)
    if options.format is not None and options.format not in SOURCES:
        SOURCES.get(options.format, key="--format")  # raises, naming the formats there are
    from llmline.spec import SourceSpec

    try:
        return SourceSpec(
            path=path, format=options.format or "auto", text_column=options.text_col,
            label_column=options.label_col if label else None, pair_column=options.pair_col,
        )  # fmt: skip
    except ValidationError as exc:
        raise SpecError(f"bad file options: {exc.errors()[0]['msg']}", where="--data") from None


def run_label_map(model_dir: Path) -> dict[str, str]:
    """data.label_map of the run that trained the model: recorded in its llmline_model.json,
    else read from the run's spec.yaml beside the model directory; {} when neither has one."""
    import yaml

    from llmline.models.meta import ModelMeta

    recorded = ModelMeta.load(model_dir).extra.get("label_map")
    if isinstance(recorded, dict):
        return {str(k): str(v) for k, v in recorded.items()}
    spec_path = model_dir.parent / "spec.yaml"
    if not spec_path.is_file():
        return {}
    raw: Any = yaml.safe_load(spec_path.read_text(encoding="utf-8")) or {}
    mapping = ((raw.get("data") or {}) if isinstance(raw, dict) else {}).get("label_map") or {}
    return {str(k): str(v) for k, v in mapping.items()}


def require_pair(options: ReadOptions, task: str) -> str:
    """Pair tasks need --pair-col: the column of each row's second text."""
    if options.pair_col is None:
        raise SpecError(
            f"task {task} scores pairs of texts, and no --pair-col names the second text",
            where="--pair-col",
            fix="add --pair-col COLUMN (the first text is --text-col)",
        )
    return options.pair_col


def refuse_pair(options: ReadOptions, task: str) -> None:
    """Tasks scoring one text per row refuse --pair-col rather than ignore it."""
    if options.pair_col is not None:
        raise SpecError(
            f"--pair-col {options.pair_col!r}: task {task} scores one text per row",
            where="--pair-col",
            fix="drop --pair-col, or evaluate a pair-classification model",
        )
