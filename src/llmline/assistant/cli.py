"""`llmline kb ask` and `llmline kb tickets`: the assistant from the command line.

A generated answer is printed as the model writes it; every other reply at once. Each ask is
recorded in the workspace's monitoring store (route `cli:kb ask`) as a served request is.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmline.errors import SpecError
from llmline.spec.assistant import AssistantSpec
from llmline.workspace import Workspace

if TYPE_CHECKING:
    from llmline.assistant.core import Reply


def load_assistant_spec(name: str | None, spec_path: Path | None) -> AssistantSpec:
    """The spec file's assistant: block (its kb must be `name`), or the defaults for `name`."""
    from llmline.assistant.service import read_assistant_block, validate_block

    block = read_assistant_block(spec_path)
    if block is None:
        if spec_path is not None:
            raise SpecError("no assistant: block", where=str(spec_path), fix="add one")
        return AssistantSpec(kb=name)
    spec = validate_block(block, str(spec_path))
    if name is not None and spec.kb is not None and spec.kb != name:
        raise SpecError(
            f"assistant.kb is {spec.kb!r}, not {name!r}",
            where=str(spec_path), fix=f"run `llmline kb ask {spec.kb} ...`, or edit assistant.kb",
        )  # fmt: skip
    return spec


def ask(
    name: str, message: str, workspace: Workspace, *, conversation: str | None,
    generate: bool, spec_path: Path | None, as_json: bool,
) -> int:  # fmt: skip
    from llmline.assistant.core import Assistant
    from llmline.kb.base import kb_dir
    from llmline.monitor.store import RequestLogger, store_url

    kb_dir(workspace, name)  # a bad name is named as such, before anything opens
    spec = load_assistant_spec(name, spec_path)
    log = RequestLogger(store_url(None, workspace.monitor_db))
    assistant = Assistant(spec, workspace, request_log=log, route="cli:kb ask")
    try:
        plan = assistant.plan(message, conversation, generate=generate)
        text = ""
        for piece in assistant.stream(plan):
            text += piece
            if not as_json and plan.prompt is not None:
                sys.stdout.write(piece)
                sys.stdout.flush()
        streamed = plan.prompt is not None and not as_json
        reply = assistant.finish(plan, text)
    finally:
        assistant.close()
        log.close()
    if as_json:
        print(json.dumps(reply.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print_reply(reply, streamed=streamed)
    return 0


def _print_reply(reply: Reply, *, streamed: bool) -> None:
    if streamed:
        print()
        if reply.handoff:  # the generated text was withheld
            print(reply.answer)
    else:
        print(reply.answer)
    for citation in reply.citations:
        print(f"  [{citation['n']}] {citation['source']} {citation['doc_id']} chars "
              f"{citation['start']}-{citation['end']}  score {citation['score']:.4f}")  # fmt: skip
    facts = [f"mode {reply.mode}", f"conversation {reply.conversation_id}"]
    if reply.intent is not None:
        facts.insert(0, f"intent {reply.intent['label']} ({reply.intent['score']:.3f})")
    if reply.confidence is not None:
        facts.insert(1, f"confidence {reply.confidence:.3f} ({reply.confidence_source})")
    print(" · ".join(facts))
    if reply.ticket is not None:
        print(f"handed off: ticket {reply.ticket['id']} ({reply.reason})")


def tickets(
    workspace: Workspace, *, status: str | None, close: str | None, spec_path: Path | None,
    as_json: bool,
) -> int:  # fmt: skip
    from llmline.assistant.store import ConversationStore, default_url

    url = None if spec_path is None else load_assistant_spec(None, spec_path).store_url
    store = ConversationStore(default_url(url, workspace.root))
    try:
        if close is not None:
            store.close_ticket(close)
        found = store.list_tickets(status)
    finally:
        store.dispose()
    if as_json:
        print(json.dumps([t.as_dict() for t in found], ensure_ascii=False, indent=2))
        return 0
    if not found:
        print("no tickets" + (f" with status {status}" if status else ""))
    for ticket in found:
        _print_ticket(ticket.as_dict())
    return 0


def _print_ticket(ticket: dict[str, Any]) -> None:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ticket["created_at"]))
    print(f"{ticket['id']}  {ticket['status']}  {when}  conversation {ticket['conversation_id']}"
          f"  reason: {ticket['reason']}")  # fmt: skip
    for message in ticket["messages"]:
        print(f"    {message['role']}: {message['text']}")
