"""`llmline kb build`: create a KB from a spec's `kb:` block, or bring an existing one in sync.

A build makes the KB mirror its input: new and changed files are indexed, unchanged ones
skipped by sha256, files gone from the input removed. When the settings that shape the
stored vectors or chunks change (encoder, prefixes, chunking, redaction, store), the old index
cannot be reused, so the KB is rebuilt from scratch and the report says so.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from llmline.errors import SpecError
from llmline.kb.base import KnowledgeBase, kb_dir
from llmline.kb.ingest import TableColumns
from llmline.kb.manifest import MANIFEST
from llmline.spec.kb import KbSpec
from llmline.workspace import Workspace

# Settings whose change invalidates stored chunks or vectors.
_SHAPING = ("encoder", "prefixes", "chunk_size", "chunk_overlap", "redact", "store_url",
            "ner_model")  # fmt: skip


def load_kb_spec(path: Path) -> KbSpec:
    """The `kb:` block of a pipeline spec or of a YAML file holding only that block."""
    from pydantic import ValidationError

    from llmline.spec.load import describe_validation_error, read_yaml, substitute_variables

    raw = read_yaml(path)
    if "data" in raw:  # a whole pipeline spec: validate all of it, as `llmline run` would
        from llmline.spec import load_spec

        spec = load_spec(path).kb
        if spec is None:
            raise SpecError("the spec has no kb: block", where=str(path), fix="add a kb: block")
        return spec
    variables = {str(k): str(v) for k, v in (raw.get("variables") or {}).items()}
    block = substitute_variables(raw.get("kb"), variables, where=str(path))
    if not isinstance(block, dict):
        raise SpecError("no kb: mapping found", where=str(path), fix="add a kb: block")
    try:
        return KbSpec.model_validate(block)
    except ValidationError as exc:
        message = describe_validation_error(exc)
        raise SpecError(f"kb.{message}", where=str(path)) from None


def build_kb(
    name: str, workspace: Workspace, input_path: Path, columns: TableColumns,
    *, spec_path: Path | None = None, spec: KbSpec | None = None, tagger: Any = None,
    encoder: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """Build or sync KB `name` from `input_path`; returns the update report with counts."""
    if spec is None and spec_path is not None:
        spec = load_kb_spec(spec_path)
    rebuilt = False
    if (kb_dir(workspace, name) / MANIFEST).exists():
        kb = KnowledgeBase.open(name, workspace, tagger=tagger, encoder=encoder)
        if spec is not None and _shaping(spec) != _shaping(kb.spec):
            kb.remove()
            rebuilt = True
        elif spec is not None:  # only retrieval settings changed: the index is kept
            kb.catalog.close()
    if spec is not None or not (kb_dir(workspace, name) / MANIFEST).exists():
        kb = KnowledgeBase(name, workspace, spec or KbSpec(), tagger=tagger, encoder=encoder)
    try:
        report = kb.sync(input_path, columns, remove_missing=True)
    except BaseException:
        if not (kb.dir / MANIFEST).exists():  # a first build that failed leaves nothing behind
            kb.discard()
        raise
    return {"kb": name, "dir": str(kb.dir), "rebuilt": rebuilt, **asdict(report),
            "counts": kb.catalog.counts()}  # fmt: skip


def _shaping(spec: KbSpec) -> dict[str, Any]:
    return {key: getattr(spec, key) for key in _SHAPING}
