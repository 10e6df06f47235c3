"""Request and response bodies; the limits here are what turns bad requests into 422s."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

MAX_TEXTS = 256
MAX_CHARS = 10_000
MAX_TOP_K = 20


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[StrictStr] = Field(
        min_length=1, max_length=MAX_TEXTS, description=f"1 to {MAX_TEXTS} texts to classify."
    )
    top_k: int = Field(1, ge=1, le=MAX_TOP_K, description="Alternatives returned per text.")

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


class EmbeddingsRequest(BaseModel):
    """The OpenAI embeddings request shape, so OpenAI clients work unchanged."""

    model_config = ConfigDict(extra="forbid")

    input: StrictStr | list[StrictStr] = Field(description=f"A text or 1 to {MAX_TEXTS} texts.")
    model: str | None = Field(None, description="Ignored: the service has one model.")
    encoding_format: str = Field("float", pattern="^float$", description="Only 'float'.")

    @field_validator("input")
    @classmethod
    def _inputs(cls, value: str | list[str]) -> str | list[str]:
        texts = [value] if isinstance(value, str) else value
        if not 1 <= len(texts) <= MAX_TEXTS:
            raise ValueError(f"input needs 1 to {MAX_TEXTS} texts, got {len(texts)}")
        ClassifyRequest._text_lengths(texts)
        return value

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class Embedding(BaseModel):
    object: str = "embedding"
    index: int
    embedding: list[float]


class EmbeddingsUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: str = "list"
    model: str
    data: list[Embedding]
    usage: EmbeddingsUsage
