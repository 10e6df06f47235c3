"""The whole chain on a slice of Banking77 with the real packaged MiniLM, then the service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from llmline.cli import main
from tests.conftest import banking77_slice_spec


@pytest.mark.integration
@pytest.mark.slow
def test_banking77_slice_end_to_end(
    tmp_path: Path, shared_datasets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "b77.yaml"
    spec.write_text(banking77_slice_spec(shared_datasets, "b77-slice"), encoding="utf-8")
    workspace = tmp_path / "ws"
    assert main(["run", str(spec), "--workspace", str(workspace)]) == 0
    err = capsys.readouterr().err
    assert "models:/b77-slice/1 (alias @champion)" in err
    assert "llmline serve --model models:/b77-slice@champion" in err

    assert main(["registry", "list", "--json", "--workspace", str(workspace)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["aliases"] == ["champion"] and listed[0]["tags"]["llmline.run_id"]

    run_dir = next((workspace / "runs").iterdir())
    report = json.loads((run_dir / "eval" / "report.json").read_text())
    assert report["accuracy"] >= 0.5  # the probe head alone separates these few intents

    from llmline.commands.serve import model_info
    from llmline.models.predictor import load_predictor
    from llmline.models.resolve import resolve_model
    from llmline.serve.app import create_app
    from llmline.workspace import Workspace

    ws = Workspace.resolve(workspace)
    reference = "models:/b77-slice@champion"
    app = create_app(
        load_predictor(resolve_model(reference, ws)),
        model_ref=reference,
        model_info=model_info(reference, ws),
    )
    client = TestClient(app)
    ready = client.get("/readyz").json()
    assert ready["version"] == "1" and ready["data_sha256"]
    answer = client.post("/v1/classify", json={"texts": ["my card has still not arrived"]})
    assert answer.status_code == 200
    assert answer.json()["results"][0]["label"] == "card_arrival"

    data = tmp_path / "questions.csv"
    data.write_text("text,category\nwhen will my card arrive?,card_arrival\n", encoding="utf-8")
    out = tmp_path / "pred.jsonl"
    argv = ["predict", "--model", str(run_dir), "--input", str(data), "--output", str(out)]
    assert main(argv) == 0
    assert json.loads(out.read_text().splitlines()[0])["label"] == "card_arrival"
    argv = ["evaluate", "--model", reference, "--data", str(data), "--label-col", "category",
            "--workspace", str(workspace)]  # fmt: skip
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["task"] == "classification" and printed["metrics"]["accuracy"] == 1.0
