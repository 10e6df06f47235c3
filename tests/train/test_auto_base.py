"""`train.base_model: auto` picks the packaged encoder for the training data's language."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmline.errors import SpecError
from llmline.govern.card import _base_model_line
from llmline.spec import PipelineSpec
from llmline.train.auto_base import pick_encoder, resolve_auto_base

CHINESE = ["这家酒店的服务很好，房间也干净。", "电池不耐用，客服态度差", "物流很快，包装完好！"]
ENGLISH = ["The room was clean and the staff were friendly.", "Battery died after a day."]


def write_snapshot(path: Path, texts: list[str]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": texts, "label": ["x"] * len(texts)}), path)
    return path


def spec_with(snapshot: Path, base_model: str, task: str = "classification") -> PipelineSpec:
    return PipelineSpec.model_validate(
        {"name": "auto", "task": task, "data": {"source": {"path": str(snapshot)}},
         "train": {"base_model": base_model}}
    )  # fmt: skip


def test_chinese_data_gets_e5_and_english_data_gets_minilm() -> None:
    chinese = pick_encoder(CHINESE * 3 + ENGLISH)  # a few English rows do not outvote
    assert (chinese.model, chinese.language) == ("packaged:e5-small", "zh")
    assert chinese.votes["zh"] == 9
    assert pick_encoder(ENGLISH).model == "packaged:minilm"
    assert pick_encoder(["", "   "]).model == "packaged:minilm"  # nothing to tell: English


def test_other_languages_get_the_multilingual_encoder() -> None:
    german = ["Das Zimmer war sauber und das Personal sehr freundlich, wir kommen wieder."] * 3
    assert pick_encoder(german).model == "packaged:e5-small"


def test_auto_is_replaced_in_the_spec_and_recorded(tmp_path: Path) -> None:
    snapshot = write_snapshot(tmp_path / "train.parquet", CHINESE)
    spec, pick = resolve_auto_base(spec_with(snapshot, "auto"), snapshot)
    assert spec.train.base_model == "packaged:e5-small"
    assert pick is not None and pick.as_record()["language"] == "zh"
    named = spec_with(snapshot, "packaged:minilm")
    assert resolve_auto_base(named, snapshot) == (named, None)  # a named model is left alone


def test_auto_for_a_language_model_task_is_a_spec_error(tmp_path: Path) -> None:
    snapshot = write_snapshot(tmp_path / "train.parquet", CHINESE)
    with pytest.raises(SpecError, match="gemma3-270m"):
        resolve_auto_base(spec_with(snapshot, "auto", task="causal_lm"), snapshot)


def test_the_card_says_the_model_was_picked_automatically() -> None:
    picked = {"picked": "packaged:e5-small", "language": "zh", "votes": {"zh": 3}}
    spec = {"task": "classification",
            "train": {"base_model": "packaged:e5-small", "base_model_auto": picked}}  # fmt: skip
    line = _base_model_line(spec, "MIT")
    assert "`packaged:e5-small`" in line and "picked by `base_model: auto` for zh" in line
