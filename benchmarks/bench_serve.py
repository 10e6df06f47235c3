"""Serving under load: llmline vs a naive FastAPI endpoint calling HF `pipeline` per request.

Both serve the same Banking77 model on loopback. The naive endpoint runs the encoder through
`transformers.pipeline("feature-extraction")` once per request and applies the model's own
mean pooling and head, which is the usual hand-written service. A bounded asyncio load
generator sends one Banking77 validation text per request from 1, 8 and 64 concurrent clients.
Then two faults: a worker of a 2-worker service is killed under load, and the monitoring
database is overwritten with garbage under load.

    .venv/bin/python benchmarks/bench_serve.py --model /tmp/bench-ws/runs/<run>/model
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]


class Body(BaseModel):
    """The naive endpoint's request (module level, so FastAPI resolves the annotation)."""

    texts: list[str]


LLMLINE = str(ROOT / ".venv" / "bin" / "llmline")
WARM_UP_S = 10.0


def naive_app(model_dir: str) -> Any:
    """The baseline: one HF pipeline call per request, no batching, no queue."""
    import numpy as np
    from fastapi import FastAPI
    from safetensors.numpy import load_file
    from transformers import pipeline

    meta = json.loads((Path(model_dir) / "llmline_model.json").read_text())
    head = load_file(str(Path(model_dir) / "head.safetensors"))
    extractor = pipeline("feature-extraction", model=model_dir, tokenizer=model_dir)
    app = FastAPI()

    @app.post("/v1/classify")
    def classify(body: Body) -> dict[str, Any]:
        results = []
        for text in body.texts:
            tokens = np.asarray(extractor(text, truncation=True, max_length=meta["max_length"]))[0]
            pooled = tokens.mean(0)
            pooled = pooled / np.linalg.norm(pooled)
            logits = head["weight"] @ pooled + head["bias"]
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            best = int(probs.argmax())
            results.append({"label": meta["labels"][best], "score": float(probs[best])})
        return {"results": results}

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, timeout: float = 900) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/docs", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"server on port {port} did not start")


async def post_json(
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter], port: int, body: bytes
) -> tuple[int, bool]:
    """One POST /v1/classify on a keep-alive connection: the status, and whether it stays open."""
    reader, writer = streams
    writer.write(
        f"POST /v1/classify HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(":", 1) for line in head[1:] if ":" in line)
    if "content-length" not in headers:
        raise ValueError("response without content-length")
    await reader.readexactly(int(headers["content-length"]))
    return int(head[0].split()[1]), headers.get("connection", "").strip() != "close"


async def load(port: int, texts: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """`clients` keep-alive connections, each posting one text at a time until the time is up.

    A bare HTTP/1.1 client on asyncio streams rather than httpx: httpx's connection pool costs
    about a millisecond of CPU per request and collapses with dozens of concurrent connections
    (a constant-answer ASGI app reached 70-100 requests/s at 64 clients through one shared
    AsyncClient, 3,000-4,000 through this client), so on two cores it measured itself.
    """
    latencies: list[float] = []
    codes: dict[str, int] = {}
    stop = time.perf_counter() + seconds

    async def one_client(offset: int) -> None:
        i = offset
        streams = None
        while time.perf_counter() < stop:
            body = json.dumps({"texts": [texts[i % len(texts)]]}).encode()
            started = time.perf_counter()
            try:
                if streams is None:
                    streams = await asyncio.open_connection("127.0.0.1", port)
                status, keep = await asyncio.wait_for(post_json(streams, port, body), 60)
                key = str(status)
                if not keep:
                    streams[1].close()
                    streams = None
            except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as exc:
                key = type(exc).__name__
                if streams is not None:
                    streams[1].close()
                streams = None
            if key == "200":
                latencies.append(time.perf_counter() - started)
            codes[key] = codes.get(key, 0) + 1
            i += clients
        if streams is not None:
            streams[1].close()

    began = time.perf_counter()
    await asyncio.gather(*(one_client(c) for c in range(clients)))
    elapsed = time.perf_counter() - began
    import numpy as np

    ok = len(latencies)
    return {
        "latencies": latencies,
        "elapsed": elapsed,
        "clients": clients,
        "ok_rps": round(ok / elapsed, 1),
        "codes": codes,
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1) if ok else None,
        "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 1) if ok else None,
    }


def start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(60)


def validation_texts(model_dir: Path) -> list[str]:
    import pyarrow.parquet as pq

    snapshot = model_dir.parent / "data" / "validation.parquet"
    return [str(t) for t in pq.read_table(snapshot, columns=["text"]).column("text").to_pylist()]


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool several load slices of one server into one row."""
    import numpy as np

    latencies = [x for r in runs for x in r.pop("latencies")]
    codes: dict[str, int] = {}
    for r in runs:
        for code, n in r["codes"].items():
            codes[code] = codes.get(code, 0) + n
    elapsed = sum(r["elapsed"] for r in runs)
    pct = lambda q: round(float(np.percentile(latencies, q)) * 1000, 1) if latencies else None  # noqa: E731
    return {
        "clients": runs[0]["clients"],
        "ok_rps": round(len(latencies) / elapsed, 1),
        "codes": codes,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
    }


def bench_interleaved(
    ports: dict[str, int], texts: list[str], levels: list[int], seconds: float, rounds: int
) -> dict[str, list[dict[str, Any]]]:
    """Alternate short slices between the servers so other jobs on the CPU hit all alike."""
    for port in ports.values():
        # Steady state: ONNX Runtime's first runs at each new sequence length are slower (its
        # memory arena grows), and the first seconds after start measured 20-30 % fewer rps.
        asyncio.run(load(port, texts, 4, WARM_UP_S))
    table: dict[str, list[dict[str, Any]]] = {name: [] for name in ports}
    for clients in levels:
        slices: dict[str, list[dict[str, Any]]] = {name: [] for name in ports}
        for _ in range(rounds):
            for name, port in ports.items():
                slices[name].append(asyncio.run(load(port, texts, clients, seconds / rounds)))
        for name in ports:
            table[name].append(summarize(slices[name]))
    return table


def llmline_server(model: str, port: int, workspace: Path, *extra: str) -> Any:
    return start([LLMLINE, "serve", "--model", model, "--port", str(port), "--workspace",
                  str(workspace), "--reload-interval-s", "0", *extra],
                 env={"OMP_NUM_THREADS": "2"})  # fmt: skip


def fault_kill_worker(model: str, texts: list[str], workspace: Path) -> dict[str, Any]:
    """Two workers behind one port; SIGKILL one of them in the middle of a 20 s load."""
    import psutil

    port = free_port()
    server = llmline_server(model, port, workspace, "--workers", "2", "--max-queue", "4096")
    try:
        wait_ready(port)
        asyncio.run(load(port, texts, 4, 3))
        children = psutil.Process(server.pid).children(recursive=True)
        workers = [c for c in children if "multiprocessing" in " ".join(c.cmdline())]
        victim = (workers or children)[0]

        async def run() -> dict[str, Any]:
            task = asyncio.create_task(load(port, texts, 16, 20))
            await asyncio.sleep(8)
            victim.kill()
            return await task

        result = summarize([asyncio.run(run())])
        after = summarize([asyncio.run(load(port, texts, 8, 5))])
        return {"during": result, "after_kill": after, "killed_pid": victim.pid}
    finally:
        stop(server)


def fault_corrupt_db(model: str, texts: list[str], workspace: Path) -> dict[str, Any]:
    """Overwrite monitor.db with garbage under load: requests go on, a fresh store starts."""
    port = free_port()
    db = workspace / "monitor.db"
    server = llmline_server(model, port, workspace)
    try:
        wait_ready(port)

        async def run() -> dict[str, Any]:
            task = asyncio.create_task(load(port, texts, 8, 12))
            await asyncio.sleep(4)
            db.write_bytes(b"\x00garbage" * 50_000)
            return await task

        result = summarize([asyncio.run(run())])
        time.sleep(2)
    finally:
        stop(server)
    import sqlite3

    rows = sqlite3.connect(db).execute("select count(*) from requests").fetchone()[0]
    moved = sorted(p.name for p in workspace.glob("monitor.db.corrupt-*"))
    return {"load": result, "moved_aside": moved, "rows_in_fresh_store": rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="model dir of the Banking77 run")
    parser.add_argument("--onnx", default=None, help="optional onnx-int8 variant dir")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-serve"))
    parser.add_argument("--skip-faults", action="store_true", help="only the throughput table")
    parser.add_argument("--naive-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_server:
        import uvicorn

        uvicorn.run(naive_app(args.model), host="127.0.0.1", port=args.port, log_level="warning")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    texts = validation_texts(Path(args.model))
    levels = [1, 8, 64]
    results: dict[str, Any] = {}
    servers = {"naive-hf-pipeline": None, "llmline-torch": args.model}
    if args.onnx:
        servers["llmline-onnx-int8"] = args.onnx
    processes, ports = [], {}
    try:
        for name, model in servers.items():
            ports[name] = free_port()
            if model is None:
                processes.append(start([sys.executable, __file__, "--naive-server", "--model",
                                        args.model, "--port", str(ports[name])],
                                       env={"OMP_NUM_THREADS": "2"}))  # fmt: skip
            else:
                processes.append(llmline_server(model, ports[name], args.out / name))
        for port in ports.values():
            wait_ready(port)
        results |= bench_interleaved(ports, texts, levels, args.seconds, rounds=3)
    finally:
        for process in processes:
            stop(process)
    for name in servers:
        print(name, json.dumps(results[name]), flush=True)
    if args.skip_faults:
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
        return
    results["fault_kill_worker"] = fault_kill_worker(args.model, texts, args.out / "fault1")
    print("fault_kill_worker", json.dumps(results["fault_kill_worker"]), flush=True)
    results["fault_corrupt_db"] = fault_corrupt_db(args.model, texts, args.out / "fault2")
    print("fault_corrupt_db", json.dumps(results["fault_corrupt_db"]), flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
