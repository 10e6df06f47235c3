"""The watch spec: standalone or as a pipeline block, with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmline.errors import SpecError
from llmline.spec import validate_spec
from llmline.watch.runner import load_watch_spec


def test_standalone_and_pipeline_block_load_the_same(tmp_path: Path, watch_list: Path) -> None:
    block = (
        f"watch_list: {watch_list}\nbucket: 5m\nrules:\n"
        "  - {name: neg-surge, ratio: 2.0, min_posts: 20, window: 1h, p_value: 0.01,"
        " cooldown: 6h}\n"
    )
    alone = tmp_path / "alone.yaml"
    alone.write_text(block, encoding="utf-8")
    nested = tmp_path / "nested.yaml"
    nested.write_text("name: x\nwatch:\n" + "".join(f"  {line}\n" for line in block.splitlines()))
    assert load_watch_spec(alone) == load_watch_spec(nested)
    assert load_watch_spec(alone).rules[0].metric == "negative_share"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("watch:\n  watch_list: w.csv\n  bucket: soon\n", "watch.bucket"),
        ("watch:\n  watch_list: w.csv\n  rules: [{name: a, window: 1x}]\n", "watch.rules.0.window"),
        ("watch:\n  watch_list: w.csv\n  rules: [{name: a}, {name: a}]\n", "more than once"),
        ("watch:\n  watch_list: w.csv\n  sources: [{kind: ftp}]\n", "sources"),
        ("watch_list: w.csv\nwebhook: http://x\n", "webhook: unknown key"),
        ("watch_list: w.csv\nwebhook_url: file:///etc/passwd\n", "webhook_url"),
    ],
)
def test_bad_watch_specs_name_the_key(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SpecError, match=needle):
        load_watch_spec(path)


def test_pipeline_spec_accepts_a_watch_block(tmp_path: Path, watch_list: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label\na,b\n", encoding="utf-8")
    spec = validate_spec(
        {"name": "fin", "data": {"source": {"path": str(data), "label_column": "label"}},
         "watch": {"watch_list": str(watch_list)}}
    )  # fmt: skip
    assert spec.watch is not None and spec.watch.bucket == "15m"
