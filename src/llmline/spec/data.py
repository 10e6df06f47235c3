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


class QualitySpec(StrictModel):
    """Data step `quality`: heuristic filters (Gopher/C4 style); failures are dropped by reason."""

    min_chars: int = Field(0, ge=0, description="Drop texts shorter than this.")
    max_chars: int | None = Field(None, gt=0, description="Drop texts longer than this.")
    min_words: int = Field(0, ge=0, description="Drop texts with fewer words (CJK: characters).")
    max_symbol_ratio: float = Field(0.3, ge=0, le=1, description="Max share of symbol chars.")
    max_digit_ratio: float = Field(0.5, ge=0, le=1, description="Max share of digit chars.")
    max_duplicate_line_fraction: float = Field(
        0.5, ge=0, le=1, description="Max share of lines that repeat another line."
    )
    max_top_ngram_fraction: float = Field(
        0.4, ge=0, le=1, description="Max share of characters covered by the top word n-gram."
    )
    ngram: int = Field(3, ge=2, le=10, description="n of the repeated n-gram check.")
    languages: list[str] | None = Field(
        None, description="Keep only these languages (ISO codes, e.g. [en, zh]); null keeps all."
    )


class NearDedupSpec(StrictModel):
    """Data step `near_dedup`: MinHash LSH near-duplicates, verified by exact Jaccard."""

    threshold: float = Field(0.8, gt=0, le=1, description="Jaccard similarity that counts.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
    shingle: Literal["auto", "word", "char"] = Field(
        "auto", description="Word shingles, character shingles (CJK), or auto-detect per text."
    )
    ngram: int | None = Field(None, ge=1, le=20, description="Shingle size; null: 3 words/5 chars.")
    action: Literal["drop", "keep"] = Field(
        "drop", description="drop near-duplicates, or keep them and only mark their cluster."
    )
    seed: int = Field(1, description="Seed of the MinHash permutations.")


class RedactSpec(StrictModel):
    """Data step `redact`: PII found by verified patterns (and optional NER names) is replaced."""

    mode: Literal["mask", "pseudonym", "hash"] = Field(
        "mask", description="<EMAIL>, consistent <EMAIL_1> pseudonyms, or salted hashes."
    )
    salt: str = Field("", description="Secret salt of hash mode.")
    names: bool = Field(
        False,
        description="Also redact person names: English by a spaCy pipeline, Chinese by jieba.",
    )


class LabelRuleSpec(StrictModel):
    """One labeling function: votes `label` when a keyword or the regex matches, else abstains."""

    label: str
    keywords: list[str] = Field(default_factory=list, description="Case-insensitive words.")
    regex: str | None = Field(None, description="A Python regular expression.")


class LabelRulesSpec(StrictModel):
    """Data step `label_rules`: labeling functions combined by vote or a label model."""

    rules: list[LabelRuleSpec] = Field(min_length=1)
    combine: Literal["vote", "label_model"] = Field(
        "vote", description="Majority vote, or a label model weighting rules by agreement."
    )
    overwrite: bool = Field(False, description="Relabel rows that already have a label.")


class AugmentSpec(StrictModel):
    """Data step `augment`: EDA edits / back-translation; copies never go to validation."""

    ops: list[Literal["synonym", "swap", "delete", "insert", "back_translation"]] = Field(
        ["swap", "delete"], description="Operations, one per copy, cycled."
    )
    copies: int = Field(1, ge=1, le=16, description="Augmented copies per row.")
    alpha: float = Field(0.1, gt=0, le=0.5, description="Share of words an EDA edit touches.")
    seed: int = 0
    model: str | None = Field(
        None, description="back_translation: seq2seq model ref (src->pivot), e.g. a local dir."
    )
    reverse_model: str | None = Field(
        None, description="back_translation: seq2seq model ref (pivot->src)."
    )
    max_new_tokens: int = Field(256, gt=0, description="back_translation: tokens per pass.")


DATA_STEP_CONFIGS: dict[str, type[StrictModel]] = {
    "quality": QualitySpec,
    "near_dedup": NearDedupSpec,
    "redact": RedactSpec,
    "label_rules": LabelRulesSpec,
    "augment": AugmentSpec,
}


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
        description="Extra data-chain steps by registered name, run after cleaning: "
        "quality, near_dedup, redact, label_rules, augment (each {step: NAME, ...options}).",
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
            name = options.get("step")
            config = DATA_STEP_CONFIGS.get(str(name))
            if config is None:
                continue  # third-party steps are checked by the registry when run
            try:
                config(**{k: v for k, v in options.items() if k != "step"})
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"data.steps[{index}].{loc}: {first['msg']}") from None
        return self
