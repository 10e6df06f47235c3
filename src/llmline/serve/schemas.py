"""Request and response bodies; the limits here are what turns bad requests into 422s.

Every limit a route enforces is declared in the OpenAPI schema as well (maxItems, maxLength, a
non-blank pattern, maximum), so generated clients and fuzzers send only what the routes accept.
The models carry the hard caps; a keyword marked with `x-llmline-setting` is narrowed to the
service's own ServeSpec value when the app publishes its schema (`declare_limits`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, field_validator

from llmline.spec.serve import TEXT_CHARS_CAP, TEXTS_CAP, ServeSpec

MAX_TEXTS = TEXTS_CAP
MAX_CHARS = TEXT_CHARS_CAP
MAX_TOP_K = 20
SETTING_MARK = "x-llmline-setting"
# At least one character that is not whitespace, in Python's sense and in ECMA-262's (which
# JSON Schema tools use): spelled out, so both regex engines read the same set.
NON_BLANK = r"[^\s\u001c-\u001f\u0085\ufeff]"


def limits(**keywords: Any) -> dict[str, Any]:
    """json_schema_extra for a field: keyword=value pairs, plus `keyword=("setting", cap)`
    pairs whose value the app replaces with `ServeSpec.setting`."""
    extra: dict[str, Any] = {}
    marks: dict[str, str] = {}
    for keyword, value in keywords.items():
        if isinstance(value, tuple):
            marks[keyword], value = value
        extra[keyword] = value
    return {**extra, SETTING_MARK: marks} if marks else extra


# One text of a request: non-blank, at most max_text_chars characters.
Text = Annotated[
    StrictStr,
    Field(json_schema_extra=limits(maxLength=("max_text_chars", MAX_CHARS), pattern=NON_BLANK)),
]
TextList = Annotated[
    list[Text],
    Field(
        min_length=1,
        max_length=MAX_TEXTS,
        json_schema_extra=limits(maxItems=("max_texts", MAX_TEXTS)),
    ),
]


def _json_integer(value: Any) -> Any:
    """JSON Schema's integer: 13 and 13.0, never true or "13" (the models are strict)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


AS_INTEGER = BeforeValidator(_json_integer)
# Constraints go in the field (`x: JsonInt = Field(ge=1)`), or before AS_INTEGER in an
# Annotated: pydantic leaves constraints placed after a BeforeValidator out of the schema.
JsonInt = Annotated[int, AS_INTEGER]


def declare_limits(schema: dict[str, Any], settings: ServeSpec) -> dict[str, Any]:
    """Set every marked keyword of an OpenAPI document to the service's setting, in place."""
    marks = schema.pop(SETTING_MARK, None)
    if isinstance(marks, dict):
        for keyword, setting in marks.items():
            schema[keyword] = getattr(settings, setting)
    for value in schema.values():
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, dict):
                declare_limits(child, settings)
    return schema


class Problem(BaseModel):
    """Every error answer: one readable line, and for a 422 one line per wrong field."""

    detail: str = Field(description="What failed, where, and how to fix it.")
    errors: list[str] | None = Field(None, description="422: one line per invalid field.")
    categories: list[str] | None = Field(None, description="Safety refusals: what fired.")


def declare_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Document the service's real error shape (Problem) for 422 and every other error status.

    FastAPI documents 422 as pydantic's raw error list, which the app's handler replaces with
    readable lines; the gate, the safety policy and the routes answer 4xx/5xx the same way.
    """
    from pydantic.json_schema import models_json_schema

    _, definitions = models_json_schema(
        [(Problem, "serialization")], ref_template="#/components/schemas/{model}"
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(definitions.get("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "Invalid request", "content": problem}
            responses["default"] = {"description": "An error", "content": problem}
    return schema


def check_texts(texts: list[str], *, limit: int = MAX_CHARS, field: str = "texts") -> list[str]:
    """Readable 422 messages for a blank or over-long text (the schema says the same)."""
    for index, text in enumerate(texts):
        if len(text) > limit:
            raise ValueError(f"{field}[{index}] has {len(text)} characters; the limit is {limit}")
        if not re.search(NON_BLANK, text):
            raise ValueError(f"{field}[{index}] is empty")
    return texts


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    texts: TextList = Field(description=f"1 to {MAX_TEXTS} non-blank texts to classify.")
    top_k: JsonInt = Field(1, ge=1, le=MAX_TOP_K, description="Alternatives returned per text.")

    @field_validator("texts", mode="before")
    @classmethod
    def _text_lengths(cls, texts: Any) -> Any:
        if isinstance(texts, list) and all(isinstance(t, str) for t in texts):
            check_texts(texts)
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

    model_config = ConfigDict(extra="forbid", strict=True)

    input: Text | TextList = Field(description=f"A text or 1 to {MAX_TEXTS} texts.")
    model: str | None = Field(None, description="Ignored: the service has one model.")
    encoding_format: str = Field("float", pattern="^float$", description="Only 'float'.")

    @field_validator("input", mode="before")
    @classmethod
    def _inputs(cls, value: Any) -> Any:
        texts = [value] if isinstance(value, str) else value
        if isinstance(texts, list) and all(isinstance(t, str) for t in texts):
            if not 1 <= len(texts) <= MAX_TEXTS:
                raise ValueError(f"input needs 1 to {MAX_TEXTS} texts, got {len(texts)}")
            check_texts(texts, field="input")
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
