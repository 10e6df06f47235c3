"""Reading posts: JSONL/JSON/CSV, times, and malformed lines reported with file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.errors import DataError
from llmline.watch.ingest import parse_time, read_file, ready_files, replay_posts


def test_malformed_lines_are_counted_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    lines = [
        json.dumps({"text": "贵州茅台大涨", "time": "2026-11-30T09:00:00"}, ensure_ascii=False),
        "{not json",
        "",
        json.dumps({"text": "", "time": 1}),
        json.dumps(["a list"]),
        json.dumps({"text": "$AAPL beat", "time": "yesterday"}),
        json.dumps({"text": "平安银行亏损", "time": 1764493200000}),  # epoch milliseconds
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batch = read_file(path, require_time=True)
    assert [p.text for p in batch.posts] == ["贵州茅台大涨", "平安银行亏损"]
    assert batch.posts[1].ts == pytest.approx(1764493200.0)
    assert [m.where for m in batch.malformed] == [
        f"{path}:2",
        f"{path}:4",
        f"{path}:5",
        f"{path}:6",
    ]
    assert "invalid JSON" in batch.malformed[0].reason
    assert "'time'" in batch.malformed[3].reason


def test_csv_with_quoted_newlines_reports_the_right_line(tmp_path: Path) -> None:
    path = tmp_path / "posts.csv"
    path.write_text(
        'text,time\n"two\nlines, with comma",2026-11-30 10:00:00\nonly one field\n'
        "腾讯控股0700.HK利好,2026-11-30T10:05:00+08:00\n",
        encoding="utf-8",
    )
    batch = read_file(path, require_time=True)
    assert [p.text for p in batch.posts] == ["two\nlines, with comma", "腾讯控股0700.HK利好"]
    assert batch.posts[1].ts == parse_time("2026-11-30T02:05:00Z")
    assert [m.where for m in batch.malformed] == [f"{path}:4"]


def test_missing_time_is_arrival_time_live_but_an_error_for_replay(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    path.write_text('{"text": "no time here"}\n', encoding="utf-8")
    assert len(read_file(path).posts) == 1
    with pytest.raises(DataError, match="no post with text and time"):
        replay_posts(path, text_column="text", time_column="time")


def test_not_utf8_is_one_malformed_entry(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("text,time\n贵州茅台,1\n".encode("gb18030"))
    batch = read_file(path)
    assert batch.posts == [] and "not UTF-8" in batch.malformed[0].reason


def test_ready_files_skip_partial_hidden_and_fresh_files(tmp_path: Path) -> None:
    for name in ("a.jsonl", "b.csv", ".hidden.jsonl", "c.jsonl.part", "notes.txt"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert [p.name for p in ready_files(tmp_path, "*", settle_s=0)] == ["a.jsonl", "b.csv"]
    assert ready_files(tmp_path, "*", settle_s=3600) == []
    with pytest.raises(DataError, match="does not exist"):
        ready_files(tmp_path / "missing", "*")


def test_post_language_fast_path_and_fallbacks() -> None:
    from llmline.watch.language import post_language

    assert post_language("The board said that profit of the year will rise") == "en"
    assert post_language("贵州茅台(600519.SH)今天大涨，成交量放大") == "zh"
    assert post_language("$AAPL long setup. MACD cross.") in {"en", "und", "fr", "de", "nl", "it"}


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("$WFT closng higher from here", "en"),  # typo, ticker: one English word is enough
        ("$TSLA 🚀🚀 to the moon", "en"),  # emoji do not make a post foreign
        ("Non-recurring items were EUR 7.8 mn", "en"),
        ("Das ist gut für die Aktie, wir kaufen mehr", "de"),  # a German word vetoes "die"
        ("Die Bank will was sagen, aber nicht heute", "de"),
        ("Le titre est en hausse après les résultats", "fr"),
        ("La empresa está en pérdidas este año", "es"),
        ("平安银行发布年报，净利润增长", "zh"),
    ],
)
def test_post_language_does_not_call_other_latin_languages_english(
    text: str, language: str
) -> None:
    from llmline.watch.language import post_language

    assert post_language(text) == language
