"""The spam-filter recipe's data chain on a slice of the real SpamAssassin e-mails."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from llmline.data.stage import prepare_data
from llmline.spec import load_spec

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "spam-filter.yaml"
EMAIL = re.compile(r"[\w.+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}")


@pytest.mark.integration
@pytest.mark.slow
def test_recipe_data_stage_on_real_mail(shared_datasets: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "spamassassin"
    for folder, count in (("easy-ham-1", 40), ("hard-ham-1", 10), ("spam-1", 30)):
        files = sorted((shared_datasets / "spamassassin" / folder).glob("*.txt"))[:count]
        (corpus / folder).mkdir(parents=True)
        for file in files:
            shutil.copy(file, corpus / folder / file.name)
    spec = load_spec(RECIPE, {"data_dir": str(corpus)})
    artifact = prepare_data(
        spec.data.model_copy(update={"label_issues": False}), tmp_path / "out", seed=0
    )
    report = artifact.report
    assert artifact.labels == ["ham", "spam"]
    assert report["rows_in"] == 80
    assert report["step_summaries"]["redact"]["pii_by_type"]["EMAIL"] > 0
    texts = pq.read_table(artifact.train).column("text").to_pylist()
    texts += pq.read_table(artifact.validation).column("text").to_pylist()
    leaked = [m for t in texts for m in EMAIL.findall(t)]
    assert leaked == []
    rejects = (tmp_path / "out" / "rejects.jsonl").read_text()
    assert not EMAIL.search(rejects)
