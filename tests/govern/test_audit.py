"""The audit chain: any edit, deletion, insertion or reordering of lines is detected."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from llmline.cli import main
from llmline.govern.audit import filter_entries, read_entries, verify_log
from llmline.lineage import audit_append


def _log(directory: Path, size: int) -> Path:
    log = directory / "audit.jsonl"
    for index in range(size):
        audit_append(log, "stage_finished" if index % 2 else "model_registered", n=index)
    return log


def _rewrite(log: Path, lines: list[bytes]) -> None:
    log.write_bytes(b"".join(line + b"\n" for line in lines))


mutations = st.sampled_from(["edit", "delete", "swap", "duplicate", "truncate_tail"])


@settings(max_examples=80, deadline=None)
@given(size=st.integers(1, 7), kind=mutations, data=st.data())
def test_any_tampering_is_detected(size: int, kind: str, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = _log(Path(tmp), size)
        assert verify_log(log).ok
        lines = log.read_bytes().splitlines()
        index = data.draw(st.integers(0, size - 1), label="line")
        if kind == "edit":
            entry = json.loads(lines[index])
            entry["n"] = data.draw(st.integers().filter(lambda v: v != entry["n"]), label="n")
            lines[index] = json.dumps(entry, sort_keys=True).encode()
        elif kind == "delete":
            del lines[index]
        elif kind == "swap":
            if size < 2:
                return
            other = data.draw(st.integers(0, size - 1).filter(lambda v: v != index), label="j")
            lines[index], lines[other] = lines[other], lines[index]
        elif kind == "duplicate":
            lines.insert(index, lines[index])
        else:
            lines = lines[:index]
        _rewrite(log, lines)
        verdict = verify_log(log)
        assert not verdict.ok
        assert verdict.broken_line is not None and 1 <= verdict.broken_line <= size + 1


def test_first_broken_entry_is_named(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    lines = log.read_bytes().splitlines()
    lines[1] = lines[1].replace(b'"n": 1', b'"n": 9')
    _rewrite(log, lines)
    verdict = verify_log(log)
    assert verdict.broken_line == 3  # line 2 was edited, so line 3's prev no longer matches
    assert "prev" in verdict.reason


def test_a_log_without_head_is_verified_but_flagged_unanchored(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    log.with_name("audit.jsonl.head").unlink()
    verdict = verify_log(log)
    assert verdict.ok and not verdict.anchored and verdict.warnings


def test_show_filters_by_event_field_and_count(tmp_path: Path) -> None:
    entries = read_entries(_log(tmp_path, 6))
    assert [e["n"] for e in filter_entries(entries, event="model")] == [0, 2, 4]
    assert [e["n"] for e in filter_entries(entries, where={"n": "3"})] == [3]
    assert [e["n"] for e in filter_entries(entries, last=2)] == [4, 5]
    assert filter_entries(entries, since="9999") == []


def test_cli_verify_and_show(tmp_path: Path, capsys: object) -> None:
    workspace = tmp_path / "ws"
    log = _log(workspace, 3)
    assert main(["audit", "verify", "--workspace", str(workspace)]) == 0
    assert main(["audit", "show", "--workspace", str(workspace), "--json", "--event", "stage"]) == 0
    out = capsys.readouterr().out.strip().splitlines()  # type: ignore[attr-defined]
    assert [json.loads(line)["n"] for line in out] == [1]
    lines = log.read_bytes().splitlines()
    _rewrite(log, [lines[0], lines[2]])
    assert main(["audit", "verify", "--workspace", str(workspace), "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert verdict["ok"] is False and verdict["broken_line"] == 2
