"""tf_lrfinder: the learning-rate range test for TensorFlow 2 / Keras 3 models.

`import tf_lrfinder` stays light: `LRFinder` (which needs TensorFlow) is loaded on first use.
"""

from __future__ import annotations

import os
import types
from typing import Any

from .suggest import (SUGGESTERS, Suggestion, largest_drop, lightning, minimum, robust_minimum, slide, steep,
                      steepest, valley)

__version__ = "0.1.0"
__all__ = ["LRFinder", "Suggestion", "SUGGESTERS", "robust_minimum", "steepest", "valley", "minimum", "steep",
           "lightning", "slide", "largest_drop"]


def __getattr__(name: str) -> Any:
    if name == "LRFinder":
        # Keep TensorFlow's C++ INFO and WARNING logs out of users' output; errors show. (A few start-up
        # lines escape this variable in TensorFlow 2.21; only the demo filters those: see quiet.py.)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from .finder import LRFinder

        return LRFinder
    raise AttributeError(f"module 'tf_lrfinder' has no attribute {name!r}")


def __dir__() -> list[str]:
    # What `dir(tf_lrfinder)` and a notebook's tab completion list: the public names, `LRFinder`
    # among them before its first use loads it, the submodules already imported, and the module's
    # own dunder names; not the helpers this file imports for itself (`os`, `types`, `Any`).
    loaded = {name for name, value in globals().items()
              if isinstance(value, types.ModuleType) and value.__name__.startswith(__name__ + ".")}
    return sorted({*__all__, *loaded, *(name for name in globals() if name.startswith("__"))})
