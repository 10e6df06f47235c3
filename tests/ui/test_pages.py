"""Every console page over a real tiny workspace, and every kind of bad input: 4xx, never 500."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.ui.conftest import PII_TEXT, csrf_of


def _runs(console_ws: Path) -> list[str]:
    return sorted(p.name for p in (console_ws / "runs").iterdir())


def _version(client: TestClient, number: str) -> str:
    return client.get(f"/registry/reviews/{number}").text


def test_every_page_renders(client: TestClient, console_ws: Path) -> None:
    run_id = _runs(console_ws)[0]
    pages = [
        "/runs",
        f"/runs/{run_id}",
        "/registry",
        "/registry/reviews/1",
        "/audit",
        "/monitoring",
        "/monitoring/model?ref=models:/reviews@champion",
        "/finance",
        "/labeling",
        f"/labeling/{run_id}",
        "/playground",
        "/chat",
        "/assistant",
        "/runs?recipe=reviews&task=classification&status=succeeded&since=2000-01-01",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, (page, response.text[:500])
        assert "<nav>" in response.text


def test_runs_list_filters_and_paginates(client: TestClient, console_ws: Path) -> None:
    page = client.get("/runs").text
    assert all(run_id in page for run_id in _runs(console_ws))
    assert "no runs match" in client.get("/runs?recipe=nothing-like-this").text
    assert "no runs match" in client.get("/runs?since=2999-01-01").text
    assert client.get("/runs?page=999").status_code == 200  # clamps to the last page
    assert client.get("/runs?page=abc").status_code == 400


def test_run_page_lineage_reports_and_links(client: TestClient, console_ws: Path) -> None:
    run_id = next(r for r in _runs(console_ws) if "@champion" in client.get(f"/runs/{r}").text)
    page = client.get(f"/runs/{run_id}").text
    assert (
        "these bytes hash to this run&#39;s id" in page
        or "these bytes hash to this run's id" in page
    )
    assert "Confusion matrix" in page and "<svg" in page
    assert 'id="registered-link" href="/registry/reviews/1"' in page
    shas = re.findall(r'href="/lineage/([0-9a-f]{64})"', page)
    assert shas
    shared = client.get(f"/lineage/{shas[0]}").text
    assert run_id in shared  # the data snapshot leads back to the runs that hold it


def test_pii_is_redacted_everywhere(client: TestClient, console_ws: Path) -> None:
    for run_id in _runs(console_ws):
        page = client.get(f"/runs/{run_id}").text
        assert "zhang.wei@example.com" not in page and "13812345678" not in page
    page = client.get("/monitoring/model?ref=models:/reviews@champion").text
    assert "&lt;EMAIL&gt;" in page


def test_monitoring_model_page_shows_drift_and_alerts(client: TestClient) -> None:
    page = client.get("/monitoring/model?ref=models:/reviews@champion&days=1").text
    assert "label-shift" in page  # the alert log
    assert 'id="drift"' in page  # the run has a reference: drift rows are there
    assert client.get("/monitoring/model?ref=models:/nothing@x").status_code == 404


def test_finance_page_reads_the_watch_tables(client: TestClient) -> None:
    page = client.get("/finance").text
    assert "贵州茅台" in page and "negative-surge" in page and "<svg" in page
    assert client.get("/finance?entity=不存在").status_code == 404


def _promote(client: TestClient, version: str, **fields: str) -> Any:
    page = _version(client, version)
    expected = re.search(r'name="expected" value="(\d*)"', page)
    form = {
        "csrf": csrf_of(page),
        "alias": "champion",
        "expected": expected.group(1) if expected else "",
    }
    return client.post(
        f"/registry/reviews/{version}/promote", data=form | fields, follow_redirects=False
    )


def test_promote_with_failed_gate_needs_a_reason_that_is_audited(
    client: TestClient, console_ws: Path
) -> None:
    refused = _promote(client, "2")
    assert refused.status_code == 409 and "type the reason" in refused.text
    done = _promote(client, "2", reason="测试: accepted by the product owner")
    assert done.status_code == 303
    audit = client.get("/audit").text
    assert "gate_override" in audit and "accepted by the product owner" in audit
    assert "chain verified" in audit
    entries = [json.loads(line) for line in (console_ws / "audit.jsonl").read_text().splitlines()]
    override = next(e for e in entries if e["event"] == "gate_override")
    assert (
        override["override"] == "测试: accepted by the product owner" and override["version"] == "2"
    )
    assert "@champion" in _version(client, "2")


def test_stale_promote_form_is_refused(client: TestClient) -> None:
    page = _version(client, "1")
    form = {"csrf": csrf_of(page), "alias": "champion", "expected": "", "reason": "x"}
    stale = client.post("/registry/reviews/1/promote", data=form)
    assert stale.status_code == 409 and "stale form" in stale.text


def test_rollback_without_previous_is_a_clear_4xx(client: TestClient) -> None:
    page = _version(client, "1")
    response = client.post(
        "/registry/reviews/rollback",
        data={"csrf": csrf_of(page), "alias": "champion", "expected": "1"},
    )
    assert 400 <= response.status_code < 500 and "previous-champion" in response.text


def test_every_post_without_csrf_is_refused(client: TestClient, console_ws: Path) -> None:
    from starlette.routing import Route

    client.get("/runs")  # a session cookie, but no token in the forms below
    run_id = _runs(console_ws)[0]
    from llmline.ui import labeling, monitoring, playground, registry, runs

    routes = [*client.app.routes]
    for module in (runs, registry, monitoring, labeling, playground):
        routes += module.router.routes
    posts = [r.path for r in routes if isinstance(r, Route) and "POST" in (r.methods or ())]
    assert len(posts) >= 9
    for path in posts:
        url = (
            path.replace("{run_id}", run_id)
            .replace("{batch}", "b")
            .replace("{item:int}", "0")
            .replace("{name}", "reviews")
            .replace("{version}", "1")
        )
        response = client.post(url, data={"reason": "forged", "label": "pos"})
        assert response.status_code == 403, (url, response.status_code)
        forged = client.post(url, data={"csrf": "0" * 64, "label": "pos"})
        assert forged.status_code == 403, url


def test_a_token_of_another_session_is_stale(client: TestClient, console_ws: Path) -> None:
    token = csrf_of(_version(client, "1"))
    client.cookies.clear()
    response = client.post("/registry/reviews/1/promote", data={"csrf": token, "expected": "1"})
    assert response.status_code == 403 and "stale" in response.text


@pytest.mark.parametrize(
    "url",
    [
        "/runs/does-not-exist",
        "/runs/..%2F..%2Fetc",
        "/registry/reviews/99",
        "/registry/x/abc",
        "/lineage/nothex",
        "/labeling/does-not-exist",
        "/no/such/page",
        "/monitoring/model",
        "/labeling/does-not-exist/b/0",
    ],
)
def test_bad_urls_are_clear_4xx_pages(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert 400 <= response.status_code < 500, response.status_code
    assert 'class="error"' in response.text


def test_missing_workspace_is_a_clear_error(tmp_path: Path) -> None:
    from llmline.cli import main
    from llmline.ui.app import NotFound, UiConfig, create_app

    with pytest.raises(NotFound, match="does not exist"):
        create_app(UiConfig(workspace=tmp_path / "nope"))
    assert main(["ui", "--workspace", str(tmp_path / "nope")]) == 2
    assert not (tmp_path / "nope").exists()


def test_workspace_removed_while_running(console_ws: Path) -> None:
    import shutil

    from llmline.ui.app import UiConfig, create_app

    client = TestClient(create_app(UiConfig(workspace=console_ws)))
    shutil.rmtree(console_ws)
    assert client.get("/runs").status_code == 200  # an empty list, not a crash
    assert client.get("/runs/anything").status_code == 404


def test_assistant_without_service_says_how_to_configure(client: TestClient) -> None:
    page = client.get("/assistant").text
    response = client.post("/assistant", data={"csrf": csrf_of(page), "message": "hi"})
    assert response.status_code == 400 and "--service" in response.text


def test_playground_rejects_models_outside_the_workspace(client: TestClient) -> None:
    page = client.get("/playground").text
    form = {"csrf": csrf_of(page), "model": "/etc", "action": "classify", "text": "hello"}
    response = client.post("/playground", data=form)
    assert response.status_code == 400 and "not a model of this workspace" in response.text


def test_playground_classifies_and_explains_redacted_text(client: TestClient) -> None:
    page = client.get("/playground").text
    model = re.search(r'<option value="(models:/reviews/1)"', page)
    assert model
    for action in ("classify", "explain"):
        form = {"csrf": csrf_of(page), "model": model.group(1), "action": action, "text": PII_TEXT}
        response = client.post("/playground", data=form)
        assert response.status_code == 200, response.text[:400]
        assert 'id="result"' in response.text and "13812345678" not in response.text
    assert "rgba(" in response.text  # attributions are coloured
