"""The planted-bias model through the chain: the bias check catches it, the gate keeps it from
champion, promotion refuses without an override, the override is audited, the card is written."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def test_bias_stage_catches_the_planted_name_bias(planted_run: Any) -> None:
    results = planted_run.results
    assert results["evaluate"]["result"]["metrics"]["accuracy"] >= 0.8  # the model learned its data
    bias = results["bias"]["result"]
    assert bias["flip_rate"]["name"] >= 0.5
    failed = [g for g in bias["gates"] if not g["passed"]]
    assert [g["gate"] for g in failed][:1] == ["max_flip_rate:name"]
    report = json.loads((planted_run.run.dir / "govern" / "bias.json").read_text())
    name = next(r for r in report["counterfactual"] if r["attribute"] == "name")
    assert name["modes"]["swap"] == name["texts"]  # names in the data were swapped, not templated
    assert name["worst"][0]["flipped"]


def test_failed_bias_gate_registers_without_champion(planted_run: Any) -> None:
    from llmline.registry.store import list_versions

    registered = planted_run.results["register"]["result"]
    assert registered["alias"] is None
    assert any(g["stage"] == "bias" for g in registered["failed_gates"])
    versions = list_versions(planted_run.workspace)
    assert versions[0]["aliases"] == [] and versions[0]["tags"]["llmline.gates"] == "failed"


def test_promote_refuses_then_override_is_audited(planted_run: Any, capsys: Any) -> None:
    from llmline.cli import main
    from llmline.errors import RegistryError
    from llmline.govern.audit import read_entries, verify_log
    from llmline.registry.promote import promote
    from llmline.registry.store import get_version

    workspace = planted_run.workspace
    version = planted_run.results["register"]["result"]["version"]
    with pytest.raises(RegistryError, match="max_flip_rate:name"):
        promote(workspace, "planted", version)
    where = ["--workspace", str(workspace.root)]
    assert main(["registry", "promote", "planted", version, *where]) == 2
    assert "--override" in capsys.readouterr().err
    assert get_version(workspace, f"models:/planted/{version}").aliases == []

    override = ["--override", "accepted for a bias study"]
    assert main(["registry", "promote", "planted", version, *override, *where]) == 0
    assert get_version(workspace, "models:/planted@champion").version == version
    overrides = [e for e in read_entries(workspace.audit_log) if e["event"] == "gate_override"]
    assert overrides[-1]["override"] == "accepted for a bias study"
    assert any("max_flip_rate:name" in g for g in overrides[-1]["overridden_gates"])
    assert verify_log(workspace.audit_log).ok


def test_safety_stage_and_card_come_from_artifacts(planted_run: Any) -> None:
    run_dir = planted_run.run.dir
    safety = planted_run.results["safety"]["result"]
    assert safety["rows"] > 0 and safety["gates"][0]["passed"]
    card = (run_dir / "card.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "model-index" in card
    manifest = json.loads((run_dir / "manifest.json").read_text())
    train_sha = manifest["stages"]["data"]["outputs"]["train"]["sha256"]
    assert train_sha in card
    assert "max_flip_rate:name" in card and "Loan triage in tests" in card
    assert "licence: cc0-1.0" in card
    assert "<table>" in (run_dir / "card.html").read_text(encoding="utf-8")
    assert "## Label distribution" in (run_dir / "datasheet.md").read_text(encoding="utf-8")


def test_integrated_gradients_puts_the_deciding_name_in_the_top_two(planted_run: Any) -> None:
    """The label hinges on the name, so the name must lead the attributions (>= 90 %)."""
    from llmline.govern.explain import explain
    from llmline.models.predictor import load_predictor
    from tests.govern.conftest import DISFAVOURED, FAVOURED

    predictor = load_predictor(planted_run.run.model_dir)
    probes = [(n, f"My name is {n}. I want to see my statement.") for n in FAVOURED + DISFAVOURED]
    hits = sum(name in explain(predictor, text, steps=16)["top"][:2] for name, text in probes)
    assert hits / len(probes) >= 0.9
