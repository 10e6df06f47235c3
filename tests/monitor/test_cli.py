from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.cli import main
from llmline.models.predictor import load_predictor
from llmline.monitor.store import RequestLogger


def _traffic(db: Path, model_dir: Path, texts: list[str]) -> None:
    predictor = load_predictor(model_dir)
    logger = RequestLogger(f"sqlite:///{db}")
    logger.log_predictions(
        route="/v1/classify",
        model_ref="m",
        model_version="1",
        texts=texts,
        results=predictor.predict(texts),
        latency_s=0.01,
    )
    logger.flush()
    logger.close()


def test_reference_check_and_report_from_the_cli(
    tiny_model_dir: Path,
    splits: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = tmp_path / "ws"
    common = ["--model", str(tiny_model_dir), "--workspace", str(ws)]
    assert main(["monitor", "reference", *common, "--data", str(splits[1])]) == 0
    long_texts = [
        f"{'lorem ipsum dolor sit amet ' * 20} call me at +1 415 555 0100 #{i}" for i in range(120)
    ]
    _traffic(ws / "monitor.db", tiny_model_dir, long_texts)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {name: length, metric: ks_length_p, window: '500', "
        f"threshold: 0.001, op: '<'}}\nalert_log: {tmp_path / 'a.jsonl'}\n"
    )
    assert main(["monitor", "check", *common, "--rules", str(rules)]) == 1
    assert "FIRING" in capsys.readouterr().err
    out = tmp_path / "report"
    assert (
        main(
            [
                "monitor",
                "report",
                *common,
                "--rules",
                str(rules),
                "--window",
                "500",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "report.json").read_text())
    assert summary["metrics"]["requests"] == 120 and "psi" in summary["metrics"]
    assert (out / "drift.png").stat().st_size > 1000
    assert "FIRING" in (out / "report.md").read_text()
    assert "415 555 0100" not in (ws / "monitor.db").read_bytes().decode("latin-1")
    assert main(["monitor", "purge", "--workspace", str(ws), "--days", "0.000001"]) == 0
