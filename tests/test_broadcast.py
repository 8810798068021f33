"""Targets a regression loss broadcasts against outputs of another shape: told before the sweep."""

from __future__ import annotations


import keras
import numpy as np
import pytest
from conftest import first_batch_warning, short_sweep_warnings

from tf_lrfinder import LRFinder
from tf_lrfinder.broadcast import broadcast_shapes, broadcast_warnings

L = keras.layers


@pytest.mark.parametrize("target, output, expected", [
    ((32, 1), (32, 3), ((32, 1), (32, 3))),
    ((32, 3), (32, 1), ((32, 3), (32, 1))),
    ((32, 5, 1), (32, 5, 3), ((32, 5, 1), (32, 5, 3))),
    ((32, 1, 1), (32, 3), ((32, 1), (32, 3))),  # Keras drops the trailing 1 first
    ((1, 3), (32, 3), ((1, 3), (32, 3))),
    ((32,), (32, 1), None),  # the same to Keras
    ((32, 1), (32,), None),
    ((32, 3), (32, 3), None),
    ((32,), (32, 3), None),  # Keras raises on these itself
    ((32, 2), (32, 3), None),
])
def test_shapes_are_compared_as_keras_compares_them(target, output, expected):
    assert broadcast_shapes(target, output) == expected


@pytest.mark.parametrize("target, output", [((32, 1), (32, 3)), ((32, 3), (32, 1)), ((32, 5, 1), (32, 5, 3)),
                                            ((32, 1, 1), (32, 3))])
def test_the_shapes_the_warning_names_are_those_keras_broadcasts_without_an_error(target, output):
    # What the check calls silent is: Keras's loss gives one number for them, no error.
    value = keras.losses.MeanSquaredError()(np.ones(target, "float32"), np.zeros(output, "float32"))
    assert np.shape(value) == () and float(value) == 1.0


def test_each_direction_is_told_with_its_fix():
    [message] = broadcast_warnings("mae", np.zeros((32, 4)), np.zeros((32, 1)), None, compiled=False)
    assert message == (
        "`loss_fn` (mean_absolute_error) compares the model's outputs, of shape (32, 1) on the first batch, with y of "
        "shape (32, 4): Keras broadcasts them, without an error here or in `fit`, so the one output is trained towards "
        "the mean of the 4 targets. Give the model 4 outputs (`Dense(4)`), or pass one target per sample.")
    [message] = broadcast_warnings(keras.losses.Huber(), np.zeros((32, 1)), np.zeros((32, 10)), None, compiled=False)
    assert "so each of the 10 outputs is trained towards the same target. Give the model one output" in message
    [message] = broadcast_warnings("mse", np.zeros((1, 3)), np.zeros((32, 3)), None, compiled=False)
    assert message.endswith("Keras broadcasts them, without an error here or in `fit`, so targets and outputs are not "
                            "paired one to one. Pass targets of the outputs' shape.")


@pytest.mark.parametrize("loss", ["binary_crossentropy", "hinge", lambda y, p: (y - p) ** 2])
def test_other_losses_and_matching_shapes_are_not_told(loss):
    assert broadcast_warnings(loss, np.zeros((32, 1)), np.zeros((32, 3)), None, compiled=False) == []
    assert broadcast_warnings("mse", np.zeros((32, 3)), np.zeros((32, 3)), None, compiled=False) == []
    ragged = keras.ops.convert_to_tensor(np.zeros((2, 3)))  # known shapes only: a ragged target is passed over
    assert broadcast_warnings("mse", type("Ragged", (), {"shape": (2, None)})(), ragged, None, compiled=False) == []


def test_a_compiled_loss_is_checked_per_output_and_names_it():
    outputs = {"price": np.zeros((32, 1)), "scores": np.zeros((32, 3))}
    targets = {"price": np.zeros((32,)), "scores": np.zeros((32, 1))}
    [message] = broadcast_warnings({"price": "mse", "scores": "mse"}, targets, outputs, ["price", "scores"],
                                   compiled=True)
    assert message.startswith("The model's compiled loss (mean_squared_error) compares the values of output 'scores', of "
                              "shape (32, 3) on the first batch, with the targets of output 'scores', of shape (32, 1)")


def test_the_finder_warns_before_the_sweep_keeps_the_warning_and_restores_the_state():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu"), L.Dense(3)])  # a classifier's head
    optimizer = keras.optimizers.Adam()
    x = np.random.default_rng(0).normal(size=(1024, 4)).astype("float32")
    y = x[:, :1] * 2 + 1  # one target per sample
    message = first_batch_warning(model, optimizer, "mse", (x, y), "Keras broadcasts them")
    assert message.startswith("`loss_fn` (mean_squared_error) compares the model's outputs, of shape (32, 3)")
    caught = short_sweep_warnings(LRFinder(model, optimizer, "mse", verbose=False), (x, np.repeat(y, 3, axis=1)))
    assert not [w for w in caught if "Keras broadcasts them" in str(w.message)]
