"""The KB manifest: what was indexed (sources + sha256), with which models, into which store."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmline.errors import DataError
from llmline.workspace import Workspace

if TYPE_CHECKING:
    from llmline.kb.base import KnowledgeBase, UpdateReport

MANIFEST = "manifest.json"


def known_kbs(workspace: Workspace) -> list[str]:
    root = workspace.root / "kb"
    return (
        sorted(p.name for p in root.iterdir() if (p / MANIFEST).exists()) if root.is_dir() else []
    )


def read_manifest(directory: Path, name: str, workspace: Workspace) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.exists():
        known = known_kbs(workspace)
        raise DataError(
            f"no knowledge base {name!r} in workspace {str(workspace.root)!r}",
            fix=f"build it with `llmline kb build {name} --input ...`"
            + (f", or use one of: {', '.join(known)}" if known else ""),
        )
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest


def write_manifest(kb: KnowledgeBase, report: UpdateReport) -> None:
    from llmline.lineage import write_json_atomic

    path = kb.dir / MANIFEST
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    sources = {
        r[0]: {"sha256": r[1], "documents": r[2], "chunks": r[3], "duplicates": r[4]}
        for r in kb.catalog.db.execute("SELECT * FROM sources ORDER BY path")
    }
    encoder = kb.encoder
    write_json_atomic(path, {
        "name": kb.name,
        "created": previous.get("created", time.time()),
        "updated": time.time(),
        "spec": kb.spec.model_dump(mode="json"),
        "models": {
            "encoder": kb.spec.encoder, "encoder_dir": str(encoder.directory),
            "prefixes": encoder.prefixes.model_dump(), "dim": encoder.dim,
            "reranker": kb.spec.reranker, "ner_model": kb.spec.ner_model,
        },
        "store": {"kind": kb.store.kind, "vectors": kb.store.count(),
                  "table": getattr(kb.store, "table", None)},
        "counts": kb.catalog.counts() | {"entities": len(kb.entities)},
        "sources": sources,
        "last_update": asdict(report),
    })  # fmt: skip
