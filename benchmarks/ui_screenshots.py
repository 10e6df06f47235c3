"""Screenshots of the console's pages in headless Chromium, for the README (`docs/console/`).

It serves the console over a copy of a workspace (files hard-linked, the SQLite stores copied,
so the original is never written), adds synthetic served traffic for one registered model and
finance-monitor series when the workspace has none (labelled as such on the page's model name),
builds an active-learning batch, and saves one PNG per page.

    PYTHONPATH=src .venv/bin/python benchmarks/ui_screenshots.py --workspace /work/runs/zh
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COPIED = {
    "mlflow.db",
    "monitor.db",
    "console.db",
    "audit.jsonl",
    "audit.jsonl.head",
    "alerts.jsonl",
}


def copy_workspace(source: Path, target: Path) -> None:
    def link_or_copy(src: str, dst: str) -> None:
        if Path(src).name in COPIED:
            shutil.copy2(src, dst)
        else:
            os.link(src, dst)

    ignore = shutil.ignore_patterns("checkpoints", "cache", "labeling")
    shutil.copytree(source, target, copy_function=link_or_copy, ignore=ignore)


def add_traffic(workspace: Path, model_ref: str, labels: list[str], rows: int = 30_000) -> None:
    import random
    import sqlite3

    from llmline.monitor.store import MonitorStore

    MonitorStore(f"sqlite:///{workspace / 'monitor.db'}").dispose()
    rng, now = random.Random(0), time.time()
    con = sqlite3.connect(workspace / "monitor.db")
    batch = []
    for i in range(rows):
        ts = now - 14 * 86400 * (1 - i / rows)
        late = ts > now - 3 * 86400  # the last three days lean to the first label
        label = labels[0] if late and rng.random() < 0.6 else rng.choice(labels)
        batch.append(
            (
                ts,
                model_ref,
                "synthetic",
                "/v1/classify",
                500 if rng.random() < 0.003 else 200,
                rng.lognormvariate(2.8, 0.5),
                label,
                rng.uniform(0.55, 1.0),
                rng.randint(8, 300),
                "0" * 64,
                "synthetic request <PHONE>",
            )
        )
    con.executemany(
        "INSERT INTO requests (ts, model_ref, model_version, route, status, latency_ms, "
        "label, confidence, input_chars, input_sha256, text_redacted) VALUES "
        "(?,?,?,?,?,?,?,?,?,?,?)",
        batch,
    )
    con.commit()
    con.close()


def shoot(url: str, out: Path, pages: dict[str, str], browser: Any) -> list[str]:
    written = []
    for name, path in pages.items():
        browser.get(url + path)
        height = browser.execute_script("return document.body.scrollHeight")
        browser.set_window_size(1280, min(max(int(height), 700), 2400))
        target = out / f"{name}.png"
        browser.save_screenshot(str(target))
        written.append(target.name)
        print(f"{target}  <- {path}")
    return written


def main() -> None:
    from tests.ui.conftest import served
    from tests.ui.test_browser import start_browser

    from llmline.ui.app import UiConfig, create_app
    from llmline.ui.runindex import RunIndex
    from llmline.workspace import Workspace

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/console"))
    parser.add_argument("--service", default=None, help="a service for the assistant page")
    parser.add_argument("--only", default="", help="comma-separated shots (e.g. labeling,explain)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        copy_workspace(args.workspace.resolve(), root)
        runs = RunIndex(Workspace(root)).all()
        classified = next(r for r in runs if r.task == "classification" and r.registered)
        ner = next((r for r in runs if r.task == "ner" and r.registered), classified)
        name, version = classified.registered or ("model", "1")
        labels = _labels(root / "runs" / classified.run_id)
        if not (root / "monitor.db").exists():
            add_traffic(root, f"models:/{name}@champion", labels)
            from bench_ui import write_watch

            write_watch(root / "monitor.db")
        app = create_app(UiConfig(workspace=root, service_url=args.service))
        with served(app) as url:
            browser = start_browser()
            # a model's first load or a batch's scoring can take minutes on shared cores
            browser.command_executor._client_config.timeout = 900
            try:
                pages = {
                    "runs": "/runs",
                    "run": f"/runs/{classified.run_id}",
                    "run-ner": f"/runs/{ner.run_id}#evaluation",
                    "registry": "/registry",
                    "version": f"/registry/{name}/{version}",
                    "audit": "/audit",
                    "monitoring": "/monitoring",
                    "model": f"/monitoring/model?ref=models:/{name}@champion&days=30",
                    "finance": "/finance",
                    "playground": "/playground",
                }
                only = {s for s in args.only.split(",") if s}
                written = shoot(
                    url,
                    args.out,
                    {k: v for k, v in pages.items() if not only or k in only},
                    browser,
                )
                if not only or "labeling" in only:
                    written += _label_page(browser, url, classified.run_id, args.out)
                if not only or "explain" in only:
                    written += _explain_page(browser, url, args.out)
            finally:
                browser.quit()
    print("\n".join(f"![{n}](docs/console/{n})" for n in written))


def _labels(run_dir: Path) -> list[str]:
    from llmline.ui.runindex import read_json

    stages = read_json(run_dir / "manifest.json").get("stages") or {}
    return list(((stages.get("data") or {}).get("result") or {}).get("labels") or ["a", "b"])


def _label_page(browser: Any, url: str, run_id: str, out: Path) -> list[str]:
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 900)
    browser.get(f"{url}/labeling/{run_id}")
    browser.find_element(By.NAME, "size").clear()
    browser.find_element(By.NAME, "size").send_keys("10")
    browser.find_element(By.NAME, "limit").clear()
    browser.find_element(By.NAME, "limit").send_keys("60")
    browser.find_element(By.ID, "build-batch").click()
    browser.find_element(By.ID, "item-text")
    browser.save_screenshot(str(out / "labeling.png"))
    return ["labeling.png"]


def _explain_page(browser: Any, url: str, out: Path) -> list[str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.set_window_size(1280, 900)
    browser.get(f"{url}/playground")
    options = [
        o.get_attribute("value")
        for o in browser.find_elements(By.CSS_SELECTOR, "select[name=model] option")
    ]
    pick = next((o for o in options if re.search(r"models:/chnsenticorp/", o)), options[0])
    Select(browser.find_element(By.NAME, "model")).select_by_value(pick)
    Select(browser.find_element(By.NAME, "action")).select_by_visible_text("explain")
    browser.find_element(By.NAME, "text").send_keys(
        "房间很干净，服务也很好，就是早餐太贵了，电话 13812345678"
    )
    browser.find_element(By.CSS_SELECTOR, "#play-form button").click()
    # The first explanation loads the model: wait for the result instead of expecting it at once.
    WebDriverWait(browser, 300).until(
        expected_conditions.presence_of_element_located((By.ID, "result"))
    )
    browser.save_screenshot(str(out / "explain.png"))
    return ["explain.png"]


if __name__ == "__main__":
    main()
