"""The `assistant:` block: the customer-service assistant over a knowledge base.

Routing, in order: the safety checks, then the intent model (human-only intents hand off,
templated intents answer from their template), then the KB (the best passage answers). Below
the confidence thresholds the message is handed off to a person as a ticket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from llmline.spec.base import StrictModel
from llmline.spec.kb import Retriever

InputKind = Literal["files", "question_pairs", "answer_pairs", "templates"]


class KbInputSpec(StrictModel):
    """What the chain's `kb` stage (or `llmline kb build NAME --spec`) indexes into the KB."""

    path: Path | None = Field(
        None, description="A folder or file (files), a pair table (the *_pairs kinds); "
        "templates: null (the rows come from assistant.templates and the training data)."
    )  # fmt: skip
    kind: InputKind = Field(
        "files",
        description="files: documents and FAQ tables as `kb build` reads them; "
        "question_pairs: every distinct question of a same/different pair table is an FAQ row "
        "whose answer is the canonical question of its cluster of same-meaning pairs; "
        "answer_pairs: the distinct texts of pair_column (answers) are the documents; "
        "templates: one FAQ row per templated intent and training example of that intent.",
    )
    format: Literal["csv", "tsv", "jsonl"] | None = Field(
        None, description="Pair table format; null: from the file suffix (.txt reads as TSV)."
    )
    columns: list[str] | None = Field(
        None, description="A pair table without a header line: its column names, in order."
    )
    id_column: str | None = Field(None, description="files: the id column of tables.")
    text_column: str | None = Field(
        None, description="files: the text column of tables; pairs: the first text."
    )
    pair_column: str | None = Field(None, description="pairs: the second text (the answer).")
    label_column: str | None = Field(None, description="pairs: the same/relevant label.")
    positive_label: str = Field("1", description="pairs: the label value meaning same/relevant.")
    examples_per_intent: int = Field(
        5, ge=0, description="templates: training texts of each intent indexed as its questions."
    )

    @model_validator(mode="after")
    def _columns_for_kind(self) -> KbInputSpec:
        if self.kind in ("question_pairs", "answer_pairs"):
            if self.path is None:
                raise ValueError(f"assistant.input.path: kind {self.kind} reads a pair table")
            for key in ("text_column", "pair_column"):
                if getattr(self, key) is None:
                    raise ValueError(f"assistant.input.{key}: kind {self.kind} needs it")
        if self.kind == "question_pairs" and self.label_column is None:
            raise ValueError("assistant.input.label_column: question_pairs clusters by label")
        if self.kind == "files" and self.path is None:
            raise ValueError("assistant.input.path: kind files needs a folder or file")
        return self


class GenerateSpec(StrictModel):
    """The chat model that writes answers from the retrieved passages (the generate flag)."""

    model: str = Field(
        "packaged:gemma3-270m",
        description="Causal LM reference (packaged:gemma3-270m, packaged:smollm2, models:/...).",
    )
    max_new_tokens: int = Field(256, ge=1, le=4096, description="Longest generated answer.")
    temperature: float = Field(0.0, ge=0, le=2, description="0 decodes greedily.")


class AssistantSpec(StrictModel):
    """A customer-service assistant: intent routing, KB answers with citations, hand-off."""

    kb: str | None = Field(
        None, pattern=r"^[a-zA-Z0-9][\w.-]*$",
        description="Knowledge base name (<workspace>/kb/NAME); null: templates only.",
    )  # fmt: skip
    input: KbInputSpec | None = Field(
        None, description="What the chain's kb stage indexes into the KB; null: built elsewhere."
    )
    retriever: Retriever | None = Field(None, description="null: the KB's own retriever.")
    intent_model: str | None = Field(
        None, description="Classification model reference whose labels are intents; null: none."
    )
    templates: dict[str, str] = Field(
        default_factory=dict, description="Intent -> answer template, answered without the KB."
    )
    human_only: list[str] = Field(
        default_factory=list,
        description="Intents always handed to a person when they are the top intent, whatever "
        "its probability (a missed hand-off costs more than a needless one).",
    )
    min_intent_confidence: float = Field(
        0.5, ge=0, le=1,
        description="Intent probability a template answer needs; below it the KB answers.",
    )  # fmt: skip
    confidence: Literal["auto", "rerank", "dense"] = Field(
        "auto",
        description="What a KB answer's confidence is: rerank = the cross-encoder's "
        "probability that the best passage answers the message (calibrated by training); "
        "dense = the cosine between message and best passage; auto = rerank when the search "
        "reranks (retriever hybrid+rerank), else dense. Fusion (RRF) and BM25 scores are "
        "ranks, not confidences.",
    )
    min_confidence: float = Field(
        0.5,
        ge=-1,
        le=1,
        description="Hand off when the KB answer's confidence is below this (its scale: see "
        "confidence; cosines of e5-style encoders sit high, set it from `llmline kb ask`).",
    )
    min_similarity: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="Also hand off when the cosine between the message and the best FAQ "
        "question (or passage) is below this, whatever the reranker says: a cross-encoder "
        "trained on one domain's pairs rates an off-topic message of the same shape as the "
        "same question (怎么学好英语 ~ 如何升额: 0.97), while the encoder still sees that it is "
        "far from everything in the KB. null: no floor. Measure it with "
        "benchmarks/bench_faq_handoff.py.",
    )
    max_passages: int = Field(3, ge=1, le=20, description="Passages cited (and given to the LM).")
    generate: GenerateSpec = Field(
        default_factory=GenerateSpec, description="Model for answers written from passages."
    )
    store_url: str | None = Field(
        None, description="Conversations and tickets: null = <workspace>/assistant.db (SQLite); "
        "postgresql+psycopg://... = PostgreSQL (the monitoring store's conventions).",
    )  # fmt: skip
    unsafe: Literal["handoff", "flag"] = Field(
        "handoff",
        description="A message (or generated answer) the safety lexicons flag: handoff = a "
        "person takes it; flag = answered, the categories recorded in the reply and the log "
        "(for domains whose words the lexicons flag, e.g. anatomy in medicine). Prompt "
        "injection hands off either way.",
    )
    max_message_chars: int = Field(2000, ge=1, le=10_000, description="Longer messages: error.")

    @model_validator(mode="after")
    def _something_answers(self) -> AssistantSpec:
        if self.kb is None and not self.templates:
            raise ValueError("assistant.kb: name a knowledge base, or give templates")
        if self.input is not None and self.kb is None:
            raise ValueError("assistant.kb: input is indexed into a KB; name it")
        if self.input is not None and self.input.kind == "templates" and not self.templates:
            raise ValueError("assistant.templates: input kind templates indexes them; add some")
        clash = sorted(set(self.human_only) & set(self.templates))
        if clash:
            raise ValueError(f"assistant.human_only: {', '.join(clash)} also has a template")
        return self
