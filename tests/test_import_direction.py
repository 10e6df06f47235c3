"""Dependencies point down the chain: checked on the source tree, without importing it.

Every import counts for the direction rules, the lazy ones inside functions included (they are
how a circle hides); the circle check covers what a module imports when it loads (its top
level and its TYPE_CHECKING block), where a circle breaks or tangles the modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# (package, prefixes none of its modules may import)
FORBIDDEN = [
    ("llmline.models", ("llmline.serve", "llmline.optimize", "llmline.monitor")),
    ("llmline.data", ("llmline.serve",)),
    ("llmline.spec", ("llmline.serve", "llmline.models", "llmline.data", "llmline.train")),
    ("llmline.monitor", ("llmline.serve",)),
    ("llmline.optimize", ("llmline.serve",)),
]
# The one sanctioned exception, each a lazy import inside a validator: the spec checks the options
# of registered variants when it is loaded, and the registry of data steps is filled where the
# steps are defined (data/), so `llmline validate` names `data.steps[i].KEY` before a run starts.
ALLOWED = {
    ("llmline.spec.data", "llmline.data.record"),
    ("llmline.spec.data", "llmline.data.record.DATA_STEPS"),
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((SRC / "llmline").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imported(nodes: list[ast.stmt] | list[ast.AST]) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return {n for n in names if n == "llmline" or n.startswith("llmline.")}


def _all_imports(path: Path) -> set[str]:
    return _imported(list(ast.walk(ast.parse(path.read_text(encoding="utf-8")))))


def _load_time_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    body = list(ast.parse(path.read_text(encoding="utf-8")).body)
    body += [stmt for node in body if isinstance(node, ast.If) for stmt in node.body]
    return {n for n in _imported(body) if n in modules}


@pytest.mark.parametrize(("package", "forbidden"), FORBIDDEN)
def test_no_module_imports_up_the_chain(package: str, forbidden: tuple[str, ...]) -> None:
    offending = [
        f"{module} imports {name}"
        for module, path in _modules().items()
        if module == package or module.startswith(package + ".")
        for name in sorted(_all_imports(path))
        if name.startswith(forbidden) and (module, name) not in ALLOWED
    ]
    assert offending == []


def test_no_import_circles() -> None:
    modules = _modules()
    graph = {m: _load_time_imports(p, modules) - {m} for m, p in modules.items()}
    circles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in path:
                circles.append([*path[path.index(target) :], target])
            elif target not in done:
                visit(target, [*path, target])
        done.add(module)

    for module in modules:
        if module not in done:
            visit(module, [module])
    assert circles == []


def test_the_checks_see_a_circle_and_a_wrong_direction(tmp_path: Path) -> None:
    """The parser finds lazy and TYPE_CHECKING imports, so the rules above can fail."""
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from llmline.serve.app import ServiceState\n"
        "def f():\n    from llmline.serve.routes.embeddings import embed_texts\n",
        encoding="utf-8",
    )
    assert "llmline.serve.routes.embeddings" in _all_imports(source)
    modules = {"llmline.serve.app": source}
    assert _load_time_imports(source, modules) == {"llmline.serve.app"}
