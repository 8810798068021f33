"""Does the kind of input change the rate `finder(...)` returns? Arrays against `tf.data` pipelines.

For arrays the finder shuffles each pass by a fixed seed, so `refine`'s runs all train on the same
batches. A `tf.data.Dataset` is read as it is: one that reshuffles on each iteration (`shuffle`'s
default) gives every call its own batches, and used to give each run its own (since the runs'
batches are held in memory, `tf_lrfinder.data.in_memory`, every run of a call gets the same ones;
the mean over the tasks read 0.982 and 0.984 in two runs before, 0.978 and 0.985 after). This
check calls the default finder on each task three ways, from the same seeds: the arrays with `batch_size`,
`from_tensor_slices(...).shuffle(n, seed).batch(...)` with `reshuffle_each_iteration` True and False,
and scores each rate on the training loss as `suggestion_quality.py score` does (the grid's loss
interpolated at the rate). Printed per task: mean (worst) over the seeds, then the mean over tasks.

    python benchmarks/pipelines.py [TASK ...]   # default: eight tasks of the issue's kinds, ~5 min on 2 cores
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from suggestion_quality import RESULTS, loss_at, score  # noqa: E402

TASKS_CHECKED = ("logistic_wine_momentum", "mlp_blobs_sgd", "autoencoder_digits_adamw", "mlp_diabetes_momentum",
                 "dropout_moons_momentum", "bn_mlp_digits_adam", "mlp_cancer_momentum", "bn_mlp_classification3_sgd")
KINDS = ("arrays", "tf.data, reshuffled", "tf.data, one order")


def main(names: list[str], seeds: int = 5) -> None:
    import keras
    import tensorflow as tf

    from tasks import TASKS
    from tf_lrfinder import LRFinder

    grid = json.loads((RESULTS / "grid.json").read_text())
    means = {kind: [] for kind in KINDS}
    for task in (t for t in TASKS if t.name in names):
        x, y, _, _ = task.data()
        scores = {kind: [] for kind in KINDS}
        for seed in range(seeds):
            for kind in KINDS:
                keras.utils.set_random_seed(seed)
                finder = LRFinder(task.model(), task.optimizer(1e-3), task.loss(), verbose=False)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if kind == "arrays":
                        lr = finder((x, y), batch_size=task.batch_size)
                    else:
                        lr = finder(tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
                            len(x), seed=seed, reshuffle_each_iteration=kind.endswith("reshuffled")).batch(
                            task.batch_size))
                scores[kind].append(score(grid[task.name], loss_at(grid[task.name], lr, "train"), "train"))
        for kind in KINDS:
            means[kind].append(np.mean(scores[kind]))
        print(f"{task.name:34s}" + "".join(f"  {kind}: {np.mean(v):.3f} ({np.min(v):.3f})" for kind, v in scores.items()),
              flush=True)
    print(f"{'mean over ' + str(len(means[KINDS[0]])) + ' tasks':34s}"
          + "".join(f"  {kind}: {np.mean(v):.3f}" for kind, v in means.items()))


if __name__ == "__main__":
    main(sys.argv[1:] or list(TASKS_CHECKED))
