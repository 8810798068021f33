"""Outputs bounded by the activation that ends them, against regression targets beyond those bounds.

An output that ends in a sigmoid takes values between 0 and 1, a tanh between -1 and 1, a ReLU 0
or more. A regression loss (mean squared error and its kin) compares those values with the targets
themselves, so targets beyond the bounds (pixels of 0 to 255 for a sigmoid, standardised targets
below 0 for a ReLU) leave a floor that no rate lowers, and the sweep, like `fit`, suggests a rate
for a model that cannot fit its data, without a word. On scikit-learn's diabetes data with
standardised targets, an MLP ending in a ReLU reaches a training loss of 0.59 after 50 epochs of
Adam (the floor: 0.42), against 0.38 with a linear output; an autoencoder of its digits ending in a
sigmoid, given the pixels of 0 to 16, reaches 51.0, worse than predicting every pixel's mean (36.2),
against 0.020 (0.14 of their variance) given them divided by 16.

The same reading tells an output that ends in a ReLU or a tanh given to a crossentropy that expects
probabilities (`from_logits=False`): where its values leave [0, 1], the loss clips them and gives
them no gradient. `tf_lrfinder.crossentropy` tells that from the first batch's values where they
leave [0, 1]; this, from the layers, where they do not yet.

Some losses are bounded themselves, whatever the outputs: `loss_range` tells the sweep's checks
(`tf_lrfinder.diagnose`) where a loss cannot rise far enough for the sweep to count it diverged.

Only what Keras builds is read (an `activation` of Keras's own, a `Softmax` or `ReLU` layer, one of
Keras's activations called as a function in a functional model, through a wrapper or a nested
model's last layer), and only Keras's own regression losses are checked: a custom activation or
loss is not guessed at.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .crossentropy import ACTIVATIONS, identify, outside, per_output, targets_run, whose
from .step import keras_loss, named_outputs

# The values each of Keras's bounded activations takes, by name.
RANGES = {"sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0), "tanh": (-1.0, 1.0),
          "hard_tanh": (-1.0, 1.0), "softsign": (-1.0, 1.0), "relu": (0.0, math.inf), "relu6": (0.0, 6.0),
          "softplus": (0.0, math.inf), "exponential": (0.0, math.inf)}
# The same activations called as functions in a functional model (`keras.ops.sigmoid(x)`, or
# `keras.activations.sigmoid(x)`), by the class of the operation Keras records for them.
OPS = {"Sigmoid": "sigmoid", "HardSigmoid": "hard_sigmoid", "Softmax": "softmax", "Tanh": "tanh",
       "Softsign": "softsign", "Relu": "relu", "Relu6": "relu6", "Softplus": "softplus", "Exp": "exponential"}
# Layers that only reshape, crop, repeat, pad with zeros or pool an output's values: the activation
# before them bounds the output still.
THROUGH = tuple(getattr(keras.layers, name) for name in (
    "Reshape", "Flatten", "Permute", "RepeatVector", "Identity", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D") if hasattr(keras.layers, name))
# The activations whose values are probabilities, as a crossentropy with `from_logits=False` expects.
PROBABILITIES = ("sigmoid", "hard_sigmoid", "softmax")
# Keras's losses that compare an output's values with the targets themselves.
REGRESSION = ("mean_squared_error", "mean_absolute_error", "huber", "log_cosh", "mean_squared_logarithmic_error",
              "mean_absolute_percentage_error")
# Keras's losses whose values stay within bounds at any rate (unweighted), by the name of the function:
# a cosine similarity's negative, and one minus an overlap's share.
LOSS_RANGES = {"cosine_similarity": (-1.0, 1.0), "dice": (0.0, 1.0), "tversky": (0.0, 1.0)}


def loss_range(model: keras.Model, loss: Any) -> tuple[str, float, float] | None:
    """The name, lowest and highest value of `loss` where it is one of Keras's bounded losses
    (`LOSS_RANGES`), given as one loss for every output (not one per output), and `model` adds no
    loss of its own (`model.losses`: a regulariser's grows with the weights, without bound); else
    None. Sample weights scale the bounds, which this does not count.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
        >>> loss_range(model, keras.losses.CosineSimilarity()), loss_range(model, "mse")
        (('CosineSimilarity', -1.0, 1.0), None)
        >>> regularised = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, kernel_regularizer="l2")])
        >>> loss_range(regularised, "cosine_similarity") is None
        True
    """
    found = keras_loss(loss)  # None for a dict or list of losses, one per output
    if found is None or found[0] not in LOSS_RANGES or model.losses:
        return None
    name = "".join(part.capitalize() for part in found[0].split("_"))
    return (name, *LOSS_RANGES[found[0]])


def activation_range(layer: Any) -> tuple[str, float, float] | None:
    """The activation that ends `layer`'s output and the lowest and highest values it takes, where
    it is one of Keras's bounded ones (`RANGES`), as a layer's `activation`, a `Softmax` or `ReLU`
    layer, or called as a function in a functional model (`OPS`); else None. A wrapper
    (`TimeDistributed`) is read through, and a nested model by its last layer.

    Example:
        >>> activation_range(keras.layers.Dense(1, activation="sigmoid"))
        ('sigmoid', 0.0, 1.0)
        >>> activation_range(keras.layers.ReLU(max_value=6.0)), activation_range(keras.layers.Dense(1))
        (('relu', 0.0, 6.0), None)
    """
    for _ in range(100):  # nested models and wrappers, to a depth no model reaches
        if isinstance(layer, keras.layers.Wrapper):
            layer = layer.layer
        elif isinstance(layer, keras.Model):
            layer = last_layers(layer)
            if len(layer) != 1:
                return None
            layer = layer[0]
        else:
            break
    if isinstance(layer, keras.layers.Softmax):
        return "softmax", 0.0, 1.0
    op = type(layer).__name__ if type(layer).__module__.startswith("keras.") else None
    if isinstance(layer, keras.layers.ReLU) or (op == "ReLU" and not isinstance(layer, keras.layers.Layer)):
        # The layer, or `keras.activations.relu(x, ...)` called in a functional model: their options.
        if getattr(layer, "negative_slope", 0.0) or getattr(layer, "threshold", 0.0):
            return None
        high = getattr(layer, "max_value", None)
        return "relu", 0.0, math.inf if high is None else float(high)
    if op in OPS and not isinstance(layer, keras.layers.Layer):
        return (OPS[op], *RANGES[OPS[op]])
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    if name not in RANGES or getattr(keras.activations, name, None) is not activation:
        return None
    return (name, *RANGES[name])


def last_layers(model: keras.Model) -> list[Any]:
    """The last layer that sets the values of each of `model`'s outputs, in the order
    `tf.nest.flatten` gives its outputs, past layers that only reshape or pool them (`THROUGH`): a
    `Sequential`'s; a functional model's from its graph; [] for a subclassed model, whose `call` is
    not read.

    Example:
        >>> inputs = keras.Input((2,))
        >>> model = keras.Model(inputs, {"b": keras.layers.Dense(1, name="p")(inputs),
        ...                              "a": keras.layers.Reshape((1,))(keras.layers.Dense(1, name="q")(inputs))})
        >>> [layer.name for layer in last_layers(model)]
        ['q', 'p']
    """
    if isinstance(model, keras.Sequential):
        layers = list(model.layers)
        while len(layers) > 1 and isinstance(layers[-1], THROUGH):
            layers.pop()
        return layers[-1:]
    try:
        outputs = model.output  # a functional model's structure of symbolic outputs
    except (AttributeError, ValueError):  # a subclassed model, never called on symbolic inputs
        return []
    found = []
    for output in tf.nest.flatten(outputs):
        history = getattr(output, "_keras_history", None)
        while history is not None and isinstance(history.operation, THROUGH):
            inputs = history.operation._inbound_nodes[history.node_index].input_tensors
            if len(inputs) != 1:
                break
            history = getattr(inputs[0], "_keras_history", None)
        if history is None:
            return []
        found.append(history.operation)
    return found


def _floor(loss: Any, y: np.ndarray, reached: np.ndarray) -> float:
    """`loss` (a name or a `keras.losses.Loss`) between `y` and what the output can reach, as one
    number: the mean over the batch."""
    function = keras.losses.get(loss) if isinstance(loss, str) else loss
    return float(np.mean(np.asarray(function(y, reached))))


def _fix(activation: str, low: float, high: float) -> str:
    """What to do about targets beyond an output's bounds (`low`, `high`)."""
    linear = "end the model with a linear output (`activation=None`)"
    if math.isinf(high):
        return f"Shift the targets to {low:g} or more, or {linear}, which reaches any value."
    scaled = f"Scale the targets into [{low:g}, {high:g}] (from 0 to 255: `y / 255`)" if low == 0 else (
        f"Scale the targets into [{low:g}, {high:g}] (min-max scaling, then `2 * y - 1`)")
    return f"{scaled}, or {linear}."


def bounded_warnings(model: keras.Model, loss: Any, y: Any, y_pred: Any, output_names: list[str] | None,
                     compiled: bool, tolerance: float = 1e-3) -> list[str]:
    """A warning for each output, on the first batch, whose last activation bounds its values
    (`activation_range`) and whose loss is one of Keras's regression losses (`REGRESSION`), where
    the targets lie beyond those bounds by more than `tolerance` (the loss's floor there is
    reported, which no rate lowers); or one of Keras's crossentropies expecting probabilities, where
    that activation does not give them (a ReLU: its values may pass 1, though the first batch's did
    not, as `tf_lrfinder.crossentropy` would have said).

    Args:
        model: the model, whose output layers are read (`last_layers`).
        loss: the finder's `loss_fn`, or the model's compiled `loss` (one, a list or a dict).
        y: the first batch's targets.
        y_pred: the model's outputs on the first batch.
        output_names: the model's `output_names`, to match a dict of losses and to name an output.
        compiled: whether `loss` is the model's compiled one.
        tolerance: how far beyond the bounds a target may lie unremarked (a rounding error).

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid", name="out")])
        >>> x, y = np.zeros((2, 2)), np.array([[0.0], [255.0]])
        >>> print(*bounded_warnings(model, "mse", y, model(x), None, False))
        `loss_fn` (mean_squared_error) compares the model's outputs with the targets, but they end in a sigmoid (layer `out`), which takes values from 0 to 1, and y on the first batch runs from 0 to 255 (50% of the values beyond): the loss cannot fall below 3.23e+04 on that batch (the model's is 3.24e+04 now), whatever the rate, and the sweep, like `fit`, suggests a rate for a model that cannot fit its targets. Scale the targets into [0, 1] (from 0 to 255: `y / 255`), or end the model with a linear output (`activation=None`).
        >>> bounded_warnings(model, "mse", y / 255, model(x), None, False)
        []
        >>> relu = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="relu", name="out")])
        >>> print(*bounded_warnings(relu, "binary_crossentropy", y / 255, relu(x), None, False))
        `loss_fn` (binary_crossentropy) expects probabilities in [0, 1] (from_logits=False), but they end in a relu (layer `out`), which takes values 0 or more: where those values leave [0, 1] the loss clips them, and what it clips gets no gradient, so the sweep, and `fit`, train badly on it. End the model with a sigmoid.
    """
    matched = per_output(loss, y, y_pred, output_names)
    layers = dict(zip(named_outputs(y_pred, output_names)[0], _by_output(model, y_pred)))
    out = []
    for name, one, value, target in matched:
        layer = layers.get(name)
        bounds = None if layer is None else activation_range(layer)
        if bounds is None:
            continue
        output = _Output(name if len(matched) > 1 else None, layer.name, *bounds)
        message = (_beyond(output, one, value, target, tolerance) if target is not None else None) or (
            _not_probabilities(output, one, value))
        if message is not None:
            out.append(f"{whose(compiled)} {message}")
    return out


@dataclasses.dataclass(frozen=True)
class _Output:
    """An output whose activation bounds it: its name (None for a model's one output), the name of
    the layer that ends it, and that activation's name and bounds."""
    name: str | None
    layer: str
    activation: str
    low: float
    high: float

    def ends(self) -> str:
        """'the model's outputs ... end' or 'output 'a' ... ends', in a warning."""
        values = "takes values " + (f"{self.low:g} or more" if math.isinf(self.high) else
                                    f"from {self.low:g} to {self.high:g}")
        return (f"{'they end' if self.name is None else 'it ends'} in a {self.activation} (layer `{self.layer}`), "
                f"which {values}")

    def outputs(self) -> str:
        return "the model's outputs" if self.name is None else f"output {self.name!r}"


def _beyond(output: _Output, loss: Any, value: Any, target: Any, tolerance: float) -> str | None:
    """The warning (after the loss's name) where `loss` is one of Keras's regression losses and the
    `target`s lie beyond `output`'s bounds by more than `tolerance`; else None."""
    kind = keras_loss(loss)
    if kind is None or kind[0] not in REGRESSION:
        return None
    try:
        target = np.asarray(target, dtype=np.float32)
    except (TypeError, ValueError):  # ragged or sparse: not checked
        return None
    finite = target[np.isfinite(target)]
    beyond = (finite < output.low - tolerance) | (finite > output.high + tolerance)
    if not beyond.any():
        return None
    floor = _floor(loss, target, np.clip(target, output.low, output.high))
    now = _floor(loss, target, np.asarray(value))
    return (
        f"({kind[0]}) compares {output.outputs()} with the targets, but {output.ends()}, and {targets_run(output.name)} from "
        f"{finite.min():.3g} to {finite.max():.3g} ({beyond.mean():.0%} of the values beyond): the loss cannot fall "
        f"below {floor:.3g} on that batch (the model's is {now:.3g} now), whatever the rate, and the sweep, like "
        f"`fit`, suggests a rate for a model that cannot fit its targets. {_fix(output.activation, output.low, output.high)}")


def _not_probabilities(output: _Output, loss: Any, value: Any) -> str | None:
    """The warning (after the loss's name) where `loss` is one of Keras's crossentropies expecting
    probabilities (`from_logits=False`) and `output` ends in another activation (a ReLU, a tanh),
    whose values may leave [0, 1], though the first batch's did not (else `crossentropy` warns);
    else None."""
    kind = identify(loss)
    if kind is None or kind[1] or output.activation in PROBABILITIES or outside(value) is not None:
        return None
    return (
        f"({kind[0]}) expects probabilities in [0, 1] (from_logits=False), but {output.ends()}: where those values "
        "leave [0, 1] the loss clips them, and what it clips gets no gradient, so the sweep, and `fit`, train badly "
        f"on it. End the model with a {ACTIVATIONS[kind[0]]}.")


def _by_output(model: keras.Model, y_pred: Any) -> list[Any]:
    """`last_layers(model)` in the order `named_outputs` gives `y_pred`'s outputs (a dict's keys as
    they come, where `last_layers` follows the sorted keys), or [] where they do not count them."""
    layers = last_layers(model)
    if isinstance(y_pred, dict):
        flat = dict(zip(sorted(y_pred), layers))
        layers = [flat.get(key) for key in y_pred]
    return layers if len(layers) == len(named_outputs(y_pred, None)[1]) else []
