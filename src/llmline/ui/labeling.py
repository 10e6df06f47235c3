"""Labeling: a run's active-learning batch, one text at a time with the model's pre-label.

A batch is chosen the way `llmline data label --select` chooses one (`data.active`: uncertainty
plus diversity) from a pool file, or from the run's validation snapshot when none is given;
probabilities come from the run's own classifier, or from the TF-IDF proxy trained on its train
snapshot. The run's cleanlab suspects (`data.label_issues`) make a batch of their own, pre-labelled
with the suggested label. Texts are redacted before they are stored or shown, labels go to the
console's store (`console.db`), and an export is a JSONL file (`text`, `label`) that a spec's
`data.source` reads as it is.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from llmline.errors import DataError
from llmline.lineage import sha256_bytes, write_json_atomic
from llmline.ui.app import NotFound, render
from llmline.ui.runindex import read_json
from llmline.ui.runs import get_run
from llmline.ui.security import StaleForm, read_form
from llmline.ui.text import redact
from llmline.workspace import Run

router = APIRouter()
MAX_POOL = 5000
MAX_BATCH = 200
_BATCH = re.compile(r"^[\w-]{1,80}$")
_SCHEMA = """CREATE TABLE IF NOT EXISTS labels (
  run_id TEXT NOT NULL, batch TEXT NOT NULL, item INTEGER NOT NULL, label TEXT NOT NULL,
  user TEXT NOT NULL, ts REAL NOT NULL, PRIMARY KEY (run_id, batch, item))"""


class LabelStore:
    """Labels given in the console, one row per (run, batch, item); the last answer wins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def save(self, run_id: str, batch: str, item: int, label: str, user: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO labels VALUES (?,?,?,?,?,?)",
                (run_id, batch, item, label, user, time.time()),
            )

    def labels(self, run_id: str, batch: str) -> dict[int, str]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT item, label FROM labels WHERE run_id=? AND batch=?", (run_id, batch)
            ).fetchall()
        return {int(i): str(label) for i, label in rows}


def label_store(request: Request) -> LabelStore:
    cache = request.app.state.cache
    if "labels" not in cache:
        cache["labels"] = LabelStore(request.app.state.workspace.root / "console.db")
    store: LabelStore = cache["labels"]
    return store


def batch_dir(run: Run) -> Path:
    return run.workspace.root / "labeling" / run.run_id


def run_labels(run: Run) -> list[str]:
    manifest = read_json(run.manifest_path)
    data = ((manifest.get("stages") or {}).get("data") or {}).get("result") or {}
    labels = data.get("labels") or []
    return [str(label) for label in labels] if isinstance(labels, list) else []


def load_batch(run: Run, batch: str) -> dict[str, Any]:
    if not _BATCH.match(batch):
        raise NotFound(
            f"{batch!r} is not a batch id", fix="pick a batch on the run's labeling page"
        )
    path = batch_dir(run) / f"{batch}.json"
    if not path.is_file():
        raise NotFound(
            f"run {run.run_id} has no labeling batch {batch}",
            fix=f"build one at /labeling/{run.run_id}",
        )
    raw = path.read_bytes()
    return {**json.loads(raw), "sha256": sha256_bytes(raw)}


def list_batches(run: Run) -> list[dict[str, Any]]:
    folder = batch_dir(run)
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = read_json(path)
        found.append(
            {
                "id": path.stem,
                "kind": data.get("kind", "?"),
                "size": len(data.get("items", [])),
                "created": data.get("created", ""),
            }
        )
    return found


@router.get("/labeling", response_class=HTMLResponse)
def labeling_index(request: Request) -> Response:
    from llmline.ui.runs import run_index

    runs = [
        r for r in run_index(request).all() if r.task == "classification" and "data" in r.stages
    ]
    return render(request, "labeling_index.html", runs=runs[:200])


@router.get("/labeling/{run_id}", response_class=HTMLResponse)
def labeling_run(request: Request, run_id: str) -> Response:
    run = get_run(request.app.state.workspace, run_id)
    report = read_json(run.data_dir / "data_report.json")
    suspects = report.get("label_issues") or []
    return render(
        request,
        "labeling_run.html",
        run=run,
        labels=run_labels(run),
        batches=list_batches(run),
        suspects=suspects[:50],
    )


@router.post("/labeling/{run_id}/batch")
async def new_batch(request: Request, run_id: str) -> Response:
    form = await read_form(request)
    run = get_run(request.app.state.workspace, run_id)
    if not run_labels(run):
        raise DataError(f"run {run_id} has no label set", fix="label runs of classification specs")
    kind = form.get("kind", "active")
    if kind == "suspects":
        items = suspect_items(run)
    else:
        size = _int(form.get("size", "20"), "size", 1, MAX_BATCH)
        limit = _int(form.get("limit", "500"), "limit", 2, MAX_POOL)
        pool = form.get("pool", "").strip()
        column = form.get("text_column", "text") or "text"
        items = active_items(run, Path(pool) if pool else None, column, size, limit)
    batch = time.strftime("%Y%m%d-%H%M%S") + f"-{kind}"
    write_json_atomic(
        batch_dir(run) / f"{batch}.json",
        {
            "kind": kind,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "labels": run_labels(run),
            "items": items,
        },
    )
    return RedirectResponse(f"/labeling/{run_id}/{batch}/0", status_code=303)


def _int(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise DataError(
            f"{name} {raw!r} is not a whole number", fix=f"give {low}..{high}"
        ) from None
    if not low <= value <= high:
        raise DataError(f"{name} {value} is outside {low}..{high}", fix=f"give {low}..{high}")
    return value


def suspect_items(run: Run) -> list[dict[str, Any]]:
    issues = read_json(run.data_dir / "data_report.json").get("label_issues") or []
    if not issues:
        raise DataError(
            f"run {run.run_id} has no label-error suspects",
            fix="run the spec with data.label_issues: true",
        )
    return [
        {
            "text": redact(i.get("text", "")),
            "prelabel": i.get("suggested"),
            "score": i.get("quality"),
            "given": i.get("given"),
            "row": i.get("row"),
        }
        for i in issues
    ]


def active_items(
    run: Run, pool: Path | None, column: str, size: int, limit: int = MAX_POOL
) -> list[dict[str, Any]]:
    """The `size` most useful texts of the pool, each with the model's pre-label."""
    from llmline.data.active import prelabels, select_batch, tfidf_vectors

    texts = _pool_texts(run, pool, column)[:limit]  # the model scores every text of the pool
    probs, classes = _probabilities(run, texts)
    chosen = select_batch(probs, tfidf_vectors(texts), size)
    guesses = prelabels(probs, classes)
    return [
        {
            "text": redact(texts[i]),
            "prelabel": guesses[i][0],
            "score": round(guesses[i][1], 4),
            "row": i,
        }
        for i in chosen
    ]


def _pool_texts(run: Run, pool: Path | None, column: str) -> list[str]:
    if pool is None:
        import pyarrow.parquet as pq

        snapshot = run.data_dir / "validation.parquet"
        if not snapshot.is_file():
            raise DataError(
                f"run {run.run_id} has no validation snapshot to draw from", fix="give a pool file"
            )
        texts = [
            str(t) for t in pq.read_table(snapshot, columns=["text"]).column("text").to_pylist()
        ]
    else:
        from llmline.data.sources import read_records
        from llmline.spec import SourceSpec

        if not pool.exists():
            raise DataError(
                f"pool file {pool} does not exist",
                where="pool",
                fix="give a CSV/TSV/JSONL/Parquet path on the console's machine",
            )
        source = SourceSpec(path=pool, text_column=column, label_column=None)
        texts = [r.text for r in read_records(source, key="pool")]
    texts = [t for t in texts if t.strip()][:MAX_POOL]
    if len(texts) < 2:
        raise DataError("the pool has fewer than two texts", where="pool", fix="give a larger pool")
    return texts


def _probabilities(run: Run, texts: list[str]) -> tuple[Any, list[str]]:
    from llmline.data.active import model_probabilities, proxy_probabilities

    if (run.model_dir / "llmline_model.json").is_file():
        try:
            return model_probabilities(run.model_dir, texts)
        except DataError:
            pass  # not a classifier: fall back to the proxy on its labelled snapshot
    import pyarrow.parquet as pq

    table = pq.read_table(run.data_dir / "train.parquet", columns=["text", "label"]).to_pydict()
    return proxy_probabilities(table["text"], [str(x) for x in table["label"]], texts)


@router.get("/labeling/{run_id}/{batch}/{item:int}", response_class=HTMLResponse)
def label_item(request: Request, run_id: str, batch: str, item: int) -> Response:
    run = get_run(request.app.state.workspace, run_id)
    data = load_batch(run, batch)
    if not 0 <= item < len(data["items"]):
        raise NotFound(
            f"batch {batch} has {len(data['items'])} items; there is no item {item}",
            fix=f"go back to /labeling/{run_id}",
        )
    given = label_store(request).labels(run_id, batch)
    return render(
        request,
        "label_item.html",
        run=run,
        batch=batch,
        data=data,
        item=item,
        entry=data["items"][item],
        given=given,
        done=len(given),
    )


@router.post("/labeling/{run_id}/{batch}/{item:int}")
async def save_label(request: Request, run_id: str, batch: str, item: int) -> Response:
    form = await read_form(request)
    run = get_run(request.app.state.workspace, run_id)
    data = load_batch(run, batch)
    if form.get("batch_sha256") != data["sha256"]:
        raise StaleForm(
            f"stale form: batch {batch} changed since the page was shown",
            fix="reload the page and label again",
        )
    if not 0 <= item < len(data["items"]):
        raise NotFound(f"batch {batch} has no item {item}", fix=f"go back to /labeling/{run_id}")
    label = form.get("label", "")
    if label not in data["labels"]:
        raise DataError(
            f"{label!r} is not one of the run's labels",
            fix=f"choose from {', '.join(data['labels'][:20])}",
        )
    label_store(request).save(run_id, batch, item, label, request.state.session.user or "anonymous")
    following = item + 1 if item + 1 < len(data["items"]) else item
    return RedirectResponse(f"/labeling/{run_id}/{batch}/{following}", status_code=303)


@router.post("/labeling/{run_id}/{batch}/export")
async def export_batch(request: Request, run_id: str, batch: str) -> Response:
    await read_form(request)
    run = get_run(request.app.state.workspace, run_id)
    path, count = export_labels(run, batch, label_store(request))
    return render(request, "exported.html", run=run, batch=batch, path=path, count=count)


def export_labels(run: Run, batch: str, store: LabelStore) -> tuple[Path, int]:
    """Write the batch's labelled items as JSONL (`text`, `label`, `prelabel`, `source_row`)."""
    from llmline.lineage import write_text_atomic

    data = load_batch(run, batch)
    given = store.labels(run.run_id, batch)
    if not given:
        raise DataError(f"batch {batch} has no labels yet", fix="label some texts first")
    lines = [
        json.dumps(
            {
                "text": entry["text"],
                "label": given[i],
                "prelabel": entry.get("prelabel"),
                "source_row": entry.get("row"),
            },
            ensure_ascii=False,
        )
        for i, entry in enumerate(data["items"])
        if i in given
    ]
    path = batch_dir(run) / f"{batch}.labels.jsonl"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path, len(lines)


@router.get("/labeling/{run_id}/{batch}/export.jsonl")
def download_export(request: Request, run_id: str, batch: str) -> Response:
    run = get_run(request.app.state.workspace, run_id)
    load_batch(run, batch)
    path = batch_dir(run) / f"{batch}.labels.jsonl"
    if not path.is_file():
        raise NotFound(f"batch {batch} has not been exported", fix="press Export first")
    return FileResponse(path, media_type="application/jsonl", filename=path.name)
