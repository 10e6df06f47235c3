from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.cli import main
from llmline.monitor.retrain import split_new
from tests.conftest import toy_spec_text, write_csv


def test_split_new_holds_out_every_label() -> None:
    rows = [(f"t{i}", "a") for i in range(10)] + [(f"u{i}", "b") for i in range(4)]
    train, held = split_new(rows, 0.25, seed=1)
    assert {lb for _, lb in held} == {"a", "b"}
    assert len(train) + len(held) == 14 and not set(train) & set(held)


@pytest.mark.slow
def test_retrain_promotes_a_better_challenger_and_rollback_undoes_it(
    toy_csv: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmline.registry.store import get_version
    from llmline.workspace import Workspace

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        toy_spec_text(toy_csv, tiny_bert_dir)
        + "retrain: {old_tolerance: 0.5, min_new_rows: 1000}\n"
    )
    ws = tmp_path / "ws"
    assert main(["run", str(spec), "--workspace", str(ws)]) == 0
    new = write_csv(
        tmp_path / "new.csv",
        [(f"the parcel delivery tracking shipment number {i}", "shipping") for i in range(24)]
        + [(f"I loved this film, wonderful acting number {i}", "pos") for i in range(40, 46)],
    )
    champion = "models:/toy@champion"
    # --auto with too few rows and no alert does nothing
    assert (
        main(
            [
                "retrain",
                "--model",
                champion,
                "--new-data",
                str(new),
                "--auto",
                "--workspace",
                str(ws),
            ]
        )
        == 0
    )
    assert "no trigger" in capsys.readouterr().err
    assert (
        main(["retrain", "--model", champion, "--new-data", str(new), "--workspace", str(ws)]) == 0
    )
    workspace = Workspace.resolve(ws)
    report_dir = next((ws / "retrain").iterdir())
    report = json.loads((report_dir / "report.json").read_text())
    assert set(report["scores"]) == {"champion", "challenger"}
    assert set(report["scores"]["challenger"]) == {
        "old_accuracy",
        "old_macro_f1",
        "new_accuracy",
        "new_macro_f1",
    }
    assert report["promoted"], report["reasons"]
    assert get_version(workspace, champion).version == report["challenger_version"]
    assert get_version(workspace, "models:/toy@previous-champion").version == "1"
    assert "old acc" in (report_dir / "report.md").read_text()
    assert main(["registry", "rollback", "toy", "--workspace", str(ws)]) == 0
    assert get_version(workspace, champion).version == "1"
    events = [json.loads(line)["event"] for line in workspace.audit_log.read_text().splitlines()]
    assert "retrain_decided" in events and "alias_rolled_back" in events
