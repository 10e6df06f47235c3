"""Registry: models, versions, aliases and gate verdicts; promote and roll back; the audit log.

Promotion goes through `registry.promote.promote`, the CLI's own path, so the console writes
the same `gate_override` / `alias_moved` audit entries as `llmline registry promote`. A version
whose gates failed moves only with a typed reason, which becomes the override. Each form carries
the alias's version as the page showed it: if the alias moved since, the form is stale (409).
"""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from llmline.errors import RegistryError
from llmline.serve.auth import PROMOTE_SCOPE
from llmline.ui.app import NotFound, render, require
from llmline.ui.security import read_form

router = APIRouter()
_NAME = re.compile(r"^[\w.-]{1,200}$")
_CACHE_SECONDS = 5.0
AUDIT_PAGE = 100


class StaleAlias(RegistryError):
    status = 409


def versions(request: Request) -> list[dict[str, Any]]:
    """Every registered version (cached a few seconds; our own writes clear the cache)."""
    cache = request.app.state.cache
    stamp, rows = cache.get("versions", (0.0, None))
    if rows is None or time.monotonic() - stamp > _CACHE_SECONDS:
        from llmline.registry.store import list_versions

        rows = list_versions(request.app.state.workspace)
        cache["versions"] = (time.monotonic(), rows)
    result: list[dict[str, Any]] = rows
    return result


def _forget(request: Request) -> None:
    request.app.state.cache.pop("versions", None)


def _version(request: Request, name: str, version: str) -> dict[str, Any]:
    if not _NAME.match(name) or not version.isdigit():
        raise NotFound(f"{name}/{version} is not a registry version", fix="pick one at /registry")
    for row in versions(request):
        if row["name"] == name and row["version"] == version:
            return row
    raise NotFound(
        f"models:/{name}/{version} is not in the registry", fix="pick a version at /registry"
    )


def alias_holder(rows: list[dict[str, Any]], name: str, alias: str) -> str:
    return next((r["version"] for r in rows if r["name"] == name and alias in r["aliases"]), "")


@router.get("/registry", response_class=HTMLResponse)
def registry_page(request: Request) -> Response:
    rows = versions(request)
    models: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        models.setdefault(row["name"], []).append(row)
    return render(request, "registry.html", models=models)


@router.get("/registry/{name}/{version}", response_class=HTMLResponse)
def version_page(request: Request, name: str, version: str, problem: str = "") -> Response:
    return _version_view(request, name, version)


def _version_view(
    request: Request,
    name: str,
    version: str,
    *,
    status: int = 200,
    problem: str = "",
    alias: str = "champion",
) -> Response:
    from llmline.registry.promote import describe, gate_evidence

    row = _version(request, name, version)
    evidence = gate_evidence(row["tags"])
    rows = versions(request)
    holders = {a: alias_holder(rows, name, a) for a in {"champion", alias, *row["aliases"]}}
    run_id = row["tags"].get("llmline.run_id", "")
    return render(
        request,
        "version.html",
        status=status,
        row=row,
        evidence=evidence,
        failed=[describe(g) for g in evidence.failed],
        holders=holders,
        problem=problem,
        alias=alias,
        run_exists=bool(run_id) and (request.app.state.workspace.runs / run_id).is_dir(),
        siblings=[r for r in rows if r["name"] == name],
    )


@router.post("/registry/{name}/{version}/promote")
async def promote_version(request: Request, name: str, version: str) -> Response:
    form = await read_form(request)
    require(request, PROMOTE_SCOPE)
    from llmline.registry.promote import describe, gate_evidence, promote

    alias = form.get("alias", "champion").strip() or "champion"
    if not re.match(r"^[\w-]{1,100}$", alias):
        raise RegistryError(f"{alias!r} is not an alias name", fix="use letters, digits, - and _")
    row = _version(request, name, version)
    _check_fresh(request, name, alias, form.get("expected", ""))
    reason = form.get("reason", "").strip()
    evidence = gate_evidence(row["tags"])
    failing = evidence.failed or (alias == "champion" and evidence.run_dir is None)
    if failing and not reason:
        problems = "; ".join(describe(g) for g in evidence.failed) or "no run evidence"
        return _version_view(
            request,
            name,
            version,
            status=409,
            alias=alias,
            problem=f"a gate failed ({problems}): type the reason for "
            "overriding it; it goes to the audit log",
        )
    promote(
        request.app.state.workspace,
        name,
        version,
        alias=alias,
        override=reason if failing else None,
    )
    _forget(request)
    return RedirectResponse(f"/registry/{name}/{version}?moved={alias}", status_code=303)


@router.post("/registry/{name}/rollback")
async def rollback_alias(request: Request, name: str) -> Response:
    form = await read_form(request)
    require(request, PROMOTE_SCOPE)
    from llmline.monitor.retrain import rollback

    alias = form.get("alias", "champion").strip() or "champion"
    if not _NAME.match(name):
        raise NotFound(f"{name!r} is not a model name", fix="pick one at /registry")
    _check_fresh(request, name, alias, form.get("expected", ""))
    _undone, restored = rollback(request.app.state.workspace, name, alias)
    _forget(request)
    return RedirectResponse(f"/registry/{name}/{restored}?moved={alias}", status_code=303)


def _check_fresh(request: Request, name: str, alias: str, expected: str) -> None:
    """The alias must still point where the page said it did when the form was shown."""
    _forget(request)
    current = alias_holder(versions(request), name, alias)
    if expected != current:
        shown = f"v{expected}" if expected else "no version"
        now = f"v{current}" if current else "no version"
        raise StaleAlias(
            f"stale form: @{alias} of {name} pointed at {shown} when the page was shown and "
            f"points at {now} now",
            fix="reload the page, check the new state and decide again",
        )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, event: str = "", page: int = 1) -> Response:
    from llmline.govern.audit import filter_entries

    log = request.app.state.workspace.audit_log
    verdict, everything = _audit(request, log)
    entries = filter_entries(everything, event=event or None)[::-1]
    pages = max(1, -(-len(entries) // AUDIT_PAGE))
    page = min(max(page, 1), pages)
    shown = entries[(page - 1) * AUDIT_PAGE : page * AUDIT_PAGE]
    return render(
        request,
        "audit.html",
        verdict=verdict,
        entries=shown,
        total=len(entries),
        page=page,
        pages=pages,
        event=event,
    )


def _audit(request: Request, log: Any) -> tuple[Any, list[dict[str, Any]]]:
    """The chain's verdict and entries, re-read only when the log or its head file changed."""
    from llmline.govern.audit import read_entries, verify_log
    from llmline.lineage import audit_head_path

    def stamp(path: Any) -> tuple[int, int]:
        try:
            info = path.stat()
        except OSError:
            return (0, 0)
        return (info.st_mtime_ns, info.st_size)

    key = (stamp(log), stamp(audit_head_path(log)))
    cached = request.app.state.cache.get("audit")
    if cached is None or cached[0] != key:
        cached = (key, verify_log(log), read_entries(log))
        request.app.state.cache["audit"] = cached
    return cached[1], cached[2]
