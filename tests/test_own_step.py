"""A model that overrides `train_step` trains by it, as in `fit` (`tf_lrfinder.own_step`): its own loss
recorded, its other optimizers and metrics restored, the optimizer swept checked against the step."""

import json
import math
import re
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from tf_lrfinder import LRFinder

PENALTY = 0.01


class Penalised(keras.Model):
    """The compiled loss plus a penalty on the kernels that only its own `train_step` adds (not
    `add_loss`): the finder's step would not see it. Keras's own `test_step` measures the compiled loss."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tracker = keras.metrics.Mean(name="penalised")

    def penalty(self):
        return PENALTY * ops.sum(ops.stack([ops.sum(w ** 2) for w in self.trainable_weights if "kernel" in w.path]))

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True)) + self.penalty()
        self.optimizer.apply(tape.gradient(loss, self.trainable_weights), self.trainable_weights)
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}


def penalised(optimizer=None):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    model = Penalised(inputs, keras.layers.Dense(1)(keras.layers.Dense(8, activation="relu")(inputs)))
    model.compile(optimizer or keras.optimizers.Adam(), "mse")
    return model


class VAE(keras.Model):
    """As Keras's example writes one (its older version): no `call`, the loss only in its own steps,
    which take the batch of `fit(x)` as it comes, x itself; but its total loss returned under a name
    of its own, not "loss" (`monitor`)."""

    def __init__(self, test_step=True):
        super().__init__()
        self.encoder = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8), keras.layers.BatchNormalization(),
                                         keras.layers.ReLU(), keras.layers.Dense(4)])
        self.decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"),
                                         keras.layers.Dense(6)])
        self.seed = keras.random.SeedGenerator(1)
        self.total = keras.metrics.Mean(name="total_loss")
        self.kl = keras.metrics.Mean(name="kl_loss")
        self.measures = test_step

    @property
    def metrics(self):
        return [self.total, self.kl]

    def losses_of(self, x, sample):
        h = self.encoder(x)
        mean, log_var = h[:, :2], h[:, 2:]
        z = mean + ops.exp(0.5 * log_var) * keras.random.normal(ops.shape(mean), seed=self.seed) if sample else mean
        kl = ops.mean(-0.5 * ops.sum(1 + log_var - mean ** 2 - ops.exp(log_var), axis=1))
        return ops.mean(ops.sum((self.decoder(z) - x) ** 2, axis=1)) + kl, kl

    def train_step(self, x):
        with tf.GradientTape() as tape:
            total, kl = self.losses_of(x, sample=True)
        self.optimizer.apply(tape.gradient(total, self.trainable_weights), self.trainable_weights)
        self.total.update_state(total)
        self.kl.update_state(kl)
        return {"total_loss": self.total.result(), "kl_loss": self.kl.result()}

    def test_step(self, x):
        if not self.measures:
            return super().test_step(x)  # Keras's: calls the model, which has no `call`
        total, kl = self.losses_of(x, sample=False)
        self.total.update_state(total)
        self.kl.update_state(kl)
        return {"total_loss": self.total.result(), "kl_loss": self.kl.result()}


class GAN(keras.Model):
    """Two optimizers of its own, compiled apart; `model.optimizer` is Keras's default, never applied."""

    def __init__(self):
        super().__init__()
        self.discriminator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"),
                                               keras.layers.Dense(1)])
        self.generator = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"),
                                           keras.layers.Dense(2)])
        self.seed = keras.random.SeedGenerator(2)
        self.d_tracker = keras.metrics.Mean(name="d_loss")
        self.g_tracker = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_tracker, self.g_tracker]

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

    def train_step(self, real):  # the batch of `fit(x)` as it comes, x itself
        n = ops.shape(real)[0]
        fake = self.generator(keras.random.normal((n, 3), seed=self.seed))
        with tf.GradientTape() as tape:
            d_loss = (self.bce(ops.ones((n, 1)), self.discriminator(real))
                      + self.bce(ops.zeros((n, 1)), self.discriminator(fake)))
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply(tape.gradient(d_loss, weights), weights)
        with tf.GradientTape() as tape:
            g_loss = self.bce(ops.ones((n, 1)), self.discriminator(self.generator(
                keras.random.normal((n, 3), seed=self.seed))))
        weights = self.generator.trainable_weights
        self.g_optimizer.apply(tape.gradient(g_loss, weights), weights)
        self.d_tracker.update_state(d_loss)
        self.g_tracker.update_state(g_loss)
        return {"d_loss": self.d_tracker.result(), "g_loss": self.g_tracker.result()}


def state(model, *optimizers):
    """Every value a step may change: the model's variables (its seed generators' too), each
    optimizer's, the metrics'."""
    variables = list(model.variables) + [v for o in optimizers for v in o.variables] + list(model.metrics_variables)
    return [v.numpy().copy() for v in variables]


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1024, 4)).astype("float32")
    return x, (x[:, :1] - 2 * x[:, 1:2]).astype("float32")


def test_a_model_that_overrides_train_step_trains_by_it_and_records_its_loss(data):
    x, y = data
    model = penalised()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    before = state(model, model.optimizer)
    ordered = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)  # the first batch known
    first = float(ops.mean((model(x[:32]) - y[:32]) ** 2) + model.penalty())  # before any step
    finder = LRFinder(model, verbose=False)
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        lr = finder(ordered, n_steps=30)
    assert not [w for w in told if "train_step" in str(w.message)]  # nothing said of the step: it is the model's
    assert same(before, state(model, model.optimizer))  # its tracker too, reset at every step
    assert np.isfinite(lr) and lr == finder.lr_opt == finder.trials.lr
    assert finder.losses[0] == pytest.approx(first, rel=1e-6)  # the batch's own loss, with the penalty
    # The finder's own step (step="finder") records the compiled loss alone: the penalty is the model's.
    with pytest.warns(UserWarning, match=r"overrides `train_step`, which the finder does not call with step='finder'"):
        ours = LRFinder(model, step="finder", verbose=False)
    ours(ordered, n_steps=30, refine=False)
    assert ours.losses[0] == pytest.approx(first - float(model.penalty()), rel=1e-6)
    # Refining's runs are measured by Keras's own `test_step`: the compiled loss on the held-back batches.
    assert finder.trials.start_loss == pytest.approx(
        float(np.mean([model.evaluate(xb, yb, verbose=0, return_dict=True)["loss"] for xb, yb in ordered.take(8)])),
        rel=1e-5)


def test_the_models_own_step_gives_the_finders_sweep_where_it_is_kerass(data):
    """`step="model"` on a model that keeps Keras's `train_step`: the same sweep, runs and rate, bit
    for bit (Keras's step computes the same loss and gradients); and its metrics are restored."""
    x, y = data
    results = []
    for step in ("finder", "model"):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(), "mse", metrics=["mae"])
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        before = state(model, model.optimizer)
        finder = LRFinder(model, step=step, verbose=False)
        results.append((finder((x, y), batch_size=32), finder.losses, finder.trials.losses))
        assert same(before, state(model, model.optimizer))
    assert results[0] == results[1]


class Legacy(keras.Model):
    """Steps as tf.keras 2's guide wrote them: `compiled_loss`, `compiled_metrics.update_state`, and
    every metric's result returned. On Keras 3 the latter updates every `Mean` metric, the loss
    tracker too, with the predictions; `kept_loss` returns the loss itself under "loss" instead."""

    def __init__(self, *args, kept_loss=False, updates_metrics=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.kept_loss, self.updates_metrics = kept_loss, updates_metrics

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        self.optimizer.apply(tape.gradient(loss, self.trainable_weights), self.trainable_weights)
        if self.updates_metrics:
            self.compiled_metrics.update_state(y, y_pred)
        logs = {m.name: m.result() for m in self.metrics}
        return {**logs, "loss": loss} if self.kept_loss else logs

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


@pytest.mark.parametrize("fit_first", [True, False])
def test_a_tf_keras_2_step_that_calls_compiled_metrics_is_told_for_what_it_returns_as_loss(data, fit_first):
    """Keras 3 keeps `compiled_metrics.update_state` for old steps and updates every `Mean` with the
    predictions: the "loss" such a step returns from its metrics is their mean (below 0 here, for a
    mean squared error). The call warns, once `fit` showed Keras's own warning too, and keeps it in
    `finder.warnings`; a step that returns the loss itself records it, and is told the same (the
    finder cannot see which it returns), where it calls `compiled_metrics` too."""
    x, y = data
    recorded = {}
    for kept_loss in (False, True):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((4,))
        model = Legacy(inputs, keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(-3.0))(inputs),
                       kept_loss=kept_loss)
        model.compile(keras.optimizers.SGD(), "mse")
        finder = LRFinder(model, verbose=False)
        with warnings.catch_warnings(record=True) as told:
            warnings.simplefilter("default")  # each warning once per line, as Python shows them
            if fit_first:  # Keras's own warning shown there, so not again for the same line
                model.fit(x, y, batch_size=32, epochs=1, verbose=0)
            before = state(model, model.optimizer)
            finder((x, y), batch_size=32, n_steps=30, refine=False)
        assert same(before, state(model, model.optimizer))
        ours = [str(w.message) for w in told if "calls `self.compiled_metrics.update_state" in str(w.message)]
        assert len(ours) == 1 and ours[0] in finder.warnings, [str(w.message)[:80] for w in told]
        assert "the mean of the predictions" in ours[0] and "'loss'" in ours[0]
        recorded[kept_loss] = finder.losses[0]
    if not fit_first:  # what the step returns is recorded: mostly the predictions' mean (-3), or the loss
        assert recorded[True] > 1 and recorded[False] < 0
        assert not [w for w in told if "`model.compiled_metrics()` is deprecated" in str(w.message)]  # ours instead
    # Refining measures its runs by the model's `test_step`, which makes the call too: told as well.
    finder = LRFinder(model, verbose=False)
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        finder((x, y), batch_size=32, n_steps=30)
    assert [str(w.message)[:72] for w in told if "compiled_metrics.update_state" in str(w.message)] == [
        "The model's own `train_step` and `test_step` call `self.compiled_metrics"]
    # And where `refine` runs alone after a sweep made without the runs, first among the runs' warnings.
    finder((x, y), batch_size=32, n_steps=30, refine=False)
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        finder.refine((x, y), batch_size=32, steps=5)
    ours = [str(w.message) for w in told if "compiled_metrics.update_state" in str(w.message)]
    assert len(ours) == 1 and ours[0].startswith("The model's own `train_step` and `test_step` call")
    assert finder.trials.warnings[0] == ours[0]
    # The finder's warning is not given to a step that does not call it (Keras 3's own form).
    finder = LRFinder(penalised(), verbose=False)
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        finder((x, y), batch_size=32, n_steps=30, refine=False)
    assert not [w for w in told if "compiled_metrics" in str(w.message)]


def test_a_step_that_returns_a_metric_it_never_updates_is_told_the_loss_does_not_follow_training(data):
    """Without `compiled_metrics`, the tf.keras 2 step returns Keras 3's loss tracker, which
    `compiled_loss` no longer updates: 0 at every step. Told as that, not as a flat curve to widen."""
    x, y = data
    inputs = keras.Input((4,))
    model = Legacy(inputs, keras.layers.Dense(1)(inputs), updates_metrics=False)
    model.compile(keras.optimizers.SGD(), "mse")
    finder = LRFinder(model, verbose=False)
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        finder((x, y), batch_size=32, n_steps=30, refine=False)
    assert set(finder.losses) == {0.0} and len(finder.losses) == 30
    told = [str(w.message) for w in told]
    assert any(m.startswith("The loss is 0 at every step of the sweep, bit for bit, from a rate of 1e-07 to 10: it "
                            "does not follow the training") and "a metric it never updates" in m for m in told)
    assert not [m for m in told if "is flat" in m or "raise `max_lr`" in m or "compiled_metrics.update_state" in m]


def test_a_vae_without_call_is_swept_by_its_steps_and_restored():
    x = np.random.default_rng(1).normal(size=(1024, 6)).astype("float32")
    model = VAE()
    model.compile(keras.optimizers.Adam())
    model.fit(x, batch_size=64, epochs=1, verbose=0)
    before = state(model, model.optimizer)
    finder = LRFinder(model, monitor="total_loss", verbose=False)
    lr = finder(x, batch_size=64)  # x alone, as `fit(x)` takes it
    assert np.isfinite(lr) and len(finder.trials.lrs) >= 4
    assert same(before, state(model, model.optimizer))  # its seed generator and metrics too
    assert (finder.history["settings"]["step"], finder.history["settings"]["monitor"]) == ("model", "total_loss")
    assert finder.trials.bn_layers == 0  # BatchNorm is re-estimated by calling the model, which has no `call`
    assert [w for w in finder.trials.warnings if w.startswith(
        "The moving statistics of the model's 1 BatchNormalization layer were not re-estimated before refining's "
        "runs were measured (`update_bn`): they are re-estimated by calling the model on each batch's x, as a "
        "step that reads `(x, y)` calls it, and this model has no `call` (its own steps call its parts). So each "
        "run's loss also measures how far those averages lag")]
    with pytest.raises(ValueError, match=re.escape(
            "`monitor` must name the loss in what the model's `train_step` returns. Received: monitor='loss', and "
            "it returns the keys ['kl_loss', 'total_loss']. Pass `monitor=` the key")):
        LRFinder(model, verbose=False)(x, batch_size=64, refine=False)
    assert same(before, state(model, model.optimizer))


class Packed(keras.Model):
    """Its batches one dict, `{"x": ..., "y": ...}` (as TFDS gives them without `as_supervised`), read
    by its own steps, which `fit` hands them as x alone; or, with `packed=False`, `(x, y)` as Keras's
    steps read them. Its loss reported under "loss", by a tracker of its own."""

    def __init__(self, *args, packed=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.packed = packed
        self.tracker = keras.metrics.Mean(name="packed")

    def read(self, batch):
        return (batch["x"], batch["y"]) if self.packed else batch

    def train_step(self, batch):
        x, y = self.read(batch)
        with tf.GradientTape() as tape:
            loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
        self.optimizer.apply(tape.gradient(loss, self.trainable_weights), self.trainable_weights)
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}

    def test_step(self, batch):
        x, y = self.read(batch)
        self.tracker.update_state(self.compute_loss(x=x, y=y, y_pred=self(x, training=False), training=False))
        return {"loss": self.tracker.result()}


@pytest.mark.parametrize("packed", [True, False])
def test_batchnorm_is_re_estimated_for_a_models_own_step_where_the_model_takes_the_batchs_x_else_told(data, packed):
    """BatchNorm's statistics are re-estimated by calling the model on each batch's x. A step that
    reads x and y from one dict calls it on something else: its runs are measured without the
    re-estimate, and the call says so, where before it failed calling the model on the dict."""
    x, y = data
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    h = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Dense(8)(inputs)))
    model = Packed(inputs, keras.layers.Dense(1)(h), packed=packed)
    model.compile(keras.optimizers.Adam(), "mse")
    dataset = tf.data.Dataset.from_tensor_slices({"x": x, "y": y} if packed else (x, y)).batch(32)
    model.fit(dataset, epochs=1, verbose=0)
    before = state(model, model.optimizer)
    finder = LRFinder(model, verbose=False)
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        lr = finder(dataset)
    assert np.isfinite(lr) and lr == finder.trials.lr and len(finder.trials.lrs) >= 4
    assert same(before, state(model, model.optimizer))
    unestimated = [str(w.message) for w in told if "were not re-estimated" in str(w.message)]
    assert finder.trials.bn_layers == (0 if packed else 1)
    if packed:
        assert unestimated == [w for w in finder.trials.warnings if "were not re-estimated" in w]
        assert re.fullmatch(
            r"(?s)The moving statistics of the model's 1 BatchNormalization layer were not re-estimated before "
            r"refining's runs were measured \(`update_bn`\): .* and calling this model so failed \(its own "
            r"`train_step` must call it on something else\): ValueError: .*Missing data for input .*\. So each run's "
            r"loss also measures .* Pass update_bn=False to measure the runs so without this warning, or "
            r"refine=False to keep the sweep's reading\.", unestimated[0])
    else:
        assert not unestimated
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        finder.refine(dataset, update_bn=False)  # asked not to: nothing to say
    assert finder.trials.bn_layers == 0 and not [w for w in told if "were not re-estimated" in str(w.message)]
    assert same(before, state(model, model.optimizer))


def test_refining_a_model_whose_test_step_fails_is_refused_if_asked_for_else_skipped_with_a_warning():
    x = np.random.default_rng(1).normal(size=(1024, 6)).astype("float32")
    model = VAE(test_step=False)
    model.compile(keras.optimizers.Adam())
    model.fit(x, batch_size=64, epochs=1, verbose=0)
    before = state(model, model.optimizer)
    finder = LRFinder(model, monitor="total_loss", verbose=False)
    with pytest.raises(ValueError, match=r"(?s)Refining measures its runs by the model's own `test_step` on batches of "
                                         r"`dataset`.*NotImplementedError.*pass refine=False"):
        finder(x, batch_size=64, refine=True)
    assert same(before, state(model, model.optimizer)) and not finder.lrs  # no sweep ran
    skipped = r"(?s)own `test_step` on batches of `dataset`.*NotImplementedError.*So this call skips refining"
    with pytest.warns(UserWarning, match=skipped):
        lr = finder(x, batch_size=64)  # refining by default, not asked for: the sweep's reading alone
    assert np.isfinite(lr) and finder.trials is None and finder.settings["refine"] is False
    assert lr == finder.suggest().lr and re.search(skipped, finder.warnings[0])
    assert same(before, state(model, model.optimizer))
    with pytest.raises(ValueError, match=r"(?s)own `test_step`.*leave out `finder.refine` after its sweep \(`finder"
                                         r"\.suggest\(\)` reads the sweep recorded\)\. Nothing was changed\.$"):
        finder.refine(x, batch_size=64)  # asked for by name: the sweep's reading is there already
    assert same(before, state(model, model.optimizer))


@pytest.mark.parametrize("refine", [None, True, False])
def test_data_that_do_not_fit_the_models_own_step_are_told_as_for_the_finders_step(data, refine):
    # Its `test_step` (traced first, where refining follows) or its `train_step` fails as it is traced; the finder's
    # own checks of the first batch then say why, as they say it for its own step, and not that refining failed.
    x, y = data
    model = penalised()
    inputs = keras.Input((4,))
    classifier = Penalised(inputs, keras.layers.Dense(3)(inputs))
    classifier.compile(keras.optimizers.Adam(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    labels = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
    before = state(model, model.optimizer), state(classifier)
    told = r"^The model's own `(train|test)_step` failed on the first batch as it was traced, before any step "
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=told + r"(?s:.*)`dataset` does not fit `model`: .*incompatible with"):
            LRFinder(model, verbose=False)((x[:, :3], y), batch_size=32, refine=refine)
        with pytest.raises(ValueError, match=told + r".*`dataset`'s targets do not fit the loss: .*y of shape \(32, 3\)"
                                                    r".*Integer class labels need a sparse loss"):
            LRFinder(classifier, verbose=False)((x, np.eye(3)[labels]), batch_size=32, refine=refine)
        if refine is not False:  # validation data that do not fit, where the training data do
            with pytest.raises(ValueError, match=told + r"(?s:.*)`validation_data` does not fit `model`"):
                LRFinder(model, verbose=False)((x, y), batch_size=32, refine=refine, validation_data=(x[:64, :3], y[:64]))
    assert not [w for w in warned if "refining" in str(w.message)]  # refining is not what failed
    assert same(before[0], state(model, model.optimizer)) and same(before[1], state(classifier))


def test_a_gan_is_swept_by_the_optimizer_its_step_applies_the_other_restored_too():
    real = (np.random.default_rng(2).normal(size=(2048, 2)) + [2.0, -1.0]).astype("float32")
    model = GAN()
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(2e-3))
    model.fit(real, batch_size=64, epochs=1, verbose=0)
    optimizers = (model.d_optimizer, model.g_optimizer, model.optimizer)
    before = state(model, *optimizers)
    with pytest.raises(ValueError, match=re.escape(
            "The model's own `train_step` does not apply `optimizer` (RMSprop), whose rate the finder sweeps: none of its "
            "variables change in the step. It applies `model.d_optimizer` (Adam) and `model.g_optimizer` (Adam): pass "
            "the one whose rate you are looking for (`LRFinder(model, optimizer=model.d_optimizer)`, say;")):
        LRFinder(model, monitor="g_loss", verbose=False)(real, batch_size=64, refine=False)  # compiled: Keras's default
    assert same(before, state(model, *optimizers))
    finder = LRFinder(model, model.d_optimizer, monitor="d_loss", verbose=False)
    lr = finder(real, batch_size=64, refine=False)
    assert np.isfinite(lr) and len(finder.losses) > 30
    assert same(before, state(model, *optimizers))
    assert float(model.d_optimizer.learning_rate) == np.float32(1e-3)
    assert float(model.g_optimizer.learning_rate) == np.float32(2e-3)


def test_a_gans_optimizers_not_yet_built_are_built_by_its_step_and_left_as_made():
    real = (np.random.default_rng(2).normal(size=(512, 2)) + [2.0, -1.0]).astype("float32")
    model = GAN()
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.SGD(2e-3, momentum=0.9))
    lr = LRFinder(model, model.d_optimizer, monitor="d_loss", verbose=False)(real, batch_size=64, refine=False)
    assert np.isfinite(lr)
    assert model.d_optimizer.built and model.g_optimizer.built  # as `fit` builds them, on the weights each applies to
    assert {v.path for v in model.d_optimizer.variables if "iteration" not in v.path and "learning_rate" not in v.path}
    assert all(not np.any(v.numpy()) for o in (model.d_optimizer, model.g_optimizer) for v in o.variables
               if "learning_rate" not in v.path)  # every slot and count as made: zeros
    history = model.fit(real, batch_size=64, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0])


@pytest.mark.parametrize("options", [dict(gradient_accumulation_steps=2), dict(use_ema=True)])
def test_an_optimizer_that_accumulates_or_averages_is_applied_by_the_models_step(data, options):
    """Its `iterations` is then no variable of its own (a count of updates, made of its count of
    batches): the optimizer is still known to be the one the step applies."""
    x, y = data
    model = penalised(keras.optimizers.Adam(**options))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    before = state(model, model.optimizer)
    finder = LRFinder(model, verbose=False)
    assert np.isfinite(finder((x, y), batch_size=32, refine=False))
    assert same(before, state(model, model.optimizer))
    assert finder.settings["gradient_accumulation_steps"] == options.get("gradient_accumulation_steps", 1)


class Seen(keras.Model):
    """Its own step, a loss of x alone, noting the structure of the batch it is traced on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = None

    def train_step(self, data):
        self.seen = tf.nest.map_structure(lambda _: "tensor", data)
        x = keras.utils.unpack_x_y_sample_weight(data)[0]
        with tf.GradientTape() as tape:
            loss = ops.mean(self(x) ** 2)
        self.optimizer.apply(tape.gradient(loss, self.trainable_weights), self.trainable_weights)
        return {"loss": loss}


def seen(inputs, outputs):
    model = Seen(inputs, outputs)
    model.compile(keras.optimizers.SGD())
    return model


class Pages(keras.utils.PyDataset):
    """Batches of 32 rows of each array: an array alone where there is one, else a tuple."""

    def __init__(self, *arrays):
        super().__init__()
        self.arrays = arrays

    def __len__(self):
        return len(self.arrays[0]) // 32

    def __getitem__(self, i):
        batch = tuple(a[32 * i: 32 * (i + 1)] for a in self.arrays)
        return batch if len(batch) > 1 else batch[0]


FORMS = {  # how `fit` takes each: arrays as `fit(x, y, sample_weight)` takes them, or batches
    "x alone": lambda x, y, w: (x,), "x alone, a dict": lambda x, y, w: ({"a": x[:, :2], "b": x[:, 2:]},),
    "(x, y)": lambda x, y, w: (x, y), "(x, y, sample_weight)": lambda x, y, w: (x, y, w),
    "a dataset of x": lambda x, y, w: tf.data.Dataset.from_tensor_slices(x).batch(32),
    "a dataset of (x,)": lambda x, y, w: tf.data.Dataset.from_tensor_slices((x,)).batch(32),
    "a dataset of dicts": lambda x, y, w: tf.data.Dataset.from_tensor_slices({"a": x[:, :2], "b": x[:, 2:]}).batch(32),
    "a PyDataset of x": lambda x, y, w: Pages(x), "a PyDataset of (x, y)": lambda x, y, w: Pages(x, y),
}


@pytest.mark.parametrize("form", FORMS)
def test_the_models_step_gets_each_batch_as_fit_hands_it(data, form):
    """`fit(x)` hands `train_step` x itself, not `(x,)` (`keras.utils.pack_x_y_sample_weight`), a
    dataset's elements as they are, and a PyDataset's array alone as `(x,)`: so does the finder (a
    step written for `fit(x)`, as Keras's VAE and GAN examples are, computes with its batch as a
    tensor)."""
    x, y = data
    given = FORMS[form](x, y, np.ones(len(x), "float32"))
    if "dict" in form:
        inputs = {"a": keras.Input((2,), name="a"), "b": keras.Input((2,), name="b")}
        outputs = keras.layers.Dense(1)(keras.layers.Concatenate()([inputs["a"], inputs["b"]]))
    else:
        inputs = keras.Input((4,))
        outputs = keras.layers.Dense(1)(inputs)
    model = seen(inputs, outputs)
    if isinstance(given, (tf.data.Dataset, keras.utils.PyDataset)):
        model.fit(given, epochs=1, verbose=0)
        dataset, batch_size = given, None
    else:
        model.fit(*given[:2], sample_weight=given[2] if len(given) > 2 else None, batch_size=32, epochs=1, verbose=0)
        dataset, batch_size = given if len(given) > 1 else given[0], 32
    by_fit, model.seen = model.seen, None
    LRFinder(model, verbose=False)(dataset, batch_size=batch_size, n_steps=20, refine=False)
    assert model.seen == by_fit


def test_the_step_arguments_are_checked_before_anything_changes(data):
    x, y = data
    model = penalised()
    with pytest.raises(ValueError, match=re.escape("`step` must be one of ('auto', 'model', 'finder'). "
                                                   "Received: step='keras'")):
        LRFinder(model, step="keras")
    with pytest.raises(TypeError, match=re.escape("`monitor` must be the key of the loss")):
        LRFinder(model, monitor=None)
    with pytest.raises(ValueError, match=re.escape(
            "`loss_fn` is not used where the model's own `train_step` trains: it computes its own loss (`model`, a "
            "Penalised, overrides `train_step`: step='auto' trains with it). Received: loss_fn='mse'.")):
        LRFinder(model, loss_fn="mse")
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match=re.escape("`model` is not compiled. Compile it as for `fit`")):
        LRFinder(Penalised(inputs, keras.layers.Dense(1)(inputs)), "adam")
    finder = LRFinder(model, verbose=False)
    with pytest.raises(ValueError, match=re.escape("`step` must be one of")):
        finder.step = "both"
    assert finder.step == "auto"  # the old value kept
    finder.step = "finder"  # checked as the constructor checks it; the next call traces the finder's step
    finder.loss_fn = "mse"
    finder((x, y), batch_size=32, n_steps=20, refine=False)
    assert finder.losses[0] < float(model.compute_loss(x=x[:1], y=y[:1], y_pred=model(x[:1]))) + 1e3  # it ran


def test_a_first_loss_not_finite_from_the_models_step_is_told_as_such_and_the_state_restored(data):
    """Where the model's own step returns NaN or inf for the first batch, on finite data (no check of
    the first batch computes its loss before the sweep), the error says so, naming weights that hold
    NaN, not a suggestion rule's lack of points; and everything is restored."""
    x, y = data
    model = penalised()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    model.compile(model.optimizer, lambda y_true, y_pred: -ops.mean(ops.log(0.0 * y_pred)))  # a log of 0: inf
    kept = lambda before: all(np.array_equal(a, b, equal_nan=True) for a, b in zip(before, state(model, model.optimizer)))
    before = state(model, model.optimizer)
    with pytest.raises(ValueError, match=re.escape(
            "The loss the model's `train_step` returned as 'loss' on the first batch is inf before any step, at the "
            "model's weights as they are, on finite data: a sweep that starts there records that loss and stops, "
            "whatever the rate. Look for a log of 0, a division by 0 or an overflow in the model or in the loss its "
            "`train_step` computes, and call again. The state is restored.")):
        LRFinder(model, verbose=False)((x, y), batch_size=32)
    assert kept(before)
    model.compile(model.optimizer, "mse")
    kernel = model.trainable_weights[0]
    kernel.assign(np.where(np.arange(kernel.shape[1]) == 3, np.nan, kernel.numpy()))  # as a diverged training leaves it
    before = state(model, model.optimizer)
    with pytest.raises(ValueError, match=re.escape(
            "returned as 'loss' on the first batch is nan before any step: `model`'s weights hold NaN or inf values "
            f"({kernel.path}), as a training that diverged leaves them.")):
        LRFinder(model, verbose=False)((x, y), batch_size=32)
    assert kept(before)


SCRIPT = textwrap.dedent("""
    import json
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tf_lrfinder import LRFinder

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1024, 4)).astype("float32"); y = x[:, :1] - 2 * x[:, 1:2]
    out = {}
    for step in ("finder", "model"):
        with tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope():
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
            model.compile(keras.optimizers.Adam(), "mse", metrics=["mae"])  # neither built yet: as `fit` builds them
        finder = LRFinder(model, step=step, verbose=False)
        out[step] = [finder((x, y), batch_size=32, n_steps=40), finder.losses, list(finder.trials.losses)]
    print(json.dumps(out))
""")


def test_under_a_mirrored_strategy_the_models_own_step_gives_the_finders_sweep():
    """Each replica's metrics hold its share's loss: their mean is the batch's, as the finder's step
    records it (two logical CPUs, in a process of their own). The compiled metrics and optimizer,
    not yet built, are built before the step is traced, as `fit` builds them (where the step built
    them as it was traced, TensorFlow failed to lift them out of it under the strategy)."""
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["finder"][0] == out["model"][0]  # the same rate
    # Bit for bit with Keras 3.15; Keras 3.8's loss tracker rounds otherwise under a strategy (within 1e-7).
    for finders, models in zip(out["finder"][1:], out["model"][1:]):
        np.testing.assert_allclose(models, finders, rtol=1e-6)


EMBEDDING = textwrap.dedent("""
    import json
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tf_lrfinder import LRFinder

    rng = np.random.default_rng(0)
    words = rng.integers(0, 50, size=(40, 6)); y = rng.normal(size=(40, 1)).astype("float32")  # batches of 32 and 8
    with tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope():
        model = keras.Sequential([keras.Input((6,), dtype="int32"), keras.layers.Embedding(50, 8),
                                  keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(momentum=0.9, nesterov=True), "mse")
    model.fit(words, y, batch_size=32, epochs=1, verbose=0)  # Keras's own `fit` trains it
    before = [v.numpy().copy() for v in model.variables + model.optimizer.variables]
    lr = LRFinder(model, step="model", verbose=False)((words, y), batch_size=32, n_steps=40)
    print(json.dumps([lr, all(np.array_equal(a, v.numpy())
                              for a, v in zip(before, model.variables + model.optimizer.variables))]))
""")


def test_under_a_mirrored_strategy_the_models_own_step_trains_an_embedding_one_step_per_call():
    """An Embedding's gradients are sparse, and their gather across replicas fails on a second step in
    one compiled call: hidden in the model's own step, which then runs one step per call on several
    replicas, as `fit` does by default (two logical CPUs, in a process of their own)."""
    done = subprocess.run([sys.executable, "-c", EMBEDDING], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lr, restored = json.loads(done.stdout.strip().splitlines()[-1])
    assert math.isfinite(lr) and restored
