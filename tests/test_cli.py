"""User mistakes end with one clear line on stderr, exit code 2, and nothing registered."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmline.cli import main
from tests.conftest import toy_spec_text, write_csv


def _run_and_expect_error(
    argv: list[str], capsys: pytest.CaptureFixture[str], fragment: str
) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "Traceback" not in err
    message = err.splitlines()[-1]
    assert message.startswith("llmline: error:")
    assert fragment in message
    return message


def _spec(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _assert_nothing_registered(workspace: Path) -> None:
    assert not (workspace / "mlflow.db").exists()


def test_malformed_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, "name: x\ndata: {source: [oops\n")
    _run_and_expect_error(["run", spec, "--workspace", str(tmp_path / "ws")], capsys, "malformed")
    _assert_nothing_registered(tmp_path / "ws")


def test_unknown_key(tmp_path: Path, toy_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, f"name: x\ndata:\n  source: {{path: {toy_csv}}}\n  shuffle: true\n")
    _run_and_expect_error(["validate", spec], capsys, "data.shuffle: unknown key")


def test_missing_data_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, f"name: x\ndata:\n  source: {{path: {tmp_path / 'no.csv'}}}\n")
    _run_and_expect_error(["run", spec, "--workspace", str(tmp_path / "ws")], capsys, "no.csv")


def test_missing_column(
    tmp_path: Path, toy_csv: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = toy_spec_text(toy_csv, tiny_bert_dir).replace("label_column: label", "label_column: y")
    spec = _spec(tmp_path, text)
    _run_and_expect_error(["run", spec, "--workspace", str(tmp_path / "ws")], capsys, "'y'")
    _assert_nothing_registered(tmp_path / "ws")


def test_empty_dataset(
    tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "empty.csv"
    data.write_text("")
    spec = _spec(tmp_path, toy_spec_text(data, tiny_bert_dir))
    _run_and_expect_error(["run", spec, "--workspace", str(tmp_path / "ws")], capsys, "empty")
    _assert_nothing_registered(tmp_path / "ws")


def test_label_with_too_few_examples(
    tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_csv(
        tmp_path / "rare.csv", [(f"text {i}", "common") for i in range(9)] + [("only one", "rare")]
    )
    spec = _spec(tmp_path, toy_spec_text(data, tiny_bert_dir))
    message = _run_and_expect_error(
        ["run", spec, "--workspace", str(tmp_path / "ws")], capsys, "fewer than 2 examples"
    )
    assert "'rare' (1)" in message
    _assert_nothing_registered(tmp_path / "ws")


def test_bad_var(tmp_path: Path, toy_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, f"name: x\ndata:\n  source: {{path: {toy_csv}}}\n")
    _run_and_expect_error(["validate", spec, "--var", "novalue"], capsys, "NAME=VALUE")


def test_unknown_model_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_csv(tmp_path / "in.csv", [("hello", "x")])
    out, ws = str(tmp_path / "out.jsonl"), str(tmp_path / "ws")
    argv = [
        "predict",
        "--model",
        "models:/nope@champion",
        "--input",
        str(data),
        "--output",
        out,
        "--workspace",
        ws,
    ]
    _run_and_expect_error(argv, capsys, "not found in the registry")
    assert not (tmp_path / "out.jsonl").exists()


def test_hub_id_offline_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_csv(tmp_path / "in.csv", [("hello", "x")])
    out, ws = str(tmp_path / "out.jsonl"), str(tmp_path / "ws")
    argv = [
        "predict",
        "--model",
        "someone/some-model",
        "--input",
        str(data),
        "--output",
        out,
        "--workspace",
        ws,
    ]
    _run_and_expect_error(argv, capsys, "hub")


def test_validate_ok(tmp_path: Path, toy_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, f"name: x\ndata:\n  source: {{path: {toy_csv}}}\n")
    assert main(["validate", spec]) == 0
    assert "valid spec" in capsys.readouterr().err
