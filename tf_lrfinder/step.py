"""The compiled sweep: several training steps per call, everything decided on the device.

One `tf.function` runs up to `n` steps: for each it reads the learning rate from a table indexed by
the step counter, trains on one batch with `tf.GradientTape` (on as many batches as the optimizer
accumulates gradients over, `gradient_accumulation_steps`: a step is one update of the weights),
updates the bias-corrected EMA of the loss, and stops at a non-finite loss or a divergence. The host
reads the chunk's records once. Calling it with `n=1` is the one-step-per-call path: the same code.
"""

from __future__ import annotations

import collections
import functools
import inspect
import math
from typing import Any, Callable

import keras
import tensorflow as tf

from .compiled import for_model, per_instance, uses_xla
from .rates import accumulation_steps, ftrl_rate_held, holders
from .smoothing import NOISE_FACTOR, NOISE_LEAST, NOISE_STEPS
from .state import all_layers, declared_inputs, leading_rows, stateful_layers

# Why a sweep stopped, as the device reports it.
RUNNING, DIVERGED, NOT_FINITE = 0, 1, 2
# The columns of the sweep's records, one row per step (`build_sweep`): the loss, its EMA, how many
# times the data started again so far, then the step's `target_moments`: its mean target, that
# mean's variance, and its lowest and highest target (TARGET_RANGE, the two together).
LOSS, SMOOTHED, RESTARTS, TARGET_MEAN, TARGET_MEAN_VARIANCE = 0, 1, 2, 3, 4
TARGET_RANGE = slice(5, 7)
RECORD_COLUMNS = 7


class SweepState:
    """Device-side variables of one sweep, owned by the finder (never by the model).

    `reset` loads a sweep's rate table, EMA bias corrections and stopping rule; the compiled sweep
    reads them (so a new sweep never retraces) and advances `step`, `avg` and `best`.

    Example:
        >>> state = SweepState(); state.reset([1e-3, 1e-2], [0.02, 0.0396], 0.98, 4.0)
        >>> int(state.step.numpy()), state.lrs.numpy().tolist(), float(state.best.numpy())
        (0, [0.001, 0.01], inf)
    """

    def __init__(self) -> None:
        f64 = tf.float64
        self.lr = tf.Variable(0.0, dtype=tf.float32, trainable=False, name="lrf_lr")
        self.lrs = tf.Variable(tf.zeros([0], f64), shape=tf.TensorShape([None]), trainable=False)
        self.correction = tf.Variable(tf.zeros([0], f64), shape=tf.TensorShape([None]), trainable=False)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.avg = tf.Variable(0.0, dtype=f64, trainable=False)
        self.best = tf.Variable(0.0, dtype=f64, trainable=False)
        self.smoothing = tf.Variable(0.0, dtype=f64, trainable=False)
        self.diverge_factor = tf.Variable(0.0, dtype=f64, trainable=False)
        self.last_index = tf.Variable(-1, dtype=tf.int64, trainable=False)  # of the last batch read
        self.restarts = tf.Variable(0, dtype=tf.int64, trainable=False)  # times the data started again
        # `nonfinite_parts` of the batches of the last step and, at a NaN or inf loss, of the one before.
        self.bad_data = tf.Variable(0, dtype=tf.int64, trainable=False)
        # The parts (`nonfinite_parts`' bits) of batches holding NaN or inf values on which a step trained
        # and its loss and weights stayed finite: the model reads such values there (a layer that imputes
        # missing inputs, say), so they are not to blame for a NaN later.
        self.tolerated = tf.Variable(0, dtype=tf.int64, trainable=False)
        # Set where the sweep's step is traced: sparse gradients on several replicas (`build_sweep`).
        self.one_step_per_call = False
        # Steps since the last sweep began where a LossScaleOptimizer's step was skipped for another
        # replica's non-finite gradients, which Keras would have applied (`overflow_everywhere`).
        self.overflows = tf.Variable(0, dtype=tf.int64, trainable=False)
        # The noise floor of the divergence rule (`smoothing.diverged`): the changes between the first
        # `noise_steps` + 1 losses, summed as they come (a sweep's, each step judged by those before it),
        # or a `noise` given (a run's).
        self.noise_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.noise_sum = tf.Variable(0.0, dtype=f64, trainable=False)
        self.noise = tf.Variable(0.0, dtype=f64, trainable=False)
        self.last_loss = tf.Variable(0.0, dtype=f64, trainable=False)

    def reset(self, lrs, correction, smoothing: float, diverge_factor: float, fresh: bool = True,
              noise: float | None = None) -> None:
        """Start a sweep over `lrs` with EMA bias `correction`s (see `smoothing.bias_correction`);
        `fresh=False` (refining's runs, after the sweep) keeps what the sweep saw of NaN or inf data
        (`tolerated`). The divergence rule's noise is measured over the first `NOISE_STEPS` changes
        of the loss, or, given, is `noise` throughout (a run of refining takes its sweep's,
        `smoothing.start_noise`)."""
        self.noise_steps.assign(NOISE_STEPS if noise is None else 0)
        self.noise_sum.assign(0.0)
        self.noise.assign(math.inf if noise is None else noise)
        self.last_loss.assign(0.0)
        self.lrs.assign(lrs)
        self.correction.assign(correction)
        self.step.assign(0)
        self.avg.assign(0.0)
        self.best.assign(float("inf"))
        self.smoothing.assign(smoothing)
        self.diverge_factor.assign(diverge_factor)
        self.last_index.assign(-1)
        self.restarts.assign(0)
        self.bad_data.assign(0)
        if fresh:
            self.tolerated.assign(0)
            self.overflows.assign(0)


# The bits of `nonfinite_parts`, and what each names.
PARTS = {1: "x (the inputs)", 2: "y (the targets)", 4: "the sample weights"}


def all_finite(values: list[Any]) -> tf.Tensor:
    """Whether every floating-point tensor or variable of `values` holds only finite values (a
    boolean tensor; eagerly or in a `tf.function`). Integer ones hold no NaN and are skipped.

    Example:
        >>> bool(all_finite([tf.constant([1.0, 2.0]), keras.Variable(3)])), bool(all_finite([tf.constant([float("nan")])]))
        (True, False)
    """
    floats = [v for v in values if tf.as_dtype(v.dtype).is_floating]
    if not floats:
        return tf.constant(True)
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in floats])


def nonfinite_parts(batch: Any) -> tf.Tensor:
    """Which parts of a batch hold a NaN or an infinity: a bitmask, 1 for x, 2 for y, 4 for the
    sample weights (0: none). Integer, boolean and string tensors hold none; a sparse or ragged
    tensor's values are read. Works eagerly and in a `tf.function`.

    Example:
        >>> x = tf.constant([[1.0, float("nan")]]); y = tf.constant([[1.0]])
        >>> int(nonfinite_parts((x, y))), int(nonfinite_parts((y, y, tf.constant([float("inf")])))), int(nonfinite_parts((y, y)))
        (1, 4, 0)
        >>> [PARTS[bit] for bit in PARTS if int(nonfinite_parts((x, x))) & bit]
        ['x (the inputs)', 'y (the targets)']
    """
    floats = [[tensor for tensor in tf.nest.flatten(part, expand_composites=True)
               if isinstance(tensor, tf.Tensor) and tensor.dtype.is_floating]
              for part in keras.utils.unpack_x_y_sample_weight(batch)]

    def mask() -> tf.Tensor:
        return tf.add_n([tf.where(all_finite(tensors), tf.constant(0, tf.int64), bit)
                         for bit, tensors in zip(PARTS, floats) if tensors])

    if not any(floats):
        return tf.constant(0, tf.int64)
    # One test of everything, cheap in a compiled step; which part only where it fails.
    return tf.cond(all_finite(sum(floats, [])), lambda: tf.constant(0, tf.int64), mask)


def target_moments(batch: Any) -> tf.Tensor:
    """A batch's mean target, the variance that mean would have were its samples drawn at random
    (their variance over their number), and the lowest and highest value in y, as float64 `[4]`.

    The mean and its variance where y is one dense tensor of one real number per sample ((batch,)
    or (batch, 1)), or of one-hot rows (read as their class indices); else NaNs (and for rows that
    are not all one-hot): what `tf_lrfinder.order.drift` reads to tell batches in order of their
    targets. The range where y is one dense tensor of real numbers, of any shape (labels per
    time step or pixel included), else NaNs: it tells class labels outside the model's outputs where
    the loss turns NaN on them (a GPU's sparse crossentropy does). Works eagerly and in a
    `tf.function`.

    Example:
        >>> target_moments((tf.zeros([4, 2]), tf.constant([1.0, 2.0, 3.0, 4.0]))).numpy().round(4).tolist()
        [2.5, 0.4167, 1.0, 4.0]
        >>> target_moments((tf.zeros([2, 2]), tf.constant([[0.0, 1.0], [0.0, 1.0]]))).numpy().tolist()  # class 1, twice
        [1.0, 0.0, 0.0, 1.0]
        >>> target_moments((tf.zeros([4, 2]), tf.fill([4, 5, 5], 255))).numpy().tolist()  # masks: their range only
        [nan, nan, 255.0, 255.0]
    """
    y = tf.nest.flatten(keras.utils.unpack_x_y_sample_weight(batch)[1])
    nan = tf.constant([math.nan] * 2, tf.float64)
    if (len(y) != 1 or not isinstance(y[0], tf.Tensor) or not (y[0].dtype.is_floating or y[0].dtype.is_integer)
            or y[0].dtype.is_complex or not y[0].shape.rank):
        return tf.concat([nan, nan], 0)
    values = tf.cast(y[0], tf.float64)  # cast once: one-hot rows and class indices are exact in float64
    return tf.concat([_mean_moments(values), tf.stack([tf.reduce_min(values), tf.reduce_max(values)])], 0)


def _mean_moments(y: tf.Tensor) -> tf.Tensor:
    """`target_moments`' first two, from y as float64: a batch's mean target and that mean's
    variance, float64 `[2]`."""
    nan = tf.constant([math.nan] * 2, tf.float64)
    if y.shape.rank not in (1, 2):
        return nan
    one_hot = None
    if y.shape.rank == 2 and y.shape[1] != 1:  # rows of several values: one-hot ones hold a class index
        if y.shape[1] is None or y.shape[1] < 2:
            return nan
        one_hot = tf.reduce_all((tf.equal(y, 0) | tf.equal(y, 1)) & tf.equal(tf.reduce_sum(y, axis=1, keepdims=True), 1))
        y = tf.cast(tf.argmax(y, axis=1), tf.float64)
    values = tf.reshape(y, [-1])
    n = tf.cast(tf.size(values), tf.float64)
    mean = tf.reduce_mean(values)
    variance = tf.reduce_sum(tf.square(values - mean)) / tf.maximum(n - 1.0, 1.0)
    moments = tf.stack([mean, variance / n])
    return moments if one_hot is None else tf.where(one_hot, moments, nan)


class UnweighableLoss(ValueError):
    """A plain `loss_fn` that reduces its batch to one number, given sample weights it cannot apply."""


def same_rank(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """`y_true` and `y_pred` brought to one rank where they differ by one and the higher has a last
    axis of 1, as `compile(loss=fn)` does before calling a plain function (and Keras's own losses
    before computing): the one of rank 1 gains that axis, else the other loses it. A target of
    shape (batch,) against an output of (batch, 1) becomes (batch, 1), so that `fn` sees one pair
    per sample, not a (batch, batch) table of every target against every output. Other shapes
    (sparse labels against logits, say) and structures that do not match are left as they are.

    Example:
        >>> t, p = same_rank(tf.zeros([4]), tf.zeros([4, 1]))
        >>> t.shape, p.shape
        (TensorShape([4, 1]), TensorShape([4, 1]))
        >>> [a.shape for a in same_rank(tf.zeros([4, 1]), tf.zeros([4]))] + [same_rank(tf.zeros([4]), tf.zeros([4, 3]))[0].shape]
        [TensorShape([4, 1]), TensorShape([4, 1]), TensorShape([4])]
    """
    def pair(t: Any, p: Any) -> tuple[Any, Any]:
        if not (isinstance(t, tf.Tensor) and isinstance(p, tf.Tensor)) or None in (t.shape.rank, p.shape.rank):
            return t, p
        if t.shape.rank == p.shape.rank + 1 and t.shape[-1] == 1:
            return (t, tf.expand_dims(p, -1)) if p.shape.rank == 1 else (tf.squeeze(t, -1), p)
        if p.shape.rank == t.shape.rank + 1 and p.shape[-1] == 1:
            return (tf.expand_dims(t, -1), p) if t.shape.rank == 1 else (t, tf.squeeze(p, -1))
        return t, p

    try:
        tf.nest.assert_same_structure(y_true, y_pred)
    except (ValueError, TypeError):  # structures that do not match: the function gets them as they are
        return y_true, y_pred
    pairs = [pair(t, p) for t, p in zip(tf.nest.flatten(y_true), tf.nest.flatten(y_pred))]
    return (tf.nest.pack_sequence_as(y_true, [t for t, _ in pairs]),
            tf.nest.pack_sequence_as(y_pred, [p for _, p in pairs]))


class FunctionLoss(keras.losses.Loss):
    """A plain function `(y_true, y_pred) -> loss per sample` as a `keras.losses.Loss`, the way
    `compile(loss=fn)` wraps one for `fit`: `fn` gets `y_true` and `y_pred` at one rank
    (`same_rank`), cast to float32, and Keras's own `Loss` applies the sample weights and any mask
    and takes the mean over the batch's values (`"sum_over_batch_size"`: the weighted sum over
    their count, not over the weights' sum). So the finder trains on the loss `fit` trains on.

    Example:
        >>> loss = FunctionLoss(lambda t, p: (t - p) ** 2)
        >>> float(loss(tf.constant([1.0, 2.0]), tf.zeros([2, 1]), sample_weight=tf.constant([1.0, 3.0])))
        6.5
    """

    def __init__(self, fn: Callable) -> None:
        super().__init__(name="loss_fn")
        self.fn = fn
        self._weighed = False

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        # For `call`, which Keras calls without them (a strategy's replicas, tracing it at once, all
        # pass weights or none: the same value).
        self._weighed = sample_weight is not None
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        values = tf.convert_to_tensor(self.fn(*same_rank(y_true, y_pred)))
        if self._weighed and values.shape.rank == 0:
            raise UnweighableLoss(
                "`loss_fn` returns one number per batch, so the sample weights in `dataset` cannot "
                "weigh its samples. Return one loss per sample (no reduction: the finder averages "
                "them, weighted), or pass a `keras.losses.Loss`, which takes sample weights."
            )
        return values


def keras_loss_name(fn: Any) -> str | None:
    """The name of `fn` where it is one of Keras's own loss functions (what a loss name such as
    `"mse"` gives), else None.

    Example:
        >>> keras_loss_name(keras.losses.get("mse")), keras_loss_name(lambda t, p: t - p)
        ('mean_squared_error', None)
    """
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) and getattr(keras.losses, name, None) is fn else None


def keras_loss(loss: Any) -> tuple[str, dict[str, Any]] | None:
    """The function's name and keyword arguments of one of Keras's own losses: `loss` is a
    `keras.losses.Loss` that wraps one (as Keras's classes do), one of its loss functions (or a
    `functools.partial` of one), or a name `keras.losses.get` reads. None for anything else.

    Example:
        >>> keras_loss("mse")
        ('mean_squared_error', {})
        >>> name, config = keras_loss(keras.losses.BinaryCrossentropy(from_logits=True)); name, config["from_logits"]
        ('binary_crossentropy', True)
        >>> keras_loss(lambda y, p: (y - p) ** 2), keras_loss("no_such_loss")
        (None, None)
    """
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except (ValueError, TypeError):
            return None
    keywords: dict[str, Any] = {}
    if isinstance(loss, functools.partial):
        loss, keywords = loss.func, dict(loss.keywords)
    if isinstance(loss, keras.losses.Loss):
        function = getattr(loss, "fn", None)  # a `LossFunctionWrapper`'s, as Keras's own losses are
        try:
            keywords = loss.get_config()
        except NotImplementedError:  # a subclass without a config: not one of Keras's
            return None
    else:
        function = loss
    name = keras_loss_name(function)
    return None if name is None else (name, keywords)


def named_outputs(y_pred: Any, output_names: list[str] | None) -> tuple[list[str], list[Any]]:
    """A model's outputs and their names, as `compile` matches losses and targets to them: a dict's
    keys, else `output_names` (or positions, "0", "1"..., where those do not count the outputs).

    Example:
        >>> named_outputs({"b": 1, "a": 2}, ["a", "b"]), named_outputs([1, 2], ["a", "b"]), named_outputs(5, None)
        ((['b', 'a'], [1, 2]), (['a', 'b'], [1, 2]), (['0'], [5]))
    """
    if isinstance(y_pred, dict):
        return list(y_pred), list(y_pred.values())
    outputs = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
    names = list(output_names or [])
    return (names if len(names) == len(outputs) else [str(i) for i in range(len(outputs))]), outputs


def output_pairs(y: Any, y_pred: Any, output_names: list[str] | None) -> list[tuple[Any, Any]] | None:
    """The (target, output) pairs of a model with several outputs, matched as `compile` matches them
    for one loss: a dict of targets by the outputs' names (a dict's keys, else `output_names`), a
    list or tuple by position. None for one output, or where the targets do not match the outputs.

    Example:
        >>> output_pairs(("ya", "yb"), ["pa", "pb"], ["a", "b"])
        [('ya', 'pa'), ('yb', 'pb')]
        >>> output_pairs({"b": "yb", "a": "ya"}, ["pa", "pb"], ["a", "b"]), output_pairs("y", "p", ["a"])
        ([('ya', 'pa'), ('yb', 'pb')], None)
    """
    if not isinstance(y_pred, (list, tuple, dict)) or len(y_pred) < 2:
        return None
    names, outputs = named_outputs(y_pred, output_names)
    if isinstance(y, dict):
        if sorted(y) != sorted(names):
            return None
        targets = [y[name] for name in names]
    elif isinstance(y, (list, tuple)) and not isinstance(y_pred, dict) and len(y) == len(outputs):
        targets = list(y)
    else:
        return None
    return list(zip(targets, outputs))


def compute_loss(model: keras.Model, x: Any, y: Any, y_pred: Any, sample_weight: Any, training: bool = True) -> Any:
    """`model.compute_loss` called as `fit` calls it: with `training` where it takes that argument
    (Keras's own does), without where an override does not (one written as Keras's knowledge
    distillation example writes it, `compute_loss(self, x, y, y_pred, sample_weight, allow_empty)`).

    Example:
        >>> class Halved(keras.Sequential):
        ...     def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
        ...         return keras.ops.mean((y - y_pred) ** 2) / 2
        >>> model = Halved([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="zeros")])
        >>> float(compute_loss(model, None, tf.constant([[2.0]]), model(tf.constant([[1.0]])), None))
        2.0
    """
    if "training" in inspect.signature(model.compute_loss).parameters:
        return model.compute_loss(x, y, y_pred, sample_weight, training=training)
    return model.compute_loss(x, y, y_pred, sample_weight)


def loss_function(model: keras.Model, loss_fn: Callable | None, training: bool = True) -> Callable:
    """`(x, y, y_pred, sample_weight) -> scalar loss`, regularisation losses included.

    With `loss_fn=None` the model's compiled loss is used (`model.compute_loss`, as `fit` does, with
    `training` passed on: `evaluate` passes False).
    A `keras.losses.Loss` gets the sample weights; a plain function `(y_true, y_pred)` becomes one
    as `compile(loss=fn)` makes it one (`FunctionLoss`: one rank, Keras's weighting and mean), so
    the loss is the one `fit` trains on; it is converted by autograph, as a `tf.function` of
    the user's own would convert it (a Python `if` on a tensor works), though the finder's compiled
    functions are not (`tf_lrfinder.compiled`). On a replica of a strategy (`across_replicas`),
    the loss is divided by the number of replicas, as Keras's own losses divide theirs.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> loss = loss_function(model, lambda y, p: tf.abs(y - p)[:, 0])
        >>> float(loss(None, tf.constant([[1.0], [3.0]]), tf.constant([[0.0], [0.0]]), tf.constant([1.0, 0.0])))
        0.5
    """
    if loss_fn is None:
        return lambda x, y, y_pred, sw: compute_loss(model, x, y, y_pred, sw, training)
    if not isinstance(loss_fn, keras.losses.Loss):
        # Converted where it would be in the user's own `tf.function` (the context here, outside any,
        # leaves it to the default): TensorFlow's hook for functions a library calls, which
        # `tf.distribute`'s `run` uses too.
        loss_fn = FunctionLoss(tf.__internal__.autograph.tf_convert(loss_fn,
                                                                     tf.__internal__.autograph.control_status_ctx()))

    def compute(x, y, y_pred, sw):
        # On each replica of a strategy (`across_replicas`), as Keras's own losses do: a mean loss is
        # divided by the replicas, whose gradients the optimizer sums. Outside a strategy, unchanged.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        share = (lambda loss: loss) if replicas == 1 else (lambda loss: loss / replicas)
        pairs = output_pairs(y, y_pred, getattr(model, "output_names", None))
        if pairs is None:  # one output (or targets that do not match the outputs: Keras says so)
            loss = loss_fn(y, y_pred, sample_weight=sw)  # divided by Keras
        else:  # one loss for several outputs: applied to each and summed, as `compile(loss=...)` does
            loss = tf.add_n([tf.cast(loss_fn(t, p, sample_weight=sw), tf.float32) for t, p in pairs])
        loss = tf.cast(loss, tf.float32)
        if model.losses:
            loss += share(tf.add_n([tf.cast(l, tf.float32) for l in model.losses]))
        return loss

    return compute


def created_under(model: keras.Model) -> tf.distribute.Strategy | None:
    """The `tf.distribute` strategy `model` was created under, or None outside any (Keras keeps it in
    a private attribute; its public `distribute_strategy` falls back to the current one).

    Example:
        >>> strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
        >>> with strategy.scope():
        ...     model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> created_under(model) is strategy, created_under(keras.Sequential([keras.Input((1,))]))
        (True, None)
    """
    return getattr(model, "_distribute_strategy", None)


def replica_strategy(model: keras.Model) -> tf.distribute.Strategy | None:
    """The strategy whose replicas run the finder's steps, as they run `fit`'s: the model's, where it
    was created under a `MirroredStrategy` (one or several devices) or a `OneDeviceStrategy`; None
    otherwise (the steps run where TensorFlow places them, as a plain `tf.function`'s do), and for
    a model whose `keras.Input` fixes the batch size (a stateful RNN's), which shares of the batch
    would not fit (`fit` fails on it under a strategy of several replicas).

    Example:
        >>> replica_strategy(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])) is None
        True
        >>> with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        ...     model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> type(replica_strategy(model)).__name__
        'OneDeviceStrategy'
    """
    strategy = getattr(model, "distribute_strategy", None)  # Keras: the strategy it was created under
    if not isinstance(strategy, (tf.distribute.MirroredStrategy, tf.distribute.OneDeviceStrategy)):
        return None
    if strategy.num_replicas_in_sync > 1 and _fixed_batch_sizes(model):
        return None  # a batch size the model fixes (a stateful RNN's, say) cannot be split
    return strategy


def _fixed_batch_sizes(model: keras.Model) -> set[int]:
    """The batch sizes the model's `keras.Input`s fix (none for most models)."""
    return {size for t in declared_inputs(model) for size in tf.TensorShape(t.shape)[:1].as_list()} - {None}


def _share_rows(rows: Any, i: int, replicas: int) -> tuple[Any, Any]:
    """The rows `[start, stop)` of replica `i`'s share of a batch of `rows` (an int or a tensor): as
    even as can be, one share a row shorter where they do not divide (`each_share`, `first_share`)."""
    return rows * i // replicas, rows * (i + 1) // replicas


def _in_one_place(batch: Any) -> bool:
    """Whether `batch` holds sparse or ragged tensors, which the finder computes in one place under a
    strategy (`each_share`)."""
    return any(isinstance(t, (tf.SparseTensor, tf.RaggedTensor)) for t in tf.nest.flatten(batch))


def after_scope(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a finder's `method` so that, called inside `with strategy.scope():` of the strategy its
    model was created under (or after `tf.distribute.experimental_set_strategy`), it runs as it runs
    after the `with` block: its steps on the model's replicas (`replica_strategy`), its own
    variables (the snapshot, the sweep's state) plain ones, never the strategy's. The thread's
    strategy and variable-creator stacks are set aside for the call and put back, the same objects,
    however it ends, so the scope goes on as before. `fit` fails on a model created outside the
    scope's strategy, and so does this, before anything changes, with a `ValueError` saying so.

    Example:
        >>> class Reads:
        ...     def __init__(self, model): self.model = model
        ...     @after_scope
        ...     def __call__(self):
        ...         return tf.distribute.has_strategy(), type(replica_strategy(self.model)).__name__
        >>> strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
        >>> with strategy.scope():
        ...     reads = Reads(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
        ...     reads(), tf.distribute.get_strategy() is strategy
        ((False, 'OneDeviceStrategy'), True)
        >>> with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        ...     reads()
        Traceback (most recent call last):
        ...
        ValueError: The finder was called inside `strategy.scope()` of a OneDeviceStrategy, but `model` was created under another OneDeviceStrategy (`fit` fails on it too). Call the finder inside the scope the model was created in, or after the `with` block.
    """

    @functools.wraps(method)
    def outside(finder: Any, *args: Any, **kwargs: Any) -> Any:
        if not tf.distribute.has_strategy():
            return method(finder, *args, **kwargs)
        scope = tf.distribute.get_strategy()
        created = created_under(finder.model)
        if created is not scope:
            where = ("outside any strategy" if created is None else
                     f"under {'another' if type(created) is type(scope) else 'a'} {type(created).__name__}")
            raise ValueError(
                f"The finder was called inside `strategy.scope()` of a {type(scope).__name__}, but `model` "
                f"was created {where} (`fit` fails on it too). Call the finder inside the scope the model "
                "was created in, or after the `with` block."
            )
        # The stacks a strategy's scope pushes onto (TensorFlow's own code saves and sets them so).
        graph = tf.compat.v1.get_default_graph()
        kept = (graph._distribution_strategy_stack, graph._variable_creator_stack, graph._resource_creator_stack)
        graph._distribution_strategy_stack, graph._variable_creator_stack = [], []
        graph._resource_creator_stack = collections.defaultdict(list)
        try:
            return method(finder, *args, **kwargs)
        finally:
            (graph._distribution_strategy_stack, graph._variable_creator_stack,
             graph._resource_creator_stack) = kept

    return outside


def _step_strategy(model: keras.Model, per_update: int) -> tf.distribute.Strategy | None:
    """The strategy to run a step on (`replica_strategy`), for an optimizer that accumulates gradients
    over `per_update` batches: Keras cannot accumulate them under a `MirroredStrategy` (`fit` fails on
    a `merge_call` in a `cond`), so such steps run in one place, as the finder ran every step before."""
    strategy = replica_strategy(model)
    return strategy if per_update == 1 or isinstance(strategy, tf.distribute.OneDeviceStrategy) else None


# What `LRFinder` tells where it trains without the XLA that `fit` would use (`compiled_every_step`).
COMPILED_EVERY_STEP = (
    "`model` is compiled with XLA (`jit_compile=True`, or Keras's \"auto\" on a GPU) and has an Embedding "
    "trained by Adadelta: Keras's Adadelta updates the Embedding's sparse gradients with ops that XLA compiles "
    "again at every step, in `fit` as in the finder (on a CPU, 0.5 to 0.7 s a step for a 500-word Embedding, "
    "against about 1 ms without XLA; after enough steps the process may run out of memory maps and die). The "
    "finder runs its steps without XLA. To train at full speed, compile the model with `jit_compile=False`, "
    "or train it with another optimizer.")


def compiled_every_step(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> bool:
    """Whether XLA would compile the training step of `model` by `optimizer` again at every step:
    where Keras's Adadelta updates an `Embedding`'s sparse gradient (a `tf.IndexedSlices`). Measured in
    `fit` on Keras 3.8 and 3.15, with a 500-word Embedding: 0.5 to 0.7 s a step, against about 1 ms
    without XLA; SGD, Adam, AdamW, Nadam, Adamax, Adagrad, RMSprop, Ftrl and Lion compile once. The
    larger Embedding model of a random call (`benchmarks/robustness.py`, seed 2850) took 10 to 20 s a
    step, until its process died of too many memory maps, after 7 minutes. Only Keras's `Embedding`
    and its subclasses are recognised (not a custom layer that gathers rows of its weights); one
    whose table also gets a dense gradient (tied to an output layer) is counted too.

    Example:
        >>> model = keras.Sequential([keras.Input((3,), dtype="int32"), keras.layers.Embedding(10, 2)])
        >>> compiled_every_step(model, keras.optimizers.Adadelta()), compiled_every_step(model, keras.optimizers.Adam())
        (True, False)
    """
    gathered = any(isinstance(layer, keras.layers.Embedding) and layer.trainable_weights
                   for layer in all_layers(model))
    return gathered and any(isinstance(held, keras.optimizers.Adadelta) for held in holders(optimizer))


def _xla(model: keras.Model, per_update: int) -> bool:
    """Whether the finder compiles its steps with XLA: as `fit` does (`uses_xla`), except for a model of
    a `MirroredStrategy` or with gradient accumulation under a `OneDeviceStrategy`, where both fail
    (on logical CPUs here: a variable read from another device). Keras's default,
    `jit_compile="auto"`, turns XLA off under any strategy. (`build_sweep` also trains without XLA
    where XLA would compile its step again at every step: `compiled_every_step`.)"""
    strategy = replica_strategy(model)
    return uses_xla(model) and (strategy is None or
                                isinstance(strategy, tf.distribute.OneDeviceStrategy) and per_update == 1)


def each_share(local: Callable, strategy: tf.distribute.Strategy | None, batch: Any) -> list:
    """`local(share)` on each replica of `strategy`, each on its share of `batch`: a list of their
    results, one per replica, in replica order.

    The batch (as the iterator gives it, in host memory) is cut into one share per replica, as even
    as can be (one share may be a row shorter, or empty where the batch has fewer rows than there
    are replicas, as under `fit`), before each device receives its own, so that no device holds the
    whole batch. Without a strategy, `[local(batch)]`; a batch with sparse or ragged tensors is
    given to `local` whole, in one place, also `[local(batch)]`.

    Example:
        >>> strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
        >>> [float(t) for t in each_share(tf.reduce_sum, strategy, tf.constant([1.0, 3.0]))]
        [4.0]
        >>> [float(t) for t in each_share(tf.reduce_sum, None, tf.constant([1.0, 3.0]))]
        [4.0]
    """
    if strategy is None or _in_one_place(batch):
        # A sparse input's gradients have as many rows as its share has values, which differ between
        # replicas, and the replicas' gather of them fails (`fit` fails on sparse inputs under a
        # strategy too): such batches are computed in one place, as before.
        return [local(batch)]
    replicas = strategy.num_replicas_in_sync
    shares = [batch]
    if replicas > 1:
        with tf.device("CPU:0"):  # where the iterator leaves its batches
            rows = leading_rows(batch)
            shares = [tf.nest.map_structure(lambda t: None if t is None else t[slice(*_share_rows(rows, i, replicas))], batch)
                      for i in range(replicas)]
    per_replica = strategy.experimental_distribute_values_from_function(
        lambda context: shares[context.replica_id_in_sync_group])
    results = strategy.run(local, args=(per_replica,))
    leaves = [strategy.experimental_local_results(leaf) for leaf in tf.nest.flatten(results)]
    return [tf.nest.pack_sequence_as(results, [leaf[i] for leaf in leaves]) for i in range(replicas)]


def fixed_batch(model: keras.Model, x: Any) -> Any:
    """For a model with a stateful layer (a stateful RNN), `x` with its batch axis known to be the
    size that the model's `keras.Input`s fix, checked when it runs; else `x` itself. Called where a
    step is traced, with the model built: Keras 3.12's stateful RNNs compare the batch size in
    Python, and fail on a batch whose batch size is not static, as the finder's are (`fit` trains
    them there). Other models that fix a batch size take a last, smaller batch, as in
    `fit`, so theirs is left as it is.

    Example:
        >>> model = keras.Sequential([keras.Input((2, 3), batch_size=4), keras.layers.GRU(1, stateful=True)])
        >>> traced = []  # the shape a step traced for batches of unknown size sees
        >>> step = tf.function(lambda x: traced.append(fixed_batch(model, x).shape) or x)
        >>> _ = step.get_concrete_function(tf.TensorSpec([None, 2, 3]))
        >>> traced
        [TensorShape([4, 2, 3])]
    """
    sizes = _fixed_batch_sizes(model)
    if len(sizes) != 1 or not stateful_layers(model):
        return x
    size = sizes.pop()
    return tf.nest.map_structure(
        lambda t: tf.ensure_shape(t, tf.TensorShape([size]).concatenate(t.shape[1:])) if isinstance(t, tf.Tensor) else t,
        x)


def first_share(model: keras.Model, batch: Any) -> tuple[Any, int, int]:
    """The part of `batch` that the finder's first-batch checks run on, its rows and the batch's: for
    a model whose steps run on several replicas (`replica_strategy`), the first replica's share (its
    rows in `each_share`, at least one), so that no device receives the whole batch there either;
    else the whole batch (and a batch with sparse or ragged tensors, computed in one place).

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> share, rows, of = first_share(model, (tf.zeros([4, 1]), tf.zeros([4])))
        >>> tuple(share[0].shape), rows, of
        ((4, 1), 4, 4)
    """
    of = int(leading_rows(batch))
    strategy = replica_strategy(model)
    if strategy is None or strategy.num_replicas_in_sync == 1 or _in_one_place(batch):
        return batch, of, of
    rows = max(1, _share_rows(of, 0, strategy.num_replicas_in_sync)[1])  # at least one row to check
    return tf.nest.map_structure(lambda t: None if t is None else t[:rows], batch), rows, of


def across_replicas(local: Callable, strategy: tf.distribute.Strategy | None) -> Callable:
    """Run `local(batch) -> loss`, or `-> (loss, *masks)`, on each replica of `strategy`, each on its
    share of `batch` (`each_share`).

    Each replica's loss is its share's, divided by the number of replicas (`loss_function`; the
    optimizer sums their gradients), so their sum, returned, is the batch's mean loss where the
    shares are equal. Each mask (`nonfinite_parts`, say) is joined across the replicas by a bitwise
    or. Without a strategy, `local` itself.

    Example:
        >>> strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
        >>> run = across_replicas(lambda b: (tf.reduce_mean(b), tf.constant(0, tf.int64)), strategy)
        >>> [float(t) for t in run(tf.constant([1.0, 3.0]))]
        [2.0, 0.0]
    """
    if strategy is None:
        return local

    def run(batch):
        results = each_share(local, strategy, batch)
        if not isinstance(results[0], tuple):
            return tf.add_n(results)
        masks = [functools.reduce(tf.bitwise.bitwise_or, masks) for masks in list(zip(*results))[1:]]
        return (tf.add_n([loss for loss, *_ in results]), *masks)

    return run


def overflow_everywhere(gradients: list[Any]) -> tuple[list[Any], tf.Tensor]:
    """On one replica of several: `gradients`, made not finite where any replica's are not, and whether
    only replicas after the first had such gradients (an int64 1, on every replica; else 0).

    Keras's `LossScaleOptimizer`, under a `MirroredStrategy` that merges its updates (on CPUs, and on
    GPUs without XLA, which Keras turns off under a strategy), reads only the first replica's
    gradients to decide whether to skip a step: another replica's overflow is applied, turning the
    weights NaN, and the loss scale is not lowered (in `fit` too: Keras 3.8 and 3.15, two logical
    CPUs). On one device, the batch's gradient is then not finite, and the step is skipped. Given
    every replica's gradients not finite, the optimizer skips it under the strategy too and lowers
    its scale, as on one device.

    Example:
        >>> strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
        >>> grads, told = strategy.run(lambda: overflow_everywhere([tf.constant([1.0, float("inf")])]))
        >>> bool(tf.reduce_any(tf.math.is_nan(grads[0]))), int(told)  # the first replica's own: told 0
        (True, 0)
    """
    context = tf.distribute.get_replica_context()
    bad = 1.0 - tf.cast(all_finite([g.values if isinstance(g, tf.IndexedSlices) else g
                                    for g in gradients if g is not None]), tf.float32)
    first = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), tf.float32)
    anywhere, on_first = tf.unstack(context.all_reduce(tf.distribute.ReduceOp.SUM, tf.stack([bad, bad * first])))
    # One gradient not finite is enough for the optimizer to skip the step: the first one.
    gradients = list(gradients)
    i = next(i for i, g in enumerate(gradients) if g is not None)
    sparse = isinstance(gradients[i], tf.IndexedSlices)
    values = gradients[i].values if sparse else gradients[i]
    values = tf.where(anywhere > 0, tf.cast(math.nan, values.dtype), values)
    gradients[i] = tf.IndexedSlices(values, gradients[i].indices, gradients[i].dense_shape) if sparse else values
    return gradients, tf.cast((anywhere > 0) & (on_first == 0), tf.int64)


def replica_overflow_warning(steps: int, where: str) -> str:
    """What to tell of `steps` steps of `where` (\"the sweep's\", say) that `overflow_everywhere` skipped
    and Keras's `LossScaleOptimizer` would have applied.

    Example:
        >>> replica_overflow_warning(2, "the sweep's").split(":")[0]
        "On 2 of the sweep's steps, another replica's gradients were not finite while the first replica's were"
    """
    return (f"On {steps} of {where} steps, another replica's gradients were not finite while the first "
            "replica's were: Keras's LossScaleOptimizer under a MirroredStrategy reads only the first replica's "
            "to decide whether to skip a step, so `fit` would apply them, turning the weights NaN, and keep its "
            "loss scale. The finder skipped those steps and lowered the scale, as on one device. In `fit`, "
            "`mixed_bfloat16` needs no loss scale, and a lower `initial_scale` overflows less often.")


def build_sweep(model: keras.Model, optimizer: keras.optimizers.Optimizer, loss: Callable | None, lr_target: Any,
                state: SweepState, own_step: Callable | None = None) -> Callable:
    """Compile the chunked sweep for this model and optimizer.

    A step is one update of the weights: one batch, or with gradient accumulation
    (`accumulation_steps`) as many batches, all at the step's rate, whose mean loss is recorded (the
    weights do not change between them, so it is the loss of the update's whole batch). For a model
    created under a strategy, each batch is trained on the strategy's replicas (`across_replicas`).
    Given `own_step` (`tf_lrfinder.own_step.model_train_step`: the model's own `train_step`), each
    batch is trained by it instead of by the finder's step with `loss`.

    Returns:
        `run(iterator, n) -> (records, status)`: `records` is float64 `[k, RECORD_COLUMNS]` for the
        `k <= n` steps taken (the columns named above `RECORD_COLUMNS`: loss, smoothed loss, how many
        times the data started again so far, a batch's index within one pass that is not above the
        previous one's counting as a start; then the update's `target_moments`), and `status` is
        RUNNING, DIVERGED or NOT_FINITE (the loss, or after a step whose batches held NaN or inf values the
        weights, turned NaN or inf). The function traces once per input signature. At NOT_FINITE,
        `state.bad_data` says which parts of that step's batches, or of the step's before it (whose
        gradients may have turned the weights NaN), held a NaN or an infinity (`nonfinite_parts`;
        0: none, or the model had trained through such values before (`state.tolerated`), so the rate
        or the model is to blame).

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> opt = keras.optimizers.SGD(); opt.build(model.trainable_variables)
        >>> state = SweepState(); state.reset([1e-3, 1e-2, 1e-1], [0.02, 0.0396, 0.0588], 0.98, 4.0)
        >>> run = build_sweep(model, opt, loss_function(model, keras.losses.MeanSquaredError()), opt._learning_rate, state)
        >>> data = tf.data.Dataset.from_tensors((tf.ones([4, 1]), tf.ones([4, 1]))).repeat().enumerate()
        >>> records, status = run(iter(data), tf.constant(3))
        >>> records.shape, int(status) == RUNNING, round(float(opt.learning_rate), 6)  # the last step's rate
        (TensorShape([3, 7]), True, 0.1)
    """

    def train_step(batch):
        x, y, sw = keras.utils.unpack_x_y_sample_weight(batch)
        with tf.GradientTape() as tape:
            y_pred = model(fixed_batch(model, x), training=True)
            value = loss(x, y, y_pred, sw)
            # A no-op except under a LossScaleOptimizer (mixed precision), where it is required.
            scaled = optimizer.scale_loss(value)
        variables = model.trainable_variables
        gradients = tape.gradient(scaled, variables)
        if replicated and any(isinstance(g, tf.IndexedSlices) for g in gradients):
            state.one_step_per_call = True  # known as the step is traced: before the first step runs
        overflowed = tf.constant(0, tf.int64)
        if shared_overflow:
            gradients, overflowed = overflow_everywhere(gradients)
        optimizer.apply_gradients(zip(gradients, variables))
        # A NaN or inf input may leave this loss finite (tanh(inf) is 1; oneDNN's fused ReLU maps a NaN
        # to 0) and still turn the gradients, and so the weights, NaN: each step's batch is read.
        return tf.cast(value, tf.float64), nonfinite_parts(batch), overflowed

    if own_step is not None:
        train_step = own_step
    per_update = accumulation_steps(optimizer)
    strategy = _step_strategy(model, per_update)
    # An `Embedding`'s sparse gradients (`tf.IndexedSlices`), on several replicas, are gathered by
    # collective ops, which fail on a second step in one compiled call ("Shape mismatch in the collective
    # instance"; and every collective op of the process after it): `fit` fails so with
    # `steps_per_execution` above 1. Then the finder runs one step per call (`state.one_step_per_call`).
    replicated = strategy is not None and strategy.num_replicas_in_sync > 1
    # A LossScaleOptimizer on several replicas skips a step only where the first replica's gradients are
    # not finite: each replica's are made so where any replica's are (`overflow_everywhere`; for the
    # model's own step, `model_train_step` does it in the optimizer's `apply`).
    shared_overflow = replicated and isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    # The model's own step hides its gradients: on several replicas it runs one step per call, as `fit`
    # does by default, in case they are sparse.
    state.one_step_per_call = own_step is not None and replicated
    hold = ftrl_rate_held(optimizer, model.trainable_variables)
    # As `fit` compiles its step: the step alone, the loop over batches around it; not where XLA would
    # compile it again at every step (`LRFinder` warns of it).
    if _xla(model, per_update) and not compiled_every_step(model, optimizer):
        train_step = per_instance(train_step, jit_compile=True)
    train_step = across_replicas(train_step, strategy)

    def one_batch(iterator, j, total, bad, moments):
        """Train on the next batch; return the counter, the update's summed loss, its NaN mask and its
        `target_moments` (the means and their variances summed, the lowest and highest target of all),
        each with that batch counted in."""
        index, batch = iterator.get_next()
        batch_loss, batch_bad, overflowed = train_step(batch)
        if shared_overflow or (replicated and own_step is not None):  # the only steps that count any
            state.overflows.assign_add(overflowed)
        state.restarts.assign_add(tf.cast(index <= state.last_index, tf.int64))
        state.last_index.assign(index)
        these = target_moments(batch)
        moments = tf.concat([moments[:2] + these[:2], tf.minimum(moments[2:3], these[2:3]),
                             tf.maximum(moments[3:], these[3:])], 0)
        return j + 1, total + batch_loss, tf.bitwise.bitwise_or(bad, batch_bad), moments

    def one_step(iterator, i, records, status):
        """One step of the sweep (one update): its records written at `i`, and the status after it."""
        step = state.step.read_value()
        lr_target.assign(tf.cast(state.lrs[step], lr_target.dtype))
        if hold is not None:  # Ftrl: the weights as they are, at a new rate (not at a sweep's or a run's start)
            changed = (step > 0) & tf.not_equal(state.lrs[step], state.lrs[tf.maximum(step - 1, 0)])
            tf.cond(changed, hold, lambda: None)
        start = (tf.constant(0), tf.constant(0.0, tf.float64), tf.constant(0, tf.int64),
                 tf.constant([0.0, 0.0, math.inf, -math.inf], tf.float64))
        if per_update == 1:
            _, total, bad, moments = one_batch(iterator, *start)
        else:  # the optimizer updates the weights on the last of the batches
            _, total, bad, moments = tf.while_loop(lambda j, *_: j < per_update,
                                                   lambda *args: one_batch(iterator, *args), start)
        value = total / per_update
        moments = moments / [per_update, per_update ** 2, 1, 1]  # the update's batches as one
        beta = state.smoothing
        avg = beta * state.avg + (1.0 - beta) * value
        smoothed = avg / state.correction[step]
        state.avg.assign(avg)
        with tf.control_dependencies([value]):  # counted once its loss is: an error names its step
            state.step.assign_add(1)
        records = records.write(i, tf.concat([tf.stack([value, smoothed, tf.cast(state.restarts, tf.float64)]),
                                              moments], 0))
        # A batch holding a NaN or inf may leave the loss finite for good (oneDNN's fused ReLU maps a NaN
        # to 0, so its unit reads 0 however NaN its weights) while its gradients turned the weights NaN:
        # after such a batch, and only then, the weights are read (not once the model is known to read
        # such values), so clean steps pay nothing for it.
        untried = tf.bitwise.bitwise_and(bad, tf.bitwise.invert(state.tolerated))  # parts not yet read safely
        finite = tf.math.is_finite(smoothed) & tf.cond(tf.equal(untried, 0), lambda: tf.constant(True),
                                                        lambda: all_finite(model.trainable_variables))
        # Where the loss turned NaN or inf, the bad data may be this step's or the last one's; not in parts
        # the model trained through before, whose NaN now is the rate's doing.
        blamed = tf.bitwise.bitwise_and(tf.bitwise.bitwise_or(state.bad_data, bad), tf.bitwise.invert(state.tolerated))
        state.bad_data.assign(tf.where(finite, bad, blamed))
        state.tolerated.assign(tf.where(finite, tf.bitwise.bitwise_or(state.tolerated, bad), state.tolerated))
        # A sweep's best counts from its step NOISE_LEAST on (a run's, given its noise, from its first):
        # no sweep blows up against a single lucky batch (`smoothing.stop_index`).
        counted = finite & ((state.noise_steps == 0) | (step >= NOISE_LEAST))
        best = tf.where(counted, tf.minimum(state.best, smoothed), state.best)
        state.best.assign(best)
        # The rise must stand out of the loss's batch-to-batch noise too (`smoothing.diverged`): a sweep's
        # over its first changes before this step (fewer than `NOISE_LEAST`: inf), a run's given.
        changes = tf.cast(tf.minimum(step - 1, state.noise_steps), tf.float64)
        state.noise.assign(tf.where(state.noise_steps > 0, tf.where(
            changes >= NOISE_LEAST, state.noise_sum / tf.maximum(changes, 1.0), tf.constant(math.inf, tf.float64)),
            state.noise))
        change = tf.abs(value - state.last_loss)
        counts = (step >= 1) & (step <= state.noise_steps) & tf.math.is_finite(change)
        state.noise_sum.assign_add(tf.where(counts, change, tf.constant(0.0, tf.float64)))
        state.last_loss.assign(value)
        rise = smoothed - best
        diverged = (rise > (state.diverge_factor - 1.0) * tf.abs(best)) & (rise > NOISE_FACTOR * state.noise)
        status = tf.where(finite, tf.where(diverged, DIVERGED, RUNNING), NOT_FINITE)
        return i + 1, records, status

    @for_model(model)
    def run(iterator, n):
        start = (tf.constant(0), tf.TensorArray(tf.float64, size=0, dynamic_size=True), tf.constant(RUNNING))
        _, records, status = tf.while_loop(lambda i, records, status: (i < n) & (status == RUNNING),
                                           lambda *args: one_step(iterator, *args), start)
        return records.stack(), status

    return run


def build_evaluate(model: keras.Model, loss: Callable) -> Callable:
    """Compile the loss of one batch in inference mode (Dropout off, BatchNorm's moving statistics).

    Returns:
        `evaluate(batch) -> float64 scalar`; it changes no variable of the model or optimizer.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="ones")])
        >>> evaluate = build_evaluate(model, loss_function(model, keras.losses.MeanSquaredError(), training=False))
        >>> float(evaluate((tf.ones([4, 1]), tf.zeros([4, 1]))))
        1.0
    """

    def evaluate(batch):
        x, y, sw = keras.utils.unpack_x_y_sample_weight(batch)
        return tf.cast(loss(x, y, model(fixed_batch(model, x), training=False), sw), tf.float64)

    strategy = replica_strategy(model)
    if _xla(model, 1):  # the loss alone, as `fit` compiles its step; the split across replicas around it
        evaluate = per_instance(evaluate, jit_compile=True)
        if strategy is None:
            return evaluate
    return for_model(model)(across_replicas(evaluate, strategy))
