"""Conversations and hand-off tickets, in SQLite by default or any SQLAlchemy URL.

The monitoring store's conventions: `store_url(url, default)` picks the URL, SQLite waits for
the write lock instead of failing, and text is stored only after PII redaction
(`llmline.data.pii.redact_text`), so neither a message nor a ticket holds raw personal data.
A ticket keeps a snapshot of the conversation as it was when it was handed off, so the person
who picks it up reads what the customer said without a second query.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmline.errors import DataError, ServeError

TICKET_STATUSES = ("open", "closed")


class UnknownConversation(DataError):
    """A message names a conversation the store does not have (HTTP 404)."""


def _tables(metadata: Any) -> tuple[Any, Any, Any]:
    from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

    conversations = Table(
        "assistant_conversations", metadata,
        Column("id", String(64), primary_key=True),
        Column("kb", String(200)),
        Column("created_at", Float, nullable=False),
    )  # fmt: skip
    messages = Table(
        "assistant_messages", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("conversation_id", String(64), nullable=False),
        Column("ts", Float, nullable=False),
        Column("role", String(20), nullable=False),
        Column("text_redacted", Text, nullable=False),
        Column("mode", String(20)),
        Column("intent", String(200)),
        Column("confidence", Float),
        Column("citations", Text),
        Column("safety", Text),
    )  # fmt: skip
    Index("ix_assistant_messages_conversation", messages.c.conversation_id)
    tickets = Table(
        "assistant_tickets", metadata,
        Column("id", String(64), primary_key=True),
        Column("conversation_id", String(64), nullable=False),
        Column("created_at", Float, nullable=False),
        Column("status", String(20), nullable=False),
        Column("reason", Text, nullable=False),
        Column("messages", Text, nullable=False),
    )  # fmt: skip
    return conversations, messages, tickets


@dataclass
class Ticket:
    id: str
    conversation_id: str
    created_at: float
    status: str
    reason: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "conversation_id": self.conversation_id,
                "created_at": self.created_at, "status": self.status, "reason": self.reason,
                "messages": self.messages}  # fmt: skip


def default_url(url: str | None, workspace_root: Path) -> str:
    from llmline.monitor.store import store_url

    return store_url(url, workspace_root / "assistant.db")


class ConversationStore:
    """Create conversations, append redacted messages, open and list tickets."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import MetaData, create_engine
        from sqlalchemy.exc import DatabaseError, OperationalError

        self.url = url
        sqlite = url.startswith("sqlite")
        try:
            self.engine = create_engine(url, connect_args={"timeout": 30} if sqlite else {})
            metadata = MetaData()
            self.conversations, self.messages, self.tickets = _tables(metadata)
            metadata.create_all(self.engine)
        except (DatabaseError, OperationalError) as exc:
            raise ServeError(
                f"cannot open the conversation store ({type(exc.orig).__name__}: {exc.orig})",
                where=url, fix="check assistant.store_url, the server and the credentials",
            ) from None  # fmt: skip

    def new_conversation(self, kb: str | None) -> str:
        conversation_id = f"c-{secrets.token_hex(8)}"
        with self.engine.begin() as conn:
            conn.execute(
                self.conversations.insert(),
                [{"id": conversation_id, "kb": kb, "created_at": time.time()}],
            )
        return conversation_id

    def check_conversation(self, conversation_id: str) -> None:
        """An unknown id is the caller's mistake: a typo must not start a second thread."""
        from sqlalchemy import select

        query = select(self.conversations.c.id).where(self.conversations.c.id == conversation_id)
        with self.engine.connect() as conn:
            if conn.execute(query).first() is None:
                raise UnknownConversation(
                    f"unknown conversation {conversation_id!r}",
                    fix="omit the conversation id to start a new conversation, or use the id "
                    "an earlier answer returned",
                )

    def add_message(
        self, conversation_id: str, role: str, text: str, *, mode: str | None = None,
        intent: str | None = None, confidence: float | None = None,
        citations: list[dict[str, Any]] | None = None, safety: list[str] | None = None,
    ) -> None:  # fmt: skip
        from llmline.data.pii import redact_text

        row = {
            "conversation_id": conversation_id, "ts": time.time(), "role": role,
            "text_redacted": redact_text(text)[0], "mode": mode, "intent": intent,
            "confidence": confidence,
            "citations": json.dumps(citations or [], ensure_ascii=False),
            "safety": json.dumps(safety or [], ensure_ascii=False),
        }  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(self.messages.insert(), [row])

    def history(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's messages, oldest first (text already redacted)."""
        from sqlalchemy import select

        table = self.messages
        query = (
            select(table.c.ts, table.c.role, table.c.text_redacted, table.c.mode, table.c.intent,
                   table.c.confidence, table.c.safety)
            .where(table.c.conversation_id == conversation_id)
            .order_by(table.c.id)
        )  # fmt: skip
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {"ts": r.ts, "role": r.role, "text": r.text_redacted, "mode": r.mode,
             "intent": r.intent, "confidence": r.confidence, "safety": json.loads(r.safety or "[]")}
            for r in rows
        ]  # fmt: skip

    def open_ticket(self, conversation_id: str, reason: str) -> Ticket:
        ticket = Ticket(
            id=f"t-{secrets.token_hex(6)}", conversation_id=conversation_id,
            created_at=time.time(), status="open", reason=reason,
            messages=self.history(conversation_id),
        )  # fmt: skip
        row = ticket.as_dict() | {"messages": json.dumps(ticket.messages, ensure_ascii=False)}
        with self.engine.begin() as conn:
            conn.execute(self.tickets.insert(), [row])
        return ticket

    def list_tickets(self, status: str | None = None) -> list[Ticket]:
        from sqlalchemy import select

        if status is not None and status not in TICKET_STATUSES:
            raise DataError(
                f"unknown ticket status {status!r}", fix=f"use one of {', '.join(TICKET_STATUSES)}"
            )
        query = select(self.tickets).order_by(self.tickets.c.created_at)
        if status is not None:
            query = query.where(self.tickets.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Ticket(r.id, r.conversation_id, r.created_at, r.status, r.reason,
                   json.loads(r.messages))
            for r in rows
        ]  # fmt: skip

    def close_ticket(self, ticket_id: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                self.tickets.update().where(self.tickets.c.id == ticket_id).values(status="closed")
            ).rowcount
        if not done:
            raise DataError(f"unknown ticket {ticket_id!r}", fix="`llmline kb tickets` lists them")

    def dispose(self) -> None:
        self.engine.dispose()
