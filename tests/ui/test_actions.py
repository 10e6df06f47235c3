"""Labeling, the service playgrounds (against a fake service) and logins with scoped keys."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from llmline.ui.app import UiConfig, create_app
from tests.ui.conftest import csrf_of, fake_service, served


def _run_with_model(console_ws: Path) -> str:
    return sorted(p.name for p in (console_ws / "runs").iterdir())[0]


def test_label_a_batch_and_export_a_dataset_the_chain_reads(
    client: TestClient, console_ws: Path
) -> None:
    from llmline.data.sources import read_records
    from llmline.spec import SourceSpec

    run_id = _run_with_model(console_ws)
    page = client.get(f"/labeling/{run_id}").text
    built = client.post(
        f"/labeling/{run_id}/batch", data={"csrf": csrf_of(page), "kind": "active", "size": "4"}
    )
    assert built.status_code == 200 and "pre-label" in built.text
    batch = re.search(rf"/labeling/{run_id}/([\w-]+)/0", str(built.url)).group(1)  # type: ignore[union-attr]
    for item, label in enumerate(["pos", "neg", "pos"]):
        page = client.get(f"/labeling/{run_id}/{batch}/{item}").text
        sha = re.search(r'name="batch_sha256" value="(\w+)"', page).group(1)  # type: ignore[union-attr]
        saved = client.post(
            f"/labeling/{run_id}/{batch}/{item}",
            data={"csrf": csrf_of(page), "batch_sha256": sha, "label": label},
        )
        assert saved.status_code == 200
    assert 'id="done">3<' in saved.text
    bad = client.post(
        f"/labeling/{run_id}/{batch}/0",
        data={"csrf": csrf_of(page), "batch_sha256": sha, "label": "宇宙"},
    )
    assert bad.status_code == 400 and "not one of the run" in bad.text
    stale = client.post(
        f"/labeling/{run_id}/{batch}/0",
        data={"csrf": csrf_of(page), "batch_sha256": "0" * 64, "label": "pos"},
    )
    assert stale.status_code == 403 and "stale form" in stale.text
    exported = client.post(f"/labeling/{run_id}/{batch}/export", data={"csrf": csrf_of(page)})
    assert exported.status_code == 200
    path = Path(re.search(r"written to <code>([^<]+)</code>", exported.text).group(1))  # type: ignore[union-attr]
    records = list(read_records(SourceSpec(path=path, format="jsonl"), key="data.source"))
    assert [r.label for r in records] == ["pos", "neg", "pos"]
    assert client.get(f"/labeling/{run_id}/{batch}/export.jsonl").status_code == 200


def test_labeling_bad_input(client: TestClient, console_ws: Path) -> None:
    run_id = _run_with_model(console_ws)
    page = client.get(f"/labeling/{run_id}").text
    for fields in ({"size": "lots"}, {"size": "0"}, {"pool": "/no/such/file.csv"}):
        response = client.post(
            f"/labeling/{run_id}/batch", data={"csrf": csrf_of(page), "kind": "active", **fields}
        )
        assert response.status_code == 400, fields
    assert client.get(f"/labeling/{run_id}/nobatch/0").status_code == 404
    suspects = client.post(
        f"/labeling/{run_id}/batch", data={"csrf": csrf_of(page), "kind": "suspects"}
    )
    assert suspects.status_code == 400 and "label_issues" in suspects.text


def test_assistant_page_asks_the_configured_service(console_ws: Path) -> None:
    fake = fake_service()
    with served(fake) as url:
        client = TestClient(create_app(UiConfig(workspace=console_ws, service_url=url)))
        page = client.get("/assistant").text
        answer = client.post(
            "/assistant",
            data={
                "csrf": csrf_of(page),
                "conversation_id": "c-1",
                "message": "怎么退款？我的电话 13812345678",
            },
        )
    assert answer.status_code == 200
    assert "faq/refunds.md" in answer.text and "refund" in answer.text
    assert "help@bank.example" not in answer.text  # the answer is redacted too
    assert fake.state.asked[-1]["conversation_id"] == "c-1"
    assert "13812345678" not in fake.state.asked[-1]["message"]


def test_chat_streams_from_the_service(console_ws: Path) -> None:
    with served(fake_service()) as url:
        client = TestClient(create_app(UiConfig(workspace=console_ws, service_url=url)))
        token = csrf_of(client.get("/chat").text)
        reply = client.post(
            "/chat/stream", json={"message": "hi", "history": "[]"}, headers={"X-CSRF-Token": token}
        )
        assert reply.status_code == 200 and reply.text == "你好， I am streaming."
        refused = client.post("/chat/stream", json={"message": "hi"})
        assert refused.status_code == 403


def test_unreachable_service_is_a_clear_error(console_ws: Path) -> None:
    client = TestClient(
        create_app(UiConfig(workspace=console_ws, service_url="http://127.0.0.1:9"))
    )
    page = client.get("/assistant").text
    response = client.post("/assistant", data={"csrf": csrf_of(page), "message": "hi"})
    assert response.status_code == 400 and "cannot reach the assistant" in response.text


def _remote(console_ws: Path) -> TestClient:
    return TestClient(create_app(UiConfig(workspace=console_ws, host="0.0.0.0")))


def _keys(console_ws: Path) -> dict[str, str]:
    from llmline.serve.auth import KeyStore

    store = KeyStore([])
    keys = {
        "reader": store.create("reader", scopes=["console"], rate_per_s=None, burst=1),
        "releaser": store.create(
            "releaser", scopes=["console", "promote"], rate_per_s=None, burst=1
        ),
        "classifier": store.create("classifier", scopes=["classify"], rate_per_s=None, burst=1),
    }
    store.save(console_ws / "api_keys.json")
    return keys


def _login(client: TestClient, key: str) -> int:
    page = client.get("/login").text
    return client.post(
        "/login",
        data={"csrf": csrf_of(page), "key": key, "next": "/registry"},
        follow_redirects=False,
    ).status_code


def test_off_loopback_every_page_needs_a_login(console_ws: Path) -> None:
    _keys(console_ws)
    client = _remote(console_ws)
    response = client.get("/runs", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.post("/registry/reviews/1/promote", data={}).status_code == 403
    assert _login(client, "llk_wrong") == 403
    assert client.get("/runs", follow_redirects=False).status_code == 303


def test_scopes_read_only_and_promote(console_ws: Path) -> None:
    keys = _keys(console_ws)
    reader = _remote(console_ws)
    assert _login(reader, keys["classifier"]) == 403  # a service key without console scope
    assert _login(reader, keys["reader"]) == 303
    assert reader.get("/runs").status_code == 200
    page = reader.get("/registry/reviews/1").text
    denied = reader.post(
        "/registry/reviews/1/promote",
        data={"csrf": csrf_of(page), "alias": "staging", "expected": ""},
    )
    assert denied.status_code == 403 and "promote" in denied.text
    releaser = _remote(console_ws)
    assert _login(releaser, keys["releaser"]) == 303
    page = releaser.get("/registry/reviews/1").text
    moved = releaser.post(
        "/registry/reviews/1/promote",
        data={"csrf": csrf_of(page), "alias": "staging", "expected": ""},
        follow_redirects=False,
    )
    assert moved.status_code == 303


def test_login_redirect_stays_on_the_console(console_ws: Path) -> None:
    keys = _keys(console_ws)
    client = _remote(console_ws)
    page = client.get("/login").text
    response = client.post(
        "/login",
        data={"csrf": csrf_of(page), "key": keys["reader"], "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_cleanlab_suspects_become_a_review_batch(client: TestClient, console_ws: Path) -> None:
    import json

    run_id = _run_with_model(console_ws)
    report_path = console_ws / "runs" / run_id / "data" / "data_report.json"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    report["label_issues"] = [
        {"row": 7, "text": "房间很脏 call 13812345678", "given": "pos", "suggested": "neg",
         "quality": 0.03},
        {"row": 9, "text": "great value", "given": "neg", "suggested": "pos", "quality": 0.08},
    ]  # fmt: skip
    report_path.write_text(json.dumps(report), encoding="utf-8")
    page = client.get(f"/labeling/{run_id}").text
    assert "Label-error suspects" in page and "13812345678" not in page
    built = client.post(
        f"/labeling/{run_id}/batch", data={"csrf": csrf_of(page), "kind": "suspects"}
    )
    assert built.status_code == 200
    assert 'id="prelabel">neg<' in built.text and "given label <b>pos</b>" in built.text
    assert "13812345678" not in built.text
