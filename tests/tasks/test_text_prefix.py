"""An encoder's "query: " prefix (E5) goes before every text in training and at inference."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmline.models.encoding import write_encoder_info
from llmline.models.predictor import encoded_chunks
from llmline.spec import load_spec
from llmline.workspace import Workspace
from tests.conftest import write_csv
from tests.tasks.test_matrix import _prepare


class Recording:
    """A tokenizer that remembers the texts it was given."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.texts: list[str] = []

    def __call__(self, texts: list[str], **kwargs: Any) -> Any:
        self.texts += texts
        return self.tokenizer(texts, **kwargs)


def test_encoded_chunks_put_the_prefix_before_each_text(tiny_bert_dir: Path) -> None:
    from transformers import AutoTokenizer

    recording = Recording(AutoTokenizer.from_pretrained(tiny_bert_dir))
    chunks = encoded_chunks(recording, ["好评", "bad"], batch_size=8, max_length=16,
                            tensors="pt", prefix="query: ")  # fmt: skip
    assert [len(chunk) for chunk, _ in chunks] == [2]
    assert sorted(recording.texts) == ["query: bad", "query: 好评"]


@pytest.mark.slow
def test_classifier_on_an_e5_style_encoder_keeps_its_prefix(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    from llmline.models.predictor import load_predictor
    from llmline.train.fit import train_task

    encoder = tmp_path / "encoder"
    shutil.copytree(tiny_bert_dir, encoder)
    write_encoder_info(encoder, pooling="mean", prefixes={"query": "query: ", "passage": "p: "})
    rows = [(f"很好 {i}", "pos") for i in range(8)] + [(f"很差 {i}", "neg") for i in range(8)]
    raw = {"name": "prefix", "task": "classification",
           "data": {"source": {"path": str(write_csv(tmp_path / "c.csv", rows))},
                    "validation_fraction": 0.25},
           "train": {"base_model": str(encoder), "max_steps": 1, "batch_size": 4,
                     "save_steps": None, "probe_c": 1.0}}  # fmt: skip
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    spec = load_spec(tmp_path / "spec.yaml")
    result = train_task(spec, _prepare(spec, tmp_path / "data"), tmp_path / "run",
                        Workspace.resolve(tmp_path / "ws"))  # fmt: skip
    predictor: Any = load_predictor(result.model_dir)
    assert predictor.meta.text_prefix == "query: "
    predictor.tokenizer = Recording(predictor.tokenizer)
    predictor.predict(["很好"])
    assert predictor.tokenizer.texts == ["query: 很好"]
