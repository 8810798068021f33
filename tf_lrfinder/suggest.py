"""Suggestion rules: pure numpy functions `(lrs, losses) -> Suggestion`, no TensorFlow.

Every rule takes the learning rates of a sweep and a loss curve recorded at them, and returns a
`Suggestion`. The default, `robust_minimum`, reads the raw losses and smooths them itself without
lag; the rules users know from fastai and Lightning read the EMA-smoothed losses they were
designed for (`READS_RAW` says which is which, and `suggest` hands each rule its curve).

Rules are total: non-finite points are ignored (a sweep stops at its first non-finite loss), a
curve with fewer than `MIN_POINTS` finite points raises a `ValueError` that says so, and flat,
increasing or noisy curves return a point of the curve (never NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .smoothing import WINDOW_DECADES, ema, lag_free_bottom, nan_argmin, start_level

MIN_POINTS = 3


@dataclass(frozen=True)
class Suggestion:
    """A suggested learning rate.

    Attributes:
        lr: the learning rate to train with (absolute, not a multiplier).
        index: index of the sweep step the rule picked (for `minimum`, the step of the minimum).
        method: name of the rule.

    Example:
        >>> s = Suggestion(lr=3e-3, index=41, method="valley")
        >>> f"{s.method}: {s.lr:.0e} (step {s.index})"
        'valley: 3e-03 (step 41)'
    """

    lr: float
    index: int
    method: str


def _usable(lrs: np.ndarray, losses: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a curve; return (indices, lrs, losses) of its finite, positive-rate points."""
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    if lrs.ndim != 1 or losses.ndim != 1 or lrs.shape != losses.shape:
        raise ValueError(
            f"`lrs` and `losses` must be 1-D arrays of the same length. "
            f"Received: lrs.shape={lrs.shape}, losses.shape={losses.shape}"
        )
    keep = np.flatnonzero(np.isfinite(losses) & np.isfinite(lrs) & (lrs > 0))
    if len(keep) < MIN_POINTS:
        raise ValueError(
            f"`{method}` needs at least {MIN_POINTS} finite points on the loss curve to suggest a "
            f"learning rate. Received: {len(keep)} of {len(losses)}. The sweep stopped too early: "
            f"lower `min_lr`, raise `diverge_factor`, or check the data and model for NaNs."
        )
    return keep, lrs[keep], losses[keep]


def _trim(n: int, start: int, end: int) -> slice:
    """Skip `start` leading and `end` trailing points, but keep at least MIN_POINTS."""
    if n - start - end < MIN_POINTS:
        start = min(start, max(0, (n - MIN_POINTS) // 2))
        end = max(0, min(end, n - MIN_POINTS - start))
    return slice(start, n - end)


def _slopes(log_lrs: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """d loss / d log(lr) by central differences (one-sided at the ends)."""
    if np.ptp(log_lrs) == 0:
        return np.zeros_like(losses)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.gradient(losses, log_lrs)


def steepest(lrs: np.ndarray, losses: np.ndarray, skip_start: float = 0.1, skip_end: int = 5) -> Suggestion:
    """The rate where the loss falls fastest against log(lr).

    Skips the first `skip_start` share of the points (the EMA is still warming up there) and the
    last `skip_end` points (the divergence). A flat curve gives its first usable point; an
    increasing one, the point where it rises least.

    Example:
        >>> lrs = np.logspace(-5, 0, 11)
        >>> losses = np.array([1, 1, 1, .99, .9, .6, .3, .2, .25, .5, 2.])
        >>> steepest(lrs, losses, skip_start=0, skip_end=0).index
        5
    """
    keep, lrs_, losses_ = _usable(lrs, losses, "steepest")
    window = _trim(len(keep), int(skip_start * len(keep)), skip_end)
    slopes = _slopes(np.log(lrs_[window]), losses_[window])
    i = window.start + nan_argmin(slopes)
    return Suggestion(float(lrs_[i]), int(keep[i]), "steepest")


def minimum(lrs: np.ndarray, losses: np.ndarray, divisor: float = 10.0) -> Suggestion:
    """The rate of the lowest loss divided by `divisor` (fastai's "minimum" rule).

    `index` is the step of the lowest loss; `lr` is that step's rate over `divisor`.

    Example:
        >>> minimum(np.array([1e-3, 1e-2, 1e-1]), np.array([1.0, 0.5, 2.0])).lr
        0.001
    """
    keep, lrs_, losses_ = _usable(lrs, losses, "minimum")
    i = int(np.argmin(losses_))
    return Suggestion(float(lrs_[i] / divisor), int(keep[i]), "minimum")


def robust_minimum(lrs: np.ndarray, losses: np.ndarray, divisor: float = 4.0,
                   decades: float = WINDOW_DECADES) -> Suggestion:
    """A quarter of the rate at which the loss, without smoothing lag, is lowest. The default rule.

    Smith (2015) reads off a range test the largest rate at which the loss still falls, and sets
    the low end of a training cycle to 1/3 or 1/4 of it. This rule finds that rate as the bottom of
    the lag-free curve of the *raw* losses (`tf_lrfinder.smoothing.lag_free`: a centred running
    median and mean over +-`decades` of rate), and returns it over `divisor`. It does not read the
    EMA the finder records: that curve trails the loss by about half a default sweep, so its bottom
    lies near the divergence rather than where the loss stopped falling (fastai's `minimum`
    divides that lagged bottom by 10 to make up for it).

    The bottom is read only where the curve is smoothed over its whole window, at least `decades`
    from both ends of the sweep (`tf_lrfinder.smoothing.fully_smoothed`): at the ends the window
    shrinks to a single batch, and one lucky batch there would otherwise be the bottom (the
    benchmark found a first batch that made the suggestion 1e-7 / 4, and a last one that made it
    10 / 4, in 2 of 180 sweeps).

    `index` is the step of the bottom; `lr` is that step's rate over `divisor`. A curve that only
    rises has its bottom at the first fully smoothed point, `decades` above `lrs[0]`, and the
    finder warns that the suggestion sits at the edge of the sweep. Likewise a curve still falling
    at `max_lr` has its bottom `decades` below it; the finder warns that the loss never diverged.
    (A sweep that diverges records the blow-up, whose losses already keep the curve's bottom
    back from the end; on such sweeps reading only the fully smoothed points changed nothing in
    simulations with the finder's stopping rule.)

    Args:
        lrs: the sweep's learning rates, non-decreasing.
        losses: the raw losses (not the EMA).
        divisor: how far below the bottom to train (default 4, Smith's 1/4).
        decades: half-width of the smoothing window in decades of rate (default 0.75).

    Example:
        >>> lrs = np.logspace(-5, 0, 11)
        >>> losses = np.array([1, 1, 1, .9, .7, .5, .4, .35, .5, 1, 5.])
        >>> s = robust_minimum(lrs, losses, decades=0.5)
        >>> s.index, round(s.lr, 6)
        (6, 0.0025)
    """
    if not divisor >= 1:
        raise ValueError(f"`divisor` must be at least 1. Received: {divisor=}")
    keep, lrs_, losses_ = _usable(lrs, losses, "robust_minimum")
    _, i = lag_free_bottom(lrs_, losses_, decades)
    return Suggestion(float(lrs_[i] / divisor), int(keep[i]), "robust_minimum")


def valley(lrs: np.ndarray, losses: np.ndarray, skip_start: float = 0.1, skip_end: int = 5) -> Suggestion:
    """fastai's "valley": the middle of the longest decreasing stretch of the loss.

    Finds the longest strictly decreasing subsequence of the (trimmed) losses and returns the point
    halfway along it, which sits below the steepest fall and well below the minimum.

    Example:
        >>> lrs = np.logspace(-5, 0, 9)
        >>> valley(lrs, np.array([3, 2.9, 2.5, 2., 1.5, 1., .9, 2., 5.]), 0, 0).index
        3
    """
    keep, lrs_, losses_ = _usable(lrs, losses, "valley")
    window = _trim(len(keep), int(skip_start * len(keep)), skip_end)
    curve = losses_[window]
    run = np.ones(len(curve), dtype=np.int64)  # longest decreasing subsequence ending at i
    for i in range(1, len(curve)):
        before = run[:i][curve[:i] > curve[i]]
        if before.size:
            run[i] = before.max() + 1
    end = int(np.argmax(run))
    start = end - int(run[end]) + 1
    i = window.start + start + (end - start) // 2
    return Suggestion(float(lrs_[i]), int(keep[i]), "valley")


def steep(lrs: np.ndarray, losses: np.ndarray, skip_start: float = 0.1, skip_end: int = 5) -> Suggestion:
    """fastai's "steep": the steepest forward difference of the loss against log(lr).

    Example:
        >>> lrs = np.logspace(-3, 0, 4)
        >>> steep(lrs, np.array([1.0, 0.9, 0.2, 3.0]), 0, 0).index
        1
    """
    keep, lrs_, losses_ = _usable(lrs, losses, "steep")
    window = _trim(len(keep), int(skip_start * len(keep)), skip_end)
    log_lrs, curve = np.log(lrs_[window]), losses_[window]
    step = np.diff(log_lrs)
    with np.errstate(over="ignore", invalid="ignore"):
        drops = np.diff(curve) / np.where(step == 0, 1.0, step)
    i = window.start + nan_argmin(drops)
    return Suggestion(float(lrs_[i]), int(keep[i]), "steep")


def slide(lrs: np.ndarray, losses: np.ndarray, skip_start: float = 0.1, skip_end: int = 5, span: int = 15,
          threshold: float = 0.005) -> Suggestion:
    """fastai's "slide": slide an interval of `span` points down from the top of the sweep until the
    gradients at its two ends agree, and return the rate at its lower end.

    The gradient is `np.gradient` of the (trimmed) loss over step index. Starting with the interval's
    upper end at the last point, the interval moves down one point at a time while its ends'
    gradients differ by more than `threshold`; the rate returned is the lower end's in the last
    position where they still differed (the first position, if they never did). `threshold` is
    absolute, in the loss's units per step, as in fastai: on a loss of larger scale, or a noisier
    one, the ends agree only further down. A curve shorter than `span + 1` points slides an
    interval as long as the curve.

    Example:
        >>> lrs = np.logspace(-5, 0, 30)
        >>> losses = np.r_[np.full(10, 2.0), np.linspace(2.0, 0.5, 15), [0.6, 1.0, 2.0, 4.0, 8.0]]
        >>> slide(lrs, losses, skip_start=0, skip_end=0, span=5).index
        19
    """
    keep, lrs_, losses_ = _usable(lrs, losses, "slide")
    window = _trim(len(keep), int(skip_start * len(keep)), skip_end)
    with np.errstate(over="ignore", invalid="ignore"):
        grads = np.gradient(losses_[window])
        span = max(1, min(span, len(grads) - 1))
        low = len(grads) - 1 - span
        picked = low
        while low >= 0 and abs(grads[low + span] - grads[low]) > threshold:  # NaN (overflow) stops it
            picked, low = low, low - 1
    i = window.start + picked
    return Suggestion(float(lrs_[i]), int(keep[i]), "slide")


def lightning(lrs: np.ndarray, losses: np.ndarray, skip_begin: int = 10, skip_end: int = 1) -> Suggestion:
    """PyTorch Lightning's rule: the most negative `np.gradient` of the loss over step index.

    Example:
        >>> lrs = np.logspace(-3, 0, 5)
        >>> lightning(lrs, np.array([1, .9, .5, .4, 2.]), 0, 0).index
        1
    """
    keep, lrs_, losses_ = _usable(lrs, losses, "lightning")
    window = _trim(len(keep), skip_begin, skip_end)
    with np.errstate(over="ignore", invalid="ignore"):
        i = window.start + nan_argmin(np.gradient(losses_[window]))
    return Suggestion(float(lrs_[i]), int(keep[i]), "lightning")


def largest_drop(lrs: np.ndarray, losses: np.ndarray) -> Suggestion:
    """The rate after the largest drop between consecutive losses, over the whole curve.

    The rule of a widely copied TensorFlow 2 GradientTape finder; kept as a benchmark baseline.

    Example:
        >>> largest_drop(np.array([1e-3, 1e-2, 1e-1, 1.0]), np.array([1.0, 0.9, 0.3, 4.0])).index
        2
    """
    keep, lrs_, losses_ = _usable(lrs, losses, "largest_drop")
    with np.errstate(over="ignore", invalid="ignore"):
        i = nan_argmin(np.diff(losses_)) + 1
    return Suggestion(float(lrs_[i]), int(keep[i]), "largest_drop")


SUGGESTERS: dict[str, Callable[..., Suggestion]] = {
    "robust_minimum": robust_minimum,
    "steepest": steepest,
    "valley": valley,
    "minimum": minimum,
    "steep": steep,
    "lightning": lightning,
    "slide": slide,
    "largest_drop": largest_drop,
}
DEFAULT_METHOD = "robust_minimum"
# The rules that read the raw losses; every other rule reads the EMA-smoothed losses.
READS_RAW = frozenset({"robust_minimum"})


def suggest(lrs: np.ndarray, losses: np.ndarray, method: str = DEFAULT_METHOD,
            smoothed_losses: np.ndarray | None = None) -> Suggestion:
    """Apply the rule named `method` (a key of `SUGGESTERS`) to a sweep.

    Args:
        lrs: the sweep's learning rates.
        losses: the raw losses, read by the rules in `READS_RAW`.
        method: the rule (default: `DEFAULT_METHOD`, the reading `LRFinder.refine` starts from;
            with refining, the benchmark's best).
        smoothed_losses: the EMA-smoothed losses the other rules read (default: `ema(losses)`
            with the finder's default smoothing).

    Example:
        >>> suggest(np.logspace(-4, 0, 5), np.array([1., .8, .4, .3, 3.]), "minimum",
        ...         smoothed_losses=np.array([1., .8, .4, .3, 3.])).index
        3
    """
    check_method(method)
    if method in READS_RAW:
        return SUGGESTERS[method](lrs, losses)
    return SUGGESTERS[method](lrs, ema(losses) if smoothed_losses is None else smoothed_losses)


def check_method(method: str, name: str = "method") -> None:
    """Raise a `ValueError` unless `method` (the argument `name`) names a rule in `SUGGESTERS`.

    Example:
        >>> check_method("valley")
        >>> check_method("valey")
        Traceback (most recent call last):
        ...
        ValueError: `method` must be one of ['largest_drop', 'lightning', 'minimum', 'robust_minimum', 'slide', 'steep', 'steepest', 'valley']. Received: method='valey'
    """
    if not isinstance(method, str) or method not in SUGGESTERS:
        raise ValueError(f"`{name}` must be one of {sorted(SUGGESTERS)}. Received: {name}={method!r}")


def lr_range(lrs: np.ndarray, losses: np.ndarray, start_drop: float = 0.1,
             decades: float = WINDOW_DECADES) -> tuple[float, float]:
    """A `(base_lr, max_lr)` pair for cyclical and one-cycle schedules, as Smith (2015) chose them.

    Smith's rule reads two rates off the range test: where the loss starts to fall (`base_lr`) and
    where it stops falling (`max_lr`). Both are read from the lag-free curve of the *raw* losses
    (`tf_lrfinder.smoothing.lag_free`), not from the EMA, whose bottom trails the loss. `max_lr` is
    the rate at the bottom of that curve (so the default suggestion, `robust_minimum`, is
    `max_lr / 4`); `base_lr` is the rate from which on the curve stays `start_drop` (10%) of its
    fall below the starting level (the median loss of the first `decades` of the sweep), all the
    way to the bottom. If there is no fall, `base_lr` is `max_lr / 10`, the ratio Smith (2018) and fastai's
    one-cycle default use.

    Example:
        >>> lrs = np.array([1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0])  # exact on every NumPy
        >>> lr_range(lrs, np.array([2.0, 1.99, 1.5, 0.8, 0.5, 3.0]))
        (0.001, 0.1)
    """
    keep, lrs_, losses_ = _usable(lrs, losses, "lr_range")
    curve, low = lag_free_bottom(lrs_, losses_, decades)  # the bottom robust_minimum reads
    start = start_level(lrs_, losses_, decades)
    with np.errstate(over="ignore", invalid="ignore"):  # near-overflow losses: inf - inf is no fall
        fall = start - curve[low]
        above = np.flatnonzero(curve[: low + 1] > start - start_drop * fall)  # a noise dip does not count
    base = int(above[-1]) + 1 if fall > 0 and above.size else low
    max_lr = float(lrs_[low])
    base_lr = float(lrs_[base]) if base < low else max_lr / 10
    return base_lr, max_lr
