"""Autoscaling trace of `serve --engine ray`: replicas added under a load step, removed after.

Deploys the service on a local Ray Serve (min 1, max 4 replicas of 0.5 CPU, target 2 in-flight
requests per replica), then: 10 s idle, --clients concurrent clients for --load-s seconds (each
sends one request after another, real Banking77 questions), then idle until the replicas are
back to the minimum or --idle-s runs out. Every 2 s it samples Serve's replica states
(`serve.status()`) and the requests answered, and prints the trace and the failures.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_autoscale.py --model packaged:minilm
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

from results_md import write_section

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "banking77" / "train.csv"


def questions(limit: int = 500) -> list[str]:
    with DATA.open(encoding="utf-8") as handle:
        return [row["text"] for _, row in zip(range(limit), csv.DictReader(handle), strict=False)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def client(url: str, body: Any, texts: list[str], stop: float, tally: dict[str, Any]) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=120) as http:
        i = 0
        while time.time() < stop:
            try:
                reply = await http.post(url, json=body(texts[i % len(texts)]))
                key = "ok" if reply.status_code == 200 else f"http_{reply.status_code}"
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            tally[key] = tally.get(key, 0) + 1
            i += 7


async def sample(started: float, until: Any, trace: list[dict[str, Any]], tally: dict) -> None:
    from llmline.serve.ray_engine import replica_counts

    while not until():
        counts = await asyncio.to_thread(replica_counts)
        trace.append(
            {"t_s": round(time.time() - started), **counts, "answered": tally.get("ok", 0)}
        )
        print(trace[-1], flush=True)
        await asyncio.sleep(2)


async def load_step(args: argparse.Namespace, url: str, body: Any) -> dict[str, Any]:
    from llmline.serve.ray_engine import replica_counts

    texts, tally, trace = questions(), {}, []  # type: ignore[var-annotated]
    started = time.time()
    done = {"flag": False}
    sampler = asyncio.create_task(sample(started, lambda: done["flag"], trace, tally))
    await asyncio.sleep(10)
    load_start = time.time() - started
    stop = time.time() + args.load_s
    await asyncio.gather(*(client(url, body, texts, stop, tally) for _ in range(args.clients)))
    load_end = time.time() - started
    deadline = time.time() + args.idle_s
    while time.time() < deadline:
        await asyncio.sleep(2)
        counts = replica_counts()
        settled = not counts.get("STARTING") and not counts.get("STOPPING")
        if settled and counts.get("RUNNING", 0) <= args.min_replicas and time.time() - stop > 10:
            await asyncio.sleep(4)
            break
    done["flag"] = True
    await sampler
    return {
        "trace": trace,
        "requests": tally,
        "load_window_s": [round(load_start), round(load_end)],
    }


def plot_trace(result: dict[str, Any], path: Path) -> None:
    """Replicas (running, starting) and the answer rate over time, the load step shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trace = result["trace"]
    times = [r["t_s"] for r in trace]
    rates = [0.0] + [
        (b["answered"] - a["answered"]) / max(b["t_s"] - a["t_s"], 1e-9)
        for a, b in itertools.pairwise(trace)
    ]
    fig, replicas = plt.subplots(figsize=(8, 3.2))
    replicas.axvspan(*result["load_window_s"], color="#f3e3c3", label="load step")
    for state, colour in (("RUNNING", "#1f6f3f"), ("STARTING", "#d08000")):
        replicas.step(times, [r.get(state, 0) for r in trace], where="post", color=colour,
                      label=f"replicas {state.lower()}")  # fmt: skip
    replicas.set_xlabel("seconds")
    replicas.set_ylabel("replicas")
    replicas.set_ylim(0, result["settings"]["max_replicas"] + 0.5)
    answered = replicas.twinx()
    answered.plot(times, rates, color="#2a5caa", linewidth=1, label="answers / s")
    answered.set_ylabel("answers / s")
    handles = replicas.get_legend_handles_labels()[0] + answered.get_legend_handles_labels()[0]
    replicas.legend(handles=handles, loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(result: dict[str, Any], command: str) -> None:
    """The trace as a table in RESULTS.md, between this benchmark's markers."""
    results = Path(__file__).resolve().parent / "RESULTS.md"
    start, end = "<!-- bench_autoscale:start -->", "<!-- bench_autoscale:end -->"
    lo, hi = result["load_window_s"]
    rows = [f"| {r['t_s']} | {'load' if lo <= r['t_s'] <= hi else 'idle'} | "
            f"{r.get('RUNNING', 0)} | {r.get('STARTING', 0)} | {r.get('STOPPING', 0)} | "
            f"{r['answered']} |" for r in result["trace"]]  # fmt: skip
    failed = sum(v for k, v in result["requests"].items() if k != "ok")
    section = "\n".join([
        start, "### Elastic serving: autoscaling trace on Ray Serve (bench_autoscale.py)", "",
        f"Machine: the 2-core CPU, shared; {result['date']} UTC. Command: `{command}`. Model "
        f"`{result['model']}` on `{result['route']}`, {result['clients']} clients during "
        f"{lo}-{hi} s; settings {json.dumps(result['settings'])}. Requests: "
        f"{result['requests']} ({failed} failed).", "",
        "| t (s) | phase | RUNNING | STARTING | STOPPING | answered so far |",
        "|---|---|---|---|---|---|", *rows, "", end,
    ])  # fmt: skip
    write_section(results, section, start, end, before="### Drift scenario")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="packaged:minilm")
    parser.add_argument("--route", default="/v1/embeddings")
    parser.add_argument("--workspace", default="/tmp/bench-autoscale")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--load-s", type=float, default=60)
    parser.add_argument("--idle-s", type=float, default=120)
    parser.add_argument("--min-replicas", type=int, default=1)
    parser.add_argument("--max-replicas", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/autoscale.json"))
    args = parser.parse_args()

    from ray import serve

    from llmline.serve.ray_engine import deploy
    from llmline.serve.runner import ServeOptions

    settings = {"engine": "ray", "min_replicas": args.min_replicas, "monitor": False,
                "max_replicas": args.max_replicas, "target_ongoing_requests": 2,
                "replica_cpus": 0.5, "downscale_delay_s": 20, "reload_interval_s": 0}  # fmt: skip
    from llmline.models.resolve import resolve_model
    from llmline.workspace import Workspace

    resolve_model(args.model, Workspace.resolve(Path(args.workspace)))  # convert once, here
    port = free_port()
    t0 = time.time()
    deploy(ServeOptions(args.model, args.workspace, settings), host="127.0.0.1", port=port)
    print(f"deployed in {time.time() - t0:.0f} s", flush=True)
    field = "input" if "embeddings" in args.route else "texts"
    body = (lambda t: {field: [t]}) if field == "texts" else (lambda t: {field: t})
    try:
        result = asyncio.run(load_step(args, f"http://127.0.0.1:{port}{args.route}", body))
    finally:
        serve.shutdown()
    result |= {"model": args.model, "route": args.route, "clients": args.clients,
               "settings": settings, "date": time.strftime("%Y-%m-%d %H:%M")}  # fmt: skip
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    write_results(result, " ".join(sys.argv))
    plot_trace(result, Path(__file__).resolve().parent / "autoscale.png")
    peak = max(r.get("RUNNING", 0) for r in result["trace"])
    print(f"requests: {result['requests']}; peak RUNNING replicas {peak}; "
          f"last {result['trace'][-1]}")  # fmt: skip


if __name__ == "__main__":
    main()
