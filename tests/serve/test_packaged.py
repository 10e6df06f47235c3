"""`llmline serve --model packaged:smollm2` answers chat, streamed too (the real model)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from llmline.workspace import Workspace

pytest.importorskip("gguf")


@pytest.mark.integration
@pytest.mark.slow
def test_packaged_smollm2_serves_chat_directly(smollm2_workspace: Workspace) -> None:
    from llmline.serve.runner import ServeOptions, build_app

    app = build_app(
        ServeOptions("packaged:smollm2", str(smollm2_workspace.root), {"monitor": False})
    )
    client = TestClient(app)
    question = {"messages": [{"role": "user", "content": "What is the capital of France?"}]}
    reply = client.post("/v1/chat/completions", json={**question, "max_tokens": 12})
    assert reply.status_code == 200 and "Paris" in reply.json()["choices"][0]["message"]["content"]
    streamed = client.post(
        "/v1/chat/completions", json={**question, "max_tokens": 12, "stream": True}
    )
    events = [json.loads(line[6:]) for line in streamed.text.splitlines() if line[6:7] == "{"]
    assert "Paris" in "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert client.post("/v1/classify", json={"texts": ["x"]}).status_code == 400
