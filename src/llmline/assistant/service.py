"""The assistants one service answers with: the configured one, and any KB of the workspace.

The KB's catalog is an SQLite connection that belongs to the thread that opened it, and the
models gain nothing from running two requests at once on a small CPU, so every assistant call
runs on the hub's one worker thread; the HTTP handlers wait for it without blocking the loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from llmline.errors import DataError
from llmline.spec.assistant import AssistantSpec
from llmline.workspace import Workspace

if TYPE_CHECKING:
    from llmline.assistant.core import Assistant
    from llmline.monitor.store import RequestLogger

T = TypeVar("T")
STATE_KEY = "assistants"  # app.state.assistants


class UnknownKnowledgeBase(DataError):
    """A request names a KB this service does not have (HTTP 404)."""


class AssistantHub:
    """Assistants by KB name, created on first use; calls run on one worker thread."""

    def __init__(
        self, workspace: Workspace, specs: list[AssistantSpec] | None = None, *,
        request_log: RequestLogger | None = None,
        factory: Callable[[AssistantSpec], Assistant] | None = None,
    ) -> None:  # fmt: skip
        self.workspace, self.request_log = workspace, request_log
        self.specs = {spec.kb or "templates": spec for spec in specs or []}
        self.assistants: dict[str, Assistant] = {}
        self._factory = factory or self._make
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmline-assistant")

    def _make(self, spec: AssistantSpec) -> Assistant:
        from llmline.assistant.core import Assistant

        return Assistant(spec, self.workspace, request_log=self.request_log,
                         route="/v1/assistant")  # fmt: skip

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self._worker.submit(fn)

    def get(self, name: str | None) -> Assistant:
        """The assistant for KB `name`; None: the configured one when there is exactly one."""
        with self._lock:
            key = self._resolve(name)
            if key not in self.assistants:
                spec = self.specs.get(key) or AssistantSpec(kb=key)
                self.assistants[key] = self._factory(spec)
            return self.assistants[key]

    def _resolve(self, name: str | None) -> str:
        from llmline.kb.manifest import known_kbs

        known = sorted(set(self.specs) | set(known_kbs(self.workspace)))
        if name is None:
            if len(self.specs) == 1:
                return next(iter(self.specs))
            raise DataError(
                "name the knowledge base to ask",
                fix=f"set knowledge_base to one of: {', '.join(known) or '(none built yet)'}",
            )
        if name not in known:
            raise UnknownKnowledgeBase(
                f"no knowledge base {name!r} in this service",
                fix=f"use one of: {', '.join(known)}" if known
                else "build one with `llmline kb build NAME --input ...`",
            )  # fmt: skip
        return name

    def close(self) -> None:
        """Close each assistant on the worker thread, whose SQLite connections they hold."""
        for assistant in self.assistants.values():
            self._worker.submit(assistant.close).result()
        self._worker.shutdown(wait=True)


def read_assistant_block(path: Path | None) -> dict[str, Any] | None:
    """The `assistant:` block of a YAML file (a pipeline spec works), variables filled."""
    if path is None:
        return None
    from llmline.spec.load import read_yaml, substitute_variables

    raw = read_yaml(path)
    block = raw.get("assistant")
    if block is None:
        return None
    variables = {str(k): str(v) for k, v in (raw.get("variables") or {}).items()}
    resolved: dict[str, Any] = substitute_variables(block, variables, where=str(path))
    validate_block(resolved, str(path))
    return resolved


def validate_block(block: dict[str, Any], where: str) -> AssistantSpec:
    from pydantic import ValidationError

    from llmline.errors import SpecError
    from llmline.spec.load import describe_validation_error

    try:
        return AssistantSpec.model_validate(block)
    except ValidationError as exc:
        raise SpecError(f"assistant.{describe_validation_error(exc)}", where=where) from None


def attach(app: Any, block: dict[str, Any] | None, workspace: Workspace) -> AssistantHub:
    """Give a built app its assistants (app.state.assistants), closed when the app stops."""
    state = app.state.llmline
    specs = [validate_block(block, "assistant")] if block else []
    hub = AssistantHub(workspace, specs, request_log=state.request_log)
    setattr(app.state, STATE_KEY, hub)
    state.closers.append(hub.close)
    return hub
