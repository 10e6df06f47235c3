from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.cli import main
from llmline.optimize.stage import _gate


def test_gate_rejects_a_variant_that_loses_too_much_accuracy() -> None:
    base = {"accuracy": 0.90, "p50_ms_b1": 10.0}
    worse = {"accuracy": 0.88, "p50_ms_b1": 4.0}
    verdict = _gate("onnx-int8", base, worse, allowed=0.01)
    assert not verdict["passed"] and verdict["actual"] == pytest.approx(0.02)
    assert worse["speedup_b1"] == 2.5 and worse["accuracy_delta"] == pytest.approx(-0.02)
    assert _gate("x", base, {"accuracy": 0.895, "p50_ms_b1": 9.0}, allowed=0.01)["passed"]


@pytest.mark.slow
def test_optimize_cli_measures_gates_and_registers_variants(
    tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    from llmline.registry.store import get_version
    from llmline.workspace import Workspace

    out, ws = tmp_path / "out", tmp_path / "ws"
    config = tmp_path / "spec.yaml"
    config.write_text("optimize: {latency_repeats: 5}\n")
    code = main(
        [
            "optimize",
            "--model",
            str(tiny_model_dir),
            "--method",
            "onnx-int8",
            "--config",
            str(config),
            "--train",
            str(splits[0]),
            "--validation",
            str(splits[1]),
            "--out",
            str(out),
            "--workspace",
            str(ws),
            "--max-accuracy-drop",
            "1.0",
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    names = [v["name"] for v in report["variants"]]
    assert names == ["onnx-int8"]
    for row in [report["baseline"], *report["variants"]]:
        for key in (
            "size_mb",
            "p50_ms_b1",
            "p99_ms_b1",
            "p50_ms_b32",
            "p99_ms_b32",
            "throughput_tps",
            "accuracy",
        ):
            assert row[key] > 0, key
    onnx = report["variants"][0]
    assert onnx["size_mb"] < report["baseline"]["size_mb"]
    assert onnx["gate"]["passed"] and onnx["registered"].startswith("models:/")
    version = get_version(
        Workspace.resolve(ws), onnx["registered"].rsplit("/", 1)[0] + "@candidate"
    )
    assert version.tags["llmline.optimize_method"] == "onnx-int8"
    assert "| onnx-int8 |" in (out / "report.md").read_text()


def test_dynamic_int8_variant_is_measured_in_memory(
    tiny_model_dir: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    """Its size is the quantized state dict, whose packed entries are not tensors."""
    from llmline.optimize.methods import OptimizeInputs
    from llmline.optimize.stage import optimize_model
    from llmline.spec import OptimizeSpec

    inputs = OptimizeInputs(tiny_model_dir, OptimizeSpec(latency_repeats=5), *splits)
    result = optimize_model(inputs, ["dynamic-int8"], tmp_path / "out")
    (variant,) = result.variants
    assert 0 < variant["size_mb"] < result.baseline["size_mb"]


def test_a_variant_that_cannot_be_measured_is_a_clear_model_error(
    splits: tuple[Path, Path], tmp_path: Path
) -> None:
    from llmline.errors import ModelError
    from llmline.optimize.measure import measure_in_fresh_process

    with pytest.raises(ModelError, match="measuring broken-variant"):
        measure_in_fresh_process("broken-variant", tmp_path / "missing", splits[1], repeats=5)
