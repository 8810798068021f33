"""End-to-end sweeps on tiny real models: restore, tracing, recording, errors."""

import io
import math
import re
import warnings
from collections import OrderedDict
from functools import partial

import keras
import numpy as np
import pytest
import tensorflow as tf
from tqdm import tqdm

from conftest import (KERAS_BELOW_3_15, OPTIMIZERS, assert_same_state, make_model, optional_input_model, regression_data,
                      state_of)
from tf_lrfinder import LRFinder
from tf_lrfinder import refine as refine_lib
from tf_lrfinder.data import as_batches
from tf_lrfinder.history import load_csv, load_json, save_csv, save_json
from tf_lrfinder.smoothing import ema, lag_free_bottom, start_level, stop_index
from tf_lrfinder.state import Snapshot

pytestmark = pytest.mark.filterwarnings("ignore:The (loss never|data ran out|sweep stopped|suggestion sits|best short run)")


def stepped(optimizer, model, x, y):
    """Give the optimizer real state (iterations, momentum/moments) with two training steps."""
    for _ in range(2):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x[:32], training=True) - y[:32]) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return optimizer


class Recorder(tqdm):
    """A progress bar that records the model's state after each chunk, before the restore."""

    seen: list = []
    hook = None

    def update(self, n=1):
        super().update(n)
        if Recorder.hook is not None:
            Recorder.seen.append(Recorder.hook())


class Interrupt(tqdm):
    """A progress bar through which the user presses Ctrl-C after the first chunk."""

    def update(self, n=1):
        super().update(n)
        raise KeyboardInterrupt


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_diverging_sweep_restores_every_variable_bit_for_bit(opt_name, data):
    x, y = data
    model = make_model()
    optimizer = stepped(OPTIMIZERS[opt_name](), model, x, y)
    before = state_of(model, optimizer)
    Recorder.seen, Recorder.hook = [], lambda: state_of(model, optimizer)
    finder = LRFinder(model, optimizer, "mse", tqdm_class=Recorder, steps_per_execution=10)
    lr = finder((x, y), batch_size=32, min_lr=1e-4, max_lr=100.0, n_steps=60)

    assert finder.stop_reason in ("diverged", "not_finite") and len(finder.lrs) < 60
    assert_same_state(before, state_of(model, optimizer))
    # The sweep really changed every kind of state (so the check above can fail):
    mid = Recorder.seen[0]
    names = [v.path for v in list(model.variables) + list(optimizer.variables)]
    changed = {n for n, a, b in zip(names, before, mid) if not np.array_equal(a, b)}
    for kind in ("kernel", "moving_mean", "seed_generator_state", "iteration"):
        assert any(kind in n for n in changed), kind
    # By default the sweep's reading is refined: the best of short runs that include it.
    assert lr == finder.lr_opt == finder.trials.lr and finder.suggest().lr in finder.trials.lrs
    assert finder.settings["refine"] is True


@pytest.mark.parametrize("kind", ["arrays", "shuffled tf.data"])
def test_training_after_the_finder_is_the_training_without_it(kind, data):
    # What users of other finders report (a finder run before `fit` changed the training): here
    # `fit` after a default call (sweep and refine) trains bit for bit as `fit` without it, from the
    # same seed. This checks all that `fit` reads, not only the variables restored: it fails where the
    # finder leaves a Dropout rate or the optimizer's clipnorm changed, say (both tried).
    x, y = data

    def trained(find):
        keras.utils.set_random_seed(0)
        model = make_model()  # Dense, BatchNormalization, Dropout
        model.compile(keras.optimizers.Adam(), "mse")
        if find:
            pipeline = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x)).batch(32)
            LRFinder(model, verbose=False)(*(((x, y),) if kind == "arrays" else (pipeline,)),
                                           **({"batch_size": 32} if kind == "arrays" else {}))
        history = model.fit(x, y, batch_size=32, epochs=2, shuffle=True, verbose=0)
        return history.history["loss"], [v.numpy() for v in model.variables]

    (loss, weights), (loss_found, weights_found) = trained(False), trained(True)
    assert loss == loss_found
    assert_same_state(weights, weights_found)


@pytest.mark.parametrize("make", [
    pytest.param(lambda: keras.optimizers.Muon(),  # AdamW for some variables, its own update for the others
                 marks=pytest.mark.skipif(KERAS_BELOW_3_15, reason="on Keras 3.12 (Python 3.10) `fit` itself "
                                          "fails with Muon: a tf.Variable has no `path`")),
    lambda: keras.optimizers.Adam(use_ema=True, ema_overwrite_frequency=3),  # EMA written into the weights
    lambda: keras.optimizers.Adafactor(),  # factored moments; a rate capped by the step count
    lambda: keras.optimizers.Lion(),
    lambda: keras.optimizers.Nadam(),  # a running product of momentum terms
    lambda: keras.optimizers.RMSprop(momentum=0.9, centered=True),
    lambda: keras.optimizers.Ftrl(),
    pytest.param(lambda: keras.optimizers.ScheduleFreeAdamW(warmup_steps=50),  # its warmup off in the sweep
                 marks=pytest.mark.skipif(not hasattr(keras.optimizers, "ScheduleFreeAdamW"),
                                          reason="this Keras has no ScheduleFreeAdamW")),
], ids=["muon", "adam_ema", "adafactor", "lion", "nadam", "rmsprop_centred", "ftrl", "schedule_free"])
@pytest.mark.filterwarnings("ignore:The loss curve is flat")
def test_training_after_the_finder_is_the_training_without_it_for_optimizers_with_more_state(make, data):
    # Past Adam's and momentum's slots: whatever state an optimizer keeps, after a fit and a default
    # call `fit` trains on bit for bit as without the call.
    x, y = data

    def trained(find):
        keras.utils.set_random_seed(0)
        model = make_model()
        model.compile(make(), "mse")
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        if find:
            LRFinder(model, verbose=False)((x, y), batch_size=32, n_steps=40)
        history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        return history.history["loss"], [v.numpy() for v in model.variables + model.optimizer.variables]

    (loss, state), (loss_found, state_found) = trained(False), trained(True)
    assert loss == loss_found
    assert_same_state(state, state_found)


def test_adafactor_is_told_its_rate_is_capped_rather_than_to_raise_max_lr(data):
    # Keras's Adafactor applies at most 1/sqrt(t) at its t-th step: after a `fit` of 32 steps, the
    # sweep's 60th step is its 92nd, so the loss cannot diverge above 1/sqrt(92).
    x, y = data
    model = make_model("dense")
    model.compile(keras.optimizers.Adafactor(), "mse")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    finder = LRFinder(model, verbose=False)
    with pytest.warns(UserWarning, match="never diverged") as caught:
        finder((x, y), batch_size=32, n_steps=60, refine=False)
    assert finder.stop_reason == "completed"
    message = next(str(w.message) for w in caught if "never diverged" in str(w.message))
    assert f"caps its rate at {1 / math.sqrt(92):.3g} by the sweep's last step" in message
    assert "raise `max_lr`" not in message


def test_numpys_global_random_state_is_left_as_it_was(data):
    # The data a call reads may draw from NumPy's global generator (a generator adding noise, or a
    # PyDataset that shuffles with it): afterwards NumPy draws what it would have without the call.
    x, y = data

    def noisy():
        for i in range(0, len(x), 32):
            yield x[i:i + 32] + np.random.normal(size=(len(x[i:i + 32]), 4)).astype("float32"), y[i:i + 32]

    np.random.seed(0)
    expected = np.random.random(3)
    np.random.seed(0)
    LRFinder(make_model("dense"), keras.optimizers.Adam(), "mse", verbose=False)(noisy(), n_steps=20)
    np.testing.assert_array_equal(np.random.random(3), expected)


def test_tensorflows_global_generator_is_left_as_it_was(data):
    # A `tf.data` map (or a layer) may draw from `tf.random.get_global_generator()`: afterwards it
    # draws what it would have without the call.
    x, y = data
    tf.random.set_global_generator(tf.random.Generator.from_seed(0))
    generator = tf.random.get_global_generator()
    noisy = tf.data.Dataset.from_tensor_slices((x, y)).batch(32).map(
        lambda a, b: (a + 0.1 * generator.normal(tf.shape(a)), b))
    before = generator.state.numpy().copy()
    LRFinder(make_model("dense"), keras.optimizers.Adam(), "mse", verbose=False)(noisy, n_steps=20)
    assert tf.random.get_global_generator() is generator
    np.testing.assert_array_equal(generator.state.numpy(), before)


class UnseededNoise(keras.layers.Layer):
    """Adds noise drawn from `keras.random` without a seed: from Keras's global SeedGenerator."""

    def call(self, t, training=None):
        return t + 0.1 * keras.random.normal(tf.shape(t)) if training else t


@pytest.mark.parametrize("drawn_before", [False, True])
def test_training_after_the_finder_draws_the_same_unseeded_keras_random_numbers(drawn_before, data):
    # A layer that calls `keras.random` without a seed draws from Keras's global SeedGenerator, which
    # a sweep advances, or creates (seeding it from Python's `random`): `fit` after the finder drew
    # other noise than `fit` without it. The finder now puts both back, or the generator's absence.
    x, y = data

    def trained(find):
        keras.utils.set_random_seed(0)
        if drawn_before:
            keras.random.normal(())  # the global generator exists before the finder runs
        model = keras.Sequential([keras.Input((4,)), UnseededNoise(), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(), "mse")
        if find:
            LRFinder(model, verbose=False)((x, y), batch_size=32, n_steps=40)
        return model.fit(x, y, batch_size=32, epochs=2, verbose=0).history["loss"]

    if trained(False) != trained(False):  # Keras 3.12 (Python 3.10): `fit` itself draws other noise each time
        pytest.skip(f"`fit` with unseeded keras.random is not repeatable on Keras {keras.__version__}")
    assert trained(False) == trained(True)


@pytest.mark.parametrize("drawn_before", [False, True])
def test_a_finder_called_again_draws_the_same_unseeded_keras_random_numbers(drawn_before, data):
    # Its step is traced once, with the global generator of the first call in it. Where there was
    # none, the one a call created used to stay in the step, no longer global, so the next call drew
    # on from where the first stopped. Now either generator starts each call where it started before.
    x, y = data
    keras.utils.set_random_seed(0)  # also clears Keras's global generator
    if drawn_before:
        keras.random.normal(())
    model = keras.Sequential([keras.Input((4,)), UnseededNoise(), keras.layers.Dense(1)])
    finder = LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)
    finder((x, y), batch_size=32, n_steps=30, refine=False)
    first = list(finder.losses)
    finder((x, y), batch_size=32, n_steps=30, refine=False)
    assert finder.losses == first


def test_variables_set_on_a_layer_outside_model_variables_are_restored_too(data):
    # Keras 2 tracked a `tf.Variable` set on a layer, and a `tf.random.Generator`'s state; Keras 3
    # keeps them outside `model.variables`, and the finder used to leave them as its last batch did.
    # Also deeper: in nested containers, and in a `tf.Module` helper.
    class Helper(tf.Module):
        def __init__(self):
            super().__init__()
            self.seen = tf.Variable(0.0, trainable=False)

    class Counts(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.batches = tf.Variable(0, trainable=False)
            self.noise = tf.random.Generator.from_seed(1)
            self.stats = {"sums": [(tf.Variable(tf.zeros(4), trainable=False),)]}  # three containers deep
            self.helper = Helper()

        def call(self, t, training=None):
            if training:
                self.batches.assign_add(1)
                self.stats["sums"][0][0].assign_add(tf.reduce_sum(t, 0))
                self.helper.seen.assign_add(tf.cast(tf.shape(t)[0], tf.float32))
                t = t + 1e-3 * self.noise.normal(tf.shape(t))
            return t

    def kept(counts):
        return [v.numpy().copy() for v in (counts.batches, counts.noise.state, counts.stats["sums"][0][0],
                                           counts.helper.seen)]

    x, y = data
    model = keras.Sequential([keras.Input((4,)), Counts(), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(), "mse")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    counts = model.layers[0]
    assert int(counts.batches.numpy()) == 32 and not any(v is counts.batches for v in model.variables)
    assert float(counts.helper.seen.numpy()) == len(x)
    before = state_of(model, model.optimizer) + kept(counts)
    LRFinder(model, verbose=False)((x, y), batch_size=32)
    assert_same_state(before, state_of(model, model.optimizer) + kept(counts))


class _Holder:
    """A plain object: no Keras or `tf.Module` tracking reaches what it holds."""


def _hidden_state_model(teacher, calls):
    """A model whose layer writes, when training, to variables no tracking finds (in a plain object,
    four containers deep, a generator's state, `calls` in its closure), and in inference mode only
    to another (`seen`, a `keras.Variable` in the plain object, which the finder's checks leave
    alone); and reads one it never writes and a teacher model."""

    class Hidden(keras.layers.Layer):
        def build(self, shape):
            self.held = _Holder()
            self.held.count = tf.Variable(0.0, trainable=False)
            self.held.noise = tf.random.Generator.from_seed(2)
            self.held.scale = tf.Variable(1.5, trainable=False)  # only read
            self.held.seen = keras.Variable(0.0, trainable=False)  # written in inference mode only
            self.deep = [[[{"sum": tf.Variable(tf.zeros(4), trainable=False)}]]]  # past CONTAINER_DEPTH

        def call(self, t, training=None):
            if training:
                calls.assign_add(1)
                self.held.count.assign_add(1.0)
                self.deep[0][0][0]["sum"].assign_add(tf.reduce_sum(t, 0))
                t = t + 1e-3 * self.held.noise.normal(tf.shape(t))
            else:
                self.held.seen.assign_add(1.0)
            return t * self.held.scale + teacher(t, training=False)

    return keras.Sequential([keras.Input((4,)), Hidden(), keras.layers.Dense(1)])


@pytest.mark.parametrize("mode", ["graph", "xla", "eager"])
@pytest.mark.parametrize("validation", [False, True])
def test_variables_the_step_and_the_measurements_write_are_restored_wherever_they_are_held(data, mode, validation):
    # No tracking reaches a variable held in a plain object, nested deeper than the containers
    # searched, or in a closure: the finder used to leave them as the sweep and the runs left them.
    # It now reads off the step's graph every variable it writes, and off the graph of refining's
    # measurements (on held-back batches or on `validation_data`) every variable they write; for a
    # model with `run_eagerly=True`, off a trace made only to be read.
    x, y = data
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    calls = tf.Variable(0, trainable=False)
    model = _hidden_state_model(teacher, calls)
    model.compile(keras.optimizers.Adam(), "mse", jit_compile=mode == "xla", run_eagerly=mode == "eager")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    model.evaluate(x[:64], y[:64], batch_size=32, verbose=0)
    hidden = model.layers[0]
    written = [hidden.held.count, hidden.held.noise.state, hidden.deep[0][0][0]["sum"], calls, hidden.held.seen]
    assert float(hidden.held.count.numpy()) == 32 and int(calls.numpy()) == 32 and float(hidden.held.seen.numpy()) == 2
    before = state_of(model, model.optimizer) + [np.array(v.numpy()) for v in written]
    finder = LRFinder(model, verbose=False)
    finder((x, y), batch_size=32, **({"validation_data": (x[:64], y[:64])} if validation else {}))
    assert finder.trials is not None  # the runs wrote to them too
    assert_same_state(before, state_of(model, model.optimizer) + [np.array(v.numpy()) for v in written])
    # What the step only reads is not copied: the teacher's weights, the scale.
    saved = {id(v) for v in finder._snapshot.variables}
    assert not saved.intersection(id(v.value) for v in teacher.variables) and id(hidden.held.scale) not in saved
    if mode != "eager":  # the trace read is the one the steps and the measurements run
        assert finder._run.experimental_get_tracing_count() == 1
        assert finder._evaluate.experimental_get_tracing_count() == 1


def test_a_stateful_rnns_carried_states_are_restored_too():
    # Keras creates a stateful RNN's states (carried from batch to batch) outside `model.variables`:
    # the finder used to leave them as its last batch left them. Now they are restored with the rest,
    # and where the finder builds the model, they are left at zero, where `fit` starts them.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32 * 40, 5, 3)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None]

    def layers():
        return [keras.layers.LSTM(8, stateful=True, return_sequences=True),
                keras.layers.Bidirectional(keras.layers.GRU(4, stateful=True)), keras.layers.Dense(1)]

    model = keras.Sequential([keras.Input((5, 3), batch_size=32), *layers()])
    model.compile(keras.optimizers.Adam(), "mse")
    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)  # states carried, not zero
    lstm, bidirectional = model.layers[:2]
    states = [*lstm.states, *bidirectional.forward_layer.states, *bidirectional.backward_layer.states]
    assert len(states) == 4 and all(np.abs(v.numpy()).sum() > 0 for v in states)  # LSTM h and c, two GRUs' h
    before = state_of(model, model.optimizer) + [v.numpy().copy() for v in states]
    LRFinder(model, verbose=False)((x, y), batch_size=32)
    assert_same_state(before, state_of(model, model.optimizer) + [v.numpy() for v in states])

    unbuilt = keras.Sequential(layers())
    LRFinder(unbuilt, keras.optimizers.Adam(), "mse", verbose=False)((x, y), batch_size=32, n_steps=30)
    bidirectional = unbuilt.layers[1]
    carried = [*unbuilt.layers[0].states, *bidirectional.forward_layer.states, *bidirectional.backward_layer.states]
    assert len(carried) == 4 and not any(np.abs(v.numpy()).sum() for v in carried)


def test_a_model_that_fixes_its_batch_size_takes_a_smaller_last_batch_as_fit_does():
    # Only a stateful model's steps are given the batch size its `keras.Input` fixes (Keras 3.12's
    # stateful RNNs need it static); another takes the last batch of 4 rows, as `fit` takes it.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((3,), batch_size=32), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(), "mse")
    with pytest.warns(UserWarning, match="cycled after 4 batches"):
        LRFinder(model, verbose=False)((x, y), batch_size=32, n_steps=20, refine=False)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)


def test_unbuilt_optimizer_gets_slots_before_the_snapshot(data):
    model, optimizer = make_model(), keras.optimizers.Adam()
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    finder(data, batch_size=32, n_steps=20, max_lr=1.0)
    assert optimizer.built and int(optimizer.iterations) == 0
    assert all(not np.any(v.numpy()) for v in optimizer.variables if "momentum" in v.path or "velocity" in v.path)


def test_exception_from_the_data_pipeline_restores_and_reaches_the_caller(data):
    x, y = data
    model = make_model()
    optimizer = stepped(keras.optimizers.Adam(), model, x, y)
    before = state_of(model, optimizer)

    def gen():
        for i in range(0, 1024, 32):
            if i == 7 * 32:
                raise RuntimeError("pipeline broke at batch 7")
            yield x[i:i + 32], y[i:i + 32]

    ds = tf.data.Dataset.from_generator(gen, output_signature=(
        tf.TensorSpec((None, 4), tf.float32), tf.TensorSpec((None, 1), tf.float32)))
    finder = LRFinder(model, optimizer, "mse", verbose=False, steps_per_execution=5)
    with pytest.raises(Exception, match="pipeline broke at batch 7"):
        finder(ds, n_steps=50)
    assert_same_state(before, state_of(model, optimizer))


def test_keyboard_interrupt_restores_and_propagates(data):
    x, y = data
    model = make_model()
    optimizer = stepped(keras.optimizers.SGD(0.1, momentum=0.9), model, x, y)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, "mse", tqdm_class=Interrupt, steps_per_execution=4)
    with pytest.raises(KeyboardInterrupt):
        finder(data, batch_size=32, n_steps=50)
    assert_same_state(before, state_of(model, optimizer))


@pytest.mark.parametrize("part, named, what", [
    ("y", "y \\(the targets\\)", "was NaN or inf on them"),
    # An inf input through tanh leaves that batch's loss finite (tanh(inf) = 1) but not its gradients:
    # the weights turn NaN (and the loss with them on the next, clean batch).
    ("x", "x \\(the inputs\\)", "stayed finite on them, but the step turned the weights NaN or inf"),
    ("sample_weight", "the sample weights", "was NaN or inf on them"),
])
def test_nan_or_inf_in_the_data_raises_naming_the_part_with_the_state_restored(part, named, what):
    x, y = regression_data(1024)
    sample_weight = np.ones(1024, "float32")
    if part == "x":
        x[100, 2] = np.inf  # one input: each unit's input is then +-inf, not NaN (inf - inf)
    else:
        {"y": y, "sample_weight": sample_weight}[part][100] = np.nan
    ds = tf.data.Dataset.from_tensor_slices((x, y, sample_weight)).batch(32)  # row 100: the 4th batch
    model, optimizer = make_model("tanh"), keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the error says it all: no warning about a short sweep beside it
        with pytest.raises(ValueError, match=f"`dataset` holds NaN or inf values in {named}: the sweep's loss at its "
                                             f"step 4 of 100 \\(a rate of .*\\) {what}.* No learning"):
            finder(ds)
    assert finder.stop_reason == "not_finite" and len(finder.losses) == 4
    assert np.isfinite(finder.losses[-1]) == (part == "x")
    assert finder.lr_opt is None and finder.trials is None and finder.warnings == []
    assert_same_state(before, state_of(model, optimizer))


def log_of_zero_at_third_step(optimizer):
    """MSE less log(1 - the optimizer's step count / 2): inf at the third step, at any rate (0 * log(0), a
    NaN, stayed finite on TensorFlow 2.16)."""

    def loss(y_true, y_pred):
        left = 1.0 - keras.ops.cast(optimizer.iterations, "float32") / 2.0
        return keras.ops.mean(keras.ops.square(y_true - y_pred)) - keras.ops.log(left)

    return loss


@pytest.mark.parametrize("stop", ["not_finite", "diverged"])
def test_a_sweep_too_short_to_suggest_raises_why_it_stopped_and_what_to_do_with_the_state_restored(stop):
    # Before, the error was the suggestion rules' own, which cannot know why the sweep stopped: "lower
    # `min_lr`, raise `diverge_factor`, or check the data and model for NaNs", wrong for a loss that turns
    # NaN at 1.45e-7 while it falls (here a log of 0 in the loss; seed 6503 of `benchmarks/robustness.py` turned NaN
    # there too, from another replica's overflow).
    x, y = regression_data(512)
    keras.utils.set_random_seed(0)
    model, optimizer = make_model(), keras.optimizers.SGD()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, "mse" if stop == "diverged" else log_of_zero_at_third_step(optimizer),
                      verbose=False)
    sweep = dict(min_lr=1e3, max_lr=1e6, n_steps=20) if stop == "diverged" else {}
    said = (r"The sweep stopped after 3 of 100 steps, the loss NaN or inf at a rate of 1.45e-07: too few points to "
            r"judge the curve. Where the losses before were not rising, look for a log of 0 .*; else lower `max_lr`. "
            if stop == "not_finite" else r"The sweep stopped after \d of 20 steps, the loss (blowing up|NaN or inf) at "
            r"a rate of .*: too few points to judge the curve.* lower `max_lr`.* ")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, in the error: not warned beside it
        with pytest.raises(ValueError, match=f"^{said}No rate is suggested: the rules need 3 finite losses, and the "
                                             r"sweep recorded \d\. The state is restored\.$") as raised:
            finder((x, y), batch_size=32, **sweep)
    assert "min_lr`, raise" not in str(raised.value)
    assert finder.stop_reason == stop if stop == "not_finite" else finder.stop_reason in ("diverged", "not_finite")
    assert finder.lr_opt is None and finder.warnings[-1] in str(raised.value)  # recorded, as the sweep's
    assert_same_state(before, state_of(model, optimizer))
    with pytest.raises(ValueError, match=f"^{said}No rate is suggested: .* Nothing was changed\\.$"):
        finder.refine((x, y), batch_size=32)  # nothing to refine: said so again, before any run
    assert_same_state(before, state_of(model, optimizer))


@pytest.mark.parametrize("hides", ["relu", "nan_to_num"])
@pytest.mark.parametrize("where", ["sweep", "runs"])
def test_nan_in_x_a_model_hides_from_its_loss_but_not_its_weights_raises_with_the_state_restored(hides, where):
    # A NaN input that the model hides from its loss: the loss stays finite for good, but the
    # gradients turn the first layer's kernel NaN, so every later loss is the same guess and the
    # suggestion is noise (`fit` trains on as silently). A ReLU does this on a CPU (oneDNN's fused
    # ReLU reads a NaN as 0); `nan_to_num` does it everywhere.
    x, y = regression_data(4096)
    x[{"sweep": 100, "runs": 50 * 32}[where], 2] = np.nan  # the 4th batch; or one only the runs read (step 43)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    keras.utils.set_random_seed(0)
    layers = keras.layers
    hidden = ([layers.Dense(8, activation="relu")] if hides == "relu" else
              [layers.Dense(8), layers.Lambda(keras.ops.nan_to_num), layers.Activation("tanh")])
    model, optimizer = keras.Sequential([keras.Input((4,)), *hidden, layers.Dense(1)]), keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    what = ("the sweep's loss at its step 4 of 100 \\(a rate of .*\\)" if where == "sweep" else
            "the loss of refining's run at a rate of .*, at its step 43,")
    # The loss stays finite (a ReLU without oneDNN turns it NaN on the next step: the other message).
    stayed = " stayed finite on them, but the step turned the weights NaN or inf" if hides == "nan_to_num" else ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=f"^`dataset` holds NaN or inf values in x \\(the inputs\\): {what}{stayed}"):
            finder(ds, n_steps=100 if where == "sweep" else 20)
    if where == "sweep":
        assert finder.stop_reason == "not_finite" and len(finder.losses) == 4 and finder.lr_opt is None
    assert finder.trials is None
    assert_same_state(before, state_of(model, optimizer))


def test_missing_targets_a_loss_skips_train_where_replaced_and_are_named_where_their_gradient_leaks():
    # Missing labels (NaN), skipped by the loss with `tf.where`: where the NaN is only dropped, its
    # branch's gradient is still NaN, and the weights turn NaN under a finite loss (under `fit` too,
    # silently); replaced first, they train, and the finder sweeps on them.
    rng = np.random.default_rng(0)
    x, y = regression_data(2048)
    y = np.concatenate([y, -y], axis=1)
    y[rng.random(y.shape) < 0.2] = np.nan

    def leaky(t, p):
        return tf.where(tf.math.is_nan(t), 0.0, (t - p) ** 2)

    def replaced(t, p):
        missing = tf.math.is_nan(t)
        return tf.where(missing, 0.0, (tf.where(missing, 0.0, t) - p) ** 2)

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=re.escape(
            "`dataset` holds NaN or inf values in y (the targets): the sweep's loss at its step 1 of 100 (a rate of "
            "1e-07) stayed finite on them, but the step turned the weights NaN or inf: they are hidden from the "
            "loss's value (a fused ReLU reads a NaN as 0), not from its gradients (a loss that skips missing "
            "targets with `tf.where` must replace them before computing with them")):
        LRFinder(model, keras.optimizers.Adam(), leaky, verbose=False)((x, y), batch_size=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder = LRFinder(model, keras.optimizers.Adam(), replaced, verbose=False)
        assert np.isfinite(finder((x, y), batch_size=32)) and finder.stop_reason == "diverged"


class Impute(keras.layers.Layer):
    """Missing values (NaN) read as 0, as a model for tabular data with gaps may read them."""

    def call(self, inputs):
        return tf.where(tf.math.is_nan(inputs), tf.zeros_like(inputs), inputs)


def test_a_model_that_trains_through_nan_inputs_is_not_blamed_on_its_data_when_the_rate_blows_it_up():
    # 10% of the inputs missing (NaN), which the model imputes: it trains on them as `fit` does. Where
    # a high rate then turns the loss NaN, the data are not to blame (the model had trained through
    # such batches before): the sweep stops there as on finite data, and refining's runs go on. It
    # used to raise "`dataset` holds NaN or inf values in x ... No learning rate trains on such data".
    rng = np.random.default_rng(0)
    x, y = regression_data(4096)
    x[rng.random(x.shape) < 0.1] = np.nan
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), Impute(), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    lr = finder((x, y), batch_size=32, max_lr=1e3, diverge_factor=None)  # only a NaN or inf loss stops it
    assert finder.stop_reason == "not_finite" and not np.isfinite(finder.losses[-1]) and len(finder.losses) > 50
    assert np.isfinite(lr) and finder.trials is not None and np.isfinite(finder.trials.losses).any()
    assert_same_state(before, state_of(model, optimizer))


@pytest.mark.parametrize("where", ["runs", "held_back", "validation"])
def test_nan_in_data_only_refining_reads_raises_naming_it_with_the_state_restored(where):
    x, y = regression_data(4096)
    clean = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    y_bad = y.copy()
    y_bad[{"runs": 50 * 32, "held_back": 3 * 32, "validation": 5}[where]] = np.inf
    bad = tf.data.Dataset.from_tensor_slices((x, y_bad)).batch(32)
    model, optimizer = make_model("dense"), keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    if where == "runs":  # the sweep's 20 batches are clean; the runs read batch 50 at their 43rd step (after 8 held back)
        with pytest.raises(ValueError, match="`dataset` holds NaN or inf values in y .*refining's run at a rate of .*, at its step 43, was"):
            finder(bad, n_steps=20)
        assert finder.lr_opt == finder.suggest().lr  # the sweep's reading, as after Ctrl-C in the runs
    elif where == "held_back":
        finder(clean, n_steps=20, refine=False)
        with pytest.raises(ValueError, match="`dataset` holds NaN or inf values in y .*: the loss before refining's runs, measured on it, was NaN"):
            finder.refine(bad)
    else:
        with pytest.raises(ValueError, match="`validation_data` holds NaN or inf values in y .*before refining's runs, measured on it, was"):
            finder(clean, n_steps=20, validation_data=(x[:256], y_bad[:256]))
    assert finder.trials is None
    assert_same_state(before, state_of(model, optimizer))


@pytest.mark.parametrize("where", ["sweep", "runs"])
def test_an_error_from_a_later_batch_says_at_which_step_with_the_state_restored(where):
    # An input the model asserts against in the 22nd batch (the first passed the finder's checks):
    # TensorFlow's own error, led by where it was raised.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2048, 4)).astype("float32")
    labels = rng.integers(0, 3, 2048)
    x[21 * 32 + 5] = 1000.0

    def checked(t):  # the layer's output waits for the check, as a loss's waits for its labels' check
        with tf.control_dependencies([tf.debugging.assert_less(t, 100.0, "x too large")]):
            return tf.identity(t)

    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(checked), keras.layers.Dense(3)])
    model(x[:32])  # builds the Dense layer after the Lambda
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True), verbose=False)
    ds = tf.data.Dataset.from_tensor_slices((x, labels)).batch(32)
    # The sweep reads batch 22 at its step 22; with 20 steps it never does, and the runs read it at
    # their step 14 (after 8 held-back batches).
    what = "the sweep's step 22 of 100 \\(a rate of 4.98e-06\\)" if where == "sweep" else "refining's run's step 14 of 100"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=f"^TensorFlow raised this at {what}.*The state is restored.\n\n(.|\n)*x too large"):
            finder(ds, n_steps=100 if where == "sweep" else 20)
    assert_same_state(before, state_of(model, optimizer))


def test_a_loss_the_rate_turns_nan_on_finite_data_is_not_blamed_on_the_data(data):
    x, y = data
    finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", verbose=False)
    lr = finder((x, y), batch_size=32, min_lr=1e-3, max_lr=1e6, n_steps=60, diverge_factor=None, refine=False)
    assert finder.stop_reason == "not_finite" and len(finder.losses) < 60 and np.isfinite(lr)


def test_diverge_factor_none_records_the_curve_past_divergence_up_to_a_nan_or_the_end(data, tmp_path):
    # As fastai's `stop_div=False` and Lightning's `early_stop_threshold=None`: the same sweep, not
    # stopped where it diverged. Refining's runs then stop only at a NaN or inf loss too.
    x, y = data
    finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", verbose=False)
    finder((x, y), batch_size=32, min_lr=1e-4, max_lr=100.0, n_steps=60, refine=False)
    stopped = list(finder.losses)
    assert finder.stop_reason == "diverged" and len(stopped) < 60
    finder((x, y), batch_size=32, min_lr=1e-4, max_lr=100.0, n_steps=60, diverge_factor=None)
    assert len(finder.losses) > len(stopped) and finder.stop_reason in ("completed", "not_finite")
    assert finder.losses[:len(stopped)] == stopped  # the same steps, from the same state
    assert finder.settings["diverge_factor"] is None and finder.trials is not None
    save_json(finder.history, tmp_path / "h.json")
    assert load_json(tmp_path / "h.json")["settings"]["diverge_factor"] is None


def test_schedule_optimizer_is_swept_and_keeps_its_schedule(data):
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.5)
    model, optimizer = make_model(), keras.optimizers.Adam(schedule)
    Recorder.seen, Recorder.hook = [], lambda: float(optimizer.learning_rate)
    finder = LRFinder(model, optimizer, "mse", tqdm_class=Recorder, steps_per_execution=5)
    finder(data, batch_size=32, n_steps=20, min_lr=1e-4, max_lr=1e-2)
    # During the sweep the optimizer read the finder's rate: the last rate of each chunk.
    np.testing.assert_allclose(Recorder.seen[:4], np.array(finder.lrs)[4::5], rtol=1e-6)
    # Then the refining runs read it too: each chunk at one of the candidate rates.
    runs = np.array(Recorder.seen[4:])[:, None] / np.array(finder.trials.lrs)[None, :]  # the rate is float32
    assert len(runs) > 0 and np.all(np.min(np.abs(runs - 1), axis=1) < 1e-6)
    assert optimizer._learning_rate is schedule
    assert float(optimizer.learning_rate) == pytest.approx(float(schedule(optimizer.iterations)))


@pytest.mark.parametrize("steps_per_execution", [1, 7])
def test_a_schedule_optimizer_trains_at_the_finders_rates_as_a_float_rate_one_does(data, steps_per_execution):
    # The step must be traced with the finder's rate swapped in: traced outside the swap, it read the
    # schedule, and the sweep trained at the schedule's rates while recording the finder's.
    weights = make_model().get_weights()
    recorded = []
    for rate in (keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.5), 1e-3):
        model = make_model()
        model.set_weights(weights)
        finder = LRFinder(model, keras.optimizers.SGD(rate), "mse", verbose=False,
                          steps_per_execution=steps_per_execution)
        finder(data, batch_size=32, n_steps=40, min_lr=1e-3, max_lr=10.0)
        recorded.append((finder.losses, finder.stop_reason, finder.trials.losses))
    assert recorded[0][1] == "diverged"  # the finder's rates reach where this model diverges
    np.testing.assert_allclose(recorded[0][0], recorded[1][0], rtol=1e-6)
    np.testing.assert_allclose(recorded[0][2], recorded[1][2], rtol=1e-5)


def test_float_rate_is_restored_and_still_tracked(data):
    model, optimizer = make_model(), keras.optimizers.SGD(0.05)
    LRFinder(model, optimizer, "mse", verbose=False)(data, batch_size=32, n_steps=20)
    assert float(optimizer.learning_rate) == pytest.approx(0.05)
    assert any("learning_rate" in v.path for v in optimizer.variables)


def test_traces_once_and_repeats_exactly(data):
    finder = LRFinder(make_model(), keras.optimizers.Adam(), "mse", verbose=False, steps_per_execution=7)
    finder(data, batch_size=32, n_steps=50)
    first = list(finder.losses)
    x2, y2 = regression_data(seed=1)
    finder(data, batch_size=32, n_steps=50)
    assert finder.losses == first  # same data, same state: the same curve
    finder((x2, y2), batch_size=32, n_steps=30)  # new data of the same shape
    assert finder._run.experimental_get_tracing_count() == 1


def test_chunked_sweep_matches_one_step_per_call(data):
    curves = []
    for spe in (1, 9, 100):
        finder = LRFinder(make_model(), keras.optimizers.Adam(), "mse", verbose=False, steps_per_execution=spe)
        finder(data, batch_size=32, n_steps=40, min_lr=1e-5, max_lr=1e-2)
        assert finder.stop_reason == "completed"
        curves.append(finder.losses)
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-5)
    np.testing.assert_allclose(curves[0], curves[2], rtol=1e-5)


def test_device_smoothing_and_stop_step_match_the_numpy_reference(data):
    finder = LRFinder(make_model(), keras.optimizers.SGD(momentum=0.9), "mse", verbose=False)
    finder(data, batch_size=32, n_steps=100, smoothing=0.9)
    np.testing.assert_allclose(finder.smoothed_losses, ema(np.array(finder.losses), 0.9), rtol=1e-12)
    assert finder.stop_reason == "diverged"
    assert stop_index(np.array(finder.losses), 0.9, 4.0) == len(finder.losses) - 1
    assert finder.settings["smoothing"] == 0.9


def test_schedule_recorded_exactly(data):
    finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", verbose=False)
    finder(data, batch_size=32, n_steps=5, min_lr=1e-5, max_lr=1e-1)
    assert finder.lrs == [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]


def test_compiled_model_alone_uses_its_optimizer_and_loss_with_regularisation():
    x, y = regression_data(64)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(10.0))])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    before = state_of(model, model.optimizer)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    finder = LRFinder(model, verbose=False)
    finder(ds, n_steps=10, max_lr=1e-3)
    expected = float(tf.reduce_mean((model(x) - y) ** 2)) + 10.0 * float(tf.reduce_sum(model.layers[0].kernel ** 2))
    assert finder.losses[0] == pytest.approx(expected, rel=1e-5)
    assert finder.optimizer is model.optimizer
    assert_same_state(before, state_of(model, model.optimizer))


def test_explicit_loss_gets_sample_weights_and_regularisation():
    x, y = regression_data(64)
    w = np.where(np.arange(64) < 32, 1.0, 0.0).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(1.0))])
    ds = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(64)
    finder = LRFinder(model, keras.optimizers.SGD(), keras.losses.MeanSquaredError(), verbose=False)
    finder(ds, n_steps=10, max_lr=1e-3)
    per_sample = tf.reduce_mean((model(x) - y) ** 2, axis=1).numpy()
    expected = (per_sample * w).sum() / 64 + float(tf.reduce_sum(model.layers[0].kernel ** 2))
    assert finder.losses[0] == pytest.approx(expected, rel=1e-5)


def test_optimizer_and_loss_by_name_as_compile_reads_them(data):
    model = make_model()
    before = [v.numpy() for v in model.variables]
    finder = LRFinder(model, "sgd", "mse", verbose=False)
    assert type(finder.optimizer) is keras.optimizers.SGD and finder.optimizer.momentum == 0.0
    finder(data, batch_size=32, n_steps=20, max_lr=1e-2, refine=False)
    assert len(finder.losses) == 20 and finder.losses[-1] < finder.losses[0]  # it trained, as plain SGD
    assert_same_state(before, [v.numpy() for v in model.variables])
    assert float(finder.optimizer.learning_rate) == pytest.approx(0.01)  # Keras's default rate, restored


def test_compiled_model_with_two_outputs_uses_their_losses_and_weights(data):
    x, y = data
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, {"a": keras.layers.Dense(1, name="a")(hidden),
                                 "b": keras.layers.Dense(1, name="b")(hidden)})
    model.compile(optimizer=keras.optimizers.SGD(), loss={"a": "mse", "b": "mae"}, loss_weights={"a": 1.0, "b": 3.0})
    finder = LRFinder(model, verbose=False)
    finder(tf.data.Dataset.from_tensor_slices((x, {"a": y, "b": -y})).batch(32), n_steps=10, max_lr=1e-4,
           refine=False)
    out = model(x[:32])
    expected = (float(tf.reduce_mean((out["a"] - y[:32]) ** 2)) + 3.0 * float(tf.reduce_mean(tf.abs(out["b"] + y[:32]))))
    assert finder.losses[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("outputs", ["list", "dict"])
def test_an_output_compiled_without_a_loss_needs_no_targets_as_in_fit(data, outputs):
    """`compile(loss={"a": "mse", "b": None})`: "b" is only read, and `fit` takes targets for "a"
    alone. The finder built the compiled loss from those targets as they came, not matched to the
    outputs first as Keras's call matches them, and refused them as not fitting the loss."""
    x, y = data
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    heads = [keras.layers.Dense(1, name="a")(hidden), keras.layers.Dense(3, name="b")(hidden)]
    model = keras.Model(inputs, heads if outputs == "list" else dict(zip("ab", heads)))
    model.compile(optimizer=keras.optimizers.SGD(), loss=["mse", None] if outputs == "list" else {"a": "mse", "b": None})
    targets = (y,) if outputs == "list" else {"a": y}
    before = [v.numpy() for v in model.variables]
    finder = LRFinder(model, verbose=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Gradients do not exist")  # Keras's, for "b" (`fit` gives it too)
        lr = finder(tf.data.Dataset.from_tensor_slices((x, targets)).batch(32), n_steps=20)  # the first batch known
    first = model(x[:32])[0 if outputs == "list" else "a"]
    assert np.isfinite(lr) and finder.losses[0] == pytest.approx(float(np.mean((first - y[:32]) ** 2)), rel=1e-5)
    assert_same_state(before, [v.numpy() for v in model.variables])
    model.fit(x, targets, batch_size=32, epochs=1, verbose=0)  # as Keras trains it


@pytest.mark.parametrize("form", ["dataset", "arrays"])
def test_table_columns_for_inputs_declared_with_a_last_axis_of_1_sweep_as_in_fit(form):
    """Keras's structured-data tutorials: a dict of a table's columns, each of shape `(batch,)`, for
    `keras.Input((1,), name=column)`s. The model adds the last axis itself, and `fit` trains it; the
    finder refused the data as unbatched."""
    rng = np.random.default_rng(0)
    n = 256
    columns = {"age": rng.normal(50.0, 10.0, n).astype("float32"),
               "thal": rng.choice(["fixed", "normal", "reversible"], n).astype(object)}
    y = ((columns["age"] - 50.0) / 10.0 + (columns["thal"] == "fixed") > 0.5).astype("float32")
    keras.utils.set_random_seed(0)
    inputs = {"age": keras.Input((1,), name="age"), "thal": keras.Input((1,), name="thal", dtype="string")}
    lookup = keras.layers.StringLookup(vocabulary=["fixed", "normal", "reversible"], output_mode="one_hot")
    features = keras.layers.concatenate([keras.layers.Rescaling(0.1, offset=-5.0)(inputs["age"]),
                                         lookup(inputs["thal"])])
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dense(8, "relu")(features)))
    model.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")
    before = [v.numpy() for v in model.variables]
    finder = LRFinder(model, verbose=False)
    if form == "dataset":
        lr = finder(tf.data.Dataset.from_tensor_slices((columns, y)).batch(32), n_steps=20)  # the first batch known
        first = {name: column[:32] for name, column in columns.items()}
        expected = keras.losses.binary_crossentropy(y[:32], model(first)[:, 0])
        assert finder.losses[0] == pytest.approx(float(np.mean(expected)), rel=1e-5)
    else:
        lr = finder((columns, y), batch_size=32, n_steps=20)
    assert np.isfinite(lr) and len(finder.losses) > 1
    assert_same_state(before, [v.numpy() for v in model.variables])
    model.fit(columns, y, batch_size=32, epochs=1, verbose=0)  # as Keras trains it


@pytest.mark.parametrize("form", ["arrays", "generator"])
def test_a_dict_of_x_for_a_list_of_named_inputs_is_read_by_their_names_as_in_fit(form):
    """`keras.Model([z, a], ...)` fed `{"a": ..., "z": ...}`: Keras pairs the dict with the inputs by
    their names, and `fit` trains it. The finder paired the dict's leaves, flattened by key, with the
    inputs in order: "a"'s column (batch,) against z's (None, 3) read as unbatched, and a generator's
    batches of "a" (batch, 2) against z's as of the wrong shape."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(256, 3)).astype("float32")
    y = (2.0 * z[:, :1]).astype("float32")
    keras.utils.set_random_seed(0)
    for a in (rng.normal(size=256).astype("float32"), rng.normal(size=(256, 2)).astype("float32")):
        inputs = [keras.Input((3,), name="z"), keras.Input((1 if a.ndim == 1 else 2,), name="a")]
        model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Concatenate()([inputs[0], keras.layers.Dense(2)(inputs[1])])))
        model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
        x = {"a": a, "z": z}
        before = [v.numpy() for v in model.variables]
        finder = LRFinder(model, verbose=False)
        if form == "arrays":
            lr = finder((x, y), batch_size=32, n_steps=20)
        else:
            lr = finder(({"a": a[i:i + 32], "z": z[i:i + 32]}, y[i:i + 32]) for i in range(0, 256, 32))
        assert np.isfinite(lr) and len(finder.losses) > 1
        assert_same_state(before, [v.numpy() for v in model.variables])
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # as Keras trains it


@pytest.mark.parametrize("form", ["dataset", "arrays", "generator"])
def test_an_optional_input_left_out_as_none_sweeps_as_in_fit(form):
    """`keras.Input(optional=True)` takes None for a batch's input, and `fit` trains on
    `{"a": None, "b": ...}`. The finder failed on it: an AttributeError on a pipeline's spec of None,
    arrays refused as not arrays, a generator's None not convertible to a tensor."""
    rng = np.random.default_rng(0)
    b = rng.normal(size=(256, 4)).astype("float32")
    y = b.sum(axis=1, keepdims=True).astype("float32")
    x = {"a": None, "b": b}
    keras.utils.set_random_seed(0)
    model = optional_input_model(4, keras.layers.BatchNormalization())
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    # the loss of the first batch, in training (which moves BatchNormalization's statistics, so before the snapshot)
    expected = float(np.mean(keras.losses.mean_squared_error(y[:32], model({"a": None, "b": b[:32]}, training=True))))
    before = [v.numpy() for v in model.variables]
    finder = LRFinder(model, verbose=False)
    if form == "dataset":
        lr = finder(tf.data.Dataset.from_tensor_slices((x, y)).batch(32), n_steps=20)  # the first batch known
        assert finder.losses[0] == pytest.approx(expected, rel=1e-5)
    elif form == "arrays":
        lr = finder((x, y), batch_size=32, n_steps=20, validation_split=0.25)
    else:
        lr = finder(({"a": None, "b": b[i:i + 32]}, y[i:i + 32]) for i in range(0, 256, 32))
    assert np.isfinite(lr) and len(finder.losses) > 1
    assert_same_state(before, [v.numpy() for v in model.variables])
    if form == "generator":  # left out in one batch only: told, before anything changes
        batches = [({"a": None, "b": b[:32]}, y[:32]), ({"a": b[32:64], "b": b[32:64]}, y[32:64])]
        with pytest.raises(ValueError, match=r"left out \(None\) in every batch or in none.*None in batch 0 and a "
                                             r"tensor in batch 1"):
            LRFinder(model, verbose=False)(iter(batches))
        assert_same_state(before, [v.numpy() for v in model.variables])
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # as Keras trains it


def test_an_ordered_dict_of_columns_out_of_sorted_order_is_refused_where_keras_would_swap_the_inputs():
    """`tf.data.experimental.make_csv_dataset` yields a file's columns as an OrderedDict. Keras 3
    flattens it in its own order, and a model's dict of inputs in the sorted order of their names:
    "b"'s column reaches input "a" and the other way round, in `fit` too, with no error. The finder
    swept such data as Keras reads it (a pipeline), or as a plain dict (arrays, a generator)."""
    rng = np.random.default_rng(0)
    columns = OrderedDict([("b", rng.normal(size=256).astype("float32")), ("a", rng.normal(size=256).astype("float32"))])
    y = (columns["a"] + 10.0 * columns["b"]).astype("float32")
    keras.utils.set_random_seed(0)
    inputs = {"b": keras.Input((1,), name="b"), "a": keras.Input((1,), name="a")}
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Concatenate()([inputs["a"], 10.0 * inputs["b"]])))
    model.compile(optimizer=keras.optimizers.SGD(), loss="mse")
    first = OrderedDict((name, column[:4]) for name, column in columns.items())
    swapped = not np.allclose(model(first), model(dict(first)))  # as Keras 3.8 to 3.15 read it
    before = [v.numpy() for v in model.variables]
    calls = {
        "pipeline": lambda finder: finder(tf.data.Dataset.from_tensor_slices((columns, y)).batch(32), n_steps=20),
        "arrays": lambda finder: finder((columns, y), batch_size=32, n_steps=20),
        "generator": lambda finder: finder(((OrderedDict((k, v[i:i + 32]) for k, v in columns.items()), y[i:i + 32])
                                            for i in range(0, 256, 32)), n_steps=20),
        "validation_data": lambda finder: finder((dict(columns), y), batch_size=32, n_steps=20,
                                                 validation_data=(columns, y)),
    }
    for form, call in calls.items():
        finder = LRFinder(model, verbose=False)
        if swapped:
            told = "`validation_data`'s" if form == "validation_data" else "`dataset`'s"
            with pytest.raises(ValueError, match=re.escape(f"{told} x is an OrderedDict whose keys are not in sorted "
                                                           "order (['b', 'a'])")) as raised:
                call(finder)
            assert "`dataset.map(lambda x, y: (dict(x), y))`" in str(raised.value), form
            assert not model.optimizer.built
        else:
            assert np.isfinite(call(finder)), form
        assert_same_state(before, [v.numpy() for v in model.variables])
    # Sorted keys, a plain dict, or named inputs declared as a list (read by name): swept.
    listed = keras.Model([inputs["b"], inputs["a"]], model.outputs)
    listed.compile(optimizer=keras.optimizers.SGD(), loss="mse")
    for sweeps, x in ((model, OrderedDict(sorted(columns.items()))), (model, dict(columns)), (listed, columns)):
        assert np.isfinite(LRFinder(sweeps, verbose=False)((x, y), batch_size=32, n_steps=20))


def test_targets_keyed_unlike_the_outputs_are_told_what_to_change_before_anything_changes(data):
    """Not the advice on class labels that a misfit of shapes gets: y's keys against the outputs'."""
    x, y = data
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, {"a": keras.layers.Dense(1, name="a")(hidden), "b": keras.layers.Dense(1, name="b")(hidden)})
    model.compile(optimizer=keras.optimizers.SGD(), loss={"a": "mse", "b": "mse"})
    before = [v.numpy() for v in model.variables]
    unlossed = ("y holds no targets for the model's outputs ['b']: give them, or, for an output that is only read, "
                "compile it with a loss of None (`loss={'b': None, ...}`)")
    for targets, told in (({"A": y, "b": y}, ["y's keys ['A'] name no output of the model (its outputs: ['a', 'b']): "
                                              "key the targets by the outputs' names"]),
                          ({"a": y}, [unlossed]),
                          ({"a": y, "b": None}, [unlossed, "y of shape {'a': (32, 1), 'b': None}, the model's output"])):
        with pytest.raises(ValueError, match="`dataset`'s targets do not fit the loss") as raised:
            LRFinder(model, verbose=False)((x, targets), batch_size=32)
        assert all(part in str(raised.value) for part in told) and "Integer class labels" not in str(raised.value)
        assert_same_state(before, [v.numpy() for v in model.variables])
        assert not model.optimizer.built
    # None for an output compiled with a loss of None, as `fit` takes it: the sweep runs
    model.compile(optimizer=keras.optimizers.SGD(), loss={"a": "mse", "b": None})
    assert np.isfinite(LRFinder(model, verbose=False)((x, {"a": y, "b": None}), batch_size=32, n_steps=20))
    assert_same_state(before, [v.numpy() for v in model.variables])
    model.compile(optimizer=keras.optimizers.SGD(), loss={"a": "mse", "b": "mse"})
    listed = keras.Model(inputs, [model.get_layer("a").output, model.get_layer("b").output])
    listed.compile(optimizer=keras.optimizers.SGD(), loss=["mse", "mse"])
    with pytest.raises(ValueError, match=re.escape("y holds 1 targets for the model's 2 outputs: give one for each")):
        LRFinder(listed, verbose=False)((x, (y,)), batch_size=32)
    with pytest.raises(ValueError, match=re.escape("y holds no targets (None) for the model's outputs [1] (by position): "
                                                   "give them, or, for an output that is only read, compile it with a "
                                                   "loss of None (`loss=[..., None]`)")):
        LRFinder(listed, verbose=False)((x, [y, None]), batch_size=32)
    single = keras.Model(inputs, model.get_layer("a").output)  # one output: `fit` fails on a dict of targets too
    single.compile(optimizer=keras.optimizers.SGD(), loss="mse")
    with pytest.raises(ValueError, match=re.escape("y is a dict (keys ['a']) for the model's one output: give its "
                                                   "targets as one array (`y['a']`)")):
        LRFinder(single, verbose=False)((x, {"a": y}), batch_size=32)
    assert_same_state(before, [v.numpy() for v in model.variables])
    assert not single.optimizer.built
    # One array for both outputs: `fit` raises Keras's error on the structures, or its KeyError where one
    # loss is compiled for both.
    for outputs, loss, told in ((model, {"a": "mse", "b": "mse"}, "y is one array for the model's 2 outputs ['a', 'b']: "
                                 "give one for each, keyed by the outputs' names (`{'a': y, ...}`)"),
                                (listed, ["mse", "mse"], "y is one array for the model's 2 outputs: give one for each, "
                                 "as a list in their order (`[y, y_aux]`)"),
                                (listed, "mse", "raised KeyError: ")):
        outputs.compile(optimizer=keras.optimizers.SGD(), loss=loss)
        with pytest.raises(ValueError, match="`dataset`'s targets do not fit the loss") as raised:
            LRFinder(outputs, verbose=False)((x, y), batch_size=32)
        assert told in str(raised.value) and "Integer class labels" not in str(raised.value)
        assert "y is one array for the model's 2 outputs" in str(raised.value)
        assert_same_state(before, [v.numpy() for v in model.variables])
        assert not outputs.optimizer.built


@pytest.mark.parametrize("outputs", ["list", "dict"])
@pytest.mark.parametrize("loss", ["name", "keras", "function"])
def test_one_loss_for_a_model_with_two_outputs_applies_to_each_as_compile_does(loss, outputs, data):
    # `compile(loss=one)` applies it to every output and sums; `loss_fn=one` had been applied to the
    # outputs as one structure, and the finder said the targets did not fit it.
    x, y = data
    weights = np.linspace(0.5, 1.5, len(x)).astype("float32")
    targets = (y, np.concatenate([y, -y], axis=1))
    one = {"name": "mse", "keras": keras.losses.MeanSquaredError(),
           "function": lambda t, p: tf.reduce_mean((t - p) ** 2, axis=-1)}[loss]  # per sample, as weights need

    def model():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        heads = [keras.layers.Dense(1, name="a")(hidden), keras.layers.Dense(2, name="b")(hidden)]
        return keras.Model(inputs, heads if outputs == "list" else dict(zip("ab", heads)))

    batches = (x, targets if outputs == "list" else dict(zip("ab", targets)), weights)
    compiled = model()
    compiled.compile(optimizer=keras.optimizers.SGD(), loss=one)
    losses = []
    for finder in (LRFinder(model(), keras.optimizers.SGD(), one, verbose=False), LRFinder(compiled, verbose=False)):
        keras.utils.set_random_seed(1)
        finder(batches, batch_size=32, n_steps=10, max_lr=1e-2, refine=False)
        losses.append(finder.losses)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)


class AddsItsLoss(keras.Model):
    """An autoencoder compiled without a loss: its loss comes from `add_loss` in `call`, plus an L2 penalty."""

    def __init__(self):
        super().__init__()
        self.norm = keras.layers.BatchNormalization()
        self.dense = keras.layers.Dense(4, kernel_regularizer=keras.regularizers.L2(0.01))

    def call(self, x, training=False):
        out = self.dense(self.norm(x, training=training))
        self.add_loss(tf.reduce_mean((out - x) ** 2))
        return out


class ComputesItsLoss(keras.Model):
    """Compiled without a loss; overrides `compute_loss`, as Keras 3's guides show."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)

    def call(self, x, training=False):
        return self.dense(x)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return tf.reduce_mean(tf.abs(y_pred - y))


class ComputesItsLossWithoutTraining(ComputesItsLoss):
    """Its `compute_loss` takes no `training`, as Keras's knowledge distillation example writes it: Keras's
    `fit` passes it only to one that takes it."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
        return tf.reduce_mean(tf.abs(y_pred - y))


@pytest.mark.parametrize("make,targets", [(AddsItsLoss, "x"), (ComputesItsLoss, "y"), (ComputesItsLossWithoutTraining, "y")])
def test_model_compiled_without_a_loss_that_computes_its_own(make, targets, data):
    x, y = data
    keras.utils.set_random_seed(0)
    model = make()
    model.compile(optimizer=keras.optimizers.Adam())
    model(x[:2])
    model.optimizer.build(model.trainable_variables)
    before = state_of(model, model.optimizer)
    finder = LRFinder(model, verbose=False)
    target = x if targets == "x" else y
    lr = finder(tf.data.Dataset.from_tensor_slices((x, target)).batch(32), n_steps=40)  # sweep, then refine
    assert np.isfinite(lr) and lr == finder.trials.lr
    assert_same_state(before, state_of(model, model.optimizer))
    first = model(x[:32], training=True)  # the first step's loss, from the restored weights
    expected = (sum(model.losses) if targets == "x"  # `add_loss`'s and the L2 penalty
                else tf.reduce_mean(tf.abs(first - y[:32])))
    assert finder.losses[0] == pytest.approx(float(expected), rel=1e-5)  # the model's own loss


def test_a_new_optimizer_or_loss_set_on_the_finder_is_the_one_swept(data):
    model = make_model()
    adam, sgd = keras.optimizers.Adam(), keras.optimizers.SGD()
    for optimizer in (adam, sgd):
        optimizer.build(model.trainable_variables)
    before = state_of(model, adam) + state_of(model, sgd)
    finder = LRFinder(model, adam, "mse", verbose=False)
    finder(data, batch_size=32, n_steps=30, refine=False)
    finder.optimizer = sgd
    finder.loss_fn = "mae"
    lr = finder(data, batch_size=32, n_steps=30, refine=False)
    assert_same_state(before, state_of(model, adam) + state_of(model, sgd))  # both untouched
    fresh = LRFinder(model, keras.optimizers.SGD(), "mae", verbose=False)
    assert lr == fresh(data, batch_size=32, n_steps=30, refine=False) and finder.losses == fresh.losses
    with pytest.raises(ValueError, match="`steps_per_execution` must be a positive integer. Received: steps_per_execution=0"):
        finder.steps_per_execution = 0
    assert finder.steps_per_execution == 20 and finder.optimizer is sgd  # the old value kept
    assert finder(data, batch_size=32, n_steps=30, refine=False) == lr


def test_layers_frozen_or_unfrozen_and_a_new_compile_are_followed(data):
    model = make_model()
    model.layers[0].trainable = False
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    follows = LRFinder(model, verbose=False)  # the compiled optimizer and loss
    follows(data, batch_size=32, n_steps=30, refine=False)
    model.layers[0].trainable = True
    model.compile(optimizer=keras.optimizers.SGD(), loss="mae")  # as Keras asks after unfreezing
    follows(data, batch_size=32, n_steps=30, refine=False)
    assert follows.optimizer is model.optimizer
    fresh = LRFinder(model, verbose=False)
    fresh(data, batch_size=32, n_steps=30, refine=False)
    assert follows.losses == fresh.losses

    own = LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)  # built for all the layers
    own(data, batch_size=32, n_steps=30, refine=False)
    model.layers[0].trainable = False  # frozen: the same finder now trains the last layers only
    own(data, batch_size=32, n_steps=30, refine=False)
    again = LRFinder(model, own.optimizer, "mse", verbose=False)
    again(data, batch_size=32, n_steps=30, refine=False)
    assert own.losses == again.losses

    model.layers[0].trainable = True
    narrow = keras.optimizers.Adam()
    narrow.build(model.layers[-1].trainable_variables)  # built before the other layers were unfrozen
    before = state_of(model, narrow)
    with pytest.raises(ValueError, match=re.escape("`optimizer` was built for other variables than the model's trainable ones")):
        LRFinder(model, narrow, "mse", verbose=False)(data, batch_size=32, n_steps=30)
    assert_same_state(before, state_of(model, narrow))
    # A LossScaleOptimizer's inner optimizer holds the slots: it is the one checked (on Keras 3.10
    # the outer one's check refused even the variables it was built for).
    for built_for, fits in [(model.layers[-1].trainable_variables, False), (model.trainable_variables, True)]:
        scaled = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam())
        scaled.build(built_for)
        finder = LRFinder(model, scaled, "mse", verbose=False)
        if fits:
            assert np.isfinite(finder(data, batch_size=32, n_steps=30, refine=False))
        else:
            with pytest.raises(ValueError, match=re.escape("`optimizer` was built for other variables")):
                finder(data, batch_size=32, n_steps=30)


def test_a_model_with_its_own_train_step_trained_by_the_finders_step_is_warned_about():
    class OwnStep(keras.Sequential):
        def train_step(self, data):
            return super().train_step(data)

    model = OwnStep([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.warns(UserWarning, match=r"`model` \(OwnStep\) overrides `train_step`, which the finder does not call "
                                         r"with step='finder'"):
        finder = LRFinder(model, keras.optimizers.SGD(), "mse", step="finder")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        finder.loss_fn = "mae"  # the same model: said once
        LRFinder(make_model(), keras.optimizers.SGD(), "mse")  # a plain model: no warning


def test_a_model_that_computes_its_own_loss_takes_x_alone_as_fit_does(data):
    x, _ = data
    keras.utils.set_random_seed(0)
    model = AddsItsLoss()
    model.compile(optimizer=keras.optimizers.Adam())
    finder = LRFinder(model, verbose=False)
    sweeps = []
    for alone, pair in [(lambda: x, lambda: (x, x)),  # arrays, with batch_size: the same shuffle
                        (lambda: tf.data.Dataset.from_tensor_slices(x).batch(32),
                         lambda: tf.data.Dataset.from_tensor_slices((x, x)).batch(32)),
                        (lambda: (x[i:i + 32] for i in range(0, 1024, 32)),  # a generator of x batches
                         lambda: ((x[i:i + 32], x[i:i + 32]) for i in range(0, 1024, 32)))]:
        size = 32 if isinstance(alone(), np.ndarray) else None
        lr = finder(alone(), batch_size=size, n_steps=30)  # the sweep, then refine
        sweeps.append(finder.losses)
        assert lr == finder(pair(), batch_size=size, n_steps=30) and sweeps[-1] == finder.losses
    with pytest.raises(TypeError, match="`dataset` must hold targets too"):  # a loss that needs y
        LRFinder(make_model(), keras.optimizers.Adam(), "mse")(x, batch_size=32)


class AddsItsLossWhenTraining(AddsItsLoss):
    """Its L2 penalty is there in inference mode too, but it is no loss to measure the runs by."""

    def call(self, x, training=False):
        out = self.dense(self.norm(x, training=training))
        if training:
            self.add_loss(tf.reduce_mean((out - x) ** 2))
        return out


def test_model_adding_its_loss_only_when_training_sweeps_but_refine_says_why_not(data):
    x, _ = data
    keras.utils.set_random_seed(0)
    model = AddsItsLossWhenTraining()
    model.compile(optimizer=keras.optimizers.Adam())
    model(x[:2])
    finder = LRFinder(model, verbose=False)
    with pytest.raises(ValueError, match=re.escape("No loss in inference mode: `model` was compiled without a loss")):
        finder((x, x), batch_size=32, n_steps=20, refine=True)  # refining measures its runs in inference mode
    assert not model.optimizer.built  # raised before the finder built the slots
    with pytest.warns(UserWarning, match=r"No loss in inference mode: .* So this call skips refining"):
        lr = finder((x, x), batch_size=32, n_steps=20)  # refining by default, not asked for: skipped
    assert np.isfinite(lr) and len(finder.losses) == 20 and finder.trials is None
    assert finder.warnings[0].startswith("No loss in inference mode") and finder.settings["refine"] is False
    assert lr == finder((x, x), batch_size=32, n_steps=20, refine=False)  # the sweep alone needs training mode only
    assert not finder.warnings  # asked for so: no warning
    with pytest.raises(ValueError, match="No loss in inference mode"):
        finder.refine((x, x), batch_size=32)


def test_model_compiled_without_any_loss_raises_before_any_state_changes(data):
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam())
    model(data[0][:2])
    with pytest.raises(ValueError, match=re.escape("No loss: `model` was compiled without a loss, adds none")):
        LRFinder(model, verbose=False)(data, batch_size=32, n_steps=20)
    assert not model.optimizer.built  # raised before the finder built the slots


def test_dict_inputs_and_plain_function_loss():
    x, y = regression_data(256)
    a = keras.Input((2,), name="a")
    b = keras.Input((2,), name="b")
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([a, b]))
    model = keras.Model({"a": a, "b": b}, out)
    finder = LRFinder(model, keras.optimizers.Adam(), lambda t, p: tf.reduce_mean((t - p) ** 2, axis=-1),
                      verbose=False)
    lr = finder(({"a": x[:, :2], "b": x[:, 2:]}, y), batch_size=32, n_steps=30)
    assert np.isfinite(lr) and len(finder.losses) >= 10


@pytest.mark.parametrize("weighted", [False, True])
def test_a_plain_function_loss_sees_targets_and_outputs_of_one_rank_as_under_compile(weighted):
    # Targets of shape (batch,) against an output of (batch, 1): `compile(loss=fn)` brings them to
    # one rank before calling fn (as Keras's own losses do), so `(t - p) ** 2` is one loss per sample,
    # not a (batch, batch) table of every target against every output, which trains to the mean.
    x, y = regression_data(1024)
    y = y[:, 0]
    data = (x, y, np.linspace(0.5, 1.5, 1024).astype("float32")) if weighted else (x, y)
    model = make_model("dense")
    losses = {}
    for name, loss in (("function", lambda t, p: (t - p) ** 2), ("keras", keras.losses.MeanSquaredError())):
        finder = LRFinder(model, keras.optimizers.Adam(), loss, verbose=False)
        keras.utils.set_random_seed(1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            finder(data, batch_size=32, n_steps=30, refine=False)
        losses[name] = finder.losses
    np.testing.assert_allclose(losses["function"], losses["keras"], rtol=1e-5)


@pytest.mark.parametrize("location", ["host", "disk"])
def test_host_and_disk_snapshots_restore_exactly(location, data):
    x, y = data
    model = make_model()
    optimizer = stepped(keras.optimizers.Adam(), model, x, y)
    before = state_of(model, optimizer)
    LRFinder(model, optimizer, "mse", snapshot=location, verbose=False)(data, batch_size=32, n_steps=60, max_lr=100.0)
    assert_same_state(before, state_of(model, optimizer))


def out_of_memory():
    return tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[128,512]")


@pytest.mark.parametrize("where", ["sweep", "runs", "snapshot"])
@pytest.mark.parametrize("location", ["device", "host"])
def test_out_of_memory_says_what_the_snapshot_holds_and_restores(where, location, data, monkeypatch):
    # No device here runs out of memory on demand: the sweep's compiled step (or the snapshot's copy)
    # is replaced by one that moves the weights and then raises as TensorFlow does when it is full.
    import tf_lrfinder.finder as finder_module

    model, optimizer = make_model("dense"), keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, "mse", snapshot=location, verbose=False)
    if where == "runs":
        finder(data, batch_size=32, n_steps=20, refine=False)

    def full(*args):
        model.trainable_variables[0].assign_add(tf.ones_like(model.trainable_variables[0]))
        raise out_of_memory()

    if where == "snapshot":  # copying the variables fails: they are left as they were
        def save_fails(self):
            raise out_of_memory()
        monkeypatch.setattr(Snapshot, "save", save_fails)
    else:
        monkeypatch.setattr(finder_module, "build_sweep", lambda *args: full)
        finder._run = None  # built again, by the patched build_sweep
    with pytest.raises(tf.errors.ResourceExhaustedError) as raised:
        finder.refine(data, batch_size=32) if where == "runs" else finder(data, batch_size=32)
    if location == "device":
        assert re.match(r"The finder ran out of memory. Its snapshot \(snapshot='device'\) holds a copy of the "
                        r"model's and the optimizer's variables beside them, 0.0 MiB: pass `LRFinder\(..., "
                        r"snapshot='host'\)`", raised.value.message)
    assert raised.value.message.endswith("OOM when allocating tensor with shape[128,512]")
    assert (location == "device") == ("snapshot='host'" in raised.value.message)  # the hint only where it helps
    assert_same_state(before, state_of(model, optimizer))


def test_a_snapshot_that_runs_out_of_memory_frees_the_copies_it_made():
    variables = [tf.Variable(tf.ones([100])), tf.Variable(tf.ones([50]))]
    snapshot = Snapshot(variables)
    copy = snapshot._copy

    def copy_one_then_fail(sources, targets):
        copy(sources[:1], targets[:1])
        raise out_of_memory()

    snapshot._copy = copy_one_then_fail
    with pytest.raises(tf.errors.ResourceExhaustedError):
        snapshot.save()
    assert [int(tf.size(c)) for c in snapshot._copies] == [0, 0] and not snapshot._filled


def test_mixed_precision_loss_scaling_is_restored(data):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = make_model()
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam())
        optimizer.build(model.trainable_variables)
        before = state_of(model, optimizer)
        finder = LRFinder(model, optimizer, "mse", verbose=False)
        finder(data, batch_size=32, n_steps=40, max_lr=100.0)
        assert finder.losses[-1] != finder.losses[0]  # the weights moved: the loss was scaled and unscaled
        assert_same_state(before, state_of(model, optimizer))
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_progress_bar_and_quiet_mode(data, capsys):
    LRFinder(make_model(), keras.optimizers.Adam(), "mse", verbose=False)(data, batch_size=32, n_steps=20)
    assert capsys.readouterr().err == ""
    LRFinder(make_model(), keras.optimizers.Adam(), "mse")(data, batch_size=32, n_steps=20)
    err = capsys.readouterr().err
    assert "LR sweep" in err and "lr=" in err and "loss=" in err


def test_untrustworthy_sweeps_warn_and_record_why(data):
    x, y = data
    finder = LRFinder(make_model(), keras.optimizers.Adam(), "mse", verbose=False)
    with pytest.warns(UserWarning) as record:
        finder((x[:96], y[:96]), batch_size=32, n_steps=30, max_lr=1e-3)
    messages = [str(w.message) for w in record]
    assert any("never diverged" in m for m in messages)
    assert any("cycled after 3 batches" in m for m in messages)  # 96 rows in batches of 32
    assert finder.cycled and finder.warnings == messages
    assert {w.filename for w in record} == {__file__}  # they point at the caller, not at the library


def test_a_sweep_that_fits_its_batches_all_but_exactly_is_not_told_to_raise_max_lr():
    # Two blobs 8 standard deviations apart: logistic regression's loss falls to all but 0 and stays
    # there up to a rate of 10, where it has no gradient left to blow up on; a higher `max_lr` finds nothing.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4096).astype("int32")
    x = (rng.normal(size=(4096, 2)) + 4 * (2 * y[:, None] - 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    finder = LRFinder(model, keras.optimizers.SGD(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      verbose=False)
    with pytest.warns(UserWarning, match="never diverged, but it fell to"):
        finder((x, y), batch_size=32, refine=False)
    assert finder.stop_reason == "completed" and min(finder.losses) < 0.01 * finder.losses[0]
    told = [m for m in finder.warnings if "never diverged" in m]
    assert len(told) == 1 and "fits these batches all but exactly" in told[0] and "raise `max_lr`" not in told[0]


def test_a_sweep_whose_loss_only_scatters_is_told_its_curve_is_flat_though_a_dip_passes_2_percent():
    # Targets nothing in x predicts, and a model that starts at the best it can do (predicting 0):
    # no rate lowers the loss, and batches of 8 scatter it. The lag-free curve's lowest dip lies 15%
    # below its start, past the 2% a flat curve falls, but the same losses shuffled dip as far.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(512, 4)).astype("float32"), rng.normal(size=(512, 1)).astype("float32")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    finder = LRFinder(model, keras.optimizers.SGD(), "mse", verbose=False)
    with pytest.warns(UserWarning, match="The loss curve is flat: it fell from"):
        finder((x, y), batch_size=8, refine=False)
    lrs, losses = np.array(finder.lrs), np.array(finder.losses)
    curve, low = lag_free_bottom(lrs, losses)
    assert curve[low] < 0.9 * start_level(lrs, losses)
    told = [m for m in finder.warnings if m.startswith("The loss curve is flat")]
    assert len(told) == 1 and "the same losses in a random order fall as far" in told[0]


def test_a_lucky_first_batch_is_no_level_for_the_sweep_to_blow_up_from():
    # The first batch's targets are 0, which the untrained model (predicting 0) fits exactly; the
    # others' are +-1, a loss near 1. Against that first loss alone the smoothed loss rises more than
    # four times, past the noise of the first changes, by the sixth step; counted from the fourth
    # step on, the best is a level the curve held, and the sweep runs on to where SGD blows up.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1024, 4)).astype("float32")
    y = rng.choice([-1.0, 1.0], size=(1024, 1)).astype("float32")
    x[:32], y[:32] = 0.0, 0.0
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    finder = LRFinder(model, keras.optimizers.SGD(), "mse", verbose=False)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    finder(dataset, refine=False)
    assert finder.losses[0] == 0.0 and min(finder.losses[1:10]) > 0.5
    assert stop_index(np.array(finder.losses), 0.98, 4.0, noise=0.0) < 10  # against the first loss alone
    assert finder.stop_reason == "diverged" and finder.lrs[-1] > 0.1 and len(finder.losses) > 50
    assert stop_index(np.array(finder.losses), 0.98, 4.0) == len(finder.losses) - 1  # the device's rule


# -- bad input: clear errors, raised before anything changes ---------------------------------------

BAD_CALLS = [
    (dict(min_lr=0.0), ValueError, "`min_lr` must be finite and positive. Received: min_lr=0.0"),
    (dict(min_lr=-1e-3), ValueError, "`min_lr` must be finite and positive"),
    (dict(max_lr=float("inf")), ValueError, "`max_lr` must be finite and positive. Received: max_lr=inf"),
    (dict(max_lr=float("nan")), ValueError, "`max_lr` must be finite and positive"),
    (dict(min_lr="small"), TypeError, "`min_lr` must be a number. Received: min_lr='small'"),
    (dict(min_lr=1.0, max_lr=0.1), ValueError, "`max_lr` must be greater than `min_lr`. Received: min_lr=1.0, max_lr=0.1"),
    (dict(n_steps=1), ValueError, "`n_steps` must be an integer of at least 5: fewer steps are too few"),
    (dict(n_steps=4), ValueError, "Received: n_steps=4"),
    (dict(n_steps=10.5), ValueError, "Received: n_steps=10.5"),
    (dict(smoothing=1.0), ValueError, "`smoothing` must be in \\[0, 1\\). Received: smoothing=1.0"),
    (dict(smoothing=-0.1), ValueError, "`smoothing` must be in"),
    (dict(diverge_factor=1.0), ValueError, "`diverge_factor` must be a finite number above 1"),
    (dict(diverge_factor=0), ValueError, "`diverge_factor` must be a finite number above 1, or None to stop only at a "
                                         "NaN or inf loss. Received: diverge_factor=0"),
    (dict(diverge_factor=float("inf")), ValueError, "`diverge_factor` must be a finite number above 1"),
    (dict(diverge_factor="4"), ValueError, "`diverge_factor` must be a finite number above 1"),
    (dict(mode="cosine"), ValueError, "`mode` must be one of"),
    (dict(method="best"), ValueError, "`method` must be one of"),
    (dict(batch_size=None), ValueError, "`batch_size` is required"),
    (dict(refine="yes"), TypeError, "`refine` must be True, False or None. Received: refine='yes'"),
]


@pytest.mark.parametrize("kwargs,error,message", BAD_CALLS)
def test_bad_arguments_raise_before_any_state_changes(kwargs, error, message, data):
    model, optimizer = make_model(), keras.optimizers.Adam()
    before = [v.numpy().copy() for v in model.variables]
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    call = dict(batch_size=32) | kwargs
    with pytest.raises(error, match=re.escape(message) if "\\" not in message else message):
        finder(data, **call)
    assert not optimizer.built and finder.lrs == []
    assert_same_state(before, [v.numpy() for v in model.variables])


def test_data_passed_as_fit_takes_them_say_where_data_go(data):
    # `finder(x, y)` puts y in the place of `min_lr`, and `refine(x, y)` in that of `steps`: the error
    # says where data go, and shows the array's shape, not its numbers.
    x, y = data
    model, optimizer = make_model(), keras.optimizers.Adam()
    before = [v.numpy().copy() for v in model.variables]
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    hint = ("If this is data: pass the training data as one tuple, the first argument (`finder((x, y), "
            "batch_size=32)` or `finder.refine((x, y), batch_size=32)`, not `finder(x, y)` as `fit` takes them), and "
            "validation data as `validation_data=`.")
    with pytest.raises(TypeError) as error:
        finder(x, y, batch_size=32)
    assert str(error.value) == f"`min_lr` must be a number. Received: min_lr=ndarray of shape {y.shape}. {hint}"
    with pytest.raises(TypeError, match=re.escape(f"min_lr=list of {len(y)} items. {hint}")):
        finder(x, y.tolist(), batch_size=32)
    # `finder(train, val)` as `fit(train, validation_data=val)` would be written without the keyword:
    with pytest.raises(TypeError, match=re.escape(f"min_lr=tuple of 2 items. {hint}")):
        finder((x, y), (x[:64], y[:64]), batch_size=32)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    with pytest.raises(TypeError, match=re.escape(f"min_lr={type(dataset).__name__}. {hint}")):
        finder(dataset, dataset)
    assert not optimizer.built and finder.lrs == []
    assert_same_state(before, [v.numpy() for v in model.variables])
    finder(data, batch_size=32, n_steps=30, refine=False)
    with pytest.raises(ValueError) as error:
        finder.refine(x, tf.constant(y), batch_size=32)
    assert str(error.value) == f"`steps` must be a positive integer. Received: steps=EagerTensor of shape {y.shape}. {hint}"
    assert finder.trials is None


def test_numpy_scalars_are_taken_as_python_ones(data):
    # What a notebook computes (np.int64 from a shape, np.float32 from an array) passes as fit takes it
    # (the rates and shares here are exact in float32, so every run must match bit for bit).
    def call(to_int, to_float):
        finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", steps_per_execution=to_int(10),
                          verbose=False)
        lr = finder(data, min_lr=to_float(2.0 ** -16), max_lr=to_float(1.0), n_steps=to_int(40),
                    batch_size=to_int(32), smoothing=to_float(0.5), diverge_factor=to_float(4.0), refine=False)
        refined = finder.refine(data, steps=to_int(20), batch_size=to_int(32), eval_batches=to_int(2),
                                extend=to_int(2), tolerance=to_float(0.25), margin=to_float(8.0))
        return lr, finder.losses, refined, finder.trials.losses, finder.settings

    plain = call(int, float)
    for to_int, to_float in ((np.int64, np.float32), (np.int32, np.float64)):
        lr, losses, refined, trial_losses, settings = call(to_int, to_float)
        assert (lr, refined, settings) == (plain[0], plain[2], plain[4])
        np.testing.assert_array_equal(losses, plain[1])
        np.testing.assert_array_equal(trial_losses, plain[3])
        assert all(type(v) in (int, float, str, bool, type(None)) for v in settings.values())


def test_a_model_compiled_to_run_eagerly_is_swept_and_refined_eagerly(data):
    # As `fit` honours `run_eagerly=True`: a layer that reads a tensor's value in Python (it failed
    # inside the traced step) trains, and the sweep and the runs equal the same model's traced ones.
    class ReadsValues(keras.layers.Layer):
        def compute_output_shape(self, shape):
            return shape

        def call(self, t):
            return t * float(t.numpy().size > 0)  # 1.0, read in Python: needs eager execution

    def build(*first):
        return keras.Sequential([keras.Input((4,)), *first, keras.layers.Dense(8, activation="relu"),
                                 keras.layers.BatchNormalization(), keras.layers.Dense(1)])

    eager, traced = build(ReadsValues()), build()
    traced.set_weights(eager.get_weights())
    eager.compile(keras.optimizers.Adam(), "mse", run_eagerly=True)
    traced.compile(keras.optimizers.Adam(), "mse")
    before = [v.numpy().copy() for v in eager.variables]
    found = []
    for model in (eager, traced):
        finder = LRFinder(model, verbose=False)
        finder(data, batch_size=32, n_steps=20, refine=False)
        finder.refine(data, batch_size=32, steps=10, eval_batches=2, extend=0, edge=False)
        found.append(finder)
    assert_same_state(before, [v.numpy() for v in eager.variables])
    np.testing.assert_allclose(found[0].losses, found[1].losses, rtol=1e-5)
    np.testing.assert_allclose(found[0].trials.losses, found[1].trials.losses, rtol=1e-5)
    assert found[0].trials.bn_layers == 1 and found[0].lr_opt == found[1].lr_opt
    # Set on the model itself, without compiling again, it is followed too: the traced finder
    # turns eager (its step, traced before, fails on the layer), and back.
    finder = LRFinder(eager, verbose=False)
    eager.run_eagerly = False
    with pytest.raises(ValueError, match=r"(?s)^The training step cannot be compiled: .* compile the model with `run_eagerly="
                                         r"True`: .* Nothing was changed\. TensorFlow raised AttributeError: .*no attribute "
                                         r"'numpy'"):
        finder(data, batch_size=32, n_steps=20, refine=False)
    assert_same_state(before, [v.numpy() for v in eager.variables])
    eager.run_eagerly = True
    finder(data, batch_size=32, n_steps=20, refine=False)
    np.testing.assert_allclose(finder.losses, found[1].losses, rtol=1e-5)


@pytest.mark.parametrize("cut", ["rounded loss", "stop_gradient in the model"])
def test_a_loss_without_gradients_is_told_what_cuts_them_before_anything_changes(cut, data):
    # Keras's optimizer raises "No gradients provided for any variable." as the step is traced, in `fit` too.
    model, optimizer = make_model(), keras.optimizers.Adam()
    loss = "mse"
    if cut == "rounded loss":
        loss = lambda y_true, y_pred: keras.ops.mean(keras.ops.square(y_true - keras.ops.round(y_pred)), axis=-1)
    else:
        model = keras.Sequential([model, keras.layers.Lambda(keras.ops.stop_gradient)])
    before = [v.numpy().copy() for v in model.variables]
    model.compile(optimizer, loss)
    finder = LRFinder(model, verbose=False)
    with pytest.raises(ValueError, match=re.escape(
            "No gradients: the loss does not depend on any trainable variable through operations that have a gradient, "
            "so no learning rate can train the model (`fit` fails the same way). Look for what cuts the way from the "
            "weights to the loss: `stop_gradient`, rounding,")):
        finder(data, batch_size=32, n_steps=20)
    assert finder.lrs == [] and int(optimizer.iterations) == 0
    assert_same_state(before, [v.numpy() for v in model.variables])
    with pytest.raises(ValueError, match="No gradients provided for any variable"):  # as the message says
        model.fit(*data, batch_size=32, verbose=0)


def test_a_loss_computed_with_numpy_is_told_it_cannot_be_compiled_before_anything_changes(data):
    # The first batch's checks run eagerly, where NumPy takes the tensors; the traced step does not. It had
    # raised TensorFlow's NotImplementedError from inside the trace.
    def numpy_mse(y_true, y_pred):
        return np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2, axis=-1)

    model, optimizer = make_model(), keras.optimizers.Adam()
    before = [v.numpy().copy() for v in model.variables]
    finder = LRFinder(model, optimizer, numpy_mse, verbose=False)
    with pytest.raises(ValueError, match=r"(?s)^The training step cannot be compiled: the model or the loss turns a "
                                         r"tensor into a NumPy array .* Compute it with `keras.ops` or `tf` functions "
                                         r"instead .* TensorFlow raised NotImplementedError: .*numpy_mse.*Cannot "
                                         r"convert a symbolic"):
        finder(data, batch_size=32, n_steps=20)
    assert finder.lrs == [] and int(optimizer.iterations) == 0  # built for the trace, as `fit` builds it; no step
    assert_same_state(before, [v.numpy() for v in model.variables])
    model.compile(optimizer, numpy_mse)
    with pytest.raises(NotImplementedError, match="Cannot convert a symbolic"):  # as the message says
        model.fit(*data, batch_size=32, verbose=0)


def test_a_model_compiled_with_jit_compile_gets_its_steps_compiled_with_xla(data):
    # As `fit` compiles its step with XLA under `jit_compile=True` (Keras's "auto" does on a GPU): the
    # sweep and the runs equal the same model's without XLA, and a step that XLA cannot compile (a
    # NumPy call on the host) fails in the finder as it fails in `fit`, the state restored; set
    # `model.jit_compile = False` and the same finder sweeps it.
    class OnHost(keras.layers.Layer):
        def compute_output_shape(self, shape):
            return shape

        def call(self, t):
            return tf.reshape(tf.numpy_function(lambda a: a, [t], tf.float32, stateful=False), tf.shape(t))

    def build(*first):
        return keras.Sequential([keras.Input((4,)), *first, keras.layers.Dense(8, activation="relu"),
                                 keras.layers.BatchNormalization(), keras.layers.Dense(1)])

    found, weights = [], build().get_weights()
    for jit in (True, False):
        model = build()
        model.set_weights(weights)
        model.compile(keras.optimizers.Adam(), "mse", jit_compile=jit)
        finder = LRFinder(model, verbose=False)
        finder(data, batch_size=32, n_steps=20, refine=False)
        finder.refine(data, batch_size=32, steps=10, eval_batches=2, extend=0, edge=False)
        found.append(finder)
    np.testing.assert_allclose(found[0].losses, found[1].losses, rtol=1e-5)
    np.testing.assert_allclose(found[0].trials.losses, found[1].trials.losses, rtol=1e-5)

    host = build(OnHost())
    host.compile(keras.optimizers.Adam(), "mse", jit_compile=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match="unsupported operations"):
        host.fit(*data, batch_size=32, epochs=1, verbose=0)
    before = [v.numpy().copy() for v in host.variables]
    finder = LRFinder(host, verbose=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="unsupported operations"):
        finder(data, batch_size=32, n_steps=20, refine=False)
    assert_same_state(before, [v.numpy() for v in host.variables])
    host.jit_compile = False
    finder(data, batch_size=32, n_steps=20, refine=False)
    assert len(finder.losses) == 20


def test_an_embedding_trained_by_adadelta_is_swept_without_xla_and_the_user_is_told():
    # Keras's Adadelta updates an Embedding's sparse gradients with ops that XLA compiles again at
    # every step (`fit` too: 0.5 to 0.7 s a step here, against about 1 ms without XLA), so the finder
    # runs such a step without XLA and warns: its sweep and runs equal those of the same model
    # compiled with `jit_compile=False`. With Adam, XLA compiles the step once: no warning.
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 500, size=(640, 12)), rng.integers(0, 3, size=(640,))

    def build():
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((12,), dtype="int32"), keras.layers.Embedding(500, 8),
                                 keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(3)])

    found = []
    for jit in (True, False):
        model = build()
        model.compile(keras.optimizers.Adadelta(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=jit)
        finder = LRFinder(model, verbose=False)
        with warnings.catch_warnings(record=True) as told:
            warnings.simplefilter("always")
            finder((x, y), batch_size=32, n_steps=30, refine=False, diverge_factor=None)
            finder.refine((x, y), batch_size=32, steps=10, eval_batches=2, extend=0, edge=False)
        xla = [str(w.message) for w in told if "XLA" in str(w.message)]
        if jit:
            assert len(xla) == 1 and "has an Embedding trained by Adadelta" in xla[0], xla
            assert "compile the model with `jit_compile=False`" in xla[0]
        else:
            assert xla == []
        found.append(finder)
    np.testing.assert_array_equal(found[0].losses, found[1].losses)
    # The runs' losses are measured by a forward pass alone, which XLA compiles once, and still does.
    np.testing.assert_allclose(found[0].trials.losses, found[1].trials.losses, rtol=1e-6)

    adam = build()
    adam.compile(keras.optimizers.Adam(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                 jit_compile=True)
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        LRFinder(adam, verbose=False)((x, y), batch_size=32, n_steps=10, refine=False)
    assert not [w for w in told if "XLA" in str(w.message)]


def test_a_model_with_nothing_to_train_raises_before_any_state_changes(data):
    # Every layer frozen: the optimizer used to fail inside the traced step on an empty gradient list.
    model, optimizer = make_model("dense"), keras.optimizers.Adam()
    model.trainable = False
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    before = [v.numpy().copy() for v in model.variables]
    with pytest.raises(ValueError, match=re.escape("`model` has no trainable variables (every layer is frozen")):
        finder(data, batch_size=32, n_steps=20)
    assert not optimizer.built and finder.lrs == []
    assert_same_state(before, [v.numpy() for v in model.variables])
    model.trainable = True
    model.layers[0].trainable = False  # the head alone trainable: swept
    assert np.isfinite(finder(data, batch_size=32, n_steps=20, refine=False))


def test_a_call_inside_the_model_strategy_scope_sweeps_as_after_the_block(data):
    # Inside `strategy.scope()` the finder's own step used to fail in the optimizer (no replica
    # context to merge in) or in the snapshot (its backups made the strategy's); then it refused.
    # Now it runs as after the `with` block, and the scope goes on as before, an error or not.
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = make_model("dense")
        optimizer = keras.optimizers.Adam()
        finder = LRFinder(model, optimizer, "mse", verbose=False)
        before = [v.numpy().copy() for v in model.variables]
        inside = finder(data, batch_size=32, n_steps=20)
        swept, runs = list(finder.losses), finder.trials.losses
        assert tf.distribute.get_strategy() is strategy and optimizer.built
        assert strategy.extended.variable_created_in_scope(tf.Variable(1.0))
        assert_same_state(before, [v.numpy() for v in model.variables])
        x, y = data
        nan_row = tf.data.Dataset.from_tensor_slices((x, np.where(np.arange(len(y))[:, None] == 100, np.nan, y)))
        with pytest.raises(ValueError, match="`dataset` holds NaN or inf values in y"):  # at step 4
            finder(nan_row.batch(32), n_steps=20)
        assert tf.distribute.get_strategy() is strategy  # after an error too
        assert np.isfinite(finder.refine(data, batch_size=32, steps=5))
    assert finder(data, batch_size=32, n_steps=20) == inside  # after the block: the same call
    assert finder.losses == swept and finder.trials.losses == runs
    assert_same_state(before, [v.numpy() for v in model.variables])


def test_a_call_inside_another_strategy_scope_is_refused_before_anything_changes(data):
    # `fit` fails on both: "`colocate_vars_with` must only be passed a variable created in this
    # tf.distribute.Strategy.scope()" and "Mixing different tf.distribute.Strategy objects".
    model = make_model("dense")
    finder = LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)
    before = [v.numpy().copy() for v in model.variables]
    for created, where in [(None, "outside any strategy"), (tf.distribute.OneDeviceStrategy("/cpu:0"),
                                                             "under another OneDeviceStrategy")]:
        if created is not None:
            with created.scope():
                model = make_model("dense")
                finder = LRFinder(model, "adam", "mse", verbose=False)
            before = [v.numpy().copy() for v in model.variables]
        with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
            with pytest.raises(ValueError, match=re.escape(
                    "The finder was called inside `strategy.scope()` of a OneDeviceStrategy, but `model` was "
                    f"created {where} (`fit` fails on it too). Call the finder inside the scope the model was "
                    "created in, or after the `with` block.")):
                finder(data, batch_size=32, n_steps=20)
        assert not finder.optimizer.built and finder.lrs == []
        assert_same_state(before, [v.numpy() for v in model.variables])


def test_an_optimizer_from_outside_the_model_strategy_is_refused_and_a_named_one_is_made_under_it(data):
    # Keras would fail once the sweep had begun ("Mixing different tf.distribute.Strategy objects"),
    # as `fit` fails on it.
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = make_model("dense")
    with pytest.raises(ValueError, match=re.escape(
            "`optimizer` (Adam) was not created under the OneDeviceStrategy that `model` was created under")
            ) as raised:
        LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)
    assert "pass its name (optimizer='adam')" in str(raised.value)
    model.compile(keras.optimizers.SGD(), "mse")  # compiled outside the scope
    with pytest.raises(ValueError, match=re.escape("Compile the model inside the `with strategy.scope():` block")):
        LRFinder(model, verbose=False)
    before = [v.numpy().copy() for v in model.variables]
    finder = LRFinder(model, "adam", "mse", verbose=False)
    assert finder.optimizer._distribution_strategy is strategy
    assert np.isfinite(finder(data, batch_size=32, n_steps=20))
    assert_same_state(before, [v.numpy() for v in model.variables])
    # The other way round: the optimizer made under a strategy, the model outside any (the finder,
    # as `fit`, failed in the optimizer's build: 'Need to be inside "with strategy.scope()"').
    with strategy.scope():
        inside = keras.optimizers.Adam()
    with pytest.raises(ValueError, match=re.escape(
            "`optimizer` (Adam) was created under a OneDeviceStrategy, but `model` outside any strategy")):
        LRFinder(make_model("dense"), inside, "mse", verbose=False)


def test_class_weight_weighs_each_sample_as_fit_does():
    # The same sweep and refined rate as the same weights passed as sample weights; one-hot labels too.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1024, 4)).astype("float32")
    labels = (x[:, 0] + 0.5 * rng.normal(size=1024) > 1.0).astype("int64")  # imbalanced: about 1 in 6
    class_weight = {0: 1.0, 1: 5.0}
    weights = np.where(labels == 1, 5.0, 1.0).astype("float32")

    def sweep(data, loss, **kwargs):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
        finder = LRFinder(model, keras.optimizers.Adam(), loss, verbose=False)
        finder(data, batch_size=32, n_steps=40, **kwargs)
        return finder

    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    weighted = sweep((x, labels), sparse, class_weight=class_weight)
    by_hand = sweep((x, labels, weights), sparse)
    plain = sweep((x, labels), sparse)
    assert weighted.losses == by_hand.losses and weighted.lr_opt == by_hand.lr_opt
    assert weighted.trials.losses == by_hand.trials.losses
    assert weighted.losses != plain.losses
    assert weighted.settings["class_weight"] == {"0": 1.0, "1": 5.0} and plain.settings["class_weight"] is None
    none = sweep((x, labels), sparse, class_weight={})  # weighs nothing, as `fit` reads an empty dict
    assert none.losses == plain.losses and none.trials.losses == plain.trials.losses
    one_hot = sweep((x, np.eye(2, dtype="float32")[labels]), keras.losses.CategoricalCrossentropy(from_logits=True),
                    class_weight=class_weight, refine=False)
    np.testing.assert_allclose(one_hot.losses, weighted.losses[:len(one_hot.losses)], rtol=1e-5)
    # Validation data is measured without the class weights, as `fit` measures its validation loss.
    validated = sweep((x[:768], labels[:768]), sparse, class_weight=class_weight,
                      validation_data=(x[768:], labels[768:]))
    unweighted = float(sparse(labels[768:], validated.model(x[768:], training=False)))
    np.testing.assert_allclose(validated.trials.start_loss, unweighted, rtol=1e-5)

    model, optimizer = make_model("dense"), keras.optimizers.Adam()
    finder = LRFinder(model, optimizer, sparse, verbose=False)
    for kwargs, error, message in [
        (dict(class_weight={0: 1.0}, data=(x, labels, weights)), ValueError,
         "`class_weight` needs batches of `(x, y)` with one output's labels, as `fit` does; `dataset` holds "
         "sample weights already"),
        (dict(class_weight={"a": 1.0}, data=(x, labels)), ValueError, "`class_weight`'s keys must be class indices"),
        (dict(class_weight={0: -1.0}, data=(x, labels)), ValueError, "weights must be finite numbers of at least 0"),
        (dict(class_weight=[1.0, 5.0], data=(x, labels)), TypeError, "`class_weight` must be a dict"),
        # A class per time step (a sequence tagger's labels) or per pixel: `fit` fails on both.
        (dict(class_weight={0: 1.0, 2: 3.0}, data=(x, rng.integers(0, 3, (1024, 10)))), ValueError,
         "`dataset`'s first batch holds labels of shape (32, 10), a class per position (per time step or pixel), "
         "which `fit` cannot weigh by `class_weight` either. Weigh each position as sample weights instead: "
         "`(x, y, np.take(weights, y))`"),
        (dict(class_weight={0: 1.0, 1: 3.0}, data=(x, rng.integers(0, 2, (1024, 4, 4, 1)))), ValueError,
         "`dataset`'s first batch holds labels of shape (32, 4, 4, 1), a class per position"),
    ]:
        with pytest.raises(error, match=re.escape(message)):
            finder(kwargs.pop("data"), batch_size=32, n_steps=20, **kwargs)
    assert not optimizer.built and finder.lrs == []


def test_empty_dataset_raises_before_any_state_changes(data):
    model, optimizer = make_model(), keras.optimizers.Adam()
    with pytest.raises(ValueError, match="`dataset` is empty"):
        LRFinder(model, optimizer, "mse")(tf.data.Dataset.from_tensor_slices(data).batch(8).take(0))
    assert not optimizer.built


def test_constructor_errors():
    with pytest.raises(TypeError, match=re.escape("`model` must be a keras.Model (Keras 3). Received: Dense. Wrap")):
        LRFinder(keras.layers.Dense(3), keras.optimizers.Adam(), "mse")
    keras2 = type("Sequential", (), {"__module__": "tf_keras.src.engine.sequential"})()  # as tf_keras names its models
    with pytest.raises(TypeError, match=re.escape("Received: Sequential from `tf_keras` (Keras 2). Build it with "
                                                  "`import keras` (Keras 3) instead.")):
        LRFinder(keras2, keras.optimizers.Adam(), "mse")
    with pytest.raises(ValueError, match="No optimizer: `model` is not compiled"):
        LRFinder(make_model(), loss_fn="mse")
    with pytest.raises(ValueError, match="No loss: `model` was not compiled with a loss"):
        LRFinder(make_model(), keras.optimizers.Adam())
    with pytest.raises(TypeError, match="`optimizer` must be a keras.optimizers.Optimizer. Received: int"):
        LRFinder(make_model(), 3, "mse")
    with pytest.raises(TypeError, match=re.escape("Received: the class Adam. Pass an instance of it (`Adam()`")):
        LRFinder(make_model(), keras.optimizers.Adam, "mse")  # as `compile` refuses it
    with pytest.raises(ValueError, match=re.escape("`optimizer` is not a name Keras knows. Received: optimizer='adamx'")):
        LRFinder(make_model(), "adamx", "mse")
    with pytest.raises(ValueError, match=re.escape("`loss_fn` is not a name Keras knows. Received: loss_fn='msee'")):
        LRFinder(make_model(), keras.optimizers.Adam(), "msee")
    with pytest.raises(TypeError, match=re.escape("`loss_fn` must be callable or a loss name. Received: 3")):
        LRFinder(make_model(), keras.optimizers.Adam(), 3)
    with pytest.raises(TypeError, match=re.escape("Received: a metric, MeanSquaredError (`keras.metrics`), whose value is "
                                                  "a running mean over the batches, with no gradient to train by (`fit` "
                                                  "fails on it too). Pass `keras.losses.MeanSquaredError()`.")):
        LRFinder(make_model(), keras.optimizers.Adam(), keras.metrics.MeanSquaredError())
    with pytest.raises(TypeError, match="`loss_fn` must be one loss. Received: a dict of losses. For a model with"):
        LRFinder(make_model(), keras.optimizers.Adam(), {"out": "mse"})
    with pytest.raises(ValueError, match="`steps_per_execution` must be a positive integer. Received: steps_per_execution=0"):
        LRFinder(make_model(), keras.optimizers.Adam(), "mse", steps_per_execution=0)
    with pytest.raises(ValueError, match="`snapshot` must be one of"):
        LRFinder(make_model(), keras.optimizers.Adam(), "mse", snapshot="gpu")
    optimizer = keras.optimizers.Adam()
    optimizer._learning_rate = tf.constant(0.1)
    with pytest.raises(TypeError, match="learning rate cannot be set: it is a EagerTensor"):
        LRFinder(make_model(), optimizer, "mse")


def test_a_loss_class_is_made_with_its_defaults_as_compile_makes_it(data):
    # `compile(loss=keras.losses.Huber)` trains; the finder had called the class on the targets.
    swept = []
    for loss in (keras.losses.Huber, keras.losses.Huber()):
        finder = LRFinder(make_model(), keras.optimizers.Adam(), loss, verbose=False)
        swept.append((finder(data, batch_size=32, n_steps=30, refine=False), finder.losses))
    assert swept[0] == swept[1] and len(swept[0][1]) > 10


def test_another_keras_backend_is_named_before_anything_else(monkeypatch):
    # Under KERAS_BACKEND=jax (or torch) the finder's TensorFlow steps cannot train the model.
    model = make_model()
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeError, match=re.escape("The finder needs Keras's TensorFlow backend, but Keras runs "
                                                     "on 'jax'. Set the environment variable KERAS_BACKEND=tensorflow")):
        LRFinder(model, keras.optimizers.Adam(), "mse")


def test_the_finder_prints_in_one_line(data):
    # In a notebook the last expression is printed: the dataclass's own repr ran to thousands of
    # characters after a sweep (every rate and loss).
    model = make_model("dense")
    model.compile(keras.optimizers.Adam(), "mse")
    finder = LRFinder(model, verbose=False)
    assert repr(finder) == f"LRFinder(model={model.name!r}, optimizer=Adam, loss_fn=compiled, no sweep yet)"
    lr = finder(data, batch_size=32, n_steps=60)
    text = repr(finder)
    assert len(text) < 200 and "\n" not in text
    assert text.startswith(f"LRFinder(model={model.name!r}, optimizer=Adam, loss_fn=compiled, swept 1e-07 to ")
    assert f"in {len(finder.lrs)} of 60 steps ({finder.stop_reason}), lr_opt={lr:.3g}" in text
    assert repr(LRFinder(model, keras.optimizers.SGD(), lambda y, p: (y - p) ** 2)).endswith(
        "optimizer=SGD, loss_fn=<lambda>, no sweep yet)")


def test_suggest_before_any_sweep():
    with pytest.raises(ValueError, match="No sweep recorded yet"):
        LRFinder(make_model(), keras.optimizers.Adam(), "mse").suggest()


# -- refine: short runs at a few rates, each from the restored state -------------------------------


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_refine_trains_each_candidate_restores_bit_for_bit_and_records_the_runs(opt_name, data):
    x, y = data
    model = make_model()
    optimizer = stepped(OPTIMIZERS[opt_name](), model, x, y)
    finder = LRFinder(model, optimizer, "mse", verbose=False, steps_per_execution=7)
    finder((x, y), batch_size=32, n_steps=60, refine=False)
    before = state_of(model, optimizer)
    Recorder.seen, Recorder.hook = [], lambda: state_of(model, optimizer)
    finder.tqdm_class, finder.verbose = Recorder, True

    lr = finder.refine((x, y), batch_size=32, steps=20, eval_batches=4, edge=False)  # the candidates alone

    assert_same_state(before, state_of(model, optimizer))
    assert any(not np.array_equal(a, b) for a, b in zip(before, Recorder.seen[0]))  # the runs trained
    t = finder.trials
    np.testing.assert_allclose(t.lrs, np.array([1 / 8, 1 / 4, 1 / 2, 1]) * finder.suggest_range()[1], rtol=1e-12)
    assert lr == finder.lr_opt == t.lr and lr in t.lrs and t.steps == 20
    # The start loss is the model's inference-mode loss on the first 4 batches the finder draws, with
    # BatchNorm's moving statistics set to the mean of those batches' statistics.
    held = [b for _, b in as_batches((x, y), model, 4, 32).dataset.take(4)]
    np.testing.assert_allclose(t.start_loss, mse_with_bn_estimated_on(model, held), rtol=1e-5)
    assert min(t.losses) < t.start_loss  # some run trained the model
    h = finder.history["trials"]
    assert h["lrs"] == list(t.lrs) and h["losses"] == list(t.losses) and h["lr"] == lr
    assert t.tolerance == h["tolerance"] == refine_lib.TOLERANCE  # what the choice was made with
    assert t.bn_layers == h["bn_layers"] == 1


def mse_with_bn_estimated_on(model, batches, measured=None):
    """make_model()'s mean squared error on `batches` (or on the arrays `measured`, `(x, y)`) in
    inference mode, computed in numpy with its BatchNorm's moving mean and variance replaced by the
    mean of its inputs' batch statistics on `batches`: per batch, averaged; on `measured`, per sample."""
    dense, bn, _, out = model.layers
    kernel, bias = (v.numpy() for v in dense.weights)
    hidden = [np.maximum(b[0].numpy() @ kernel + bias, 0.0) for b in batches]
    mean = np.mean([h.mean(axis=0) for h in hidden], axis=0)
    var = np.mean([h.var(axis=0) for h in hidden], axis=0)
    gamma, beta = bn.gamma.numpy(), bn.beta.numpy()
    w, c = (v.numpy() for v in out.weights)

    def error(h, y):
        return np.mean(((gamma * (h - mean) / np.sqrt(var + bn.epsilon) + beta) @ w + c - y) ** 2)

    if measured is not None:
        return float(error(np.maximum(measured[0] @ kernel + bias, 0.0), measured[1]))
    return float(np.mean([error(h, b[1].numpy()) for h, b in zip(hidden, batches)]))


def test_refine_without_update_bn_measures_with_the_moving_statistics_as_they_are(data):
    x, y = data
    model = make_model()
    finder = LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)
    finder((x, y), batch_size=32, n_steps=60, refine=False)
    before = state_of(model, finder.optimizer)
    finder.refine((x, y), batch_size=32, steps=20, eval_batches=4, update_bn=False)
    assert_same_state(before, state_of(model, finder.optimizer))
    held = [b for _, b in as_batches((x, y), model, 4, 32).dataset.take(4)]
    expected = np.mean([float(keras.losses.MeanSquaredError()(b[1], model(b[0], training=False))) for b in held])
    np.testing.assert_allclose(finder.trials.start_loss, expected, rtol=1e-5)
    assert finder.trials.bn_layers == 0
    assert abs(expected - mse_with_bn_estimated_on(model, held)) > 0.1 * expected  # the two measures differ here


def test_refine_runs_train_on_the_same_batches_and_repeat_exactly(data):
    # Two runs at rates one part in a million apart: trained on the same batches (after the held-back
    # ones) and with the same Dropout masks, they end at the same loss; on different batches they
    # would not (each run used to continue the previous run's iterator: 9.67 against 7.92 here).
    finder = LRFinder(make_model(), keras.optimizers.Adam(), "mse", verbose=False)
    finder(data, batch_size=32, n_steps=40, refine=False)
    finder.refine(data, batch_size=32, steps=30, factors=(1.0, 1.0 + 1e-6))
    first = finder.trials
    assert first.losses[0] == pytest.approx(first.losses[1], rel=1e-4)
    finder.refine(data, batch_size=32, steps=30, factors=(1.0, 1.0 + 1e-6))
    assert finder.trials == first  # a second call repeats the first exactly


def _counted_pipeline(data, reads, reshuffle=True):
    """Batches of 32 from `data`, reshuffled on every pass (a pass gives other batches, as where a
    pipeline augments at random) unless not `reshuffle`, each batch read counted in `reads`."""
    def note(x, y):
        def count(t):
            reads.append(1)
            return t
        x = tf.py_function(count, [x], tf.float32)
        x.set_shape([None, 4])
        return x, y
    ds = tf.data.Dataset.from_tensor_slices(data)
    return (ds.shuffle(len(data[0]), reshuffle_each_iteration=True) if reshuffle else ds).batch(32).map(note)


@pytest.mark.parametrize("held", [True, False])
def test_refine_runs_read_a_tf_data_pipeline_once_and_train_on_the_same_batches(data, held, monkeypatch):
    # Each run used to read the pipeline again: a default call ran it for its first 108 batches
    # five to eight times, and a pipeline that augments at random gave every run other batches.
    # Held in memory (`data.in_memory`), the runs read it once between them; with no memory to
    # hold them in (budget 0), they read it afresh as before.
    if not held:
        monkeypatch.setattr("tf_lrfinder.data.RUNS_IN_MEMORY", 0)
    reads = []
    ds = _counted_pipeline(data, reads)
    finder = LRFinder(make_model("dense"), keras.optimizers.Adam(), "mse", verbose=False)
    finder(ds, n_steps=40, refine=False)
    reads.clear()
    finder.refine(ds, steps=30, factors=(1.0, 1.0 + 1e-6), extend=0, edge=False)  # these two runs alone
    a, b = finder.trials.losses
    if held:
        # one pass over the 38 batches the runs read, and what prefetching reads ahead (12 at most seen,
        # under load); two runs reading afresh read at least twice as many
        assert len(reads) < 2 * (8 + 30)
        assert a == pytest.approx(b, rel=1e-4)  # the same batches, in the same order
    else:
        assert len(reads) >= 2 * (8 + 30)
        assert a != pytest.approx(b, rel=1e-3)


def test_a_default_call_reads_a_tf_data_pipeline_once_for_the_sweep_and_the_runs(data):
    # The 108 batches the runs read are held in memory before the sweep, whose 100 are among them:
    # the pipeline runs about 108 times in the whole call (and what prefetching reads ahead), not
    # 100 for the sweep and 108 more for the runs.
    reads = []
    ds = _counted_pipeline(data, reads)
    finder = LRFinder(make_model("dense"), keras.optimizers.Adam(), "mse", verbose=False)
    finder(ds)
    assert len(finder.losses) > 8 + 30 and finder.trials is not None
    assert len(reads) < 100 + 8 + 100


@pytest.mark.parametrize("held", ["held", "over budget", "reshuffled"])
def test_validation_data_from_a_pipeline_is_read_once_for_every_run_s_measurement(data, held, monkeypatch):
    # Each run is measured on one pass over `validation_data`; from a pipeline, every measurement used
    # to read it again (a default call measures five to nine times). Held (`data.pass_in_memory`), it
    # is read once; with no memory to hold it in (budget 0), or where a pass reshuffles (it does not
    # start with the batch read first), once per measurement, as `fit` reads it every epoch.
    if held == "over budget":
        monkeypatch.setattr("tf_lrfinder.data.RUNS_IN_MEMORY", 0)
    x, y = data
    reads = []
    validation = _counted_pipeline((x[:160], y[:160]), reads, reshuffle=held == "reshuffled")  # 5 a pass
    finder = LRFinder(make_model("dense"), keras.optimizers.Adam(), "mse", verbose=False)
    finder((x, y), batch_size=32, n_steps=40, refine=False)
    finder.refine((x, y), batch_size=32, steps=20, factors=(1.0, 1.0 + 1e-6), extend=0, edge=False,
                  validation_data=validation)
    measurements = 1 + 2  # before the runs, and after each
    if held == "held":
        # The pass held, and the first batch read before it: tf.data's injected prefetch may read that
        # iterator ahead, up to the whole pass, under load (it once read 10 here, failing `< 10`).
        assert len(reads) <= 2 * 5
    else:
        assert len(reads) >= measurements * 5
    assert finder.trials.validation and finder.trials.samples == 160


def test_refine_runs_held_in_memory_keep_the_static_batch_shape_so_the_step_is_traced_once(data):
    # Replayed batches have no static batch size of their own; a pipeline batched with
    # `drop_remainder=True` has one, and without it again the step would be traced a second time
    # for the runs (on a GPU with XLA, a second compilation).
    ds = tf.data.Dataset.from_tensor_slices(data).batch(32, drop_remainder=True)
    assert ds.element_spec[0].shape[0] == 32
    finder = LRFinder(make_model("dense"), keras.optimizers.Adam(), "mse", verbose=False)
    finder(ds, n_steps=40)
    assert finder._run.experimental_get_tracing_count() == 1


def test_a_pipeline_error_reading_the_runs_batches_says_where_and_changes_nothing(data):
    # The sweep reads 40 batches; the runs' 108 are read once after it, and the 45th raises in the
    # pipeline (as a corrupt image's decode would): the error keeps its type and words, led by which.
    x, y = data
    x = x.copy()
    x[44 * 16 + 3, 0] = np.nan
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).map(
        lambda a, b: (tf.debugging.check_numerics(a, "a pixel the decoder could not read"), b))
    model, optimizer = make_model("dense"), keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    finder(ds, n_steps=40, refine=False)
    before = state_of(model, optimizer)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="^TensorFlow raised this reading batch 45 of the first 108 of `dataset`, read once to "
                             "be held in memory for the call, before any step trained on them: nothing was "
                             "changed.\n\n"
                             "(.|\n)*a pixel the decoder could not read"):
        finder.refine(ds)
    assert_same_state(before, state_of(model, optimizer))


def test_refine_on_tf_data_held_in_memory_matches_it_read_afresh(data, monkeypatch):
    # A pipeline that gives the same batches on every pass: the runs, and so the rate, are the same
    # whether its batches are held in memory or read again for each run.
    ds = tf.data.Dataset.from_tensor_slices(data).batch(32)
    trials = []
    for budget in (None, 0):
        if budget is not None:
            monkeypatch.setattr("tf_lrfinder.data.RUNS_IN_MEMORY", budget)
        keras.utils.set_random_seed(0)
        finder = LRFinder(make_model(), keras.optimizers.Adam(), "mse", verbose=False)
        finder(ds, n_steps=40)
        trials.append(finder.trials)
    assert trials[0].lrs == trials[1].lrs and trials[0].lr == trials[1].lr
    np.testing.assert_allclose(trials[0].losses, trials[1].losses, rtol=1e-5)


def test_refine_measures_the_runs_on_validation_data_and_trains_on_all_the_training_data(data, tmp_path):
    x, y = data
    x_val, y_val = regression_data(330, seed=1)  # 11 batches of 32, more than eval_batches: the last holds 10
    model = make_model()  # Dense, BatchNormalization, Dropout
    finder = LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)
    finder((x, y), batch_size=32, n_steps=60, refine=False)
    before = state_of(model, finder.optimizer)
    finder.refine((x, y), batch_size=32, steps=20, eval_batches=8, validation_data=(x_val, y_val))
    assert_same_state(before, state_of(model, finder.optimizer))
    t = finder.trials
    # Measured on every validation sample once, as `fit` measures it (not only its first 8 batches, the
    # small last batch weighed by its samples), with BatchNorm's statistics estimated on the first 8
    # training batches, not on these.
    train_batches = [b for _, b in as_batches((x, y), model, 8, 32).dataset.take(8)]
    np.testing.assert_allclose(t.start_loss, mse_with_bn_estimated_on(model, train_batches, (x_val, y_val)),
                               rtol=1e-5)
    assert t.validation and t.samples == 330 and "Loss on the validation batches before them (330 samples)" in t.summary()
    assert finder.plot_trials().get_ylabel() == "loss on the validation batches"
    save_json(finder.history, tmp_path / "h.json")
    assert load_json(tmp_path / "h.json")["trials"]["validation"] is True
    finder.refine((x, y), batch_size=32, steps=20, eval_batches=8)
    assert not finder.trials.validation and "Loss on the held-back batches before them (256 samples)" in (
        finder.trials.summary())
    assert finder.plot_trials().get_ylabel() == "loss on the held-back batches"

    # The runs train on the training data from its start: the same runs as when the validation
    # batches are put ahead of the training batches and held back from them.
    model = make_model("dense")  # no BatchNorm, whose statistics would come from other batches
    rng = np.random.default_rng(0)
    batches = [(x[i:i + 32], y[i:i + 32]) for i in rng.permutation(len(x) - 32)[:30]]
    validation = [(x_val[i:i + 25], y_val[i:i + 25]) for i in range(0, 100, 25)]
    finder = LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)
    finder(batches, n_steps=30, refine=False)
    finder.refine(batches, steps=20, eval_batches=4, validation_data=validation)
    validated = finder.trials
    finder.refine(validation + batches, steps=20, eval_batches=4)
    held_back = finder.trials
    assert validated.lrs == held_back.lrs
    np.testing.assert_allclose(validated.losses, held_back.losses, rtol=1e-6)
    np.testing.assert_allclose(validated.start_loss, held_back.start_loss, rtol=1e-6)


def test_validation_steps_measures_the_first_batches_and_a_pass_of_unknown_length_is_read_once(data):
    x, y = data
    x_val, y_val = regression_data(330, seed=1)  # 11 batches of 32: the last holds 10
    model = make_model("dense")
    finder = LRFinder(model, keras.optimizers.SGD(), "mse", verbose=False)
    finder((x, y), batch_size=32, n_steps=30, refine=False)
    ordered = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(32)
    unknown = ordered.filter(lambda *_: True)  # its length is known only at its end
    assert int(unknown.cardinality()) == int(tf.data.UNKNOWN_CARDINALITY)
    for validation, steps, measured in [(ordered, None, 330), (unknown, None, 330), (unknown, 20, 330),
                                        (ordered, 3, 96), (ordered.repeat(), 3, 96), (unknown, 3, 96)]:
        finder.refine((x, y), batch_size=32, steps=10, validation_data=validation, validation_steps=steps)
        expected = keras.losses.MeanSquaredError()(y_val[:measured], model(x_val[:measured], training=False))
        np.testing.assert_allclose(finder.trials.start_loss, float(expected), rtol=1e-5)
        assert finder.trials.samples == measured


def test_validation_arrays_beside_a_dataset_are_batched_as_its_batches_and_measured_whole(data):
    x, y = data
    x_val, y_val = regression_data(70, seed=1)
    model = make_model("dense")
    finder = LRFinder(model, keras.optimizers.SGD(), "mse", verbose=False)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    before = state_of(model, finder.optimizer)
    lr = finder(train, n_steps=30, validation_data=(x_val, y_val))  # the sweep, then refine measured on them
    assert_same_state(before, state_of(model, finder.optimizer))
    assert lr == finder.trials.lr and finder.trials.validation
    expected = float(keras.losses.MeanSquaredError()(y_val, model(x_val, training=False)))
    np.testing.assert_allclose(finder.trials.start_loss, expected, rtol=1e-5)


@pytest.mark.parametrize("call,kwargs,error,message", [
    ("call", dict(validation_data=(np.zeros((40, 3), "float32"), np.zeros((40, 1), "float32"))), (ValueError, TypeError),
     "`validation_data` does not fit `model`: calling it on the first batch raised ValueError"),
    ("refine", dict(validation_data=(np.zeros((40, 4), "float32"), np.zeros((40, 2, 2), "float32"))),
     (ValueError, TypeError), "`validation_data`'s targets do not fit the loss"),
    ("call", dict(validation_data=[]), (ValueError, TypeError), "`validation_data` is empty: it yielded no batch."),
    ("refine", dict(validation_data="val.csv"), (ValueError, TypeError),
     "`validation_data` must be a tf.data.Dataset, a tuple of arrays `(x, y)`, or an iterable"),
    ("call", dict(validation_data=(np.zeros((40, 4), "float32"), np.zeros((30, 1), "float32"))),
     (ValueError, TypeError), "The arrays in `validation_data` must have the same number of samples"),
    ("no refine", dict(validation_data=(np.zeros((40, 4), "float32"), np.zeros((40, 1), "float32"))),
     (ValueError, TypeError), "`validation_data` is read only by refining's runs, and this call runs none (refine=False"),
    ("call", dict(validation_data=tf.data.Dataset.from_tensor_slices(regression_data(64)).batch(32).repeat()),
     ValueError, "`validation_data` repeats forever (a tf.data.Dataset with `repeat()`), so it has no end to measure "
     "the runs up to. Pass `validation_steps`"),
    ("call", dict(validation_steps=4), ValueError,
     "`validation_steps` counts batches of the validation data, and this call has none"),
    ("refine", dict(validation_split=0.2, validation_steps=0), ValueError,
     "`validation_steps` must be a positive integer. Received: validation_steps=0"),
    # `validation_split`, of the 1024 samples of `data`:
    ("call", dict(validation_split=1.5), ValueError, "`validation_split` must be a number between 0 and 1, the share "
     "of the samples to measure refining's runs on. Received: validation_split=1.5"),
    ("call", dict(validation_split="0.2"), ValueError, "`validation_split` must be a number between 0 and 1"),
    ("call", dict(validation_split=0.9999), ValueError,
     "`validation_split=0.9999` of 1024 samples leaves none to train on"),
    ("call", dict(validation_split=1e-17), ValueError, "leaves none to measure the runs on"),
    ("call", dict(validation_split=0.2, validation_data=regression_data()), ValueError,
     "Pass `validation_data` or `validation_split`, not both"),
    ("no refine", dict(validation_split=0.2), ValueError,
     "`validation_split` is read only by refining's runs, and this call runs none (refine=False"),
    ("call", dict(validation_split=0.2, dataset=tf.data.Dataset.from_tensor_slices(regression_data()).batch(32),
                  batch_size=None),
     TypeError, "`validation_split` splits arrays only, as `fit` does; `dataset` is a _BatchDataset"),
])
def test_bad_validation_data_or_split_raises_naming_it_before_any_state_changes(call, kwargs, error, message, data):
    model = make_model("dense")
    finder = LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)
    if call == "refine":
        finder(data, batch_size=32, n_steps=20, refine=False)
    before, lrs, built = state_of(model, finder.optimizer), list(finder.lrs), finder.optimizer.built
    arguments = {"dataset": data, "batch_size": 32, **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        if call == "refine":
            finder.refine(**arguments)
        else:
            finder(**arguments, n_steps=20, refine=call == "call")
    assert finder.lrs == lrs and finder.trials is None and finder.optimizer.built == built
    assert_same_state(before, state_of(model, finder.optimizer))


def test_validation_split_measures_the_runs_on_the_last_share_of_the_arrays_as_fit_splits_them(data):
    x, y = data  # 1024 samples: the last 256 are the validation data

    def called(**kwargs):
        model = make_model("dense")
        finder = LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)
        lr = finder(**kwargs, batch_size=32, n_steps=30)
        return lr, finder.losses, finder.trials, state_of(model, finder.optimizer)

    split = called(dataset=(x, y), validation_split=0.25)
    given = called(dataset=(x[:768], y[:768]), validation_data=(x[768:], y[768:]))
    assert split[:3] == given[:3] and split[2].validation
    assert_same_state(split[3], given[3])
    finder = LRFinder(make_model("dense"), keras.optimizers.Adam(), "mse", verbose=False)
    finder((x, y), batch_size=32, n_steps=20, refine=False)
    assert finder.refine((x, y), batch_size=32, steps=20, validation_split=0.25) == finder.refine(
        (x[:768], y[:768]), batch_size=32, steps=20, validation_data=(x[768:], y[768:]))


def test_validation_split_of_0_is_no_split_as_fit_reads_it(data):
    # `fit`'s default, `validation_split=0.0`, splits nothing: a script that passes it on sweeps as without it.
    x, y = data
    losses = []
    for split in (None, 0.0, 0):
        finder = LRFinder(make_model("dense"), keras.optimizers.Adam(), "mse", verbose=False)
        finder((x, y), batch_size=32, n_steps=20, refine=False, validation_split=split)  # no refining: no error
        lr = finder.refine((x, y), batch_size=32, steps=10, validation_split=split)
        assert not finder.trials.validation and lr == finder.lr_opt
        losses.append((finder.losses, finder.trials.losses))
    assert losses[0] == losses[1] == losses[2]


def _replayed_search(trials, low, high, n_candidates, extend):
    """The rates `refine_lib.next_rate` names, run after run, from the candidates, looking each run's loss
    up in `trials` (None if it names a rate that was not run)."""
    by_rate = dict(zip(trials.lrs, trials.losses))
    rates = list(trials.lrs[:n_candidates])
    while len(rates) < n_candidates + extend:
        lrs = np.array(sorted(rates))
        further = refine_lib.next_rate(lrs, np.array([by_rate[r] for r in lrs]), trials.start_loss, low, high)
        if further is None:
            break
        match = [r for r in by_rate if np.isclose(r, further, rtol=1e-12, atol=0)]
        if not match:
            return None
        rates.append(match[0])
    return sorted(rates)


def test_refine_searches_above_the_candidates_leaping_while_the_runs_barely_train(data):
    # Candidates a thousand times below the bottom: 20 steps there barely move the loss, so the
    # search leaps up eight times at a time (`refine.leap`) rather than doubling, at most `extend`
    # runs; each run is measured like the others.
    finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", verbose=False)
    finder(data, batch_size=32, n_steps=40, max_lr=1.0, refine=False)
    bottom = finder.suggest_range()[1]
    finder.refine(data, batch_size=32, steps=20, factors=(1e-3, 2e-3), extend=0, tolerance=0.01, edge=False)
    assert len(finder.trials.lrs) == 2 and finder.lr_opt == finder.trials.lrs[1] and finder.trials.tolerance == 0.01
    first = finder.trials
    assert refine_lib.barely_trained_warning(np.array(first.losses), first.start_loss, 0.0) is not None
    finder.refine(data, batch_size=32, steps=20, factors=(1e-3, 2e-3), extend=2, edge=False)
    t = finder.trials
    np.testing.assert_allclose(t.lrs, bottom * np.array([1e-3, 2e-3, 16e-3, 128e-3]), rtol=1e-12)
    assert t.losses[:2] == first.losses and t.losses[3] < t.losses[2] < t.losses[1]
    # By default it goes on until the search stops by itself (or the guard on cost): the same runs
    # first, then more, each the rate `next_rate` names after the runs before it.
    finder.refine(data, batch_size=32, steps=20, factors=(1e-3, 2e-3), edge=False)
    d = finder.trials
    assert 4 < len(d.lrs) <= 2 + refine_lib.EXTEND and d.losses[:4] == t.losses
    assert _replayed_search(d, finder.lrs[0], finder.lrs[-1], 2, refine_lib.EXTEND) == list(d.lrs)
    # Up eight times while no run had lowered the loss by 10%, then twice (`refine.extension`), once one had.
    steps_up = [8.0 if refine_lib.barely_trained_warning(np.array(d.losses[:i]), d.start_loss, 0.0) else 2.0
                for i in range(2, len(d.lrs))]
    assert 8.0 in steps_up and steps_up[-1] == 2.0
    np.testing.assert_allclose(np.array(d.lrs[2:]) / np.array(d.lrs[1:-1]), steps_up, rtol=1e-12)
    with pytest.raises(ValueError, match="`extend` must be a non-negative integer. Received: extend=-1"):
        finder.refine(data, batch_size=32, extend=-1)


def test_refine_searches_below_the_candidates_while_the_lowest_alone_wins(data):
    # Candidates at and above the bottom: the lowest alone does well, so the search goes on at half
    # the rate until a lower run does about as well (which `choose` then keeps) or no longer wins.
    finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", verbose=False)
    finder(data, batch_size=32, n_steps=40, max_lr=1.0, refine=False)
    bottom = finder.suggest_range()[1]
    finder.refine(data, batch_size=32, steps=20, factors=(1.0, 2.0, 4.0), extend=0)
    t = finder.trials
    np.testing.assert_allclose(t.lrs, bottom * np.array([1.0, 2.0, 4.0]), rtol=1e-12)
    assert refine_lib.below(np.array(t.lrs), np.array(t.losses), t.start_loss, finder.lrs[0]) == t.lrs[0] / 2
    finder.refine(data, batch_size=32, steps=20, factors=(1.0, 2.0, 4.0))
    d = finder.trials
    assert len(d.lrs) > 3 and d.losses[-3:] == t.losses  # the same three runs, and more below them
    np.testing.assert_allclose(d.lrs, bottom * 2.0 ** np.arange(3 - len(d.lrs), 3), rtol=1e-12)
    assert refine_lib.below(np.array(d.lrs), np.array(d.losses), d.start_loss, finder.lrs[0]) is None
    kept = d.lrs[refine_lib.choose(np.array(d.lrs), np.array(d.losses), d.start_loss)]
    assert finder.lr_opt == refine_lib.short_of_divergence(kept, d.lrs, d.losses) <= kept


def test_refine_breaks_ties_with_longer_runs_at_the_tied_rates(data, tmp_path):
    # A wide tolerance makes several runs tie; `tie_steps` runs each of them again for longer, from
    # the same state on the same batches, and the rate is kept from those runs.
    model = make_model("dense")
    finder = LRFinder(model, keras.optimizers.SGD(), "mse", verbose=False)
    finder(data, batch_size=32, n_steps=40, max_lr=1.0, refine=False)
    before = state_of(model, finder.optimizer)
    factors = (1 / 8, 1 / 4, 1 / 2)
    short = finder.refine(data, batch_size=32, steps=20, factors=factors, extend=0, tolerance=0.5, edge=False)
    plain = finder.trials
    assert plain.tie_steps == 0 and plain.tie_lrs == () == plain.tie_losses
    lr = finder.refine(data, batch_size=32, steps=20, factors=factors, extend=0, tolerance=0.5, tie_steps=60,
                       edge=False)
    assert_same_state(before, state_of(model, finder.optimizer))
    t = finder.trials
    assert (t.lrs, t.losses) == (plain.lrs, plain.losses)  # the same short runs first
    ties = np.array(t.lrs)[refine_lib.tied(np.array(t.lrs), np.array(t.losses), t.start_loss, 0.5)]
    assert t.tie_steps == 60 and t.tie_lrs == tuple(ties) and len(ties) >= 2
    kept = refine_lib.break_tie(short, ties, np.array(t.tie_losses), t.start_loss, tolerance=0.5)
    assert lr == t.lr == refine_lib.short_of_divergence(kept, t.lrs, t.losses, start_loss=t.start_loss)
    assert "each run again for 60 steps to tell them apart" in t.summary()
    save_json(finder.history, tmp_path / "h.json")
    assert load_json(tmp_path / "h.json")["trials"]["tie_losses"] == list(t.tie_losses)
    # Each longer run is the run `refine(steps=60)` makes at that rate.
    finder.refine(data, batch_size=32, steps=60, factors=tuple(ties / finder.suggest_range()[1]), extend=0,
                  edge=False)
    np.testing.assert_allclose(t.tie_losses, finder.trials.losses, rtol=1e-6)


class Counted(tqdm):
    """A progress bar that records its name, count and total as it closes."""
    closed: list = []

    def close(self):
        if not self.disable:
            Counted.closed.append((self.desc, self.n, self.total))
        super().close()


def test_the_progress_bars_count_every_step_the_sweep_and_the_runs_take(data):
    # The runs' bar starts at the candidates' steps and grows as the search adds runs (above, below,
    # the edge run, the tied rates again): when it closes, it has counted every run's steps, no more.
    finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", tqdm_class=partial(Counted, file=io.StringIO()))
    Counted.closed = []
    finder(data, batch_size=32, n_steps=40, max_lr=1.0)
    t = finder.trials
    assert Counted.closed == [("LR sweep", len(finder.lrs), 40), ("LR check", 100 * len(t.lrs), 100 * len(t.lrs))]
    assert len(t.lrs) > len(refine_lib.FACTORS)  # the search added runs: the bar grew
    Counted.closed = []
    finder.refine(data, batch_size=32, steps=20, extend=0, tolerance=0.5, tie_steps=60)
    t = finder.trials
    steps = 20 * len(t.lrs) + 60 * len(t.tie_lrs)
    assert len(t.tie_lrs) >= 2 and Counted.closed == [("LR check", steps, steps)]


def test_the_batches_read_before_the_sweep_are_counted_on_a_bar_of_their_own(data):
    # A pipeline, a generator and validation data from either are read to be held before the sweep (arrays are not
    # read: above, no such bar): "LR data" counts them, as many as a default call needs where there are as many.
    x, y = data
    pipeline = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).take(200)  # 200 batches, more than needed
    needed = refine_lib.EVAL_BATCHES + refine_lib.STEPS  # the runs' batches, more than the 40 steps' of the sweep
    validated = refine_lib.STEPS  # with validation data, none held back
    finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", tqdm_class=partial(Counted, file=io.StringIO()))
    Counted.closed = []
    finder(pipeline, n_steps=40, max_lr=1.0, validation_data=pipeline.take(5))
    assert Counted.closed[:2] == [("LR data", validated, validated), ("LR data (validation)", 5, 5)]
    assert [desc for desc, *_ in Counted.closed[2:]] == ["LR sweep", "LR check"]
    Counted.closed = []
    finder(iter(list(pipeline.take(30))), n_steps=40, max_lr=1.0, validation_data=iter(list(pipeline.take(3))))
    assert Counted.closed[:2] == [("LR data", 30, validated), ("LR data (validation)", 3, None)]  # all there is
    Counted.closed = []
    finder(pipeline, n_steps=40, max_lr=1.0)
    assert Counted.closed[0] == ("LR data", needed, needed)
    finder.verbose = False
    Counted.closed = []
    finder(pipeline, n_steps=40, max_lr=1.0)
    assert not Counted.closed


def test_refine_looks_for_the_edge_above_the_runs_where_none_failed(data):
    # The candidates well below the bottom all train and none fails: `edge` (the default) runs once more at twice
    # the highest rate, after the same runs, and the rate is kept from all of them.
    model = make_model("dense")
    finder = LRFinder(model, keras.optimizers.SGD(), "mse", verbose=False)
    finder(data, batch_size=32, n_steps=40, max_lr=1.0, refine=False)
    before = state_of(model, finder.optimizer)
    factors = (1 / 32, 1 / 16, 1 / 8)
    finder.refine(data, batch_size=32, steps=20, factors=factors, extend=0, edge=False)
    plain = finder.trials
    assert not refine_lib.failed(np.array(plain.lrs), np.array(plain.losses), plain.start_loss).any()
    lr = finder.refine(data, batch_size=32, steps=20, factors=factors, extend=0)  # edge=True by default
    assert_same_state(before, state_of(model, finder.optimizer))
    t = finder.trials
    assert t.lrs == plain.lrs + (2 * plain.lrs[-1],) and t.losses[:-1] == plain.losses
    lrs, losses = np.array(t.lrs), np.array(t.losses)
    kept = refine_lib.short_of_divergence(lrs[refine_lib.choose(lrs, losses, t.start_loss)], lrs, losses,
                                          start_loss=t.start_loss)
    assert lr == t.lr == finder.lr_opt == kept
    # Where a run failed already, the edge was seen: no run is added.
    finder.refine(data, batch_size=32, steps=20, factors=(0.5, 1.0, 2.0, 4.0), extend=0, edge=False)
    failing = finder.trials
    assert refine_lib.failed(np.array(failing.lrs), np.array(failing.losses), failing.start_loss).any()
    finder.refine(data, batch_size=32, steps=20, factors=(0.5, 1.0, 2.0, 4.0), extend=0)
    assert (finder.trials.lrs, finder.trials.losses, finder.lr_opt) == (failing.lrs, failing.losses, failing.lr)


def test_refine_keeps_the_rate_a_margin_below_any_run_that_diverged(data):
    # The runs at 2 and 4 times the bottom diverge; the rate kept is at most 2 * bottom / margin,
    # even where that is below every run (a rate not tried); margin=1 keeps the run `choose` picked.
    finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", verbose=False)
    finder(data, batch_size=32, n_steps=40, max_lr=1.0, refine=False)
    bottom = finder.suggest_range()[1]
    finder.refine(data, batch_size=32, steps=20, factors=(0.5, 1.0, 2.0, 4.0), extend=0, margin=1)
    t = finder.trials
    assert [math.isinf(v) for v in t.losses] == [False, False, True, True]
    assert finder.lr_opt == t.lr == t.lrs[refine_lib.choose(np.array(t.lrs), np.array(t.losses), t.start_loss)]
    assert finder.lr_opt >= bottom / 2 > 2 * bottom / 8
    assert t.margin == finder.history["trials"]["margin"] == 1
    assert t.summary().splitlines()[-1] == (
        f"Kept {t.lr:.3g}: the lowest of those rates, the safer for a longer training.")
    finder.refine(data, batch_size=32, steps=20, factors=(0.5, 1.0, 2.0, 4.0), extend=0)
    assert finder.trials.losses == t.losses  # the same runs; only the rate kept differs
    assert finder.lr_opt == finder.trials.lr == pytest.approx(2 * bottom / refine_lib.MARGIN, rel=1e-12)
    assert finder.trials.margin == refine_lib.MARGIN
    assert finder.trials.summary().splitlines()[-2].startswith(
        f"Kept {finder.lr_opt:.3g}: 8 times below {t.lrs[2]:.3g}, the lowest rate whose run failed")


def test_refine_keeps_the_margin_below_a_run_that_ended_worse_than_it_started():
    # A sigmoid output under MSE on noisy labels: at 1000 times the bottom the run saturates the
    # output and ends above the loss it started from (0.25, from zero weights), without rising by
    # the sweep's factor, so it does not diverge; it failed all the same (`refine.failed`), and
    # the rate kept stays `margin` below it. Before that rule the run `choose` picked was kept.
    rng = np.random.RandomState(1)
    x = rng.randn(4096, 8).astype("float32")
    y = (x @ rng.randn(8) + 3 * rng.randn(4096) > 0).astype("float32")[:, None]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, activation="sigmoid",
                                                                     kernel_initializer="zeros")])
    finder = LRFinder(model, keras.optimizers.SGD(), "mse", verbose=False)
    finder((x, y), batch_size=32, refine=False)
    before = state_of(finder.model, finder.optimizer)
    finder.refine((x, y), batch_size=32, steps=50, factors=(0.25, 0.5, 1.0, 1000.0), extend=0, margin=1e4)
    t = finder.trials
    assert t.start_loss == pytest.approx(0.25) and all(v < t.start_loss for v in t.losses[:3])
    assert math.isfinite(t.losses[-1]) and t.losses[-1] > t.start_loss + 0.05
    kept = t.lrs[refine_lib.choose(np.array(t.lrs), np.array(t.losses), t.start_loss)]
    assert kept <= t.lrs[2] and refine_lib.short_of_divergence(kept, t.lrs, t.losses, 1e4) == kept
    assert finder.lr_opt == t.lr == pytest.approx(t.lrs[-1] / 1e4, rel=1e-12)
    assert finder.lr_opt < kept
    assert_same_state(before, state_of(finder.model, finder.optimizer))


def test_refine_keeps_the_margin_below_a_run_thrown_off_above_the_best_rate():
    # A ReLU autoencoder with SGD momentum on standardised data: at the sweep's bottom the run's
    # ReLUs die and its output falls back to the mean (a loss near 1, the data's variance), below
    # the loss it started from but with nearly all of the best run's gain given up. It failed
    # (`refine.failed`, `GIVE_UP`), and the rate kept stays `margin` below it; by the end loss
    # alone (the rule before) the run `choose` picked was kept.
    rng = np.random.RandomState(2)
    z = rng.randn(2048, 3)
    x = (z @ rng.randn(3, 12) + 0.3 * rng.randn(2048, 12)).astype("float32")
    x = (x - x.mean(0)) / x.std(0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3),
                              keras.layers.Dense(16, activation="relu"), keras.layers.Dense(12)])
    finder = LRFinder(model, keras.optimizers.SGD(momentum=0.9), "mse", verbose=False)
    finder((x, x), batch_size=16, refine=False)
    before = state_of(finder.model, finder.optimizer)
    finder.refine((x, x), batch_size=16, factors=(0.25, 0.5, 1.0), extend=0)
    t = finder.trials
    lrs, losses = np.array(t.lrs), np.array(t.losses)
    best = losses.min()
    assert losses.argmin() < 2 and best < 0.3 * t.start_loss
    assert math.isfinite(losses[-1]) and best + refine_lib.GIVE_UP * (t.start_loss - best) < losses[-1] < t.start_loss
    kept = lrs[refine_lib.choose(lrs, losses, t.start_loss)]
    assert refine_lib.short_of_divergence(kept, lrs, losses) == kept  # no run diverged or ended above the start
    assert finder.lr_opt == t.lr == pytest.approx(lrs[-1] / refine_lib.MARGIN, rel=1e-12)
    assert finder.lr_opt < kept
    assert_same_state(before, state_of(finder.model, finder.optimizer))


def test_refine_history_round_trips_a_diverged_run(data, tmp_path):
    finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", verbose=False)
    finder(data, batch_size=32, n_steps=40, max_lr=1.0, refine=False)
    finder.refine(data, batch_size=32, steps=30, factors=(0.5, 1e4))
    assert math.isinf(finder.trials.losses[-1])
    h = finder.history
    assert h["trials"]["warnings"] == list(finder.trials.warnings)
    for save, load in ((save_json, load_json), (save_csv, load_csv)):
        save(h, tmp_path / "h")
        assert load(tmp_path / "h")["trials"] == h["trials"]


def test_refine_searches_below_when_every_candidate_diverges(data):
    # The runs at 2 and 4 times the bottom diverge (as in the test above): the stable rates lie
    # below them all, so the search goes on at half the lowest, where the run trains.
    finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", verbose=False)
    finder(data, batch_size=32, n_steps=40, max_lr=1.0, refine=False)
    bottom = finder.suggest_range()[1]
    finder.refine(data, batch_size=32, steps=20, factors=(2.0, 4.0), extend=1)
    t = finder.trials
    np.testing.assert_allclose(t.lrs, bottom * np.array([1.0, 2.0, 4.0]), rtol=1e-12)
    assert math.isfinite(t.losses[0]) and t.losses[0] < t.start_loss and all(math.isinf(v) for v in t.losses[1:])
    assert finder.lr_opt == t.lr == pytest.approx(2 * bottom / refine_lib.MARGIN, rel=1e-12)


def test_refine_when_every_run_diverges_warns_and_keeps_the_sweep_suggestion_short_of_them(data):
    # With no run left to search below (extend=0), the sweep's suggestion stands, or the lowest
    # diverged rate over `margin` where that is less.
    finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", verbose=False)
    lr = finder(data, batch_size=32, n_steps=40, max_lr=1.0, refine=False)
    bottom = finder.suggest_range()[1]
    with pytest.warns(UserWarning, match="Every short run diverged, even at") as record:
        assert finder.refine(data, batch_size=32, steps=30, factors=(1e4, 1e5), extend=0) == lr
    assert finder.lr_opt == lr and all(math.isinf(v) for v in finder.trials.losses)
    # Recorded with the runs, and in the history, as well as emitted.
    assert finder.trials.warnings == tuple(str(w.message) for w in record) and len(record) == 1
    assert record[0].filename == __file__  # it points at the caller, not at the library
    assert finder.history["trials"]["warnings"] == list(finder.trials.warnings)
    with pytest.warns(UserWarning, match="or the lowest diverged rate over `margin` if less"):
        finder.refine(data, batch_size=32, steps=30, factors=(1e4, 1e5), extend=0, margin=1e6)
    assert finder.lr_opt == finder.trials.lr == pytest.approx(bottom * 1e4 / 1e6, rel=1e-12)
    assert finder.lr_opt < lr


def test_refine_warns_when_even_the_best_run_barely_lowered_the_loss(data):
    # A linear model already at the least-squares solution: no rate can lower its loss much, so
    # the runs cannot rank the rates, and the warning says so (recorded, and in the history).
    x, y = data
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    w, *_ = np.linalg.lstsq(np.c_[x, np.ones(len(x))], y, rcond=None)
    model.layers[0].set_weights([w[:4].astype("float32"), w[4].astype("float32")])
    finder = LRFinder(model, keras.optimizers.SGD(), "mse", verbose=False)
    before = state_of(model, finder.optimizer)
    with pytest.warns(UserWarning, match="The best short run (lowered the loss by only|did not lower the loss)") as record:
        finder((x, y), batch_size=32, n_steps=60)
    t = finder.trials
    assert max(t.start_loss - v for v in t.losses if math.isfinite(v)) < refine_lib.LEAST_GAIN * t.start_loss
    ours = [str(w.message) for w in record if str(w.message).startswith("The best short run")]
    assert list(t.warnings) == ours and finder.history["trials"]["warnings"] == ours and len(ours) == 1
    assert f"the rate kept, {finder.lr_opt:.3g}, is a guess" in ours[0]
    assert_same_state(before, state_of(model, finder.optimizer))
    # A fresh model trains in the same runs: no such warning.
    finder = LRFinder(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]), keras.optimizers.SGD(), "mse",
                      verbose=False)
    finder((x, y), batch_size=32, n_steps=60)
    assert not any(m.startswith("The best short run") for m in finder.trials.warnings)


def test_refine_interrupted_restores_and_propagates(data):
    x, y = data
    model, optimizer = make_model(), keras.optimizers.Adam()
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    finder((x, y), batch_size=32, n_steps=40, refine=False)
    before = state_of(model, optimizer)
    finder.tqdm_class, finder.verbose = Interrupt, True
    with pytest.raises(KeyboardInterrupt):
        finder.refine((x, y), batch_size=32, steps=30)
    assert_same_state(before, state_of(model, optimizer))


def test_ctrl_c_during_the_default_calls_runs_keeps_the_sweeps_reading(data):
    # Pressed while refining's runs check the sweep (the slow part of a default call): the state is
    # restored, and the sweep, its warnings and its reading stay on the finder, so `finder.lr_opt`
    # still answers, with what `refine=False` returns.
    class InterruptTheRuns(tqdm):
        def update(self, n=1):
            super().update(n)
            if self.desc.startswith("LR check"):
                raise KeyboardInterrupt

    model, optimizer = make_model(), keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, "mse", tqdm_class=InterruptTheRuns)
    with pytest.raises(KeyboardInterrupt):
        finder(data, batch_size=32, n_steps=40)
    assert_same_state(before, state_of(model, optimizer))
    assert len(finder.lrs) > 0 and finder.trials is None
    assert finder.lr_opt == finder.suggest().lr == LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)(
        data, batch_size=32, n_steps=40, refine=False)


@pytest.mark.parametrize("kwargs,message", [
    (dict(steps=0), "`steps` must be a positive integer. Received: steps=0"),
    (dict(eval_batches=2.5), "`eval_batches` must be a positive integer. Received: eval_batches=2.5"),
    (dict(tolerance=1.5), "`tolerance` must be in [0, 1). Received: tolerance=1.5"),
    (dict(margin=0.5), "`margin` must be a number of at least 1 (1: no margin). Received: margin=0.5"),
    (dict(factors=(0.5, 0.0)), "`factors` must be a non-empty sequence of positive numbers"),
    (dict(batch_size=None), "`batch_size` is required"),
    (dict(update_bn="yes"), "`update_bn` must be True or False. Received: update_bn='yes'"),
    (dict(edge=1), "`edge` must be True or False. Received: edge=1"),
    (dict(tie_steps=-1), "`tie_steps` must be a non-negative integer. Received: tie_steps=-1"),
    (dict(tie_steps=100), "`tie_steps` must be 0 (no runs to break ties) or more than `steps`, so that the runs "
                          "are longer. Received: tie_steps=100, steps=100"),
])
def test_refine_bad_arguments_raise_before_any_state_changes(kwargs, message, data):
    model, optimizer = make_model(), keras.optimizers.Adam()
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    with pytest.raises(ValueError, match="No sweep recorded yet: call the finder on a dataset first, then `refine`"):
        finder.refine(data, batch_size=32)
    finder(data, batch_size=32, n_steps=30, refine=False)
    before, lr = state_of(model, optimizer), finder.lr_opt
    with pytest.raises(TypeError if {"update_bn", "edge"} & set(kwargs) else ValueError, match=re.escape(message)):
        finder.refine(data, **(dict(batch_size=32) | kwargs))
    assert_same_state(before, state_of(model, optimizer))
    assert finder.lr_opt == lr and finder.trials is None


def test_naming_a_rule_returns_that_rule_unless_refine_is_asked_for(data):
    finder = LRFinder(make_model("dense"), keras.optimizers.Adam(), "mse", verbose=False)
    lr = finder(data, batch_size=32, n_steps=40, method="valley")
    assert lr == finder.lr_opt == finder.suggest("valley").lr and finder.trials is None
    assert finder.settings["refine"] is False
    lr = finder(data, batch_size=32, n_steps=40, method="valley", refine=True)
    assert lr == finder.trials.lr and finder.settings["refine"] is True
    lr = finder(data, batch_size=32, n_steps=40, refine=False)  # a new sweep forgets the old runs
    assert lr == finder.suggest().lr and finder.trials is None and finder.history["trials"] is None


def test_default_call_refines_on_a_one_shot_generator(data):
    x, y = data
    model, optimizer = make_model("dense"), keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    batches = ((x[i:i + 32], y[i:i + 32]) for i in range(0, len(x), 32))  # read once: 32 batches
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    with pytest.warns(UserWarning, match="cycled"):
        lr = finder(batches, n_steps=40)
    assert finder.trials is not None and lr == finder.trials.lr and finder.trials.steps == refine_lib.STEPS
    assert_same_state(before, state_of(model, optimizer))


def test_a_generator_of_sequences_whose_length_varies_by_batch_sweeps_as_the_same_tf_data_does():
    # A generator padded per batch, as `fit` takes it: the finder's replay gives the same sweep and
    # the same refined rate as the same batches from a tf.data.Dataset (the user's own pipeline path).
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(24):
        tokens = rng.integers(1, 30, (16, int(rng.integers(3, 20)))).astype("int32")
        batches.append((tokens, (tokens % 2).mean(axis=1, keepdims=True).astype("float32")))

    def finder():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(30, 8),
                                  keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)])
        return LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)

    spec = (tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, 1), tf.float32))
    from_tf_data, from_generator = finder(), finder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cycled: 24 batches for 40 steps
        lr = from_tf_data(tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=spec), n_steps=40)
        assert from_generator((batch for batch in batches), n_steps=40) == lr
    np.testing.assert_allclose(from_generator.losses, from_tf_data.losses, rtol=1e-6)
    assert from_generator.trials.losses == pytest.approx(from_tf_data.trials.losses, rel=1e-6)


def one_shot_dataset(x, y, n_batches):
    """A tf.data.Dataset over one generator object: a second read yields nothing."""
    batches = ((x[i * 32:(i + 1) * 32], y[i * 32:(i + 1) * 32]) for i in range(n_batches))
    spec = (tf.TensorSpec((None, 4), tf.float32), tf.TensorSpec((None, 1), tf.float32))
    return tf.data.Dataset.from_generator(lambda: batches, output_signature=spec)


def test_validation_data_read_only_once_raises_a_clear_error_and_restores(data):
    # Every run is measured on a fresh pass over the validation data: a dataset that can be read only
    # once runs out at the second pass.
    x, y = data
    model = make_model("dense")
    finder = LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)
    finder((x, y), batch_size=32, n_steps=20, refine=False)
    before, lr = state_of(model, finder.optimizer), finder.lr_opt
    with pytest.raises(ValueError, match=re.escape("`validation_data` ran out: it yielded no batch when read again")):
        finder.refine((x, y), batch_size=32, steps=10, validation_data=one_shot_dataset(x, y, 4))
    assert_same_state(before, state_of(model, finder.optimizer))
    assert finder.lr_opt == lr and finder.trials is None


@pytest.mark.parametrize("n_batches,refine", [(10, False), (30, True)])
def test_data_read_only_once_raises_a_clear_error_and_restores(data, n_batches, refine):
    # 10 batches: the sweep itself runs out (it used to hang, or raise TensorFlow's OutOfRangeError);
    # 30: the sweep completes, then refine's runs, which read the data again, find nothing.
    x, y = data
    model, optimizer = make_model(), keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    with pytest.raises(ValueError, match=re.escape("`dataset` ran out: it yielded no batch when read again")):
        finder(one_shot_dataset(x, y, n_batches), n_steps=20, refine=refine)
    assert_same_state(before, state_of(model, optimizer))
    assert bool(finder.lrs) == refine  # the sweep was recorded when it was refine that ran out
