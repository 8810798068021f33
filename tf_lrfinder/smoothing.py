"""Loss smoothing and the divergence rule: pure numpy, no TensorFlow.

The finder runs the same arithmetic on the device to stop a sweep early; these functions are the
reference that the tests hold the device to.
"""

from __future__ import annotations

import numpy as np

# Half-width of the lag-free window, in decades of learning rate: the default of `lag_free`, of the
# default suggestion rule and of `lr_range`.
WINDOW_DECADES = 0.75


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


def lag_free(lrs: np.ndarray, losses: np.ndarray, decades: float = WINDOW_DECADES) -> np.ndarray:
    """A smoothed loss curve without the EMA's lag: a centred running median, then a running mean.

    Both passes take the points within `decades` of log10(lr) on either side of each point. The EMA
    the finder records trails the loss: with smoothing 0.98 it averages over the last ~50 steps, half
    of a default sweep (4 decades of rate), so its bottom lies far to the right of where the loss
    stopped falling. A centred window has no lag; the median drops single-batch spikes and the mean
    irons out the median's steps. Near the ends the window shrinks so that it stays centred (the
    first and last points are their own losses) instead of leaning on one side of the curve; so the
    curve there is as noisy as single batches, and `fully_smoothed` says where it is not.
    The mean is not robust: within `decades` of the divergence it takes in the blow-up's huge
    losses, so the curve turns up before the raw loss does and its bottom keeps a margin of up
    to `decades` from the blow-up (the suggestion benchmark measured the rule with this margin).

    Args:
        lrs: learning rates, non-decreasing (as every schedule of the finder makes them).
        losses: the raw losses at them, all finite; or a 2-D array of such curves, one per row.
        decades: half-width of the window in decades of learning rate (default 0.75).

    Returns:
        The smoothed losses (float64), one per point (of each row). A sum of huge losses may
        overflow to inf.

    Example:
        >>> lag_free(np.logspace(-3, 0, 7), np.array([1.0, 1.0, 9.0, 1.0, 0.5, 0.5, 0.5]), 0.5).tolist()
        [1.0, 1.0, 1.0, 0.8333333333333334, 0.6666666666666666, 0.5, 0.5]
    """
    x = np.log10(np.asarray(lrs, dtype=np.float64))
    losses = np.asarray(losses, dtype=np.float64)
    if x.ndim != 1 or losses.ndim not in (1, 2) or losses.shape[-1] != x.size:
        raise ValueError(f"`lrs` must be a 1-D array and `losses` a 1-D array of the same length (or a 2-D "
                         f"array of such rows). Received: lrs.shape={x.shape}, losses.shape={losses.shape}")
    if np.any(np.diff(x) < 0):
        raise ValueError("`lrs` must be non-decreasing (a sweep's rates grow step by step). "
                         f"Received a rate that falls at index {int(np.argmax(np.diff(x) < 0)) + 1}.")
    if x.size == 0:
        return losses
    half = np.minimum(decades, np.minimum(x - x[0], x[-1] - x)) + 1e-9  # centred: shrink at the ends
    lo, hi = np.searchsorted(x, x - half, "left"), np.searchsorted(x, x + half, "right")
    # Each point's window as a row of indices, padded past its end: the medians and means of all
    # the windows (of every row of `losses`) at once.
    window = lo[:, None] + np.arange(int((hi - lo).max()))
    inside = window < hi[:, None]
    window = np.minimum(window, x.size - 1)
    count = hi - lo
    middle = (count - 1) // 2, count // 2  # np.median's: the middle one, or the mean of the middle two
    with np.errstate(over="ignore", invalid="ignore"):  # a median of two near-overflow losses too
        ordered = np.sort(np.where(inside, losses[..., window], np.inf), axis=-1)  # padding sorts last
        low, high = (ordered[..., np.arange(x.size), m] for m in middle)
        median = np.where(count % 2 == 1, low, (low + high) / 2)
        return np.where(inside, median[..., window], 0.0).sum(axis=-1) / count


def fully_smoothed(lrs: np.ndarray, decades: float = WINDOW_DECADES) -> np.ndarray:
    """Which points of `lag_free`'s curve are smoothed over the whole window: a boolean mask.

    A point counts when it lies at least `decades` (of log10 lr) from both ends of the sweep. On a
    sweep narrower than `4 * decades` the margin is a quarter of its span instead, so that its
    middle half still counts (and the point farthest from both ends always counts). Points nearer
    the ends are smoothed over fewer batches, the first and last over one: comparing them with the
    rest lets a single lucky batch win.

    Example:
        >>> fully_smoothed(np.logspace(-7, 1, 9)).astype(int).tolist()  # 8 decades: 0.75 from each end
        [0, 1, 1, 1, 1, 1, 1, 1, 0]
        >>> fully_smoothed(np.logspace(-3, -2, 5)).astype(int).tolist()  # 1 decade: its middle half
        [0, 1, 1, 1, 0]
    """
    x = np.log10(np.asarray(lrs, dtype=np.float64))
    if x.size == 0:
        return np.zeros(0, dtype=bool)
    room = np.minimum(x - x[0], x[-1] - x)
    return room >= min(decades, (x[-1] - x[0]) / 4, room.max()) - 1e-9


def nan_argmin(values: np.ndarray) -> int:
    """argmin that treats NaN (an overflow in a sum or difference of huge losses) as +inf.

    Example:
        >>> nan_argmin(np.array([np.nan, 2.0, 1.0]))
        2
    """
    return int(np.argmin(np.where(np.isnan(values), np.inf, values)))


def lag_free_bottom(lrs: np.ndarray, losses: np.ndarray, decades: float = WINDOW_DECADES) -> tuple[np.ndarray, int]:
    """The `lag_free` curve and the index of its lowest `fully_smoothed` point: where the default
    suggestion, `lr_range` and the flat-curve warning read the bottom of a sweep.

    Example:
        >>> lrs = np.logspace(-7, 1, 9)
        >>> curve, i = lag_free_bottom(lrs, np.array([0.1, 1.0, 0.9, 0.8, 0.7, 0.5, 0.6, 2.0, 0.0]), 0.5)
        >>> i, float(curve[i])  # the lowest point that is not an end (0.1 and 0.0 are single batches)
        (5, 0.5)
    """
    curve = lag_free(lrs, losses, decades)
    inner = np.flatnonzero(fully_smoothed(lrs, decades))
    return curve, int(inner[nan_argmin(curve[inner])])


def start_level(lrs: np.ndarray, losses: np.ndarray, decades: float = WINDOW_DECADES) -> float | np.ndarray:
    """The loss a sweep starts from: the median raw loss over its first `decades` of rate.

    Robust to a lucky or unlucky first batch, which the EMA's first value (the first loss itself)
    is not. Of a 2-D array of curves over the same rates, one per row: an array of their levels.

    Example:
        >>> start_level(np.logspace(-7, -5, 9), np.array([0.2, 1.0, 1.1, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5]))
        1.0
        >>> start_level(np.logspace(-7, -5, 3), np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), 1.0).tolist()
        [1.5, 4.5]
    """
    x = np.log10(np.asarray(lrs, dtype=np.float64))
    losses = np.asarray(losses, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # the mean of two near-overflow middle losses is inf
        level = np.median(losses[..., x <= x[0] + decades], axis=-1)
    return float(level) if losses.ndim == 1 else level


# The noise floor of the divergence rule: the mean change between consecutive losses over the first
# NOISE_STEPS steps after the first (a sweep's lowest rates, where the loss does not move yet: the
# batch-to-batch noise), measured once there are NOISE_LEAST changes, and how many times that a rise
# must also exceed to count as divergence. A sweep's best smoothed loss is counted from its step
# NOISE_LEAST on (0-based), once the smoothed loss averages as many losses as that first noise is
# measured on: a single batch far below the rest (a loss with heavy tails) is no level to blow up from.
NOISE_STEPS = 10
NOISE_LEAST = 3
NOISE_FACTOR = 3.0


def start_noise(losses: np.ndarray, steps: int = NOISE_STEPS) -> float:
    """The batch-to-batch noise of a sweep's loss: the mean absolute change between consecutive
    losses over its first `steps + 1`; inf where fewer than `NOISE_LEAST` changes were recorded
    (too few to tell the noise), or any is not finite.

    Example:
        >>> round(start_noise(np.array([1.0, 1.2, 1.1, 1.3, 1.2]), steps=3), 6)  # the changes 0.2, 0.1, 0.2
        0.166667
        >>> start_noise(np.array([1.0, 1.2, 1.1]))  # two changes: too few
        inf
    """
    changes = np.abs(np.diff(np.asarray(losses, dtype=np.float64)[: steps + 1]))
    if changes.size < min(NOISE_LEAST, steps) or not np.all(np.isfinite(changes)):
        return float("inf")
    return float(changes.mean())


def diverged(smoothed: float, best: float, diverge_factor: float, noise: float = 0.0) -> bool:
    """Whether `smoothed` has left the best smoothed loss so far by more than `diverge_factor`, and
    by more than `NOISE_FACTOR` times the loss's batch-to-batch `noise` (`start_noise`).

    For positive losses the first test is `smoothed > diverge_factor * best`. Losses that reach zero
    or below (custom objectives) use the same rule on the distance: `smoothed - best > (factor - 1)
    * |best|`. Near zero that distance is tiny: a loss that starts near 0 and can fall below it (a
    `CosineSimilarity`, from about 0 to -1; a negative log-likelihood) crossed it on noise alone,
    and a sweep stopped within its first steps. The rise must also stand out of the noise. On the
    suggestion benchmark's 1746 recorded sweeps that diverged, the noise floor moved no stop
    (`python benchmarks/suggestion_quality.py stops`).

    Example:
        >>> diverged(4.5, 1.0, 4.0), diverged(3.9, 1.0, 4.0)
        (True, False)
        >>> diverged(0.05, 0.01, 4.0), diverged(0.05, 0.01, 4.0, noise=0.05)  # within the noise
        (True, False)
    """
    rise = smoothed - best
    return bool(rise > (diverge_factor - 1.0) * abs(best) and rise > NOISE_FACTOR * noise)


def stop_index(losses: np.ndarray, smoothing: float = 0.98, diverge_factor: float = 4.0,
               noise: float | None = None, best_from: int | None = None) -> int | None:
    """Index of the step at which a sweep over `losses` stops, or None if it runs to the end.

    It stops at the first non-finite loss, or the first step whose smoothed loss diverged from the
    best smoothed loss so far (see `diverged`), its noise measured as the sweep goes, over its
    first `NOISE_STEPS` changes before that step (`start_noise` of the losses before it: a rise is
    judged against the noise before it, not by its own size; inf before the fifth step, so no
    sweep stops as diverged before it, though a NaN or inf loss stops it at any step), or given as
    `noise` (a run of refining takes its sweep's). A sweep's best counts from its fourth step
    (`NOISE_LEAST`), where the smoothed loss first averages four losses: two sweeps of a loss with
    heavy tails (a Poisson loss whose first batch's loss was 0.114 among losses of 0.72 to 1.11; a
    Gaussian NLL whose first was 13 among 24 to 40) blew up against their first batch alone, before
    their tenth step, at rates near 1e-7. A run of refining, whose `noise` is given, counts its best
    from its first step: it starts from a trained state at one rate, where a loss that rises from
    its first step on has diverged. `best_from` (0-based) replaces either (0: the rule as the
    suggestion benchmark's sweeps were recorded, `suggestion_quality.py stops`).

    Example:
        >>> stop_index(np.array([1.0, 1.1, 1.0, 1.1, 0.5, 3.0, 1.0]), smoothing=0.0)  # 2.5 up, the noise 0.1
        5
        >>> stop_index(np.array([0.1, 0.9, 1.1, 0.8, 1.0, 0.9, 1.1]), smoothing=0.0)  # a lucky first batch
        >>> stop_index(np.array([0.1, 0.9, 1.1, 0.8, 1.0, 0.9, 1.1]), smoothing=0.0, noise=0.0)  # a run's
        1
    """
    losses = np.asarray(losses, dtype=np.float64)
    smoothed = ema(losses, smoothing)
    if best_from is None:
        best_from = 0 if noise is not None else NOISE_LEAST
    best = np.inf
    for i, (loss, value) in enumerate(zip(losses, smoothed)):
        if not np.isfinite(loss):
            return i
        if i >= best_from:
            best = min(best, value)
        if diverged(value, best, diverge_factor, start_noise(losses[:i]) if noise is None else noise):
            return i
    return None
