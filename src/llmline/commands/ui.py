"""`llmline ui`: serve the web console over a workspace (loopback by default)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from llmline.commands.pipeline import add_workspace_argument


def register(verbs: Any) -> None:
    ui = verbs.add_parser("ui", help="web console: runs, lineage, registry, monitoring, labeling")
    add_workspace_argument(ui)
    ui.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind; anything but loopback requires a login with an API key",
    )
    ui.add_argument("--port", type=int, default=8700)
    ui.add_argument(
        "--service",
        default=None,
        metavar="URL",
        help="a running `llmline serve` for the chat and assistant playgrounds",
    )
    ui.add_argument(
        "--mlflow-url",
        default="http://127.0.0.1:5000",
        help="where `mlflow ui` of this workspace runs (the console links to it)",
    )
    ui.add_argument(
        "--keys",
        type=Path,
        default=None,
        help="API key file for logins (default <workspace>/api_keys.json)",
    )
    ui.add_argument(
        "--monitor-url",
        default=None,
        help="monitoring store URL (default sqlite:///<workspace>/monitor.db)",
    )
    ui.add_argument(
        "--rules",
        type=Path,
        default=None,
        help="alert rules (a monitor: block) to evaluate on the model pages",
    )
    ui.set_defaults(handler=cmd_ui)


def cmd_ui(args: argparse.Namespace) -> int:
    import uvicorn

    from llmline.console import console
    from llmline.ui.app import UiConfig, create_app
    from llmline.workspace import Workspace

    config = UiConfig(
        workspace=Workspace.chosen_root(args.workspace),
        host=args.host,
        port=args.port,
        service_url=args.service,
        mlflow_url=args.mlflow_url,
        keys_path=args.keys,
        monitor_url=args.monitor_url,
        extra={"rules": str(args.rules)} if args.rules else {},
    )
    app = create_app(config)
    from llmline.ui.warmup import warm_up

    console.print(f"[bold]ui[/]: {warm_up(app).summary()}")
    access = "no login (loopback)" if config.loopback else "login with an API key"
    console.print(
        f"[bold]ui[/]: http://{args.host}:{args.port}/ over {config.workspace} ({access})"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
