"""Request and response bodies; the limits here are what turns bad requests into 422s."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

MAX_TEXTS = 256
MAX_CHARS = 10_000


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[StrictStr] = Field(
        min_length=1, max_length=MAX_TEXTS, description=f"1 to {MAX_TEXTS} texts to classify."
    )
    top_k: int = Field(1, ge=1, le=20, description="Alternatives returned per text.")

    @field_validator("texts")
    @classmethod
    def _text_lengths(cls, texts: list[str]) -> list[str]:
        for index, text in enumerate(texts):
            if len(text) > MAX_CHARS:
                raise ValueError(
                    f"texts[{index}] has {len(text)} characters; the limit is {MAX_CHARS}"
                )
            if not text.strip():
                raise ValueError(f"texts[{index}] is empty")
        return texts


class LabelScore(BaseModel):
    label: str
    score: float


class Classification(BaseModel):
    label: str
    score: float
    top_k: list[LabelScore]


class ClassifyResponse(BaseModel):
    model: str = Field(description="The model reference and version that answered.")
    results: list[Classification]
