"""Random calls of the finder, each checked for an error, a rate that is not finite, and state not
restored bit for bit.

Each seed draws one configuration: a model (an MLP with BatchNorm, Dropout or LayerNorm between
its layers, an RNN, a CNN, an Embedding model), a task and loss (Keras's crossentropies from logits
or probabilities, focal, MSE/MAE/Huber/log-cosh, Poisson, KL divergence, hinge, cosine similarity,
Dice, Tversky, a Gaussian negative log-likelihood of its own), an optimizer (any of Keras's, with
gradient accumulation, clipping or a schedule at times; a `MultiOptimizer` or `ScheduleFreeAdamW`
where Keras has them), compiled or given to the finder, trained for an epoch before or not, and
data as arrays, a `tf.data` pipeline or a generator, with sample or class weights, validation
data or a split, refined or not. Drawn apart (`more`), so that a seed that draws none of them makes
the call it made before they came: a second output (its own loss where compiled, else the same one), mixed precision
(float16 or bfloat16), a frozen first layer, XLA (`jit_compile`), Muon, Nesterov, Adam with its
EMA written into the weights, a `LossScaleOptimizer` around SGD, and the call's own options (a
shorter or longer sweep, a linear one, no divergence stop, `steps_per_execution`, `snapshot`). Drawn
apart again (`later`), likewise: a layer after the trunk (spectral normalization, Gaussian noise or
dropout, group or unit normalization, an activity regulariser, a kernel constraint), a subclassed
`keras.Model` around the functional one, a second named input (the data a dict), float64, augmentation
layers in a CNN, padded sequences behind a `Masking` layer in an RNN, and the optimizer's
`weight_decay` or `global_clipnorm`; not where Keras's own `fit` fails (Muon or a regulariser in
float64, an activity regulariser under mixed precision: the finder says so before the sweep, as
`tests/test_preflight.py` checks). Drawn apart once more (`then`), likewise: the data in another
form `fit` takes (a `keras.utils.PyDataset`, a `tf.data` pipeline repeated without end or dropping
its last, shorter batch, a list of batches, float64 arrays), 40 rows only (the sweep cycles them),
`max_lr=0.01` (the loss may never turn up), a second call on the same finder, and `refine()` called
after a sweep made without the runs. And once more (`trunks`), likewise: the same features (and
targets) read by another trunk (strings through an adapted `TextVectorization`, a transformer
encoder block, a bidirectional GRU with a `TimeDistributed` layer, an adapted `Normalization` layer,
a transposed convolution), and, where the model is compiled, metrics (`mae`) and `loss_weights`.
And once more (`nests`), likewise: the trunk a model of its own inside the model, as in transfer
learning (called as a layer; frozen and called with `training=False`; or trainable and called so),
its BatchNormalization layers frozen at times. And (`page_draws`) a `keras.utils.PyDataset`'s workers,
threads or processes, and its batches streamed. And (`own_draws`), where the model is compiled, its
own `train_step` training it (`tf_lrfinder.own_step`): Keras's own (`step="model"`), a subclass
whose step adds a penalty of its own, or (drawn apart, after seeds 8000 to 8199) a subclass whose
steps read x and y from one dict a batch, handed to them as x alone (as TFDS gives them without
`as_supervised`). And (after seeds 8800 to 8999) validation data passed as a batched `tf.data`
pipeline instead of arrays, half the time it is drawn. And (`tunes`, after seeds 9300 to 9499) the
output layer fine-tuned through LoRA, two inputs as a tuple rather than a dict, and a second
output without a loss or targets, kept only to be read; and (after seeds 9500 to 10649) an MLP's
features as a table's columns, each of shape `(n,)`, for `keras.Input((1,))`s; and (after seeds 10650
to 12449) the second named input declared `optional=True` and left out, None in the data.
It calls the finder once (and again, where drawn) and checks that:

- the call returns a finite rate above 0, or raises a `ValueError` (told; printed, to be read);
- what it recorded reads back: each rule's suggestion (`finder.suggest`) is a finite rate above 0
  or a `ValueError`, `suggest_range()` a rising pair or a `ValueError`, `finder.history` comes back
  the same from JSON and from CSV, and the plots and the runs' summary draw without an error;
- every variable of the model and the optimizer holds what it held before, bit for bit, and the
  optimizer's variables are the same ones, in the same order.

Usage:
    python benchmarks/robustness.py 0 100        # seeds 0 to 99; a line per call, then the counts
    python benchmarks/robustness.py 0 100 --mirrored   # each model created under a MirroredStrategy of 2 logical CPUs
    python benchmarks/robustness.py 0 100 --only multi,schedule_free   # those optimizers only
    python benchmarks/robustness.py 0 1000 --form py_dataset   # the seeds whose data is a PyDataset only
    python benchmarks/robustness.py 5200 5400 --own   # the seeds that draw the model's own `train_step` only
    python benchmarks/robustness.py 9500 10500 --tuned   # the seeds that draw one of `tunes`'s draws only
    python benchmarks/robustness.py 10650 11000 --columns   # the seeds that may draw a table's columns only
    python benchmarks/robustness.py 12450 20000 --left-out   # the seeds that leave out an optional input only

Exits with 1 where a call raised anything but a `ValueError`, returned no finite rate, or left a
variable changed. Minutes on a CPU (about 2 seconds a call).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import traceback
import warnings
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_lrfinder import LRFinder  # noqa: E402
import tf_lrfinder.data as data_lib  # noqa: E402

BUDGET = data_lib.RUNS_IN_MEMORY  # put back after each call (`page_draws`'s "streamed" sets it to 0)

O = keras.optimizers
OPTIMIZERS = {
    "sgd": lambda: O.SGD(0.01, momentum=0.9), "adam": O.Adam, "adamw": O.AdamW, "rmsprop": O.RMSprop,
    "nadam": O.Nadam, "adamax": O.Adamax, "adagrad": O.Adagrad, "adadelta": O.Adadelta, "ftrl": O.Ftrl,
    "lion": O.Lion, "lamb": O.Lamb, "adafactor": O.Adafactor,
    "schedule": lambda: O.Adam(O.schedules.ExponentialDecay(1e-3, 100, 0.9)),
    "loss_scale": lambda: O.LossScaleOptimizer(O.Adam()),
}
if hasattr(O, "MultiOptimizer"):  # the output layer's own optimizer; the others the default's
    OPTIMIZERS["multi"] = lambda: O.MultiOptimizer(O.OptimizerMap(O.Adam(1e-3), {".*/out/.*": O.SGD(0.05)}))
if hasattr(O, "ScheduleFreeAdamW"):
    OPTIMIZERS["schedule_free"] = lambda: O.ScheduleFreeAdamW(warmup_steps=20)
MORE_OPTIMIZERS = {  # drawn apart (`more`), so the draws among the optimizers above stay as they were
    "nesterov": lambda: O.SGD(0.01, momentum=0.9, nesterov=True),
    "ema": lambda: O.Adam(use_ema=True, ema_overwrite_frequency=5),
    "loss_scale_sgd": lambda: O.LossScaleOptimizer(O.SGD(0.01, momentum=0.9)),
}
if hasattr(O, "Muon"):
    MORE_OPTIMIZERS["muon"] = O.Muon
TASKS = ("sparse", "categorical", "binary", "focal", "regression", "poisson", "kl", "hinge", "cosine", "dice",
         "tversky", "gaussian_nll")


def gaussian_nll(y_true, y_pred):
    """A loss of its own, below 0 where it fits: the negative log-likelihood of a Gaussian whose
    mean and log-deviation the model outputs."""
    mean, log_sd = y_pred[:, :1], y_pred[:, 1:]
    return tf.reduce_mean(0.5 * tf.exp(-2.0 * log_sd) * (y_true - mean) ** 2 + log_sd, axis=-1)


def task_data(rs: random.Random, g: np.random.Generator, n: int,
              late: dict | None = None, columns: bool = False) -> tuple[str, Any, Any, Any]:
    """A model kind, its inputs x, its input tensor, and the trunk's output: the features it sees.
    `late` (`later`) adds augmentation layers to a CNN and padding with a `Masking` layer to an RNN;
    `columns` (`tunes`) makes an MLP's features a table's columns, a dict of arrays of shape `(n,)`
    for `keras.Input((1,))`s, concatenated, as Keras's structured-data tutorials feed them."""
    late = late or {}
    name = "main" if late.get("two_inputs") else None  # the first of two named inputs
    kind = rs.choice(["mlp", "mlp", "rnn", "cnn", "embedding"])
    if kind == "cnn":
        x = g.normal(size=(n, 8, 8, 1)).astype("float32")
        inputs = keras.Input((8, 8, 1), name=name)
        h = inputs
        if late.get("augment"):  # draws of their own in training, from their layers' seed generators
            h = keras.layers.RandomFlip("horizontal")(h)
            h = keras.layers.RandomTranslation(0.1, 0.1)(h)
        h = keras.layers.Conv2D(4, 3, activation="relu")(h)
        h = keras.layers.BatchNormalization()(h) if rs.random() < 0.5 else h
        h = keras.layers.Flatten()(h)
    elif kind == "embedding":
        x = g.integers(0, 50, size=(n, 6))
        inputs = keras.Input((6,), dtype="int32", name=name)
        h = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 8)(inputs))
    elif kind == "rnn":
        x = g.normal(size=(n, 6, 3)).astype("float32")
        inputs = keras.Input((6, 3), name=name)
        rnn = rs.choice([keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN])(8)
        if late.get("masked"):  # sequences of 3 to 6 steps, padded with zeros after their end
            x[np.arange(6)[None, :] >= g.integers(3, 7, size=(n, 1))] = 0.0
            h = rnn(keras.layers.Masking(0.0)(inputs))
        else:
            h = rnn(inputs)
    else:
        x = g.normal(size=(n, 5)).astype("float32")
        inputs = keras.Input((5,), name=name)
        h = inputs
        if columns:  # the model adds each column's last axis itself, as `fit` takes them
            inputs = {f"c{j}": keras.Input((1,), name=f"c{j}") for j in range(5)}
            x, h = {f"c{j}": x[:, j] for j in range(5)}, keras.layers.Concatenate()(list(inputs.values()))
        for _ in range(rs.randint(1, 2)):
            h = keras.layers.Dense(16, activation=rs.choice(["relu", "tanh", "gelu"]))(h)
            h = keras.layers.BatchNormalization()(h) if rs.random() < 0.3 else h
            h = keras.layers.Dropout(0.2)(h) if rs.random() < 0.3 else h
            h = keras.layers.LayerNormalization()(h) if rs.random() < 0.2 else h
    return kind, x, inputs, h


def more(seed: int) -> dict[str, Any]:
    """The draws added after seeds 0 to 349 were run, from a generator of their own: where none
    applies (about one seed in seven), a seed's call is the one it made before."""
    rx = random.Random(f"more {seed}")
    return dict(two_heads=rx.random() < 0.15,
                precision=rx.choice(["float32"] * 10 + ["mixed_float16", "mixed_bfloat16"]),
                frozen=rx.random() < 0.1, xla=rx.random() < 0.1,
                optimizer=rx.choice(sorted(MORE_OPTIMIZERS)) if rx.random() < 0.15 else None,
                n_steps=rx.choice([100] * 8 + [30, 250]), linear=rx.random() < 0.08,
                no_stop=rx.random() < 0.08, steps_per_execution=rx.choice([20] * 6 + [1, 7]),
                snapshot=rx.choice(["device"] * 6 + ["host", "disk"]))


LATER_LAYERS = {  # one of them after the trunk, `later`'s "layer"
    "spectral_norm": lambda: keras.layers.SpectralNormalization(keras.layers.Dense(8)),  # a power iteration's state
    "gaussian_noise": lambda: keras.layers.GaussianNoise(0.1),  # unseeded noise in training
    "gaussian_dropout": lambda: keras.layers.GaussianDropout(0.1),
    "group_norm": lambda: keras.layers.GroupNormalization(groups=4),
    "unit_norm": lambda: keras.layers.UnitNormalization(),
    "activity_l2": lambda: keras.layers.ActivityRegularization(l2=1e-3),  # a loss of its own (`model.losses`)
    "max_norm": lambda: keras.layers.Dense(8, activation="relu", kernel_constraint=keras.constraints.MaxNorm(1.0)),
    "activity_dense": lambda: keras.layers.Dense(8, activation="relu", activity_regularizer="l1"),
}


def later(seed: int) -> dict[str, Any]:
    """The draws added after seeds 0 to 1249 were run with `more`, from a generator of their own: where
    none applies (about one seed in three), a seed's call is the one it made with `more` alone."""
    rx = random.Random(f"later {seed}")
    return dict(layer=rx.choice(sorted(LATER_LAYERS)) if rx.random() < 0.3 else None,
                subclassed=rx.random() < 0.1, two_inputs=rx.random() < 0.1, float64=rx.random() < 0.05,
                augment=rx.random() < 0.5, masked=rx.random() < 0.5,
                weight_decay=rx.random() < 0.1, global_clipnorm=rx.random() < 0.1)


def then(seed: int) -> dict[str, Any]:
    """The draws added after seeds 0 to 2049 were run with `later`, from a generator of their own: where
    none applies (about one seed in two), a seed's call is the one it made with `later`."""
    rx = random.Random(f"then {seed}")
    return dict(form=rx.choice(sorted(THEN_FORMS)) if rx.random() < 0.4 else None, few=rx.random() < 0.1,
                low_max_lr=rx.random() < 0.1, again=rx.random() < 0.15, refine_after=rx.random() < 0.3)


THEN_FORMS = {  # `then`'s "form": the data in a form `fit` takes, instead of the one drawn before
    "py_dataset": "a keras.utils.PyDataset of the batches",
    "repeated": "a tf.data pipeline repeated without end",
    "drop_remainder": "a tf.data pipeline whose last, shorter batch is dropped",
    "batches": "a list of the batches",
    "float64_x": "arrays whose floating-point parts are float64 (as NumPy and scikit-learn make them)",
}


def trunks(seed: int) -> dict[str, Any]:
    """The draws added after seeds 2050 to 2649 were run with `then`, from a generator of their own: where
    none applies (about one seed in two), a seed's call is the one it made with `then`."""
    rx = random.Random(f"trunk {seed}")
    return dict(trunk=rx.choice(sorted(TRUNKS)) if rx.random() < 0.3 else None, metrics=rx.random() < 0.2,
                loss_weights=rx.random() < 0.3)


NESTS = {  # `nests`'s "nest": the trunk as a model of its own inside the model, as in transfer learning
    "base": "called as a layer, in the mode of the call",
    "frozen_base": "not trainable, called with training=False (Keras's transfer-learning guide)",
    "inference_base": "trainable, called with training=False (the guide's fine-tuning)",
}


def nests(seed: int) -> dict[str, Any]:
    """The draws added after seeds 2650 to 3599 were run with `trunks`, from a generator of their own:
    where none applies (about three seeds in five), a seed's call is the one it made with `trunks`."""
    rx = random.Random(f"nest {seed}")
    return dict(nest=rx.choice(sorted(NESTS)) if rx.random() < 0.4 else None, frozen_bn=rx.random() < 0.5)


def page_draws(seed: int) -> dict[str, Any]:
    """The draws added after seeds 3600 to 3799 were run with `nests`, from a generator of their own,
    for a `keras.utils.PyDataset` (`then`'s form "py_dataset"): its workers (threads or processes),
    and whether the call streams its batches (the finder's memory budget set to 0 for the call)."""
    rx = random.Random(f"pages {seed}")
    return dict(workers=rx.choice([1, 1, 3]), processes=rx.random() < 0.3, streamed=rx.random() < 0.5)


OWN_STEPS = {  # `own_draws`'s "own": the model's own `train_step` trains it, where it is compiled
    "keras": "Keras's own `train_step`, called by the finder (step='model')",
    "penalised": "a subclass whose own `train_step` adds a penalty on the kernels (step='auto')",
    "packed": "a subclass whose own `train_step` and `test_step` read x and y from one dict a batch "
              "(as TFDS gives them without `as_supervised`), handed to it as x alone (step='auto')",
}


def own_draws(seed: int) -> dict[str, Any]:
    """The draws added after seeds 5000 to 5199 were run with `page_draws`, from a generator of their
    own: where none applies (about seven seeds in ten, and every model not compiled), a seed's call
    is the one it made with `page_draws`. "packed", added after seeds 8000 to 8199 were run, from a
    generator of its own, where none of the others applies (about one in seven of those): a seed that
    draws none of them makes the call it made before."""
    rx = random.Random(f"own {seed}")
    own = rx.choice(sorted(set(OWN_STEPS) - {"packed"})) if rx.random() < 0.3 else None
    if own is None and random.Random(f"packed {seed}").random() < 0.15:
        own = "packed"
    return dict(own=own)


def tunes(seed: int) -> dict[str, Any]:
    """The draws added after seeds 9300 to 9499 were run with `own_draws`, from a generator of their
    own: where none applies (about three seeds in four), a seed's call is the one it made before. The
    output layer fine-tuned through LoRA (`enable_lora(2)`: its kernel frozen, two low-rank factors
    trained beside it, as KerasHub fine-tunes); where `later` drew a second input, the inputs as a
    tuple, not a dict (`keras.Model((a, b), ...)`, the data `((x_a, x_b), y)`); where `more` drew a
    second output and the model is compiled, that output without a loss (`{"aux": None}`) and
    without targets, as an output kept only to be read. Drawn after seeds 9500 to 10649 were run
    with the others: where an MLP reads one input (no trunk of `trunks`'s, no second input), its five
    features as a table's columns (`task_data`'s `columns`; `--columns`), not in a nested model. Drawn
    after seeds 10650 to 12449 were run with the others: where `later` drew a second input and the
    inputs are a dict, that input declared `optional=True` and left out, None in the data, as `fit`
    takes it (`--left-out`); it is named so that it comes first of the two."""
    rx = random.Random(f"tune {seed}")
    return dict(lora=rx.random() < 0.1, tuple_inputs=rx.random() < 0.5, unlossed=rx.random() < 0.5,
                columns=rx.random() < 0.3, left_out=rx.random() < 0.5)


class SideIfGiven(keras.layers.Layer):
    """The features `h` beside a Dense layer's reading of an optional input, or beside zeros where
    that input is left out (None)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(4, activation="relu")

    def call(self, h: Any, side: Any = None) -> Any:
        read = keras.ops.zeros((keras.ops.shape(h)[0], 4), h.dtype) if side is None else self.dense(side)
        return keras.ops.concatenate([h, keras.ops.cast(read, h.dtype)], axis=-1)


class Subclassed(keras.Model):
    """A model of its own class around a functional one, as users subclass `keras.Model`."""

    def __init__(self, inner: keras.Model, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.inner(inputs, training=training)


class Penalised(keras.Model):
    """A model of its own class around another whose `train_step` adds 1e-4 times the kernels'
    squared norm to the compiled loss (not by `add_loss`: only its own step knows it), scales the
    loss for a `LossScaleOptimizer` as Keras's step does, and reports it as "loss"."""

    def __init__(self, inner: keras.Model, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner = inner
        self.tracker = keras.metrics.Mean(name="penalised_loss")

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.inner(inputs, training=training)

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
            kernels = [w for w in self.trainable_weights if "kernel" in w.path]
            if kernels:
                loss = loss + 1e-4 * tf.add_n([tf.reduce_sum(tf.square(tf.cast(w, loss.dtype))) for w in kernels])
            scaled = self.optimizer.scale_loss(loss)
        self.optimizer.apply(tape.gradient(scaled, self.trainable_weights), self.trainable_weights)
        self.tracker.update_state(loss)
        # The compiled metrics too, as Keras's guide to a step of one's own has it (`fit` reads them all).
        return {**self.compute_metrics(x, y, y_pred, sample_weight), "loss": self.tracker.result()}


class Packed(Subclassed):
    """A model of its own class around another, whose batches are one dict, `{"features": x,
    "targets": y}` (as TFDS gives them without `as_supervised`): handed to it as x alone, they are
    split by its own `train_step` and `test_step`, which otherwise do what Keras's do (the loss
    scaled for a `LossScaleOptimizer`; reported as "loss", with the compiled metrics)."""

    def __init__(self, inner: keras.Model, **kwargs: Any) -> None:
        super().__init__(inner, **kwargs)
        self.tracker = keras.metrics.Mean(name="packed_loss")

    @staticmethod
    def split(data: Any) -> tuple[Any, Any]:
        batch = keras.utils.unpack_x_y_sample_weight(data)[0]  # the dict, whether alone or in a 1-tuple
        return batch["features"], batch["targets"]

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = self.split(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
            scaled = self.optimizer.scale_loss(loss)
        self.optimizer.apply(tape.gradient(scaled, self.trainable_weights), self.trainable_weights)
        self.tracker.update_state(loss)
        return {**self.compute_metrics(x, y, y_pred, None), "loss": self.tracker.result()}

    def test_step(self, data: Any) -> dict[str, Any]:
        x, y = self.split(data)
        y_pred = self(x, training=False)
        self.tracker.update_state(self.compute_loss(x=x, y=y, y_pred=y_pred, training=False))
        return {**self.compute_metrics(x, y, y_pred, None), "loss": self.tracker.result()}


def _nested(inputs: Any, h: Any, nest: dict[str, Any], name: str | None) -> tuple[Any, Any, list[str]]:
    """The trunk from `inputs` to `h` made a model of its own (`nests`), called on a new input of
    the same kind; its BatchNormalization layers frozen where drawn. The new input and output, and
    what was drawn (for the call's line)."""
    base = keras.Model(inputs, h, name="base")
    drawn = [nest["nest"]]
    if nest["nest"] == "frozen_base":
        base.trainable = False
    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if nest["frozen_bn"] and norms:  # they normalise with their moving statistics and never update them
        for layer in norms:
            layer.trainable = False
        drawn.append("frozen_bn")
    outer = keras.Input(tuple(inputs.shape[1:]), dtype=inputs.dtype, name=name)
    training = False if nest["nest"] in ("frozen_base", "inference_base") else None
    return outer, base(outer, training=training), drawn


def _sequences(g: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """Sequences of 6 steps of the first 4 features, each step with noise of its own."""
    return (base[:, None, :4] + 0.3 * g.normal(size=(len(base), 6, 4))).astype("float32")


def _text(base: np.ndarray) -> np.ndarray:
    """Each sample's first 6 features as words, one per feature and quartile ("c0q2 c1q0 ..."), in an
    array of Python strings (as pandas holds them: `fit` takes those, not NumPy's own unicode arrays)."""
    quartile = np.digitize(base[:, :6], [-0.67, 0.0, 0.67])
    return np.array([" ".join(f"c{j}q{q}" for j, q in enumerate(row)) for row in quartile], dtype=object)


def _text_trunk(g: np.random.Generator, base: np.ndarray, name: str | None) -> tuple[np.ndarray, Any, Any]:
    """String inputs through an adapted `TextVectorization`, token embeddings averaged."""
    x = _text(base)
    vectorize = keras.layers.TextVectorization(max_tokens=30, output_sequence_length=6)
    vectorize.adapt(x)
    inputs = keras.Input((), dtype="string", name=name)
    return x, inputs, keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(30, 8)(vectorize(inputs)))


def _attention_trunk(g: np.random.Generator, base: np.ndarray, name: str | None) -> tuple[np.ndarray, Any, Any]:
    """A transformer encoder block over sequences: self-attention and a feed-forward layer, each
    with Dropout, a residual connection and LayerNorm."""
    x = _sequences(g, base)
    inputs = keras.Input((6, 4), name=name)
    attended = keras.layers.MultiHeadAttention(2, 4, dropout=0.1)(inputs, inputs)
    h = keras.layers.LayerNormalization()(inputs + attended)
    forward = keras.layers.Dense(4)(keras.layers.Dense(16, activation="gelu")(h))
    h = keras.layers.LayerNormalization()(h + keras.layers.Dropout(0.1)(forward))
    return x, inputs, keras.layers.GlobalAveragePooling1D()(h)


def _bidirectional_trunk(g: np.random.Generator, base: np.ndarray, name: str | None) -> tuple[np.ndarray, Any, Any]:
    """A bidirectional GRU over sequences, its per-step outputs through a `TimeDistributed` layer."""
    x = _sequences(g, base)
    inputs = keras.Input((6, 4), name=name)
    h = keras.layers.Bidirectional(keras.layers.GRU(6, return_sequences=True))(inputs)
    return x, inputs, keras.layers.Flatten()(keras.layers.TimeDistributed(keras.layers.Dense(3))(h))


def _normalization_trunk(g: np.random.Generator, base: np.ndarray, name: str | None) -> tuple[np.ndarray, Any, Any]:
    """Features far from 0 and 1 through an adapted `Normalization` layer (its mean and variance
    are variables no step trains)."""
    x = (3.0 * base[:, :4] + 5.0).astype("float32")
    normalize = keras.layers.Normalization()
    normalize.adapt(x)
    inputs = keras.Input((4,), name=name)
    return x, inputs, keras.layers.Dense(16, activation="relu")(normalize(inputs))


def _transposed_trunk(g: np.random.Generator, base: np.ndarray, name: str | None) -> tuple[np.ndarray, Any, Any]:
    """A strided convolution and a transposed one back up, on 8x8 images whose first row holds the
    features."""
    x = g.normal(0.0, 0.3, size=(len(base), 8, 8, 1)).astype("float32")
    x[:, 0, :4, 0] = base[:, :4]
    inputs = keras.Input((8, 8, 1), name=name)
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(h)
    return x, inputs, keras.layers.Flatten()(h)


TRUNKS = {  # `trunks`'s "trunk": read the drawn features in another way than `task_data`'s trunk
    "text": _text_trunk, "attention": _attention_trunk, "bidirectional": _bidirectional_trunk,
    "normalization": _normalization_trunk, "transposed": _transposed_trunk,
}


class Batches(keras.utils.PyDataset):
    """The rows of `parts` in batches of `batch_size`, as a `keras.utils.PyDataset`."""

    def __init__(self, parts: tuple, batch_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parts, self.batch_size = parts, batch_size

    def __len__(self) -> int:
        return -(-len(_rows_of(self.parts[0])) // self.batch_size)

    def __getitem__(self, i: int) -> Any:
        rows = tuple(_rows(part, slice(i * self.batch_size, (i + 1) * self.batch_size)) for part in self.parts)
        return rows[0] if len(rows) == 1 else rows  # x alone (`Packed`'s dict), as `fit` takes it


def _float64(part: Any) -> Any:
    """An array, or each array of a dict or tuple of them, in float64 where it holds floating-point numbers."""
    if isinstance(part, dict):
        return {k: _float64(v) for k, v in part.items()}
    if isinstance(part, tuple):
        return tuple(_float64(v) for v in part)
    if part is None:  # an optional input left out
        return None
    return part.astype("float64") if np.issubdtype(part.dtype, np.floating) else part


def _rows_of(part: Any) -> Any:
    """An array, or the first array of a dict or tuple of them, nested or not (to count rows)."""
    if isinstance(part, (dict, tuple)):
        return _rows_of(next(v for v in (part.values() if isinstance(part, dict) else part) if v is not None))
    return part


def _rows(part: Any, rows: slice) -> Any:
    """Rows of an array or of each array of a dict or tuple of them, nested or not."""
    if isinstance(part, dict):
        return {k: _rows(v, rows) for k, v in part.items()}
    if isinstance(part, tuple):
        return tuple(_rows(v, rows) for v in part)
    return None if part is None else part[rows]  # None: an optional input left out


def configuration(seed: int):
    """One call's line that names it, optimizer's name, model, optimizer, arguments for the finder, data
    and arguments for the call. Sets the global dtype policy it draws (`one_call` sets it back)."""
    rs, g = random.Random(seed), np.random.default_rng(seed)
    extra, late, last = more(seed), later(seed), then(seed)
    if late["float64"] and extra["precision"] == "float32" and extra["optimizer"] != "muon":
        extra["precision"] = "float64"  # not with Muon, whose own update fails in float64 (`fit` too, Keras 3.15)
    keras.mixed_precision.set_global_policy(extra["precision"])
    keras.utils.set_random_seed(seed)
    n = rs.choice([256, 600])
    trunk, tune = trunks(seed), tunes(seed)
    tune["columns"] = _columns(seed)
    kind, x, inputs, h = task_data(rs, g, n, late, tune["columns"])
    tune["columns"] = tune["columns"] and kind == "mlp"  # drawn where it applies only
    table = np.stack(list(x.values()), axis=1) if tune["columns"] else x
    base = (table.reshape(n, -1) if kind != "embedding" else x / 25.0 - 1).astype("float32")
    f = base[:, :4]
    if trunk["trunk"]:  # the same features (and so targets), read by another trunk
        kind = trunk["trunk"]
        x, inputs, h = TRUNKS[kind](np.random.default_rng([seed, 1]), base, "main" if late.get("two_inputs") else None)
    nest, nested = nests(seed), []
    if nest["nest"]:  # the trunk a model of its own inside the model
        inputs, h, nested = _nested(inputs, h, nest, "main" if late.get("two_inputs") else None)
    late = {k: v for k, v in late.items() if v and k != "float64"  # float64 is printed as the precision
            and not (k == "augment" and kind != "cnn") and not (k == "masked" and kind != "rnn")}
    classes = ((f[:, 0] > 0).astype("int32") + (f[:, 1] > 0)).astype("int32")
    task = rs.choice(TASKS)
    units, activation = 3, None
    if task == "sparse":
        y, loss = classes, keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    elif task == "categorical":
        y, activation, loss = np.eye(3, dtype="float32")[classes], "softmax", "categorical_crossentropy"
    elif task == "binary":
        y, units, loss = (f[:, :1] > 0).astype("float32"), 1, keras.losses.BinaryCrossentropy(from_logits=True)
    elif task == "focal":
        y, loss = np.eye(3, dtype="float32")[classes], keras.losses.CategoricalFocalCrossentropy(from_logits=True)
    elif task == "regression":
        y, units, loss = 2 * f[:, :1] + 1, 1, rs.choice(["mse", "mae", "huber", "log_cosh"])
    elif task == "poisson":
        y, units, activation, loss = np.exp(f[:, :1]), 1, "softplus", "poisson"
    elif task == "kl":
        y = np.abs(f[:, :3]) / np.abs(f[:, :3]).sum(1, keepdims=True)
        activation, loss = "softmax", "kl_divergence"
    elif task == "hinge":
        y, units, loss = np.sign(f[:, :1]), 1, "hinge"
    elif task == "cosine":
        y, loss = f[:, :3], keras.losses.CosineSimilarity()
    elif task in ("dice", "tversky"):
        y, activation = (f[:, :3] > 0).astype("float32"), "sigmoid"
        loss = keras.losses.Dice() if task == "dice" else keras.losses.Tversky()
    else:
        y, units, loss = 2 * f[:, :1], 2, gaussian_nll
    regulariser = "l2" if rs.random() < 0.2 else None
    if extra["precision"] == "float64":  # a float64 penalty Keras cannot add to its float32 loss: `fit` fails (3.15)
        regulariser = None
    name = rs.choice(sorted(OPTIMIZERS))
    if extra["optimizer"]:
        name = extra["optimizer"]
    optimizer = (MORE_OPTIMIZERS if extra["optimizer"] else OPTIMIZERS)[name]()
    options = []
    wraps = name == "multi" or name.startswith("loss_scale")  # Keras's wrappers take no options of their own
    if not wraps and name != "schedule" and rs.random() < 0.15:
        optimizer.gradient_accumulation_steps = 2
        options.append("accumulate 2")
    if not wraps and rs.random() < 0.15:
        optimizer.clipnorm = 1.0
        options.append("clipnorm")
    for option in ("weight_decay", "global_clipnorm"):  # not for Keras's wrappers, nor both clipnorms
        if late.get(option) and (wraps or option == "global_clipnorm" and "clipnorm" in options):
            del late[option]
    if late.get("weight_decay"):
        optimizer.weight_decay = 1e-3 if name == "adamw" else 1e-4
    if late.get("global_clipnorm"):
        optimizer.global_clipnorm = 1.0
    if str(late.get("layer")).startswith("activity") and extra["precision"] != "float32":
        del late["layer"]  # Keras cannot sum a loss of another dtype with the compiled one: `fit` fails too (Keras 3.15)
    if late.get("layer") == "group_norm" and h.shape[-1] % 4:
        del late["layer"]  # its 4 groups must divide the features (a bidirectional trunk has 18): Keras refuses
    if late.get("layer"):
        h = LATER_LAYERS[late["layer"]]()(h)
    if extra["precision"] == "float64":  # Keras makes the LoRA factors float32 there: under a strategy `fit` fails
        tune["lora"] = False  # (TensorFlow's all-reduce cannot concatenate gradients of both dtypes, Keras 3.15)
    tune["left_out"] = _left_out(seed)  # drawn where it applies only
    if tune["left_out"]:  # the second input optional and left out: None in the data, first of the two by name
        side = keras.Input((2,), name="aside", optional=True)
        h = SideIfGiven()(h, side)
        inputs, x = {"main": inputs, "aside": side}, {"main": x, "aside": None}
    elif late.get("two_inputs"):  # a second, named input beside the first: the data a dict of both
        side = keras.Input((2,), name="side")
        h = keras.layers.Concatenate()([h, keras.layers.Dense(4, activation="relu")(side)])
        inputs, x = {"main": inputs, "side": side}, {"main": x, "side": g.normal(size=(n, 2)).astype("float32")}
        if tune["tuple_inputs"]:  # the same two inputs as a tuple, and the data too
            inputs, x = (inputs["main"], inputs["side"]), (x["main"], x["side"])
    tune["tuple_inputs"] = tune["tuple_inputs"] and bool(late.get("two_inputs"))  # drawn where it applies only
    compiled = rs.random() < 0.6
    tune["unlossed"] = tune["unlossed"] and extra["two_heads"] and compiled  # likewise
    # The output layers in float32, as Keras's mixed-precision guide has them (in float64, float64 too: a
    # model of both fails in Keras's own `global_clipnorm`, `fit` too, Keras 3.15).
    head = None if extra["precision"] == "float64" else "float32"
    out_layer = keras.layers.Dense(units, activation=activation, kernel_regularizer=regulariser, name="out",
                                   dtype=head)
    out = out_layer(h)
    if extra["two_heads"] and compiled:  # a regression of its own, with its own loss
        outputs = {"out": out, "aux": keras.layers.Dense(1, name="aux", dtype=head)(h)}
        y, loss = {"out": y, "aux": f[:, 3:4]}, {"out": loss, "aux": "mse"}
        if tune["unlossed"]:  # an output kept only to be read: no loss, no targets
            y, loss = {"out": y["out"]}, {"out": loss["out"], "aux": None}
    elif extra["two_heads"]:  # the finder is given one loss, applied to each output
        outputs = {"out": out, "aux": keras.layers.Dense(units, activation=activation, name="aux",
                                                         dtype=head)(h)}
        y = {"out": y, "aux": y}
    else:
        outputs = out
    model = keras.Model(inputs, outputs)
    if tune["lora"]:  # its kernel frozen, two factors of rank 2 trained beside it
        out_layer.enable_lora(2)
    if extra["frozen"]:
        next(layer for layer in model.layers if layer.weights).trainable = False
    if late.get("subclassed"):
        model = Subclassed(model)
    own = own_draws(seed)["own"] if compiled else None
    if own == "penalised":
        model = Penalised(model)
    if own == "packed":
        model = Packed(model)
    compiled_with: list[str] = []  # `trunks`'s compile options, where it compiles
    if compiled or rs.random() < 0.3:  # trained for an epoch before, as after some training
        options_drawn: dict[str, Any] = {}
        # Not where the second output has no targets (`tunes`'s "unlossed"): Keras's compiled metrics then
        # look for them, for `{"out": [...]}` too, and `fit` fails (KeyError, Keras 3.15).
        if trunk["metrics"] and not tune["unlossed"]:
            # variables of their own, which `fit` updates and the finder must leave as they were
            metric = "sparse_categorical_accuracy" if task == "sparse" else "mae"  # one that fits the targets
            aux = "mae" if isinstance(loss, dict) else metric  # the second output's targets: its own, or the first's
            options_drawn["metrics"] = {"out": [metric], "aux": [aux]} if isinstance(outputs, dict) else [metric]
        if trunk["loss_weights"] and isinstance(loss, dict) and not tune["unlossed"]:  # the compiled loss weighs its outputs
            options_drawn["loss_weights"] = {"out": 1.0, "aux": 0.5}
        model.compile(optimizer, loss, jit_compile=extra["xla"], **options_drawn)
        compiled_with = list(options_drawn)
        # Under a strategy, `fit` first builds the compiled loss by calling the model on a batch's x, which
        # fails for `Packed`'s batches, and so does the finder, which builds what `fit` builds: such a seed
        # is trained first, so that it is skipped as Keras's own `fit` fails.
        if not compiled or rs.random() < 0.5 or (own == "packed" and tf.distribute.has_strategy()):
            model.fit(*(({"features": x, "targets": y},) if own == "packed" else (x, y)),
                      batch_size=32, epochs=1, verbose=0)
            options.append("trained")
    batch_size = rs.choice([16, 32])
    form = rs.choice(["arrays", "dataset", "generator"])
    weights = g.uniform(0.5, 2.0, n).astype("float32") if rs.random() < 0.15 else None
    parts = (x, y) if weights is None else (x, y, weights)
    if own == "packed":  # one dict a batch, handed over as x alone (no weights: the step reads none)
        parts = ({"features": x, "targets": y},)
    if last["few"]:  # 40 rows: the sweep's batches run out and are cycled
        parts, n = tuple(_rows(part, slice(0, 40)) for part in parts), 40
    form = last["form"] or form
    page = page_draws(seed)
    if form == "py_dataset" and page["streamed"]:  # every batch read as the stream reaches it (`one_call` resets it)
        data_lib.RUNS_IN_MEMORY = 0
    paged = [f"workers={page['workers']}" + (" processes" if page["processes"] and page["workers"] > 1 else "")
             + (" streamed" if page["streamed"] else "")] if form == "py_dataset" else []
    kwargs: dict = {}
    if form in ("arrays", "float64_x"):
        kwargs["batch_size"] = batch_size
    if form == "float64_x":
        parts = tuple(_float64(part) for part in parts)

    def data() -> Any:
        """The data afresh (a generator is read once): for the call, and for `then`'s calls after it."""
        alone = parts[0] if len(parts) == 1 else parts  # x alone (`Packed`'s dict), as `fit` takes it
        if form in ("arrays", "float64_x"):
            return alone
        if form in ("dataset", "repeated", "drop_remainder"):
            pipeline = tf.data.Dataset.from_tensor_slices(alone).shuffle(n, seed=seed)
            pipeline = pipeline.batch(batch_size, drop_remainder=form == "drop_remainder")
            return pipeline.repeat() if form == "repeated" else pipeline
        pages = Batches(parts, batch_size, workers=page["workers"],
                        use_multiprocessing=page["processes"] and page["workers"] > 1)
        batches = (pages[i] for i in range(len(pages)))
        return pages if form == "py_dataset" else list(batches) if form == "batches" else batches

    refine = rs.random() < 0.6
    if task == "sparse" and weights is None and rs.random() < 0.3 and not extra["two_heads"]:
        kwargs["class_weight"] = {0: 1.0, 1: 2.0, 2: 0.5}  # as `fit`, not for several outputs
    if own == "packed":
        kwargs.pop("class_weight", None)  # `fit` takes none for x alone
    if refine and rs.random() < 0.4:
        if form == "arrays" and rs.random() < 0.5:
            kwargs["validation_split"] = 0.2
        elif own == "packed":  # x alone, as `fit` takes it
            kwargs["validation_data"] = _rows(parts[0], slice(0, 64))
        else:
            kwargs["validation_data"] = (_rows(x, slice(0, 64)), _rows(y, slice(0, 64)))
    # Drawn apart (after seeds 8800 to 8999 were run), from a generator of its own: the validation data
    # as a batched `tf.data` pipeline, as users pass it to `fit`, not arrays.
    if "validation_data" in kwargs and random.Random(f"validation {seed}").random() < 0.5:
        kwargs["validation_data"] = tf.data.Dataset.from_tensor_slices(kwargs["validation_data"]).batch(batch_size)
        options.append("validation_pipeline")
    if extra["n_steps"] != 100:
        kwargs["n_steps"] = extra["n_steps"]
    if extra["linear"]:
        kwargs.update(mode="linear", min_lr=1e-4, max_lr=1.0)
    if extra["no_stop"]:
        kwargs["diverge_factor"] = None
    if last["low_max_lr"]:  # the sweep may end before the loss turns up
        kwargs["max_lr"] = 1e-2
    last = {k: v for k, v in last.items() if v and not (k == "refine_after" and refine)}
    tuned = [k for k, v in tune.items() if v]
    the_loss = loss["out"] if isinstance(loss, dict) else loss
    loss_name = the_loss if isinstance(the_loss, str) else getattr(the_loss, "name", None) or the_loss.__name__
    drawn = [f"{k}={v}" for k, v in extra.items() if v and v not in ("float32", "device")
             and (k, v) not in (("n_steps", 100), ("steps_per_execution", 20))]
    line = (f"seed={seed} {kind} {task}/{loss_name} {name} {' '.join(options)} "
            f"{'compiled' if compiled else 'given'} {form} bs={batch_size} refine={refine} "
            f"{' '.join(k for k in kwargs if k != 'batch_size')}{' weighted' if weights is not None else ''}"
            + (f" | {' '.join(drawn)}" if drawn else "")
            + (f" || {' '.join(k if v is True else f'{k}={v}' for k, v in late.items())}" if late else "")
            + (f" ||| {' '.join(k if v is True else f'{k}={v}' for k, v in last.items())}" if last else "")
            + (f" |||| {' '.join(compiled_with)}" if compiled_with else "")
            + (f" ||||| {' '.join(nested)}" if nested else "")
            + (f" |||||| {' '.join(paged)}" if paged else "")
            + (f" ||||||| own={own}" if own else "")
            + (f" |||||||| {' '.join(tuned)}" if tuned else ""))
    finder_args = (model,) if compiled else (model, optimizer, loss)
    finder_kwargs = dict(steps_per_execution=extra["steps_per_execution"], snapshot=extra["snapshot"])
    if own == "keras":
        finder_kwargs["step"] = "model"
    return line, name, model, optimizer, finder_args, finder_kwargs, data, dict(kwargs, refine=refine), last


def one_call(seed: int, only: set[str] | None, strategy: tf.distribute.Strategy | None = None) -> str | None:
    """Run one seed's call; its verdict: "ok", "told" (a ValueError), "FAILED"; None if filtered out.
    Under a `strategy`, the model and the optimizer are created (and compiled and trained) in its
    scope, as for `fit`; the finder is called outside it."""
    try:
        try:
            with strategy.scope() if strategy else contextlib.nullcontext():
                line, name, model, optimizer, finder_args, finder_kwargs, data, kwargs, last = configuration(seed)
        except Exception as error:  # noqa: BLE001 - Keras's own `fit` before the call: no call to check
            if strategy is None:
                raise  # the draws avoid what `fit` fails on without a strategy
            print(f"skip   seed={seed} [mirrored] Keras's own fit before the call raised {type(error).__name__}: "
                  f"{str(error).splitlines()[0][:150]}", flush=True)
            return "skipped"
        line += " [mirrored]" if strategy else ""
        if only and name not in only:
            return None
        return _checked_call(line, model, optimizer, finder_args, finder_kwargs, data, kwargs, last)
    finally:
        keras.mixed_precision.set_global_policy("float32")
        data_lib.RUNS_IN_MEMORY = BUDGET


def _checked_call(line: str, model: keras.Model, optimizer: Any, finder_args: tuple, finder_kwargs: dict,
                  data: Callable[[], Any], kwargs: dict, last: dict) -> str:
    """Call the finder once (and again, or refine after, where `then` drew it), read what it recorded
    back (`_read_back`), and check the call (`one_call`); print its line and return its verdict."""
    variables = list(model.variables) + list(optimizer.variables)
    before = [v.numpy().copy() for v in variables]
    paths = [v.path for v in optimizer.variables]
    outcome, verdict = "", "ok"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            finder = LRFinder(*finder_args, verbose=False, **finder_kwargs)
            lr = finder(data(), **kwargs)
            if last.get("again"):  # the same finder called again: a shorter sweep, not refined
                again = {k: v for k, v in kwargs.items() if not k.startswith("validation")}
                lr = finder(data(), **dict(again, n_steps=40, refine=False))
            if last.get("refine_after"):  # the runs alone, after a sweep made without them
                lr = finder.refine(data(), **{k: v for k, v in kwargs.items() if k in REFINE_ARGS})
            unread = _read_back(finder)
        told = sorted({str(w.message)[:40] for w in caught if "cycled" not in str(w.message)})
        outcome = f"lr={lr:.3g} {told}" if np.isfinite(lr) and lr > 0 else f"lr={lr} NOT A RATE"
        verdict = "ok" if np.isfinite(lr) and lr > 0 and not unread else "FAILED"
        outcome += f" READ BACK WRONG: {unread}" if unread else ""
    except ValueError as error:
        outcome, verdict = f"ValueError: {str(error)[:300]}", "told"
    except Exception:  # noqa: BLE001 - each is a finding, printed whole
        outcome, verdict = "ERROR " + traceback.format_exc()[-1500:], "FAILED"
    # Variables an unbuilt optimizer builds during the call are new: only those from before are compared,
    # and their order among the optimizer's variables.
    same = all(np.array_equal(a, v.numpy(), equal_nan=True) for a, v in zip(before, variables))
    known = {id(v) for v in variables}
    same &= [v.path for v in optimizer.variables if id(v) in known] == paths
    if not same:
        outcome, verdict = outcome + " NOT RESTORED", "FAILED"
    print(f"{verdict:6} {line} {outcome}", flush=True)
    return verdict


REFINE_ARGS = ("batch_size", "class_weight", "validation_data", "validation_split", "validation_steps")


def _read_back(finder: LRFinder) -> list[str]:
    """What is wrong with the readings of the sweep the finder recorded: each rule's suggestion (a
    finite rate above 0, or a `ValueError`), the range for one-cycle schedules, the history's
    round trip through JSON and CSV, the plots and the runs' summary. Empty where nothing is."""
    import matplotlib.pyplot as plt

    from tf_lrfinder import history as history_lib
    from tf_lrfinder.suggest import SUGGESTERS

    wrong = []
    for method in sorted(SUGGESTERS):
        with contextlib.suppress(ValueError):
            rate = finder.suggest(method).lr
            if not (np.isfinite(rate) and rate > 0):
                wrong.append(f"suggest({method!r}) = {rate!r}")
    with contextlib.suppress(ValueError):
        base, top = finder.suggest_range()
        if not 0 < base < top or not np.isfinite(top):
            wrong.append(f"suggest_range() = {(base, top)}")
    history = finder.history
    with tempfile.TemporaryDirectory() as folder:
        for save, load, name in ((history_lib.save_json, history_lib.load_json, "h.json"),
                                 (history_lib.save_csv, history_lib.load_csv, "h.csv")):
            save(history, os.path.join(folder, name))
            if json.dumps(load(os.path.join(folder, name)), sort_keys=True) != json.dumps(history, sort_keys=True):
                wrong.append(f"the history read back from {name} differs")
    finder.plot()
    finder.plot_loss_change()
    if finder.trials is not None:
        finder.plot_trials()
        finder.trials.summary()
    plt.close("all")
    return wrong


def _in_own_process(seed: int, only: str | None) -> str | None:
    """Run one seed's call under the strategy in a process of its own; print its line; its verdict."""
    command = [sys.executable, __file__, str(seed), str(seed + 1), "--mirrored"] + (["--only", only] if only else [])
    out = subprocess.run(command, capture_output=True, text=True).stdout.splitlines()
    lines = [line for line in out if line.split(" ", 1)[0] in ("ok", "told", "FAILED", "skip")]
    if not lines:
        return None if only else "FAILED"  # filtered out, or the process died without a verdict
    print("\n".join(out[out.index(lines[0]):-1]), flush=True)  # its line, and a failure's traceback
    verdict = lines[0].split(" ", 1)[0]
    return "skipped" if verdict == "skip" else verdict


def _columns(seed: int) -> bool:
    """Whether `seed` may draw `tunes`'s "columns" where it can apply (`--columns`): one input, read
    by no trunk of `trunks`'s, not nested (`nests`); the MLP, of the kinds `task_data` draws, is
    known only as the call is built."""
    return (tunes(seed)["columns"] and not trunks(seed)["trunk"] and not later(seed)["two_inputs"]
            and not nests(seed)["nest"])


def _left_out(seed: int) -> bool:
    """Whether `seed` draws `tunes`'s "left_out" where it applies (`--left-out`)."""
    tune = tunes(seed)
    return tune["left_out"] and later(seed)["two_inputs"] and not tune["tuple_inputs"]


def _tuned(seed: int) -> bool:
    """Whether `seed` draws one of `tunes`'s draws where it can apply (`--tuned`)."""
    tune = tunes(seed)
    return tune["lora"] or tune["tuple_inputs"] and later(seed)["two_inputs"] or tune["unlossed"] and more(seed)["two_heads"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=int)
    parser.add_argument("stop", type=int)
    parser.add_argument("--only", help="comma-separated optimizer names: "
                        + ", ".join(sorted({*OPTIMIZERS, *MORE_OPTIMIZERS})))
    parser.add_argument("--form", help="only the seeds whose data `then` draws in this form: "
                        + ", ".join(sorted(THEN_FORMS)))
    parser.add_argument("--mirrored", action="store_true",
                        help="every model created under a MirroredStrategy of two logical CPUs")
    parser.add_argument("--own", action="store_true", help="only the seeds that draw the model's own `train_step` "
                        "(`own_draws`; it trains where the model is compiled, about three seeds in five)")
    parser.add_argument("--tuned", action="store_true", help="only the seeds that draw one of `tunes`'s draws where "
                        "it can apply (the second output's, where the model turns out compiled)")
    parser.add_argument("--left-out", action="store_true", help="only the seeds that draw `tunes`'s \"left_out\" "
                        "where it applies (a second input, as a dict)")
    parser.add_argument("--columns", action="store_true", help="only the seeds that may draw `tunes`'s \"columns\" "
                        "(it applies where the trunk turns out an MLP, about two seeds in five)")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    seeds = [seed for seed in range(args.first, args.stop) if (not args.form or then(seed)["form"] == args.form)
             and (not args.own or own_draws(seed)["own"]) and (not args.tuned or _tuned(seed))
             and (not args.columns or _columns(seed)) and (not args.left_out or _left_out(seed))]
    strategy = None
    if args.mirrored and args.stop - args.first > 1:
        # A process of its own for each call: once a collective op fails (as Keras's own `fit` does with
        # gradient accumulation under a strategy), every later one in the process fails with it.
        verdicts = [_in_own_process(seed, args.only) for seed in seeds]
    else:
        if args.mirrored:  # logical devices are set before TensorFlow starts
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
            strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        verdicts = [one_call(seed, only, strategy) for seed in seeds]
    counts = {v: verdicts.count(v) for v in ("ok", "told", "FAILED", "skipped")}
    print(f"calls {sum(counts.values()) - counts['skipped']}: {counts['ok']} ok, {counts['told']} told (ValueError), "
          f"{counts['FAILED']} failed" + (f"; {counts['skipped']} skipped (Keras's own fit failed before the call)"
                                          if counts["skipped"] else ""))
    sys.exit(1 if counts["FAILED"] else 0)


if __name__ == "__main__":
    main()
