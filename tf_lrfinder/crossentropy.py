"""What Keras's crossentropies expect, against the first batch: probabilities from the model where
`from_logits=False`, and targets in [0, 1].

A crossentropy with `from_logits=False` (Keras's default, and what the names
`"sparse_categorical_crossentropy"` and `"binary_crossentropy"` mean) clips its inputs into [0, 1]
before taking their log. Fed a linear output (logits), it gives no gradient to what it clips, and
`fit` trains badly on it without a word: on scikit-learn's digits, an MLP's training accuracy
after 10 epochs of Adam is 0.71 against 0.96 with `from_logits=True`. A sweep on it suggests a
rate for that broken loss. Keras catches the reverse mistake itself (a softmax output given to
`from_logits=True`: it takes the logits back and warns).

Targets outside [0, 1] (labels of -1 and 1, or 1 and 2) give a binary or one-hot crossentropy no
lower bound: a sample's loss falls below 0 as its output runs off, which the sweep and `fit` chase. On
Hastie's 10-2 data (labels -1 and 1), `fit` reports a loss of 0.095 after 5 epochs at an accuracy
of 0.51; mapped to 0 and 1, 0.63 at 0.69.
"""

from __future__ import annotations

from typing import Any

import keras  # noqa: F401 (the examples use it)
import numpy as np

from .step import keras_loss, named_outputs

# Keras's crossentropies, by their function's name: what ends a model that outputs probabilities.
ACTIVATIONS = {"binary_crossentropy": "sigmoid", "binary_focal_crossentropy": "sigmoid",
               "categorical_crossentropy": "softmax", "categorical_focal_crossentropy": "softmax",
               "sparse_categorical_crossentropy": "softmax"}


def identify(loss: Any) -> tuple[str, bool] | None:
    """The function's name and `from_logits` of one of Keras's crossentropies, else None.

    Args:
        loss: a `keras.losses.Loss`, one of Keras's loss functions (or a `functools.partial` of one),
            or a name `keras.losses.get` reads.

    Example:
        >>> identify("sparse_categorical_crossentropy")
        ('sparse_categorical_crossentropy', False)
        >>> identify(keras.losses.BinaryCrossentropy(from_logits=True))
        ('binary_crossentropy', True)
        >>> identify("mse"), identify(lambda y, p: (y - p) ** 2)
        (None, None)
    """
    found = keras_loss(loss)
    if found is None or found[0] not in ACTIVATIONS:
        return None
    name, keywords = found
    return name, bool(keywords.get("from_logits", False))


def outside(values: Any, tolerance: float = 1e-3) -> tuple[float, float] | None:
    """The lowest and highest finite values where some lie outside [0, 1] by more than `tolerance`
    (a rounding error is worth no word), else None (and for what is not numbers).

    Example:
        >>> outside(np.array([[0.2], [0.9]])), outside(np.array([[-1.5], [0.3], [2.0]]))
        (None, (-1.5, 2.0))
    """
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):  # ragged or sparse: not checked
        return None
    values = values[np.isfinite(values)]
    if values.size == 0 or (values.min() >= -tolerance and values.max() <= 1 + tolerance):
        return None
    return float(values.min()), float(values.max())


def pairs(loss: Any, outputs: Any, output_names: list[str] | None) -> list[tuple[str, Any, Any]]:
    """`(output's name, its loss, its values)` for each output a loss applies to, as `compile` matches
    them: one loss to every output, a dict by the outputs' names, a list by position; [] where they
    do not match (Keras says so when the loss is computed).

    Example:
        >>> [(name, l) for name, l, _ in pairs("mse", {"a": 1, "b": 2}, ["a", "b"])]
        [('a', 'mse'), ('b', 'mse')]
        >>> [(name, v) for name, _, v in pairs(["mse", None], [1, 2], ["a", "b"])]
        [('a', 1)]
    """
    names, values = named_outputs(outputs, output_names)
    if isinstance(loss, dict):
        found = [(name, loss.get(name), value) for name, value in zip(names, values)]
    elif isinstance(loss, (list, tuple)):  # by the outputs' order (not a dict's, whose order may differ)
        found = list(zip(names, loss, values)) if len(loss) == len(values) and not isinstance(outputs, dict) else []
    else:
        found = [(name, loss, value) for name, value in zip(names, values)]
    return [(name, one, value) for name, one, value in found if one is not None]


def per_output(loss: Any, y: Any, y_pred: Any, output_names: list[str] | None) -> list[tuple[str, Any, Any, Any]]:
    """`(output's name, its loss, its values, its targets)` for each output a loss applies to, matched
    as `compile` matches them (`pairs`); the targets are None where y does not match the outputs.

    Example:
        >>> per_output({"b": "mse"}, {"a": 10, "b": 20}, {"a": 1, "b": 2}, ["a", "b"])
        [('b', 'mse', 2, 20)]
    """
    targets = {name: value for name, _, value in pairs(loss, y, output_names)}
    return [(name, one, value, targets.get(name)) for name, one, value in pairs(loss, y_pred, output_names)]


def whose(compiled: bool) -> str:
    """The loss, as the first batch's warnings name it: the model's compiled one, or `loss_fn`.

    Example:
        >>> whose(compiled=True), whose(compiled=False)
        ("The model's compiled loss", '`loss_fn`')
    """
    return "The model's compiled loss" if compiled else "`loss_fn`"


def targets_run(name: str | None) -> str:
    """The first batch's targets, as a warning says where they run: y, or the targets of output
    `name` in a model of several (None: of one).

    Example:
        >>> targets_run(None), targets_run("a")
        ('y on the first batch runs', "the targets of output 'a' on the first batch run")
    """
    return "y on the first batch runs" if name is None else f"the targets of output {name!r} on the first batch run"


def crossentropy_warnings(loss: Any, y: Any, y_pred: Any, output_names: list[str] | None,
                          compiled: bool) -> list[str]:
    """A warning for each output, on the first batch, whose loss is one of Keras's crossentropies and
    whose values lie outside [0, 1] where it expects probabilities (`from_logits=False`), or whose
    targets do where it expects them in [0, 1] (all but the sparse one, whose labels are classes).

    Args:
        loss: the finder's `loss_fn`, or the model's compiled `loss` (one, a list or a dict).
        y: the first batch's targets.
        y_pred: the model's outputs on the first batch (inference mode).
        output_names: the model's `output_names`, to match a dict of losses and to name an output.
        compiled: whether `loss` is the model's compiled one (the fix is then said for `compile`).

    Example:
        >>> y = np.array([[0.0], [1.0]])
        >>> print(*crossentropy_warnings("binary_crossentropy", y, np.array([[-0.7], [1.3]]), ["out"], False))
        `loss_fn` (binary_crossentropy) expects probabilities in [0, 1] (from_logits=False), but the model's outputs on the first batch range from -0.7 to 1.3: logits, by the look of them. The loss clips what it gets into [0, 1] before its log, and what it clips gets no gradient: the sweep, and `fit`, train badly on it. Pass `loss_fn=keras.losses.BinaryCrossentropy(from_logits=True)` for a model that outputs logits, as this one seems to, or end the model with a sigmoid.
        >>> print(*crossentropy_warnings("binary_crossentropy", 2 * y - 1, np.array([[0.3], [0.6]]), ["out"], False))
        `loss_fn` (binary_crossentropy) expects targets in [0, 1], but y on the first batch runs from -1 to 1: there the loss has no lower bound (a sample's loss falls below 0 as its output runs off), and the sweep, like `fit`, chases it. Map the targets into [0, 1] (labels of -1 and 1: `(y + 1) / 2`).
        >>> crossentropy_warnings("binary_crossentropy", y, np.array([[0.3], [0.6]]), ["out"], False)
        []
    """
    matched = per_output(loss, y, y_pred, output_names)
    out = []
    for name, one, value, target in matched:
        kind = identify(one)
        if kind is None:
            continue
        (function, from_logits), activation = kind, ACTIVATIONS[kind[0]]
        output = f"output {name!r}" if len(matched) > 1 else "outputs"
        bounds = None if from_logits else outside(value)
        if bounds is not None:
            fixed = f"keras.losses.{''.join(part.title() for part in function.split('_'))}(from_logits=True)"
            fix = f"Compile the model with `{fixed}`" if compiled else f"Pass `loss_fn={fixed}`"
            out.append(
                f"{whose(compiled)} ({function}) expects probabilities in [0, 1] (from_logits=False), but the model's {output} "
                f"on the first batch range from {bounds[0]:.3g} to {bounds[1]:.3g}: logits, by the look of them. The "
                "loss clips what it gets into [0, 1] before its log, and what it clips gets no gradient: the sweep, "
                f"and `fit`, train badly on it. {fix} for a model that outputs logits, as this one seems to, or end "
                f"the model with a {activation}."
            )
        bounds = None if function.startswith("sparse") else outside(target, tolerance=0.0)
        if bounds is not None:
            low, high = bounds
            how = {(-1.0, 1.0): " (labels of -1 and 1: `(y + 1) / 2`)", (1.0, 2.0): " (labels of 1 and 2: `y - 1`)"}
            target = targets_run(name if len(matched) > 1 else None)
            out.append(
                f"{whose(compiled)} ({function}) expects targets in [0, 1], but {target} from {low:.3g} "
                f"to {high:.3g}: there the loss has no lower bound (a sample's loss falls below 0 as its output runs off), "
                f"and the sweep, like `fit`, chases it. Map the targets into [0, 1]{how.get(bounds, '')}."
            )
    return out
