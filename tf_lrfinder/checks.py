"""Checks of what users hand the finder, each raising before anything is changed.

The finder calls these at the door (`LRFinder.__post_init__`, `LRFinder.__call__`) or just before
its snapshot (`LRFinder._prepare`). Each error names the argument, says what was received and, where
there is one, the fix, in Keras's own format.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import keras
import numpy as np


def positive_finite(name: str, value: Any) -> None:
    """Raise unless `value`, the argument `name`, is a finite positive number (not a bool).

    Example:
        >>> positive_finite("min_lr", 1e-7)
        >>> positive_finite("max_lr", 0)
        Traceback (most recent call last):
        ...
        ValueError: `max_lr` must be finite and positive. Received: max_lr=0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"`{name}` must be a number. Received: {name}={value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be finite and positive. Received: {name}={value!r}")


def integer(name: str, value: Any, least: int = 1, why: str = "") -> int:
    """`value`, the argument `name`, as an `int`; raise unless it is an integer (Python's or NumPy's,
    not a bool) of at least `least` (a positive one by default). `why` follows the rule in the message.

    Example:
        >>> integer("batch_size", np.int64(32))
        32
        >>> integer("extend", 0, least=0)
        0
        >>> integer("n_steps", 3, least=5, why=": fewer steps are too few to suggest anything")
        Traceback (most recent call last):
        ...
        ValueError: `n_steps` must be an integer of at least 5: fewer steps are too few to suggest anything. Received: n_steps=3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(least, f"an integer of at least {least}")
        raise ValueError(f"`{name}` must be {kind}{why}. Received: {name}={value!r}")
    return int(value)


def share(name: str, value: Any) -> float:
    """`value`, the argument `name`, as a `float`; raise unless it is a number in [0, 1) (not a bool).

    Example:
        >>> share("smoothing", np.float32(0.5))
        0.5
        >>> share("tolerance", 1)
        Traceback (most recent call last):
        ...
        ValueError: `tolerance` must be in [0, 1). Received: tolerance=1
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={value!r}")
    return float(value)


def by_name(argument: str, name: str, get: Callable[[str], Any], examples: str) -> Any:
    """What Keras's `get` makes of `name` (as `compile` reads it), or an error naming `argument`.

    Example:
        >>> type(by_name("optimizer", "sgd", keras.optimizers.get, "'adam' or 'sgd'")).__name__
        'SGD'
        >>> by_name("loss_fn", "msee", keras.losses.get, "'mse'")
        Traceback (most recent call last):
        ...
        ValueError: `loss_fn` is not a name Keras knows. Received: loss_fn='msee'. Use one such as 'mse', or pass the object itself.
    """
    try:
        return get(name)
    except ValueError:
        raise ValueError(
            f"`{argument}` is not a name Keras knows. Received: {argument}={name!r}. Use one such as "
            f"{examples}, or pass the object itself."
        ) from None


def optimizer_knows(optimizer: keras.optimizers.Optimizer, variables: list[Any]) -> None:
    """Raise if `optimizer` was built for other variables (say, before layers were unfrozen): Keras
    would refuse them only once a sweep had begun. Does nothing where Keras lacks its check.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3), keras.layers.Dense(1)])
        >>> optimizer = keras.optimizers.Adam()
        >>> optimizer.build(model.layers[-1].trainable_variables)  # the last layer only
        >>> optimizer_knows(optimizer, model.layers[-1].trainable_variables)
        >>> optimizer_knows(optimizer, model.trainable_variables)
        Traceback (most recent call last):
        ...
        ValueError: `optimizer` was built for other variables than the model's trainable ones (were layers frozen or unfrozen since it was used?). Pass a new optimizer, for example `finder.optimizer = keras.optimizers.Adam()`, or compile the model again.
    """
    check = getattr(optimizer, "_check_variables_are_known", None)  # Keras 3's own check (private)
    if check is None:
        return
    try:
        check(variables)
    except ValueError:
        raise ValueError(
            "`optimizer` was built for other variables than the model's trainable ones (were layers "
            "frozen or unfrozen since it was used?). Pass a new optimizer, for example "
            "`finder.optimizer = keras.optimizers.Adam()`, or compile the model again."
        ) from None


def adds_a_loss(model: keras.Model, x: Any, y: Any, sample_weight: Any, evaluates: bool) -> None:
    """Raise unless a model compiled without a loss still computes one (`add_loss`, `compute_loss`):
    in training mode for the sweep, and in inference mode too where `refine`'s runs are measured
    (`evaluates`).

    A forward pass in each mode inside a `keras.StatelessScope`, so that no variable changes
    (BatchNorm's moving statistics included).

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd")  # no loss, and the model adds none
        >>> adds_a_loss(model, np.zeros((4, 2)), np.zeros((4, 1)), None, evaluates=True)
        Traceback (most recent call last):
        ...
        ValueError: No loss: `model` was compiled without a loss, adds none with `add_loss` and computes none in its `compute_loss` (Keras: No loss to compute. Provide a `loss` argument in `compile()`.). Pass `loss_fn=` (for example 'mse') or compile the model with `loss=`.
    """
    for training in (True, False) if evaluates else (True,):
        try:
            with keras.StatelessScope(collect_losses=True):
                model.compute_loss(x=x, y=y, y_pred=model(x, training=training), sample_weight=sample_weight,
                                   training=training)
        except ValueError as error:
            if training:
                raise ValueError(
                    "No loss: `model` was compiled without a loss, adds none with `add_loss` and computes "
                    f"none in its `compute_loss` (Keras: {error}). Pass `loss_fn=` (for example 'mse') or "
                    "compile the model with `loss=`."
                ) from None
            raise ValueError(
                "No loss in inference mode: `model` was compiled without a loss and computes one only "
                f"when training (Keras: {error}), while `refine` measures its runs in inference mode. "
                "Pass `refine=False`, or `loss_fn=`, or compile the model with `loss=`."
            ) from None
