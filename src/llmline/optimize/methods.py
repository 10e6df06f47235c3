"""The optimize-method table: each method turns a model directory into a variant directory.

Methods register themselves in their own modules (quantize, onnx_methods, prune, distill);
`load_methods()` imports the built-in ones. A third-party method is one more registration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmline.spec import OptimizeSpec
from llmline.variants import Registry


@dataclass(frozen=True)
class OptimizeInputs:
    """What a method may read: the model, its spec block and the data splits it was made on."""

    model_dir: Path
    spec: OptimizeSpec
    train: Path | None
    validation: Path
    seed: int = 42


OptimizeMethod = Callable[[OptimizeInputs, Path], Path]
OPTIMIZE_METHODS: Registry[OptimizeMethod] = Registry("optimize method")
BUILTIN_METHOD_MODULES = (
    "llmline.optimize.quantize",
    "llmline.optimize.onnx_methods",
    "llmline.optimize.prune",
    "llmline.optimize.distill",
)


def load_methods() -> Registry[OptimizeMethod]:
    import importlib

    for module in BUILTIN_METHOD_MODULES:
        importlib.import_module(module)
    return OPTIMIZE_METHODS
