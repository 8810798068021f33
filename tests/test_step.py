"""The compiled sweep's step (`tf_lrfinder.step`): what it does to optimizers that need more than a rate."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lrfinder import LRFinder
from tf_lrfinder.rates import ftrl_rate_held
from tf_lrfinder.step import SweepState, build_sweep, loss_function


def ftrl_sweep(rates, optimizer, x, y, zero_after_first=False):
    """A sweep of a linear model at `rates` (one batch, repeated) with `optimizer`: the weights after
    it, and the optimizer. `zero_after_first`: every step after the first has a gradient of 0."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign([[0.5], [-1.0], [2.0]])
    optimizer.build(model.trainable_variables)
    state = SweepState()
    state.reset(rates, [0.02] * len(rates), 0.98, np.inf)
    mse, zero = keras.losses.MeanSquaredError(), (lambda t, p: 0.0 * tf.reduce_sum(p, -1))
    sweeps = [build_sweep(model, optimizer, loss_function(model, fn), optimizer._learning_rate, state)
              for fn in ((mse, zero) if zero_after_first else (mse,))]
    data = iter(tf.data.Dataset.from_tensors((x, y)).repeat().enumerate())
    for step in range(len(rates)):  # one step at a time, each from where the last stopped (`state.step`)
        sweeps[min(step, len(sweeps) - 1)](data, tf.constant(1))
    return model.layers[0].kernel.numpy()[:, 0], optimizer


X = np.array([[1.0, 0.5, -0.2], [0.3, -1.0, 0.8], [-0.5, 0.2, 0.1], [2.0, 1.0, 0.0]], "float32")
Y = np.array([[1.0], [-1.0], [0.5], [2.0]], "float32")


@pytest.mark.parametrize("settings", [{}, dict(l1_regularization_strength=0.01, l2_regularization_strength=0.1,
                                                 beta=0.5, learning_rate_power=-0.7)])
def test_ftrl_keeps_its_weights_where_the_sweep_raises_the_rate_without_a_gradient(settings):
    # Ftrl's weights are a closed form of its accumulators and the rate: a step at 100 times the rate
    # used to multiply them by about 100 with no gradient at all. Now a step with a gradient of 0
    # leaves them where they were, at any l1, l2, beta and power.
    first, _ = ftrl_sweep([1e-3], keras.optimizers.Ftrl(**settings), X, Y)
    held, _ = ftrl_sweep([1e-3, 1e-1], keras.optimizers.Ftrl(**settings), X, Y, zero_after_first=True)
    assert np.abs(first).max() > 1e-4  # the first step, with a gradient, left weights to keep
    np.testing.assert_allclose(held, first, rtol=1e-5)  # the second step, of gradient 0, moved nothing


def test_a_sweep_with_ftrl_steps_from_the_weights_as_they_are_as_adagrad_does():
    # Without regularisation, Ftrl at a constant rate is AdaGrad's step from the weights before:
    # w2 = w1 - lr2 * g2 / sqrt(accum2), which the sweep's second step, at a rate 100 times the first,
    # now takes (it used to take about 100 * w1 - ...).
    w1, opt1 = ftrl_sweep([1e-3], keras.optimizers.Ftrl(), X, Y)
    accum1 = opt1._accumulators[0].numpy()[:, 0]
    with tf.GradientTape() as tape:
        kernel = tf.Variable(w1[:, None])
        loss = keras.losses.MeanSquaredError()(Y, X @ kernel)
    g2 = tape.gradient(loss, kernel).numpy()[:, 0]
    w2, _ = ftrl_sweep([1e-3, 1e-1], keras.optimizers.Ftrl(), X, Y)
    np.testing.assert_allclose(w2, w1 - 1e-1 * g2 / np.sqrt(accum1 + g2 ** 2), rtol=1e-4)


def test_the_sweeps_first_step_replaces_a_fresh_ftrls_starting_weights_as_fit_does():
    # Its `linear` starts at 0, so Keras's Ftrl sets the weights to about the first gradient's step,
    # in `fit` as in the sweep: the finder leaves the first step as Keras takes it.
    w1, _ = ftrl_sweep([1e-3], keras.optimizers.Ftrl(), X, Y)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign([[0.5], [-1.0], [2.0]])
    model.compile(keras.optimizers.Ftrl(1e-3), "mse")
    model.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(w1, model.layers[0].kernel.numpy()[:, 0], rtol=1e-5)


def test_a_sweep_at_one_rate_trains_ftrl_as_fit_does():
    # As a run of `refine` does: the rate never changes, so nothing is held, and the weights are Keras's.
    w, _ = ftrl_sweep([1e-2] * 5, keras.optimizers.Ftrl(l1_regularization_strength=0.01), X, Y)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign([[0.5], [-1.0], [2.0]])
    model.compile(keras.optimizers.Ftrl(1e-2, l1_regularization_strength=0.01), "mse")
    model.fit(X, Y, batch_size=4, epochs=5, verbose=0, shuffle=False)
    np.testing.assert_allclose(w, model.layers[0].kernel.numpy()[:, 0], rtol=1e-6)


def test_ftrl_rate_held_is_none_for_other_optimizers():
    v = keras.Variable([1.0])
    for optimizer in (keras.optimizers.SGD(), keras.optimizers.Adagrad(), keras.optimizers.Adam()):
        assert ftrl_rate_held(optimizer, [v]) is None


def test_a_call_with_ftrl_suggests_a_rate_that_trains():
    # 3 classes from 10 features: Ftrl trains best here from about 0.3 to 1 (5 epochs of `fit`: 0.55 to
    # 0.58 at 0.27 and 1, 0.63 at 0.1, 0.98 at 0.01). The sweep used to blow up at 3e-5, its weights
    # rescaled 20% a step, and the call returned 6.7e-8, where `fit` ends at 1.12.
    rng = np.random.default_rng(25)
    x = rng.normal(size=(600, 10)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0)
    keras.utils.set_random_seed(25)
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3)])
    model.compile(keras.optimizers.Ftrl(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    finder = LRFinder(model, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the data cycled
        lr = finder((x, y), batch_size=32)
    assert 0.05 < lr < 3, lr
    assert finder.stop_reason == "completed" or finder.lrs[-1] > 0.3  # no blow-up at tiny rates


def cosine_sweep(regulariser: str | None = None) -> tuple[float, LRFinder]:
    """A default call on an Embedding model trained by RMSprop towards 3 targets by `CosineSimilarity`."""
    rng = np.random.default_rng(20)
    x = rng.integers(0, 50, size=(512, 6))
    y = (x[:, :3] / 25.0 - 1).astype("float32")
    keras.utils.set_random_seed(20)
    inputs = keras.Input((6,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 8)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, kernel_regularizer=regulariser)(pooled))
    model.compile(keras.optimizers.RMSprop(), keras.losses.CosineSimilarity())
    finder = LRFinder(model, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the data cycled; the loss never diverged
        return finder((x, y), batch_size=32), finder


def test_a_cosine_similarity_loss_near_zero_is_swept_past_its_noise():
    # `CosineSimilarity` is about 0 untrained and -1 at best: the distance rule alone (3 times a best
    # near 0) read the batch-to-batch noise of the lowest rates as divergence, and this sweep stopped at
    # its third step, the call returning 1.2e-7. The rise must now stand out of the noise too: the
    # sweep runs to where the loss has fallen, and the rate trains (6 epochs of `fit` reach -0.34 at
    # 1e-3 and -0.42 to -0.44 from 3e-3 to 1).
    lr, finder = cosine_sweep()
    assert len(finder.lrs) > 80 and min(finder.losses) < -0.3
    assert 1e-3 < lr < 1, lr


def test_a_bounded_loss_that_may_never_diverge_is_not_told_to_raise_max_lr():
    # From its bottom (about -0.44), a cosine similarity's loss would have to rise past 0.9 for the sweep
    # to count it diverged, far worse than untrained (about 0): it need not at any rate, and a higher
    # `max_lr` can move the suggestion (on another such model, from 0.19 to 7.7 at `max_lr=1000`, where
    # `fit` trains worse). A model that adds a regulariser's loss, which grows without bound, is still
    # told to raise it.
    _, finder = cosine_sweep()
    never = [m for m in finder.warnings if m.startswith("The loss never diverged")]
    assert len(never) == 1 and never[0].startswith(
        "The loss never diverged up to `max_lr`=10, and may never: CosineSimilarity stays between -1 and 1")
    _, regularised = cosine_sweep("l2")
    assert not any("may never" in m for m in regularised.warnings)
