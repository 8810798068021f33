"""`python -m tf_lrfinder`: a real range test on a built-in synthetic task, plot saved to disk."""

from __future__ import annotations

import argparse
import os
import sys


def spirals(n: int = 8192, classes: int = 3, seed: int = 0):
    """Interleaved noisy spirals in 2-D: a classification task made on the spot, nothing downloaded.

    Returns:
        `(x, y)`: float32 points of shape `(n, 2)` and int32 labels in `[0, classes)`.

    Example:
        >>> x, y = spirals(n=100)
        >>> x.shape, x.dtype.name, sorted(set(y.tolist()))
        ((100, 2), 'float32', [0, 1, 2])
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    label = rng.integers(0, classes, n)
    r = rng.uniform(0.1, 1.0, n)
    angle = 4.0 * r + 2 * np.pi * label / classes + rng.normal(0, 0.15, n)
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1).astype("float32")
    return x, label.astype("int32")


def main(argv: list[str] | None = None) -> int:
    """The demo: sweep a small MLP on `spirals`, print the device and the suggestion, save the plot.

    Args:
        argv: command-line arguments (default: `sys.argv[1:]`); `--help` lists them.

    Returns:
        The exit status, 0.

    Example (from a shell; writes `lr_finder.png`)::

        python -m tf_lrfinder --optimizer sgd --n-steps 200 --output sgd.png
    """
    parser = argparse.ArgumentParser(
        prog="python -m tf_lrfinder",
        description="Run a learning-rate range test on a small MLP (BatchNorm, Dropout) that "
        "classifies synthetic spirals, print the suggested rate and save the plot.",
    )
    parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "rmsprop", "adamw"],
                        help="the optimizer to sweep, with Keras's defaults (default: %(default)s)")
    parser.add_argument("--min-lr", type=float, default=1e-7, help="the first rate (default: %(default)s)")
    parser.add_argument("--max-lr", type=float, default=10.0, help="the last rate (default: %(default)s)")
    parser.add_argument("--n-steps", type=int, default=100, help="steps in the sweep (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="samples per step; the best rate depends on it (default: %(default)s)")
    parser.add_argument("--validation-split", type=float, default=None, metavar="SHARE",
                        help="measure the short runs that check the sweep's reading on this share of the "
                        "spirals, the last ones, as `fit` splits them (default: batches held back from the data)")
    parser.add_argument("--output", default="lr_finder.png", help="where to save the plot (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tf_lrfinder.quiet import native_stderr_filtered

    with native_stderr_filtered():  # TensorFlow's start-up chatter on machines without a GPU driver
        import keras
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    print(f"device: {len(gpus)} GPU(s)" if gpus else "device: CPU (TensorFlow found no GPU)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tf_lrfinder import LRFinder

    keras.utils.set_random_seed(0)
    x, y = spirals()
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dropout(0.1),
        keras.layers.Dense(3),
    ])
    optimizer = keras.optimizers.get(args.optimizer)
    finder = LRFinder(model, optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      verbose=not args.quiet)
    lr = finder((x, y), min_lr=args.min_lr, max_lr=args.max_lr, n_steps=args.n_steps,
                batch_size=args.batch_size, validation_split=args.validation_split)
    fig, (sweep_ax, runs_ax) = plt.subplots(1, 2, figsize=(13, 4.5))  # the sweep, and the runs that checked it
    finder.plot(ax=sweep_ax).set_title(f"LR range test, {args.optimizer} on spirals: suggested {lr:.2e}")
    finder.plot_trials(ax=runs_ax).set_title(f"short runs at constant rates: kept {lr:.2e}")
    fig.savefig(args.output, dpi=120, bbox_inches="tight")
    print(f"steps: {len(finder.lrs)} of {args.n_steps} ({finder.stop_reason})")
    print(f"the sweep read {finder.suggest().lr:.3g}; refining checked it with short runs:")
    print(finder.trials.summary())
    print(f"suggested learning rate: {lr:.3g}")
    print(f"plot saved to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
