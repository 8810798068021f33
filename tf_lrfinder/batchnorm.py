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

from typing import Any, Callable, Iterable

import keras
import tensorflow as tf

from .compiled import for_model
from .state import all_layers


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
    return [layer for layer in all_layers(model)
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def build_update_bn(model: keras.layers.Layer) -> Callable[[Iterable[Any]], int]:
    """Compile `update_bn` for `model`: `update(batches) -> int`, to call again and again.

    Each batch runs through the model in training mode in one compiled call (traced once per input
    signature, with every layer's momentum at 0, so that the call leaves the batch's statistics in
    the moving ones); their mean over the batches is then assigned, and the momentum put back.

    Example:
        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.BatchNormalization()])
        >>> update = build_update_bn(model)
        >>> update([np.full((4, 1), 2.0), np.full((4, 1), 4.0)]), update([np.full((4, 1), 1.0)])
        (1, 1)
        >>> float(model.layers[0].moving_mean.numpy()[0])
        1.0
    """
    layers = batchnorm_layers(model)

    @for_model(model)
    def statistics(x):
        model(x, training=True)
        return [tf.identity(layer.moving_mean.value) for layer in layers], \
            [tf.identity(layer.moving_variance.value) for layer in layers]

    def update(batches: Iterable[Any]) -> int:
        if not layers:
            return 0
        momentum = [layer.momentum for layer in layers]
        means, variances = [], []
        try:
            for layer in layers:
                layer.momentum = 0.0
            for batch in batches:
                x, _, _ = keras.utils.unpack_x_y_sample_weight(batch)
                mean, variance = statistics(x)
                means.append(mean)
                variances.append(variance)
            if means:
                for i, layer in enumerate(layers):
                    layer.moving_mean.assign(tf.add_n([m[i] for m in means]) / len(means))
                    layer.moving_variance.assign(tf.add_n([v[i] for v in variances]) / len(variances))
        finally:
            for layer, value in zip(layers, momentum):
                layer.momentum = value
        return len(layers) if means else 0

    return update


def update_bn(model: keras.layers.Layer, batches: Iterable[Any]) -> int:
    """Set each BatchNormalization layer's moving mean and variance to its batch statistics' mean over `batches`.

    Runs the model in training mode on each batch (inputs only: `(x, y)`, `(x, y, sample_weight)`
    or `x`) and sets each layer's moving statistics to the mean of its statistics on them; the
    layers' momentum is unchanged afterwards. Other variables a training-mode call changes change
    too (Dropout's seed state, say): call it where the state is restored afterwards, as
    `LRFinder.refine` does. To call it repeatedly on one model, `build_update_bn` compiles it once.

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
    return build_update_bn(model)(batches)
