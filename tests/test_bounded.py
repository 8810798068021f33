"""An output bounded by its last activation, against regression targets beyond the bounds: told before the sweep."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from conftest import first_batch_warning, short_sweep_warnings

from tf_lrfinder import LRFinder
from tf_lrfinder.bounded import activation_range, bounded_warnings, last_layers

L = keras.layers
BEYOND = "whatever the rate, and the sweep, like `fit`, suggests a rate for a model that cannot fit its targets"


def relu(x):  # the user's own, under Keras's name: not read
    return keras.ops.maximum(x, -1.0)


@pytest.mark.parametrize("layer, expected", [
    (L.Dense(1, activation="sigmoid"), ("sigmoid", 0.0, 1.0)),
    (L.Dense(1, activation=keras.activations.tanh), ("tanh", -1.0, 1.0)),
    (L.Dense(3, activation="softmax"), ("softmax", 0.0, 1.0)),
    (L.Conv2D(1, 3, activation="relu"), ("relu", 0.0, math.inf)),
    (L.Dense(1, activation="relu6"), ("relu6", 0.0, 6.0)),
    (L.Dense(1, activation="softplus"), ("softplus", 0.0, math.inf)),
    (L.Activation("hard_sigmoid"), ("hard_sigmoid", 0.0, 1.0)),
    (L.Softmax(), ("softmax", 0.0, 1.0)),
    (L.ReLU(), ("relu", 0.0, math.inf)),
    (L.ReLU(max_value=1.0), ("relu", 0.0, 1.0)),
    (L.LSTM(2), ("tanh", -1.0, 1.0)),  # o * tanh(c)
    (L.TimeDistributed(L.Dense(1, activation="sigmoid")), ("sigmoid", 0.0, 1.0)),
    (keras.Sequential([L.Dense(2), L.Dense(1, activation="tanh")]), ("tanh", -1.0, 1.0)),
    (L.Dense(1), None),
    (L.Dense(1, activation="leaky_relu"), None),
    (L.ReLU(negative_slope=0.1), None),
    (L.Dense(1, activation=relu), None),
    (L.Dense(1, activation=lambda x: keras.ops.sigmoid(x) * 10), None),
    (L.BatchNormalization(), None),
])
def test_the_bounds_of_keras_activations_are_read(layer, expected):
    assert activation_range(layer) == expected


@pytest.mark.parametrize("call, expected", [
    (keras.ops.sigmoid, ("sigmoid", 0.0, 1.0)),
    (keras.activations.tanh, ("tanh", -1.0, 1.0)),
    (keras.ops.softmax, ("softmax", 0.0, 1.0)),
    (keras.ops.relu, ("relu", 0.0, math.inf)),
    (keras.activations.relu, ("relu", 0.0, math.inf)),
    (lambda t: keras.activations.relu(t, max_value=6.0), ("relu", 0.0, 6.0)),
    (lambda t: keras.activations.relu(t, negative_slope=0.1), None),
    (keras.ops.exp, ("exponential", 0.0, math.inf)),
    (lambda t: keras.ops.sigmoid(t) * 255, None),  # what follows the activation is not guessed at
    (keras.ops.sin, None),
])
def test_activations_called_as_functions_in_a_functional_model_are_read(call, expected):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, call(L.Dense(2)(inputs)))
    [last] = last_layers(model)
    assert activation_range(last) == expected and activation_range(model) == expected


@pytest.mark.parametrize("after", [
    [L.Reshape((16,))], [L.Flatten()], [L.MaxPooling2D(), L.Flatten()], [L.GlobalAveragePooling2D()],
    [L.ZeroPadding2D(), L.Cropping2D(1), L.UpSampling2D()], [L.Permute((2, 1, 3))]])
def test_layers_that_only_reshape_or_pool_are_looked_past(after):
    # A segmentation's sigmoid mask, reshaped or pooled: its values stay from 0 to 1.
    conv = L.Conv2D(1, 3, padding="same", activation="sigmoid", name="mask")
    sequential = keras.Sequential([keras.Input((4, 4, 1)), conv, *after])
    [last] = last_layers(sequential)
    assert last.name == "mask" and activation_range(sequential) == ("sigmoid", 0.0, 1.0)
    inputs = keras.Input((4, 4, 1))
    outputs = L.Conv2D(1, 3, padding="same", activation="tanh", name="tanh_mask")(inputs)
    for layer in after:
        outputs = layer.__class__.from_config(layer.get_config() | {"name": None})(outputs)
    assert [layer.name for layer in last_layers(keras.Model(inputs, outputs))] == ["tanh_mask"]
    assert last_layers(keras.Sequential([keras.Input((4,)), L.Dense(2, activation="sigmoid"), L.Dropout(0.5)]))[0].name \
        .startswith("dropout")  # Dropout scales by 1 / (1 - rate) in training: past the bounds


def test_each_output_s_layer_is_found_in_the_order_of_the_flattened_outputs():
    inputs = keras.Input((3,))
    hidden = L.Dense(4, activation="relu", name="hidden")(inputs)
    score = L.Dense(1, activation="sigmoid", name="zed")(hidden)
    value = L.Activation("tanh", name="mid")(L.Dense(2)(hidden))
    assert [layer.name for layer in last_layers(keras.Model(inputs, [score, value]))] == ["zed", "mid"]
    assert [layer.name for layer in last_layers(keras.Model(inputs, {"zed": score, "beta": value}))] == ["mid", "zed"]
    sequential = keras.Sequential([keras.Input((3,)), L.Dense(2, name="last")])
    assert [layer.name for layer in last_layers(sequential)] == ["last"]

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.out = L.Dense(1, activation="sigmoid")

        def call(self, x):
            return self.out(x)

    subclassed = Subclassed()
    subclassed(np.zeros((1, 3)))
    assert last_layers(subclassed) == []  # its `call` is not read


def sigmoid_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu"), L.Dense(2, activation="sigmoid", name="out")])


def test_targets_beyond_a_sigmoid_are_told_with_the_loss_s_floor_and_the_fix():
    model, x = sigmoid_model(), np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = np.tile(np.array([[0.0, 255.0], [128.0, 3.0]], "float32"), (4, 1))
    y_pred = model(x)
    [message] = bounded_warnings(model, "mse", y, y_pred, None, compiled=False)
    floor = np.mean((y - np.clip(y, 0, 1)) ** 2)
    now = np.mean((y - np.asarray(y_pred)) ** 2)
    assert message == (
        "`loss_fn` (mean_squared_error) compares the model's outputs with the targets, but they end in a sigmoid "
        "(layer `out`), which takes values from 0 to 1, and y on the first batch runs from 0 to 255 (75% of the "
        f"values beyond): the loss cannot fall below {floor:.3g} on that batch (the model's is {now:.3g} now), {BEYOND}. "
        "Scale the targets into [0, 1] (from 0 to 255: `y / 255`), or end the model with a linear output "
        "(`activation=None`).")
    assert bounded_warnings(model, "mse", y / 255, y_pred, None, compiled=False) == []
    assert bounded_warnings(model, "mse", y / 255 + 1e-4, y_pred, None, compiled=False) == []  # rounding
    assert bounded_warnings(model, "mse", np.where(y > 1, np.nan, y), y_pred, None, compiled=False) == []  # finite ones


@pytest.mark.parametrize("loss", ["mae", "huber", "log_cosh", "msle", keras.losses.Huber(delta=0.5),
                                  keras.losses.MeanSquaredError()])
def test_keras_regression_losses_are_checked_and_the_floor_is_their_own(loss):
    model, x = sigmoid_model(), np.zeros((2, 4), "float32")
    y = np.array([[0.0, 3.0], [2.0, 0.5]], "float32")
    [message] = bounded_warnings(model, loss, y, model(x), None, compiled=False)
    function = keras.losses.get(loss) if isinstance(loss, str) else loss
    floor = float(np.mean(np.asarray(function(y, np.clip(y, 0, 1)))))
    assert f"the loss cannot fall below {floor:.3g} on that batch" in message and floor > 0


@pytest.mark.parametrize("loss", ["binary_crossentropy", "hinge", lambda y, p: (y - p) ** 2, None])
def test_other_losses_are_not_checked(loss):
    model = sigmoid_model()
    assert bounded_warnings(model, loss, np.full((2, 2), 5.0), model(np.zeros((2, 4))), None, compiled=False) == []


def test_a_relu_output_given_targets_below_0_is_told_to_shift_them_or_end_linear():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), L.Dense(1, activation="relu", name="out")])
    y = np.array([[-1.5], [0.5], [2.0], [-0.2]], "float32")
    [message] = bounded_warnings(model, "mse", y, model(np.zeros((4, 4))), None, compiled=False)
    assert "end in a relu (layer `out`), which takes values 0 or more, and y on the first batch runs from -1.5 to 2 " \
           "(50% of the values beyond)" in message
    assert message.endswith("Shift the targets to 0 or more, or end the model with a linear output "
                            "(`activation=None`), which reaches any value.")
    tanh = keras.Sequential([keras.Input((4,)), L.Dense(1, activation="tanh")])
    [message] = bounded_warnings(tanh, "mse", y, tanh(np.zeros((4, 4))), None, compiled=False)
    assert "Scale the targets into [-1, 1] (min-max scaling, then `2 * y - 1`)" in message


@pytest.mark.parametrize("activation, loss, fix", [
    ("relu", "binary_crossentropy", "sigmoid"), ("tanh", keras.losses.CategoricalCrossentropy(), "softmax"),
    ("softplus", "sparse_categorical_crossentropy", "softmax")])
def test_a_crossentropy_expecting_probabilities_is_told_an_output_that_does_not_give_them(activation, loss, fix):
    # The first batch's values lie in [0, 1] (so `crossentropy` says nothing), but the activation
    # lets them leave it, where the loss clips them.
    model = keras.Sequential([keras.Input((4,)), L.Dense(3, activation=activation, name="out")])
    value = np.full((2, 3), 0.4, "float32")
    targets = np.array([1, 0]) if "sparse" in str(loss) else np.eye(3)[[1, 0]]
    [message] = bounded_warnings(model, loss, targets, value, None, compiled=True)
    assert message.startswith("The model's compiled loss (") and "expects probabilities in [0, 1] (from_logits=False), " \
        f"but they end in a {activation} (layer `out`)" in message and message.endswith(f"End the model with a {fix}.")
    assert bounded_warnings(model, loss, targets, value + 1, None, compiled=True) == []  # `crossentropy` says it
    logits = keras.losses.BinaryCrossentropy(from_logits=True)
    assert bounded_warnings(model, logits, targets, value, None, compiled=True) == []
    sigmoid = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="sigmoid")])
    assert bounded_warnings(sigmoid, "binary_crossentropy", targets, value, None, compiled=True) == []


def test_the_finder_tells_a_relu_output_given_to_a_binary_crossentropy_before_the_sweep():
    x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), L.Dense(1, activation="relu", kernel_initializer="zeros",
                                                         bias_initializer=keras.initializers.Constant(0.5))])
    message = first_batch_warning(model, keras.optimizers.Adam(), "binary_crossentropy", (x, y),
                                  "expects probabilities")  # once: `crossentropy` sees values of 0.5
    assert "but they end in a relu" in message


def two_outputs() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = L.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, {"share": L.Dense(1, activation="sigmoid", name="share_layer")(hidden),
                                "value": L.Dense(1, name="value_layer")(hidden)})


def test_a_compiled_loss_is_checked_per_output_and_names_it():
    model = two_outputs()
    x = np.zeros((4, 4), "float32")
    y = {"share": np.array([[0.0], [100.0], [50.0], [1.0]], "float32"), "value": np.array([[-9.0], [9.0], [0.0], [1.0]])}
    [message] = bounded_warnings(model, {"share": "mse", "value": "mse"}, y, model(x), model.output_names, compiled=True)
    assert message.startswith("The model's compiled loss (mean_squared_error) compares output 'share' with the targets, "
                              "but it ends in a sigmoid (layer `share_layer`), which takes values from 0 to 1, and the "
                              "targets of output 'share' on the first batch run from 0 to 100 (50% of the values beyond)")


def pixels(n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, np.round(255 / (1 + np.exp(-x[:, :2]))).astype("float32")  # 0 to 255, unscaled


def test_the_finder_warns_before_the_sweep_keeps_the_warning_and_restores_the_state():
    message = first_batch_warning(sigmoid_model(), keras.optimizers.Adam(), "mse", pixels(),
                                  "compares the model's outputs with the targets")
    assert message.startswith("`loss_fn` (mean_squared_error) compares the model's outputs with the targets, but "
                              "they end in a sigmoid (layer `out`)")
    x, y = pixels()
    caught = short_sweep_warnings(LRFinder(sigmoid_model(), keras.optimizers.Adam(), "mse", verbose=False), (x, y / 255))
    assert not [w for w in caught if "compares the model's outputs" in str(w.message)]


def test_a_compiled_model_is_told_for_its_bounded_output_only():
    model = two_outputs()
    model.compile(keras.optimizers.Adam(), {"share": "mse", "value": "mse"})
    x, y = pixels()
    caught = short_sweep_warnings(LRFinder(model, verbose=False), (x, {"share": y[:, :1], "value": y[:, 1:]}))
    told = [str(w.message) for w in caught if "compares output" in str(w.message)]
    assert len(told) == 1 and told[0].startswith("The model's compiled loss (mean_squared_error) compares output 'share'")
