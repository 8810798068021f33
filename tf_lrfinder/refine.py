"""Checking a sweep's reading by training: candidate rates and the choice among them. Pure numpy.

A range test passes each rate for a step or two, so where its curve bottoms says where training
turns unstable, not which constant rate trains best; Smith's "a quarter of the bottom" is a rule
of thumb, and how far below the bottom the best rate lies varies from model to model (in the
suggestion benchmark from 100 times below to 7 times above). `LRFinder.refine` trains a few short
runs at constant rates spaced by factors of 2 up to the bottom, each from the same restored state,
measures the loss of each on the same held-back batches, and keeps the lowest rate that does
about as well as the best (`choose`: within 5% of the best improvement, or within the runs' own
`noise` where that is more); while that is the highest rate tried, it goes on at twice
the rate (`extension`), and while the lowest rate tried is the only one that does about as well,
at half the rate (`below`), as it does while every run diverged. While no run has lowered the
loss by `LEAST_GAIN` (a plateau where the runs cannot rank the rates), it goes up eight times at a
time instead (`leap`), and where that lands past the edge, it finds the edge to within a factor
of 2 (`narrow`). The rate kept stays `MARGIN` times below any rate whose run diverged, ended
worse than it started above a rate that trained, or gave up more than half the best run's gain
above the best rate (`short_of_divergence`, `failed`).
Optionally (`tie_steps`), the runs that do about as well as the best (`tied`) are run again for
longer, and the choice among them is made on those runs (`break_tie`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

FACTORS = (1 / 8, 1 / 4, 1 / 2, 1.0)  # candidates, as multiples of the bottom of the sweep's curve
TOLERANCE = 0.05  # share of the best improvement that a lower rate may give up and still be kept
STEPS = 100  # training steps per run
EVAL_BATCHES = 8  # batches held back from the start of the data to measure the runs
MARGIN = 8.0  # the rate kept stays this many times below the lowest rate whose run diverged
GIVE_UP = 0.5  # a run above the best rate that gave up more than this share of the best gain `failed`
TIE_STEPS = 0  # steps of the runs that tell tied rates apart (0: none; `break_tie`)
LEAST_GAIN = 0.10  # the best run must lower the loss by this share of it for the runs to rank rates (`barely_trained_warning`)
LEAP = 8.0  # while no run has trained the model (`LEAST_GAIN`), the search jumps this many times higher (`leap`)
STILL = 1e-4  # a run whose loss ended within this share of the start, above it, did not move the model (`leap`)
EDGE = True  # where no run failed, one more at twice the highest rate, to find the edge (`edge_rate`)
EXTEND = 10  # runs beyond the candidates at most (twice the highest or half the lowest, while it wins, or a leap):
# a guard on cost, not a limit the search is meant to meet (it stops where a step no longer wins, a
# run diverges, or it leaves the rates the sweep passed; on the benchmark 10 of 2090 calls reached it
# before the leap came first, all where the sweep read the bottom at 7e-5 or less)


@dataclass(frozen=True)
class Trials:
    """Short constant-rate runs and the rate chosen from them.

    Attributes:
        lrs: the rates tried, increasing: the candidates and any tried above or below them.
        losses: each run's loss on the held-back batches afterwards (inf where it diverged).
        start_loss: the loss on those batches before any run.
        steps: training steps per run.
        lr: the chosen rate (`choose`, then `short_of_divergence`).
        warnings: why the chosen rate may not be trusted (also emitted as `UserWarning`): every
            run diverged, the runs' losses jumped by more than the tolerance (`noise_warning`), or
            even the best run barely lowered the loss (`barely_trained_warning`). Where
            `LRFinder.refine` was called alone, first what it warned of the setup before the runs
            (logits given to a loss that expects probabilities, batches sorted by class or in
            order of their targets); a call's are in `finder.warnings`.
        tolerance: the tolerance the choice was made with (`choose`).
        bn_layers: how many BatchNormalization layers had their moving statistics re-estimated on
            the held-back batches before each loss was measured (`tf_lrfinder.batchnorm.update_bn`;
            0: the model has none, or `update_bn=False`).
        margin: the margin the rate kept was held below failed runs with (`short_of_divergence`).
        tie_steps: steps of the runs that told the tied rates apart (0: none ran; `break_tie`).
        tie_lrs: the tied rates run again for `tie_steps` steps, increasing (`tied`; none where
            fewer than two tied).
        tie_losses: those runs' losses on the held-back batches (inf where one diverged).
        validation: whether the losses were measured on `validation_data` instead of batches held
            back from the training data.
        samples: how many samples each loss was measured on (0: not recorded).

    Example:
        >>> t = Trials((0.01, 0.02, 0.04, 0.08), (0.6, 0.33, 0.3, float("inf")), 1.0, 100, 0.01)
        >>> print(t.summary())
        4 runs of 100 steps at constant rates, each from the same state.
        Loss on the held-back batches before them: 1.
              rate        loss
              0.01         0.6  <- kept
              0.02        0.33  about as good as the best
              0.04         0.3  best
              0.08         inf  diverged
        About as good as the best: a loss of at most 0.335, within 5% of the best run's gain (0.7).
        Kept 0.01: 8 times below 0.08, the lowest rate whose run failed (a longer training turns
        unstable at lower rates than a short run); the lowest rate that did about as well is 0.02.
    """

    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    start_loss: float
    steps: int
    lr: float
    warnings: tuple[str, ...] = ()
    tolerance: float = TOLERANCE
    bn_layers: int = 0
    margin: float = MARGIN
    tie_steps: int = 0
    tie_lrs: tuple[float, ...] = ()
    tie_losses: tuple[float, ...] = ()
    validation: bool = False
    samples: int = 0

    @property
    def measured_on(self) -> str:
        """The batches the losses were measured on, in words: "validation" or "held-back"."""
        return "validation" if self.validation else "held-back"

    def summary(self) -> str:
        """The runs and why the rate kept was kept, as text: what `plot_trials` draws, in words.

        One line per run (its rate, its loss, and its part in the choice: the best, about as good
        as the best, diverged, or thrown off and counted as diverged), the threshold of "about as
        good", the rate kept and the rule that kept it, and any warnings. See the class example.
        """
        lrs, losses = np.asarray(self.lrs, dtype=np.float64), np.asarray(self.losses, dtype=np.float64)
        start = self.start_loss
        limit = threshold(losses, start, self.tolerance)
        bad = failed(lrs, losses, start)
        best = _best(losses)
        lines = [f"{len(lrs)} runs of {self.steps} steps at constant rates, each from the same state.",
                 f"Loss on the {self.measured_on} batches before them"
                 + (f" ({self.samples} samples)" if self.samples else "") + f": {start:.4g}.",
                 f"{'rate':>10}  {'loss':>10}"]
        lines += self._run_lines(lrs, losses, bad)
        if limit is None:
            lines.append(f"No run has a finite loss. Kept {self.lr:.3g}: the sweep's reading, or the lowest "
                         f"diverged rate over {self.margin:g} where that is less.")
        else:
            gain, jump = _gain(start, best), noise(losses)
            why = (f"within the runs' noise ({jump:.3g}: a higher rate ended that much above a lower one "
                   f"before the best), more than {self.tolerance:.0%} of the best run's gain ({gain:.3g})"
                   if jump > self.tolerance * gain else
                   f"within {self.tolerance:.0%} of the best run's gain ({gain:.3g})")
            lines.append(f"About as good as the best: a loss of at most {limit:.4g}, {why}.")
            lowest = float(lrs[_qualifying(losses, start, self.tolerance)][0])
            if self.tie_lrs:
                lines += self._tie_lines(lrs[bad])
            elif self.lr == lowest:
                lines.append(f"Kept {self.lr:.3g}: the lowest of those rates, the safer for a longer training.")
            elif self.lr > lowest or not bad.any():  # not a choice `LRFinder.refine` makes: only say what it is
                lines.append(f"Kept {self.lr:.3g}.")
            else:
                lines += [f"Kept {self.lr:.3g}: {self.margin:g} times below {lrs[bad].min():.3g}, the lowest rate "
                          "whose run failed (a longer training turns",
                          f"unstable at lower rates than a short run); the lowest rate that did about as well is "
                          f"{lowest:.3g}."]
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _run_lines(self, lrs: np.ndarray, losses: np.ndarray, bad: np.ndarray) -> list[str]:
        """One line per run: its rate, its loss and its part in the choice (`bad`: which `failed`)."""
        start, best, limit = self.start_loss, _best(losses), threshold(losses, self.start_loss, self.tolerance)
        lines = []
        for rate, loss, thrown in zip(lrs, losses, bad):
            if not np.isfinite(loss):
                part = "diverged"
            elif thrown:
                part = ("ended no lower than it started" if loss >= start else
                        f"gave up more than {GIVE_UP:.0%} of the best run's gain") + ": counts as diverged"
            elif loss == best:
                part = "best"
            else:
                part = "about as good as the best" if limit is not None and loss <= limit else ""
            notes = [part] if part else []
            notes += ["<- kept"] if rate == self.lr else []
            lines.append("  ".join([f"{rate:>10.3g}", f"{loss:>10.4g}"] + notes))
        return lines

    def _tie_lines(self, short_failed: np.ndarray) -> list[str]:
        """`summary`'s account of the runs that told the tied rates apart and of the rate kept
        (`short_failed`: the rates whose short runs failed)."""
        lrs, losses = np.asarray(self.tie_lrs, dtype=np.float64), np.asarray(self.tie_losses, dtype=np.float64)
        thrown = failed(lrs, losses, self.start_loss)
        lines = [f"Those {len(lrs)} rates, each run again for {self.tie_steps} steps to tell them apart:"]
        lines += self._run_lines(lrs, losses, thrown)
        bad = np.concatenate([lrs[thrown], short_failed])
        if self.lr in self.tie_lrs:
            lines.append(f"Kept {self.lr:.3g}: the lowest rate that did about as well as the best over "
                         f"{self.tie_steps} steps.")
        elif bad.size and np.isclose(self.lr, bad.min() / self.margin, rtol=1e-9):
            lines.append(f"Kept {self.lr:.3g}: {self.margin:g} times below {bad.min():.3g}, the lowest rate whose "
                         "run failed.")
        else:  # not a choice `LRFinder.refine` makes: only say what it is
            lines.append(f"Kept {self.lr:.3g}.")
        return lines


def candidates(bottom: float, factors: tuple[float, ...] = FACTORS) -> np.ndarray:
    """The rates to try: `bottom` times each factor, increasing.

    Args:
        bottom: where the sweep's loss stops falling (`suggest.lr_range`'s `max_lr`).
        factors: positive multiples of `bottom`.

    Raises:
        ValueError: `bottom` or a factor is not positive and finite, or `factors` is empty.

    Example:
        >>> candidates(0.4).tolist()
        [0.05, 0.1, 0.2, 0.4]
    """
    try:
        f = np.asarray(factors, dtype=np.float64)
    except (TypeError, ValueError):  # strings, None, nested sequences of other lengths
        f = np.empty((0,))
    if isinstance(factors, (str, bytes)) or f.ndim != 1 or f.size == 0 or not np.all(np.isfinite(f) & (f > 0)):
        raise ValueError(f"`factors` must be a non-empty sequence of positive numbers. Received: {factors=}")
    if not (np.isfinite(bottom) and bottom > 0):
        raise ValueError(f"`bottom` must be a positive, finite rate. Received: {bottom=}")
    return np.unique(bottom * f)


def choose(lrs: np.ndarray, losses: np.ndarray, start_loss: float, tolerance: float = TOLERANCE) -> int | None:
    """Index of the lowest rate whose loss is within `tolerance` of the best improvement (or the noise).

    With `best` the lowest finite loss, a run qualifies when `loss <= best + max(tolerance *
    (start_loss - best), noise(losses))`: it gives up at most that share of what the best run
    gained, or no more than the runs' losses are seen to jump by chance (`noise`), since runs that
    differ by less cannot be told apart. Among runs that do about as well, the lowest rate is the
    safer choice for a longer run than the trials (it is further from instability) and, on the
    benchmark's small data sets, overfits less. A run whose loss is not finite (it diverged) never
    qualifies.

    The noise term matters where single runs are erratic: there a lucky run at a high rate could
    end lowest by chance, and the 5% alone would keep it. It was added when the benchmark's
    BatchNorm CNNs were measured with their lagging moving averages (one sweep's runs ended at
    0.88, 1.78, 0.80 and 0.55 from 0.0078 to 0.0625); measured with the statistics re-estimated
    (`tf_lrfinder.batchnorm.update_bn`, as `LRFinder.refine` does) their runs fall steadily, and on
    the benchmark it no longer changes a choice. Where the losses fall steadily up to the best,
    the noise is 0 and nothing changes.

    Args:
        lrs: the candidate rates, increasing.
        losses: each run's loss afterwards (NaN or inf where it diverged).
        start_loss: the loss before any run. If no run improved on it, the tolerance is 0 and the
            lowest loss wins.
        tolerance: in [0, 1) (default 0.05).

    Returns:
        The index into `lrs`, or None when no run has a finite loss.

    Raises:
        ValueError: mismatched or empty arrays, or `tolerance` outside [0, 1).

    Example:
        >>> choose(np.array([.1, .2, .4, .8]), np.array([.50, .31, .30, np.inf]), start_loss=1.0)
        1
        >>> choose(np.array([.1, .2, .4, .8]), np.array([.50, .40, .60, .30]), 1.0)  # noise .2
        1
        >>> choose(np.array([.1, .2]), np.array([np.nan, np.inf]), 1.0) is None
        True
    """
    lrs, losses = _checked(lrs, losses, tolerance)
    qualifies = _qualifying(losses, start_loss, tolerance)
    return int(np.flatnonzero(qualifies)[0]) if qualifies.any() else None


def _checked(lrs: np.ndarray, losses: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """`lrs` and `losses` as float arrays, after checking them and `tolerance` (as `choose` documents)."""
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    if lrs.ndim != 1 or lrs.shape != losses.shape or lrs.size == 0:
        raise ValueError(f"`lrs` and `losses` must be non-empty 1-D arrays of the same length. Received: "
                         f"lrs.shape={lrs.shape}, losses.shape={losses.shape}")
    if not 0 <= tolerance < 1:
        raise ValueError(f"`tolerance` must be in [0, 1). Received: {tolerance=}")
    return lrs, losses


def _qualifying(losses: np.ndarray, start_loss: float, tolerance: float) -> np.ndarray:
    """Which runs are within `tolerance` of the best improvement, or the noise (none if no loss is finite)."""
    limit = threshold(losses, start_loss, tolerance)
    return np.isfinite(losses) & (losses <= limit) if limit is not None else np.zeros(losses.shape, bool)


def threshold(losses: np.ndarray, start_loss: float, tolerance: float = TOLERANCE) -> float | None:
    """The loss at or below which a run does about as well as the best (as `choose` reads it).

    `best + max(tolerance * (start_loss - best), noise(losses))`, with `best` the lowest finite loss.

    Args:
        losses: the runs' losses in order of increasing rate (NaN or inf where one diverged).
        start_loss: the loss before any run.
        tolerance: as for `choose`.

    Returns:
        The threshold, or None when no loss is finite.

    Example:
        >>> round(threshold(np.array([.50, .31, .30, np.inf]), start_loss=1.0), 3)  # .30 + 5% of .70
        0.335
    """
    best = _best(losses)
    return None if best is None else best + max(tolerance * _gain(start_loss, best), noise(losses))


def _best(losses: np.ndarray) -> float | None:
    """The lowest finite loss, or None when none is finite."""
    losses = np.asarray(losses, dtype=np.float64)
    finite = np.isfinite(losses)
    return float(losses[finite].min()) if finite.any() else None


def _gain(start_loss: float, best: float) -> float:
    """What the best run gained on the start loss (0 if it gained nothing or the start is not finite)."""
    return start_loss - best if np.isfinite(start_loss) and start_loss > best else 0.0


def noise(losses: np.ndarray) -> float:
    """How far the runs' losses rose with the rate before the best run: a measure of their noise.

    Up to its best rate, a run's loss after a fixed number of steps falls as the rate grows (each
    step goes further); where a higher rate ended above a lower one before the best, chance (the
    run's luck, or instability setting in) moved the losses by at least that much, so runs that
    differ by less cannot be told apart. Diverged runs are left out (`short_of_divergence` keeps
    clear of them).

    Args:
        losses: the runs' losses in order of increasing rate (NaN or inf where one diverged).

    Returns:
        The largest rise from the lowest loss so far to a later one, among the finite losses up to
        the lowest; 0.0 when they fall steadily or none is finite.

    Example:
        >>> noise(np.array([0.9, 0.6, 0.5, 0.7]))  # falls to the best, then rises: no noise
        0.0
        >>> round(noise(np.array([0.9, 0.5, 0.8, 0.4, 0.7])), 2)  # .5 then .8, before the best .4
        0.3
    """
    x = np.asarray(losses, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 0.0
    x = x[:int(np.argmin(x)) + 1]
    return float(np.max(x - np.minimum.accumulate(x)))


def noise_warning(losses: np.ndarray, start_loss: float, lr: float, tolerance: float = TOLERANCE) -> str | None:
    """A warning when the runs' `noise`, not `tolerance`, decided which runs do about as well; else None.

    Then a run at a higher rate ended well above one at a lower rate before the best run, so single
    runs cannot rank the rates finely, and the rate kept (the lowest within that jump of the best,
    or less) is a cautious guess. On the benchmark it warns in 34 of 3000 calls, on 24 of 300 tasks
    (with `edge_rate`; 10 of 1810, on 7 of 181 tasks, before it; 19 of 1030, on 10 tasks, 7 with
    BatchNormalization, before the runs were measured with BatchNorm's statistics re-estimated).

    Args:
        losses: the runs' losses in order of increasing rate (NaN or inf where one diverged).
        start_loss: the loss before any run.
        lr: the rate kept.
        tolerance: as for `choose`.

    Example:
        >>> noise_warning(np.array([.8, .4, .6, .35]), 1.0, lr=0.2)[:46]
        "The short runs' losses jumped by 0.2 between r"
        >>> noise_warning(np.array([.8, .4, .39, .35]), 1.0, lr=0.8) is None  # falling steadily
        True
    """
    best = _best(losses)
    if best is None:
        return None
    gain, jump = _gain(start_loss, best), noise(losses)
    if jump <= tolerance * gain:
        return None
    return (f"The short runs' losses jumped by {jump:.3g} between rates before the best run (more than "
            f"{tolerance:.0%} of its gain, {gain:.3g}): single runs cannot rank these rates finely, and the "
            f"rate kept, {lr:.3g}, is a cautious guess (`plot_trials()` shows the runs).")


def barely_trained_warning(losses: np.ndarray, start_loss: float, lr: float,
                           least: float = LEAST_GAIN) -> str | None:
    """A warning when even the best run lowered the loss by less than `least` of it; else None.

    Then runs this short barely train the model at any rate, and what tells them apart is mostly
    chance, so the rate kept is a guess. Found on the benchmark: a deep tanh MLP trained with
    plain SGD on Hastie's data, whose runs ended between 0.68 and 0.70 from 0.70 at every rate
    while over its 300-step budget 0.25 trains best; it is the benchmark's worst task (0.651),
    and refining kept from 0.0007 to 0.3 in its ten calls. Its best runs took off 0.2%-11% of
    the loss, every other task's at least 20% (1950 calls, 195 tasks, with the edge run), and
    the threshold was put between, at 15%. On the next seven tasks it also fired on a call of a
    logistic regression that started nearly trained (10.8%; the task scores 0.995), so, as
    stated before they were run, it was lowered to 10%. On all 209 tasks (2090 calls) it warns
    on 16 calls, all of deep MLPs with plain SGD among the benchmark's four worst tasks (a
    sigmoid one on breast-cancer data and tanh ones on Hastie's and on quantile data); on all 300
    (3000 calls), on 74, all of deep MLPs with tanh or sigmoid units and SGD (plain, or momentum
    on one task). A loss that barely moves at any rate is a plateau the model leaves only later
    (saturated units, a poor initialisation) or a model already trained; longer runs may tell the
    rates apart.

    Args:
        losses: the runs' losses (NaN or inf where one diverged).
        start_loss: the loss before any run.
        lr: the rate kept.
        least: the share of `start_loss` (by magnitude) the best run must take off (default 0.10).

    Returns:
        The warning, or None: the best run lowered the loss by at least that share, no run has a
        finite loss (another warning says so), or the start loss is 0 or not finite (no scale).

    Raises:
        ValueError: `least` outside (0, 1).

    Example:
        >>> barely_trained_warning(np.array([.70, .69, .68]), start_loss=0.70, lr=0.1).split(";")[0]
        'The best short run lowered the loss by only 2.9% (0.7 to 0.68'
        >>> barely_trained_warning(np.array([.9, .5, .4]), start_loss=1.0, lr=0.1) is None
        True
    """
    if isinstance(least, bool) or not isinstance(least, (int, float, np.floating)) or not 0 < least < 1:
        raise ValueError(f"`least` must be a share of the loss in (0, 1). Received: {least=}")
    best = _best(losses)
    if best is None or not np.isfinite(start_loss) or start_loss == 0:
        return None
    share = (start_loss - best) / abs(start_loss)
    if share >= least:
        return None
    change = f"lowered the loss by only {share:.1%}" if share > 0 else "did not lower the loss"
    return (f"The best short run {change} ({start_loss:.4g} to {best:.4g}; less than "
            f"{least:.0%}): runs this short barely train the model at any rate, so they cannot rank the rates, "
            f"and the rate kept, {lr:.3g}, is a guess. Longer runs may tell them apart (`refine(dataset, "
            f"steps=...)` with as many steps as you will train); a loss that no rate moves can also mean a "
            f"plateau the model leaves later, or a model already trained.")


def extension(lrs: np.ndarray, losses: np.ndarray, start_loss: float, limit: float,
              tolerance: float = TOLERANCE) -> float | None:
    """The next rate to try above the candidates, or None: the search is over.

    When `choose` keeps the highest rate tried, every lower rate gave up more than `tolerance` of
    the best improvement (and more than the runs' `noise`): the loss was still falling with the
    rate, and the best rate may lie above. Then the search goes on at twice that rate, as long as
    it is not above `limit` (the highest rate the sweep reached: above it nothing was seen). A run
    that diverged is never chosen, so a divergence ends the search.

    Args:
        lrs: the rates tried, increasing.
        losses: each run's loss (NaN or inf where it diverged).
        start_loss: the loss before any run.
        limit: the highest rate to try.
        tolerance: as for `choose`.

    Returns:
        `2 * lrs[-1]`, or None.

    Example:
        >>> extension(np.array([.1, .2]), np.array([.9, .5]), start_loss=1.0, limit=1.0)
        0.4
        >>> extension(np.array([.1, .2]), np.array([.5, .51]), 1.0, limit=1.0) is None  # .1 kept
        True
        >>> extension(np.array([.1, .2]), np.array([.9, .5]), 1.0, limit=0.3) is None  # above the sweep
        True
    """
    i = choose(lrs, losses, start_loss, tolerance)
    if i is None or i != len(lrs) - 1 or not 2 * lrs[-1] <= limit:
        return None
    return float(2 * lrs[-1])


def below(lrs: np.ndarray, losses: np.ndarray, start_loss: float, limit: float,
          tolerance: float = TOLERANCE) -> float | None:
    """The next rate to try below the candidates, or None: the search is over.

    The mirror of `extension`. When the lowest rate tried is the only run within `tolerance` of
    the best improvement (every higher rate gave up more, or diverged; its loss is then the lowest,
    so the runs' `noise` is 0), the loss was still falling as the rate fell, and the best rate may
    lie below: the sweep read the bottom too high, as it does when its loss rises too slowly to
    stop it (a model with BatchNormalization, say). Then the search goes on at half that rate, as
    long as it is not below `limit` (the lowest rate the sweep tried). A lower run that does about
    as well ends the search, and `choose` keeps it. When every run diverged, the stable rates lie
    below them all, so the search goes on at half the lowest too (on the benchmark a BatchNorm
    MLP's sweep once read the bottom at 1.6 and every candidate, from 0.19 up, diverged, while its
    best rate is 0.016).

    Args:
        lrs: the rates tried, increasing (with one, only if it diverged: else there is nothing to
            compare).
        losses: each run's loss (NaN or inf where it diverged).
        start_loss: the loss before any run.
        limit: the lowest rate to try.
        tolerance: as for `choose`.

    Returns:
        `lrs[0] / 2`, or None.

    Example:
        >>> below(np.array([.1, .2]), np.array([.5, .9]), start_loss=1.0, limit=1e-7)
        0.05
        >>> below(np.array([.1, .2]), np.array([.5, .51]), 1.0, limit=1e-7) is None  # .2 does as well
        True
        >>> below(np.array([.1, .2]), np.array([.5, np.inf]), 1.0, limit=0.06) is None  # below the sweep
        True
        >>> below(np.array([.1, .2]), np.array([np.inf, np.nan]), 1.0, limit=1e-7)  # every run diverged
        0.05
    """
    lrs, losses = _checked(lrs, losses, tolerance)
    if not lrs[0] / 2 >= limit:
        return None
    qualifies = _qualifying(losses, start_loss, tolerance)
    every_run_diverged = not qualifies.any()
    only_the_lowest = len(lrs) > 1 and qualifies[0] and not qualifies[1:].any()
    return float(lrs[0] / 2) if every_run_diverged or only_the_lowest else None


def leap(lrs: np.ndarray, losses: np.ndarray, start_loss: float, limit: float,
         least: float = LEAST_GAIN, factor: float = LEAP) -> float | None:
    """The next rate when no run has trained the model yet: `factor` times the highest; or None.

    When even the best run lowered the loss by less than `least` of it (`barely_trained_warning`),
    every rate tried sits on a plateau where these runs barely move the loss. There `extension`
    crawls (each doubling wins by a hair, so it runs out of runs while still far below the rates
    that train) or stops on noise, and `below` goes down to rates that train less still. Found on
    the benchmark's thirty-fifth and thirty-sixth batches: deep tanh and sigmoid MLPs trained with
    plain SGD whose sweeps in some seeds read the bottom from 9 to over a million times below the
    rate that trains best (0.16-1.6), and whose runs there took off 0.1%-2.3% of the loss. Then `next_rate`
    goes up `factor` (the candidates' span) at a time instead, while the highest run ended finite
    and lower than the start (a run that diverged or ended worse has found the edge, which
    `narrow` then locates to within a factor of 2), up to `limit` (the highest rate the sweep
    reached). Where a run has lowered the loss by `least` or more, the runs rank the rates and the
    search goes on as before.

    Where no run ended lower than the start, a highest run that ended above it by at most `STILL`
    (0.01%) of it counts as lower: none moved the model, so none found an edge (as `failed` counts
    no run thrown off there). That happens where a flat sweep is read at rates far too small to
    train (a masked LSTM swept over 40 steps, read at 7e-7, whose runs ended 1e-6 above the start),
    and without it the search kept the lowest of those rates. On the benchmark's recorded runs the
    highest run ended within 0.01% above the start only where another run ended lower (a deep tanh
    MLP on circles), so no search there changes (replayed: the same next rate in every state).

    Args:
        lrs: the rates tried, increasing.
        losses: each run's loss (NaN or inf where it diverged).
        start_loss: the loss before any run.
        limit: the highest rate to try.
        least: as for `barely_trained_warning`.
        factor: how many times the highest rate the next one is (more than 1).

    Returns:
        `min(factor * lrs[-1], limit)`, or None: a run lowered the loss by `least` of it or more,
        the highest run diverged or ended no lower than the start, twice the highest rate is above
        `limit`, or the start loss is 0 or not finite.

    Example:
        >>> leap(np.array([1e-4, 2e-4]), np.array([.698, .697]), start_loss=0.7, limit=10.0)
        0.0016
        >>> leap(np.array([1e-4, 2e-4]), np.array([.698, .5]), 0.7, limit=10.0) is None  # 2e-4 trains
        True
        >>> leap(np.array([1e-4, 2e-4]), np.array([.698, np.inf]), 0.7, limit=10.0) is None  # the edge
        True
        >>> leap(np.array([1e-2, 2e-2]), np.array([.698, .697]), 0.7, limit=0.1)  # up to the sweep's top
        0.1
        >>> leap(np.array([1e-7, 2e-7]), np.array([.7000001, .7000002]), 0.7, limit=10.0)  # did not move
        1.6e-06
        >>> leap(np.array([1e-4, 2e-4]), np.array([.7001, .7002]), 0.7, limit=10.0) is None  # went up
        True
    """
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    if lrs.size == 0 or not np.isfinite(losses[-1]) or not 2 * lrs[-1] <= limit:
        return None
    still = not np.any(losses < start_loss) and losses[-1] <= start_loss + STILL * abs(start_loss)
    if not (losses[-1] < start_loss or still):
        return None
    if barely_trained_warning(losses, start_loss, lr=float(lrs[-1]), least=least) is None:
        return None
    return float(min(factor * lrs[-1], limit))


def narrow(lrs: np.ndarray, losses: np.ndarray, start_loss: float) -> float | None:
    """After a leap past the edge: twice the highest rate whose run did not fail; or None.

    The rate kept stays `MARGIN` times below the lowest rate whose run `failed`
    (`short_of_divergence`), a margin measured from an edge found to within a factor of 2, since
    every other search steps by 2. A `leap` steps by 8: when the run it leapt to fails, the edge
    lies anywhere in the factor of 8 below it. Then the search goes on at twice the highest rate
    whose run did not fail, while that lies below the lowest failed rate above it, so that the
    edge is found to within a factor of 2 as elsewhere.

    Args:
        lrs: the rates tried, increasing.
        losses: each run's loss (NaN or inf where it diverged).
        start_loss: the loss before any run (`failed`).

    Returns:
        Twice the highest rate that did not fail, or None: the highest run did not fail, every run
        failed, or the lowest failed rate above it is at most twice it.

    Example:
        >>> narrow(np.array([.01, .08, .64]), np.array([.69, .68, np.inf]), start_loss=0.7)
        0.16
        >>> narrow(np.array([.01, .08, .16]), np.array([.69, .68, np.inf]), 0.7) is None  # within 2
        True
        >>> narrow(np.array([.01, .08, .64]), np.array([.69, .68, .67]), 0.7) is None  # nothing failed
        True
    """
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    bad = failed(lrs, losses, start_loss)
    if lrs.size == 0 or not bad[-1] or bad.all():
        return None
    highest = lrs[~bad].max()
    edge = lrs[bad & (lrs > highest)].min()
    return float(2 * highest) if 2 * highest * (1 + 1e-9) < edge else None


def next_rate(lrs: np.ndarray, losses: np.ndarray, start_loss: float, low: float, high: float,
              tolerance: float = TOLERANCE) -> float | None:
    """The next rate the search tries after the runs so far, or None: while no run has trained the
    model, `leap`; else `extension`; else `narrow`; else `below`.

    Args:
        lrs: the rates tried, increasing.
        losses: each run's loss (NaN or inf where it diverged).
        start_loss: the loss before any run.
        low: the lowest rate to try (the sweep's first rate).
        high: the highest rate to try (the sweep's last rate).
        tolerance: as for `choose`.

    Returns:
        Eight times the highest rate, twice the highest, twice the highest that did not fail, half
        the lowest, or None.

    Example:
        >>> next_rate(np.array([.1, .2]), np.array([.9, .5]), 1.0, low=1e-7, high=1.0)  # above
        0.4
        >>> next_rate(np.array([.1, .2]), np.array([.5, .9]), 1.0, low=1e-7, high=1.0)  # below
        0.05
        >>> next_rate(np.array([.1, .2]), np.array([.5, .51]), 1.0, low=1e-7, high=1.0) is None
        True
        >>> next_rate(np.array([.01, .02]), np.array([.98, .99]), 1.0, low=1e-7, high=1.0)  # a leap
        0.16
        >>> next_rate(np.array([.01, .02, .16]), np.array([.98, .97, np.inf]), 1.0, low=1e-7, high=1.0)
        0.04
    """
    for rate in (leap(lrs, losses, start_loss, high), extension(lrs, losses, start_loss, high, tolerance),
                 narrow(lrs, losses, start_loss)):
        if rate is not None:
            return rate
    return below(lrs, losses, start_loss, low, tolerance)


def edge_rate(lrs: np.ndarray, losses: np.ndarray, start_loss: float, limit: float) -> float | None:
    """The rate of one more run after the search, to find the edge of stability, or None.

    The rate kept stays `MARGIN` times below the lowest rate whose run failed
    (`short_of_divergence`), since a longer training turns unstable at lower rates than a short
    run; but where no run failed, no edge was seen and the margin has nothing to keep clear of.
    Then one more run at twice the highest rate tried looks for it, as long as that is not above
    `limit` (the highest rate the sweep reached). Found on the benchmark: an autoencoder trained
    with Nesterov momentum whose runs did best at 0.09-0.12 with the run at twice that rate
    neither diverging nor thrown off after 100 steps, while at its 200-step budget 0.1 diverges in
    some seeds; the runs at twice the highest rate tried failed, and the margin below them kept 0.04
    and 0.06.

    Args:
        lrs: the rates tried, increasing.
        losses: each run's loss (NaN or inf where it diverged).
        start_loss: the loss before any run (`failed`).
        limit: the highest rate to try.

    Returns:
        `2 * lrs[-1]`, or None: a run failed already, or that rate is above `limit`.

    Example:
        >>> edge_rate(np.array([.1, .2, .4]), np.array([.6, .5, .55]), start_loss=1.0, limit=10.0)
        0.8
        >>> edge_rate(np.array([.1, .2, .4]), np.array([.6, .5, np.inf]), 1.0, limit=10.0) is None  # seen
        True
        >>> edge_rate(np.array([.1, .2, .4]), np.array([.6, .5, .55]), 1.0, limit=0.5) is None  # above the sweep
        True
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    if lrs.size == 0 or failed(lrs, losses, start_loss).any() or not 2 * lrs[-1] <= limit:
        return None
    return float(2 * lrs[-1])


def search(run: Callable[[float, int], float], lrs: np.ndarray, steps: int, start_loss: float, low: float,
           high: float, tolerance: float = TOLERANCE, extend: int = EXTEND, edge: bool = EDGE,
           tie_steps: int = TIE_STEPS) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The runs refining trains, in order: the candidates `lrs`, then while `next_rate` names one and
    fewer than `extend` runs beyond them ran, that rate; then, if `edge`, the one `edge_rate` names;
    then, if `tie_steps`, each `tied` rate again for `tie_steps` steps where two or more tie.

    Args:
        run: `run(lr, steps)` trains `steps` steps at the constant rate `lr` from the same state and
            returns the loss after them (inf where the run diverged).
        lrs: the candidate rates (`candidates`), run first, in this order.
        steps: training steps per run.
        start_loss: the loss before any run.
        low, high: the lowest and highest rate the search may go to (the sweep's first and last).
        tolerance, extend, edge, tie_steps: as `LRFinder.refine` takes them.

    Returns:
        The rates run and their losses, in order of increasing rate; and the tied rates run again
        for `tie_steps` steps and those runs' losses (both empty where none ran).

    Example:
        >>> def run(lr, steps):  # a toy: the higher the rate the lower the loss, diverging above 1
        ...     return float("inf") if lr > 1 else 1 - lr / 2
        >>> rates, losses, _, _ = search(run, candidates(0.4), 100, start_loss=1.0, low=1e-7, high=10.0)
        >>> rates.tolist()  # the candidates, then twice the highest while it wins, up to a divergence
        [0.05, 0.1, 0.2, 0.4, 0.8, 1.6]
        >>> losses.tolist()[-2:]
        [0.6, inf]
    """
    pending, tried = list(lrs), []  # rates still to run; (rate, loss) of the runs so far
    while pending:
        lr = pending.pop(0)
        tried.append((lr, run(lr, steps)))
        if not pending and len(tried) < len(lrs) + extend:
            further = next_rate(*runs_by_rate(tried), start_loss, low, high, tolerance)
            if further is not None:
                pending.append(further)
    further = edge_rate(*runs_by_rate(tried), start_loss, high) if edge else None
    if further is not None:
        tried.append((further, run(further, steps)))
    rates, losses = runs_by_rate(tried)
    ties = rates[tied(rates, losses, start_loss, tolerance)] if tie_steps else rates[:0]
    ties = ties if ties.size >= 2 else ties[:0]  # one alone has nothing to be told apart from
    return (rates, losses, *runs_by_rate([(float(lr), run(float(lr), tie_steps)) for lr in ties]))


def runs_by_rate(runs: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """`(rate, loss)` pairs as two arrays, in order of increasing rate.

    Example:
        >>> [a.tolist() for a in runs_by_rate([(0.2, 0.5), (0.1, 0.9)])]
        [[0.1, 0.2], [0.9, 0.5]]
    """
    ordered = sorted(runs)
    return (np.array([r for r, _ in ordered], dtype=np.float64),
            np.array([v for _, v in ordered], dtype=np.float64))


def tied(lrs: np.ndarray, losses: np.ndarray, start_loss: float, tolerance: float = TOLERANCE) -> np.ndarray:
    """Which runs tie with the best: they do about as well (`threshold`) and did not fail (`failed`).

    Among such runs `choose` keeps the lowest rate, the safer over a longer training; but runs of
    100 steps cannot tell apart rates whose losses a longer training separates: on the benchmark a
    deep tanh MLP trained with plain SGD plateaus after 100 steps at every rate from 0.04 to 0.33,
    while over its 300-step budget the higher rates train best. `break_tie` chooses among them on
    longer runs.

    Args:
        lrs: the rates tried, increasing.
        losses: each run's loss (NaN or inf where it diverged).
        start_loss: the loss before any run.
        tolerance: as for `choose`.

    Returns:
        A boolean array, True where the run ties with the best (the best run included).

    Raises:
        ValueError: as for `choose`.

    Example:
        >>> tied(np.array([.1, .2, .4, .8]), np.array([.50, .31, .30, np.inf]), start_loss=1.0).tolist()
        [False, True, True, False]
    """
    lrs, losses = _checked(lrs, losses, tolerance)
    return _qualifying(losses, start_loss, tolerance) & ~failed(lrs, losses, start_loss)


def break_tie(lr: float, lrs: np.ndarray, losses: np.ndarray, start_loss: float, margin: float = MARGIN,
              tolerance: float = TOLERANCE) -> float:
    """The rate kept among tied rates (`tied`), from runs at those rates trained for longer.

    `choose` on the longer runs (the lowest rate within `tolerance` of their best improvement, or
    their noise), then `short_of_divergence` below any of them that failed by then. Measured on
    the suggestion benchmark (`benchmarks/horizon.py`, runs of 300 steps after runs of 100): over
    the first 181 tasks the mean score rises from 0.982 to 0.984 and the tasks at 0.9 or better
    from 177 to 180 (the deep tanh MLP: 0.828 to 0.938), at the cost of 2.8 more runs (of 300 steps)
    per call; on the seven tasks added after the rule was fixed, the mean rises from 0.966 to
    0.982, the worst from 0.837 to 0.946, and none loses; on the seven after those, it lowers the
    mean from 0.893 to 0.880.

    Args:
        lr: the rate kept before (`choose` on the short runs): kept if every longer run diverged.
        lrs: the tied rates, increasing.
        losses: their longer runs' losses (NaN or inf where one diverged).
        start_loss: the loss before any run.
        margin: as for `short_of_divergence`.
        tolerance: as for `choose`.

    Returns:
        The rate kept.

    Raises:
        ValueError: as for `choose` and `short_of_divergence`.

    Example:
        >>> break_tie(0.1, np.array([.1, .2, .4]), np.array([.40, .30, .29]), start_loss=1.0)  # .2 pulls ahead
        0.2
        >>> break_tie(0.1, np.array([.1, .2, .4]), np.array([.40, .30, np.inf]), 1.0)  # .4 blows up later
        0.05
    """
    lrs, losses = _checked(lrs, losses, tolerance)
    i = choose(lrs, losses, start_loss, tolerance)
    return short_of_divergence(lr if i is None else float(lrs[i]), lrs, losses, margin, start_loss)


def check_margin(margin: float) -> None:
    """Raise a `ValueError` unless `margin` is a finite number of at least 1 (see `short_of_divergence`).

    Example:
        >>> check_margin(8)
    """
    if isinstance(margin, bool) or not isinstance(margin, (int, float, np.floating, np.integer)) \
            or not (np.isfinite(margin) and margin >= 1):
        raise ValueError(f"`margin` must be a number of at least 1 (1: no margin). Received: {margin=}")


def failed(lrs: np.ndarray, losses: np.ndarray, start_loss: float | None = None) -> np.ndarray:
    """Which runs failed: diverged (a loss that is not finite), or, given `start_loss`, were thrown
    off: ended no lower than the start at a rate above one whose run did end lower, or, at a rate
    above the best run's, gave up more than `GIVE_UP` (half) of the best run's gain.

    A rate above one that trains, at which a run ends worse off than it started, has passed the
    edge of stability as surely as one that diverged: its loss jumped about without settling, but
    not by the sweep's factor, so the run was not stopped. Found on the benchmark's twenty-third
    batch: an autoencoder with plain SGD whose run at 2.1 ended above its start (after 1.07 did
    best), so 1.07 was kept; at its 300-step budget 1.0 diverges. Above the best rate, a run's loss
    after a fixed number of steps rises gently while the rate only overshoots; one that lost more
    than half of what the best run gained was thrown off (an autoencoder's loss falling back to a
    plateau, say), which marks the edge as well. Found on the twenty-fifth batch: an autoencoder
    with Nesterov momentum whose runs did best at 0.09-0.18, with the run at twice that rate
    falling back to a third of the best gain; at its 200-step budget 0.1 diverges in some seeds.
    `choose` never keeps such a run (another does better), so these rules move only the margin of
    `short_of_divergence`. Where no run ended lower than the start (a model that no rate improves
    in these runs, as one already trained may be), only the runs that diverged failed.

    Args:
        lrs: the rates tried.
        losses: each run's loss (NaN or inf where it diverged).
        start_loss: the loss before any run; None: only divergence counts.

    Returns:
        A boolean array, True where the run failed.

    Raises:
        ValueError: mismatched arrays.

    Example:
        >>> failed(np.array([.1, .2, .4, .8]), np.array([.5, .3, 1.2, np.inf]), start_loss=1.0).tolist()
        [False, False, True, True]
        >>> failed(np.array([.1, .2, .4]), np.array([.5, .3, .7]), start_loss=1.0).tolist()  # kept 3/7 of .7
        [False, False, True]
        >>> failed(np.array([.1, .2, .4]), np.array([.5, .3, .6]), start_loss=1.0).tolist()  # kept 4/7
        [False, False, False]
        >>> failed(np.array([.1, .2]), np.array([1.1, 1.2]), start_loss=1.0).tolist()  # nothing trained
        [False, False]
    """
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    if lrs.shape != losses.shape:
        raise ValueError(f"`lrs` and `losses` must have the same shape. Received: lrs.shape={lrs.shape}, "
                         f"losses.shape={losses.shape}")
    diverged = ~np.isfinite(losses)
    best = _best(losses)
    if start_loss is None or not np.isfinite(start_loss) or best is None or best >= start_loss:
        return diverged  # no run ended lower than the start
    lowest_trained = lrs[losses < start_loss].min()
    best_lr = lrs[np.argmax(losses == best)]  # the first run at the lowest loss
    gave_up = best + GIVE_UP * _gain(start_loss, best)
    return diverged | ((losses >= start_loss) & (lrs > lowest_trained)) | ((lrs > best_lr) & (losses > gave_up))


def short_of_divergence(lr: float, lrs: np.ndarray, losses: np.ndarray, margin: float = MARGIN,
                        start_loss: float | None = None) -> float:
    """`lr`, or less: at most the lowest rate whose run diverged (or `failed`), over `margin`.

    A run that diverges within a few hundred steps marks where training turns unstable over that
    horizon, and over a longer training the edge lies lower: on the benchmark an autoencoder's
    loss at 0.185 falls for 75 steps and is NaN by 200, and a BatchNorm MLP's runs do best at
    0.02-0.04 after 100 steps, with the run at twice that rate diverging, while 0.025 trains to
    twice the best loss after 300. The run chosen may end lowest on the edge of such a cliff;
    keeping clear of the lowest diverged rate by a margin keeps a longer run from falling off.
    The margin of 8 was chosen on the benchmark's first 58 tasks (4 changed one task, 16 cost
    more than it gained). Given `start_loss`, a run that ended no lower than the start, at a rate
    above one that trained, or that gave up more than half the best run's gain, above the best
    rate, counts as diverged too (`failed`).

    Args:
        lr: the rate `choose` kept.
        lrs: the rates tried.
        losses: each run's loss (NaN or inf where it diverged).
        margin: at least 1 (1: no margin).
        start_loss: the loss before any run (`failed`); None: only divergence counts.

    Returns:
        `min(lr, lowest failed rate / margin)`; `lr` if no run failed.

    Raises:
        ValueError: `margin` below 1 or not finite, or mismatched arrays.

    Example:
        >>> short_of_divergence(0.04, np.array([.01, .02, .04, .08]), np.array([.3, .25, .2, np.inf]))
        0.01
        >>> short_of_divergence(0.04, np.array([.01, .02, .04]), np.array([.3, .25, .2]))
        0.04
        >>> short_of_divergence(0.04, np.array([.01, .02, .04, .08]), np.array([.3, .25, .2, 1.1]), start_loss=1.0)
        0.01
    """
    check_margin(margin)
    lrs = np.asarray(lrs, dtype=np.float64)
    bad = lrs[failed(lrs, losses, start_loss)]
    return float(min(lr, bad.min() / margin)) if bad.size else float(lr)
