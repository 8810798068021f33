"""Loss smoothing and the divergence rule: pure numpy, no TensorFlow.

The finder runs the same arithmetic on the device to stop a sweep early; these functions are the
reference that the tests hold the device to.
"""

from __future__ import annotations

import numpy as np


def bias_correction(n_steps: int, smoothing: float) -> np.ndarray:
    """Denominators `1 - smoothing ** (i + 1)` that remove the EMA's bias towards its zero start.

    Example:
        >>> bias_correction(3, 0.5).tolist()
        [0.5, 0.75, 0.875]
    """
    return 1.0 - smoothing ** np.arange(1, n_steps + 1, dtype=np.float64)


def ema(losses: np.ndarray, smoothing: float = 0.98) -> np.ndarray:
    """Bias-corrected exponential moving average of `losses` (float64).

    `smoothing` is the weight of the past, in `[0, 1)`; 0 returns the losses unchanged. A non-finite
    loss makes that entry and every later one non-finite, as it does on the device.

    Example:
        >>> ema(np.array([1.0, 1.0, 4.0]), smoothing=0.5).round(4).tolist()
        [1.0, 1.0, 2.7143]
    """
    losses = np.asarray(losses, dtype=np.float64)
    correction = bias_correction(len(losses), smoothing)
    out = np.empty_like(losses)
    avg = 0.0
    with np.errstate(invalid="ignore", over="ignore"):  # inf and NaN propagate, as documented
        for i, loss in enumerate(losses):
            avg = smoothing * avg + (1.0 - smoothing) * loss
            out[i] = avg / correction[i]
    return out


def diverged(smoothed: float, best: float, diverge_factor: float) -> bool:
    """Whether `smoothed` has left the best smoothed loss so far by more than `diverge_factor`.

    For positive losses this is `smoothed > diverge_factor * best`. Losses that reach zero or below
    (custom objectives) use the same rule on the distance: `smoothed - best > (factor - 1) * |best|`.

    Example:
        >>> diverged(4.5, 1.0, 4.0), diverged(3.9, 1.0, 4.0)
        (True, False)
    """
    return bool(smoothed - best > (diverge_factor - 1.0) * abs(best))


def stop_index(losses: np.ndarray, smoothing: float = 0.98, diverge_factor: float = 4.0) -> int | None:
    """Index of the step at which a sweep over `losses` stops, or None if it runs to the end.

    It stops at the first non-finite loss, or the first step whose smoothed loss diverged from the
    best smoothed loss before it (see `diverged`).

    Example:
        >>> stop_index(np.array([1.0, 0.5, 0.4, 9.0, 1.0]), smoothing=0.0)
        3
    """
    smoothed = ema(losses, smoothing)
    best = np.inf
    for i, (loss, value) in enumerate(zip(np.asarray(losses, dtype=np.float64), smoothed)):
        if not np.isfinite(loss):
            return i
        best = min(best, value)
        if diverged(value, best, diverge_factor):
            return i
    return None
