"""Learning-rate schedules for the range test: pure numpy, no TensorFlow.

Learning rates are absolute values, not multipliers of the optimizer's rate.
"""

from __future__ import annotations

import numpy as np

SCHEDULES = ("exponential", "linear")


def exponential(step: int | np.ndarray, n_steps: int, min_lr: float, max_lr: float) -> np.ndarray:
    """Learning rate at `step` on a geometric ramp: `min_lr` at step 0, `max_lr` at `n_steps - 1`.

    Args:
        step: step index (or array of indices), 0-based.
        n_steps: number of steps in the sweep (at least 2).
        min_lr: rate at the first step.
        max_lr: rate at the last step.

    Returns:
        The rate(s) as float64.

    Example:
        >>> exponential(np.arange(5), 5, 1e-5, 1e-1).tolist()
        [1e-05, 0.0001, 0.001, 0.01, 0.1]
    """
    t = np.asarray(step, dtype=np.float64) / (n_steps - 1)
    rates = min_lr * (max_lr / min_lr) ** t
    # Pin the last rate so that it is exactly what the user asked for.
    return np.where(t == 1.0, max_lr, rates)


def linear(step: int | np.ndarray, n_steps: int, min_lr: float, max_lr: float) -> np.ndarray:
    """Learning rate at `step` on a straight ramp: `min_lr` at step 0, `max_lr` at `n_steps - 1`.

    Example:
        >>> linear(np.arange(3), 3, 0.0, 1.0).tolist()
        [0.0, 0.5, 1.0]
    """
    t = np.asarray(step, dtype=np.float64) / (n_steps - 1)
    return np.where(t == 1.0, max_lr, min_lr + t * (max_lr - min_lr))


def is_linear(lrs: np.ndarray) -> bool:
    """Whether the rates are evenly spaced (a `mode="linear"` sweep, or the part of one that ran): at
    least 3 increasing rates whose steps agree to 0.1%. (A geometric sweep over less than 1%, whose
    steps are as even, counts as linear.)

    Example:
        >>> is_linear(np.linspace(1e-4, 1e-2, 5)), is_linear(np.logspace(-4, -2, 5))
        (True, False)
    """
    steps = np.diff(np.asarray(lrs, dtype=np.float64))
    return bool(steps.size >= 2 and steps.min() > 0 and np.ptp(steps) <= 1e-3 * steps.mean())


def learning_rates(n_steps: int, min_lr: float, max_lr: float, mode: str = "exponential") -> np.ndarray:
    """All `n_steps` rates of a sweep, float64.

    Args:
        n_steps: number of steps.
        min_lr: first rate.
        max_lr: last rate.
        mode: `"exponential"` (default, as in Smith's and fastai's range test) or `"linear"`.

    Example:
        >>> learning_rates(3, 1e-3, 1e-1).tolist()
        [0.001, 0.01, 0.1]
    """
    if mode not in SCHEDULES:
        raise ValueError(f"`mode` must be one of {SCHEDULES}. Received: mode={mode!r}")
    fn = exponential if mode == "exponential" else linear
    return fn(np.arange(n_steps), n_steps, min_lr, max_lr)
