"""The `llmline` command: a table of verbs, each a thin shell over one library function.

Every module in `llmline.commands` registers its verbs, so a new link adds a file there and
touches nothing here. User mistakes (LlmlineError) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from llmline import __version__
from llmline.errors import LlmlineError


def build_parser() -> argparse.ArgumentParser:
    import llmline.commands

    parser = argparse.ArgumentParser(
        prog="llmline",
        description="The whole life of a language model as one reproducible pipeline.",
    )
    parser.add_argument("--version", action="version", version=f"llmline {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for module in sorted(pkgutil.iter_modules(llmline.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"llmline.commands.{module.name}").register(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # llmline draws its own rich progress bars; the hub's tqdm bars would interleave with them.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _default_workspace(getattr(args, "workspace", None)):
            code: int = args.handler(args)
        return code
    except LlmlineError as exc:
        print(f"llmline: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("llmline: interrupted; finished stages are kept, re-run to resume", file=sys.stderr)
        return 130


@contextmanager
def _default_workspace(chosen: str | os.PathLike[str] | None) -> Iterator[None]:
    """`--workspace` becomes the process's default (LLMLINE_HOME) while the verb runs.

    Code that needs the workspace without being handed it — an adapter's pinned base model,
    a data step's NER model, a Ray worker — then resolves `models:/` references in the same
    one; the old value comes back afterwards, so in-process callers (tests) see no leak.
    """
    if not chosen:
        yield
        return
    before = os.environ.get("LLMLINE_HOME")
    os.environ["LLMLINE_HOME"] = str(Path(chosen).expanduser().resolve())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("LLMLINE_HOME", None)
        else:
            os.environ["LLMLINE_HOME"] = before


if __name__ == "__main__":
    sys.exit(main())
