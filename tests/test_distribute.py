"""A model created under `tf.distribute.MirroredStrategy`, with two replicas (two logical CPUs), and
under a `OneDeviceStrategy`.

Logical devices can only be set before TensorFlow starts, so the check runs in a fresh process.
"""

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest


SCRIPT = textwrap.dedent("""
    import contextlib
    import json
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tf_lrfinder import LRFinder

    def make():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(16), keras.layers.BatchNormalization(),
                                 keras.layers.ReLU(), keras.layers.Dense(1)])

    def replicas(variables):  # every replica's value of every variable
        return [[t.numpy().copy() for t in getattr(v.value, "values", [v.value])] for v in variables]

    rng = np.random.default_rng(0)
    x = rng.random((1024, 4), dtype=np.float32); y = x.sum(1, keepdims=True)
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = make()
        optimizer = keras.optimizers.Adam()  # not built: the finder builds its slots
    plain = make()
    plain.set_weights(model.get_weights())
    # Replicas of BatchNorm's statistics (aggregation NONE) may differ, as after `fit`: set them apart.
    for i, component in enumerate(model.layers[1].moving_mean.value.values):
        component.assign(tf.fill(component.shape, 0.1 * (i + 1)))
    plain.layers[1].moving_mean.assign(model.layers[1].moving_mean.value.values[0])

    same = lambda a, b: len(a) == len(b) and all(np.array_equal(p, q) for P, Q in zip(a, b) for p, q in zip(P, Q))
    out = {}
    weights = replicas(model.variables)
    mean = [v.path for v in model.variables].index(model.layers[1].moving_mean.path)
    out["replicas_differ_before"] = not np.array_equal(*weights[mean])
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    lr = finder((x, y), batch_size=32, n_steps=40, refine=False)  # builds the optimizer's slots
    out["slots_mirrored"] = all(len(getattr(v.value, "values", [])) == 2 for v in optimizer.variables
                                if "iteration" not in v.path)
    out["weights_restored_after_first_sweep"] = same(weights, replicas(model.variables))
    # Each replica trained on its half of the batch: BatchNorm's batch statistics are the half's.
    halves = [float(keras.losses.mean_squared_error(y[i:i + 16], plain(x[i:i + 16], training=True)).numpy().mean())
              for i in (0, 16)]
    whole = float(keras.losses.mean_squared_error(y[:32], plain(x[:32], training=True)).numpy().mean())
    finder(tf.data.Dataset.from_tensor_slices((x, y)).batch(32), n_steps=5, refine=False)  # in order
    out["first_loss"], out["halves"], out["whole"] = finder.losses[0], halves, whole
    before = replicas(list(model.variables) + list(optimizer.variables))
    finder((x, y), batch_size=32, n_steps=40, refine=False)
    out["restored_after_sweep"] = same(before, replicas(list(model.variables) + list(optimizer.variables)))
    finder.refine((x, y), batch_size=32, steps=20)
    out["restored_after_refine"] = same(before, replicas(list(model.variables) + list(optimizer.variables)))
    out["runs"] = len(finder.trials.lrs)
    for where in ("host", "disk"):  # the other snapshots keep each replica's copy too
        finder.snapshot = where
        finder((x, y), batch_size=32, n_steps=40)
        out[f"restored_from_{where}"] = same(before, replicas(list(model.variables) + list(optimizer.variables)))
    finder.snapshot = "device"
    # A distributed dataset: refused before anything changes (it failed on a PerReplica batch).
    distributed = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(32))
    try:
        finder(distributed, n_steps=40)
    except TypeError as error:
        out["distributed_error"] = str(error)
    out["restored_after_distributed"] = same(before, replicas(list(model.variables) + list(optimizer.variables)))
    # Called inside the model's own scope, the finder runs as after the block: the same sweep, runs
    # and rate, its steps on the replicas, and the scope goes on as it was.
    runs = lambda: [finder.losses, list(finder.trials.losses), finder.lr_opt]
    finder((x, y), batch_size=32, n_steps=40)
    out["after_block"] = runs()
    with strategy.scope():
        finder = LRFinder(model, optimizer, "mse", verbose=False)  # a new one: its variables made inside
        finder((x, y), batch_size=32, n_steps=40)
        out["inside_scope"] = runs()
        out["scope_goes_on"] = tf.distribute.get_strategy() is strategy and len(tf.Variable(1.0).values) == 2
    own = [v for v in vars(finder._state).values() if isinstance(v, tf.Variable)] + finder._snapshot._copies
    out["own_variables"] = [len(own), sum(hasattr(v, "values") for v in own)]  # how many, how many distributed
    out["restored_inside_scope"] = same(before, replicas(list(model.variables) + list(optimizer.variables)))

    def twins(make, seed, where=strategy, jit=False, loss="mse"):  # made and compiled under `where`; its twin without
        keras.utils.set_random_seed(seed)
        with where.scope():
            model = make()
            model.compile(keras.optimizers.Adam(), loss, jit_compile=jit)
        plain = make()
        plain.set_weights(model.get_weights())
        plain.compile(keras.optimizers.Adam(), loss, jit_compile=jit)
        return model, plain

    # Without BatchNorm, or with it synchronised across the replicas (the whole batch's statistics),
    # the replicas' sweep and runs match the same model's without a strategy: compiled with a loss; a
    # plain function with an L2 penalty (divided by the replicas, as Keras divides its own); XLA
    # asked for (not used across two replicas, as fit fails there).
    dense = lambda reg=None: keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu",
                                                                                      kernel_regularizer=reg),
                                               keras.layers.Dense(1)])
    synced = lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(16),
                                       keras.layers.BatchNormalization(synchronized=True), keras.layers.ReLU(),
                                       keras.layers.Dense(1)])
    square = lambda t, p: tf.square(t - p)[:, 0]
    finders = {}
    for name, where, loss, make, jit in [
            ("compiled", strategy, None, dense, False),
            ("plain_l2", strategy, square, lambda: dense("l2"), False),
            ("xla", strategy, None, dense, True),
            ("one_device_xla", tf.distribute.OneDeviceStrategy("/cpu:1"), None, dense, True),
            ("synchronized_batchnorm", strategy, None, synced, False)]:
        model, plain = twins(make, 2, where, jit)
        before = replicas(model.variables)  # the optimizer is built by the finder
        finder, twin = LRFinder(model, loss_fn=loss, verbose=False), LRFinder(plain, loss_fn=loss, verbose=False)
        out[name] = {"lr": finder((x, y), batch_size=32, n_steps=40), "twin_lr": twin((x, y), batch_size=32, n_steps=40),
                     "losses": finder.losses, "twin_losses": twin.losses,
                     "runs": list(finder.trials.losses), "twin_runs": list(twin.trials.losses),
                     "restored": same(before, replicas(model.variables))}
        finders[name] = finder
    # A last batch of one row: one replica's share is empty (its loss 0, as Keras's losses give).
    for name in ("compiled", "plain_l2"):
        finders[name]((x[:65], y[:65]), batch_size=32, n_steps=9, refine=False)
        out[name]["one_row_losses"] = finders[name].losses

    # Sparse inputs: computed in one place (the replicas' gather of their gradients fails on shares
    # of different sizes; `fit` fails on them under a strategy too), the same sweep as without one.
    sparse = tf.data.Dataset.from_tensor_slices((tf.sparse.from_dense(np.where(x > 0.7, x, 0)), y)).batch(32)
    model, plain = twins(lambda: keras.Sequential([keras.Input((4,), sparse=True),
                                                   keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]), 3)
    pair = [LRFinder(model, verbose=False), LRFinder(plain, verbose=False)]
    for finder in pair:
        finder(sparse, n_steps=30, refine=False)
    out["sparse_losses"], out["sparse_twin_losses"] = pair[0].losses, pair[1].losses

    # A batch size the model fixes (a stateful RNN's): not split, the same sweep as without a strategy.
    xs, ys = rng.random((640, 5, 3), dtype=np.float32), rng.random((640, 1), dtype=np.float32)
    model, plain = twins(lambda: keras.Sequential([keras.Input((5, 3), batch_size=32),
                                                   keras.layers.LSTM(8, stateful=True), keras.layers.Dense(1)]), 4)
    before = replicas(model.variables)
    pair = [LRFinder(model, verbose=False), LRFinder(plain, verbose=False)]
    try:
        for finder in pair:
            finder((xs, ys), batch_size=32, n_steps=20, refine=False)
        out["stateful_losses"], out["stateful_twin_losses"] = pair[0].losses, pair[1].losses
        out["stateful_restored"] = same(before, replicas(model.variables))
    except Exception as error:  # reported by its test, so that the other results still come back
        out["stateful_error"] = repr(error)[:1000]

    # Gradient accumulation (4 batches of 32 per update) against batches of 128 without a strategy,
    # on a model without BatchNorm (whose batch statistics differ between batches of 32 and 128).
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = dense()
        optimizer = keras.optimizers.Adam(gradient_accumulation_steps=4)
    plain = dense()
    plain.set_weights(model.get_weights())
    batches = lambda size: [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]
    before = replicas(list(model.variables))
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    finder(batches(32), n_steps=8, refine=False)
    twin = LRFinder(plain, keras.optimizers.Adam(), "mse", verbose=False)
    twin(batches(128), n_steps=8, refine=False)
    out["accumulated_losses"], out["accumulated_twin_losses"] = finder.losses, twin.losses
    out["accumulated_restored"] = same(before, replicas(list(model.variables)))
    # The same under a OneDeviceStrategy on the second device (its steps run through the strategy).
    with tf.distribute.OneDeviceStrategy("/cpu:1").scope():
        model = dense()
        optimizer = keras.optimizers.Adam(gradient_accumulation_steps=4)
    model.set_weights(plain.get_weights())
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    finder(batches(32), n_steps=8, refine=False)
    out["one_device_accumulated_losses"] = finder.losses

    # BatchNorm's statistics, re-estimated before a run is measured: each replica on its own shares
    # (no device receives the whole batch), its moving statistics the mean of its shares'.
    from tf_lrfinder.batchnorm import build_update_bn

    class Widest(keras.layers.Layer):  # the most rows a call on each replica saw
        def build(self, shape):
            self.rows = self.add_weight(shape=(), initializer="zeros", trainable=False, dtype="int32")

        def call(self, inputs):
            self.rows.assign(tf.maximum(self.rows, tf.shape(inputs)[0]))
            widest.assign(tf.maximum(widest, tf.shape(inputs)[0]))  # the finder restores `rows`, not this
            return inputs

    widest = tf.Variable(0)  # captured, not an attribute: the finder neither sees nor restores it

    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), Widest(), keras.layers.BatchNormalization()])
    statistics = lambda: [[t.numpy().tolist() for t in v.value.values]
                          for v in (model.layers[1].moving_mean, model.layers[1].moving_variance)]
    update = build_update_bn(model)
    out["bn_layers"] = update([(x[i:i + 32], y[i:i + 32]) for i in range(0, 96, 32)])
    out["bn_widest"] = [int(t.numpy()) for t in model.layers[0].rows.value.values]
    out["bn_statistics"] = statistics()
    out["bn_halves"] = [[np.mean([getattr(x[i + h:i + h + 16], part)(0) for i in range(0, 96, 32)], 0).tolist()
                         for h in (0, 16)] for part in ("mean", "var")]
    # Batches of one row: the second replica's shares are empty; it takes the first's statistics.
    update([(x[:1], y[:1]), (x[1:2], y[1:2])])
    out["bn_one_row"] = statistics()
    # A whole call (checks, sweep, runs, BatchNorm's statistics, validation data): no forward pass saw
    # the whole batch of 32 in any place. The checks run on the first replica's share, and say so.
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), Widest(), keras.layers.BatchNormalization(),
                                  keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(), "mse")
    widest.assign(0)
    LRFinder(model, verbose=False)((x, y), batch_size=32, n_steps=20, validation_data=(x[:64], y[:64]))
    out["call_widest"] = int(widest.numpy())
    try:
        LRFinder(model, verbose=False)((np.concatenate([x, x[:, :1]], 1), y), batch_size=32, n_steps=20)
    except ValueError as error:
        out["share_error"] = str(error)
    # A CentralStorageStrategy (variables on one device, computation on both): not one whose replicas
    # the finder runs its steps on, so they run in one place; the call works and restores.
    with tf.distribute.experimental.CentralStorageStrategy(["/cpu:0", "/cpu:1"]).scope():
        model = dense()
        model.compile(keras.optimizers.Adam(), "mse")
        model.optimizer.build(model.trainable_variables)  # its slots, to compare before and after
    before = replicas(list(model.variables) + list(model.optimizer.variables))
    finder = LRFinder(model, verbose=False)
    finder((x, y), batch_size=32, n_steps=40)
    out["central_storage"] = {"lr": finder.lr_opt, "points": len(finder.losses), "runs": len(finder.trials.lrs),
                              "restored": same(before, replicas(list(model.variables) + list(model.optimizer.variables)))}
    # A variable no tracking reaches (in a plain object), one per replica, written by each replica's
    # steps: read off the compiled step's graph, each replica's copy is restored.
    class Held:
        pass

    class Hidden(keras.layers.Layer):
        def build(self, shape):
            self.held = Held()
            self.held.count = tf.Variable(0.0, trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                                          aggregation=tf.VariableAggregation.NONE)

        def call(self, t, training=None):
            if training:
                self.held.count.assign_add(1.0)
            return t

    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), Hidden(), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(), "mse")
    counts = lambda: [float(t.numpy()) for t in model.layers[0].held.count.values]
    model.fit(x[:64], y[:64], batch_size=32, verbose=0)
    before = counts()
    LRFinder(model, verbose=False)((x, y), batch_size=32, n_steps=20)
    out["hidden_counts"] = [before, counts()]

    # Adam writing its moving average into the weights every 5 steps: Keras cannot under the strategy
    # (a merge_call in a conditional; `fit` fails on it), and the finder says so before any step, with
    # the fix, which sweeps.
    ema = lambda every: keras.optimizers.Adam(use_ema=True, ema_overwrite_frequency=every)
    with strategy.scope():
        model = dense()
        model.compile(ema(5), "mse")
        model.optimizer.build(model.trainable_variables)
    before = replicas(list(model.variables) + list(model.optimizer.variables))
    for name, call in (("fit", lambda: model.fit(x[:64], y[:64], batch_size=32, verbose=0)),
                       ("finder", lambda: LRFinder(model, verbose=False)((x, y), batch_size=32, n_steps=20))):
        try:
            call()
        except Exception as error:
            out[f"ema_{name}_error"] = [type(error).__name__, str(error)]
    out["ema_restored"] = same(before, replicas(list(model.variables) + list(model.optimizer.variables)))
    with strategy.scope():
        fixed = ema(None)
    out["ema_fixed_lr"] = LRFinder(model, fixed, "mse", verbose=False)((x, y), batch_size=32, n_steps=20)

    # Mixed precision: in the sixth batch, the second replica's half overflows float16 in the backward
    # pass (its loss is finite). Keras's LossScaleOptimizer reads only the first replica's gradients to
    # decide whether to skip a step, so `fit` applies the overflow: NaN weights. On one device the
    # step is skipped; the finder skips it under the strategy too, and says so.
    big_x, big_y = x[:320].copy(), y[:320].copy()
    big_x[176:192] *= 3000.0
    big_y[176:192] *= 3000.0
    halves = tf.data.Dataset.from_tensor_slices((big_x, big_y)).batch(32)
    scaled = lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, dtype="mixed_float16"),
                                       keras.layers.Dense(1, dtype="float32")])
    # Trained by the model's own `train_step` (Keras's), the optimizer's `apply` skips it so (only while
    # the finder's step is traced: `fit` after it applies the overflow as before).
    import warnings
    for name, where, step in (("plain", None, "finder"), ("mirrored", strategy, "finder"),
                              ("plain_own", None, "model"), ("mirrored_own", strategy, "model")):
        keras.utils.set_random_seed(3)
        with where.scope() if where else contextlib.nullcontext():
            model = scaled()
            model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD()), "mse")
        finder = LRFinder(model, step=step, verbose=False)
        with warnings.catch_warnings(record=True) as told:
            warnings.simplefilter("always")
            finder(halves, n_steps=10, min_lr=1e-6, max_lr=1e-5, refine=False, diverge_factor=None)
            finder.refine(halves, steps=6, eval_batches=2, extend=0, edge=False)
        model.fit(halves, epochs=1, verbose=0)
        out[f"overflow_{name}"] = {"stop": finder.stop_reason, "losses": finder.losses,
                                   "runs": list(finder.trials.losses),
                                   "told": [str(w.message) for w in told if "another replica" in str(w.message)],
                                   "fit_finite": all(bool(np.isfinite(w).all()) for w in model.get_weights()),
                                   "apply_kept": "apply" not in vars(model.optimizer)}

    # An Embedding's sparse gradients, on the replicas, in steps of 20 per compiled call (the
    # default): the replicas' gather of them failed inside the loop of steps at the last, shorter
    # batch ("Shape mismatch in the collective instance"; `fit` fails so with `steps_per_execution=20`
    # too), and every collective op of the process after it. Last, so that a failure cannot take the
    # checks above with it.
    tokens, labels = rng.integers(0, 50, size=(600, 6)), rng.integers(0, 3, size=600)  # a last batch of 24
    embedded = lambda: keras.Sequential([keras.Input((6,), dtype="int32"), keras.layers.Embedding(50, 8),
                                         keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(3)])
    model, plain = twins(embedded, 5, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)  # its slots, to compare before and after
    before = replicas(list(model.variables) + list(model.optimizer.variables))
    try:
        finder, twin = LRFinder(model, verbose=False), LRFinder(plain, verbose=False)
        out["embedding"] = {"lr": finder((tokens, labels), batch_size=32, n_steps=40),
                            "twin_lr": twin((tokens, labels), batch_size=32, n_steps=40),
                            "losses": finder.losses, "twin_losses": twin.losses,
                            "runs": list(finder.trials.losses), "twin_runs": list(twin.trials.losses)}
    except Exception as error:  # reported by its test
        out["embedding_error"] = repr(error)[:1000]
    out["embedding_restored"] = same(before, replicas(list(model.variables) + list(model.optimizer.variables)))
    print("RESULT " + json.dumps(out))
""")


@pytest.fixture(scope="module")
def result():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_an_average_keras_cannot_write_under_the_strategy_is_told_before_any_step(result):
    assert result["ema_fit_error"][0] == "RuntimeError" and "merge_call" in result["ema_fit_error"][1]
    kind, message = result["ema_finder_error"]
    assert kind == "ValueError"
    assert message.startswith("`optimizer` (Adam) writes its moving average into the weights every 5 steps "
                              "(use_ema=True, ema_overwrite_frequency=5), which Keras cannot do under a "
                              "MirroredStrategy")
    assert "ema_overwrite_frequency=None" in message and "finalize_variable_values" in message
    assert result["ema_restored"]
    assert math.isfinite(result["ema_fixed_lr"]) and result["ema_fixed_lr"] > 0


@pytest.mark.parametrize("step", ["finder", "model"])
def test_an_overflow_on_another_replica_is_skipped_as_on_one_device_and_told(result, step):
    plain, mirrored = (result["overflow_plain" + ("_own" if step == "model" else "")],
                       result["overflow_mirrored" + ("_own" if step == "model" else "")])
    assert plain["apply_kept"] and mirrored["apply_kept"]  # the optimizer's own `apply` again, after the call
    assert plain["fit_finite"] and not mirrored["fit_finite"]  # Keras's `fit` applies the overflow
    assert plain["stop"] == mirrored["stop"] == "completed" and len(mirrored["losses"]) == 10
    skipped = 5  # the sixth step: its loss is the sum of the halves', a little off the whole batch's
    np.testing.assert_allclose(np.delete(mirrored["losses"], skipped), np.delete(plain["losses"], skipped), rtol=1e-5)
    np.testing.assert_allclose(mirrored["runs"], plain["runs"], rtol=1e-5)
    assert plain["told"] == []
    sweep, runs = mirrored["told"]
    assert sweep.startswith("On 1 of the sweep's steps, another replica's gradients were not finite while the "
                            "first replica's were: Keras's LossScaleOptimizer under a MirroredStrategy reads only")
    assert runs.startswith("On 4 of refining's runs' steps")  # each of the 4 runs trains on that batch once
    assert "`mixed_bfloat16` needs no loss scale" in sweep


def test_every_replica_is_restored_bit_for_bit(result):
    assert result["replicas_differ_before"]  # else restoring the first replica everywhere would pass
    assert result["weights_restored_after_first_sweep"]
    assert result["restored_after_sweep"]
    assert result["restored_after_refine"]
    assert result["runs"] >= 4
    assert result["restored_from_host"] and result["restored_from_disk"]


def test_a_variable_no_tracking_reaches_is_restored_on_every_replica(result):
    before, after = result["hidden_counts"]
    assert before == [2.0, 2.0]  # each replica counted its steps under `fit`
    assert after == before


def test_a_distributed_dataset_is_refused_before_anything_changes(result):
    assert result["distributed_error"].startswith("`dataset` is a distributed dataset")
    assert "pass the tf.data.Dataset it was made from" in result["distributed_error"]
    assert result["restored_after_distributed"]


def test_a_call_inside_the_model_scope_runs_as_after_the_block(result):
    assert result["inside_scope"] == result["after_block"]
    assert len(result["inside_scope"][0]) == 40 and len(result["inside_scope"][1]) >= 4
    assert result["scope_goes_on"] and result["restored_inside_scope"]
    # The finder's own variables (its sweep's state, its backups) are plain ones, not the strategy's:
    # mirrored, each replica's backup would be held once on every replica.
    own, distributed = result["own_variables"]
    assert own > 10 and distributed == 0


def test_an_unbuilt_optimizer_gets_its_slots_under_the_model_strategy(result):
    assert result["slots_mirrored"]


def test_each_replica_trains_on_its_share_of_the_batch(result):
    # BatchNorm normalises with the statistics of each replica's half, as under `fit`.
    assert result["first_loss"] == pytest.approx(sum(result["halves"]) / 2, rel=1e-5)
    assert abs(result["first_loss"] - result["whole"]) > 1e-3 * result["whole"]


def test_no_forward_pass_of_a_call_receives_the_whole_batch(result):
    assert result["call_widest"] == 16  # batches of 32 on two replicas
    assert result["share_error"].startswith(
        "`dataset` does not fit `model`: calling it on the first batch (on the first replica's share of it, 16 of "
        "its 32 rows, as the model's strategy will run it) raised ValueError: ")
    assert "(16, 5)" in result["share_error"]


def test_a_central_storage_strategy_is_swept_in_one_place_and_restored(result):
    out = result["central_storage"]
    assert out["points"] == 40 and out["runs"] >= 4 and 1e-7 < out["lr"] < 10
    assert out["restored"]


def test_batchnorm_statistics_are_re_estimated_on_each_replica_from_its_own_shares(result):
    assert result["bn_layers"] == 1
    assert result["bn_widest"] == [16, 16]  # batches of 32: no replica ran more than its half
    for replicas, halves in zip(result["bn_statistics"], result["bn_halves"]):  # means, then variances
        np.testing.assert_allclose(replicas, halves, rtol=1e-5)  # each replica, the mean of its halves'
        assert not np.allclose(*replicas, rtol=1e-3)  # which differ, as after `fit`
    for replicas in result["bn_one_row"]:  # no NaN from the empty shares: the first replica's statistics
        assert np.isfinite(replicas).all() and replicas[0] == replicas[1]


@pytest.mark.parametrize("case", ["compiled", "plain_l2", "xla", "one_device_xla", "synchronized_batchnorm"])
def test_the_sweep_and_the_runs_match_the_same_model_without_a_strategy(result, case):
    out = result[case]
    assert len(out["losses"]) == len(out["twin_losses"]) == 40
    assert out["losses"] == pytest.approx(out["twin_losses"], rel=1e-4)
    assert out["runs"] == pytest.approx(out["twin_runs"], rel=1e-3, abs=1e-7)
    assert out["lr"] == pytest.approx(out["twin_lr"], rel=1e-6)
    assert out["restored"]


def test_an_embeddings_sparse_gradients_are_summed_across_replicas_in_steps_of_twenty(result):
    assert "embedding_error" not in result, result["embedding_error"]
    out = result["embedding"]
    assert len(out["losses"]) == len(out["twin_losses"]) == 40
    assert out["losses"] == pytest.approx(out["twin_losses"], rel=1e-4)
    assert out["runs"] == pytest.approx(out["twin_runs"], rel=1e-3, abs=1e-7)
    assert out["lr"] == pytest.approx(out["twin_lr"], rel=1e-6)
    assert result["embedding_restored"]


def test_sparse_inputs_are_swept_in_one_place_as_without_a_strategy(result):
    assert len(result["sparse_losses"]) == 30
    assert result["sparse_losses"] == pytest.approx(result["sparse_twin_losses"], rel=1e-5)


def test_a_batch_size_the_model_fixes_is_not_split(result):
    assert "stateful_error" not in result, result.get("stateful_error")
    assert len(result["stateful_losses"]) == 20
    assert result["stateful_losses"] == pytest.approx(result["stateful_twin_losses"], rel=1e-5)
    assert result["stateful_restored"]


@pytest.mark.parametrize("case", ["compiled", "plain_l2"])
def test_a_replica_with_an_empty_share_adds_nothing_and_no_nan(result, case):
    losses = result[case]["one_row_losses"]
    assert len(losses) == 9 and all(math.isfinite(v) for v in losses)


def test_gradient_accumulation_under_a_strategy_matches_batches_as_large_without_one(result):
    assert len(result["accumulated_losses"]) == len(result["accumulated_twin_losses"]) == 8
    assert result["accumulated_losses"] == pytest.approx(result["accumulated_twin_losses"], rel=1e-5)
    assert result["accumulated_restored"]
    assert result["one_device_accumulated_losses"] == pytest.approx(result["accumulated_twin_losses"], rel=1e-5)
