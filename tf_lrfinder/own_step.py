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

from collections.abc import Mapping
from typing import Any, Callable

import keras
import tensorflow as tf

from .compiled import for_model
from .step import across_replicas, nonfinite_parts, replica_strategy


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


def model_train_step(model: keras.Model, monitor: str) -> Callable[[Any], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
    """The step `build_sweep` trains with in place of its own: the model's `train_step` on one
    batch, its metrics reset before. Returns `(loss, nonfinite_parts(batch), 0)` as the finder's
    step does (the overflow count is its own step's, under a strategy).

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="zeros")])
        >>> model.compile(keras.optimizers.SGD(0.1), "mse")
        >>> step = model_train_step(model, "loss")
        >>> [round(float(step((tf.ones([2, 1]), tf.ones([2, 1])))[0]), 4) for _ in range(2)]  # each batch's own, not their mean
        [1.0, 0.36]
    """

    def train_step(batch: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        _reset_metrics(model)
        value = _share_of(logged(model.train_step(batch), monitor, "train_step"))
        return value, nonfinite_parts(batch), tf.constant(0, tf.int64)

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
