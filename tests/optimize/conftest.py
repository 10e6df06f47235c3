from __future__ import annotations

from pathlib import Path

import pytest

LABELS = ["billing", "cards", "other"]


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained but complete saved classifier (3 labels, 2 layers) on the tiny BERT."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from llmline.models.classifier import ClassifierMeta, build_classifier, save_classifier

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-opt-model")
    meta = ClassifierMeta(labels=LABELS, max_length=32)
    model = build_classifier(AutoModel.from_pretrained(tiny_bert_dir), meta)
    save_classifier(model, AutoTokenizer.from_pretrained(tiny_bert_dir), directory)
    return directory


def write_snapshot(path: Path, rows: list[tuple[str, str]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": [r[0] for r in rows], "label": [r[1] for r in rows]}), path)
    return path


@pytest.fixture(scope="session")
def splits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("splits")
    words = {"billing": "invoice charge fee", "cards": "card pin atm", "other": "hello weather"}
    rows = [(f"{words[label]} question {i}", label) for i in range(12) for label in LABELS]
    return (
        write_snapshot(directory / "train.parquet", rows),
        write_snapshot(directory / "validation.parquet", rows[:18]),
    )
