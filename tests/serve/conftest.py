from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_classifier_dir(tiny_model_dir: Path) -> Path:
    """The serve tests' name for the shared untrained 3-label classifier."""
    return tiny_model_dir
