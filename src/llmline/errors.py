"""The few exception types a user can cause; anything else is a bug and keeps its traceback.

Every message says what failed, where (file, line, key, column) and how to fix it, because the
CLI prints it as one line and exits with code 2.
"""

from __future__ import annotations


class LlmlineError(Exception):
    """A mistake in the user's input or environment, reported without a traceback."""

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [f"{self.where}: {self.what}" if self.where else self.what]
        if self.fix:
            parts.append(f"fix: {self.fix}")
        return " — ".join(parts)


class SpecError(LlmlineError):
    """The pipeline spec (YAML, variables, keys, values) is wrong."""


class DataError(LlmlineError):
    """Input data is missing, unreadable, empty or lacks what the spec names."""


class ModelError(LlmlineError):
    """A model reference cannot be resolved or loaded."""


class RegistryError(LlmlineError):
    """A registry name, version or alias does not exist or cannot be moved."""


class ServeError(LlmlineError):
    """The service cannot start with the given model or settings."""
