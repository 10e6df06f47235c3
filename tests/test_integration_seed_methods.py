"""The seed methods on real data (issue 16): a Banking77 slice trained with bottleneck adapters
on counterfactually augmented rows through the chain and explained with LIME and SHAP, and the
Chinese counterfactual step on real ChnSentiCorp reviews."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.cli import main
from tests.conftest import banking77_slice_spec


@pytest.mark.integration
@pytest.mark.slow
def test_banking77_slice_with_adapters_and_counterfactuals_then_lime_and_shap(
    tmp_path: Path, shared_datasets: Path
) -> None:
    spec = tmp_path / "b77.yaml"
    spec.write_text(
        banking77_slice_spec(
            shared_datasets, "b77-adapter-cda",
            steps="    - {step: counterfactual, languages: [en], template_fraction: 0.1}\n",
            train="  peft: {method: adapter, reduction_factor: 16}\n  learning_rate: 1.0e-3\n",
        ),
        encoding="utf-8",
    )  # fmt: skip
    workspace = tmp_path / "ws"
    assert main(["run", str(spec), "--workspace", str(workspace), "--until", "evaluate"]) == 0
    run_dir = next((workspace / "runs").iterdir())
    data_report = json.loads((run_dir / "data" / "data_report.json").read_text())
    assert data_report["augmented_train_rows"] > 0  # real questions with swapped or added terms
    meta = json.loads((run_dir / "model" / "llmline_model.json").read_text())
    assert meta["extra"]["peft"]["method"] == "adapter"
    assert not (run_dir / "model" / "model.safetensors").exists()  # saved alone, base pinned
    report = json.loads((run_dir / "eval" / "report.json").read_text())
    assert report["accuracy"] >= 0.5

    from llmline.govern.explain import explain
    from llmline.models.predictor import load_predictor

    predictor = load_predictor(run_dir / "model")
    text = "I still have not received my new card, when will it arrive?"
    label = predictor.predict([text])[0]["label"]
    for method in ("lime", "shap"):
        words = explain(predictor, text, target=label, method=method, samples=64)["words"]
        assert [w["word"] for w in words][:3] == ["I", "still", "have"]
        assert any(abs(w["score"]) > 0 for w in words)


@pytest.mark.integration
def test_chinese_counterfactual_step_on_chnsenticorp_reviews(
    tmp_path: Path, shared_datasets: Path
) -> None:
    import pyarrow.parquet as pq

    from llmline.data.stage import prepare_data
    from llmline.spec import DataSpec

    spec = DataSpec.model_validate(
        {"source": {"path": str(shared_datasets / "chnsenticorp" / "train.tsv"),
                    "text_column": "text_a", "label_column": "label"},
         "max_rows": 600, "validation_fraction": 0.2,
         "steps": [{"step": "counterfactual", "languages": ["zh"], "template_fraction": 0.1}]}
    )  # fmt: skip
    artifact = prepare_data(spec, tmp_path / "out", seed=0)
    train = pq.read_table(artifact.train).to_pylist()
    by_source: dict[int, list[str]] = {}
    for row in train:  # a copy keeps its review's source_row
        by_source.setdefault(row["source_row"], []).append(row["text"])
    copies = sum(len(texts) - 1 for texts in by_source.values())
    assert copies > 0 and artifact.report["augmented_train_rows"] == copies
    assert all(len(set(texts)) == len(texts) for texts in by_source.values())  # each one differs
