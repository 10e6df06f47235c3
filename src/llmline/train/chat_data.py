"""Data preparation for instruction tuning: conversations as parquet snapshots.

Rows are chat JSONL (`messages`: [{role, content}, ...]), `prompt`/`response` pairs, or any
source whose text column is the prompt and label column the response (Banking77 questions ->
intent names). Snapshots keep the raw turns; the system prompt and the user-turn template are
applied at encoding time (`apply_generation_settings`) so changing them never reuses a stale
data snapshot.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmline.console import console
from llmline.data.stage import DataArtifact
from llmline.errors import DataError
from llmline.lineage import atomic_path, sha256_file, write_json_atomic
from llmline.spec import GenerationSpec, PipelineSpec, SourceSpec

Message = dict[str, str]
ROLES = ("system", "user", "assistant")


def apply_generation_settings(messages: list[Message], gen: GenerationSpec) -> list[Message]:
    """Prepend the system prompt (unless the conversation has one), template the user turns."""
    out = [
        {**m, "content": gen.prompt_template.replace("{text}", m["content"])}
        if m["role"] == "user" else dict(m)
        for m in messages
    ]  # fmt: skip
    if gen.system_prompt and (not out or out[0]["role"] != "system"):
        out.insert(0, {"role": "system", "content": gen.system_prompt})
    return out


def row_to_messages(row: dict[str, Any], source: SourceSpec, *, where: str) -> list[Message]:
    if "messages" in row:
        return _checked(row["messages"], where=where)
    if "prompt" in row and "response" in row:
        prompt, response = row["prompt"], row["response"]
    else:
        prompt = row.get(source.text_column)
        response = row.get(source.label_column) if source.label_column else None
    if prompt is None or response is None or not str(prompt).strip():
        raise DataError(
            "a chat row needs 'messages', 'prompt'+'response', or the text and label columns",
            where=where,
            fix="set data.source.text_column / label_column, or write chat-format JSONL",
        )
    return [
        {"role": "user", "content": str(prompt)},
        {"role": "assistant", "content": str(response)},
    ]


def _checked(messages: Any, *, where: str) -> list[Message]:
    if not isinstance(messages, list) or not messages:
        raise DataError("'messages' must be a non-empty list", where=where)
    out = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise DataError(
                f"messages[{index}] needs a role of {', '.join(ROLES)}",
                where=where,
                fix='write {"role": "user", "content": "..."}',
            )
        out.append({"role": str(message["role"]), "content": str(message.get("content", ""))})
    if out[-1]["role"] != "assistant":
        raise DataError("the last message must be the assistant's answer", where=where)
    return out


def read_conversations(
    source: SourceSpec, *, key: str, max_rows: int | None
) -> list[list[Message]]:
    from llmline.data.sources import SOURCES, infer_format

    fmt = source.format if source.format != "auto" else infer_format(source.path)
    reader = SOURCES.get(fmt, key=f"{key}.format")
    conversations: list[list[Message]] = []
    for number, row in enumerate(reader(source), start=1):
        if max_rows is not None and len(conversations) >= max_rows:
            break
        conversations.append(row_to_messages(row, source, where=f"{source.path}:{number}"))
    if not conversations:
        raise DataError(f"no conversations in {source.path}", where=key)
    return conversations


def prepare_chat_data(spec: PipelineSpec, out_dir: Path) -> DataArtifact:
    """Deduplicate and split conversations; write parquet snapshots and a small report."""
    data = spec.data
    train = read_conversations(data.source, key="data.source", max_rows=data.max_rows)
    before = len(train)
    if data.dedup:
        train = list({json.dumps(c, sort_keys=True): c for c in train}.values())
    duplicates = before - len(train)
    if data.validation is not None:
        validation = read_conversations(data.validation, key="data.validation",
                                        max_rows=data.max_rows)  # fmt: skip
    else:
        order = list(range(len(train)))
        random.Random(spec.seed).shuffle(order)
        held = set(order[: max(1, round(len(order) * data.validation_fraction))])
        validation = [c for i, c in enumerate(train) if i in held]
        train = [c for i, c in enumerate(train) if i not in held]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"train": out_dir / "train.parquet", "validation": out_dir / "validation.parquet"}
    write_conversations(train, paths["train"])
    write_conversations(validation, paths["validation"])
    report = {
        "task": "causal_lm", "train_rows": len(train), "validation_rows": len(validation),
        "dropped": {"duplicate": duplicates},
        "labels": [], "sha256": {n: sha256_file(p) for n, p in paths.items()},
    }  # fmt: skip
    write_json_atomic(out_dir / "data_report.json", report)
    console.print(f"[bold]data[/]: {len(train)} train / {len(validation)} validation conversations")
    return DataArtifact(paths["train"], paths["validation"], [], report)


def write_conversations(conversations: list[list[Message]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "messages": [json.dumps(c, ensure_ascii=False) for c in conversations],
            "text": [
                next((m["content"] for m in c if m["role"] == "user"), "") for c in conversations
            ],
            "label": [c[-1]["content"] for c in conversations],
        }
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_conversations_snapshot(path: Path) -> Iterator[list[Message]]:
    import pyarrow.parquet as pq

    for raw in pq.read_table(path, columns=["messages"]).column("messages").to_pylist():
        yield json.loads(raw)
