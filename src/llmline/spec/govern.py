"""The governance link's spec: bias and safety checks (promotion gates) and the model card."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from llmline.spec.base import StrictModel
from llmline.spec.data import SourceSpec


class BiasSpec(StrictModel):
    """Counterfactual invariance and group-fairness checks; thresholds become promotion gates."""

    enabled: bool = Field(False, description="Run the bias stage after evaluation.")
    languages: list[Literal["en", "zh"]] = Field(
        ["en"], description="Shipped term lists to probe with."
    )
    attributes: list[str] = Field(
        default_factory=lambda: ["name", "gender", "nationality", "religion", "age"],
        description="Attributes whose terms are swapped (names of the term lists).",
    )
    terms_file: Path | None = Field(
        None, description="YAML with extra or replacement term lists (shape of the shipped ones)."
    )
    max_texts: int = Field(200, gt=0, description="Validation texts probed per attribute.")
    max_flip_rate: float | None = Field(
        None, ge=0, le=1,
        description="Gate: highest share of texts whose label changes when only a term changes.",
    )  # fmt: skip
    max_score_change: float | None = Field(
        None, ge=0, le=1,
        description="Gate: highest mean spread of the predicted label's probability over terms.",
    )  # fmt: skip
    group_data: SourceSpec | None = Field(
        None, description="Labelled file with a sensitive-attribute column, for group metrics."
    )
    sensitive_column: str | None = Field(None, description="Column of group_data with the group.")
    max_demographic_parity_difference: float | None = Field(
        None, ge=0, le=1, description="Gate on fairlearn's demographic-parity difference."
    )
    max_equalized_odds_difference: float | None = Field(
        None, ge=0, le=1, description="Gate on fairlearn's equalized-odds difference."
    )

    @model_validator(mode="after")
    def _group_data_needs_column(self) -> BiasSpec:
        if (self.group_data is None) != (self.sensitive_column is None):
            raise ValueError("govern.bias: group_data and sensitive_column must be given together")
        return self


class RouteSafetySpec(StrictModel):
    """What the service does when a check fires on one route: block (4xx), flag, or pass."""

    input: Literal["block", "flag", "pass"] = Field("flag", description="Action on inputs.")
    output: Literal["block", "flag", "pass"] = Field("pass", description="Action on outputs.")


def _default_safety_routes() -> dict[str, RouteSafetySpec]:
    chat = RouteSafetySpec(input="block", output="block")
    return {
        "/v1/classify": RouteSafetySpec(),
        "/v1/ner": RouteSafetySpec(),
        "/v1/pairs": RouteSafetySpec(),
        "/v1/explain": RouteSafetySpec(),
        "/v1/chat/completions": chat,
        "/v1/completions": chat,
    }


class SafetySpec(StrictModel):
    """Harmful-content and prompt-injection checks for data, service inputs and outputs."""

    enabled: bool = Field(False, description="Run the safety stage (scan training data).")
    languages: list[Literal["en", "zh"]] = Field(
        ["en", "zh"], description="Shipped lexicons to use."
    )
    lexicon_file: Path | None = Field(
        None, description="YAML of extra lexicon terms by category (shape of the shipped ones)."
    )
    injection: bool = Field(True, description="Check prompt-injection patterns.")
    classifier: str | None = Field(
        None, description="Optional model reference of a harmful-content classifier."
    )
    classifier_labels: list[str] = Field(
        default_factory=lambda: ["toxic", "unsafe", "harmful", "spam"],
        description="Labels of the classifier that count as harmful.",
    )
    classifier_threshold: float = Field(0.5, gt=0, le=1, description="Score that counts.")
    routes: dict[str, RouteSafetySpec] = Field(
        default_factory=_default_safety_routes,
        description="Per-route actions by path, e.g. {/v1/classify: {input: flag}}; routes not "
        "listed pass unchecked. `llmline serve` applies them unless serve.safety is set.",
    )
    max_flagged_rate: float | None = Field(
        None, ge=0, le=1, description="Gate: highest share of training rows flagged as harmful."
    )


class CardSpec(StrictModel):
    """Model card and datasheet, generated from the run's artifacts after registration."""

    enabled: bool = Field(
        True, description="Write card.md, card.html and datasheet.md after registration."
    )
    intended_use: str = Field("", description="What the model is for, in the owner's words.")
    out_of_scope: str = Field("", description="Uses the model must not be put to.")
    limitations: list[str] = Field(
        default_factory=list, description="Known limitations added to the measured ones."
    )
    data_license: str | None = Field(
        None, description="Licence of the training data; null reads a LICENSE file beside it."
    )
    base_model_license: str | None = Field(
        None, description="Licence of the base model; null reads it from the base model."
    )


class GovernSpec(StrictModel):
    """Governance: bias and safety checks (promotion gates) and the model card."""

    bias: BiasSpec = Field(default_factory=BiasSpec)
    safety: SafetySpec = Field(default_factory=SafetySpec)
    card: CardSpec = Field(default_factory=CardSpec)
