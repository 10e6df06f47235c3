"""Hot reload: follow a registry alias and swap the served model when it moves.

The new version is loaded beside the old one and swapped in under the state lock; requests
already queued finish on the model they started with, so nothing is dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from llmline.models.predictor import Predictor
from llmline.serve.state import ServiceState

log = logging.getLogger("llmline.serve")

VersionLookup = Callable[[], dict[str, Any]]
VersionLoader = Callable[[dict[str, Any]], Predictor]


class AliasWatcher:
    """Polls `lookup()` (the alias's current version info) every `interval_s` seconds."""

    def __init__(
        self,
        state: ServiceState,
        *,
        lookup: VersionLookup,
        load: VersionLoader,
        interval_s: float,
        on_swap: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    ) -> None:
        self.state = state
        self.lookup = lookup
        self.load = load
        self.interval_s = interval_s
        self.on_swap = on_swap
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="llmline-reload", daemon=True)

    def start(self) -> AliasWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def check(self) -> bool:
        """One poll: True when the alias moved and the new version now serves."""
        info = self.lookup()
        if str(info.get("version", "")) == self.state.model_version:
            return False
        predictor = self.load(info)
        old = dict(self.state.model_info)
        self.state.swap(predictor, info)
        log.warning(
            "hot reload: %s now serves version %s (was %s)",
            self.state.model_ref,
            info.get("version"),
            old.get("version"),
        )
        if self.on_swap is not None:
            self.on_swap(old, info)
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception as exc:  # a failed reload keeps the current model serving
                log.error("hot reload check failed (%s: %s)", type(exc).__name__, exc)
