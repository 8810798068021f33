"""What the snapshot costs in memory, read from TensorFlow's own allocator (not from timings).

TensorFlow counts CPU allocations only with its BFC allocator, chosen by an environment variable
before TensorFlow starts, so the measurement runs in a fresh process.
"""

import json
import os
import subprocess
import sys

import pytest

from tf_lrfinder.state import Snapshot

SCRIPT = r"""
import gc, json, os, warnings
os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import keras, numpy as np, tensorflow as tf
from tf_lrfinder import LRFinder

warnings.simplefilter("ignore")
info = lambda: tf.config.experimental.get_memory_info("CPU:0")
keras.utils.set_random_seed(0)
# Many small kernels, not a few big ones: how the step's temporaries overlap varies from process to
# process by about one kernel's size (with two 2048-wide kernels, 0.16 of `nbytes`, enough to read
# 1.11 copies in one CI run); here one kernel is under 3% of `nbytes`.
L = keras.layers
model = keras.Sequential([keras.Input((64,)), L.Dense(256, activation="relu"), L.BatchNormalization()]
                         + [L.Dense(256, activation="relu") for _ in range(12)] + [L.Dense(10)])
optimizer = keras.optimizers.Adam()
optimizer.build(model.trainable_variables)
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
x = np.random.default_rng(0).normal(size=(256, 64)).astype("float32")
y = (np.arange(256) % 10).astype("int32")

@tf.function
def train_step():
    with tf.GradientTape() as tape:
        value = loss(y[:8], model(x[:8], training=True))
    grads = tape.gradient(value, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))

train_step()
variables = list(model.variables) + list(optimizer.variables)
nbytes = sum(int(np.prod(v.shape)) * 4 for v in variables)
finder = LRFinder(model, optimizer, loss, verbose=False)
finder((x, y), batch_size=8, n_steps=10, max_lr=1e-3)  # warm up: tracing, iterator buffers
train_step()
before = info()["current"]


def peak_of(run):
    # The least of two calls: now and then one call reads up to 0.25 copies more than the next
    # (cause not pinned down; collecting garbage first made it rarer, not gone). The least reads
    # what the call itself must hold.
    peaks = []
    for _ in range(2):
        gc.collect()
        tf.config.experimental.reset_memory_stats("CPU:0")
        run()
        peaks.append(info()["peak"] - before)
    return min(peaks)


plain = peak_of(lambda: [train_step() for _ in range(10)])
peak = peak_of(lambda: finder((x, y), batch_size=8, n_steps=10, max_lr=1e-3, refine=False))  # the sweep alone
after_sweep = info()["current"] - before
train_step()  # the user trains on, with the finder still alive
after_training = info()["current"] - before
peak_default = peak_of(lambda: finder((x, y), batch_size=8, n_steps=10, max_lr=1e-3))  # the sweep, then refine
after_default = info()["current"] - before
print(json.dumps(dict(nbytes=nbytes, plain=plain, peak=peak, after_sweep=after_sweep, after_training=after_training,
                      peak_default=peak_default, after_default=after_default)))
"""


@pytest.fixture(scope="module")
def measured():
    env = dict(os.environ)
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_finder_holds_no_copy_of_the_model_after_the_sweep(measured):
    # Before the device snapshot was closed after each sweep, the finder kept a full copy of every
    # variable (and its first compiled copy kept another): `after_training` read 1.2x `nbytes`.
    slack = 0.02 * measured["nbytes"]
    assert measured["after_sweep"] <= slack
    assert measured["after_training"] <= slack
    assert measured["after_default"] <= slack  # refine's runs leave nothing behind either


# The backups share buffers until the sweep writes a variable; then the written variable takes a new
# buffer and the backup keeps the old one. So the sweep holds one copy of what it writes (here all but
# a few BN scalars), and its peak is below plain training's plus that copy: a write that would be a
# temporary in plain training becomes the variable's new buffer. Measured 0.58-0.75 copies over plain
# training for the sweep and 0.63-0.92 for the default call (14 processes). With a second live copy
# patched into `Snapshot.save` the same script read 1.70 and 2.00; with no snapshot it would read ~0.
ONE_COPY = (0.4, 1.3)


def test_the_sweep_holds_one_copy_of_each_written_variable(measured):
    added = (measured["peak"] - measured["plain"]) / measured["nbytes"]
    assert ONE_COPY[0] <= added <= ONE_COPY[1], measured


def test_refining_holds_one_snapshot_at_a_time(measured):
    # The default call snapshots again for refine's runs, after the sweep's snapshot is emptied, and
    # restores between runs into the same backups.
    added = (measured["peak_default"] - measured["plain"]) / measured["nbytes"]
    assert ONE_COPY[0] <= added <= ONE_COPY[1], measured


def test_restore_before_save_is_an_error():
    import tensorflow as tf

    snapshot = Snapshot([tf.Variable([1.0])])
    with pytest.raises(RuntimeError, match="before save"):
        snapshot.restore()
    snapshot.save()
    snapshot.close()
    with pytest.raises(RuntimeError, match="after close"):
        snapshot.restore()


@pytest.mark.parametrize("location", ["device", "host", "disk"])
def test_restore_and_close_puts_values_back_then_frees(location):
    import numpy as np
    import tensorflow as tf

    weights, steps = tf.Variable([[1.0, 2.0], [3.0, 4.0]]), tf.Variable(7, dtype=tf.int64)
    snapshot = Snapshot([weights, steps], location)
    for _ in range(2):  # the device backups are emptied and refilled
        snapshot.save()
        weights.assign_add(tf.ones_like(weights))
        steps.assign_add(1)
        snapshot.restore_and_close()
        np.testing.assert_array_equal(weights.numpy(), [[1.0, 2.0], [3.0, 4.0]])
        assert int(steps.numpy()) == 7
        with pytest.raises(RuntimeError, match="after close"):
            snapshot.restore()
    if location == "device":
        assert all(c.numpy().size == 0 for c in snapshot._copies)
