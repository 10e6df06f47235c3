"""`llmline kb ask` and `llmline kb tickets` end to end (the hashing encoder stands in)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.cli import main
from llmline.workspace import Workspace
from tests.kb.conftest import HashEncoder


@pytest.fixture(autouse=True)
def _hash_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("llmline.kb.embed.load_encoder", lambda spec, ws: HashEncoder())


def _ask(ws: Workspace, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["kb", "ask", "bank", *args, "--json", "--workspace", str(ws.root)]) == 0
    reply: dict[str, object] = json.loads(capsys.readouterr().out)
    return reply


def test_ask_hand_off_and_tickets(
    ws: Workspace, bank_kb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = _ask(ws, capsys, "如何修改密码？")
    assert reply["mode"] == "faq" and reply["answer"] == "登录手机银行,在安全中心修改登录密码。"
    spec = tmp_path / "assistant.yaml"
    spec.write_text("variables: {bar: '0.999'}\nassistant: {kb: bank, min_confidence: '${bar}'}\n")
    handed = _ask(ws, capsys, "密码忘了，身份证号 110101199003074258", "--spec", str(spec),
                  "--conversation", str(reply["conversation_id"]))  # fmt: skip
    assert handed["handoff"] is True and handed["conversation_id"] == reply["conversation_id"]
    assert main(["kb", "tickets", "--status", "open", "--json", "--workspace", str(ws.root)]) == 0
    [ticket] = json.loads(capsys.readouterr().out)
    assert ticket["id"] == handed["ticket"]["id"]  # type: ignore[index]
    assert "110101199003074258" not in json.dumps(ticket, ensure_ascii=False)
    assert main(["kb", "tickets", "--close", ticket["id"], "--workspace", str(ws.root)]) == 0
    assert "no tickets with status open" in _tickets_text(ws, capsys, "--status", "open")
    monitor = ws.root / "monitor.db"
    assert monitor.exists()
    from llmline.monitor.store import MonitorStore

    rows = MonitorStore(f"sqlite:///{monitor}").rows(route="cli:kb ask")
    assert [r["confidence"] is not None for r in rows] == [True, True]


def _tickets_text(ws: Workspace, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["kb", "tickets", *args, "--workspace", str(ws.root)]) == 0
    return capsys.readouterr().out


def test_plain_output_names_citation_and_confidence(
    ws: Workspace, bank_kb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kb", "ask", "bank", "How do I reset my PIN?", "--workspace", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Open the app") and "[1] faq.csv q4 chars 0-" in out
    assert "confidence" in out and "(dense)" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["bank", "   "], "the message is empty"),
        (["bank", "你好", "--conversation", "c-0"], "unknown conversation 'c-0'"),
        (["nope", "你好"], "no knowledge base 'nope'"),
        (["bank/../x", "hi"], "invalid KB name"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    ws: Workspace, bank_kb: str, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    assert main(["kb", "ask", *args, "--workspace", str(ws.root)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_spec_errors_name_the_key(
    ws: Workspace, bank_kb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("assistant: {kb: bank, min_confidance: 0.5}\n")
    assert main(["kb", "ask", "bank", "hi", "--spec", str(spec), "--workspace", str(ws.root)]) == 2
    assert "assistant.min_confidance: unknown key" in capsys.readouterr().err
    spec.write_text("assistant: {kb: other}\n")
    assert main(["kb", "ask", "bank", "hi", "--spec", str(spec), "--workspace", str(ws.root)]) == 2
    assert "assistant.kb is 'other', not 'bank'" in capsys.readouterr().err
