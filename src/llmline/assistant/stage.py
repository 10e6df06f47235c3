"""The chain's `kb` stage: after register, index the spec's assistant input into its KB.

It runs last because the KB's encoder and reranker may be the models this very run just
registered (`models:/NAME@champion`). The KB lives in the workspace (`<workspace>/kb/NAME/`),
where `llmline kb ask` and the service find it; the run keeps the derived input table and
the build report. A re-run with unchanged inputs reuses the stage, and a changed input syncs
the KB incrementally (only new or changed rows are embedded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmline.chain import CHAIN_STAGES, Context, Stage, StageOutput
from llmline.spec.assistant import AssistantSpec
from llmline.spec.kb import KbSpec
from llmline.workspace import Workspace


def build_assistant_kb(
    assistant: AssistantSpec, kb: KbSpec | None, workspace: Workspace, out_dir: Path
) -> dict[str, Any]:
    """Prepare the assistant's input into out_dir and build (or sync) its KB from it."""
    from llmline.assistant.inputs import prepare_input
    from llmline.kb.build import build_kb

    assert assistant.kb is not None  # the spec requires a KB name beside an input
    path, columns = prepare_input(assistant, out_dir)
    report = build_kb(assistant.kb, workspace, path, columns, spec=kb or KbSpec())
    return {"input": str(path), **report}


def _kb_stage(ctx: Context) -> StageOutput:
    from llmline.console import console
    from llmline.lineage import write_json_atomic

    assistant = ctx.spec.assistant
    assert assistant is not None
    out = ctx.run.dir / "kb"
    report = build_assistant_kb(assistant, ctx.spec.kb, ctx.workspace, out)
    write_json_atomic(out / "report.json", report)
    console.print(f"[bold]kb[/]: {assistant.kb} holds {report['counts']['chunks']} chunks "
                  f"({len(report['skipped'])} files skipped); ask it with "
                  f"`llmline kb ask {assistant.kb} \"...\"`")  # fmt: skip
    summary = {k: report[k] for k in ("kb", "counts", "skipped", "rebuilt", "seconds")}
    return StageOutput(paths={"report": out / "report.json"}, result=summary)


def _config(ctx: Context) -> Any:
    from llmline.lineage import sha256_path

    assistant = ctx.spec.assistant
    assert assistant is not None and assistant.input is not None
    source = assistant.input.path
    return {
        "assistant": assistant.model_dump(mode="json"),
        "kb": ctx.spec.kb.model_dump(mode="json") if ctx.spec.kb else None,
        "input_sha256": sha256_path(source) if source is not None and source.exists() else None,
    }


CHAIN_STAGES.register("kb")(
    Stage("kb", 97, _kb_stage, _config,
          enabled=lambda c: c.spec.assistant is not None and c.spec.assistant.input is not None)
)  # fmt: skip


def build_from_spec(
    name: str, workspace: Workspace, spec_path: Path, variables: dict[str, str]
) -> dict[str, Any]:
    """`llmline kb build NAME --spec SPEC` without --input: the spec's assistant.input."""
    from llmline.assistant.service import validate_block
    from llmline.errors import SpecError
    from llmline.spec import load_spec
    from llmline.spec.load import read_with_variables

    raw = read_with_variables(spec_path, variables)
    if "data" in raw:  # a whole pipeline spec: validated as `llmline run` would
        pipeline = load_spec(spec_path, variables)
        assistant, kb = pipeline.assistant, pipeline.kb
    else:
        block = raw.get("assistant")
        assistant = validate_block(block, str(spec_path)) if isinstance(block, dict) else None
        kb = KbSpec.model_validate(raw["kb"]) if isinstance(raw.get("kb"), dict) else None
    if assistant is None or assistant.input is None:
        raise SpecError("no --input, and the spec has no assistant.input", where=str(spec_path),
                        fix="pass --input, or add an assistant: block with an input")  # fmt: skip
    if assistant.kb != name:
        raise SpecError(f"the spec's assistant.kb is {assistant.kb!r}, not {name!r}",
                        where=str(spec_path), fix=f"build it as {assistant.kb!r}")  # fmt: skip
    return build_assistant_kb(assistant, kb, workspace, workspace.root / "kb-inputs" / name)
