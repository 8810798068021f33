"""Batches that come sorted: class labels in blocks, or targets in order of their value, not
shuffled. Pure numpy.

A sweep over sorted batches trains on one class after another: the loss falls while one class
lasts (predict it always) and jumps when the next begins, which reads as divergence. On
scikit-learn's digits in a `tf.data` pipeline sorted by label, an MLP with Adam got 3.4e-4 where the
same data shuffled got 6.8e-3, and the sweep alone read 2.6e-6 against 1.4e-2. Targets that drift
along the batches mislead it the same way: windows of a rising time series in order
(`timeseries_dataset_from_array`'s default) gave 8.3e-7 against 1.3e-3 shuffled, and `fit` at that
rate ended 2 epochs at a loss of 1.6 against 0.021. `fit` does not shuffle a pipeline either, and
trains badly on it. Arrays the finder shuffles itself, as `fit` does.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def class_indices(y: Any) -> np.ndarray | None:
    """One class index per sample where `y` holds class labels: whole numbers of shape (batch,) or
    (batch, 1), or one-hot rows (batch, classes); else None (regression targets, sequences).

    Example:
        >>> class_indices(np.array([2, 0, 1])), class_indices(np.array([[0, 1], [1, 0]]))
        (array([2, 0, 1]), array([1, 0]))
        >>> class_indices(np.array([0.5, 1.5])) is None, class_indices(np.zeros((2, 3, 4))) is None
        (True, True)
    """
    y = _numbers(y)
    if y is None:
        return None
    if y.ndim == 1:
        return whole_numbers(y)
    if y.ndim == 2 and y.shape[1] >= 2 and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
        return np.argmax(y, axis=1)
    return None


def whole_numbers(y: Any) -> np.ndarray | None:
    """`y`'s values flattened as integers, where they are all whole, finite numbers (class labels of
    any shape: one per sample, per time step or per pixel); else None. Integers are not read twice,
    and floats that are not whole (regression targets, images) are told by their first values.

    Example:
        >>> whole_numbers(np.array([[0, 2], [255, 1]])), whole_numbers(np.array([0.5, 1.0])) is None
        (array([  0,   2, 255,   1]), True)
    """
    y = _real(y)
    if y is None:
        return None
    values = y.reshape(-1)
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64, copy=False)
    head = values[:1024]
    whole = all(np.all(np.isfinite(part)) and np.all(part == np.round(part)) for part in (head, values))
    return values.astype(np.int64) if whole else None


def sorted_classes(labels: Sequence[np.ndarray], classes: int | None = None) -> str | None:
    """Why the batches look sorted by class, or None where their classes look shuffled.

    Shuffled, a class that makes up a share p of the samples turns up in a batch of B samples with
    probability 1 - (1 - p)^B. Sorted, it turns up only in the few batches of its block. The batches
    look sorted where some class turns up in fewer than 0.6 times the batches it would turn up in
    shuffled, and fewer by more than four standard deviations (each batch one coin flip), counting
    only classes expected in at least four batches: a rare class skipped by chance is no sign.
    Where only one class turns up in ten or more batches of a model with `classes` >= 3 outputs, the
    batches look sorted too (the first block of a large data set).

    Args:
        labels: the class index of each sample, one array per batch, in the order they are read.
        classes: the number of classes the model tells apart (its outputs), where known.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> shuffled = [rng.integers(0, 3, 32) for _ in range(30)]
        >>> sorted_classes(shuffled) is None
        True
        >>> sorted_classes([np.full(32, c) for c in (0, 1, 2) for _ in range(10)])
        'class 0 turns up in 10 of the 30 batches, where shuffled it would in about 30'
        >>> sorted_classes([np.zeros(32, int)] * 12, classes=10)
        'only class 0 turns up in all 12 batches, of a model with 10 outputs'
    """
    labels = [np.asarray(b) for b in labels if len(b)]
    if not labels:
        return None
    sizes = np.array([len(b) for b in labels])
    every = np.concatenate(labels)
    found, counts = np.unique(every, return_counts=True)
    if len(found) == 1:
        return one_class(int(found[0]), len(labels), classes)
    worst = None
    for c, n in zip(found, counts):
        chance = 1 - (1 - n / len(every)) ** sizes  # per batch, shuffled
        expected, spread = chance.sum(), np.sqrt((chance * (1 - chance)).sum())
        seen = sum(bool(np.any(b == c)) for b in labels)
        if expected >= 4 and seen < 0.6 * expected and expected - seen > 4 * spread:
            if worst is None or seen / expected < worst[1] / worst[2]:
                worst = (c, seen, expected)
    if worst is None:
        return None
    c, seen, expected = worst
    return f"class {c} turns up in {seen} of the {len(labels)} batches, where shuffled it would in about {expected:.0f}"


def one_class(label: int, batches: int, classes: int | None) -> str | None:
    """Why `batches` batches that all hold class `label` alone look sorted: ten or more of them, for
    a model with `classes` >= 3 outputs (the first block of a large data set sorted by class); else
    None (a binary classifier's data may well be that lopsided).

    Example:
        >>> one_class(0, 12, 10), one_class(0, 12, 2), one_class(0, 9, 10)
        ('only class 0 turns up in all 12 batches, of a model with 10 outputs', None, None)
    """
    if batches >= 10 and classes is not None and classes >= 3:
        return f"only class {label} turns up in all {batches} batches, of a model with {classes} outputs"
    return None


def one_target(y: Any) -> np.ndarray | None:
    """`y` as one number per sample where it holds one (shape (batch,) or (batch, 1), real and
    finite), as float64; else None (one-hot rows, several targets, sequences, strings).

    Example:
        >>> one_target(np.array([[1.5], [2.0]])), one_target(np.zeros((2, 3))) is None
        (array([1.5, 2. ]), True)
    """
    y = _numbers(y)
    return None if y is None or y.ndim != 1 else y.astype(np.float64)


def _real(y: Any) -> np.ndarray | None:
    """`y` as an array of real numbers, not empty, of any shape; else None."""
    try:
        y = np.asarray(y)
    except (TypeError, ValueError):
        return None
    if y.size == 0 or not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y):
        return None
    return y


def _numbers(y: Any) -> np.ndarray | None:
    """`y` as an array of real, finite numbers, not empty, a column (batch, 1) as (batch,); else None."""
    y = _real(y)
    if y is None:
        return None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    return y if np.all(np.isfinite(y)) else None


def sorted_targets(targets: Sequence[np.ndarray]) -> str | None:
    """Why the batches look in order of their targets' value, or None where they look shuffled:
    `drift` of each batch's mean target and the variance of that mean.

    Args:
        targets: each batch's targets, one number per sample (`one_target`), in the order read.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> sorted_targets([rng.normal(size=32) for _ in range(20)]) is None
        True
        >>> rising = np.sort(rng.normal(size=640))
        >>> sorted_targets([rising[i:i + 32] for i in range(0, 640, 32)])
        "the targets' mean rises from batch to batch, from -2.06 in the first to 1.97 in the last of 20 (rank correlation 1.00 with their order)"
    """
    targets = [np.asarray(t, np.float64) for t in targets if len(t)]
    with np.errstate(over="ignore", invalid="ignore"):  # targets near float64's limit: no finding, no noise
        means = [t.mean() for t in targets]
        spreads = [t.var(ddof=1) / len(t) if len(t) > 1 else 0.0 for t in targets]
    return drift(means, spreads)


def drift(means: Sequence[float], spreads: Sequence[float]) -> str | None:
    """Why batches with these mean targets look in order of their targets' value, or None where
    they look shuffled.

    They look sorted where both hold, over ten or more batches:

    - the means rise (or fall) along the batches: their rank correlation with the batches' places
      (Spearman's) is 0.9 or more in size. Shuffled, it is about normal with a standard deviation
      of 1 / sqrt(batches - 1): 0.33 at ten batches, and 0.9 is 2.7 of those;
    - the means spread more than four times as far as shuffled data would spread them: their
      variance is over four times the mean of `spreads`.

    A time series read in order is seen so where its trend outweighs the rest (a seasonal one,
    whose means rise and fall, is not), and so are data sorted by their target, or by a feature
    that all but decides it. Over 12000 simulated shuffled streams (normal, log-normal, Cauchy,
    rare-event, binary and ten-class targets; 10 to 200 batches of 2 to 128 samples) none looked
    sorted.

    Args:
        means: each batch's mean target, in the order read.
        spreads: each batch's variance of its targets over their number: the variance its mean
            would have were its samples drawn at random (`tf_lrfinder.step.target_moments`).

    Example:
        >>> drift(np.arange(12.0), np.full(12, 0.1))
        "the targets' mean rises from batch to batch, from 0 in the first to 11 in the last of 12 (rank correlation 1.00 with their order)"
        >>> drift(np.arange(12.0), np.full(12, 10.0)) is None  # as far apart as chance puts them
        True
    """
    means, spreads = np.asarray(means, np.float64), np.asarray(spreads, np.float64)
    if len(means) < 10 or not np.all(np.isfinite(means)) or np.all(means == means[0]):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        far = means.var(ddof=1) > 4 * spreads.mean()
    if not far:
        return None
    _, at, counts = np.unique(means, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts + 1) / 2)[at]  # tied means share their mean rank
    rho = float(np.corrcoef(np.arange(len(means)), ranks)[0, 1])
    if abs(rho) < 0.9:
        return None
    return (f"the targets' mean {'rises' if rho > 0 else 'falls'} from batch to batch, from {means[0]:.3g} in the "
            f"first to {means[-1]:.3g} in the last of {len(means)} (rank correlation {abs(rho):.2f} with their order)")


def held_order(ys: Sequence[Any], classes: int | None) -> tuple[str | None, str | None]:
    """`(why_classes, why_targets)` for batches held in memory, from each batch's targets y: class
    labels by `sorted_classes`, else one number per sample by `sorted_targets`. Whole numbers other
    than 0 and 1 for a model with one output (`classes` == 1) are counts or ages, not classes.

    Example:
        >>> blocks = [np.full(32, c) for c in (0, 1, 2) for _ in range(10)]
        >>> held_order(blocks, 3)
        ('class 0 turns up in 10 of the 30 batches, where shuffled it would in about 30', None)
        >>> held_order([b + 20 for b in blocks], 1)[1].startswith("the targets' mean rises")
        True
    """
    labels = [class_indices(y) for y in ys]
    if all(y is not None for y in labels) and (classes != 1 or all(np.isin(y, (0, 1)).all() for y in labels)):
        why = sorted_classes(labels, classes)
        if why is not None:
            return why, None  # told once, by class where it can be
    targets = [one_target(y) for y in ys]
    return None, sorted_targets(targets) if all(y is not None for y in targets) else None


def streamed_order(means: Sequence[float], spreads: Sequence[float], classes: int | None) -> tuple[str | None, str | None]:
    """`(why_classes, why_targets)` for batches read as they stream, known by their `means` and
    `spreads` alone (`tf_lrfinder.step.target_moments`): one class alone in every batch
    (`one_class`: each holds one value, the same whole number), else `drift`.

    Example:
        >>> streamed_order(np.zeros(12), np.zeros(12), 10)
        ('only class 0 turns up in all 12 batches, of a model with 10 outputs', None)
        >>> streamed_order(np.arange(12.0), np.full(12, 0.1), 10)[1].startswith("the targets' mean rises")
        True
    """
    means, spreads = np.asarray(means, np.float64), np.asarray(spreads, np.float64)
    if (len(means) and np.all(np.isfinite(means)) and np.all(means == means[0]) and np.all(spreads == 0)
            and means[0] == np.round(means[0])):
        return one_class(int(means[0]), len(means), classes), None
    return None, drift(means, spreads)


def sorted_warning(why_classes: str | None = None, why_targets: str | None = None) -> str | None:
    """The warning for batches sorted by class (`sorted_classes`'s reason) or in order of their
    targets (`sorted_targets`'s or `drift`'s), with the fix; None where neither is given.

    Example:
        >>> sorted_warning() is None, sorted_warning(why_targets="...").startswith("The batches look in order")
        (True, True)
    """
    if why_classes is not None:
        text = (f"The batches look sorted by class, not shuffled: {why_classes}. A sweep or run over them trains on "
                "one class after another, and its loss jumps where the next begins, so its curve and the rate read "
                "off it mislead (on scikit-learn's digits sorted by label, 3.4e-4 against 6.8e-3 shuffled).")
    elif why_targets is not None:
        text = (f"The batches look in order of their targets, not shuffled: {why_targets}. A sweep or run over them "
                "trains on one range of targets after another, so its loss changes with the data as well as with "
                "the rate, and its curve and the rate read off it mislead (windows of a rising time series read "
                "in order: 8.3e-7 against 1.3e-3 shuffled). A time series' windows shuffle with "
                "`timeseries_dataset_from_array(..., shuffle=True)`.")
    else:
        return None
    return text + (" Shuffle the data before batching it (`dataset.shuffle(n)`, n as large as the data), as `fit` "
                   "needs it too.")
