"""`llmline apikey`: create, list and revoke the service's API keys (stored hashed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from llmline.commands.pipeline import add_workspace_argument
from llmline.console import console


def register(verbs: Any) -> None:
    apikey = verbs.add_parser("apikey", help="API keys of the service (hashed, scoped, limited)")
    actions = apikey.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a key; it is printed once, stored hashed")
    create.add_argument("name")
    create.add_argument(
        "--scopes",
        default="*",
        help="comma-separated routes, e.g. classify,embeddings (default all)",
    )
    create.add_argument("--rate", type=float, default=None, help="requests per second")
    create.add_argument("--burst", type=int, default=20, help="requests allowed at once")
    listing = actions.add_parser("list", help="names, scopes and limits (never the keys)")
    revoke = actions.add_parser("revoke", help="delete a key")
    revoke.add_argument("name")
    for parser, handler in ((create, cmd_create), (listing, cmd_list), (revoke, cmd_revoke)):
        parser.add_argument(
            "--keys", type=Path, default=None, help="key file (default <workspace>/api_keys.json)"
        )
        add_workspace_argument(parser)
        parser.set_defaults(handler=handler)


def _path(args: argparse.Namespace) -> Path:
    from llmline.workspace import Workspace

    return args.keys or Workspace.resolve(args.workspace).root / "api_keys.json"


def cmd_create(args: argparse.Namespace) -> int:
    from llmline.serve.auth import KeyStore

    path = _path(args)
    store = KeyStore.load(path)
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    key = store.create(args.name, scopes=scopes, rate_per_s=args.rate, burst=args.burst)
    store.save(path)
    console.print(
        f"[bold]apikey[/]: {args.name} created in {path}; copy it now, it is not shown again:"
    )
    print(key)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from llmline.serve.auth import KeyStore

    for key in KeyStore.load(_path(args)).keys:
        rate = f"{key.rate_per_s}/s burst {key.burst}" if key.rate_per_s else "unlimited"
        print(f"{key.name}\t{','.join(key.scopes)}\t{rate}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from llmline.serve.auth import KeyStore

    path = _path(args)
    store = KeyStore.load(path)
    store.revoke(args.name)
    store.save(path)
    console.print(f"[bold]apikey[/]: {args.name} revoked")
    return 0
