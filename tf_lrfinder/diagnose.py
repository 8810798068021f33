"""When a sweep cannot be trusted: pure checks on a recorded sweep, no TensorFlow."""

from __future__ import annotations

import numpy as np

from .smoothing import WINDOW_DECADES, fully_smoothed, lag_free, lag_free_bottom, start_level

# How far the loss must fall, relative to where it starts, for the curve not to count as flat.
FLAT_DROP = 0.02
# And beyond the noise: the fall counts as noise where the same losses in a random order fall as far in
# at least NOISE_SHARE of ORDERS orders (`fall_in_noise`), and the lag-free window at the bottom holds
# at least NOISE_POINTS points (fewer average out no noise: a short sweep is not judged so).
NOISE_SHARE = 0.05
ORDERS = 200
NOISE_POINTS = 9
# A curve whose bottom lies below this share of its start level, and that stays below twice it up to
# `max_lr`, fits its batches all but exactly: a sweep that never diverged there is told so.
FLOOR_SHARE = 0.01


def _falls(lrs: np.ndarray, losses: np.ndarray, decades: float) -> np.ndarray:
    """How far each row of `losses` falls: its start level less the bottom of its lag-free curve
    (NaN where huge losses overflow)."""
    curve = lag_free(lrs, losses, decades)[:, fully_smoothed(lrs, decades)]
    return start_level(lrs, losses, decades) - np.where(np.isnan(curve), np.inf, curve).min(axis=1)


def fall_in_noise(lrs: np.ndarray, losses: np.ndarray, orders: int = ORDERS, seed: int = 0,
                  decades: float = WINDOW_DECADES, low: int | None = None) -> float:
    """How likely the fall the default rule reads is noise: the share of random orders of the same
    losses whose curve falls at least as far (a permutation test).

    The fall is the start level (`smoothing.start_level`) less the bottom of the lag-free curve
    (`smoothing.lag_free_bottom`), the two the flat test compares. The losses shuffled are those
    up to the end of the bottom's window (`decades` past it), all that the curve down to its bottom
    is read from (where the sweep blew up soon after, the first losses of the rise too). A loss
    that falls with the rate keeps its fall in few orders; one that only scatters
    (batches of unlike difficulty, a model that cannot learn from them) falls as far in many,
    its bottom a dip of that scatter. Seeded, so one sweep always gets one answer.

    Measured on the suggestion benchmark's 3000 recorded sweeps (`suggestion_quality.py warnings`):
    the 212 that fell more than 2% but at a share above `NOISE_SHARE` (62 tasks) score 0.629 on
    average for the sweep's own suggestion, against 0.963 for the sweeps warned of nothing (refined
    by default, 0.908 against 0.980 for the sweeps not flat).

    Args:
        lrs: the sweep's rates, positive and non-decreasing.
        losses: its raw losses, finite.
        orders: how many random orders to compare with.
        seed: seed of the random orders.
        decades: half-width of the lag-free window.
        low: the index of the lag-free curve's bottom, where the caller has it (`sweep_warnings`);
            None: found here (`smoothing.lag_free_bottom`).

    Returns:
        The share, in (0, 1], counting the sweep's own order among them: 1 / (orders + 1) at the
        least. NaN where it cannot tell: the window at the bottom holds fewer than `NOISE_POINTS`
        points, or huge losses overflow. A default sweep's holds about 19 (12.5 points a decade);
        one of 20 steps from 1e-7 to 10, about 4, whose curve then follows single batches: there,
        shuffles match a clear fall of three or four points often (in a test, 22 to 4.9 was matched
        by 15% of them).

    Example:
        >>> lrs = np.logspace(-7, 1, 100)
        >>> noise = np.random.default_rng(0).normal(0, 0.05, 100)
        >>> round(fall_in_noise(lrs, np.linspace(1.0, 0.8, 100) + noise), 3)  # a fall: few orders match it
        0.005
        >>> fall_in_noise(lrs, 1.0 + noise) > NOISE_SHARE  # scatter alone: many do
        True
    """
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    if low is None:
        _, low = lag_free_bottom(lrs, losses, decades)
    x = np.log10(lrs)
    end = int(np.searchsorted(x, x[low] + decades + 1e-9, "right"))
    if end - np.searchsorted(x, x[low] - decades - 1e-9, "left") < NOISE_POINTS:
        return float("nan")
    kept = losses[:end]
    shuffled = np.random.default_rng(seed).permuted(np.tile(kept, (orders, 1)), axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        falls = _falls(lrs[:end], np.vstack([kept, shuffled]), decades)
    if not np.isfinite(falls[0]):
        return float("nan")
    return float(np.mean(falls >= falls[0]))


def stopped_early(lrs: np.ndarray, n_steps: int, stop_reason: str) -> str | None:
    """What to tell of a sweep that stopped before a third of its `n_steps` (`lrs`, the rates it
    recorded; `stop_reason`, `"diverged"` or `"not_finite"`), too short to judge: where the loss
    turned NaN or inf, where to look; where it blew up, how to lower the range. None for a longer one.

    Example:
        >>> stopped_early(np.array([1e-7, 2e-7, 4e-7]), 100, "diverged")
        'The sweep stopped after 3 of 100 steps, the loss blowing up at a rate of 4e-07: too few points to judge the curve; lower `max_lr` to about ten times that rate, and `min_lr` to a hundredth of it or less, or raise `diverge_factor`.'
        >>> stopped_early(np.logspace(-7, 1, 40), 100, "diverged") is None
        True
    """
    if len(lrs) >= n_steps / 3:
        return None
    stopped = f"The sweep stopped after {len(lrs)} of {n_steps} steps"
    if stop_reason == "not_finite":
        where = f" at a rate of {lrs[-1]:.3g}" if len(lrs) else ""
        return (
            f"{stopped}, the loss NaN or inf{where}: too few points to judge the curve. Where the "
            "losses before were not rising, look for a log of 0 or a division by 0 in the model or loss "
            "(not the data: the finder checks each batch for NaN or inf values the model has not trained through "
            "before); else lower `max_lr`."
        )
    where, fix = "", "lower `max_lr`"
    if len(lrs):
        where = f", the loss blowing up at a rate of {lrs[-1]:.3g}"
        fix = "lower `max_lr` to about ten times that rate"
        if lrs[-1] < 10 * lrs[0]:  # within a decade of the start: the range begins too high as well
            fix += ", and `min_lr` to a hundredth of it or less"
    return f"{stopped}{where}: too few points to judge the curve; {fix}, or raise `diverge_factor`."


def sweep_warnings(lrs: np.ndarray, losses: np.ndarray, n_steps: int, stop_reason: str, cycled: bool,
                   index: int | None, lr: float | None = None, batches: int | None = None,
                   cap: float | None = None, bound: tuple[str, float, float] | None = None,
                   diverge_factor: float | None = None) -> list[str]:
    """Reasons not to trust a sweep, each a sentence that says what to do.

    The curve counts as flat when the bottom of its lag-free curve (where the default rule reads
    it) lies less than 2% below its start level (`smoothing.start_level`): both robust to a single
    lucky batch, unlike the EMA, whose first value is the first batch's loss. It counts as flat too
    where it falls further, but no further than the same losses in a random order fall in 5% of
    orders or more (`fall_in_noise`): a dip of the scatter between batches, not a fall with the rate.

    A sweep that ran to `max_lr` is told that the loss never diverged, and to raise `max_lr`,
    unless its lag-free curve rose back to its start level after the bottom (not counting the last
    point, a single batch): the loss then turned up at rates that leave the model worse than
    untrained, and only the EMA's lag (`smoothing`) kept it from stopping the sweep, so a higher
    `max_lr` would show nothing new. (Without that exception the warning fired on 1254 of the
    suggestion benchmark's 3000 sweeps; with it, on 362: `suggestion_quality.py warnings`.) Nor
    where the curve fell below 1% of its start level (`FLOOR_SHARE`) and stayed below 2% of it up
    to `max_lr`: the model fits its batches all but exactly there, the rates above the fall train
    them no better, and such a sweep is told that, and how to choose among those rates (36 of the
    362). A flat curve is told so either way.

    Total, as the suggestion rules are: any recorded sweep (empty, of one point, with losses of any
    sign or size, a NaN or inf last one) gets a list of sentences, never an error, a NumPy warning
    or a number printed as NaN (`tests/test_diagnose.py`, over random sweeps).

    Args:
        lrs: recorded learning rates.
        losses: recorded raw losses (a sweep's are finite up to its last step).
        n_steps: steps the sweep was asked for.
        stop_reason: `"completed"`, `"diverged"` or `"not_finite"`.
        cycled: whether the data ran out and was reused.
        index: index of the step the suggestion was read at, or None if there is none. At or below
            the first point the lag-free curve smooths fully (`smoothing.fully_smoothed`, 0.75
            decade into a default sweep), or in the last 5% of the points, it sits at the edge.
        lr: the suggested rate, if any; a rate below the sweep's first one was never tried.
        batches: batches in one pass over the data, where known (said where it was cycled).
        cap: the highest rate the optimizer applied at the sweep's last step, where it caps its rate
            (Adafactor: `rates.rate_cap`); below the last rate, a sweep that never diverged says
            so instead of asking for a higher `max_lr`, which would change nothing.
        bound: the loss's name, lowest and highest value, where it is bounded (`bounded.loss_range`),
            with the sweep's `diverge_factor`: where the sweep would count the loss diverged only
            above its start level (reckoned from the curve's bottom), a sweep that never diverged
            says so, instead of asking for a higher `max_lr`. An unbounded loss blows up at rates too
            high; a bounded one (a cosine similarity, a Dice overlap) stays within its bounds, near
            an untrained model's loss at worst, and may never get there. On a cosine-similarity loss
            that `fit` trains best from 0.01 to 1 (-0.99 to -1.0 after 6 epochs; -0.98 at 10), a
            default call returned 0.19, and with `max_lr=1000`, as the warning asked, 7.7.

    Example:
        >>> sweep_warnings(np.logspace(-3, 0, 10), np.linspace(1, .5, 10), 10, "completed", False, 5)
        ['The loss never diverged: the best rate may lie above `max_lr`=1; raise `max_lr`.']
        >>> sweep_warnings(np.logspace(-3, 0, 10), np.linspace(1, .5, 10), 10, "completed", False, 5, cap=0.1)[0][:63]
        'The loss never diverged, but the optimizer caps its rate at 0.1'
        >>> sweep_warnings(np.logspace(-3, 0, 10), 2.0 + np.arange(10) % 2 * 1e-3, 10, "diverged", False, 5)[0][:21]
        'The loss curve is fla'
        >>> sweep_warnings(np.logspace(-3, 0, 10), np.full(10, 2.0), 10, "completed", False, 5)[0][:54]
        'The loss is 2 at every step of the sweep, bit for bit,'
        >>> cosine = ("CosineSimilarity", -1.0, 1.0)
        >>> sweep_warnings(np.logspace(-3, 0, 10), np.linspace(0, -.9, 10), 10, "completed", False, 5, bound=cosine,
        ...                diverge_factor=4.0)[0][:73]
        'The loss never diverged up to `max_lr`=1, and may never: CosineSimilarity'
    """
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    usable = np.flatnonzero(np.isfinite(losses) & (lrs > 0))
    flat = turned_up = floored = noisy = constant = False
    if len(usable) >= 2:
        x, y = lrs[usable], losses[usable]
        # The same number at every step, bit for bit: no loss that training moves (a metric the step never
        # updates, or outputs that do not depend on the weights), whose flat curve no wider range would move.
        constant = len(usable) >= 3 and bool(np.all(y == y[0]))
        curve, low = lag_free_bottom(x, y)
        start = start_level(x, y)
        with np.errstate(invalid="ignore"):  # losses near overflow: inf - inf is no fall (a flat curve)
            flat = not start - curve[low] > FLAT_DROP * abs(start)
        if not flat:  # fell more than 2%: further than the same losses in random orders fall?
            share = fall_in_noise(x, y, low=low)
            noisy = flat = share > NOISE_SHARE  # NaN, where it cannot tell: not flat
        # Fell to all but nothing and stayed there (the single last batch included): a loss of 0 has no
        # gradient to blow up, and a higher `max_lr` finds no lower loss.
        floored = bool(0 < start < np.inf and 0 <= curve[low] < FLOOR_SHARE * start
                       and np.all(curve[low:] < 2 * FLOOR_SHARE * start))
        # Back up to where it started (NaN from an overflow counts; the last point, one batch, does not):
        # the sweep reached rates that leave the model worse than untrained, though the EMA's lag kept it
        # from stopping the sweep, so a higher `max_lr` would show nothing new.
        turned_up = bool(np.any(~(curve[low:-1] < start)))
    out = []
    if stop_reason == "completed" and len(lrs) and not constant:  # ran to `max_lr` (none recorded: nothing to judge)
        if cap is not None and cap < lrs[-1]:
            out.append(f"The loss never diverged, but the optimizer caps its rate at {cap:.3g} by the sweep's last "
                       "step (Adafactor applies at most 1/sqrt(its step count)): above it the sweep trained at the "
                       "cap, not at the rates the curve shows, and a higher `max_lr` would change nothing.")
        elif floored:
            out.append(f"The loss never diverged, but it fell to {curve[low]:.3g}, under 1% of where it started "
                       f"({start:.3g}), and stayed there up to `max_lr`={lrs[-1]:g}: the model fits these batches "
                       "all but exactly, so the rates above the fall train them no better, and a higher `max_lr` "
                       "would only look for where training turns unstable. On data this easy, how a rate does on "
                       "other data decides: refining measures its runs on data given as `validation_data` (or "
                       "`validation_split`).")
        elif (flat or not turned_up) and bound is not None and diverge_factor is not None and len(usable) >= 2 and (
                (past := curve[low] + (diverge_factor - 1) * abs(curve[low])) > start):
            name, lowest, highest = bound
            out.append(f"The loss never diverged up to `max_lr`={lrs[-1]:g}, and may never: {name} stays between "
                       f"{lowest:g} and {highest:g}, and the sweep counts it diverged only past "
                       f"{past:.3g} (from its bottom, {curve[low]:.3g}, "
                       f"and `diverge_factor`={diverge_factor:g}), worse than where it started ({start:.3g}), where a "
                       "bounded loss need not go at any rate. A higher `max_lr` may not stop the sweep either, and "
                       "can move the suggestion to rates that train worse; refining's short runs (`refine=True`, "
                       "the default) judge the rates near it.")
        elif flat or not turned_up:
            out.append(f"The loss never diverged: the best rate may lie above `max_lr`={lrs[-1]:g}; raise `max_lr`.")
    early = stopped_early(lrs, n_steps, stop_reason)
    if early is not None:
        out.append(early)
    if cycled:
        size = f" after {batches} batches" if batches else ""
        out.append(f"The data ran out and was cycled{size}: later steps saw batches again. Pass more data if "
                   "there is more; on a small data set, which training sees many times over too, this is expected.")
    if constant:
        out.append(f"The loss is {y[0]:.6g} at every step of the sweep, bit for bit, from a rate of {x[0]:.3g} to "
                   f"{x[-1]:.3g}: it does not follow the training, and the suggestion means nothing. Where the "
                   "model's own `train_step` trains, what it returns as the loss is likely a metric it never "
                   "updates (a step written for tf.keras 2 that returns `{m.name: m.result() for m in "
                   "self.metrics}` after `self.compiled_loss(...)`, which on Keras 3 updates no metric: return "
                   "the loss itself); else the loss does not depend on the weights it trains (check what is "
                   "frozen, and that the loss reads the model's outputs).")
    elif noisy:
        out.append(f"The loss curve is flat: it fell from {start:.3g} to {curve[low]:.3g}, but the same losses in "
                   f"a random order fall as far {share:.0%} of the time, so the fall is the noise between "
                   "batches, and the suggestion a guess. More steps (`n_steps`) or larger batches average more "
                   "batches at each rate; else check the model, the data and the loss.")
    elif flat:
        out.append("The loss curve is flat: it never fell by more than 2%; the suggestion is a guess. "
                   "Check the model, the data and the loss, or widen the range.")
    if index is not None and len(usable) >= 3:
        edge = max(1, len(usable) // 20)
        first_smoothed = usable[np.argmax(fully_smoothed(lrs[usable]))]
        low_edge = max(usable[edge - 1], first_smoothed)
        if index <= low_edge or index >= usable[-edge] or (lr is not None and lr < lrs[0]):
            out.append(
                "The suggestion sits at the edge of the usable points (or below the first rate tried): "
                "the range may be too narrow; widen `min_lr`/`max_lr`."
            )
    return out
