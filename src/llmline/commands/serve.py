"""`llmline serve`: load a model reference and answer HTTP requests under load."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from llmline.commands.pipeline import add_workspace_argument
from llmline.console import console
from llmline.serve.runner import model_info

__all__ = ["model_info", "register"]

# CLI flag -> ServeSpec field; a flag given on the command line wins over --config.
_FLAGS = {
    "workers": int,
    "threads": int,
    "backend": str,
    "max_batch_size": int,
    "max_wait_ms": float,
    "max_queue": int,
    "api_keys": Path,
    "reload_interval_s": float,
    "request_audit": Path,
    "engine": str,
    "min_replicas": int,
    "max_replicas": int,
    "target_ongoing_requests": float,
    "replica_cpus": float,
    "downscale_delay_s": float,
}


def register(verbs: Any) -> None:
    serve = verbs.add_parser("serve", help="serve a model over HTTP (FastAPI + uvicorn)")
    serve.add_argument("--model", required=True, help="run dir, models:/NAME@ALIAS, model dir")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML with serve:, monitor: and assistant: blocks (a pipeline spec works too)",
    )
    for flag, kind in _FLAGS.items():
        serve.add_argument(
            f"--{flag.replace('_', '-')}",
            type=kind,
            default=None,
            help=f"overrides serve.{flag} (see `llmline validate --explain`)",
        )
    serve.add_argument("--no-monitor", action="store_true", help="do not log requests")
    add_workspace_argument(serve)
    serve.set_defaults(handler=cmd_serve)


def _blocks(path: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The serve: and monitor: blocks of a YAML file (validated when the options are built).

    A pipeline spec's govern.safety is the service's policy unless serve.safety is given.
    """
    if path is None:
        return {}, {}
    from llmline.errors import SpecError
    from llmline.spec import MonitorSpec, ServeSpec, describe_validation_error, read_yaml

    raw = read_yaml(path)
    serve, monitor = dict(raw.get("serve") or {}), raw.get("monitor") or {}
    govern = raw.get("govern")
    governed = govern.get("safety") if isinstance(govern, dict) else None
    if serve.get("safety") is None and governed is not None:
        serve["safety"] = governed
    from pydantic import ValidationError

    try:
        ServeSpec.model_validate(serve)
        MonitorSpec.model_validate(monitor)
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc), where=str(path)) from None
    return serve, monitor


def cmd_serve(args: argparse.Namespace) -> int:
    from llmline.lineage import audit_append
    from llmline.serve.runner import ServeOptions, serve_forever
    from llmline.workspace import Workspace

    workspace = Workspace.resolve(args.workspace)
    settings, monitor = _blocks(args.config)
    settings |= {k: getattr(args, k) for k in _FLAGS if getattr(args, k) is not None}
    if args.no_monitor:
        settings["monitor"] = False
    from llmline.assistant.service import read_assistant_block

    assistant = read_assistant_block(args.config)
    options = ServeOptions(args.model, str(workspace.root), settings, monitor, assistant)
    spec = options.serve_spec
    audit_append(
        workspace.audit_log,
        "service_started",
        model=args.model,
        host=args.host,
        port=args.port,
        workers=spec.workers,
        backend=spec.backend,
        engine=spec.engine,
    )
    scale = (
        f"{spec.min_replicas}-{spec.max_replicas} Ray Serve replica(s)"
        if spec.engine == "ray"
        else f"{spec.workers} worker(s)"
    )
    console.print(
        f"[bold]serve[/]: {args.model} on http://{args.host}:{args.port} with "
        f"{scale}, batches of {spec.max_batch_size} (docs at /docs)"
    )
    serve_forever(options, host=args.host, port=args.port)
    return 0
