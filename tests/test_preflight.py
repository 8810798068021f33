"""The checks before a sweep of the data against the model and the loss (`tf_lrfinder.preflight`),
end to end on tiny real models: data or targets that do not fit, class labels outside the model's
outputs (in the first batch, in batches held in memory or streamed, in validation data, for one or
several outputs), sample weights, and plain losses that cannot take what Keras gives them; each
raised before any state changes, with the fix.
"""

import re
import warnings
from typing import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_same_state, make_model, state_of
from tf_lrfinder import LRFinder

pytestmark = pytest.mark.filterwarnings("ignore:The (loss never|data ran out|sweep stopped|suggestion sits|best short run)")


def finder_of(model, optimizer, loss, compiled):
    """A quiet finder of `model` with `optimizer` and `loss`: compiled into the model, or passed to the finder."""
    if compiled:
        model.compile(optimizer, loss)
        return LRFinder(model, verbose=False)
    return LRFinder(model, optimizer, loss, verbose=False)


@pytest.mark.parametrize("compiled", [False, True])
def test_data_that_does_not_fit_the_model_or_loss_raises_before_any_state_changes(compiled):
    # Caught on the first batch, eagerly, with Keras's own words, instead of from inside the traced step.
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(256, 4)).astype("float32"), rng.integers(0, 3, 256)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    cases = [
        ((x[:, :3], labels), "`dataset` does not fit `model`: calling it on the first batch raised ValueError",
         "expected axis -1 of input shape to have value 4, but received input with shape (32, 3)"),
        ((x, np.eye(3)[labels]), "`dataset`'s targets do not fit the loss: computing it on the first batch (y of "
         "shape (32, 3), the model's output of shape (32, 3)) raised ValueError",
         "Argument `output` must have rank (ndim) `target.ndim - 1`"),
        ((x.astype(str).astype(object), labels), "`dataset` does not fit `model`: calling it on the first batch "
         "raised UnimplementedError", "Cast string to float is not supported"),  # a table's columns read as text
        ((x, np.array(["cat", "dog", "owl"], dtype=object)[labels]), "`dataset`'s targets do not fit the loss: "
         "computing it on the first batch (y of shape (32,), the model's output of shape (32, 3)) raised "
         "UnimplementedError", "y holds strings (['cat', 'dog', 'owl']), not numbers: map them to class indices"),
    ]
    for data, message, keras_says in cases:
        keras.utils.set_random_seed(0)
        optimizer = keras.optimizers.Adam()
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
        finder = finder_of(model, optimizer, loss, compiled)
        before = [v.numpy().copy() for v in model.variables]
        with pytest.raises(ValueError) as raised:
            finder(data, batch_size=32, n_steps=20)
        assert message in str(raised.value) and keras_says in str(raised.value)
        assert "in user code" not in str(raised.value)
        assert not optimizer.built and finder.lrs == []
        assert_same_state(before, [v.numpy() for v in model.variables])


def raises_before_the_sweep(finder, data, message, optimizer, before):
    """A call of `finder` on `data` raises a ValueError that starts with `message`, alone (no warning of
    a sweep cut short beside it), with the state as `before` and no sweep recorded."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError) as raised:
            finder(data, n_steps=20)
    assert str(raised.value).startswith(message)
    assert not optimizer.built and finder.lrs == []
    assert_same_state(before, [v.numpy() for v in finder.model.variables])


class InfOutsideTraining(keras.layers.Layer):
    """inf in inference mode, the identity in training: the sweep's steps, which train, see no inf."""

    def call(self, x, training=False):
        return x if training else x / 0.0


@pytest.mark.parametrize("cause, message", [
    ("log of 0", "The loss on the first batch is inf before any step, at the model's weights as they are, on finite "
                 "data: a sweep that starts there records that loss and stops, whatever the rate. Look for a log of 0"),
    ("nan in y", "`dataset` holds NaN or inf values in y (the targets): the loss on the first batch, before any step, "
                 "was NaN or inf on them."),
    ("nan weights", "The loss on the first batch is nan before any step: `model`'s weights hold NaN or inf values "
                    "(net/out/kernel), as a training that diverged leaves them."),
    ("inf only in inference", None),
])
def test_a_loss_nan_or_inf_on_the_first_batch_before_any_step_is_told_why_before_the_sweep(cause, message):
    # Every rate's first step would record that loss and stop: the error names the data, the weights,
    # or the model and loss, instead of a sweep of one point that cannot suggest.
    x, y = np.random.default_rng(0).normal(size=(256, 4)).astype("float32"), np.ones((256, 1), "float32")
    keras.utils.set_random_seed(0)
    layers = [keras.layers.Dense(1, name="out")]
    if cause == "log of 0":
        layers.append(keras.layers.Lambda(lambda h: keras.ops.log(0.0 * h)))
    elif cause == "inf only in inference":
        layers.insert(0, InfOutsideTraining())
    model = keras.Sequential([keras.Input((4,)), *layers], name="net")
    if cause == "nan in y":
        y[3] = np.nan
    elif cause == "nan weights":
        model.get_layer("out").kernel.assign(np.full((4, 1), np.nan, "float32"))
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)  # in order: row 3 is in the first batch
    optimizer = keras.optimizers.SGD()
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    before = [v.numpy().copy() for v in model.variables]
    if message is None:  # the steps, which train, see a finite loss: the sweep runs
        assert np.isfinite(finder(data, n_steps=20, refine=False))
        return
    raises_before_the_sweep(finder, data, message, optimizer, before)


@pytest.mark.parametrize("validated", [False, True])
def test_a_loss_nan_or_inf_only_in_inference_mode_is_told_where_refining_measures_its_runs(validated):
    # The sweep trains (training mode) on finite losses; refining measures its runs in inference mode,
    # where this model's loss is NaN: no run can be compared, and every one used to count as diverged
    # (fourteen runs, then a rate of 9.4e-6 and a warning to check the data or try smaller factors).
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(640, 4)).astype("float32"), rng.normal(size=(640, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), InfOutsideTraining(), keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD()
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    before = state_of(model, optimizer)
    where = "`validation_data`" if validated else "the 8 batches held back from the start of `dataset`"
    message = (f"The loss before refining's runs is nan, measured in inference mode (training=False, as `evaluate` "
               f"measures) on {where}, on finite data, at the model's weights as they are: no run can be compared "
               "with it.")
    extra = dict(validation_data=(x[:64], y[:64])) if validated else {}
    for call in (lambda: finder((x, y), batch_size=32, **extra),
                 lambda: finder.refine((x, y), batch_size=32, **extra)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the sweep's own (data cycled)
            with pytest.raises(ValueError) as raised:
                call()
        assert str(raised.value).startswith(message), str(raised.value)
        assert str(raised.value).endswith("To go on without refining, pass refine=False to the finder, or leave out "
                                          "`finder.refine` after its sweep (`finder.suggest()` reads the sweep "
                                          "recorded). The state is restored.")
        assert_same_state(before, state_of(model, optimizer))
        assert len(finder.lrs) > 50 and finder.trials is None
        assert finder.lr_opt == finder.suggest().lr  # the sweep's own suggestion, kept


class AddsLoss(keras.layers.Layer):
    """Adds the mean of h squared as a loss, or, with `log_of_zero`, of -log(|h| * 0): inf."""

    def __init__(self, log_of_zero, **kwargs):
        super().__init__(**kwargs)
        self.log_of_zero = log_of_zero

    def call(self, h):
        self.add_loss(-keras.ops.mean(keras.ops.log(keras.ops.abs(h) * 0.0)) if self.log_of_zero
                      else keras.ops.mean(h ** 2))
        return h


class OwnLogLoss(keras.Model):
    """Computes its own loss, -log(|y_pred| * 0): inf whatever the weights."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return -keras.ops.mean(keras.ops.log(keras.ops.abs(y_pred) * 0.0))


@pytest.mark.parametrize("cause, message", [
    ("add_loss log of 0", "The loss on the first batch is inf before any step, at the model's weights as they are, "
                          "on finite data: a sweep that starts there records that loss and stops, whatever the rate. "
                          "Look for a log of 0, a division by 0 or an overflow in the model or in the loss it computes "
                          "(`add_loss`, or its own `compute_loss`)"),
    ("compute_loss log of 0", "The loss on the first batch is inf before any step, at the model's weights as they "
                              "are, on finite data"),
    ("nan in x", "`dataset` holds NaN or inf values in x (the inputs): the loss on the first batch, before any step, "
                 "was NaN or inf on them."),
    ("finite", None),
])
def test_a_model_that_computes_its_own_loss_is_told_a_first_loss_nan_or_inf_before_the_sweep(cause, message):
    # As for a compiled loss (above): a model compiled without one, which adds its own (`add_loss`)
    # or computes it (`compute_loss`), records such a loss at every rate's first step.
    x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    if cause == "compute_loss log of 0":
        model = OwnLogLoss(inputs, keras.layers.Dense(2)(inputs))
    else:
        model = keras.Model(inputs, AddsLoss(cause == "add_loss log of 0")(keras.layers.Dense(2)(inputs)))
    if cause == "nan in x":
        x[5, 1] = np.nan
    optimizer = keras.optimizers.SGD()
    model.compile(optimizer=optimizer)
    finder = LRFinder(model, verbose=False)
    data = tf.data.Dataset.from_tensor_slices(x).batch(32)  # x alone, as `fit(x)` takes it
    before = [v.numpy().copy() for v in model.variables]
    if message is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 20 steps: too short to judge, and said so
            assert np.isfinite(finder(data, n_steps=20, refine=False))
        return
    raises_before_the_sweep(finder, data, message, optimizer, before)


def test_a_plain_loss_that_needs_integer_labels_is_told_they_come_as_float32():
    # `compile(loss=fn)` passes fn the targets cast to float32, so a function that needs integers
    # fails under `fit` too; the finder passes them as `fit` does, and its error says how to cast back.
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(256, 4)).astype("float32"), rng.integers(0, 3, 256)
    sparse = lambda t, p: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=p)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=re.escape(
            "A plain `loss_fn` gets y cast to float32, as `compile(loss=fn)` passes it to `fit`: cast it back "
            "inside where it must hold integers (`tf.cast(y_true, 'int32')`).")):
        LRFinder(model, keras.optimizers.SGD(), sparse, verbose=False)((x, labels), batch_size=32)
    cast = lambda t, p: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(t, "int32"), logits=p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 20 steps: a curve too short to judge, and said so
        assert np.isfinite(LRFinder(model, keras.optimizers.SGD(), cast, verbose=False)(
            (x, labels), batch_size=32, n_steps=20, refine=False))


@pytest.mark.parametrize("compiled", [False, True])
def test_a_loss_of_one_value_per_sample_raises_before_any_state_changes(compiled, data):
    # `reduction=None` gives a loss per sample: the step cannot record it (it used to fail inside
    # the traced step, assigning a vector to the EMA's scalar). Said on the first batch instead.
    for reduction in (None, "none", "sum"):
        model, optimizer = make_model("dense"), keras.optimizers.SGD()
        finder = finder_of(model, optimizer, keras.losses.MeanSquaredError(reduction=reduction), compiled)
        before = [v.numpy().copy() for v in model.variables]
        if reduction == "sum":  # one number: swept as given
            assert np.isfinite(finder(data, batch_size=32, n_steps=20, refine=False))
            assert len(finder.losses) > 0
        else:
            with pytest.raises(ValueError, match=re.escape(
                    "The loss is not one number: on the first batch it has shape (32,) (a `keras.losses.Loss` "
                    "made with `reduction=None` or 'none' gives one loss per sample")) as raised:
                finder(data, batch_size=32, n_steps=20)
            assert "reduction='sum_over_batch_size'" in str(raised.value)
            assert not optimizer.built and finder.lrs == []
        assert_same_state(before, [v.numpy() for v in model.variables])


def labelled(n: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and class labels 0 to 2."""
    x = np.random.default_rng(0).normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")


@pytest.mark.parametrize("offset, outputs, told", [
    (1, 3, "run from 1 to 3, but the model has 3 outputs: a sparse loss needs labels from 0 to 2, one per output; "
           "subtract 1 from them (`y - 1`)."),
    (0, 2, "run from 0 to 2, but the model has 2 outputs: a sparse loss needs labels from 0 to 1, one per output; "
           "give the model 3 outputs, or check the labels."),
    (-1, 3, "run from -1 to 1, but the model has 3 outputs: a sparse loss needs labels from 0 to 2, one per output; "
            "map them to 0 to 2; or, where -1 marks what to leave out (padding, a void label), pass `ignore_class=-1` "
            "to the sparse crossentropy."),
])
def test_class_labels_out_of_range_are_told_how_to_fix(offset, outputs, told):
    x, y = labelled()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(outputs)])
    finder = LRFinder(model, keras.optimizers.Adam(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      verbose=False)
    with pytest.raises(ValueError, match="targets do not fit the loss") as error:
        finder((x, y + offset), batch_size=32)
    assert str(error.value).endswith("The class labels on that batch " + told)
    assert finder.lrs == []


def nan_past(classes: int, from_logits: bool = False) -> Callable:
    """A sparse crossentropy over `classes` classes that turns NaN on a label outside them, as a
    GPU's does (a CPU's raises instead)."""

    def loss(y_true, y_pred):
        labels = tf.cast(y_true, "int32")
        if labels.shape.rank == y_pred.shape.rank:  # labels (batch, 1) against outputs (batch, classes)
            labels = tf.squeeze(labels, -1)
        inside = (labels >= 0) & (labels < classes)
        return tf.where(inside, keras.losses.sparse_categorical_crossentropy(
            tf.where(inside, labels, 0), y_pred, from_logits=from_logits), float("nan"))

    loss.__name__ = f"nan_past_{classes}_classes"
    return loss


nan_past_three_classes = nan_past(3)


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", nan_past_three_classes])
@pytest.mark.parametrize("form, where", [
    ("arrays", "y[300]"), ("pipeline", "batch 10 (row 12)"), ("batches", "batch 10 (row 12)"),
    ("refine", "batch 10 (row 12)")])
def test_class_labels_out_of_range_past_the_first_batch_are_told_before_the_sweep(loss, form, where):
    # A label the first batch does not hold got past the first batch's check: on a CPU the sweep raised
    # mid-way, on a GPU its loss turned NaN without a word and the sweep read divergence there.
    x, y = labelled(640)
    y[300] = 3
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    optimizer = keras.optimizers.Adam()
    finder = LRFinder(model, optimizer, loss, verbose=False)
    batched = [(x[i:i + 32], y[i:i + 32]) for i in range(0, len(x), 32)]
    data = {"arrays": (x, y), "pipeline": tf.data.Dataset.from_tensor_slices((x, y)).batch(32),
            "batches": batched, "refine": batched}[form]
    if form == "refine":
        finder(batched[:9], n_steps=20, refine=False)
    before = state_of(model, optimizer)
    with pytest.raises(ValueError, match=re.escape(
            "`dataset`'s class labels run from 0 to 3, but the model has 3 outputs: a sparse loss needs labels from 0 "
            f"to 2, one per output; give the model 4 outputs, or check the labels. The loss rejects the label 3, which "
            f"{where} holds: on a CPU TensorFlow would raise an error mid-way, at the batch that holds it, and on a GPU "
            "the loss would turn NaN there without one, read as divergence.")):
        if form == "refine":
            finder.refine(data)
        else:
            finder(data, batch_size=32 if form == "arrays" else None)
    assert_same_state(before, state_of(model, optimizer))
    assert optimizer.built == (form == "refine") and len(finder.lrs) == (20 if form == "refine" else 0)


@pytest.mark.parametrize("form, where", [
    ("arrays", "`validation_data`'s class labels run from 0 to 3, [^.]*. The loss rejects the label 3, which y[100] holds"),
    ("pipeline", "`validation_data`'s class labels run from 0 to 3, [^.]*. The loss rejects the label 3, which batch 4 "
                 "(row 4) holds"),
    ("split", "`validation_split`'s class labels run from 0 to 3, [^.]*. The loss rejects the label 3, which sample 100 "
              "of the share split off holds")])
def test_class_labels_out_of_range_in_validation_data_are_told_before_the_sweep(form, where):
    x, y = labelled(640)
    x_val, y_val = x[:160].copy(), y[:160].copy()
    y_val[100] = 3
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    optimizer = keras.optimizers.Adam()
    finder = LRFinder(model, optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True), verbose=False)
    validation = {"arrays": dict(validation_data=(x_val, y_val)), "split": dict(validation_split=0.25),
                  "pipeline": dict(validation_data=tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(32))}[form]
    if form == "split":
        x, y = np.concatenate([x[:480], x_val]), np.concatenate([y[:480], y_val])  # the last 160 are split off
    with pytest.raises(ValueError, match=re.escape(where).replace(re.escape("[^.]*"), "[^.]*")):
        finder((x, y), batch_size=32, **validation)
    assert not optimizer.built and finder.lrs == []


def streamed_label(where: str, label: int, activation: str | None, loss, monkeypatch):
    """A finder of a 3-class model with `loss`, a pipeline it streams whose `label` lies in the batch
    of the sweep's step 94 (`where="sweep"`) or refining's run's step 97 (after 8 held back), and a
    check that the state is as before."""
    x, y = labelled(6400)
    batch = 93 if where == "sweep" else 104
    y[batch * 32 + 3] = label
    if where == "runs":
        monkeypatch.setattr("tf_lrfinder.data.RUNS_IN_MEMORY", 0)  # the runs stream it too
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation=activation)])
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, loss, verbose=False)
    return finder, tf.data.Dataset.from_tensor_slices((x, y)).batch(32), lambda: assert_same_state(
        before, state_of(model, optimizer))


@pytest.mark.parametrize("where", ["sweep", "runs"])
def test_class_labels_out_of_range_in_a_streamed_pipeline_are_told_where_the_loss_turned_nan(where, monkeypatch):
    # Batches streamed are not read before the sweep: where the loss turns NaN on finite data at a
    # batch holding a label it rejects (as a GPU's sparse crossentropy does), that is said, not read as
    # the rate's divergence.
    finder, data, check = streamed_label(where, 3, "softmax", nan_past_three_classes, monkeypatch)
    told = "the sweep's step 94" if where == "sweep" else "refining's run's step 97"
    with pytest.raises(ValueError, match=re.escape(
            "`dataset`'s class labels run from 0 to 3, but the model has 3 outputs: a sparse loss needs labels from 0 "
            f"to 2, one per output; give the model 4 outputs, or check the labels. The loss rejects the label 3, which "
            f"the batch of {told} holds")):
        finder(data, refine=where == "runs")
    check()


@pytest.mark.parametrize("where", ["sweep", "runs"])
def test_class_labels_a_cpu_rejects_in_a_streamed_pipeline_are_told_how_to_fix(where, monkeypatch):
    # On a CPU the sparse crossentropy raises at such a label: TensorFlow's error, which lists the
    # batch's labels, is told as the labels' error with the fix, naming the step; the state is restored.
    finder, data, check = streamed_label(where, 255, None, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                                         monkeypatch)
    told = "the sweep's step 94 of 100 (a rate of " if where == "sweep" else "refining's run's step 97 of 100 (a rate of "
    with pytest.raises(ValueError, match=re.escape(f"`dataset`'s class labels on the batch of {told}") + ".*" + re.escape(
            ") run from 0 to 255, but the model has 3 outputs: a sparse loss needs labels from 0 to 2, one per output; "
            "give the model 256 outputs, or check the labels; or, where 255 marks what to leave out (padding, a void "
            "label), pass `ignore_class=255` to the sparse crossentropy. TensorFlow rejected them there")) as raised:
        finder(data, refine=where == "runs")
    assert isinstance(raised.value.__cause__, tf.errors.InvalidArgumentError)  # TensorFlow's own, kept
    check()


def test_class_labels_a_cpu_rejects_in_validation_data_too_large_to_hold_are_told_how_to_fix(monkeypatch):
    # A validation pipeline too large to hold is read afresh for each measurement, and only its first
    # batch is checked before: a CPU's sparse crossentropy raising at a later batch's label is told as
    # the labels' error with the fix, naming `validation_data`, after the sweep; the state is restored.
    finder, data, check = streamed_label("sweep", 0, None, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                                         monkeypatch)
    monkeypatch.setattr("tf_lrfinder.data.RUNS_IN_MEMORY", 0)  # nothing held: a pass is read afresh
    x, y = labelled(256)
    y[200] = 7  # in the 7th of 8 batches
    validation = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    with pytest.raises(ValueError, match=re.escape(
            "`validation_data`'s class labels, on a batch of it that refining's runs are measured on, run from 0 to 7, "
            "but the model has 3 outputs: a sparse loss needs labels from 0 to 2, one per output; give the model 8 "
            "outputs, or check the labels; or, where 7 marks") + ".* TensorFlow rejected them there") as raised:
        finder(data, validation_data=validation)
    assert isinstance(raised.value.__cause__, tf.errors.InvalidArgumentError)  # TensorFlow's own, kept
    assert len(finder.lrs) > 0 and finder.trials is None  # the sweep ran; the first measurement raised
    check()


@pytest.mark.parametrize("kind", ["pixels", "time_steps"])
def test_class_labels_per_pixel_or_time_step_out_of_range_are_told_how_to_fix(kind):
    # A void label (255) in segmentation masks, a padding label (-1) in a sequence's: each a value outside the
    # outputs that `ignore_class` leaves out; without it, the loss rejects them on the first batch.
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    if kind == "pixels":
        x, y, void = rng.normal(size=(64, 8, 8, 1)).astype("float32"), rng.integers(0, 3, (64, 8, 8)), 255
        model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, padding="same")])
    else:
        x, y, void = rng.normal(size=(64, 6, 2)).astype("float32"), rng.integers(0, 3, (64, 6)), -1
        model = keras.Sequential([keras.Input((6, 2)), keras.layers.GRU(4, return_sequences=True),
                                  keras.layers.Dense(3)])
    y[:, -1] = void
    finder = LRFinder(model, keras.optimizers.Adam(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      verbose=False)
    with pytest.raises(ValueError, match=re.escape(
            f"The class labels on that batch run from {min(void, 0)} to {max(void, 2)}, but the model has 3 outputs: a "
            f"sparse loss needs labels from 0 to 2, one per output; {'give the model 256 outputs, or check the labels' if void > 0 else 'map them to 0 to 2'}; or, where "
            f"{void} marks what to leave out (padding, a void label), pass `ignore_class={void}` to the sparse "
            "crossentropy.")):
        finder((x, y), batch_size=16)
    assert finder.lrs == []
    finder.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=void)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random labels: the curve is flat, and the finder says so
        finder((x, y), batch_size=16, n_steps=20, refine=False)
    assert len(finder.lrs) == 20 and np.isfinite(finder.losses).all()


@pytest.mark.parametrize("form, where", [
    ("arrays", "y[37]"), ("batches", "batch 3 (row 5)"), ("streamed", "the batch of the sweep's step 3")])
def test_class_labels_per_pixel_out_of_range_past_the_first_batch_are_told(form, where):
    # One void pixel (255) in one mask, not in the first batch's: checked before the sweep where the masks are at
    # hand; where they stream, by the range each step records, where the loss turned NaN on it (as on a GPU).
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8, 8, 1)).astype("float32"), rng.integers(0, 3, (64, 8, 8))
    y[37 if form == "arrays" else 2 * 16 + 5, 2, 3] = 255
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, padding="same", activation="softmax")])
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, "sparse_categorical_crossentropy" if form != "streamed" else nan_past_three_classes,
                      verbose=False)
    data = {"arrays": (x, y), "batches": [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)],
            "streamed": tf.data.Dataset.from_tensor_slices((x, y)).batch(16)}[form]
    with pytest.raises(ValueError, match=re.escape(
            "`dataset`'s class labels run from 0 to 255, but the model has 3 outputs: a sparse loss needs labels from 0 "
            "to 2, one per output; give the model 256 outputs, or check the labels; or, where 255 marks what to leave "
            f"out (padding, a void label), pass `ignore_class=255` to the sparse crossentropy. The loss rejects the "
            f"label 255, which {where} holds")):
        finder(data, batch_size=16 if form == "arrays" else None, n_steps=20, refine=form != "streamed")
    assert_same_state(before, state_of(model, optimizer))


def two_heads(loss, units: int = 5) -> keras.Model:
    """A model of two outputs compiled with one loss each: 'kind' of 3 classes (a CPU's sparse
    crossentropy) and 'part' of `units` (`loss`)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, {"kind": keras.layers.Dense(3)(hidden), "part": keras.layers.Dense(units)(hidden)})
    model.compile(keras.optimizers.Adam(), {"kind": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                                            "part": loss})
    return model


@pytest.mark.parametrize("loss", [keras.losses.SparseCategoricalCrossentropy(from_logits=True), nan_past(5, from_logits=True)])
@pytest.mark.parametrize("form, row, where", [
    ("arrays", 300, "y[300]"), ("pipeline", 300, "batch 10 (row 12)"), ("batches", 300, "batch 10 (row 12)"),
    ("pipeline", 3, "row 3 of the first batch"), ("streamed", 3, "row 3 of the first batch")])
def test_class_labels_of_one_of_several_outputs_are_checked_against_it_before_the_sweep(loss, form, row, where):
    # Each output's labels against its own classes: a label of 5 for the 5-class output, which the
    # 3-class output's labels never reach. Before, several outputs' labels went unchecked: a CPU
    # raised mid-sweep, a GPU's NaN was read as divergence.
    x, kind = labelled(640)
    part = (np.arange(640) % 5).astype("int32")
    part[row] = 5
    model = two_heads(loss)
    before = state_of(model, model.optimizer)
    batched = [(x[i:i + 32], {"kind": kind[i:i + 32], "part": part[i:i + 32]}) for i in range(0, 640, 32)]
    data = {"arrays": (x, {"kind": kind, "part": part}), "batches": batched}.get(
        form, tf.data.Dataset.from_tensor_slices((x, {"kind": kind, "part": part})).batch(32))
    with pytest.raises(ValueError, match=re.escape(
            "`dataset`'s class labels for output 'part' run from 0 to 5, but output 'part' has 5 units: a sparse loss "
            "needs labels from 0 to 4, one per unit; give it 6 units, or check the labels. The loss rejects the label "
            f"5, which {where} holds")):
        LRFinder(model, verbose=False)(data, batch_size=32 if form == "arrays" else None, refine=form != "streamed")
    assert_same_state(before, state_of(model, model.optimizer))
    assert not model.optimizer.built


@pytest.mark.parametrize("units, whose", [
    (5, "output 'part' has 5 units"),  # the only output of 5: named
    (3, "output 'kind' or 'part' (TensorFlow does not say which) has 3 units")])  # both of 3: both named
def test_several_outputs_labels_a_cpu_rejects_in_a_streamed_batch_are_told_naming_the_output_by_its_units(units, whose):
    # TensorFlow's error gives the number of classes of the loss that rejected the labels, not the
    # output's name. Before, the error never named it.
    x, kind = labelled(640)
    part = (np.arange(640) % units).astype("int32")
    part[300] = units
    model = two_heads(keras.losses.SparseCategoricalCrossentropy(from_logits=True), units)
    before = [v.numpy() for v in model.variables]  # the optimizer is built by the sweep, as by `fit`
    with pytest.raises(ValueError, match=re.escape(
            "`dataset`'s class labels on the batch of the sweep's step 10 of 100 (a rate of 5.34e-07) run from 0 to "
            f"{units}, but {whose}: a sparse loss needs labels from 0 to {units - 1}, one per unit; give it {units + 1} "
            "units, or check the labels. TensorFlow rejected them there")):
        LRFinder(model, verbose=False)(tf.data.Dataset.from_tensor_slices((x, {"kind": kind, "part": part})).batch(32),
                                       refine=False)
    assert_same_state(before, [v.numpy() for v in model.variables])


def test_several_outputs_whose_targets_are_not_class_labels_sweep_unchecked():
    # Whole numbers beyond an output's units that its loss takes (counts under a squared error) pass.
    x, kind = labelled(640)
    counts = np.random.default_rng(0).integers(0, 20, size=(640, 5)).astype("float32")
    model = two_heads("mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isfinite(LRFinder(model, verbose=False)((x, {"kind": kind, "part": counts}), batch_size=32,
                                                          n_steps=20, refine=False))


def test_class_labels_the_loss_takes_outside_the_outputs_pass():
    # `ignore_class` (255, the void label of segmentation masks, say) is outside the outputs, and the loss takes it.
    x, y = labelled(640)
    y[300:310] = 255
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    finder = LRFinder(model, keras.optimizers.Adam(),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255), verbose=False)
    finder((x, y), batch_size=32, n_steps=30, refine=False)
    assert len(finder.lrs) == 30 and np.isfinite(finder.losses).all()


def test_class_labels_out_of_range_on_the_first_batch_are_told_where_the_loss_turns_nan():
    x, y = labelled()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    finder = LRFinder(model, keras.optimizers.Adam(), nan_past_three_classes, verbose=False)
    with pytest.raises(ValueError, match=re.escape(
            "computing it on the first batch (y of shape (32,), the model's output of shape (32, 3)) gave a loss of "
            "nan. The class labels on that batch run from 1 to 3, but the model has 3 outputs: a sparse loss needs "
            "labels from 0 to 2, one per output; subtract 1 from them (`y - 1`).")):
        finder((x, y + 1), batch_size=32)
    assert finder.lrs == []


@pytest.mark.parametrize("compiled, keras_says", [
    (dict(loss={"a": "mse"}), "in loss dict, but found loss.keys()=['a']"),  # an output left out, rather than None
    (dict(loss=["mse", "mse"], loss_weights=[1.0, 2.0, 3.0]), "`loss_weights` must match the number of losses"),
    (dict(loss=["mse", "mse", "mse"]), "The path: (2,) in the `loss` argument, can't be found"),
])
def test_a_compile_that_does_not_fit_the_outputs_is_told_so_not_blamed_on_the_targets(compiled, keras_says):
    # The targets fit; `compile` gave the outputs' losses a structure of its own. The message had said that the
    # targets do not fit the loss, and offered advice on class labels.
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    y = [x.sum(axis=1, keepdims=True), x[:, :2]]
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(1, name="a")(hidden), keras.layers.Dense(2, name="b")(hidden)])
    model.compile(keras.optimizers.Adam(), **compiled)
    before = [v.numpy().copy() for v in model.variables]
    with pytest.raises(ValueError) as raised:
        LRFinder(model, verbose=False)((x, y), batch_size=32)
    assert str(raised.value).startswith("The model's `compile` does not fit its outputs: computing the compiled loss "
                                        "on the first batch raised ")
    assert keras_says in str(raised.value) and "by the names in `model.output_names` (['a', 'b'])" in str(raised.value)
    assert not model.optimizer.built
    assert_same_state(before, [v.numpy() for v in model.variables])
    with pytest.raises((ValueError, KeyError), match=re.escape(keras_says)):  # as the message says
        model.fit(x, y, batch_size=32, verbose=0)


def test_sample_weights_that_do_not_fit_are_told_apart_from_the_targets(data):
    x, y = data
    model = make_model("dense")
    before = [v.numpy() for v in model.weights]
    with pytest.raises(ValueError, match=re.escape(
            "`dataset`'s sample weights do not fit the loss: computing it on the first batch with weights of shape "
            "(32, 3) raised InvalidArgumentError")) as error:
        LRFinder(model, keras.optimizers.SGD(), "mse", verbose=False)((x, y, np.ones((len(x), 3), "float32")),
                                                                       batch_size=32)
    assert str(error.value).endswith("It computes without them, so the targets (shape (32, 1)) fit. Give one weight "
                                     "per sample, of shape (batch,), as `fit` takes them (or, for a sequence's "
                                     "outputs, one per time step, of shape (batch, steps)).")
    assert all((a == b.numpy()).all() for a, b in zip(before, model.weights))


def test_targets_that_are_not_one_label_per_sample_keep_the_general_hint():
    x, _ = labelled()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    counts = np.random.default_rng(0).integers(0, 9, size=(len(x), 5))  # five counts per sample, three outputs
    with pytest.raises(ValueError, match="otherwise y must have the model's output shape.$"):
        LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)((x, counts), batch_size=32)


def test_a_plain_loss_that_reduces_its_batch_cannot_take_sample_weights(data):
    # It used to be told that the targets do not fit the loss (a failed reshape of the weights).
    x, y = data
    weights = np.linspace(0.1, 1.0, len(x)).astype("float32")
    reduced = lambda y_true, y_pred: tf.reduce_mean(tf.square(y_true - y_pred))
    per_sample = lambda y_true, y_pred: tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)
    model, optimizer = make_model("dense"), keras.optimizers.Adam()
    before = [v.numpy().copy() for v in model.variables]
    with pytest.raises(ValueError, match=re.escape("`loss_fn` returns one number per batch, so the sample weights "
                                                   "in `dataset` cannot weigh its samples.")) as raised:
        LRFinder(model, optimizer, reduced, verbose=False)((x, y, weights), batch_size=32, n_steps=20)
    assert "targets do not fit" not in str(raised.value) and not optimizer.built
    assert_same_state(before, [v.numpy() for v in model.variables])
    # Without weights it is swept; per sample, with them, as `fit` trains on the function compiled: the
    # weighted sum over the batch's size, as Keras's MSE (not over the weights' sum, as until f44567a).
    assert np.isfinite(LRFinder(make_model("dense"), "adam", reduced, verbose=False)(
        (x, y), batch_size=32, n_steps=20, refine=False))
    plain = LRFinder(make_model("dense"), "adam", per_sample, verbose=False)
    plain((x, y, weights), batch_size=32, n_steps=20, refine=False)
    compiled = make_model("dense")
    compiled.compile("adam", per_sample)
    as_fit = LRFinder(compiled, verbose=False)
    as_fit((x, y, weights), batch_size=32, n_steps=20, refine=False)
    keras_mse = LRFinder(make_model("dense"), "adam", keras.losses.MeanSquaredError(), verbose=False)
    keras_mse((x, y, weights), batch_size=32, n_steps=20, refine=False)
    np.testing.assert_allclose(plain.losses, as_fit.losses, rtol=1e-5)
    np.testing.assert_allclose(plain.losses, keras_mse.losses, rtol=1e-5)


@pytest.mark.parametrize("policy, regulariser, dtype", [
    ("float64", {"kernel_regularizer": "l2"}, "float64"),  # the weights' penalty, in float64
    ("mixed_float16", {"activity_regularizer": "l2"}, "float16")])  # the outputs' penalty, in float16
def test_own_losses_keras_cannot_add_to_the_compiled_loss_are_told_before_the_sweep(policy, regulariser, dtype):
    # Keras's `compute_loss` cannot add them to its float32 loss (`fit` fails too). Before, the finder
    # blamed the targets: "`dataset`'s targets do not fit the loss ... Integer class labels need a sparse loss".
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
        y = x[:, :1] * 2.0
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", **regulariser),
                                  keras.layers.Dense(1, dtype=None if policy == "float64" else "float32")])
        model.compile(keras.optimizers.Adam(), "mse")
        with pytest.raises(TypeError):
            model.fit(x, y, epochs=1, verbose=0)  # Keras's own error: the same cause
        model.optimizer.build(model.trainable_variables)  # `fit` failed before building its slots
        before = state_of(model, model.optimizer)
        with pytest.raises(ValueError, match=re.escape(
                f"The compiled loss cannot be computed on the first batch: the model's own losses (`model.losses`: its "
                f"regularisers' penalties, what its layers add with `add_loss`) are {dtype}, and Keras cannot add them "
                "to the compiled loss, a float32 number, so `fit` fails the same way.")):
            LRFinder(model, verbose=False)((x, y), batch_size=32)
        assert_same_state(before, state_of(model, model.optimizer))
        # What the message offers: the loss given as `loss_fn`, whose own losses the finder casts, sweeps.
        assert np.isfinite(LRFinder(model, loss_fn="mse", verbose=False)((x, y), batch_size=32, n_steps=30, refine=False))
        assert_same_state(before, state_of(model, model.optimizer))
    finally:
        keras.mixed_precision.set_global_policy("float32")
