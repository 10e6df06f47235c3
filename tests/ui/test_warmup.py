"""`llmline ui` warms the console before it listens: no first page view pays for MLflow's
import, the run index or the first fold, and monitoring pages say when a fold is under way."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from llmline.ui.app import UiConfig, create_app
from llmline.ui.warmup import warm_up


def test_warm_up_fills_the_caches_and_folds_in_the_background(console_ws: Path) -> None:
    app = create_app(UiConfig(workspace=console_ws))
    warmed = warm_up(app)
    assert {"runs", "registry", "statistics"} <= set(warmed.seconds)
    assert warmed.fold is not None
    warmed.fold.join(timeout=60)
    cache = app.state.cache
    assert cache["runs"].all() and cache["versions"][1]  # runs summarised, versions listed
    assert cache["rollup"].models()  # the request rows are folded
    assert "warmed in" in warmed.summary()


def test_monitoring_pages_say_the_figures_are_partial_while_folding(console_ws: Path) -> None:
    app = create_app(UiConfig(workspace=console_ws))
    warm_up(app, fold_in_background=False)
    client = TestClient(app)
    folded = app.state.cache["rollup"]
    assert 'id="folding"' not in client.get("/monitoring").text
    with folded._lock:
        page = client.get("/monitoring")
    assert page.status_code == 200 and 'id="folding"' in page.text


def test_warm_up_writes_no_registry_into_a_workspace_without_one(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    app = create_app(UiConfig(workspace=tmp_path))
    warm_up(app, fold_in_background=False)
    assert not (tmp_path / "mlflow.db").exists() and "versions" not in app.state.cache
