"""`llmline watch` in a shell: a directory read once, and user mistakes as one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmline.cli import main

from .conftest import StandInPredictor


def _spec(tmp_path: Path, watch_list: Path, inbox: Path) -> Path:
    path = tmp_path / "watch.yaml"
    path.write_text(
        f"variables: {{inbox: {inbox}}}\n"
        f"watch:\n  watch_list: {watch_list}\n  model: stand-in\n"
        "  sources: [{kind: directory, path: '${inbox}'}]\n",
        encoding="utf-8",
    )
    return path


def test_watch_once_reads_the_directory(
    tmp_path: Path, watch_list: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import time

    import llmline.watch.sentiment as sentiment_module
    from llmline.watch.store import TOTAL, open_watch_store

    monkeypatch.setattr(
        sentiment_module, "load_sentiment",
        lambda ref, ws, labels, **_: sentiment_module.TargetSentiment(
            StandInPredictor(), version=ref
        ),
    )  # fmt: skip
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    posts = inbox / "a.csv"
    posts.write_text("text,time\n腾讯控股利好,2026-11-30T01:00:00\n,2026-11-30\nhi,1\n", "utf-8")
    old = time.time() - 60
    os.utime(posts, (old, old))  # settled: not being written any more
    spec = _spec(tmp_path, watch_list, inbox)
    assert main(["watch", str(spec), "--once", "--workspace", str(tmp_path / "ws")]) == 0
    store = open_watch_store(f"sqlite:///{tmp_path / 'ws' / 'monitor.db'}")
    assert sum(r["volume"] for r in store.series(TOTAL)) == 2
    assert [r["entity"] for r in store.links()] == ["Tencent"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["watch", "missing.yaml"], "not found"),
        (["watch", "alerts"], "not found"),
        (["watch", "SPEC", "--replay", "x.jsonl", "--speed", "0"], "--speed"),
        (["watch", "SPEC", "extra"], "unexpected"),
        (["watch", "SPEC"], "watch.model"),
        (["watch", "report", "SPEC", "--date", "30/11/2026"], "YYYY-MM-DD"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(
    tmp_path: Path, watch_list: Path, argv: list[str], needle: str, capsys: pytest.CaptureFixture
) -> None:
    spec = tmp_path / "nomodel.yaml"
    spec.write_text(f"watch_list: {watch_list}\n", encoding="utf-8")
    argv = [str(spec) if a == "SPEC" else a for a in argv]
    assert main([*argv, "--workspace", str(tmp_path / "ws")]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
