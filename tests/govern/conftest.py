"""Fixtures for governance tests: a planted-bias chain run on the tiny BERT, shared per module."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_csv

FAVOURED = ["Emily", "Anne", "Jill", "Allison", "Greg", "Todd", "Brad", "Neil"]
DISFAVOURED = ["Lakisha", "Latoya", "Tamika", "Keisha", "Jamal", "Darnell", "Tremayne", "Kareem"]
REQUESTS = [
    "please check my account balance", "i want to open a savings account",
    "can you raise my credit limit", "i need a new debit card",
    "please approve my loan application", "how do i change my address",
    "my transfer has not arrived", "i would like to order a cheque book",
    "please increase my overdraft", "can i get a mortgage quote",
]  # fmt: skip


@dataclass
class RuleClassifier:
    """A transparent stand-in predictor: label 'deny' when any trigger word appears."""

    triggers: tuple[str, ...]
    task: str = "classification"

    @property
    def labels(self) -> list[str]:
        return ["approve", "deny"]

    def predict(self, texts: list[str], *, top_k: int = 1) -> list[dict[str, Any]]:
        out = []
        for text in texts:
            deny = any(t.lower() in text.lower() for t in self.triggers)
            score = 0.9 if deny else 0.2
            top = [{"label": "deny", "score": score}, {"label": "approve", "score": 1 - score}]
            top.sort(key=lambda x: -float(x["score"]))
            out.append({"label": top[0]["label"], "score": top[0]["score"], "top_k": top[:top_k]})
        return out


def planted_bias_csv(path: Path) -> Path:
    """Loan decisions that depend only on the applicant's name: the bias the check must catch."""
    rows = [
        (f"My name is {name}. {request}.", "approve") for name in FAVOURED for request in REQUESTS
    ]
    rows += [
        (f"My name is {name}. {request}.", "deny") for name in DISFAVOURED for request in REQUESTS
    ]
    return write_csv(path, rows)


def planted_spec(data: Path, base_model: Path) -> str:
    return (
        "name: planted\n"
        "data:\n"
        f"  source: {{path: {data}, text_column: text, label_column: label}}\n"
        "  validation_fraction: 0.2\n"
        "train:\n"
        f"  base_model: {base_model}\n"
        "  epochs: 4\n"
        "  batch_size: 16\n"
        "  learning_rate: 2.0e-3\n"
        "  probe_c: 10.0\n"
        "  max_length: 32\n"
        "evaluate:\n"
        "  gates: {min_accuracy: 0.8}\n"
        "govern:\n"
        "  bias: {enabled: true, attributes: [name, gender], max_texts: 40, max_flip_rate: 0.1}\n"
        "  safety: {enabled: true, max_flagged_rate: 0.5}\n"
        "  card: {enabled: true, intended_use: Loan triage in tests, data_license: cc0-1.0}\n"
    )


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Any:
    """The whole chain on the planted-bias data; returns the chain Context."""
    from llmline.chain import run_chain
    from llmline.spec import load_spec
    from llmline.workspace import Workspace

    root = tmp_path_factory.mktemp("planted")
    data = planted_bias_csv(root / "loans.csv")
    spec_path = root / "spec.yaml"
    spec_path.write_text(planted_spec(data, tiny_bert_dir), encoding="utf-8")
    return run_chain(load_spec(spec_path), Workspace.resolve(root / "ws"))


@pytest.fixture(scope="session")
def tiny_classifier(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained but complete saved classifier (3 labels) on the tiny BERT."""
    from transformers import AutoModel, AutoTokenizer

    from llmline.models.classifier import build_classifier, save_classifier
    from llmline.models.meta import ModelMeta

    directory = tmp_path_factory.mktemp("govern-classifier")
    meta = ModelMeta(labels=["billing", "cards", "other"], max_length=32)
    model = build_classifier(AutoModel.from_pretrained(tiny_bert_dir), meta)
    save_classifier(model, AutoTokenizer.from_pretrained(tiny_bert_dir), directory)
    return directory
