"""Warnings that point at the user's line, however deep in the finder they are raised.

A warning is shown with the file and line it is attributed to. The finder warns from several depths
(a check of the first batch, the sweep, refining's runs), through decorators that wrap its public
methods (`tf_lrfinder.state.keeps_global_random`, `tf_lrfinder.step.after_scope`): a fixed
`stacklevel` for each must be counted again whenever a call moves one function deeper, and a wrong
count points at the library's own code. `warn` attributes the warning to the first frame up the stack
that is not the package's: the line in the user's script or notebook that called the finder (or, in
the tests, the test's line).
"""

from __future__ import annotations

import sys
import types
import warnings

PACKAGE = __name__.partition(".")[0]


def _outside(frame: types.FrameType) -> bool:
    """Whether `frame` runs code of another module than this package's (a dataclass's generated
    `__init__` runs with the globals of the module that defines the class, so it counts as the
    package's)."""
    return frame.f_globals.get("__name__", "").partition(".")[0] != PACKAGE


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn `message` at the first line up the stack outside this package, the user's.

    Args:
        message: what to tell.
        category: the warning's class (default `UserWarning`).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as told:
        ...     warnings.simplefilter("always")
        ...     warn("the loss never diverged")
        >>> told[0].category.__name__, told[0].message.args[0]
        ('UserWarning', 'the loss never diverged')
    """
    frame, stacklevel = sys._getframe(1), 2  # 2: `warn`'s caller
    while frame is not None and not _outside(frame):
        frame, stacklevel = frame.f_back, stacklevel + 1
    warnings.warn(message, category, stacklevel=stacklevel)
