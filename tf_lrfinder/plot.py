"""Plots of a sweep. matplotlib is imported here, lazily, so it stays an optional extra."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .refine import failed, threshold
from .schedule import is_linear
from .smoothing import lag_free
from .suggest import Suggestion

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("plotting needs matplotlib: pip install 'tf-lrfinder[plot]'") from err
    return plt


def _axes(ax: Axes | None) -> Axes:
    return ax if ax is not None else _pyplot().subplots(figsize=(7, 4.5))[1]


def _rate_axis(ax: Axes, linear: bool) -> None:
    """Log scale for the rates, or a linear one for a linear sweep (as it was spaced)."""
    ax.set_xscale("linear" if linear else "log")
    ax.set_xlabel("learning rate" if linear else "learning rate (log scale)")


def _nothing_finite(ax: Axes, lrs: np.ndarray) -> None:
    """Say so on axes where a sweep recorded no finite value to draw (its first loss was NaN or inf),
    spanning the rates it tried: a log axis over no data at all cannot be drawn."""
    ax.text(0.5, 0.5, "no finite loss recorded", transform=ax.transAxes, ha="center", va="center")
    tried = lrs[np.isfinite(lrs) & (lrs > 0)]
    if tried.size:
        ax.set_xlim(tried.min() / 2, tried.max() * 2)
    else:  # no rate either: nothing to put on a log scale
        ax.set_xscale("linear")


def plot_sweep(lrs: Sequence[float], losses: Sequence[float], smoothed: Sequence[float],
               suggestions: Sequence[Suggestion] = (), ax: Axes | None = None, label: str = "") -> Axes:
    """Draw the loss, its EMA and its lag-free curve against log(lr), each suggestion marked and labelled.

    A linear sweep (`mode="linear"`) is drawn against the rate on a linear scale, as it was spaced.

    Args:
        lrs, losses, smoothed: the recorded sweep.
        suggestions: `Suggestion`s to mark, on the EMA curve at the suggested rate.
        ax: axes to draw on (default: a new figure).
        label: prefix for the legend entries.

    Returns:
        The matplotlib Axes.

    Example:
        >>> ax = plot_sweep([1e-3, 1e-2, 1e-1], [1.0, 0.5, 2.0], [1.0, 0.6, 1.2])
        >>> ax.get_xscale()
        'log'
        >>> ax = plot_sweep([1e-3, 1e-2, 1e-1], [1.0, 0.5, 2.0], [1.0, 0.6, 1.2], [Suggestion(0.08, 2, "minimum")])
        >>> ax.texts[0].get_text(), ax.texts[0].get_ha()  # near the right end: the label reads leftwards
        ('minimum: 8.00e-02', 'right')
    """
    ax = _axes(ax)
    prefix = f"{label} " if label else ""
    lrs_, losses_, smoothed_ = (np.asarray(v, float) for v in (lrs, losses, smoothed))
    ax.plot(lrs_, losses_, alpha=0.3, label=f"{prefix}loss")
    ax.plot(lrs_, smoothed_, label=f"{prefix}smoothed loss (EMA)")
    ok = np.isfinite(losses_) & (lrs_ > 0)
    if ok.sum() >= 3:  # the curve the default rule reads
        ax.plot(lrs_[ok], lag_free(lrs_[ok], losses_[ok]), ls="--", lw=1, label=f"{prefix}lag-free loss")
    ok = np.isfinite(smoothed_) & (lrs_ > 0)
    linear = is_linear(lrs_[np.isfinite(lrs_)])
    where = (lambda lr: lr) if linear else np.log  # position along the x axis
    span = where(lrs_[lrs_ > 0]) if (lrs_ > 0).any() else np.zeros(1)
    for k, s in enumerate(suggestions):  # on the EMA curve at the suggested rate (a rule may suggest between steps)
        y = np.interp(np.log(s.lr), np.log(lrs_[ok]), smoothed_[ok]) if ok.any() else np.nan
        # Above the labels (zorder 3), never hidden by one; in colours the three curves (C0-C2) do not use.
        mark = ax.scatter([s.lr], [y], zorder=4, s=40, color=f"C{3 + k % 7}")
        # Each label sits in its own row near the top of the axes, joined to its mark by a line, so
        # that labels of close suggestions never overlap; one in the right third reads leftwards.
        right = where(s.lr) > span.min() + 0.65 * np.ptp(span)
        ax.annotate(f"{s.method}: {s.lr:.2e}", (s.lr, y), xytext=(s.lr, 0.95 - 0.07 * k),
                    textcoords=("data", "axes fraction"), ha="right" if right else "left", va="top",
                    fontsize=8, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8),
                    arrowprops=dict(arrowstyle="-", lw=0.6, color=mark.get_facecolor()[0]))
    _rate_axis(ax, linear)
    if not (np.isfinite(losses_) | np.isfinite(smoothed_)).any():
        _nothing_finite(ax, lrs_)
    ax.set_ylabel("loss")
    _clip_ylim(ax, np.concatenate([np.asarray(smoothed, float), np.asarray(losses, float)]))
    ax.legend(fontsize=8)
    return ax


def plot_loss_change(lrs: Sequence[float], smoothed: Sequence[float], ax: Axes | None = None) -> Axes:
    """Draw the rate of change of the smoothed loss, d loss / d log(lr), against log(lr) (against
    the rate on a linear scale for a linear sweep).

    The y axis spans the steepest fall, and above zero 0.6 times as far: the divergence at the end
    of a sweep rises tens of times more steeply than the loss ever fell, and would flatten the fall.

    Example:
        >>> ax = plot_loss_change([1e-3, 1e-2, 1e-1, 1.0], [1.0, 0.8, 0.5, 0.9])
        >>> ax.get_ylabel()
        'd loss / d log(lr)'
    """
    ax = _axes(ax)
    lrs_, curve = np.asarray(lrs, float), np.asarray(smoothed, float)
    ok = np.isfinite(curve)
    change = np.gradient(curve[ok], np.log(lrs_[ok])) if ok.sum() >= 2 else np.zeros(ok.sum())
    ax.plot(lrs_[ok], change)
    ax.axhline(0.0, color="grey", lw=0.8)
    _rate_axis(ax, is_linear(lrs_[ok]))
    if not ok.any():
        _nothing_finite(ax, lrs_)
    ax.set_ylabel("d loss / d log(lr)")
    finite = change[np.isfinite(change)]
    if finite.size and finite.min() < 0:  # the fall in full; the blow-up, tens of times steeper, runs off the top
        ax.set_ylim(1.15 * finite.min(), -0.6 * finite.min())
    else:
        _clip_ylim(ax, change)
    return ax


def plot_sweeps(sweeps: Mapping[str, Any], ax: Axes | None = None) -> Axes:
    """Overlay several sweeps (for example SGD against Adam on one model) in one figure.

    Args:
        sweeps: name -> a finder that has run (anything with `lrs` and `smoothed_losses`, and
            optionally `lr_opt`), or its `history` (as `finder.history` gives it, or
            `tf_lrfinder.history.load_json` reads it back), so saved sweeps can be drawn again.
            Drawn against log(lr), or against the rate on a linear scale where every sweep is
            linear (`mode="linear"`).
        ax: axes to draw on (default: a new figure).

    Raises:
        TypeError: `sweeps` is not a mapping of names to sweeps.
        ValueError: it is empty, or a sweep in it has recorded nothing.

    Example:
        >>> from types import SimpleNamespace as S
        >>> a = S(lrs=[1e-3, 1e-2, 1e-1], smoothed_losses=[1, .5, 2], lr_opt=1e-2)
        >>> history = {"lrs": [1e-3, 1e-2, 1e-1], "smoothed_losses": [1, .4, 3], "lr_opt": 1e-2}
        >>> len(plot_sweeps({"sgd": a, "adam": history}).get_legend().get_texts())
        2
    """
    if not isinstance(sweeps, Mapping):
        raise TypeError("`sweeps` must map a name to each sweep, for example {'sgd': finder_sgd, 'adam': "
                        f"finder_adam}}. Received: {type(sweeps).__name__}")
    if not sweeps:
        raise ValueError("`sweeps` is empty: pass at least one name -> finder (or its history).")
    curves = {name: _curve(name, sweep) for name, sweep in sweeps.items()}
    ax = _axes(ax)
    for name, (lrs, smoothed, lr) in curves.items():  # the legend gives each sweep's suggestion
        line, = ax.plot(lrs, smoothed, label=name if lr is None else f"{name}: {lr:.2e}")
        if lr is not None:
            ax.axvline(lr, color=line.get_color(), ls="--", lw=0.8)
    _rate_axis(ax, all(is_linear(lrs[np.isfinite(lrs)]) for lrs, _, _ in curves.values()))  # linear if all are
    ax.set_ylabel("smoothed loss")
    _clip_ylim(ax, np.concatenate([smoothed for _, smoothed, _ in curves.values()]))
    ax.legend(fontsize=8)
    return ax


def _curve(name: str, sweep: Any) -> tuple[np.ndarray, np.ndarray, float | None]:
    """A sweep's rates, smoothed losses and suggestion, from a finder or its history."""
    get = sweep.get if isinstance(sweep, Mapping) else (lambda key, default=None: getattr(sweep, key, default))
    lrs, smoothed = get("lrs"), get("smoothed_losses")
    if lrs is None or smoothed is None:
        raise TypeError(f"`sweeps[{name!r}]` must be a finder or its history, with `lrs` and `smoothed_losses`. "
                        f"Received: {type(sweep).__name__}")
    if len(lrs) == 0:
        raise ValueError(f"`sweeps[{name!r}]` has recorded no sweep: call that finder on a dataset first.")
    return np.asarray(lrs, float), np.asarray(smoothed, float), get("lr_opt")


def plot_trials(trials: Any, ax: Axes | None = None) -> Axes:
    """Draw refining's short runs: each run's loss against its rate, the loss before them, the rate kept.

    What `LRFinder.refine` measured and chose from: one point per run (its loss on the held-back
    batches, or on `validation_data`, after its steps), joined in order of rate, a dashed line at
    the loss before any run, a band from the best run's loss up to `tf_lrfinder.refine.threshold`
    (the runs in it do about as well as the best, and the lowest rate among them is kept, or
    less), and a vertical line at the rate kept. A run that diverged, or ended far above the loss
    before the runs (more than 1.5 times it), is drawn at the top edge: a cross if it diverged, a
    triangle if it is off the scale.
    A run on the scale that was thrown off (it ended no better than before, above a rate that
    trained, or gave up more than half the best run's gain, above the best rate) is ringed in red:
    refining counts it as diverged (`tf_lrfinder.refine.failed`). The rate axis is labelled at the
    rates tried. Where the tied rates were run again for longer (`refine(tie_steps=...)`), those
    runs' losses are drawn too, as a second line of squares (a diverged one at the top edge).
    `trials.summary()` says the same in words.

    Args:
        trials: a `tf_lrfinder.refine.Trials` (`finder.trials`), or anything with its `lrs`,
            `losses`, `start_loss`, `steps`, `lr` and `tolerance`.
        ax: axes to draw on (default: a new figure).

    Returns:
        The matplotlib Axes.

    Example:
        >>> from tf_lrfinder.refine import Trials
        >>> t = Trials((0.01, 0.02, 0.04, 0.08), (0.6, 0.4, 0.45, float("inf")), 1.0, 100, 0.02)
        >>> ax = plot_trials(t)
        >>> [x.get_text() for x in ax.get_legend().get_texts()]
        ['loss after 100 steps', 'before the runs', 'about as good as the best', 'kept: 2.00e-02', 'diverged']
    """
    ax = _axes(ax)
    lrs, losses = np.asarray(trials.lrs, float), np.asarray(trials.losses, float)
    tie_lrs, tie_losses = (np.asarray(getattr(trials, k, ()), float) for k in ("tie_lrs", "tie_losses"))
    start = float(trials.start_loss)
    finite = np.isfinite(losses)
    shown = np.concatenate([losses[finite], tie_losses[np.isfinite(tie_losses)], [start] if np.isfinite(start) else []])
    cap = 1.5 * start if np.isfinite(start) and start > 0 else (shown.max() if shown.size else 1.0)
    low = shown.min() if shown.size else 0.0
    on_scale = finite & (losses <= cap)
    ax.plot(lrs[on_scale], losses[on_scale], marker="o", label=f"loss after {trials.steps} steps")
    tie_on_scale = np.isfinite(tie_losses) & (tie_losses <= cap)
    if tie_lrs.size:
        ax.plot(tie_lrs[tie_on_scale], tie_losses[tie_on_scale], marker="s", ls=":", color="tab:purple",
                label=f"tied rates, after {trials.tie_steps} steps")
    if np.isfinite(start):
        ax.axhline(start, color="grey", ls="--", lw=0.8, label="before the runs")
    limit = threshold(losses, start, trials.tolerance)
    if limit is not None:
        ax.axhspan(losses[finite].min(), limit, color="tab:green", alpha=0.15, lw=0, label="about as good as the best")
    ax.axvline(trials.lr, color="tab:green", lw=1.2, label=f"kept: {trials.lr:.2e}")
    worse = on_scale & failed(lrs, losses, start)
    if worse.any():
        ax.scatter(lrs[worse], losses[worse], s=90, facecolors="none", edgecolors="tab:red", zorder=3,
                   label="thrown off: counted as diverged")
    top = cap if (~on_scale).any() or (~tie_on_scale).any() else shown.max()  # room at the top for runs there
    all_lrs, all_losses = np.concatenate([lrs, tie_lrs]), np.concatenate([losses, tie_losses])
    all_finite, all_on_scale = np.isfinite(all_losses), np.concatenate([on_scale, tie_on_scale])
    for mask, marker, name in ((all_finite & ~all_on_scale, "^", "off the scale"), (~all_finite, "x", "diverged")):
        if mask.any():
            ax.scatter(all_lrs[mask], np.full(mask.sum(), top), marker=marker, color="tab:red", zorder=3,
                       label=name, clip_on=False)
    pad = 0.05 * (top - low) if top > low else 0.05 * abs(top) + 1e-12
    ax.set_ylim(low - pad, top + pad)
    ax.set_xscale("log")
    _label_rates_tried(ax, lrs)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(f"loss on the {getattr(trials, 'measured_on', 'held-back')} batches")
    ax.legend(fontsize=8)
    return ax


def _label_rates_tried(ax: Axes, lrs: np.ndarray) -> None:
    """Ticks at the rates tried, labelled with their values: the runs span a decade or two, where
    matplotlib's own log ticks label a few minor ticks that can overlap."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.xaxis.set_major_locator(FixedLocator(lrs))
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:.3g}")
    ax.xaxis.set_minor_locator(NullLocator())  # no minor ticks, so none is labelled
    if len(lrs) > 6:  # up to 14 runs: slant the labels so that they do not run into each other
        ax.tick_params(axis="x", labelrotation=45)


def _clip_ylim(ax: Axes, values: Sequence[float]) -> None:
    """Keep the divergence spike from squashing the interesting part of the curve."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) >= 2:
        low, top = v.min(), np.percentile(v, 90)
        pad = 0.05 * (top - low) if top > low else 0.05 * abs(top) + 1e-12
        ax.set_ylim(low - pad, top + pad)
