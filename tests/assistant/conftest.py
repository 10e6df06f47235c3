"""Assistant fixtures: a KB on the hashing encoder, stand-in intent and chat models."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmline.assistant.core import Assistant
from llmline.kb.build import build_kb
from llmline.kb.ingest import TableColumns
from llmline.spec.assistant import AssistantSpec
from llmline.spec.kb import KbSpec
from llmline.workspace import Workspace
from tests.kb.conftest import HashEncoder, corpus, encoder  # noqa: F401  (fixtures)


class KeywordIntents:
    """An intent 'model': the first keyword found decides, with a fixed probability."""

    task = "classification"

    def __init__(self, rules: dict[str, tuple[str, float]]) -> None:
        self.rules = rules

    def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[dict[str, Any]]:
        out = []
        for text in texts:
            label, score = next(
                (v for k, v in self.rules.items() if k in text.casefold()), ("other", 0.2)
            )
            top = [{"label": label, "score": score}]
            out.append({"label": label, "score": score, "top_k": top})
        return out


@dataclass
class _Generation:
    text: str


class EchoGenerator:
    """A 'chat model' that answers by quoting the first passage with a [1] citation."""

    task = "causal_lm"

    def __init__(self, reply: str | None = None) -> None:
        self.reply = reply
        self.prompts: list[str] = []

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages)

    def _text(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if self.reply is not None:
            return self.reply
        first = prompt.split("[1] ", 1)[1].split("\n", 1)[0]
        return f"{first} [1]"

    def generate(self, prompts: Sequence[str], **overrides: Any) -> list[_Generation]:
        return [_Generation(self._text(p)) for p in prompts]

    def stream(self, prompt: str, **overrides: Any) -> Iterator[str]:
        text = self._text(prompt)
        for start in range(0, len(text), 4):
            yield text[start : start + 4]


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return Workspace.resolve(tmp_path / "ws")


@pytest.fixture()
def bank_kb(ws: Workspace, corpus: Path, encoder: HashEncoder) -> str:  # noqa: F811
    build_kb("bank", ws, corpus, TableColumns("id"), spec=KbSpec(), encoder=encoder)  # type: ignore[arg-type]
    return "bank"


def make_assistant(ws: Workspace, stub: HashEncoder, **spec: Any) -> Assistant:
    extra = {k: spec.pop(k) for k in ("intents", "generator", "relevance") if k in spec}
    settings = AssistantSpec.model_validate({"kb": "bank", "min_confidence": 0.3, **spec})
    return Assistant(settings, ws, encoder=stub, **extra)
