"""Putting a watch together from its spec, and running it live (directory polling + HTTP).

A watch file is a pipeline spec with a `watch:` block or the block's keys on their own; relative
paths in it are read from the directory you run llmline in, like every other spec.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from llmline.errors import SpecError
from llmline.spec.watch import DirectorySourceSpec, HttpSourceSpec, WatchSpec
from llmline.watch.entities import EntityLinker, load_watch_list
from llmline.watch.sentiment import LanguageJudges, TargetSentiment
from llmline.watch.store import WatchStore, open_watch_store
from llmline.watch.stream import WatchStream, scan_directory

T = TypeVar("T")

log = logging.getLogger("llmline.watch")


def load_watch_spec(path: Path, variables: dict[str, str] | None = None) -> WatchSpec:
    """Read a watch file (or a pipeline spec's `watch:` block); errors name the key."""
    from pydantic import ValidationError

    from llmline.spec import describe_validation_error
    from llmline.spec.load import read_with_variables

    raw = read_with_variables(path, variables)
    block = raw.get("watch", raw)
    prefix = "watch." if "watch" in raw else ""
    if not isinstance(block, dict):
        raise SpecError("watch: must be a mapping", where=str(path))
    block = {k: v for k, v in block.items() if k != "variables"}
    try:
        return WatchSpec.model_validate(block)
    except ValidationError as exc:
        raise SpecError(
            prefix + describe_validation_error(exc),
            where=str(path),
            fix="see `llmline validate --explain` (watch.*)",
        ) from None


def watch_store(spec: WatchSpec, workspace: Any) -> WatchStore:
    from llmline.monitor.store import store_url

    return open_watch_store(store_url(spec.store_url, workspace.monitor_db))


def build_stream(
    spec: WatchSpec,
    workspace: Any,
    *,
    sentiment: TargetSentiment | LanguageJudges | None = None,
    tagger: Any = None,
) -> WatchStream:
    """The stream with the spec's watch list, models and store (models may be passed in)."""
    if sentiment is None:
        sentiment = load_judges(spec, workspace)
    default_tagger, taggers = load_taggers(spec, workspace, default=tagger is None)
    linker = EntityLinker(
        load_watch_list(spec.watch_list),
        tagger=tagger if tagger is not None else default_tagger,
        taggers=taggers,
        link_unlisted=spec.link_unlisted,
    )
    stream = WatchStream(spec, watch_store(spec, workspace), linker, sentiment)
    warmed = stream.warm_start()
    if warmed:
        log.info("surge baselines rebuilt from %d stored links", warmed)
    return stream


def load_taggers(
    spec: WatchSpec, workspace: Any, *, default: bool = True
) -> tuple[Any, dict[str, Any]]:
    """`watch.ner_model` (unless `default` is off: a tagger was passed in) and
    `watch.ner_models`, as (default tagger or None, tagger by language)."""
    from llmline.models.backend import load_serving_predictor
    from llmline.models.resolve import resolve_model

    return _load_per_language(
        spec.ner_model if default else None,
        spec.ner_models,
        lambda reference: load_serving_predictor(resolve_model(reference, workspace)),
    )


def load_judges(spec: WatchSpec, workspace: Any) -> LanguageJudges:
    """`watch.model` and `watch.models`."""
    if spec.model is None and not spec.models:
        raise SpecError(
            "no sentiment model to judge posts with",
            where="watch.model",
            fix="name a classification run (a run dir, models:/NAME@ALIAS or a model dir) in "
            "watch.model, or one per language in watch.models",
        )
    from llmline.watch.sentiment import load_sentiment

    return LanguageJudges(
        *_load_per_language(
            spec.model,
            spec.models,
            lambda reference: load_sentiment(
                reference, workspace, spec.label_map, batch_size=spec.model_batch_size
            ),
        )
    )


def _load_per_language(
    default: str | None, by_language: dict[str, str], load: Callable[[str], T]
) -> tuple[T | None, dict[str, T]]:
    """The default model and one per language, each distinct reference loaded once (the same
    model named for two languages is one model in memory)."""
    loaded: dict[str, T] = {}
    for reference in [*by_language.values(), *([default] if default else [])]:
        if reference not in loaded:
            loaded[reference] = load(reference)
    chosen = {language: loaded[reference] for language, reference in by_language.items()}
    return (loaded[default] if default else None), chosen


def run_live(
    stream: WatchStream,
    *,
    once: bool = False,
    stop: threading.Event | None = None,
    settle_s: float = 1.0,
) -> None:
    """Poll the directories (and serve HTTP) until stopped; `once` reads what is there and exits."""
    stop = stop or threading.Event()
    directories = [s for s in stream.spec.sources if isinstance(s, DirectorySourceSpec)]
    servers = [s for s in stream.spec.sources if isinstance(s, HttpSourceSpec)]
    if not directories and not servers:
        raise SpecError(
            "no sources to watch",
            where="watch.sources",
            fix="add {kind: directory, path: ...} or {kind: http}, or use --replay FILE",
        )
    threads = [] if once else [_serve(stream, s, stop) for s in servers]
    poll = min((s.poll_s for s in directories), default=1.0)
    while True:
        for source in directories:
            scan_directory(stream, source.path, source.pattern, settle_s)
        if once or stop.wait(poll):
            break
    for thread in threads:
        thread.join(5)


def _serve(stream: WatchStream, source: HttpSourceSpec, stop: threading.Event) -> threading.Thread:
    import uvicorn

    from llmline.watch.app import build_app

    config = uvicorn.Config(
        build_app(stream, source), host=source.host, port=source.port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="llmline-watch-http", daemon=True)
    thread.start()

    def shut_down() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=shut_down, daemon=True).start()
    log.info("POST /v1/ingest on http://%s:%d", source.host, source.port)
    return thread
