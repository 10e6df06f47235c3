"""Render time of every console page over a big synthetic workspace (issue 15's ≤ 300 ms/page).

The workspace has `--runs` run directories (manifest, spec, data and evaluation reports, loss
curve, card, as the chain writes them; every 10th failed or still running), a registry of 3
models x 5 versions on the embedded MLflow store, an audit log with 6 hash-chained entries per
run, `--rows` served-request rows for 4 models over 30 days (the last week drifting), and the
finance monitor's tables for 50 entities. The app is first warmed as `llmline ui` warms it
before listening (`ui/warmup.py`: run index, registry, SciPy; each timed), with the roll-up of
the request rows into the console's hourly aggregates waited for and timed on its own (it runs
once, then folds only new rows; delete `console.db` to time it again). Then each page is
requested once (its first view), then `--repeat` times; the table gives the first view, the
median and worst later view, and the CPU time of the process per later view (what the page
costs when the machine's cores are shared).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_ui.py --runs 1000 --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

LABELS = ["billing", "cards", "loans", "fraud", "other"]
MODELS = ["models:/intents@champion", "models:/intents/3", "models:/sentiment@champion"]


def write_run(root: Path, index: int, started: float, reference: bool) -> str:
    from llmline.lineage import sha256_bytes, write_json_atomic

    recipe = ("intents", "sentiment", "resume-ner")[index % 3]
    task = "ner" if recipe == "resume-ner" else "classification"
    run_id = f"{recipe}-{sha256_bytes(str(index).encode())[:10]}"
    run = root / "runs" / run_id
    status = "failed" if index % 10 == 3 else "running" if index % 10 == 7 else "succeeded"
    stages: dict[str, Any] = {}
    for order, name in enumerate(("data", "train", "evaluate", "card", "register")):
        outputs = {
            f"{name}_out": {"path": f"{name}/x", "sha256": sha256_bytes(f"{index}{name}".encode())}
        }
        stages[name] = {
            "key": "k",
            "status": "finished",
            "seconds": 3.0 + order,
            "outputs": outputs,
            "result": {},
        }
    stages["evaluate"]["result"] = {
        "primary": "accuracy",
        "metrics": {"accuracy": 0.8 + index % 17 / 100},
    }
    stages["register"]["result"] = {"name": recipe, "version": str(1 + index % 5), "alias": None}
    stages["data"]["result"] = {"labels": LABELS}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(started))
    write_json_atomic(
        run / "manifest.json",
        {
            "run_id": run_id,
            "status": status,
            "seed": 1,
            "started_at": stamp,
            "finished_at": stamp,
            "spec_sha256": "0" * 64,
            "stages": stages,
        },
    )
    (run / "spec.yaml").write_text(
        f"name: {recipe}\ntask: {task}\ndata:\n  source: {{path: /nonexistent/{recipe}.csv}}\n",
        encoding="utf-8",
    )
    rng = random.Random(index)
    matrix = [[rng.randint(0, 40) + (200 if i == j else 0) for j in range(5)] for i in range(5)]
    write_json_atomic(
        run / "eval" / "report.json",
        {
            "primary": "accuracy",
            "metrics": {"accuracy": 0.9},
            "passed": True,
            "labels": LABELS,
            "confusion_matrix": matrix,
            "gates": [
                {
                    "gate": "min_accuracy",
                    "metric": "accuracy",
                    "kind": "min",
                    "actual": 0.9,
                    "threshold": 0.8,
                    "passed": True,
                }
            ],
            "per_class": {
                lb: {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 100} for lb in LABELS
            },
        },
    )
    (run / "eval" / "report.md").write_text("# Evaluation\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    (run / "data").mkdir(exist_ok=True)
    (run / "data" / "data_report.md").write_text("# Data\n\n- rows: 1000\n- contact: a@b.com\n")
    write_json_atomic(run / "data" / "data_report.json", {"rows_in": 1000, "rows_out": 950})
    write_json_atomic(
        run / "train" / "loss_curve.json",
        {"train": [{"step": s, "loss": 2 / (1 + s / 50)} for s in range(0, 2000, 20)]},
    )
    (run / "card.md").write_text("---\nlicense: mit\n---\n# Card\n\nIntended use: tests.\n")
    if reference:
        write_json_atomic(
            run / "monitor" / "reference.json",
            {
                "labels": LABELS,
                "label_counts": dict.fromkeys(LABELS, 200),
                "confidence": [rng.uniform(0.5, 1) for _ in range(1000)],
                "length": [rng.randint(10, 200) for _ in range(1000)],
            },
        )
    return run_id


def write_audit(path: Path, runs: list[str]) -> None:
    from llmline.lineage import GENESIS, audit_head_path, sha256_bytes

    prev, count, lines = GENESIS, 0, []
    for run_id in runs:
        for stage in ("data", "train", "evaluate", "card", "register", "alias"):
            line = json.dumps(
                {
                    "event": "stage_finished",
                    "run_id": run_id,
                    "stage": stage,
                    "prev": prev,
                    "ts": "2026-11-30T10:00:00+0000",
                },
                sort_keys=True,
            )
            lines.append(line)
            prev, count = sha256_bytes(line.encode()), count + 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    audit_head_path(path).write_text(json.dumps({"entries": count, "sha256": prev}))


def write_registry(workspace: Any, runs: list[str]) -> None:
    from llmline.registry.store import client

    mlflow = client(workspace)
    source = workspace.root / "model-dir"
    source.mkdir(exist_ok=True)
    for name in ("intents", "sentiment", "resume-ner"):
        mlflow.create_registered_model(name)
        for version in range(5):
            run_id = runs[version * 3]
            tags = {
                "llmline.run_id": run_id,
                "llmline.run_dir": str(workspace.runs / run_id),
                "llmline.task": "classification",
                "llmline.gates": "passed",
            }
            mlflow.create_model_version(name, str(source), tags=tags)
        mlflow.set_registered_model_alias(name, "champion", "3")


def write_requests(db: Path, rows: int, reference_run: Path) -> None:
    from llmline.monitor.store import MonitorStore

    MonitorStore(f"sqlite:///{db}").dispose()  # the table and its index, as the service makes them
    rng = random.Random(0)
    now = time.time()
    refs = [*MODELS, str(reference_run)]
    con = sqlite3.connect(db)
    batch = []
    for i in range(rows):
        ts = now - 30 * 86400 * (1 - i / rows)
        drifting = ts > now - 7 * 86400
        weights = [5, 1, 1, 1, 1] if drifting else [1, 1, 1, 1, 1]
        status = 500 if rng.random() < 0.004 else 200
        batch.append(
            (
                ts,
                refs[i % len(refs)],
                "3",
                "/v1/classify",
                status,
                rng.lognormvariate(2.5, 0.6),
                rng.choices(LABELS, weights)[0] if status == 200 else None,
                rng.uniform(0.4, 1.0),
                rng.randint(5, 300),
                "0" * 64,
                f"request {i} from <EMAIL>",
            )
        )
        if len(batch) == 50_000:
            _insert(con, batch)
            batch = []
    _insert(con, batch)
    con.close()


def _insert(con: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> None:
    con.executemany(
        "INSERT INTO requests (ts, model_ref, model_version, route, status, latency_ms, label, "
        "confidence, input_chars, input_sha256, text_redacted) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        batch,
    )
    con.commit()


def write_watch(db: Path) -> None:
    from llmline.watch.store import WatchStore

    store = WatchStore(f"sqlite:///{db}")
    now, rng = time.time(), random.Random(2)
    series, alerts = [], []
    for e in range(50):
        entity = f"公司{e:02d}" if e % 2 else f"Company {e:02d}"
        for hour in range(30 * 24):
            volume = rng.randint(5, 60)
            negative = rng.randint(0, volume // 3)
            series.append(
                {
                    "entity": entity,
                    "bucket": now - hour * 3600,
                    "volume": volume,
                    "negative": negative,
                    "neutral": (volume - negative) // 2,
                    "positive": volume - negative - (volume - negative) // 2,
                    "score_sum": volume * 0.1,
                }
            )
        for _ in range(4):
            ts = now - rng.uniform(0, 30 * 86400)
            alerts.append(
                {
                    "ts": ts,
                    "created": ts,
                    "entity": entity,
                    "rule": "negative-surge",
                    "metric": "negative_share",
                    "window_start": ts - 3600,
                    "window_end": ts,
                    "value": 0.5,
                    "baseline": 0.15,
                    "p_value": 0.001,
                    "posts": 30,
                    "post_ids": "[]",
                }
            )
    with store.engine.begin() as conn:
        conn.execute(store.t["series"].insert(), series)
        conn.execute(store.t["alerts"].insert(), alerts)
    store.dispose()


def build(root: Path, runs: int, rows: int) -> dict[str, Any]:
    from llmline.workspace import Workspace

    workspace = Workspace.resolve(root)
    started = time.perf_counter()
    now = time.time()
    run_ids = [
        write_run(root, i, now - (runs - i) * 600, reference=i == runs - 1) for i in range(runs)
    ]
    write_audit(workspace.audit_log, run_ids)
    write_registry(workspace, run_ids)
    write_requests(workspace.monitor_db, rows, workspace.runs / run_ids[-1])
    write_watch(workspace.monitor_db)
    return {"run_ids": run_ids, "build_s": round(time.perf_counter() - started, 1)}


def measure(root: Path, run_ids: list[str], repeat: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from llmline.ui.app import UiConfig, create_app
    from llmline.ui.warmup import warm_up

    app = create_app(UiConfig(workspace=root))
    # What `llmline ui` does before it listens (the fold waited for here, not in the background,
    # so that every page below is measured over all the rows).
    warmed = warm_up(app, fold_in_background=False)
    print(warmed.summary())
    client = TestClient(app)
    run = run_ids[-1]
    sha = json.loads((root / "runs" / run / "manifest.json").read_text())["stages"]["data"][
        "outputs"
    ]["data_out"]["sha256"]
    pages = [
        "/runs",
        "/runs?recipe=intents&status=succeeded",
        "/runs?page=15",
        f"/runs/{run}",
        f"/lineage/{sha}",
        "/registry",
        "/registry/intents/3",
        "/audit",
        "/audit?page=50",
        "/monitoring",
        f"/monitoring/model?ref={MODELS[0]}&days=7",
        f"/monitoring/model?ref={MODELS[0]}&days=30",
        f"/monitoring/model?ref={root / 'runs' / run}&days=30",
        "/finance",
        "/finance?entity=公司01&days=30",
        "/labeling",
        f"/labeling/{run}",
        "/playground",
        "/chat",
        "/assistant",
    ]
    results = []
    for page in pages:
        t0 = time.perf_counter()
        response = client.get(page)
        cold = time.perf_counter() - t0
        assert response.status_code == 200, (page, response.status_code, response.text[:300])
        warm, cpu = [], time.process_time()
        for _ in range(repeat):
            t0 = time.perf_counter()
            client.get(page)
            warm.append(time.perf_counter() - t0)
        cpu_ms = (time.process_time() - cpu) / repeat * 1000
        results.append(
            {
                "page": page,
                "cold_ms": round(cold * 1000, 1),
                "cpu_ms": round(cpu_ms, 1),
                "median_ms": round(statistics.median(warm) * 1000, 1),
                "max_ms": round(max(warm) * 1000, 1),
                "bytes": len(response.content),
            }
        )
    return {"warm_up_s": {k: round(v, 2) for k, v in warmed.seconds.items()}, "pages": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="build it here and keep it (default: a temp dir); one built before is measured again",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = (args.workspace or Path(tmp) / "ws").resolve()
        if (root / "runs").is_dir():  # measure again a workspace built before, as it is
            names = sorted(p.name for p in (root / "runs").iterdir())
            last = [n for n in names if (root / "runs" / n / "monitor").is_dir()]
            made = {"run_ids": [n for n in names if n not in last] + last, "build_s": 0}
        else:
            made = build(root, args.runs, args.rows)
        print(
            f"workspace: {args.runs} runs, {args.rows} request rows, built in {made['build_s']} s"
        )
        result = measure(root, made["run_ids"], args.repeat)
    print(f"start-up warm-up (s): {result['warm_up_s']}\n")
    print(
        "| page | cold ms | warm median ms | warm max ms | CPU ms (warm mean) |\n"
        "|---|---|---|---|---|"
    )
    for row in result["pages"]:
        print(
            f"| `{row['page']}` | {row['cold_ms']} | {row['median_ms']} | {row['max_ms']} | "
            f"{row['cpu_ms']} |"
        )
    if args.json:
        args.json.write_text(json.dumps({**result, **vars(args)}, default=str, indent=2))


if __name__ == "__main__":
    main()
