"""The workspace on disk: runs, the embedded registry and monitoring stores, the audit log."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WORKSPACE = Path("llmline-workspace")


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def resolve(cls, explicit: Path | str | None = None) -> Workspace:
        """The chosen workspace (see `chosen_root`), created if it does not exist yet."""
        root = cls.chosen_root(explicit)
        root.mkdir(parents=True, exist_ok=True)
        return cls(root)

    @staticmethod
    def chosen_root(explicit: Path | str | None = None) -> Path:
        """--workspace wins, then LLMLINE_HOME, then ./llmline-workspace; nothing is created
        (a reader such as the console must not make an empty workspace out of a typo)."""
        chosen = explicit or os.environ.get("LLMLINE_HOME") or DEFAULT_WORKSPACE
        return Path(chosen).expanduser().resolve()

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.root / "mlartifacts"

    @property
    def monitor_db(self) -> Path:
        return self.root / "monitor.db"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id


@dataclass(frozen=True)
class Run:
    """One run directory and the paths every stage writes into."""

    workspace: Workspace
    run_id: str

    @property
    def dir(self) -> Path:
        return self.workspace.run_dir(self.run_id)

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def model_dir(self) -> Path:
        return self.dir / "model"

    @property
    def eval_dir(self) -> Path:
        return self.dir / "eval"

    @property
    def stages_dir(self) -> Path:
        return self.dir / "stages"

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    @property
    def spec_path(self) -> Path:
        return self.dir / "spec.yaml"
