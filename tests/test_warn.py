"""Warnings point at the user's line, from any depth of the finder (`tf_lrfinder.warn`)."""

import warnings

import keras
import numpy as np

from tf_lrfinder import LRFinder
from tf_lrfinder.warn import warn


def _told(call):
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        call()
    return told


def test_warn_skips_every_frame_of_the_package():
    # Code run with the package's globals counts as the package's, as a dataclass's generated `__init__` does.
    package = {"__name__": "tf_lrfinder.somewhere", "warn": warn}
    exec("def deep(message):\n    warn(message)\n\ndef deeper(message):\n    deep(message)\n", package)
    told = _told(lambda: package["deeper"]("deep inside"))
    assert [str(w.message) for w in told] == ["deep inside"]
    assert told[0].filename == __file__  # the lambda's line above, the first frame outside the package


def test_warn_from_the_user_module_points_at_it():
    told = _told(lambda: warn("here", RuntimeWarning))
    assert told[0].category is RuntimeWarning and told[0].filename == __file__


class _OwnStep(keras.Model):
    def train_step(self, data):  # never called: the finder trains with its own step (step="finder")
        raise AssertionError


def test_a_model_set_on_a_finder_is_warned_of_at_the_line_that_set_it():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    finder = LRFinder(model, "sgd", "mse", step="finder", verbose=False)
    inputs = keras.Input((2,))
    own = _OwnStep(inputs, keras.layers.Dense(1)(inputs))
    told = _told(lambda: setattr(finder, "model", own))
    assert len(told) == 1 and "overrides `train_step`" in str(told[0].message)
    assert told[0].filename == __file__
    told = _told(lambda: LRFinder(_OwnStep(inputs, keras.layers.Dense(1)(inputs)), "sgd", "mse", step="finder"))
    assert len(told) == 1 and told[0].filename == __file__


def test_warnings_of_setup_sweep_and_runs_all_point_at_the_call():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])  # logits, to a loss expecting probabilities
    finder = LRFinder(model, "sgd", "sparse_categorical_crossentropy", verbose=False)
    for call in (lambda: finder((x, y), batch_size=16, max_lr=1e-3, n_steps=20),  # never diverges; data cycled
                 lambda: finder.refine((x, y), batch_size=16, steps=5, eval_batches=1)):
        told = _told(call)
        assert any("from_logits" in str(w.message) for w in told)  # the first batch's, before anything ran
        assert len(told) >= 2 and {w.filename for w in told} == {__file__}
