"""Targets whose shape a regression loss broadcasts against the outputs', on the first batch.

Keras's regression losses (mean squared error and its kin) subtract the outputs from the targets
and let the two broadcast: targets of shape (batch, 1) against outputs of (batch, 3) train each of
the three outputs towards the same target, and outputs of (batch, 1) against targets of (batch, 3)
train the one output towards their mean. Neither raises, in the sweep or in `fit`: a model built
with the wrong number of outputs (a classifier's head reused for regression, say) trains without a
word. A target of shape (batch,) against an output of (batch, 1) is the same shape to Keras, which
drops the trailing 1, and is not told.
"""

from __future__ import annotations

from typing import Any

import keras  # noqa: F401 (the examples use it)
import numpy as np

from .bounded import REGRESSION
from .crossentropy import per_output, whose
from .step import keras_loss


def broadcast_shapes(target: tuple[int, ...], output: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The target's and the output's shapes as a Keras regression loss compares them (a trailing 1
    dropped where the ranks differ by one) where they differ and broadcast against each other; else
    None (the same shape, or shapes Keras rejects with an error of its own).

    Example:
        >>> broadcast_shapes((32, 1), (32, 3)), broadcast_shapes((32,), (32, 1)), broadcast_shapes((32,), (32, 3))
        (((32, 1), (32, 3)), None, None)
    """
    if len(target) == len(output) + 1 and target[-1:] == (1,):
        target = target[:-1]
    elif len(output) == len(target) + 1 and output[-1:] == (1,):
        output = output[:-1]
    if len(target) != len(output) or target == output:
        return None
    try:
        np.broadcast_shapes(target, output)
    except ValueError:
        return None
    return target, output


def _shape(value: Any) -> tuple[int, ...] | None:
    """`value`'s shape where every axis is known (not a ragged tensor's, nor a missing target's)."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    shape = tuple(shape)
    return shape if all(isinstance(axis, (int, np.integer)) for axis in shape) else None


def _what(target: tuple[int, ...], output: tuple[int, ...]) -> str:
    """What the broadcast does, and the fix, for these (differing) shapes."""
    if target[-1:] == (1,) and output[-1] > 1:
        return (f"each of the {output[-1]} outputs is trained towards the same target. Give the model one output "
                f"(`Dense(1)`) for one target per sample, or pass {output[-1]} targets per sample")
    if output[-1:] == (1,) and target[-1] > 1:
        return (f"the one output is trained towards the mean of the {target[-1]} targets. Give the model "
                f"{target[-1]} outputs (`Dense({target[-1]})`), or pass one target per sample")
    return "targets and outputs are not paired one to one. Pass targets of the outputs' shape"


def broadcast_warnings(loss: Any, y: Any, y_pred: Any, output_names: list[str] | None, compiled: bool) -> list[str]:
    """A warning for each output, on the first batch, whose loss is one of Keras's regression losses
    (`tf_lrfinder.bounded.REGRESSION`) and whose targets' shape differs from its values' and
    broadcasts against them (`broadcast_shapes`).

    Args:
        loss: the finder's `loss_fn`, or the model's compiled `loss` (one, a list or a dict).
        y: the first batch's targets.
        y_pred: the model's outputs on the first batch.
        output_names: the model's `output_names`, to match a dict of losses and to name an output.
        compiled: whether `loss` is the model's compiled one.

    Example:
        >>> print(*broadcast_warnings("mse", np.zeros((32, 1)), np.zeros((32, 3)), None, False))
        `loss_fn` (mean_squared_error) compares the model's outputs, of shape (32, 3) on the first batch, with y of shape (32, 1): Keras broadcasts them, without an error here or in `fit`, so each of the 3 outputs is trained towards the same target. Give the model one output (`Dense(1)`) for one target per sample, or pass 3 targets per sample.
        >>> broadcast_warnings("mse", np.zeros((32,)), np.zeros((32, 1)), None, False)
        []
    """
    matched = per_output(loss, y, y_pred, output_names)
    out = []
    for name, one, value, target in matched:
        kind = keras_loss(one)
        if kind is None or kind[0] not in REGRESSION:
            continue
        target_shape, output_shape = _shape(target), _shape(value)
        shapes = None if target_shape is None or output_shape is None else broadcast_shapes(target_shape, output_shape)
        if shapes is None:
            continue
        outputs = f"the values of output {name!r}" if len(matched) > 1 else "the model's outputs"
        named = f"the targets of output {name!r}, of shape" if len(matched) > 1 else "y of shape"
        out.append(
            f"{whose(compiled)} ({kind[0]}) compares {outputs}, of shape {output_shape} on the first batch, with {named} "
            f"{target_shape}: Keras broadcasts them, without an error here or in `fit`, so "
            f"{_what(*shapes)}.")
    return out
