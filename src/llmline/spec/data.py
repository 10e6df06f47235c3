"""The data link's spec: sources, cleaning, the data-chain steps and the split."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from llmline.spec.base import StrictModel


class SourceSpec(StrictModel):
    """Where rows come from and which columns hold the text and the label."""

    path: Path = Field(
        description="A CSV/TSV/JSONL/Parquet file (optionally .gz/.bz2/.xz) or a directory."
    )
    format: str = Field(
        "auto",
        description="File format; 'auto' infers it from the extension. "
        "Data-chain sources (text_dir, email, html, conll, label_studio) register more.",
    )
    text_column: str = Field("text", description="Column with the input text.")
    label_column: str | None = Field(
        "label", description="Column with the target label; null for unlabeled text."
    )
    pair_column: str | None = Field(
        None,
        description="Column with the second text of a pair (pair_classification, embedding); "
        "cleaned, deduplicated and split with the first.",
    )
    columns: list[str] | None = Field(
        None,
        min_length=1,
        description="CSV/TSV without a header line: the names of its columns, in order (the "
        "first line is then a row).",
    )
    encoding: str | None = Field(None, description="Text encoding; null detects it.")
    glob: str = Field(
        "**/*", description="Directory sources (text_dir, email, html): files to read, by glob."
    )
    strip_quotes: bool = Field(False, description="E-mail: drop quoted reply lines ('> ...').")
    strip_signature: bool = Field(False, description="E-mail: drop the signature after '-- '.")


class CleanSpec(StrictModel):
    """Normalisation applied to every text before deduplication and splitting."""

    nfkc: bool = Field(True, description="Unicode NFKC normalisation (full-width -> ASCII).")
    strip_control: bool = Field(True, description="Remove control and format characters.")
    collapse_whitespace: bool = Field(True, description="Collapse runs of whitespace to one.")
    min_chars: int = Field(1, ge=0, description="Drop texts shorter than this after cleaning.")
    strip_html: bool = Field(False, description="Remove HTML tags/entities left in the text.")
    urls: Literal["keep", "mask", "remove"] = Field(
        "keep", description="URLs: keep, replace by <URL>, or remove."
    )
    emails: Literal["keep", "mask", "remove"] = Field(
        "keep", description="E-mail addresses: keep, replace by <EMAIL>, or remove."
    )


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
        description="Extra data-chain steps by registered name, run after cleaning, each "
        "{step: NAME, ...options}; the options of every step are listed below.",
    )
    strict: bool = Field(
        False, description="Abort on the first bad row instead of rejecting and counting it."
    )
    max_bad_fraction: float = Field(
        0.1, ge=0, le=1, description="Abort when more than this share of rows is unreadable."
    )
    label_issues: bool = Field(
        False, description="Find likely label errors with cleanlab and list them in the report."
    )
    keep_rejects: bool = Field(False, description="Write dropped rows to rejects.jsonl.")

    @model_validator(mode="after")
    def _check_steps(self) -> DataSpec:
        for index, options in enumerate(self.steps):
            check_step(options, f"data.steps[{index}]")
        return self

    @classmethod
    def explain_field(cls, name: str, key: str) -> list[str]:
        """Extra reference lines for `llmline validate --explain`: every step's options."""
        if name != "steps":
            return []
        from llmline.data.record import DATA_STEPS
        from llmline.spec.load import explain

        lines = []
        for step in DATA_STEPS.names():
            config = DATA_STEPS.get(step).config
            doc = (config.__doc__ or "").strip().splitlines()[0]
            lines.append(f"{key}[step: {step}]  {doc}")
            lines.extend(explain(config, prefix=f"{key}[step: {step}]."))
        return lines


def check_step(options: dict[str, Any], key: str) -> None:
    """A spec's step entry names a registered step and its options fit the step's model.

    The registry is imported here, not at module top: it loads the step modules, which import
    this package, and `llmline --help` must not pay for either.
    """
    from llmline.data.record import DATA_STEPS
    from llmline.errors import SpecError

    if "step" not in options:
        raise ValueError(f"{key}.step: missing (name the step, e.g. step: quality)")
    try:
        step = DATA_STEPS.get(str(options["step"]), key=f"{key}.step")
        step.parse(options)
    except SpecError as exc:
        raise ValueError(f"{key}.step: {exc.what}; {exc.fix}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{key}.{loc}: {first['msg']}") from None
