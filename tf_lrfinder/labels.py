"""Class labels read against the outputs a sparse crossentropy matches them to.

How many classes an output tells apart (the length of its last axis), which output each target
goes to, where labels run outside 0 to that number minus 1, and what to do about it: shift them,
give the model more outputs, or pass `ignore_class` for one value that marks what to leave out.
Pure reading of arrays and shapes; the checks that raise with these words are in
`tf_lrfinder.checks` (`loss_fits`, `labels_fit`), and the finder turns TensorFlow's own rejection of
a label (`rejected_labels`) into the same advice.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from .order import whole_numbers
from .step import named_outputs, output_pairs


def output_classes(y_pred: Any) -> int | None:
    """The length of the last axis of a model's one output (the classes it tells apart, for a
    classifier); 1 for one number per sample of shape (batch,), whose only axis is the batch's, as
    for (batch, 1); else None (several outputs, a scalar one, an unknown length).

    Example:
        >>> output_classes(np.zeros((4, 10))), output_classes([np.zeros((4, 3))] * 2), output_classes(np.zeros(4))
        (10, None, 1)
    """
    outputs = tf.nest.flatten(y_pred)
    shape = tf.TensorShape(getattr(outputs[0], "shape", None) if len(outputs) == 1 else None)
    last = 1 if shape.rank == 1 else shape[-1] if shape.rank else None
    return last if isinstance(last, int) else None


def target_classes(y: Any, y_pred: Any, output_names: list[str] | None) -> list[tuple[str | None, int | None]]:
    """For each of the targets in y, in the order of `tf.nest.flatten(y)`, the name of the output
    it is matched to (None for a model of one output) and that output's classes (`output_classes`:
    the length of its last axis); [] where the targets do not match the outputs (`output_pairs`).

    Example:
        >>> y = {"kind": np.zeros(4), "size": np.zeros(4)}
        >>> target_classes(y, {"size": np.zeros((4, 1)), "kind": np.zeros((4, 5))}, None)
        [('kind', 5), ('size', 1)]
        >>> target_classes(np.zeros(4), np.zeros((4, 3)), None), target_classes([1, 2], np.zeros((4, 3)), None)
        ([(None, 3)], [])
    """
    targets = tf.nest.flatten(y)
    if len(tf.nest.flatten(y_pred)) == 1:
        return [(None, output_classes(y_pred))] if len(targets) == 1 else []
    matched = output_pairs(y, y_pred, output_names)
    if matched is None:
        return []
    names = named_outputs(y_pred, output_names)[0]
    found = []
    for target in targets:
        k = next((i for i, (t, _) in enumerate(matched) if t is target), None)
        found.append((None, None) if k is None else (names[k], output_classes(matched[k][1])))
    return found


def label_range(y: Any, y_pred: Any) -> str | None:
    """What to do where a single output's class labels (one whole number per sample) run outside 0 to
    its number of classes minus 1, which a sparse crossentropy rejects; else None (also for an output
    of one unit: whole-number targets there are a regression's or a binary label, never classes)."""
    if len(tf.nest.flatten(y)) != 1 or len(tf.nest.flatten(y_pred)) != 1:
        return None
    labels, output, classes = np.asarray(tf.nest.flatten(y)[0]), tf.nest.flatten(y_pred)[0], output_classes(y_pred)
    # One label per sample, or per time step or pixel of a sequence's or an image's outputs.
    one_each = labels.ndim == len(output.shape) - 1 or (labels.ndim == len(output.shape) and labels.shape[-1] == 1)
    indices = whole_numbers(labels) if one_each and (classes or 0) >= 2 else None
    if indices is None or (0 <= indices.min() and indices.max() < classes):
        return None
    outside = np.unique(indices[(indices < 0) | (indices >= classes)])
    return f"The class labels on that batch {label_fix(int(indices.min()), int(indices.max()), classes, outside)}"


def label_fix(low: int, high: int, classes: int, outside: Sequence[int], output: str | None = None) -> str:
    """What to do where class labels run from `low` to `high` for a model with `classes` outputs (or
    for its `output` of `classes` units, in a model of several), those `outside` 0 to `classes` - 1
    among them."""
    if low >= 1 and high == classes:
        fix = "subtract 1 from them (`y - 1`)"
    elif low >= 0:
        fix = f"give {'the model' if output is None else 'it'} {high + 1} {'outputs' if output is None else 'units'}, " \
              "or check the labels"
    else:
        fix = f"map them to 0 to {classes - 1}"
    if len(outside) == 1 and not 0 <= outside[0] <= classes:  # one value, not the next class: padding's, a void label's
        fix += (f"; or, where {int(outside[0])} marks what to leave out (padding, a void label), pass "
                f"`ignore_class={int(outside[0])}` to the sparse crossentropy")
    holder, unit = (f"the model has {classes} outputs", "output") if output is None else (
        f"{output} has {classes} units", "unit")
    return (f"run from {low} to {high}, but {holder}: a sparse loss needs labels from 0 to {classes - 1}, one per "
            f"{unit}; {fix}.")


# What TensorFlow's sparse crossentropy raises (on a CPU) at a label outside its outputs.
_REJECTED = re.compile(r"label value of -?\d+ which is outside the valid range of \[0, (\d+)\)\.\s+"
                       r"Label values: (-?\d+(?: -?\d+)*)")


def rejected_labels(message: str, outputs: Sequence[tuple[str | None, int | None]] = ()) -> str | None:
    """What to do about the class labels of a batch that TensorFlow's sparse crossentropy rejected,
    read from its error `message` (which lists the batch's labels and the number of outputs), where
    it is that error; else None. For a model of several `outputs` (each target's output name and
    classes, as `target_classes` gives them), the message does not say whose loss rejected them: the
    output is named where it alone has that many units, else those that have as many.

    Example:
        >>> print(rejected_labels("Received a label value of 255 which is outside the valid range of [0, 3).  "
        ...                       "Label values: 1 255 0"))
        run from 0 to 255, but the model has 3 outputs: a sparse loss needs labels from 0 to 2, one per output; give the model 256 outputs, or check the labels; or, where 255 marks what to leave out (padding, a void label), pass `ignore_class=255` to the sparse crossentropy.
        >>> print(rejected_labels("Received a label value of 5 which is outside the valid range of [0, 5).  "
        ...                       "Label values: 0 5 2", outputs=[("kind", 3), ("part", 5)]))
        run from 0 to 5, but output 'part' has 5 units: a sparse loss needs labels from 0 to 4, one per unit; give it 6 units, or check the labels.
        >>> rejected_labels("x too large") is None
        True
    """
    found = _REJECTED.search(message)
    if found is None:
        return None
    classes, labels = int(found.group(1)), np.array(found.group(2).split(), dtype=np.int64)
    outside = np.unique(labels[(labels < 0) | (labels >= classes)])
    output = None
    if len(outputs) > 1:
        named = [f"'{name}'" for name, units in outputs if units == classes and name is not None]
        output = (f"output {named[0]}" if len(named) == 1 else
                  f"output {' or '.join(named)} (TensorFlow does not say which)" if named else
                  "the output whose loss rejected them")
    return label_fix(int(labels.min()), int(labels.max()), classes, [int(label) for label in outside], output)


def labels_outside(ys: Sequence[Any], classes: int | None) -> tuple[dict[int, tuple[int, int]], int, int] | None:
    """Where class labels (one per sample, or per time step or pixel) run outside 0 to `classes` - 1
    for a model with 2 or more outputs: `(places, low, high)`, each label outside with its first
    place, `(batch, row)` in `ys` (each batch's targets; the row is the sample's), and the lowest and
    highest label of all; else None (none outside, fewer than 2 outputs, or targets that are not
    whole numbers). One-hot rows hold only 0 and 1, never outside.

    Example:
        >>> labels_outside([np.array([0, 1]), np.array([[2], [3]])], 3)
        ({3: (1, 1)}, 0, 3)
        >>> labels_outside([np.array([[0, 1], [2, 255]])], 3)  # per time step: sample 1's
        ({255: (0, 1)}, 0, 255)
        >>> labels_outside([np.array([0, 2])], 3) is None, labels_outside([np.eye(3)], 3) is None
        (True, True)
    """
    if classes is None or classes < 2:
        return None
    labels = [whole_numbers(y) for y in ys]
    if not labels or any(values is None for values in labels):
        return None
    places: dict[int, tuple[int, int]] = {}
    for batch, (y, values) in enumerate(zip(ys, labels)):
        per_sample = max(1, values.size // max(1, np.shape(y)[0]))
        for i in np.flatnonzero((values < 0) | (values >= classes)):
            places.setdefault(int(values[i]), (batch, int(i) // per_sample))
    every = np.concatenate(labels)
    return (places, int(every.min()), int(every.max())) if places else None
