"""Answer texts: the FAQ row's answer, citations, the hand-off reply, the generation prompt.

An FAQ chunk is one table row stored as its cleaned "question\\nanswer" text; its answer is
that text after the cleaned question (the KB keeps the question in the chunk's meta). Any
other chunk (a document passage) answers with its own text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmline.kb.base import Hit

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Each passage is cut to this many characters in the prompt: a 270M model's context is short
# and the first part of an FAQ answer or a paragraph carries its point.
PASSAGE_CHARS = 600


def is_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


def faq_question(hit: Hit, *, redact: bool) -> str | None:
    """The cleaned question of an FAQ row, or None when the chunk is not an FAQ row."""
    from llmline.kb.ingest import clean

    question = hit.chunk.meta.get("question")
    if not hit.chunk.meta.get("whole") or not isinstance(question, str):
        return None
    return clean(question, redact=redact)


def faq_answer(hit: Hit, *, redact: bool) -> str | None:
    """The answer column of an FAQ row, or None when the chunk is not an FAQ row."""
    chunk = hit.chunk
    cleaned = faq_question(hit, redact=redact)
    if cleaned is None:
        return None
    if cleaned and chunk.text.startswith(cleaned):
        rest = chunk.text[len(cleaned) :].strip()
    else:  # cleaning changed the question's text: the answer still starts on the next line
        rest = chunk.text.partition("\n")[2].strip()
    return rest or None


def citations(hits: list[Hit]) -> list[dict[str, Any]]:
    """Numbered citations, [1] first: what a generated answer's [n] marks refer to."""
    return [
        {"n": n, "chunk_id": h.chunk.id, "doc_id": h.chunk.doc_id, "source": h.chunk.source,
         "start": h.chunk.start, "end": h.chunk.end, "sha256": h.chunk.sha256,
         "score": round(h.score, 6), "text": h.chunk.text}
        for n, h in enumerate(hits, start=1)
    ]  # fmt: skip


def handoff_reply(message: str, ticket_id: str) -> str:
    if is_chinese(message):
        return f"这个问题我已转交人工客服（工单 {ticket_id}），同事会尽快联系您。"
    return (f"I have passed your question to a colleague (ticket {ticket_id}); they will get "
            "back to you.")  # fmt: skip


def generation_messages(message: str, hits: list[Hit]) -> list[dict[str, str]]:
    """System + user messages asking the chat model to answer from numbered passages."""
    passages = "\n\n".join(
        f"[{n}] {h.chunk.text[:PASSAGE_CHARS]}" for n, h in enumerate(hits, start=1)
    )
    if is_chinese(message):
        system = ("你是银行和医疗等领域的客服助手。只根据下面编号的资料回答用户的问题，"
                  "在用到的句子后用[1]、[2]这样的编号标注出处。资料里没有答案时，"
                  "请说明会转交人工客服，不要编造。")  # fmt: skip
        user = f"资料：\n{passages}\n\n问题：{message}"
    else:
        system = ("You are a customer-service assistant. Answer the customer's question only "
                  "from the numbered passages below and cite them as [1], [2] after the "
                  "sentences that use them. If the passages do not answer it, say that you "
                  "will pass the question to a colleague; do not make anything up.")  # fmt: skip
        user = f"Passages:\n{passages}\n\nQuestion: {message}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
