"""The stream end to end on a stand-in predictor: folding, redaction, totals, alerts, replay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmline.cli import main
from llmline.watch.entities import EntityLinker, load_watch_list
from llmline.watch.ingest import Post, replay_posts
from llmline.watch.sentiment import mark_target
from llmline.watch.store import TOTAL
from llmline.watch.stream import replay, scan_directory

from .conftest import StandInPredictor, make_spec, make_stream

T0 = 1_764_460_800.0  # 2025-11-30 00:00 UTC


def test_target_marking_and_per_entity_sentiment(watch_list: Path, tmp_path: Path) -> None:
    text = "贵州茅台大涨，平安银行暴跌"
    mentions = EntityLinker(load_watch_list(watch_list)).link([text])[0]
    assert mark_target(text, mentions, "Ping An Bank") == "贵州茅台大涨，<t>平安银行</t>暴跌"
    stream = make_stream(make_spec(watch_list, tmp_path))
    stream.process([Post(text, T0, "t:1")])
    links = {r["entity"]: r["label"] for r in stream.store.links()}
    assert links == {"Kweichow Moutai": "positive", "Ping An Bank": "negative"}


def test_reposts_fold_pii_is_redacted_and_posts_without_entity_count(
    watch_list: Path, tmp_path: Path
) -> None:
    stream = make_stream(make_spec(watch_list, tmp_path))
    posts = [
        Post("$AAPL lawsuit filed, call 555-123-4567 or mail a@b.com", T0, "t:1"),
        Post("RT @trader: $AAPL lawsuit filed, call 555-123-4567 or mail a@b.com", T0 + 5, "t:2"),
        Post("$AAPL  LAWSUIT filed, call 555-123-4567 or mail a@b.com!", T0 + 9, "t:3"),
        Post("The weather is nice and nobody is mentioned in this sentence at all", T0 + 60, "t:4"),
    ]
    report = stream.process(posts)
    assert (report.received, report.stored, report.folded, report.without_entity) == (4, 2, 2, 1)
    stored = stream.store.posts([p["post_id"] for p in stream.store.links()])
    assert (
        "555-123-4567" not in stored[0]["text_redacted"] and "<EMAIL>" in stored[0]["text_redacted"]
    )
    assert stored[0]["reposts"] == 2
    totals = stream.store.series(TOTAL)
    assert sum(r["volume"] for r in totals) == 2  # the post with no entity is in the totals
    assert sum(r["volume"] for r in stream.store.series("Apple")) == 1


def test_warm_start_restores_baselines_and_cooldown(watch_list: Path, tmp_path: Path) -> None:
    spec = make_spec(watch_list, tmp_path)
    first = make_stream(spec)
    alerts = first.process(_calm_then_surge(np.random.default_rng(0)))
    assert [a.entity for a in alerts.alerts] == ["Kweichow Moutai"]
    second = make_stream(spec)  # a restart on the same store
    assert second.warm_start() > 0
    state = second.detector.states[("Kweichow Moutai", "neg-surge")]
    assert state.base_count >= 30 and state.last_alert == alerts.alerts[0].ts


def _calm_then_surge(rng: np.random.Generator) -> list[Post]:
    """36 h calm (10 % negative, 30/h) about Moutai, then 2 h of 70 % negative."""
    posts, ts = [], T0
    for hours, negative in ((36, 0.1), (2, 0.7)):
        end = ts + hours * 3600
        while ts < end:
            ts += float(rng.exponential(120))
            bad = rng.random() < negative
            word = "暴跌" if bad else ("大涨" if rng.random() < 0.3 else "公告")
            posts.append(Post(f"贵州茅台{word}，编号{len(posts)}：{rng.integers(1e9)}", ts, "gen"))
    return posts


def _write_dated(path: Path, posts: list[Post]) -> None:
    rows = [{"text": p.text, "time": p.ts} for p in posts]
    rows.insert(10, {"text": "no time"})  # a malformed line in the middle
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")


def test_replay_end_to_end_through_the_cli(
    watch_list: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    import llmline.watch.sentiment as sentiment_module

    posts = _calm_then_surge(np.random.default_rng(1))
    surge_start = T0 + 36 * 3600
    dated = tmp_path / "dated.jsonl"
    _write_dated(dated, posts)
    spec_path = tmp_path / "watch.yaml"
    spec_path.write_text(
        f"watch:\n  watch_list: {watch_list}\n  model: stand-in\n  min_baseline_posts: 30\n"
        "  rules:\n    - {name: neg-surge, metric: negative_share, ratio: 2.0, min_posts: 20,"
        " window: 1h, p_value: 0.01, cooldown: 6h}\n",
        encoding="utf-8",
    )

    def stand_in(ref: str, ws: object, labels: object, **_: object) -> object:
        return sentiment_module.TargetSentiment(StandInPredictor(), version=ref)

    monkeypatch.setattr(sentiment_module, "load_sentiment", stand_in)
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main(["watch", str(spec_path), "--replay", str(dated), "--speed", "max", *ws]) == 0
    assert main(["watch", "alerts", str(spec_path), "--json", *ws]) == 0
    alerts = json.loads(capsys.readouterr().out)
    assert [(a["entity"], a["rule"]) for a in alerts] == [("Kweichow Moutai", "neg-surge")]
    assert alerts[0]["posts"] and all("贵州茅台暴跌" in p["text"] for p in alerts[0]["posts"])
    assert set(alerts[0]["window"]) == {"start", "end"}
    from llmline.watch.ingest import parse_time

    delay = parse_time(alerts[0]["time"].replace("Z", "+00:00")) - surge_start
    assert 0 <= delay < 3600
    out = tmp_path / "brief"
    assert main(["watch", "report", str(spec_path), "--out", str(out), *ws]) == 0
    html = (out / "brief.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "Kweichow Moutai" in html and "stand-in" in html
    markdown = (out / "brief.md").read_text(encoding="utf-8")
    assert "neg-surge" in markdown and "## Most negative posts" in markdown


def test_replay_at_a_speed_sleeps_in_event_time(watch_list: Path, tmp_path: Path) -> None:
    stream = make_stream(make_spec(watch_list, tmp_path))
    path = tmp_path / "d.jsonl"
    path.write_text(
        "\n".join(json.dumps({"text": f"茅台 {i}号公告", "time": T0 + 60 * i}) for i in range(5)),
        encoding="utf-8",
    )
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    report = replay(stream, replay_posts(path, text_column="text", time_column="time"), 60.0,
                    sleep=sleep, clock=lambda: now[0])  # fmt: skip
    assert report.received == 5
    assert sum(slept) >= 4 * 60 / 60 - 0.01  # 4 minutes of event time at 60x: about 4 s


def test_directory_files_are_read_once_by_content(watch_list: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    stream = make_stream(make_spec(watch_list, tmp_path))
    (inbox / "a.jsonl").write_text('{"text": "$AAPL beat"}\n{bad\n', encoding="utf-8")
    assert scan_directory(stream, inbox, "*", settle_s=0) == 1
    (inbox / "copy.jsonl").write_text('{"text": "$AAPL beat"}\n{bad\n', encoding="utf-8")
    assert scan_directory(stream, inbox, "*", settle_s=0) == 0  # same bytes: already read
    assert stream.counts["malformed"] == 1 and stream.counts["files"] == 1


def test_each_language_goes_to_its_own_model(watch_list: Path, tmp_path: Path) -> None:
    from llmline.spec.watch import WatchSpec
    from llmline.watch.runner import build_stream
    from llmline.watch.sentiment import LanguageJudges, TargetSentiment
    from llmline.workspace import Workspace

    english, chinese = StandInPredictor(), StandInPredictor()
    judges = LanguageJudges(
        TargetSentiment(english, version="en@1"), {"zh": TargetSentiment(chinese, version="zh@1")}
    )
    stream = build_stream(make_spec(watch_list, tmp_path), Workspace.resolve(tmp_path / "ws"),
                          sentiment=judges)  # fmt: skip
    stream.process([
        Post("贵州茅台大涨，平安银行暴跌", T0, "t:1"),
        Post("Apple shares plunge after the lawsuit", T0 + 1, "t:2"),
        Post("Le temps est beau aujourd'hui à Paris", T0 + 2, "t:3"),  # no model: the default
    ])  # fmt: skip
    assert [len(call) for call in chinese.calls] == [2]  # one post, two targets, one batch
    assert sorted(t for call in english.calls for t in call) == [
        "<t>Apple</t> shares plunge after the lawsuit", "Le temps est beau aujourd'hui à Paris",
    ]  # fmt: skip
    versions = {r["entity"]: r["model_version"] for r in stream.store.links()}
    assert versions == {"Kweichow Moutai": "zh@1", "Ping An Bank": "zh@1", "Apple": "en@1"}
    spec = WatchSpec.model_validate({"watch_list": watch_list, "models": {"zh": "x"}})
    assert spec.models == {"zh": "x"}


def test_watch_models_keys_must_be_language_codes(watch_list: Path) -> None:
    import pytest
    from pydantic import ValidationError

    from llmline.spec.watch import WatchSpec

    for field in ("models", "ner_models"):
        with pytest.raises(ValidationError, match="language codes"):
            WatchSpec.model_validate({"watch_list": watch_list, field: {"Chinese": "x"}})
