"""Re-estimating BatchNormalization's moving statistics for the weights a short run trained.

In training a `keras.layers.BatchNormalization` layer normalises with its batch's statistics; in
inference, with moving averages of them, updated each step with `momentum`. At Keras's default of
0.99 the averages span about the last 100 steps, and after 100 steps a third of them (0.99**100) is
still what they were before the run. So after a short run they describe weights long gone, and the
loss measured in inference mode mostly measures that lag, not the training: on the suggestion
benchmark, a small BatchNorm CNN trained 200 steps at one rate from five seeds ended at losses of
0.15 to 1.57 with its moving averages, and at 0.022 to 0.042 with them re-estimated; over the
rates the first look like noise, the second fall smoothly to a plateau. `update_bn` sets the
averages to the mean of each layer's batch statistics over some batches (as PyTorch's
`torch.optim.swa_utils.update_bn` and "precise BatchNorm" do), so that a run's loss measures the
weights it trained. A user's long training gives the averages time to catch up; a range test's
short runs do not.
"""

from __future__ import annotations

from typing import Any, Iterable

import keras


def batchnorm_layers(model: keras.layers.Layer) -> list[keras.layers.BatchNormalization]:
    """The BatchNormalization layers in `model` (nested ones too) whose statistics training updates.

    A layer that is not trainable normalises with its moving statistics even in training and never
    updates them, so it is left out.

    Example:
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(name="bn"),
        ...                           keras.layers.Dense(1)])
        >>> [layer.name for layer in batchnorm_layers(model)]
        ['bn']
    """
    flatten = getattr(model, "_flatten_layers", None)  # Keras 3's own walk over nested layers
    layers = flatten(include_self=True, recursive=True) if flatten is not None else [model]
    return [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def update_bn(model: keras.layers.Layer, batches: Iterable[Any]) -> int:
    """Set each BatchNormalization layer's moving mean and variance to its batch statistics' mean over `batches`.

    Runs the model in training mode on each batch (inputs only: `(x, y)`, `(x, y, sample_weight)`
    or `x`) with each layer's momentum set so that its moving statistics become the running mean
    of the batches' statistics (momentum k/(k+1) at the k-th batch, from 0), then puts the
    momentum back. Other variables a training-mode call changes change too (Dropout's seed state,
    say): call it where the state is restored afterwards, as `LRFinder.refine` does.

    Args:
        model: a Keras model or layer.
        batches: the batches to estimate the statistics on.

    Returns:
        How many layers were updated (0 if the model has none, or `batches` is empty).

    Example:
        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.BatchNormalization()])
        >>> update_bn(model, [np.full((4, 1), 2.0), np.full((4, 1), 4.0)])
        1
        >>> float(model.layers[0].moving_mean.numpy()[0])  # the mean of the two batches' means
        3.0
    """
    layers = batchnorm_layers(model)
    momentum = [layer.momentum for layer in layers]
    seen = 0
    try:
        for seen, batch in enumerate(batches if layers else (), start=1):
            for layer in layers:
                layer.momentum = (seen - 1) / seen
            x, _, _ = keras.utils.unpack_x_y_sample_weight(batch)
            model(x, training=True)
    finally:
        for layer, value in zip(layers, momentum):
            layer.momentum = value
    return len(layers) if seen else 0
