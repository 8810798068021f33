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
from .state import all_layers, components, leading_rows
from .step import each_share, fixed_batch, replica_strategy


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

    For a model created under a `tf.distribute` strategy, each replica runs its share of each batch,
    as in the finder's steps (`tf_lrfinder.step.each_share`), so no device receives the whole batch,
    and each replica's moving statistics become the mean of its own shares' (the replicas' copies of
    them differ, as after `fit`, unless the layer is `synchronized`); a replica whose shares were all
    empty (batches of fewer rows than replicas) gets the mean of the others'.

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
    strategy = replica_strategy(model)

    def local(x):  # one replica's share, or the whole batch in one place
        model(fixed_batch(model, x), training=True)
        rows = leading_rows(x)
        return rows, [tf.identity(layer.moving_mean.value) for layer in layers], \
            [tf.identity(layer.moving_variance.value) for layer in layers]

    statistics = for_model(model)(lambda x: each_share(local, strategy, x))

    def update(batches: Iterable[Any]) -> int:
        if not layers:
            return 0
        momentum = [layer.momentum for layer in layers]
        seen: list[list] = []  # per replica (one where computed in one place): its non-empty shares' statistics
        try:
            for layer in layers:
                layer.momentum = 0.0
            for batch in batches:
                x, _, _ = keras.utils.unpack_x_y_sample_weight(batch)
                results = statistics(x)
                seen = seen or [[] for _ in results]
                for shares, (rows, means, variances) in zip(seen, results):
                    if int(rows):  # an empty share's statistics are NaN
                        shares.append(means + variances)
            if not any(seen):
                return 0
            fallback = _mean([_mean(shares) for shares in seen if shares])
            stats = [_mean(shares) if shares else fallback for shares in seen]  # per replica, as `moving`
            moving = [layer.moving_mean for layer in layers] + [layer.moving_variance for layer in layers]
            for k, variable in enumerate(moving):
                copies = components(variable)  # one per replica; computed in one place, all take the same
                for replica, copy in enumerate(copies):
                    copy.assign(stats[replica if len(stats) == len(copies) else 0][k])
        finally:
            for layer, value in zip(layers, momentum):
                layer.momentum = value
        return len(layers)

    return update


def _mean(lists: list[list]) -> list:
    """The elementwise mean of equally long lists of tensors."""
    return [tf.add_n(list(values)) / len(values) for values in zip(*lists)]


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


def not_estimated_warning(why: str, layers: int) -> str:
    """The warning for refining's runs measured with BatchNorm's moving statistics as a run left
    them, where `update_bn` was asked for and cannot be done: `why` says what stood in the way.

    Example:
        >>> not_estimated_warning("the model has no `call`", 2)[:92]
        "The moving statistics of the model's 2 BatchNormalization layers were not re-estimated befor"
    """
    return (f"The moving statistics of the model's {layers} BatchNormalization layer{'s' * (layers != 1)} were not "
            f"re-estimated before refining's runs were measured (`update_bn`): they are re-estimated by calling "
            f"the model on each batch's x, as a step that reads `(x, y)` calls it, and {why} So each run's loss "
            f"also measures how far those averages lag the weights it trained (after 100 steps at Keras's default "
            f"momentum of 0.99, a third of them still dates from before the run), and that lag may decide the rate "
            f"kept. Pass update_bn=False to measure the runs so without this warning, or refine=False to keep the "
            f"sweep's reading.")
