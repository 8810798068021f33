"""How the sweep sets an optimizer's learning rate, and what an optimizer's rate does beyond its value.

The sweep and refining's runs set one rate per step. A float-rate optimizer's own rate variable
takes it; a schedule's is swapped for the finder's own (`rate_swapped`). Some optimizers make the
rate do more than scale an update: Adafactor caps it by its step count (`rate_cap`), Ftrl rescales
its weights where it changes (`ftrl_rate_held`), and gradient accumulation spreads one update over
several batches (`accumulation_steps`, `start_accumulation`).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator

import keras
import tensorflow as tf


def _inner(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimizer that holds the rate and the state: a `LossScaleOptimizer`'s inner one, else itself."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def rate_target(optimizer: keras.optimizers.Optimizer) -> tuple[Any, bool]:
    """The variable that carries the optimizer's learning rate, and whether it must be swapped in.

    A float-rate optimizer has its own rate variable, which the snapshot covers. An optimizer built
    on a `LearningRateSchedule` (or a callable) has none: the sweep swaps in a callable that reads
    the finder's own variable, and puts the original back afterwards.

    Raises:
        TypeError: the rate is neither a variable nor a schedule (it cannot be swept).

    Example:
        >>> target, swap = rate_target(keras.optimizers.SGD(0.1))
        >>> round(float(target.numpy()), 6), swap
        (0.1, False)
        >>> rate_target(keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)))
        (None, True)
    """
    current = getattr(_inner(optimizer), "_learning_rate", None)
    if isinstance(current, (keras.Variable, tf.Variable)):
        return current, False
    if isinstance(current, keras.optimizers.schedules.LearningRateSchedule) or callable(current):
        return None, True
    raise TypeError(
        f"The optimizer's learning rate cannot be set: it is a {type(current).__name__}. "
        "Create the optimizer with a float `learning_rate` or a LearningRateSchedule."
    )


def accumulation_steps(optimizer: keras.optimizers.Optimizer) -> int:
    """How many batches the optimizer accumulates gradients over before each update (1: none).

    Keras optimizers created with `gradient_accumulation_steps=k` update the weights on every k-th
    batch, with the mean of the k gradients and the rate at that batch. The sweep counts a step as
    one update: it holds each rate for k batches, and a loss recorded is the mean over them.

    Example:
        >>> accumulation_steps(keras.optimizers.Adam()), accumulation_steps(keras.optimizers.Adam(gradient_accumulation_steps=4))
        (1, 4)
    """
    return int(getattr(_inner(optimizer), "gradient_accumulation_steps", None) or 1)


def rate_cap(optimizer: keras.optimizers.Optimizer, updates: int) -> float | None:
    """The highest rate the optimizer applies at its `updates`-th update from now, where it caps its rate.

    Keras's Adafactor applies `min(learning_rate, 1 / sqrt(t))` at its t-th batch, `t` counted over
    the optimizer's life, whatever `relative_step` says: a sweep that goes above that cap trains at
    the cap, so its loss cannot diverge there. None for an optimizer without a cap.

    Args:
        optimizer: the optimizer swept (a `LossScaleOptimizer`'s inner one is read).
        updates: updates from its current state (a sweep's steps), each of `accumulation_steps`
            batches; like the sweep, counted from a fresh update.

    Example:
        >>> rate_cap(keras.optimizers.Adafactor(), updates=100), rate_cap(keras.optimizers.Adam(), 100)
        (0.1, None)
    """
    inner = _inner(optimizer)
    if not isinstance(inner, keras.optimizers.Adafactor):
        return None
    k = accumulation_steps(optimizer)
    return 1 / math.sqrt(int(inner.iterations.numpy()) // k * k + updates * k)


def start_accumulation(optimizer: keras.optimizers.Optimizer) -> None:
    """Empty the optimizer's gradient accumulators and set its batch count to a multiple of `k`.

    A sweep or a run then starts on a fresh update: its first k batches make its first update, with
    nothing left over from training before it (the finder's snapshot restores both afterwards).
    No effect without gradient accumulation.

    Example:
        >>> opt = keras.optimizers.SGD(0.1, gradient_accumulation_steps=3); v = keras.Variable([1.0])
        >>> _ = opt.apply_gradients([(tf.constant([1.0]), v)])  # one batch of three: accumulated only
        >>> int(opt._iterations.numpy()), opt._accumulated_gradients[0].numpy().tolist(), v.numpy().tolist()
        (1, [1.0], [1.0])
        >>> start_accumulation(opt)
        >>> int(opt._iterations.numpy()), opt._accumulated_gradients[0].numpy().tolist()
        (0, [0.0])
    """
    k = accumulation_steps(optimizer)
    if k == 1:
        return
    inner = _inner(optimizer)
    inner._iterations.assign(inner._iterations.numpy() // k * k)
    for accumulator in inner._accumulated_gradients:
        accumulator.assign(tf.zeros_like(accumulator))


def ftrl_rate_held(optimizer: keras.optimizers.Optimizer, variables: list[Any]) -> Callable[[Any], None] | None:
    """For Keras's `Ftrl`, a function that, given a new rate, sets the optimizer's `linear`
    accumulators so that the weights `variables` stay as they are at that rate; None for any
    other optimizer.

    Ftrl computes each weight in closed form from its accumulators and the rate of the update:
    `w = (clip(linear, -l1, l1) - linear) / q`, with `q = (accum ** -lr_power + beta) / lr + 2 * l2`.
    Under a constant rate that is a step of AdaGrad's kind from the weights before; but where the
    rate changes between updates, `q` changes with it and every weight is rescaled by about the
    ratio of the rates, whatever the gradients. A sweep raises its rate 20% a step (1e-7 to 10
    over 100 steps), so its weights grew 20% a step and its loss blew up at whatever rate it had
    reached by the thirtieth or so: on a 3-class problem that trains best at 0.3 to 1, the sweep
    diverged at 3e-5 and the call returned 6.7e-8. The sweep calls this at each of its steps after
    the first whose rate changed (not in a run of `refine`, which keeps one rate, so that it trains
    as Keras's Ftrl does, to the last bit), setting `linear = -w * q - l1 * sign(w)` at the new
    rate where `w` is not 0 (where it is, `|linear| <= l1` and the formula gives 0 at any rate), so
    each step trains from the weights as they are, as a constant rate would. The first step is
    left as Keras takes it: a fresh `Ftrl` (its `linear` 0) replaces the starting weights at its
    first update, in `fit` as in the sweep.

    Example:
        >>> v = keras.Variable([1.0, -2.0]); opt = keras.optimizers.Ftrl(0.1); opt.build([v])
        >>> _ = opt.apply_gradients([(tf.constant([0.5, 0.5]), v)])
        >>> held, before = ftrl_rate_held(opt, [v]), v.numpy().copy()
        >>> opt.learning_rate = 10.0  # a hundred times the rate
        >>> held(opt.learning_rate)
        >>> _ = opt.apply_gradients([(tf.constant([0.0, 0.0]), v)])  # a gradient of 0: the weights stay
        >>> bool(tf.reduce_all(tf.abs(v.value - before) < 1e-6)), ftrl_rate_held(keras.optimizers.Adam(), [v])
        (True, None)
    """
    inner = _inner(optimizer)
    if not isinstance(inner, keras.optimizers.Ftrl):
        return None
    slots = [(v, inner._accumulators[inner._get_variable_index(v)], inner._linears[inner._get_variable_index(v)])
             for v in variables]
    l1, l2, beta, power = (inner.l1_regularization_strength, inner.l2_regularization_strength, inner.beta,
                           -inner.learning_rate_power)

    def hold(rate: Any) -> None:
        for variable, accum, linear in slots:
            w, lr = variable.value, tf.cast(rate, variable.dtype)
            q = (tf.pow(accum.value, power) + beta) / lr + 2.0 * l2
            linear.assign(tf.where(tf.equal(w, 0.0), linear.value, -w * q - l1 * tf.sign(w)))

    return hold


@contextlib.contextmanager
def rate_swapped(optimizer: keras.optimizers.Optimizer, lr_variable: tf.Variable) -> Iterator[None]:
    """Make a schedule optimizer read `lr_variable`; restore its schedule on exit, whatever happens.

    Example:
        >>> schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
        >>> opt, lr = keras.optimizers.SGD(schedule), tf.Variable(0.5)
        >>> with rate_swapped(opt, lr):
        ...     float(opt.learning_rate)
        0.5
        >>> opt._learning_rate is schedule
        True
    """
    inner = _inner(optimizer)
    original = inner._learning_rate
    inner.learning_rate = lambda: lr_variable  # the public setter accepts a callable
    try:
        yield
    finally:
        inner._learning_rate = original
