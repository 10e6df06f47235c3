"""`redact.name_model`: Chinese person names from an NER model, wired through find_pii, the
redact step and the CLI's --workspace (so a models:/ reference resolves where the run runs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmline.data.pii import Redactor, RedactSpec, find_pii
from llmline.errors import SpecError
from llmline.models.meta import ModelMeta


def _biased_ner(tiny_bert_dir: Path, directory: Path, tags: list[str], favoured: str) -> Path:
    """A tiny NER model whose classifier bias makes every character `favoured`: what it tags
    is then known exactly, so the test checks the wiring, not a random model's guesses."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from llmline.models.ner import label_config

    model = AutoModelForTokenClassification.from_pretrained(tiny_bert_dir, **label_config(tags))
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.fill_(-10.0)
        model.classifier.bias[tags.index(favoured)] = 10.0
    model.save_pretrained(directory, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(directory)
    ModelMeta(labels=tags, pooling="token", normalize=False, max_length=64, task="ner",
              extra={"token_unit": "char"}).save(directory)  # fmt: skip
    return directory


def test_the_models_person_entities_are_redacted_and_identifiers_still_win(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    tags = ["O", "B-PER.NAM", "I-PER.NAM", "B-LOC", "I-LOC"]
    everyone = _biased_ner(tiny_bert_dir, tmp_path / "names", tags, "I-PER.NAM")
    assert [(f.kind, f.value) for f in find_pii("请联系张三", name_model=str(everyone))] == [
        ("PERSON", "请联系张三")
    ]
    # Identifiers are found by their rules first; a name overlapping one is dropped.
    text = "请联系张三13756838140"
    assert [f.kind for f in find_pii(text, name_model=str(everyone))] == ["PHONE"]
    nobody = _biased_ner(tiny_bert_dir, tmp_path / "nobody", tags, "O")
    redacted, counts = Redactor(name_model=str(nobody)).redact(text)
    assert redacted == "请联系张三<PHONE>" and counts == {"PHONE": 1}
    # English text never goes through the Chinese model (which would tag all of it).
    english = find_pii("call Anna at 13756838140", name_model=str(everyone))
    assert "PHONE" in [f.kind for f in english] and all("call" not in f.value for f in english)


def test_a_model_without_a_person_type_is_a_spec_error(tiny_bert_dir: Path, tmp_path: Path) -> None:
    places = _biased_ner(tiny_bert_dir, tmp_path / "places", ["O", "B-LOC", "I-LOC"], "O")
    with pytest.raises(SpecError, match="no person entity type"):
        find_pii("张三在北京", name_model=str(places))
    assert RedactSpec(name_model="models:/peoples-daily-ner@champion").name_model


def test_the_cli_workspace_is_the_default_while_a_verb_runs_and_not_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmline import cli

    monkeypatch.setenv("LLMLINE_HOME", str(tmp_path / "before"))
    with cli._default_workspace(tmp_path / "chosen"):
        assert os.environ["LLMLINE_HOME"] == str((tmp_path / "chosen").resolve())
    assert os.environ["LLMLINE_HOME"] == str(tmp_path / "before")
    monkeypatch.delenv("LLMLINE_HOME")
    with cli._default_workspace(tmp_path / "chosen"):
        pass
    assert "LLMLINE_HOME" not in os.environ
