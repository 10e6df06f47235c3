"""The assistant: one customer message in, an answer with citations (or a hand-off) out.

`Assistant.plan` routes the message (safety, intent, template, KB, confidence) and logs it;
`finish` writes the reply, checks generated text and logs it; `ask` and `stream` are the two
ways through, so the CLI, POST /v1/assistant and the chat route share every decision.

Why the confidence is what it is: fusion (RRF) and BM25 scores are ranks and term weights,
not probabilities, so a threshold on them means nothing across queries. The cross-encoder's
probability that the passage answers the message is trained to be one, and it is used when
the KB has a reranker; without one, the bi-encoder's cosine is the best evidence left.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from llmline.assistant import answers
from llmline.assistant.store import ConversationStore, default_url
from llmline.errors import DataError, ModelError, SpecError
from llmline.spec.assistant import AssistantSpec
from llmline.workspace import Workspace

if TYPE_CHECKING:
    from llmline.kb.base import Hit, KnowledgeBase
    from llmline.monitor.store import RequestLogger

Relevance = Callable[[str, str], float]


@dataclass
class Reply:
    """What the customer gets back, and what the conversation log and the monitor record."""

    conversation_id: str
    answer: str
    mode: str  # template | faq | passage | generated | handoff
    kb: str | None = None
    intent: dict[str, Any] | None = None
    confidence: float | None = None
    confidence_source: str | None = None  # intent | rerank | dense
    similarity: float | None = None  # the cosine, when assistant.min_similarity is set
    citations: list[dict[str, Any]] = field(default_factory=list)
    handoff: bool = False
    reason: str | None = None
    ticket: dict[str, Any] | None = None
    safety: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Plan:
    """A routed message: the reply so far and, when a model writes the answer, its prompt."""

    reply: Reply
    message: str
    hits: list[Hit] = field(default_factory=list)
    prompt: str | None = None
    started: float = field(default_factory=time.perf_counter)


class Assistant:
    """One assistant spec over one workspace; models load on first use."""

    def __init__(
        self, spec: AssistantSpec, workspace: Workspace, *, kb: KnowledgeBase | None = None,
        encoder: Any = None, intents: Any = None, generator: Any = None,
        relevance: Relevance | None = None, store: ConversationStore | None = None,
        request_log: RequestLogger | None = None, route: str = "assistant",
    ) -> None:  # fmt: skip
        self.spec, self.workspace, self.route = spec, workspace, route
        self._kb, self._encoder, self._intents = kb, encoder, intents
        self._generator, self._relevance = generator, relevance
        self.store = store or ConversationStore(default_url(spec.store_url, workspace.root))
        self.request_log = request_log
        self._checker: Any = None
        self._generate_lock = threading.Lock()

    # --- models, loaded on first use ----------------------------------------------------

    @property
    def kb(self) -> KnowledgeBase | None:
        if self._kb is None and self.spec.kb is not None:
            from llmline.kb.base import KnowledgeBase

            self._kb = KnowledgeBase.open(self.spec.kb, self.workspace, encoder=self._encoder)
        return self._kb

    @property
    def checker(self) -> Any:
        if self._checker is None:
            from llmline.govern.safety import build_checker
            from llmline.spec import SafetySpec

            self._checker = build_checker(SafetySpec.model_validate({}), self.workspace)
        return self._checker

    def _intent_predictor(self) -> Any:
        if self._intents is None and self.spec.intent_model is not None:
            self._intents = _load_model(self.spec.intent_model, self.workspace, "classification")
        return self._intents

    def generator(self) -> Any:
        if self._generator is None:
            self._generator = _load_model(self.spec.generate.model, self.workspace, "causal_lm")
        return self._generator

    # --- the two ways through -----------------------------------------------------------

    def ask(self, message: str, conversation_id: str | None = None, *,
            generate: bool = False) -> Reply:  # fmt: skip
        plan = self.plan(message, conversation_id, generate=generate)
        if plan.prompt is None:
            return self.finish(plan, plan.reply.answer)
        settings = self.spec.generate
        with self._generate_lock:  # one generation at a time: the CPU threads would fight
            result = self.generator().generate(
                [plan.prompt], max_new_tokens=settings.max_new_tokens,
                temperature=settings.temperature,
            )[0]  # fmt: skip
        return self.finish(plan, result.text.strip())

    def stream(self, plan: Plan) -> Iterator[str]:
        """The answer's pieces as the model writes them (the whole answer when none does)."""
        if plan.prompt is None:
            yield plan.reply.answer
            return
        settings = self.spec.generate
        with self._generate_lock:
            yield from self.generator().stream(
                plan.prompt, max_new_tokens=settings.max_new_tokens,
                temperature=settings.temperature,
            )  # fmt: skip

    # --- routing ------------------------------------------------------------------------

    def plan(self, message: str, conversation_id: str | None = None, *,
             generate: bool = False) -> Plan:  # fmt: skip
        """Route one message; a hand-off is decided (and its ticket opened) here."""
        message = self._checked(message)
        if conversation_id is None:
            conversation_id = self.store.new_conversation(self.spec.kb)
        else:
            self.store.check_conversation(conversation_id)
        plan = Plan(Reply(conversation_id, "", "handoff", kb=self.spec.kb), message)
        plan.reply.safety = sorted(set(self.checker.check(message, injection=True).categories))
        intent = self._intent(message)
        plan.reply.intent = intent
        self.store.add_message(conversation_id, "user", message, safety=plan.reply.safety,
                               intent=intent["label"] if intent else None)  # fmt: skip
        reason = self._route(plan, intent, generate=generate)
        if reason is not None:
            self._hand_off(plan, reason)
        return plan

    def _checked(self, message: str) -> str:
        text = message.strip()
        if not text:
            raise DataError("the message is empty", fix="send the customer's question as text")
        if len(text) > self.spec.max_message_chars:
            raise DataError(
                f"the message has {len(text)} characters; the limit is "
                f"{self.spec.max_message_chars}",
                where="assistant.max_message_chars", fix="send a shorter message",
            )  # fmt: skip
        return text

    def _intent(self, message: str) -> dict[str, Any] | None:
        predictor = self._intent_predictor()
        if predictor is None:
            return None
        result = predictor.predict([message], top_k=3)[0]
        return {"label": str(result["label"]), "score": round(float(result["score"]), 6),
                "top_k": result.get("top_k", [])}  # fmt: skip

    def _route(self, plan: Plan, intent: dict[str, Any] | None, *, generate: bool) -> str | None:
        """Fill the reply; return the hand-off reason, or None when the assistant answers."""
        reply, spec = plan.reply, self.spec
        injected = any(c.startswith("injection:") for c in reply.safety)
        if reply.safety and (injected or spec.unsafe == "handoff"):
            return f"safety: {', '.join(reply.safety)}"
        label = intent["label"] if intent is not None else None
        if label in spec.human_only:
            return f"intent {label} is handled by people"
        score = intent["score"] if intent is not None else 0.0
        if label in spec.templates and score >= spec.min_intent_confidence:
            reply.answer, reply.mode = spec.templates[str(label)], "template"
            reply.confidence, reply.confidence_source = score, "intent"
            return None
        if self.kb is None:
            return f"no template for intent {label or 'unknown'} and no knowledge base"
        return self._from_kb(plan, generate=generate)

    def _from_kb(self, plan: Plan, *, generate: bool) -> str | None:
        kb, reply = self.kb, plan.reply
        assert kb is not None
        if kb.catalog.counts()["chunks"] == 0:
            return f"knowledge base {kb.name!r} is empty"
        from llmline.kb.ingest import clean

        query = clean(plan.message, redact=False)  # as the KB cleaned its text (NFKC, spaces)
        hits = kb.search(query, retriever=self.spec.retriever,
                         top_k=max(self.spec.max_passages, kb.spec.top_k))  # fmt: skip
        plan.hits = hits[: self.spec.max_passages]
        reply.citations = answers.citations(plan.hits)
        if not hits:
            return "no passage matches the message"
        confidence, source = self.confidence(query, hits[0])
        reply.confidence, reply.confidence_source = round(confidence, 6), source
        if confidence < self.spec.min_confidence:
            return f"{source} confidence {confidence:.3f} is below {self.spec.min_confidence}"
        floor = self.spec.min_similarity
        if floor is not None:
            similarity = self.similarity(query, hits[0]) if source != "dense" else confidence
            reply.similarity = round(similarity, 6)
            if similarity < floor:
                return f"dense similarity {similarity:.3f} is below {floor} (off-topic?)"
        if generate:
            messages = answers.generation_messages(plan.message, plan.hits)
            plan.prompt = self.generator().chat_prompt(messages)
            reply.mode = "generated"
            return None
        faq = answers.faq_answer(hits[0], redact=kb.spec.redact)
        reply.answer, reply.mode = (faq, "faq") if faq else (hits[0].chunk.text, "passage")
        reply.citations = reply.citations[:1]  # the answer is that one passage
        return None

    def confidence(self, message: str, hit: Hit) -> tuple[float, str]:
        """How sure the best passage answers: against an FAQ row's question (is it the same
        question?), else against the passage (does it answer?)."""
        kb = self.kb
        assert kb is not None
        source = self.spec.confidence
        if source == "auto":  # the reranker's word when the search reranks, else the cosine
            reranks = (self.spec.retriever or kb.spec.retriever) == "hybrid+rerank"
            source = "rerank" if self._relevance or (reranks and kb.spec.reranker) else "dense"
        if source == "rerank":
            return self._relevance_fn()(message, self._compared_text(hit)), "rerank"
        return self.similarity(message, hit), "dense"

    def similarity(self, message: str, hit: Hit) -> float:
        """The encoder's cosine between the message and the hit's FAQ question (or passage)."""
        kb = self.kb
        assert kb is not None
        query = kb.encoder.encode_queries([message])[0]
        passage = kb.encoder.encode_passages([self._compared_text(hit)])[0]
        return float(query @ passage)

    def _compared_text(self, hit: Hit) -> str:
        """What a message is compared with: an FAQ row's question, else the passage."""
        kb = self.kb
        assert kb is not None
        return answers.faq_question(hit, redact=kb.spec.redact) or hit.chunk.text

    def _relevance_fn(self) -> Relevance:
        if self._relevance is None:
            kb = self.kb
            assert kb is not None
            if kb.spec.reranker is None:
                raise SpecError(
                    f"assistant.confidence is rerank, and KB {kb.name!r} has no reranker",
                    fix="set kb.reranker and rebuild, or set assistant.confidence: dense",
                )
            self._relevance = _reranker_probability(kb)
        return self._relevance

    def _hand_off(self, plan: Plan, reason: str) -> None:
        reply = plan.reply
        ticket = self.store.open_ticket(reply.conversation_id, reason)
        reply.mode, reply.handoff, reply.reason = "handoff", True, reason
        reply.ticket = {"id": ticket.id, "status": ticket.status, "reason": reason}
        reply.answer = answers.handoff_reply(plan.message, ticket.id)
        plan.prompt = None

    # --- after the answer ---------------------------------------------------------------

    def finish(self, plan: Plan, text: str) -> Reply:
        """Check a generated answer, log the reply and the request, return it."""
        reply = plan.reply
        if plan.prompt is not None:
            flagged = sorted(set(self.checker.check(text, injection=False).categories))
            reply.safety = sorted(set(reply.safety) | set(flagged))
            if self.spec.unsafe == "flag":
                flagged = []
            if not text.strip() or flagged:
                why = f"safety: {', '.join(flagged)}" if flagged else "the model wrote nothing"
                self._hand_off(plan, f"generated answer withheld ({why})")
                text = reply.answer
        reply.answer = text
        self.store.add_message(
            reply.conversation_id, "assistant", text, mode=reply.mode,
            intent=reply.intent["label"] if reply.intent else None, confidence=reply.confidence,
            citations=[{k: c[k] for k in ("n", "chunk_id", "doc_id", "source", "score")}
                       for c in reply.citations],
        )  # fmt: skip
        self._monitor(plan)
        return reply

    def _monitor(self, plan: Plan) -> None:
        """One monitoring row per message: its confidence, so drift in what is asked shows."""
        if self.request_log is None:
            return
        reply = plan.reply
        label = reply.intent["label"] if reply.intent else reply.mode
        self.request_log.log_predictions(
            route=self.route, model_ref=f"kb:{reply.kb or '-'}", model_version="",
            texts=[plan.message], results=[{"label": label, "score": reply.confidence}],
            latency_s=time.perf_counter() - plan.started,
        )  # fmt: skip

    def close(self) -> None:
        self.store.dispose()
        if self._kb is not None:
            self._kb.catalog.close()


def _load_model(reference: str, workspace: Workspace, task: str) -> Any:
    from llmline.models.predictor import load_predictor
    from llmline.models.resolve import resolve_model

    predictor = load_predictor(resolve_model(reference, workspace))
    if getattr(predictor, "task", task) != task:
        key = "assistant.intent_model" if task == "classification" else "assistant.generate.model"
        raise ModelError(
            f"{reference} is a {predictor.task} model, not {task}",
            where=key, fix=f"name a {task} model",
        )  # fmt: skip
    return predictor


def _reranker_probability(kb: KnowledgeBase) -> Relevance:
    """P(the passage answers the message) from the KB's cross-encoder (softmax / sigmoid)."""
    import numpy as np
    import torch

    from llmline.kb.embed import load_reranker

    model = load_reranker(kb.spec, kb.workspace).model

    def probability(query: str, text: str) -> float:
        if model.num_labels == 1:
            out = model.predict([(query, text)], activation_fn=torch.nn.Sigmoid(),
                                show_progress_bar=False)  # fmt: skip
        else:
            out = model.predict([(query, text)], apply_softmax=True, show_progress_bar=False)
        array = np.asarray(out, dtype=np.float32)
        return float(array[0, -1] if array.ndim == 2 else array[0])

    return probability
