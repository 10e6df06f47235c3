"""`llmline serve`: load a model reference and answer HTTP requests."""

from __future__ import annotations

import argparse
from typing import Any

from llmline.commands.pipeline import add_workspace_argument
from llmline.console import console


def register(verbs: Any) -> None:
    serve = verbs.add_parser("serve", help="serve a model over HTTP (FastAPI + uvicorn)")
    serve.add_argument("--model", required=True, help="run dir, models:/NAME@ALIAS, model dir")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    serve.add_argument("--port", type=int, default=8000)
    add_workspace_argument(serve)
    serve.set_defaults(handler=cmd_serve)


def model_info(reference: str, workspace: Any) -> dict[str, Any]:
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
    }


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from llmline.lineage import audit_append
    from llmline.models.predictor import load_predictor
    from llmline.models.resolve import resolve_model
    from llmline.serve.app import create_app
    from llmline.workspace import Workspace

    workspace = Workspace.resolve(args.workspace)
    model_dir = resolve_model(args.model, workspace)
    predictor = load_predictor(model_dir)
    info = model_info(args.model, workspace)
    app = create_app(predictor, model_ref=args.model, model_info=info)
    audit_append(workspace.audit_log, "service_started", model=args.model, host=args.host,
                 port=args.port, **info)  # fmt: skip
    console.print(f"[bold]serve[/]: {args.model} on http://{args.host}:{args.port} (docs at /docs)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
