"""Small real models and data shared by the tests."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib

matplotlib.use("Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

L = keras.layers
# Python 3.10 installs Keras 3.12, the newest for it: a few tests check what only Keras 3.15 does.
KERAS_BELOW_3_15 = tuple(int(p) for p in keras.__version__.split(".")[:2]) < (3, 15)


def make_model(kind: str = "bn_dropout", seed: int = 0) -> keras.Model:
    """A model of a few hundred parameters: Dense, BatchNormalization and Dropout."""
    keras.utils.set_random_seed(seed)
    if kind in ("dense", "tanh"):
        return keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu" if kind == "dense" else "tanh"),
                                 L.Dense(1)])
    return keras.Sequential([
        keras.Input((4,)),
        L.Dense(16, activation="relu"),
        L.BatchNormalization(),
        L.Dropout(0.3),
        L.Dense(1),
    ])


class AddIfGiven(keras.layers.Layer):
    """`b + a`, or `b` where the optional input `a` is left out (None)."""

    def call(self, b, a=None):
        return b if a is None else b + a


def optional_input_model(features: int, *layers: keras.layers.Layer) -> keras.Model:
    """A model of two inputs, "a" declared `optional=True` and "b", reading `b + a` (b alone where a is
    None) through `layers` into one output. Skips the test where Keras cannot call a model with an
    input left out (Keras 3.8: "Inputs to a layer should be tensors. Got 'None'"; `fit` fails there too)."""
    inputs = {"a": keras.Input((features,), name="a", optional=True), "b": keras.Input((features,), name="b")}
    h = AddIfGiven()(inputs["b"], inputs["a"])
    for layer in layers:
        h = layer(h)
    model = keras.Model(inputs, L.Dense(1)(h))
    try:
        model({"a": None, "b": np.zeros((2, features), "float32")})  # in inference: no statistics move
    except ValueError as error:
        pytest.skip(f"Keras {keras.__version__} cannot call a model with an input left out (None), nor fit it: {error}")
    return model


def short_sweep_warnings(finder, data, **kwargs) -> list[warnings.WarningMessage]:
    """Every warning a short sweep (20 steps of 32, no refining) of `finder` on `data` raises."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        finder(data, batch_size=32, n_steps=20, refine=False, **kwargs)
    return caught


def first_batch_warning(model: keras.Model, optimizer: keras.optimizers.Optimizer, loss, data, fragment: str) -> str:
    """The warning holding `fragment` that a short sweep of a finder of `model`, `optimizer` (built
    first) and `loss` on `data` raises, asserted told once and first (on the first batch, before the
    sweep's own warnings), as a `UserWarning` pointing at the finder's caller, kept first in
    `finder.warnings` and its history, with the state as before."""
    from tf_lrfinder import LRFinder

    finder = LRFinder(model, optimizer, loss, verbose=False)
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    caught = short_sweep_warnings(finder, data)
    told = [w for w in caught if fragment in str(w.message)]
    assert len(told) == 1 and caught[0] is told[0]
    assert told[0].category is UserWarning and told[0].filename == __file__  # `short_sweep_warnings`, its caller
    assert finder.warnings[0] == str(told[0].message) and finder.history["warnings"][0] == finder.warnings[0]
    assert_same_state(before, state_of(model, optimizer))
    return str(told[0].message)


def regression_data(n: int = 1024, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def state_of(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> list[np.ndarray]:
    """Every variable the sweep could touch, copied to numpy."""
    return [np.array(v.numpy(), copy=True) for v in list(model.variables) + list(optimizer.variables)]


def assert_same_state(before: list[np.ndarray], after: list[np.ndarray]) -> None:
    assert len(before) == len(after)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


OPTIMIZERS = {
    "sgd_momentum": lambda: keras.optimizers.SGD(0.01, momentum=0.9),
    "adam": lambda: keras.optimizers.Adam(1e-3),
}


@pytest.fixture
def data():
    return regression_data()
