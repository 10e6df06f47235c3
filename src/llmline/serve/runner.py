"""Build a complete service from options, in this process or in each uvicorn worker.

uvicorn starts several workers by importing an app factory by name, so the options travel as
JSON in an environment variable and every worker builds the same service: model, batcher,
keys, request log, hot-reload watcher and alert evaluator.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from llmline.spec import MonitorSpec, ServeSpec
from llmline.spec.serve import REQUEST_AUDIT_ENV, SAFETY_POLICY_ENV
from llmline.workspace import Workspace

OPTIONS_ENV = "LLMLINE_SERVE_OPTIONS"
FACTORY = "llmline.serve.runner:app_from_env"


@dataclass
class ServeOptions:
    model: str
    workspace: str
    settings: dict[str, Any] = field(default_factory=dict)
    monitor: dict[str, Any] = field(default_factory=dict)
    assistant: dict[str, Any] | None = None  # the config's assistant: block

    def to_env(self) -> str:
        return json.dumps(asdict(self), default=str)

    @property
    def serve_spec(self) -> ServeSpec:
        return ServeSpec.model_validate(environment_overrides(self.settings))

    @property
    def monitor_spec(self) -> MonitorSpec:
        return MonitorSpec.model_validate(self.monitor)


def environment_overrides(settings: dict[str, Any]) -> dict[str, Any]:
    """The serve settings with the documented environment overrides applied (they win).

    $LLMLINE_SAFETY_POLICY names a YAML file of govern.safety keys, which replaces
    `serve.safety`; $LLMLINE_REQUEST_AUDIT names the request audit log (`serve.request_audit`).
    Read here, where the service is assembled, and nowhere deeper.
    """
    settings = dict(settings)
    policy = os.environ.get(SAFETY_POLICY_ENV)
    if policy:
        settings["safety"] = _policy_file(Path(policy))
    audit = os.environ.get(REQUEST_AUDIT_ENV)
    if audit:
        settings["request_audit"] = audit
    return settings


def _policy_file(path: Path) -> dict[str, Any]:
    from pydantic import ValidationError

    from llmline.errors import ServeError
    from llmline.spec import SafetySpec, describe_validation_error, read_yaml

    raw = read_yaml(path)
    try:
        SafetySpec.model_validate(raw)
    except ValidationError as exc:
        raise ServeError(
            describe_validation_error(exc),
            where=f"{path} (${SAFETY_POLICY_ENV})",
            fix="use the keys of govern.safety (llmline validate --explain)",
        ) from None
    return dict(raw)


def model_info(reference: str, workspace: Workspace) -> dict[str, Any]:
    """Lineage the service reports in /readyz: registry version, run, model sha256."""
    if not reference.startswith("models:/"):
        return {}
    from llmline.registry.store import get_version

    version = get_version(workspace, reference)
    return {
        "registered_name": version.name,
        "version": version.version,
        "run_id": version.tags.get("llmline.run_id", ""),
        "model_sha256": version.tags.get("llmline.model_sha256", ""),
        "data_sha256": version.tags.get("llmline.data_train_sha256", ""),
        "run_dir": version.tags.get("llmline.run_dir", ""),
    }


def build_app(options: ServeOptions) -> FastAPI:
    from llmline.models.backend import load_serving_predictor
    from llmline.models.resolve import resolve_model
    from llmline.serve.app import create_app

    workspace = Workspace.resolve(options.workspace)
    settings, monitor = options.serve_spec, options.monitor_spec
    model_dir = resolve_model(options.model, workspace)
    predictor = load_serving_predictor(
        model_dir, settings.backend, cores=worker_cores(settings), threads=settings.threads
    )
    app = create_app(
        predictor,
        model_ref=options.model,
        model_info=model_info(options.model, workspace),
        settings=settings,
        keys=_keys(settings, workspace),
        request_log=_request_log(settings, monitor, workspace),
    )
    from llmline.assistant.service import attach

    attach(app, options.assistant, workspace)  # POST /v1/assistant, chat's knowledge_base
    state = app.state.llmline
    _start_reload(state, options, workspace)
    _start_alerts(state, monitor, workspace, model_dir)
    return app


def worker_cores(settings: ServeSpec) -> int:
    """The cores this process may use, shared among the service's workers."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // settings.workers)


def app_from_env() -> FastAPI:
    """The uvicorn factory each worker process calls."""
    return build_app(ServeOptions(**json.loads(os.environ[OPTIONS_ENV])))


def _keys(settings: ServeSpec, workspace: Workspace) -> Any:
    from llmline.serve.auth import KeyStore

    if settings.api_keys is None:
        return None
    if not settings.api_keys.exists():  # a typo must not silently open the service
        from llmline.errors import ServeError

        raise ServeError(
            f"API key file {str(settings.api_keys)!r} does not exist",
            where="serve.api_keys",
            fix="create keys with `llmline apikey create`",
        )
    return KeyStore.load(settings.api_keys)


def _request_log(settings: ServeSpec, monitor: MonitorSpec, workspace: Workspace) -> Any:
    if not settings.monitor:
        return None
    from llmline.monitor.store import RequestLogger, store_url

    logger = RequestLogger(
        store_url(monitor.store_url, workspace.monitor_db), store_text=monitor.store_text
    )
    if logger.store is not None:
        logger.store.purge(monitor.retention_days)
    return logger


def _start_reload(state: Any, options: ServeOptions, workspace: Workspace) -> None:
    interval = options.serve_spec.reload_interval_s
    if not options.model.startswith("models:/") or "@" not in options.model or interval <= 0:
        return
    from llmline.lineage import audit_append
    from llmline.models.backend import load_serving_predictor
    from llmline.models.resolve import resolve_model
    from llmline.serve.reload import AliasWatcher

    def load(info: dict[str, Any]) -> Any:
        reference = f"models:/{info['registered_name']}/{info['version']}"
        settings = options.serve_spec
        return load_serving_predictor(
            resolve_model(reference, workspace),
            settings.backend,
            cores=worker_cores(settings),
            threads=settings.threads,
        )

    def swapped(old: dict[str, Any], new: dict[str, Any]) -> None:
        audit_append(
            workspace.audit_log,
            "service_reloaded",
            model=options.model,
            from_version=old.get("version"),
            to_version=new.get("version"),
            pid=os.getpid(),
        )

    watcher = AliasWatcher(
        state,
        lookup=lambda: model_info(options.model, workspace),
        load=load,
        interval_s=interval,
        on_swap=swapped,
    ).start()
    state.closers.append(watcher.stop)


def _start_alerts(state: Any, monitor: MonitorSpec, workspace: Workspace, model_dir: Path) -> None:
    if not monitor.rules or monitor.evaluate_every_s <= 0 or state.request_log is None:
        return
    from llmline.models.embedding import embed_texts
    from llmline.monitor.alerts import AlertLoop
    from llmline.monitor.reference import ensure_reference

    predictor = state.predictor
    run_dir = state.model_info.get("run_dir")
    reference = ensure_reference(
        predictor, model_dir, workspace, run_dir=Path(run_dir) if run_dir else None
    )
    loop = AlertLoop(
        monitor,
        workspace,
        state.request_log.url,
        reference,
        lambda texts: embed_texts(predictor, texts),
        model=state.model_ref,
    ).start()
    state.closers.append(loop.stop)


def serve_forever(options: ServeOptions, *, host: str, port: int) -> None:
    """One process, or `workers` processes sharing the port (uvicorn's supervisor), or
    autoscaled replicas on Ray Serve (engine ray)."""
    settings = options.serve_spec
    if settings.engine == "ray":
        from llmline.serve.ray_engine import serve_on_ray

        serve_on_ray(options, host=host, port=port)
        return
    import uvicorn

    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "timeout_graceful_shutdown": int(settings.graceful_timeout_s),
    }
    if settings.workers == 1:
        uvicorn.run(build_app(options), **common)
        return
    os.environ[OPTIONS_ENV] = options.to_env()
    # A worker imports torch and loads the model before it answers the supervisor's ping; on a
    # busy CPU that takes far longer than uvicorn's 5 s default, which would kill it in a loop.
    uvicorn.run(
        FACTORY, factory=True, workers=settings.workers, timeout_worker_healthcheck=120, **common
    )


def default_workspace(explicit: Path | None) -> str:
    return str(Workspace.resolve(explicit).root)
