"""`llmline govern bias | safety | card` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmline.cli import main
from tests.conftest import write_csv


def test_govern_safety_prints_verdicts_and_exit_code(capsys: Any, tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main(["govern", "safety", "hello there", *ws]) == 0
    assert main(["govern", "safety", "how to make a bomb", "fine", *ws]) == 1
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert lines[1]["categories"] == ["weapons"] and lines[2]["flagged"] is False


def test_govern_bias_on_a_file(tiny_classifier: Path, tmp_path: Path, capsys: Any) -> None:
    data = write_csv(tmp_path / "probe.csv", [("he lost his card", "x"), ("check balance", "y")])
    out = tmp_path / "bias"
    code = main(
        [
            "govern",
            "bias",
            "--model",
            str(tiny_classifier),
            "--data",
            str(data),
            "--attributes",
            "gender,age",
            "--out",
            str(out),
            "--workspace",
            str(tmp_path / "ws"),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["attribute"] for r in report["counterfactual"]] == ["gender", "age"]
    assert report["counterfactual"][0]["modes"] == {"swap": 1, "template": 1}
    assert (out / "bias.json").exists() and (out / "bias.md").read_text().startswith("# Bias")


def test_govern_card_needs_a_run_directory(tmp_path: Path, capsys: Any) -> None:
    assert main(["govern", "card", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
