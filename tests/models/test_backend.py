"""Model directories without llmline_model.json (converted packaged models) serve and predict.

The task comes from the HF config: a `*ForCausalLM` is a chat model, a bare encoder serves
`/v1/embeddings`. Tiny random models stand in for packaged:smollm2 and packaged:e5-small.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from llmline.errors import ModelError
from llmline.models.backend import infer_task, load_serving_predictor
from llmline.models.meta import MODEL_META
from llmline.serve.app import create_app


def _config_only(directory: Path, **config: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


def test_the_task_comes_from_the_hf_config(
    tiny_llama_dir: Path, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    assert not (tiny_llama_dir / MODEL_META).exists() and not (tiny_bert_dir / MODEL_META).exists()
    assert infer_task(tiny_llama_dir) == "causal_lm"
    assert infer_task(tiny_bert_dir) == "embedding"
    xlmr = _config_only(
        tmp_path / "xlmr", architectures=["XLMRobertaModel"], model_type="xlm-roberta"
    )
    assert infer_task(xlmr) == "embedding"
    gemma = _config_only(
        tmp_path / "g", architectures=["Gemma3ForCausalLM"], model_type="gemma3_text"
    )
    assert infer_task(gemma) == "causal_lm"


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"architectures": ["BertForSequenceClassification"], "model_type": "bert"}, "unknown"),
        ({"architectures": ["LlamaModel"], "model_type": "llama"}, "unknown"),  # not an encoder
        ({"model_type": "bert"}, "no architectures"),
    ],
)
def test_a_directory_of_unknown_task_is_a_clear_error(
    tmp_path: Path, config: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ModelError, match=fragment):
        infer_task(_config_only(tmp_path / "m", **config))


def test_no_config_and_no_meta_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="neither"):
        infer_task(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(ModelError, match="not JSON"):
        infer_task(bad)


@pytest.fixture(scope="module")
def chat(tiny_llama_dir: Path) -> TestClient:
    predictor = load_serving_predictor(tiny_llama_dir, "auto")
    return TestClient(create_app(predictor, model_ref="packaged:tiny-llama"))


@pytest.mark.parametrize("text", ["hello there", "你好，请问北京今天天气怎么样？"])
def test_a_plain_causal_lm_directory_serves_chat(chat: TestClient, text: str) -> None:
    body = {"messages": [{"role": "user", "content": text}], "max_tokens": 4}
    reply = chat.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert 0 < answer["usage"]["completion_tokens"] <= 4
    streamed = chat.post("/v1/chat/completions", json={**body, "stream": True}).text
    assert streamed.rstrip().endswith("data: [DONE]")
    events = [json.loads(line[6:]) for line in streamed.splitlines() if line[6:].startswith("{")]
    text_out = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert text_out.strip() == answer["choices"][0]["message"]["content"].strip()
    assert chat.post("/v1/classify", json={"texts": [text]}).status_code == 400


def test_a_bare_encoder_directory_serves_embeddings(tiny_bert_dir: Path) -> None:
    predictor = load_serving_predictor(tiny_bert_dir, "auto")
    client = TestClient(create_app(predictor, model_ref="packaged:tiny-bert"))
    texts = ["where is my card", "我的银行卡丢了", "x " * 400]  # the last one is truncated
    body = client.post("/v1/embeddings", json={"input": texts}).json()
    vectors = [d["embedding"] for d in body["data"]]
    assert [len(v) for v in vectors] == [32, 32, 32]
    assert all(sum(x * x for x in v) == pytest.approx(1.0, abs=1e-4) for v in vectors)
    single = client.post("/v1/embeddings", json={"input": texts[1]}).json()["data"][0]
    assert single["embedding"] == pytest.approx(vectors[1], abs=1e-5)  # batching changes nothing
    assert client.post("/v1/classify", json={"texts": ["x"]}).status_code == 400
    assert (
        client.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}
        ).status_code
        == 400
    )


def test_a_sentence_transformers_prompt_and_cls_pooling_are_honoured(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from llmline.models.embedding import load_encoder

    directory = tmp_path / "e5-like"
    shutil.copytree(tiny_bert_dir, directory)
    (directory / "1_Pooling").mkdir()
    (directory / "1_Pooling" / "config.json").write_text(
        '{"pooling_mode_cls_token": true}', "utf-8"
    )
    (directory / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: "}, "default_prompt_name": "query"}), "utf-8"
    )
    encoder, plain = load_encoder(directory), load_encoder(tiny_bert_dir)
    assert (encoder.pooling, encoder.prefix) == ("cls", "query: ")
    assert (plain.pooling, plain.prefix) == ("mean", "")
    assert encoder.embed(["card"]).tolist() != plain.embed(["card"]).tolist()


def test_predict_works_on_both_kinds(
    tiny_llama_dir: Path, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from llmline.cli import main

    source = tmp_path / "in.csv"
    source.write_text('text\nhello\n"我想查询余额, 谢谢"\n', encoding="utf-8")
    for name, directory in (("chat", tiny_llama_dir), ("embed", tiny_bert_dir)):
        out = tmp_path / f"{name}.jsonl"
        argv = ["predict", "--model", str(directory), "--input", str(source), "--output", str(out)]
        assert main([*argv, "--workspace", str(tmp_path / "ws")]) == 0
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert [r["text"] for r in rows] == ["hello", "我想查询余额, 谢谢"]
        key = "label" if name == "chat" else "embedding"
        assert all(key in r for r in rows)


def test_a_prompt_without_tokens_still_completes(chat: TestClient) -> None:
    for stream in (False, True):
        body = {"prompt": "\r", "max_tokens": 2, "stream": stream}
        answer = chat.post("/v1/completions", json=body)
        assert answer.status_code == 200, answer.text


def test_a_failing_generation_ends_its_stream_with_the_error(tiny_llama_dir: Path) -> None:
    from llmline.models.predictor import load_predictor

    generator: Any = load_predictor(tiny_llama_dir)

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("model exploded")

    generator.model.generate = broken
    with pytest.raises(RuntimeError, match="exploded"):
        list(generator.stream("hello"))  # before the fix this waited forever


def test_a_prompt_longer_than_the_context_is_refused(chat: TestClient) -> None:
    long = " ".join(["card"] * 300) + " 银行卡" * 10  # the tiny Llama reads 256 positions
    for path, body in (
        ("/v1/completions", {"prompt": long}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": long}]}),
    ):
        answer = chat.post(path, json={**body, "max_tokens": 2})
        assert answer.status_code == 400 and "reads at most 255" in answer.json()["detail"]
