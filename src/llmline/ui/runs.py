"""Runs: the filtered, paginated list and a run's page (stages, lineage, reports, curve, card).

The lineage on a run page starts at the raw input files and checks them: a run id is the spec's
sha256 and the inputs' sha256s hashed together (`chain.run_id_for`), so recomputing it from the
files as they are now tells whether they are still the bytes the run was made from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from llmline.ui import charts
from llmline.ui.app import NotFound, render
from llmline.ui.runindex import RunIndex, filter_runs, read_json, read_spec
from llmline.ui.text import markdown
from llmline.workspace import Run, Workspace

router = APIRouter()
PAGE_SIZE = 50
_RUN_ID = re.compile(r"^[\w.-]{1,200}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


def run_index(request: Request) -> RunIndex:
    cache = request.app.state.cache
    if "runs" not in cache:
        cache["runs"] = RunIndex(request.app.state.workspace)
    index: RunIndex = cache["runs"]
    return index


def get_run(workspace: Workspace, run_id: str) -> Run:
    if not _RUN_ID.match(run_id) or run_id in (".", ".."):
        raise NotFound(f"{run_id!r} is not a run id", fix="pick a run from the list at /runs")
    run = Run(workspace, run_id)
    if not run.manifest_path.is_file():
        raise NotFound(
            f"no run {run_id} in {workspace.runs}", fix="pick a run from the list at /runs"
        )
    return run


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request,
    recipe: str = "",
    task: str = "",
    status: str = "",
    since: str = "",
    until: str = "",
    page: int = 1,
) -> Response:
    everything = run_index(request).all()
    kept = filter_runs(
        everything, recipe=recipe, task=task, status=status, since=since, until=until
    )
    pages = max(1, -(-len(kept) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    query = {"recipe": recipe, "task": task, "status": status, "since": since, "until": until}
    return render(
        request,
        "runs.html",
        runs=kept[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        total=len(kept),
        page=page,
        pages=pages,
        query=query,
        qs=urlencode({k: v for k, v in query.items() if v}),
        recipes=sorted({r.recipe for r in everything}),
        tasks=sorted({r.task for r in everything}),
        statuses=sorted({r.status for r in everything}),
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str) -> Response:
    workspace = request.app.state.workspace
    run = get_run(workspace, run_id)
    manifest = read_json(run.manifest_path)
    spec = read_spec(run.spec_path)
    stages = manifest.get("stages") or {}
    evaluation = read_json(run.eval_dir / "report.json")
    return render(
        request,
        "run.html",
        run=run,
        manifest=manifest,
        spec=spec,
        stages=stages,
        lineage=lineage(run, manifest, spec, request.app.state.cache),
        data_report=_read_markdown(run.data_dir / "data_report.md"),
        data_json=read_json(run.data_dir / "data_report.json"),
        evaluation=evaluation,
        eval_md=_read_markdown(run.eval_dir / "report.md"),
        confusion=_confusion(evaluation),
        per_type=_per_type(evaluation),
        loss_svg=loss_chart(run.dir / "train" / "loss_curve.json"),
        card=_read_markdown(run.dir / "card.md"),
    )


@router.get("/lineage/{sha256}", response_class=HTMLResponse)
def lineage_page(request: Request, sha256: str) -> Response:
    """Every run and registered version that produced or consumed these bytes."""
    if not _SHA.match(sha256):
        raise NotFound(f"{sha256!r} is not a sha256", fix="follow a hash link from a run page")
    runs = run_index(request).find(sha256)
    from llmline.ui.registry import versions

    tagged = [v for v in versions(request) if sha256 in v["tags"].values()]
    return render(request, "lineage.html", sha256=sha256, runs=runs, versions=tagged)


def _read_markdown(path: Path) -> str:
    try:
        return markdown(path.read_text(encoding="utf-8"))
    except OSError:
        return ""


def _confusion(evaluation: dict[str, Any]) -> str:
    matrix, labels = evaluation.get("confusion_matrix"), evaluation.get("labels")
    if not matrix or not labels:
        return ""
    return charts.matrix_chart(matrix, [str(label) for label in labels])


def _per_type(evaluation: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    per = evaluation.get("per_type") or evaluation.get("per_class") or {}
    return sorted(per.items()) if isinstance(per, dict) else []


def loss_chart(path: Path) -> str:
    """The loss curve: train and validation loss against the optimizer step."""
    curves = read_json(path)
    series = {}
    for name, points in curves.items():
        if isinstance(points, list):
            values = [
                (float(p["step"]), float(p["loss"]))
                for p in points
                if isinstance(p, dict) and "step" in p and "loss" in p
            ]
            if values:
                series[f"{name} loss"] = values
    return charts.line_chart(series, x_label="step", y_label="loss") if series else ""


def lineage(
    run: Run, manifest: dict[str, Any], spec: dict[str, Any], cache: dict[str, Any]
) -> dict[str, Any]:
    """Raw inputs (re-hashed and checked against the run id) -> stage outputs -> registry."""
    inputs = []
    data = spec.get("data") or {}
    for key in ("source", "validation"):
        source = data.get(key)
        if isinstance(source, dict) and source.get("path"):
            inputs.append(_input(key, str(source["path"]), run, cache))
    hashes = [i["sha256"] for i in inputs]
    verified = None
    if hashes and all(hashes) and manifest.get("spec_sha256"):
        from llmline.lineage import sha256_json

        expected = sha256_json([manifest["spec_sha256"], hashes])[:10]
        verified = run.run_id.endswith(f"-{expected}")
    stages = manifest.get("stages") or {}
    register = (stages.get("register") or {}).get("result") or {}
    return {
        "inputs": inputs,
        "verified": verified,
        "stages": [(name, record) for name, record in _ordered(stages)],
        "register": register,
    }


_ORDER = (
    "data",
    "train",
    "evaluate",
    "optimize",
    "bias",
    "safety",
    "monitor-reference",
    "card",
    "register",
)


def _ordered(stages: dict[str, Any]) -> list[tuple[str, Any]]:
    rank = {name: i for i, name in enumerate(_ORDER)}
    return sorted(stages.items(), key=lambda kv: (rank.get(kv[0], 50), kv[0]))


def _input(key: str, raw: str, run: Run, cache: dict[str, Any]) -> dict[str, Any]:
    """Find the input file (paths in a spec are relative to where `llmline run` was started)."""
    path = Path(raw).expanduser()
    candidates = (
        [path]
        if path.is_absolute()
        else [
            Path.cwd() / path,
            run.workspace.root.parent / path,
            run.workspace.root / path,
        ]
    )
    found = next((c for c in candidates if c.exists()), None)
    if found is None:
        return {"key": key, "path": raw, "sha256": None, "note": "not found from here"}
    stat = found.stat()
    memo = cache.setdefault("input_hashes", {})
    stamp = (str(found.resolve()), stat.st_mtime_ns, stat.st_size)
    if stamp not in memo:
        from llmline.lineage import sha256_path

        memo[stamp] = sha256_path(found)
    return {"key": key, "path": raw, "sha256": memo[stamp], "note": ""}
