"""What a crossentropy expects (probabilities, targets in [0, 1]) against the first batch: told before the sweep."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
from conftest import first_batch_warning, short_sweep_warnings

from tf_lrfinder import LRFinder
from tf_lrfinder.crossentropy import crossentropy_warnings, identify, outside, pairs

L = keras.layers
PROBABILITIES = "expects probabilities in \\[0, 1\\] \\(from_logits=False\\)"


@pytest.mark.parametrize("loss, expected", [
    ("sparse_categorical_crossentropy", ("sparse_categorical_crossentropy", False)),
    ("binary_crossentropy", ("binary_crossentropy", False)),
    ("BinaryCrossentropy", ("binary_crossentropy", False)),
    (keras.losses.CategoricalCrossentropy(), ("categorical_crossentropy", False)),
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True), ("sparse_categorical_crossentropy", True)),
    (keras.losses.BinaryFocalCrossentropy(), ("binary_focal_crossentropy", False)),
    (keras.losses.CategoricalFocalCrossentropy(from_logits=True), ("categorical_focal_crossentropy", True)),
    (keras.losses.binary_crossentropy, ("binary_crossentropy", False)),
    (functools.partial(keras.losses.binary_crossentropy, from_logits=True), ("binary_crossentropy", True)),
])
def test_keras_crossentropies_are_recognised_with_from_logits(loss, expected):
    assert identify(loss) == expected


def binary_crossentropy(y_true, y_pred):  # the user's own, under Keras's name
    return (y_true - y_pred) ** 2


class OwnLoss(keras.losses.Loss):
    def call(self, y_true, y_pred):
        return (y_true - y_pred) ** 2


@pytest.mark.parametrize("loss", ["mse", "no_such_loss", keras.losses.Hinge(), keras.losses.KLDivergence(),
                                  binary_crossentropy, OwnLoss(), lambda y, p: y - p, None])
def test_other_losses_are_not_crossentropies(loss):
    assert identify(loss) is None


def test_outside_reports_the_range_only_beyond_rounding():
    assert outside(np.array([0.0, 0.5, 1.0])) is None
    assert outside(np.array([1.0004, -0.0004])) is None  # rounding: no gradient worth a word is lost
    assert outside(np.array([np.nan, 0.5, -0.25, np.inf])) == (-0.25, 0.5)  # finite values only
    assert outside(np.array([np.nan])) is None
    assert outside(np.array(["a", "b"])) is None


def test_pairs_match_losses_to_outputs_as_compile_does():
    outputs = {"a": 1, "b": 2}
    assert pairs({"b": "mse"}, outputs, ["a", "b"]) == [("b", "mse", 2)]
    assert pairs("mse", [1, 2], ["a", "b"]) == [("a", "mse", 1), ("b", "mse", 2)]
    assert pairs(["mse", "mae"], [1, 2], ["a", "b"]) == [("a", "mse", 1), ("b", "mae", 2)]
    assert pairs(["mse"], [1, 2], ["a", "b"]) == []  # Keras says what is wrong when it computes the loss
    assert pairs(["mse", "mae"], outputs, ["a", "b"]) == []  # a dict's order need not be the outputs'
    assert pairs("mse", 5, ["only"]) == [("only", "mse", 5)]


def test_probabilities_and_logit_losses_give_no_warning():
    probabilities = np.array([[0.1, 0.9], [0.5, 0.5]])
    assert crossentropy_warnings("categorical_crossentropy", np.eye(2), probabilities, ["out"], compiled=False) == []
    assert crossentropy_warnings(keras.losses.CategoricalCrossentropy(from_logits=True), np.eye(2), probabilities - 3, ["out"],
                           compiled=False) == []
    assert crossentropy_warnings("mse", np.eye(2) - 3, probabilities - 3, ["out"], compiled=False) == []


def test_a_warning_names_the_output_and_the_fix():
    outputs = {"label": np.array([[-2.0], [3.0]]), "value": np.array([[-5.0], [7.0]])}
    loss = {"label": "binary_crossentropy", "value": "mse"}
    targets = {"label": np.array([[0.0], [1.0]]), "value": np.array([[-9.0], [9.0]])}
    [message] = crossentropy_warnings(loss, targets, outputs, ["label", "value"], compiled=True)
    assert message.startswith("The model's compiled loss (binary_crossentropy) expects probabilities in [0, 1] "
                              "(from_logits=False), but the model's output 'label' on the first batch range from "
                              "-2 to 3: logits, by the look of them.")
    assert "Compile the model with `keras.losses.BinaryCrossentropy(from_logits=True)`" in message
    assert "end the model with a sigmoid" in message
    [message] = crossentropy_warnings(keras.losses.SparseCategoricalCrossentropy(), np.array([5]), np.array([[-1.0, 2.0]]), ["out"],
                                compiled=False)
    assert "Pass `loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True)`" in message
    assert "end the model with a softmax" in message


def classes(n: int = 1024, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")


def classifier(activation: str | None = None) -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu"), L.Dense(3, activation=activation)])


def test_the_finder_warns_before_the_sweep_keeps_the_warning_and_restores_the_state():
    message = first_batch_warning(classifier(), keras.optimizers.Adam(), "sparse_categorical_crossentropy", classes(),
                                  "expects probabilities")
    assert message.startswith("`loss_fn` (sparse_categorical_crossentropy) expects probabilities")


@pytest.mark.parametrize("model, loss", [
    (classifier, keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
    (lambda: classifier("softmax"), "sparse_categorical_crossentropy"),
])
def test_no_warning_where_the_outputs_fit_the_loss(model, loss):
    finder = LRFinder(model(), keras.optimizers.Adam(), loss, verbose=False)
    caught = short_sweep_warnings(finder, classes())
    assert not [w for w in caught if "expects probabilities" in str(w.message)]
    assert not [w for w in finder.warnings if "expects probabilities" in w]


def test_a_compiled_loss_is_checked_per_output():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = L.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, {"label": L.Dense(1, name="label")(hidden), "value": L.Dense(1, name="value")(hidden)})
    model.compile(keras.optimizers.Adam(), {"label": "binary_crossentropy", "value": "mse"})
    x, y = classes()
    targets = {"label": (y > 0).astype("float32")[:, None], "value": x[:, :1]}
    with pytest.warns(UserWarning, match=f"The model's compiled loss \\(binary_crossentropy\\) {PROBABILITIES}, "
                                         "but the model's output 'label' on the first batch range"):
        LRFinder(model, verbose=False)((x, targets), batch_size=32, n_steps=20, refine=False)



BOUNDLESS = ("there the loss has no lower bound (a sample's loss falls below 0 as its output runs off), and the "
             "sweep, like `fit`, chases it. Map the targets into [0, 1]")


@pytest.mark.parametrize("targets, how", [
    (np.array([[-1.0], [1.0], [1.0]]), f"runs from -1 to 1: {BOUNDLESS} (labels of -1 and 1: `(y + 1) / 2`)."),
    (np.array([[1], [2], [2]]), f"runs from 1 to 2: {BOUNDLESS} (labels of 1 and 2: `y - 1`)."),
    (np.array([[0.0], [3.0], [1.0]]), f"runs from 0 to 3: {BOUNDLESS}."),
])
def test_targets_outside_0_and_1_are_told_for_a_binary_crossentropy(targets, how):
    logits = np.array([[-2.0], [0.5], [3.0]])
    for loss in (keras.losses.BinaryCrossentropy(from_logits=True), "binary_focal_crossentropy"):
        told = crossentropy_warnings(loss, targets, logits if loss != "binary_focal_crossentropy" else logits / 10 + .5,
                                     ["out"], compiled=False)
        assert len(told) == 1 and told[0].startswith(f"`loss_fn` ({identify(loss)[0]}) expects targets in [0, 1], "
                                                     "but y on the first batch " + how)


def test_targets_are_checked_for_one_hot_and_soft_labels_but_not_for_class_indices():
    logits = np.array([[-2.0, 1.0], [0.5, 0.1]])
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    assert crossentropy_warnings(loss, np.array([[0.1, 0.9], [1.0, 0.0]]), logits, ["out"], False) == []
    assert "expects targets in [0, 1]" in crossentropy_warnings(loss, np.array([[-1.0, 1.0], [1.0, -1.0]]), logits,
                                                                ["out"], False)[0]
    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert crossentropy_warnings(sparse, np.array([1, 0]), logits, ["out"], False) == []


def test_the_finder_warns_of_labels_of_minus_1_and_1():
    x, y = classes()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu"), L.Dense(1)])
    finder = LRFinder(model, keras.optimizers.Adam(), keras.losses.BinaryCrossentropy(from_logits=True), verbose=False)
    caught = short_sweep_warnings(finder, (x, np.where(y > 0, 1.0, -1.0).astype("float32")))
    told = [str(w.message) for w in caught if "expects targets in [0, 1]" in str(w.message)]
    assert told == [finder.warnings[0]] and told[0].endswith("(labels of -1 and 1: `(y + 1) / 2`).")
    assert not [w for w in caught if "expects probabilities" in str(w.message)]
