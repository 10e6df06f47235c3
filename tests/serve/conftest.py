from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_classifier_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained but complete saved classifier (3 labels) on the tiny BERT."""
    from transformers import AutoModel, AutoTokenizer

    from llmline.models.classifier import ClassifierMeta, build_classifier, save_classifier

    directory = tmp_path_factory.mktemp("tiny-classifier")
    meta = ClassifierMeta(labels=["billing", "cards", "other"], max_length=32)
    model = build_classifier(AutoModel.from_pretrained(tiny_bert_dir), meta)
    save_classifier(model, AutoTokenizer.from_pretrained(tiny_bert_dir), directory)
    return directory
