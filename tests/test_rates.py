"""How the sweep sets an optimizer's rate (`tf_lrfinder.rates`): a `MultiOptimizer`'s sub-optimizers
move together, ScheduleFreeAdamW's warmup is off while the finder trains."""

import warnings

import keras
import numpy as np
import pytest

from conftest import assert_same_state, state_of
from tf_lrfinder import LRFinder
from tf_lrfinder.rates import MULTI, SCHEDULE_FREE, rate_cap, ratios, reference

O = keras.optimizers
needs_multi = pytest.mark.skipif(MULTI is None, reason="this Keras has no MultiOptimizer (3.15 has it, 3.12 not)")
needs_schedule_free = pytest.mark.skipif(SCHEDULE_FREE is None, reason="this Keras has no ScheduleFreeAdamW")

rng = np.random.default_rng(3)
X = rng.normal(size=(256, 6)).astype("float32")
Y = (X[:, :2] @ np.array([[1.5], [-2.0]], "float32") + 0.1 * rng.normal(size=(256, 1))).astype("float32")


def two_layers(frozen_last: bool = False) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh", name="first"),
                              keras.layers.Dense(1, name="last")])
    model.get_layer("last").trainable = not frozen_last
    return model


def swept(optimizer: keras.optimizers.Optimizer, frozen_last: bool = False) -> tuple[np.ndarray, LRFinder]:
    """The losses of a 40-step sweep (no refining) of `two_layers` with `optimizer`, and the finder."""
    model = two_layers(frozen_last)
    model.compile(optimizer, "mse")
    finder = LRFinder(model, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the data cycled; the curve's shape
        finder((X, Y), batch_size=32, n_steps=40, min_lr=1e-4, max_lr=1.0, refine=False)
    return np.array(finder.losses), finder


@needs_multi
@pytest.mark.parametrize("make", [lambda: O.SGD(0.1), lambda: O.Adam(1e-3), lambda: O.Ftrl(0.1)],
                         ids=["sgd", "adam", "ftrl"])
def test_a_multioptimizer_of_one_kind_and_rate_sweeps_as_that_optimizer_alone(make):
    # Its own rate variable, which the sweep used to set, is one no sub-optimizer reads: the sweep
    # trained at the sub-optimizers' own rates throughout, recording rates it never applied (on
    # digits, SGD with Adam for the hidden layer: "never diverged" up to 10, and 0.19 suggested).
    # Each sub-optimizer now applies the swept rate, Ftrl's weights held as they are where it rises.
    alone, _ = swept(make())
    split, finder = swept(O.MultiOptimizer(O.OptimizerMap(make(), {".*first/.*": make()})))
    np.testing.assert_allclose(split, alone, rtol=1e-5)
    assert np.ptp(finder.losses) > 0.1  # the sweep moved the loss


@needs_multi
def test_a_multioptimizer_keeps_each_rates_ratio_to_the_default_optimizers():
    # The last layer's rate is 0 (a ratio of 0): the sweep trains the first layer only, as a model
    # whose last layer is frozen; the rates recorded are the default optimizer's.
    frozen, _ = swept(O.SGD(0.1), frozen_last=True)
    split, finder = swept(O.MultiOptimizer(O.OptimizerMap(O.SGD(0.1), {".*last/.*": O.SGD(0.0)})))
    np.testing.assert_allclose(split, frozen, rtol=1e-5)
    assert [float(o.learning_rate) for o in finder.optimizer.optimizers] == [0.0, pytest.approx(0.1)]  # restored


@needs_multi
def test_a_selector_multioptimizers_rate_is_its_first_sub_optimizers():
    # A selector function gives each variable its own optimizer (a new one for each, here): the first
    # variable's (the first layer's kernel) is the reference; the last layer's two, at rate 0, keep 0.
    frozen, _ = swept(O.SGD(0.2), frozen_last=True)
    split, finder = swept(O.MultiOptimizer(lambda v: O.SGD(0.2) if "first" in v.path else O.SGD(0.0)))
    assert reference(finder.optimizer) is finder.optimizer.optimizers[0]
    assert ratios(finder.optimizer) == [1.0, 1.0, 0.0, 0.0]
    np.testing.assert_allclose(split, frozen, rtol=1e-5)


@needs_multi
def test_training_after_the_finder_is_the_training_without_it_for_a_multioptimizer():
    # Each sub-optimizer's rate is swapped for the sweep's and put back: its own rate variable stays
    # where Keras tracks it (setting a rate through `learning_rate` would untrack and re-add it, moving
    # it to the end of `optimizer.variables`), and `fit` after a call trains as without it.
    def multi():
        return O.MultiOptimizer(O.OptimizerMap(O.SGD(0.05, momentum=0.9), {".*first/.*": O.Adam(1e-3)}))

    def trained(find):
        model = two_layers()
        model.compile(multi(), "mse")
        model.fit(X, Y, batch_size=32, epochs=1, verbose=0)
        paths = [v.path for v in model.optimizer.variables]
        before = state_of(model, model.optimizer)
        if find:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                LRFinder(model, verbose=False)((X, Y), batch_size=32, n_steps=40)
            assert [v.path for v in model.optimizer.variables] == paths
            assert_same_state(before, state_of(model, model.optimizer))
        keras.utils.set_random_seed(1)
        return model.fit(X, Y, batch_size=32, epochs=2, verbose=0).history["loss"]

    assert trained(True) == trained(False)


@needs_multi
def test_a_multioptimizer_the_finder_cannot_sweep_is_told_before_anything_changes():
    model = two_layers()
    with pytest.raises(ValueError, match=r"default optimizer .* has a rate of 0, its others \['0\.1'\].*must be above 0"):
        LRFinder(model, O.MultiOptimizer(O.OptimizerMap(O.SGD(0.0), {".*first/.*": O.SGD(0.1)})), "mse")
    split = O.MultiOptimizer(O.OptimizerMap(O.SGD(0.1, gradient_accumulation_steps=2), {".*first/.*": O.SGD(0.1)}))
    with pytest.raises(ValueError, match=r"different numbers of batches \(\[1, 2\]\).*one `gradient_accumulation"):
        LRFinder(model, split, "mse")
    assert not split.built


@needs_multi
def test_a_selectors_accumulation_known_only_once_built_is_told_and_the_next_call_sweeps():
    # A selector function names its sub-optimizers only as the MultiOptimizer is built, after the finder
    # sized the call's data for one batch a step: the call says so, and the next one holds each rate
    # for the two batches of an update.
    model = two_layers()
    model.compile(O.MultiOptimizer(lambda v: O.SGD(0.1, gradient_accumulation_steps=2)), "mse")
    finder = LRFinder(model, verbose=False)
    before = [v.numpy().copy() for v in model.trainable_variables]
    with pytest.raises(ValueError, match="accumulate gradients over 2 batches, which the finder could not know"):
        finder((X, Y), batch_size=32, n_steps=20, refine=False)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.trainable_variables))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder((X, Y), batch_size=32, n_steps=20, refine=False)
    assert len(finder.lrs) == 20 and finder.settings["gradient_accumulation_steps"] == 2


@needs_multi
def test_a_multioptimizer_of_adafactors_caps_the_swept_rate_at_its_highest_cap():
    # Adafactor applies at most 1/sqrt(t); in the swept rate's terms, a sub-optimizer at ten times the
    # reference's rate reaches its cap at a tenth of it. The sweep trains at no higher rate than the
    # highest of the caps; one sub-optimizer without a cap leaves none.
    model = two_layers()
    capped = O.MultiOptimizer(O.OptimizerMap(O.Adafactor(1e-3), {".*first/.*": O.Adafactor(1e-2)}))
    capped.build(model.trainable_variables)
    assert rate_cap(capped, updates=100) == pytest.approx(0.1)
    assert rate_cap(capped, updates=10_000) == pytest.approx(0.01)
    mixed = O.MultiOptimizer(O.OptimizerMap(O.Adafactor(1e-3), {".*first/.*": O.Adam(1e-2)}))
    mixed.build(model.trainable_variables)
    assert rate_cap(mixed, updates=100) is None


@needs_schedule_free
def test_schedule_free_warmup_is_off_while_the_finder_trains_and_back_after():
    # A warmup scales the rate by t / warmup_steps over its first steps: over 1000 of them, a fresh
    # optimizer's sweep applied a ten-thousandth to a tenth of the rates it recorded. Like a warmup
    # schedule, which the finder swaps for its own rate, it is off while the finder trains: the sweep
    # is that of the optimizer without it, and the warmup is back afterwards.
    plain, _ = swept(O.ScheduleFreeAdamW(1e-3))
    warm, finder = swept(O.ScheduleFreeAdamW(1e-3, warmup_steps=1000))
    np.testing.assert_allclose(warm, plain, rtol=1e-6)
    assert finder.optimizer.warmup_steps == 1000
