"""Watch fixtures: a stand-in target-aware predictor, a bilingual watch list, a spec factory."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from llmline.spec.watch import SurgeRuleSpec, WatchSpec
from llmline.watch.entities import EntityLinker, load_watch_list
from llmline.watch.sentiment import TargetSentiment
from llmline.watch.store import open_watch_store
from llmline.watch.stream import WatchStream

WATCH_LIST = """entity,aliases,language
Kweichow Moutai,贵州茅台|茅台|600519.SH|Moutai,zh
Apple,Apple Inc.|AAPL|苹果,en
Berkshire Hathaway,BRK.B|Berkshire,en
Tencent,腾讯|腾讯控股|0700.HK,zh
Ping An,中国平安|平安,zh
Ping An Bank,平安银行|000001.SZ,zh
"""

NEGATIVE = ("plunge", "fraud", "lawsuit", "miss", "暴跌", "亏损", "造假", "跌停")
POSITIVE = ("surge", "beat", "record", "大涨", "涨停", "利好")
_CLAUSE = re.compile(r"[,;，；。.!?！？]")


class StandInPredictor:
    """Keyword sentiment of the clause around the <t> target (or the whole text): target-aware."""

    task = "classification"

    def __init__(self) -> None:
        self.labels = ["negative", "neutral", "positive"]
        self.calls: list[list[str]] = []

    def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[dict[str, Any]]:
        self.calls.append(list(texts))
        return [self._one(text, top_k) for text in texts]

    def _one(self, text: str, top_k: int) -> dict[str, Any]:
        clauses = [c for c in _CLAUSE.split(text) if "<t>" in c] or [text]
        words = " ".join(clauses).lower()
        label = (
            "negative" if any(w in words for w in NEGATIVE)
            else "positive" if any(w in words for w in POSITIVE)
            else "neutral"
        )  # fmt: skip
        probs = {name: 0.1 for name in self.labels} | {label: 0.8}
        ranked = sorted(probs.items(), key=lambda kv: -kv[1])[:top_k]
        return {
            "label": label,
            "score": 0.8,
            "top_k": [{"label": name, "score": p} for name, p in ranked],
        }


@pytest.fixture()
def watch_list(tmp_path: Path) -> Path:
    path = tmp_path / "watch.csv"
    path.write_text(WATCH_LIST, encoding="utf-8")
    return path


def make_spec(watch_list: Path, tmp_path: Path, **overrides: Any) -> WatchSpec:
    rule = SurgeRuleSpec(
        name="neg-surge", metric="negative_share", ratio=2.0, min_posts=20, window="1h",
        p_value=0.01, cooldown="6h",
    )  # fmt: skip
    values: dict[str, Any] = {
        "watch_list": watch_list,
        "rules": [rule],
        "bucket": "15m",
        "store_url": f"sqlite:///{tmp_path / 'monitor.db'}",
        "min_baseline_posts": 30,
    }
    return WatchSpec.model_validate(values | overrides)


def make_stream(spec: WatchSpec, predictor: Any = None) -> WatchStream:
    assert spec.store_url is not None
    linker = EntityLinker(load_watch_list(spec.watch_list))
    sentiment = TargetSentiment(predictor or StandInPredictor(), version="stand-in@1")
    return WatchStream(spec, open_watch_store(spec.store_url), linker, sentiment)
