"""Optimizers that accumulate gradients (`gradient_accumulation_steps=k`): a step is one update."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import OPTIMIZERS, assert_same_state, make_model, regression_data, state_of
from tf_lrfinder import LRFinder

pytestmark = pytest.mark.filterwarnings("ignore:The (loss never|data ran out|sweep stopped|suggestion sits)")

K = 4


def batches(x, y, size):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


def accumulating(name):
    """The optimizer `OPTIMIZERS[name]`, accumulating gradients over K batches."""
    config = OPTIMIZERS[name]().get_config()
    return type(OPTIMIZERS[name]()).from_config({**config, "gradient_accumulation_steps": K})


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_sweep_over_k_batches_per_update_matches_the_sweep_over_batches_k_times_larger(opt_name):
    # The mean of K gradients over batches of 32 is the gradient over the 128 samples together: the
    # same updates at the same rates, and the mean loss of the K batches is the 128 samples' loss.
    x, y = regression_data(4096)
    plain = LRFinder(make_model("dense"), OPTIMIZERS[opt_name](), "mse", verbose=False)
    plain(batches(x, y, 32 * K), n_steps=30, refine=False)
    accumulated = LRFinder(make_model("dense"), accumulating(opt_name), "mse", verbose=False)
    accumulated(batches(x, y, 32), n_steps=30, refine=False)

    assert accumulated.lrs == plain.lrs and accumulated.stop_reason == plain.stop_reason
    np.testing.assert_allclose(accumulated.losses, plain.losses, rtol=1e-5)
    np.testing.assert_allclose(accumulated.smoothed_losses, plain.smoothed_losses, rtol=1e-5)
    assert accumulated.settings["gradient_accumulation_steps"] == K
    assert plain.settings["gradient_accumulation_steps"] == 1
    assert not accumulated.cycled and not plain.cycled  # 30 steps of 4 batches: 120 of 128


def test_refine_runs_k_batches_per_step_and_holds_back_k_times_the_batches():
    x, y = regression_data(4096)
    plain = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", verbose=False)
    plain(batches(x, y, 32 * K), n_steps=60, refine=False)
    accumulated = LRFinder(make_model("dense"), keras.optimizers.SGD(gradient_accumulation_steps=K), "mse",
                           verbose=False)
    accumulated(batches(x, y, 32), n_steps=60, refine=False)
    plain.refine(batches(x, y, 32 * K), steps=20)
    accumulated.refine(batches(x, y, 32), steps=20)

    assert accumulated.trials.lrs == plain.trials.lrs and accumulated.lr_opt == plain.lr_opt
    np.testing.assert_allclose(accumulated.trials.losses, plain.trials.losses, rtol=1e-4)
    np.testing.assert_allclose(accumulated.trials.start_loss, plain.trials.start_loss, rtol=1e-6)


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_a_sweep_starts_on_a_fresh_update_and_restores_a_half_accumulated_optimizer(opt_name, data):
    x, y = data
    fresh = accumulating(opt_name)
    midway = accumulating(opt_name)
    model_fresh, model_midway = make_model("dense"), make_model("dense")
    # Two batches of four: gradients accumulated, weights not yet updated.
    for _ in range(2):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model_midway(x[:32]) - y[:32]) ** 2)
        grads = tape.gradient(loss, model_midway.trainable_variables)
        midway.apply_gradients(zip(grads, model_midway.trainable_variables))
    assert int(midway._iterations.numpy()) == 2
    assert any(np.any(a.numpy() != 0) for a in midway._accumulated_gradients)
    assert_same_state([v.numpy() for v in model_fresh.variables], [v.numpy() for v in model_midway.variables])
    before = state_of(model_midway, midway)

    a = LRFinder(model_fresh, fresh, "mse", verbose=False)
    b = LRFinder(model_midway, midway, "mse", verbose=False)
    lr_a, lr_b = a((x, y), batch_size=32, n_steps=40), b((x, y), batch_size=32, n_steps=40)

    assert b.losses == a.losses and lr_b == lr_a and b.trials.losses == a.trials.losses  # bit for bit
    assert_same_state(before, state_of(model_midway, midway))  # the half-made update is back


def test_single_batch_data_is_reported_as_cycled(data):
    x, y = data
    finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), "mse", verbose=False)
    with pytest.warns(UserWarning, match="cycled"):
        finder([(x[:64], y[:64])], n_steps=20, refine=False)
    assert finder.cycled
