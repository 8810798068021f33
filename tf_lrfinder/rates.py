"""How the sweep sets an optimizer's learning rate, and what an optimizer's rate does beyond its value.

The sweep and refining's runs set one rate per step. A float-rate optimizer's own rate variable
takes it; a schedule's is swapped for the finder's own (`rate_swapped`), and so are the rates of a
`MultiOptimizer`'s sub-optimizers, which move together, each keeping its ratio to the one swept
(`reference`). Some optimizers make the rate do more than scale an update: Adafactor caps it by its
step count (`rate_cap`), Ftrl rescales its weights where it changes (`ftrl_rate_held`),
ScheduleFreeAdamW ramps it up over its first `warmup_steps` (turned off while the finder trains,
as a schedule is), and gradient accumulation spreads one update over several batches
(`accumulation_steps`, `start_accumulation`).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

# Optimizers of newer Keras versions than the oldest supported (3.8; 3.15 has both, 3.12 neither),
# or None where absent.
MULTI = getattr(keras.optimizers, "MultiOptimizer", None)
SCHEDULE_FREE = getattr(keras.optimizers, "ScheduleFreeAdamW", None)


def _inner(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimizer inside a `LossScaleOptimizer`, else `optimizer` itself."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def _is_multi(optimizer: keras.optimizers.Optimizer) -> bool:
    return MULTI is not None and isinstance(_inner(optimizer), MULTI)


def holders(optimizer: keras.optimizers.Optimizer) -> list[keras.optimizers.Optimizer]:
    """The optimizers that hold the rates and the state: a `MultiOptimizer`'s sub-optimizers (of a
    selector function, only once it is built: before, it knows none), else the optimizer itself,
    inside a `LossScaleOptimizer` its inner one.

    Example:
        >>> adam, sgd = keras.optimizers.Adam(), keras.optimizers.SGD()
        >>> holders(keras.optimizers.LossScaleOptimizer(adam)) == [adam]
        True
        >>> multi = MULTI and MULTI(keras.optimizers.OptimizerMap(sgd, {"dense/.*": adam}))  # None where Keras lacks it
        >>> multi is None or holders(multi) == [adam, sgd]
        True
    """
    inner = _inner(optimizer)
    return list(inner.optimizers) if _is_multi(optimizer) else [inner]


def reference(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer | None:
    """The optimizer whose rate the sweep sets and records; the others of a `MultiOptimizer` keep
    their ratio to it. A `MultiOptimizer`'s `default_optimizer` (of an `OptimizerMap`), else its
    first sub-optimizer (of a selector function: the one given the model's first trainable
    variable; None before it is built); the only one for any other optimizer.

    Example:
        >>> head, encoder = keras.optimizers.SGD(0.05), keras.optimizers.Adam(1e-3)
        >>> multi = MULTI and MULTI(keras.optimizers.OptimizerMap(head, {"encoder/.*": encoder}))  # None where Keras lacks it
        >>> multi is None or reference(multi) is head
        True
    """
    default = getattr(getattr(_inner(optimizer), "_optimizer_map", None), "default_optimizer", None)
    found = holders(optimizer)
    return default if _is_multi(optimizer) and default in found else (found[0] if found else None)


def _rate(holder: keras.optimizers.Optimizer, rate: Any) -> Any:
    """The value of `rate` (a holder's `_learning_rate`: a variable, a schedule or a callable) now:
    a tensor, in the graph where called in one."""
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return rate(holder.iterations)
    return rate() if callable(rate) and not isinstance(rate, (keras.Variable, tf.Variable)) else rate


def _settable(holder: keras.optimizers.Optimizer) -> bool:
    """Whether `holder`'s rate is its own variable (the alternative, a schedule or callable, is
    swapped); a TypeError where it is neither."""
    current = getattr(holder, "_learning_rate", None)
    if isinstance(current, (keras.Variable, tf.Variable)):
        return True
    if isinstance(current, keras.optimizers.schedules.LearningRateSchedule) or callable(current):
        return False
    raise TypeError(
        f"The optimizer's learning rate cannot be set: it is a {type(current).__name__}. "
        "Create the optimizer with a float `learning_rate` or a LearningRateSchedule."
    )


def rate_target(optimizer: keras.optimizers.Optimizer) -> tuple[Any, bool]:
    """The variable that carries the optimizer's learning rate, and whether it must be swapped in.

    A float-rate optimizer has its own rate variable, which the snapshot covers. An optimizer built
    on a `LearningRateSchedule` (or a callable) has none, nor has a `MultiOptimizer` one for all its
    sub-optimizers: the sweep swaps in a callable that reads the finder's own variable
    (`rate_swapped`), and puts the original back afterwards.

    Raises:
        TypeError: a rate is neither a variable nor a schedule (it cannot be swept).

    Example:
        >>> target, swap = rate_target(keras.optimizers.SGD(0.1))
        >>> round(float(target.numpy()), 6), swap
        (0.1, False)
        >>> rate_target(keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)))
        (None, True)
    """
    settable = [_settable(holder) for holder in holders(optimizer)]
    if _is_multi(optimizer):
        ratios(optimizer)  # raises where it has none to keep
        return None, True
    if not all(settable):
        return None, True
    return _inner(optimizer)._learning_rate, False


def ratios(optimizer: keras.optimizers.Optimizer) -> list[float]:
    """Each of `holders`' rates now, over the `reference`'s: what `rate_swapped` multiplies the
    swept rate by, holder by holder (1 for an optimizer that is not a `MultiOptimizer`).

    Raises:
        ValueError: a `MultiOptimizer` whose reference rate is 0 or not finite, or another's rate
            not finite: no ratio to keep.

    Example:
        >>> head, encoder = keras.optimizers.SGD(0.05), keras.optimizers.Adam(1e-3)
        >>> ratios(head)
        [1.0]
        >>> multi = MULTI and MULTI(keras.optimizers.OptimizerMap(head, {"encoder/.*": encoder}))  # None where Keras lacks it
        >>> multi is None or [round(r, 6) for r in ratios(multi)] == [0.02, 1.0]
        True
    """
    found = holders(optimizer)
    if not _is_multi(optimizer):
        return [1.0] * len(found)
    rates = [float(np.asarray(_rate(holder, holder._learning_rate))) for holder in found]
    swept = reference(optimizer)
    base = rates[found.index(swept)] if found else 1.0
    if not (np.isfinite(base) and base > 0) or not np.all(np.isfinite(rates)):
        raise ValueError(
            f"The MultiOptimizer's default optimizer (of an OptimizerMap; else its first sub-optimizer) has "
            f"a rate of {base:g}, its others {[f'{r:g}' for r, h in zip(rates, found) if h is not swept]}: "
            "the finder sweeps that rate and moves the others with it, each keeping its ratio to it, so it "
            "must be above 0, and all finite. Set it to a rate you would train with, or pass the finder "
            "one optimizer (`optimizer=`).")
    return [rate / base for rate in rates]


def accumulation_steps(optimizer: keras.optimizers.Optimizer) -> int:
    """How many batches the optimizer accumulates gradients over before each update (1: none).

    Keras optimizers created with `gradient_accumulation_steps=k` update the weights on every k-th
    batch, with the mean of the k gradients and the rate at that batch. The sweep counts a step as
    one update: it holds each rate for k batches, and a loss recorded is the mean over them.
    A `MultiOptimizer`'s sub-optimizers must agree: the sweep holds a rate for one update of all.

    Raises:
        ValueError: a `MultiOptimizer`'s sub-optimizers accumulate over different numbers of batches.

    Example:
        >>> accumulation_steps(keras.optimizers.Adam()), accumulation_steps(keras.optimizers.Adam(gradient_accumulation_steps=4))
        (1, 4)
    """
    counts = sorted({int(getattr(holder, "gradient_accumulation_steps", None) or 1) for holder in holders(optimizer)})
    if len(counts) > 1:
        raise ValueError(
            f"The MultiOptimizer's sub-optimizers accumulate gradients over different numbers of batches "
            f"({counts}): the finder holds each rate for one update of all of them. Give them one "
            "`gradient_accumulation_steps`, or pass the finder one optimizer (`optimizer=`).")
    return counts[0] if counts else 1


def rate_cap(optimizer: keras.optimizers.Optimizer, updates: int) -> float | None:
    """The highest rate the optimizer applies at its `updates`-th update from now, where it caps its rate.

    Keras's Adafactor applies `min(learning_rate, 1 / sqrt(t))` at its t-th batch, `t` counted over
    the optimizer's life, whatever `relative_step` says: a sweep that goes above that cap trains at
    the cap, so its loss cannot diverge there. None for an optimizer without a cap.

    Of a `MultiOptimizer`, in the swept rate's terms (`ratios`), where each of its sub-optimizers
    that trains variables at a rate above 0 is an Adafactor: the highest of their caps.

    Args:
        optimizer: the optimizer swept (a `LossScaleOptimizer`'s inner one is read).
        updates: updates from its current state (a sweep's steps), each of `accumulation_steps`
            batches; like the sweep, counted from a fresh update.

    Example:
        >>> rate_cap(keras.optimizers.Adafactor(), updates=100), rate_cap(keras.optimizers.Adam(), 100)
        (0.1, None)
    """
    k = accumulation_steps(optimizer)
    caps = []
    for holder, ratio in zip(holders(optimizer), ratios(optimizer)):
        if ratio == 0 or (_is_multi(optimizer) and not holder.built):  # trains nothing
            continue
        if not isinstance(holder, keras.optimizers.Adafactor):
            return None
        caps.append(1 / math.sqrt(int(holder.iterations.numpy()) // k * k + updates * k) / ratio)
    return max(caps) if caps else None


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
    for holder in holders(optimizer):
        holder._iterations.assign(holder._iterations.numpy() // k * k)
        for accumulator in getattr(holder, "_accumulated_gradients", None) or []:  # none where not built
            accumulator.assign(tf.zeros_like(accumulator))


def ftrl_rate_held(optimizer: keras.optimizers.Optimizer, variables: list[Any]) -> Callable[[], None] | None:
    """For Keras's `Ftrl`, a function that sets the optimizer's `linear` accumulators so that the
    weights `variables` stay as they are at the rate it applies now; None for any other optimizer
    (of a `MultiOptimizer`: for each of its sub-optimizers that is an Ftrl, for its variables).

    Ftrl computes each weight in closed form from its accumulators and the rate of the update:
    `w = (clip(linear, -l1, l1) - linear) / q`, with `q = (accum ** -lr_power + beta) / lr + 2 * l2`.
    Under a constant rate that is a step of AdaGrad's kind from the weights before; but where the
    rate changes between updates, `q` changes with it and every weight is rescaled by about the
    ratio of the rates, whatever the gradients. A sweep raises its rate 20% a step (1e-7 to 10
    over 100 steps), so its weights grew 20% a step and its loss blew up at whatever rate it had
    reached by the thirtieth or so: on a 3-class problem that trains best at 0.3 to 1, the sweep
    diverged at 3e-5 and the call returned 6.7e-8. The sweep calls this at each of its steps after
    the first whose rate changed, once it set the new rate (not in a run of `refine`, which keeps
    one rate, so that it trains as Keras's Ftrl does, to the last bit), setting `linear = -w * q -
    l1 * sign(w)` at the new rate where `w` is not 0 (where it is, `|linear| <= l1` and the formula
    gives 0 at any rate), so each step trains from the weights as they are, as a constant rate
    would. The first step is left as Keras takes it: a fresh `Ftrl` (its `linear` 0) replaces the
    starting weights at its first update, in `fit` as in the sweep.

    Example:
        >>> v = keras.Variable([1.0, -2.0]); opt = keras.optimizers.Ftrl(0.1); opt.build([v])
        >>> _ = opt.apply_gradients([(tf.constant([0.5, 0.5]), v)])
        >>> held, before = ftrl_rate_held(opt, [v]), v.numpy().copy()
        >>> opt.learning_rate = 10.0  # a hundred times the rate
        >>> held()
        >>> _ = opt.apply_gradients([(tf.constant([0.0, 0.0]), v)])  # a gradient of 0: the weights stay
        >>> bool(tf.reduce_all(tf.abs(v.value - before) < 1e-6)), ftrl_rate_held(keras.optimizers.Adam(), [v])
        (True, None)
    """
    parts = []
    for holder in holders(optimizer):
        if not isinstance(holder, keras.optimizers.Ftrl) or not holder.built:
            continue
        owned = [v for v in variables if holder._var_key(v) in holder._trainable_variables_indices]
        slots = [(v, holder._accumulators[holder._get_variable_index(v)], holder._linears[holder._get_variable_index(v)])
                 for v in owned]
        parts.append((holder, slots))

    def hold() -> None:
        for holder, slots in parts:
            rate = _rate(holder, holder._learning_rate)  # as the update reads it (swapped, in a sweep)
            l1, l2, beta, power = (holder.l1_regularization_strength, holder.l2_regularization_strength,
                                   holder.beta, -holder.learning_rate_power)
            for variable, accum, linear in slots:
                w, lr = variable.value, tf.cast(rate, variable.dtype)
                q = (tf.pow(accum.value, power) + beta) / lr + 2.0 * l2
                linear.assign(tf.where(tf.equal(w, 0.0), linear.value, -w * q - l1 * tf.sign(w)))

    return hold if parts else None


@contextlib.contextmanager
def rate_swapped(optimizer: keras.optimizers.Optimizer, lr_variable: tf.Variable) -> Iterator[None]:
    """While the finder trains, make the optimizer apply the rate in `lr_variable` where it has no
    rate variable of its own to set (`rate_target`), and turn ScheduleFreeAdamW's warmup off; put
    everything back on exit, whatever happens.

    A schedule optimizer reads `lr_variable`. A `MultiOptimizer`'s `reference` sub-optimizer
    reads it, and each other reads it times the ratio of its own rate to the reference's, read
    afresh at each update (so a rate changed between calls counts, without retracing). A warmup
    scales the rate down by `t / warmup_steps` over its first steps, as a warmup schedule would: the
    finder sweeps the rate reached after it, as it sweeps a schedule's.

    Raises:
        ValueError: a `MultiOptimizer`'s rates have no ratio to keep (`ratios`), before any change.

    Example:
        >>> schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
        >>> opt, lr = keras.optimizers.SGD(schedule), tf.Variable(0.5)
        >>> with rate_swapped(opt, lr):
        ...     float(opt.learning_rate)
        0.5
        >>> opt._learning_rate is schedule
        True
    """
    swap, base = rate_target(optimizer)[1], reference(optimizer)  # raises (`ratios`) before any change
    schedule_free = SCHEDULE_FREE or ()  # isinstance(x, ()) is False: a Keras without it
    # Each holder, its rate, and its warmup where it is a ScheduleFreeAdamW (None: nothing to turn off).
    originals = [(holder, holder._learning_rate, holder.warmup_steps if isinstance(holder, schedule_free) else None)
                 for holder in holders(optimizer)]
    base_rate = base._learning_rate if base is not None else None

    def scaled(holder: keras.optimizers.Optimizer, rate: Any) -> Callable[[], Any]:
        def read() -> Any:
            ratio = tf.cast(_rate(holder, rate), lr_variable.dtype) / tf.cast(_rate(base, base_rate), lr_variable.dtype)
            return lr_variable * ratio
        return read

    try:
        for holder, rate, warmup in originals:
            if swap:  # assigned, not set through `learning_rate`, which would untrack a rate variable
                holder._learning_rate = (lambda: lr_variable) if holder is base else scaled(holder, rate)
            if warmup is not None:
                holder.warmup_steps = 0
        yield
    finally:
        for holder, rate, warmup in originals:
            holder._learning_rate = rate
            if warmup is not None:
                holder.warmup_steps = warmup
