"""Promotion gates: an alias such as `champion` moves only to a version whose evidence passed.

The evidence is the run the version came from: every finished stage's gate verdicts
(evaluation, bias, safety). A failing or missing verdict blocks the move unless the caller
gives an override reason, which is written to the audit log with the gates it overrode.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmline.errors import RegistryError
from llmline.workspace import Workspace

GUARDED_ALIASES = ("champion",)


@dataclass
class Evidence:
    """Gate verdicts of a version's run, and which stages produced any."""

    gates: list[dict[str, Any]] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    run_dir: Path | None = None

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [g for g in self.gates if not g["passed"]]


def gate_evidence(tags: dict[str, str]) -> Evidence:
    """Read every stage marker of the version's run directory for its `gates` verdicts."""
    run_dir = Path(tags["llmline.run_dir"]) if tags.get("llmline.run_dir") else None
    if run_dir is None or not (run_dir / "stages").is_dir():
        return Evidence(run_dir=run_dir)
    evidence = Evidence(run_dir=run_dir)
    for marker in sorted((run_dir / "stages").glob("*.json")):
        record = json.loads(marker.read_text(encoding="utf-8"))
        gates = (record.get("result") or {}).get("gates") or []
        if gates:
            evidence.stages.append(marker.stem)
        evidence.gates += [{"stage": marker.stem, **gate} for gate in gates]
    return evidence


def describe(gate: dict[str, Any]) -> str:
    sign = ">" if gate.get("kind") == "max" else "<"
    return f"{gate['stage']}:{gate['gate']} {gate['actual']:.4f} {sign} {gate['threshold']}"


def promote(
    workspace: Workspace,
    name: str,
    version: str,
    *,
    alias: str = "champion",
    override: str | None = None,
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """Move `alias` to NAME/VERSION if its gates pass (or an override reason is given)."""
    from llmline.lineage import audit_append
    from llmline.registry.store import get_version, set_alias

    found = get_version(workspace, f"models:/{name}/{version}", tracking_uri)
    evidence = gate_evidence(found.tags)
    problems = [describe(g) for g in evidence.failed]
    if alias in GUARDED_ALIASES and evidence.run_dir is None:
        problems.append("no run evidence (the version has no llmline.run_dir tag)")
    if problems and override is None:
        raise RegistryError(
            f"{name} v{version} may not become @{alias}: " + "; ".join(problems),
            where=f"models:/{name}/{version}",
            fix='fix the model and re-run, or pass --override "reason" (it is audited)',
        )
    if override is not None and not override.strip():
        raise RegistryError("an override needs a reason", fix='pass --override "why"')
    set_alias(workspace, name, alias, version, tracking_uri=tracking_uri)
    details: dict[str, Any] = {
        "name": name,
        "alias": alias,
        "version": version,
        "gates_checked": len(evidence.gates),
    }
    if problems:
        details |= {"override": override, "overridden_gates": problems}
        audit_append(workspace.audit_log, "gate_override", **details)
    audit_append(workspace.audit_log, "alias_moved", **details)
    return {**details, "failed_gates": problems, "stages_with_gates": evidence.stages}
