"""A model created under `tf.distribute.MirroredStrategy`, with two replicas (two logical CPUs).

Logical devices can only be set before TensorFlow starts, so the check runs in a fresh process.
"""

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
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
    twin = LRFinder(plain, keras.optimizers.Adam(), "mse", verbose=False)
    twin_lr = twin((x, y), batch_size=32, n_steps=40, refine=False)
    out["losses"], out["twin_losses"] = finder.losses, twin.losses
    out["lr"], out["twin_lr"] = lr, twin_lr
    before = replicas(list(model.variables) + list(optimizer.variables))
    finder((x, y), batch_size=32, n_steps=40, refine=False)
    out["restored_after_sweep"] = same(before, replicas(list(model.variables) + list(optimizer.variables)))
    finder.refine((x, y), batch_size=32, steps=20)
    out["restored_after_refine"] = same(before, replicas(list(model.variables) + list(optimizer.variables)))
    out["runs"] = len(finder.trials.lrs)
    # A distributed dataset: refused before anything changes (it failed on a PerReplica batch).
    distributed = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(32))
    try:
        finder(distributed, n_steps=40)
    except TypeError as error:
        out["distributed_error"] = str(error)
    out["restored_after_distributed"] = same(before, replicas(list(model.variables) + list(optimizer.variables)))

    # Gradient accumulation (4 batches of 32 per update) against batches of 128 without a strategy,
    # on a model without BatchNorm (whose batch statistics differ between batches of 32 and 128).
    dense = lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"),
                                      keras.layers.Dense(1)])
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
    print("RESULT " + json.dumps(out))
""")


@pytest.fixture(scope="module")
def result():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_every_replica_is_restored_bit_for_bit(result):
    assert result["replicas_differ_before"]  # else restoring the first replica everywhere would pass
    assert result["weights_restored_after_first_sweep"]
    assert result["restored_after_sweep"]
    assert result["restored_after_refine"]
    assert result["runs"] >= 4


def test_a_distributed_dataset_is_refused_before_anything_changes(result):
    assert result["distributed_error"].startswith("`dataset` is a distributed dataset")
    assert "pass the tf.data.Dataset it was made from" in result["distributed_error"]
    assert result["restored_after_distributed"]


def test_an_unbuilt_optimizer_gets_its_slots_under_the_model_strategy(result):
    assert result["slots_mirrored"]


def test_the_sweep_matches_the_same_model_without_a_strategy(result):
    assert len(result["losses"]) == len(result["twin_losses"]) == 40
    assert result["losses"] == pytest.approx(result["twin_losses"], rel=1e-4)
    assert result["lr"] == pytest.approx(result["twin_lr"], rel=1e-6)


def test_gradient_accumulation_under_a_strategy_matches_batches_as_large_without_one(result):
    assert len(result["accumulated_losses"]) == len(result["accumulated_twin_losses"]) == 8
    assert result["accumulated_losses"] == pytest.approx(result["accumulated_twin_losses"], rel=1e-5)
    assert result["accumulated_restored"]
