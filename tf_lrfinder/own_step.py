"""The model's own `train_step` and `test_step` as the finder's steps, for a model that overrides them.

`fit` trains a model that overrides `train_step` (a VAE that adds a KL term to its loss, a GAN, a
step with a gradient penalty or sharpness-aware minimisation) by that step, which the finder's own
step (the model called with training=True, one loss, the gradients of every trainable variable)
does not reproduce. So the finder trains such a model by its own step too (`LRFinder(step=...)`):
each step resets the model's metrics and calls `model.train_step(batch)`, and the loss it records
is `logs[monitor]` of what that returns. Keras's loss tracker, and any metric that averages (a
`keras.metrics.Mean`, as a custom step tracks its losses with), then holds that batch's value
alone, where `fit` shows the mean since the epoch began. Refining's runs are measured by
`model.test_step` the same way, on each held-back (or validation) batch.

The model's step must apply the optimizer whose rate the finder sweeps (`LRFinder` checks that it
does, on the step's trace, before anything runs). Everything else the step writes (a second
optimizer, its metrics, counters) is in the snapshot, as for the finder's own step.
"""

from __future__ import annotations

import contextlib
import re
import threading
import warnings
from collections.abc import Mapping
from typing import Any, Callable, Iterator, Sequence

import keras
import tensorflow as tf

from .compiled import for_model
from .step import across_replicas, nonfinite_parts, overflow_everywhere, replica_strategy


def overrides(model: keras.Model, method: str) -> bool:
    """Whether `model`'s class defines its own `method` (`"train_step"`, `"test_step"`) in place of
    Keras's.

    Example:
        >>> class Custom(keras.Model):
        ...     def train_step(self, data):
        ...         return super().train_step(data)
        >>> overrides(Custom(), "train_step"), overrides(Custom(), "test_step")
        (True, False)
    """
    return getattr(type(model), method) is not getattr(keras.Model, method)


def calls(model: keras.Model) -> bool:
    """Whether `model` can be called: its class (a `Sequential`, a functional model, a subclass that
    writes `call`) defines `call`, where Keras's raises `NotImplementedError` (a model whose own
    steps call its parts instead, as Keras's GAN example and the first version of its VAE example do).

    Example:
        >>> class Steps(keras.Model):
        ...     def train_step(self, data):
        ...         return {}
        >>> calls(Steps()), calls(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
        (False, True)
    """
    return overrides(model, "call")


def build_as_fit(model: keras.Model, batch: Any) -> None:
    """Under a `tf.distribute` strategy, build what `fit` builds before its first step, from the
    shapes of `batch`: the model, its compiled loss and metrics, its compiled optimizer (Keras's own
    `_symbolic_build`, which has no public form). Elsewhere the model's step builds what it uses as
    it is traced, as in `fit`; under a strategy that fails (TensorFlow cannot lift the new
    variables out of the trace). An error is `fit`'s own.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile("adam", "mse", metrics=["mae"])
        >>> with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        ...     model_there = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        ...     model_there.compile("adam", "mse", metrics=["mae"])
        >>> build_as_fit(model_there, (tf.zeros([4, 2]), tf.zeros([4, 1])))
        >>> model_there.optimizer.built, model.optimizer.built  # not where there is no strategy
        (True, False)
    """
    build = getattr(model, "_symbolic_build", None)
    if build is None or replica_strategy(model) is None:
        return
    with model.distribute_strategy.scope():
        build(data_batch=batch)


LEGACY_METRICS = "`model.compiled_metrics()` is deprecated"  # how Keras 3 warns of the call it keeps for tf.keras 2


@contextlib.contextmanager
def noting_legacy_metrics() -> Iterator[list[str]]:
    """While entered, note where a step traced calls `model.compiled_metrics.update_state` (tf.keras
    2's), by Keras's own warning of it, seen even where Python showed it before for the same line (a
    `fit` of the same step). Yields a list that holds its message once seen. The finder warns in its
    place (`legacy_metrics_warning`): Keras's advice, to update every metric with `(y, y_pred)`,
    would give its loss tracker the targets as values. Other warnings are shown as they would be.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> with noting_legacy_metrics() as seen:  # not shown
        ...     model.compiled_metrics.update_state(tf.ones([2, 1]), tf.ones([2, 1]))
        >>> len(seen), seen[0].splitlines()[0]
        (1, '`model.compiled_metrics()` is deprecated. Instead, use e.g.:')
    """
    seen: list[str] = []
    with warnings.catch_warnings():
        warnings.filterwarnings("always", message=re.escape(LEGACY_METRICS))
        shown = warnings.showwarning

        def noted(message: Any, *args: Any, **kwargs: Any) -> None:
            if not str(message).startswith(LEGACY_METRICS):
                shown(message, *args, **kwargs)
            elif not seen:
                seen.append(str(message))

        warnings.showwarning = noted
        yield seen


def legacy_metrics_warning(monitor: str, steps: Sequence[str] = ("train_step",)) -> str:
    """What the model's own `steps` (`"train_step"`, `"test_step"`) that call
    `model.compiled_metrics.update_state` return as `monitor` on Keras 3, and how to write them
    (`noting_legacy_metrics` finds them).

    Example:
        >>> legacy_metrics_warning("loss")[:80]
        "The model's own `train_step` calls `self.compiled_metrics.update_state(...)`, as"
        >>> legacy_metrics_warning("loss", ["train_step", "test_step"])[:53]
        "The model's own `train_step` and `test_step` call `se"
    """
    names = " and ".join(f"`{step}`" for step in steps)
    return (f"The model's own {names} {'calls' if len(steps) == 1 else 'call'} "
            "`self.compiled_metrics.update_state(...)`, as steps written for tf.keras 2 do. Keras 3 keeps that "
            "call for old code, and it updates every `keras.metrics.Mean` of the model with the predictions, its "
            "loss tracker too. Where a step returns its metrics' results (`{m.name: m.result() for m in "
            f"self.metrics}}`), the {monitor!r} it returns (which the sweep records from `train_step`, and refining "
            "measures its runs by from `test_step`, as `fit` logs them) is the mean of the predictions more than "
            "the loss, and the rate suggested follows it. Return the loss itself (`self.compute_loss(...)`, "
            "tracked by a `Mean` of your own), and update the other metrics with `(y, y_pred)`, as Keras's guide "
            "to a step of one's own writes it.")


def logged(logs: Any, monitor: str, where: str) -> tf.Tensor:
    """`logs[monitor]`, the value the model's `where` (`"train_step"`, `"test_step"`) returned for
    the loss, as a float64 scalar; a `ValueError` naming the keys it returned where that is not one
    of them, or where the value is not one number.

    Example:
        >>> float(logged({"loss": tf.constant(0.5), "accuracy": 1.0}, "loss", "train_step"))
        0.5
        >>> logged({"d_loss": 1.0, "g_loss": 2.0}, "loss", "train_step")
        Traceback (most recent call last):
        ...
        ValueError: `monitor` must name the loss in what the model's `train_step` returns. Received: monitor='loss', and it returns the keys ['d_loss', 'g_loss']. Pass `monitor=` the key of the loss the rate should lower (for example monitor='d_loss'), or step='finder' to train with the finder's own step.
    """
    if not isinstance(logs, Mapping) or monitor not in logs:
        returned = f"the keys {sorted(logs)}" if isinstance(logs, Mapping) else f"a {type(logs).__name__}"
        example = f" (for example monitor={sorted(logs)[0]!r})" if isinstance(logs, Mapping) and logs else ""
        raise ValueError(f"`monitor` must name the loss in what the model's `{where}` returns. Received: "
                         f"monitor={monitor!r}, and it returns {returned}. Pass `monitor=` the key of the loss the "
                         f"rate should lower{example}, or step='finder' to train with the finder's own step.")
    value = tf.convert_to_tensor(logs[monitor])
    if value.shape.num_elements() != 1:
        raise ValueError(f"`monitor` must name one number in what the model's `{where}` returns. Received: "
                         f"monitor={monitor!r}, a value of shape {value.shape}. Return the loss as a scalar.")
    return tf.cast(tf.reshape(value, []), tf.float64)


def _reset_metrics(model: keras.Model) -> None:
    """Reset every metric of `model`, so that each holds only what the next step adds."""
    for metric in model.metrics:
        metric.reset_state()


def _share_of(value: tf.Tensor) -> tf.Tensor:
    """On one of several replicas (`tf_lrfinder.step.across_replicas`, which sums what they return),
    `value` divided by their number, so that the sum is their mean: each replica's metrics hold its
    own share's loss. Elsewhere `value` itself."""
    context = tf.distribute.get_replica_context()
    return value if context is None else value / context.num_replicas_in_sync


class _OverflowShared:
    """While entered, each `LossScaleOptimizer` of `scalers` applies gradients that are not finite on
    every replica where they are on any (`tf_lrfinder.step.overflow_everywhere`), so that it skips the
    step and lowers its scale as on one device, where Keras's reads only the first replica's (the
    finder's own step does the same to its gradients). Whether this replica's last `apply` was such a
    step, with another replica's gradients alone not finite, is `told()` (an int64 0 or 1).

    It is entered as the model's step is traced, on each replica: under a `MirroredStrategy` each
    replica's trace runs in a thread of its own, in turn, paused where it merges (in `apply`), so the
    wrapper is put on the optimizers by the first thread in and taken off by the last out. The traced
    step keeps what it did; nothing is left on the optimizers.

    Example:
        >>> scaler = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD())
        >>> shared = _OverflowShared([scaler])
        >>> with shared:
        ...     with shared:  # a second replica's trace, in its thread
        ...         pass
        ...     print(scaler.apply.__name__)  # the first replica's still inside
        shared
        >>> "apply" in vars(scaler)  # Keras's `apply` again
        False
        >>> scaler.apply = mine = lambda grads, trainable_variables=None: None  # one set on it is kept
        >>> with shared:
        ...     pass
        >>> scaler.apply is mine
        True
    """

    def __init__(self, scalers: list[keras.optimizers.LossScaleOptimizer]) -> None:
        self._scalers, self._lock, self._inside, self._local = scalers, threading.Lock(), 0, threading.local()
        self._own: list[Any] = []

    def __enter__(self) -> _OverflowShared:
        with self._lock:
            if not self._inside:
                self._own = [vars(scaler).get("apply") for scaler in self._scalers]  # one set on it, if any
                for scaler in self._scalers:
                    scaler.apply = self._sharing(scaler.apply)
            self._inside += 1
        self._local.told = tf.constant(0, tf.int64)
        return self

    def __exit__(self, *_: Any) -> None:
        with self._lock:
            self._inside -= 1
            if not self._inside:
                for scaler, own in zip(self._scalers, self._own):
                    if own is None:
                        del scaler.apply  # Keras's own again
                    else:
                        scaler.apply = own

    def _sharing(self, apply: Callable) -> Callable:
        def shared(grads: Any, trainable_variables: Any = None) -> Any:
            grads = list(grads)
            if any(g is not None for g in grads):
                grads, told = overflow_everywhere(grads)
                self._local.told = tf.bitwise.bitwise_or(self._local.told, told)
            return apply(grads, trainable_variables)

        return shared

    def told(self) -> tf.Tensor:
        return self._local.told


def _scalers(model: keras.Model, optimizer: Any) -> list[keras.optimizers.LossScaleOptimizer]:
    """The `LossScaleOptimizer`s the model's step may apply, one each: the model's compiled one, and
    `optimizer`, the one whose rate the finder sweeps."""
    compiled = getattr(model, "optimizer", None)
    both = [compiled] if optimizer is compiled else [compiled, optimizer]
    return [o for o in both if isinstance(o, keras.optimizers.LossScaleOptimizer)]


def model_train_step(model: keras.Model, monitor: str,
                     optimizer: Any = None) -> Callable[[Any], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
    """The step `build_sweep` trains with in place of its own: the model's `train_step` on one
    batch, its metrics reset before. Returns `(loss, nonfinite_parts(batch), overflowed)` as the
    finder's step does.

    On several replicas, a `LossScaleOptimizer` (the model's compiled one, or `optimizer`) the step
    applies skips a step where any replica's gradients are not finite, as on one device and as the
    finder's own step does, where Keras's reads only the first replica's and applies the others'
    overflow, turning the weights NaN (in `fit` too). `overflowed` is 1 where it skipped a step for
    another replica's gradients alone (`tf_lrfinder.step.replica_overflow_warning`), else 0.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="zeros")])
        >>> model.compile(keras.optimizers.SGD(0.1), "mse")
        >>> step = model_train_step(model, "loss")
        >>> [round(float(step((tf.ones([2, 1]), tf.ones([2, 1])))[0]), 4) for _ in range(2)]  # each batch's own, not their mean
        [1.0, 0.36]
    """
    shared = _OverflowShared(_scalers(model, optimizer))

    def train_step(batch: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        _reset_metrics(model)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            with shared:
                logs, overflowed = model.train_step(batch), shared.told()
        else:
            logs, overflowed = model.train_step(batch), tf.constant(0, tf.int64)
        return _share_of(logged(logs, monitor, "train_step")), nonfinite_parts(batch), overflowed

    return train_step


def build_model_evaluate(model: keras.Model, monitor: str) -> Callable[[Any], tf.Tensor]:
    """Compile the loss of one batch by the model's own `test_step`, its metrics reset before:
    `evaluate(batch) -> float64 scalar`, as `tf_lrfinder.step.build_evaluate` returns it (for a model
    created under a strategy, each replica on its share of the batch).

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="ones")])
        >>> model.compile("sgd", "mse")
        >>> float(build_model_evaluate(model, "loss")((tf.ones([4, 1]), tf.zeros([4, 1]))))
        1.0
    """

    def evaluate(batch: Any) -> tf.Tensor:
        _reset_metrics(model)
        return _share_of(logged(model.test_step(batch), monitor, "test_step"))

    return for_model(model)(across_replicas(evaluate, replica_strategy(model)))
