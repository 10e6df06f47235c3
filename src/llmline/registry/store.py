"""Model versions on MLflow: register with lineage tags, move aliases, resolve references.

The embedded default is a SQLite file in the workspace; any MLflow server works by URI.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from llmline.errors import RegistryError
from llmline.workspace import Workspace

_REFERENCE = re.compile(r"^models:/(?P<name>[\w.-]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")
EXPERIMENT = "llmline"


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    aliases: list[str]
    source: str
    tags: dict[str, str]


def client(workspace: Workspace, tracking_uri: str | None = None) -> Any:
    """An MlflowClient bound to the workspace's store (quiet: no migration chatter)."""
    import mlflow
    from mlflow import MlflowClient

    for name in ("alembic", "mlflow", "mlflow.store.db.utils"):
        logging.getLogger(name).setLevel(logging.WARNING)
    uri = tracking_uri or workspace.tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(mlflow_client: Any, workspace: Workspace) -> str:
    experiment = mlflow_client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return str(experiment.experiment_id)
    workspace.artifact_root.mkdir(parents=True, exist_ok=True)
    return str(
        mlflow_client.create_experiment(
            EXPERIMENT, artifact_location=workspace.artifact_root.as_uri()
        )
    )


def register_version(
    workspace: Workspace,
    *,
    name: str,
    model_dir: Path,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    tracking_uri: str | None = None,
) -> ModelVersion:
    """Log params, metrics and the model directory as an MLflow run; register it as a version."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(workspace, tracking_uri)
    run = mlflow_client.create_run(experiment_id(mlflow_client, workspace), tags=tags)
    run_id = run.info.run_id
    for key, value in params.items():
        mlflow_client.log_param(run_id, key, str(value)[:6000])
    for key, metric in metrics.items():  # MLflow refuses "@" in names: val_mrr@10 -> val_mrr_at_10
        mlflow_client.log_metric(run_id, key.replace("@", "_at_"), float(metric))
    mlflow_client.log_artifacts(run_id, str(model_dir), artifact_path="model")
    mlflow_client.set_terminated(run_id)
    try:
        mlflow_client.create_registered_model(name)
    except MlflowException as exc:
        if "already exists" not in str(exc).lower() and "RESOURCE_ALREADY_EXISTS" not in str(exc):
            raise
    source = f"{run.info.artifact_uri}/model"
    version = mlflow_client.create_model_version(name, source, run_id=run_id, tags=tags)
    return ModelVersion(name, str(version.version), [], source, dict(tags))


SAME_MODEL_TAGS = (
    "llmline.model_sha256",
    "llmline.data_validation_sha256",
    "llmline.task",
    "llmline.gates",
)


def version_of_same_model(
    workspace: Workspace, name: str, tags: dict[str, str], tracking_uri: str | None = None
) -> ModelVersion | None:
    """The newest version of `name` holding the same model bytes, scored on the same validation
    bytes with the same gate verdict: registering it again would add a version that differs
    only in number (a recipe that reuses another's trained stages, e.g. an assistant recipe
    over its intent model's blocks)."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(workspace, tracking_uri)
    try:
        found = mlflow_client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    same = [
        v for v in found
        if all((v.tags or {}).get(key) == tags.get(key) for key in SAME_MODEL_TAGS)
    ]  # fmt: skip
    if not same:
        return None
    newest = max(same, key=lambda v: int(v.version))
    # a search result may come without aliases: read the version itself for them
    aliases = mlflow_client.get_model_version(name, newest.version).aliases or []
    return ModelVersion(name, str(newest.version), list(aliases), newest.source, dict(newest.tags))


def set_alias(workspace: Workspace, name: str, alias: str, version: str, **kw: Any) -> None:
    client(workspace, kw.get("tracking_uri")).set_registered_model_alias(name, alias, version)


def get_version(
    workspace: Workspace, reference: str, tracking_uri: str | None = None
) -> ModelVersion:
    """Look up `models:/NAME@ALIAS` or `models:/NAME/VERSION`."""
    from mlflow.exceptions import MlflowException

    match = _REFERENCE.match(reference)
    if not match:
        raise RegistryError(
            f"{reference!r} is not a registry reference",
            fix="write models:/NAME@ALIAS or models:/NAME/VERSION",
        )
    mlflow_client = client(workspace, tracking_uri)
    name = match["name"]
    try:
        if match["alias"]:
            found = mlflow_client.get_model_version_by_alias(name, match["alias"])
        else:
            found = mlflow_client.get_model_version(name, match["version"])
    except MlflowException:
        raise RegistryError(
            f"{reference} not found in the registry at {workspace.root}",
            fix="run `llmline registry list` to see names, versions and aliases",
        ) from None
    return ModelVersion(
        name, str(found.version), list(found.aliases or []), found.source, dict(found.tags or {})
    )


def download_model(reference: str, workspace: Workspace) -> Path:
    """A local directory with the version's model; local artifact stores are used in place."""
    version = get_version(workspace, reference)
    parsed = urlparse(version.source)
    if parsed.scheme in ("", "file"):
        local = Path(unquote(parsed.path))
        if local.is_dir():
            return local
    import mlflow

    destination = workspace.cache / "models" / version.name / version.version
    if not destination.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=str(destination))
    return destination / "model" if (destination / "model").is_dir() else destination


def list_versions(workspace: Workspace, tracking_uri: str | None = None) -> list[dict[str, Any]]:
    mlflow_client = client(workspace, tracking_uri)
    rows = []
    for model in mlflow_client.search_registered_models():
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        for version in mlflow_client.search_model_versions(f"name='{model.name}'"):
            rows.append(
                {
                    "name": model.name,
                    "version": str(version.version),
                    "aliases": sorted(aliases.get(str(version.version), [])),
                    "created": version.creation_timestamp,
                    "tags": dict(version.tags or {}),
                }
            )
    return sorted(rows, key=lambda r: (r["name"], int(r["version"])))
