"""How good is a suggested learning rate? Scored against a grid search on small CPU tasks.

For each task in `tasks.py` the ground truth is a grid search: train `task.budget` steps at each
constant learning rate of a log grid (5 points per decade, 1e-5 to 10) from 3 seeds, and average
the validation loss. A suggested rate is scored as the share of the grid's best improvement it
captures:

    score = (untrained loss - loss at the suggestion) / (untrained loss - best grid loss)

1.0 is as good as grid search; a diverged run (non-finite loss) scores -1, and scores are clipped
below at -1. The loss at a suggestion is interpolated linearly in log(lr) between the two nearest
grid points (both seed-averaged); `score --train` trains at the exact rate instead (slower).

Commands (from the repository root, with the dev extra installed):

    python benchmarks/suggestion_quality.py grid     # ~15 min on 2 cores; writes results/grid.json
    python benchmarks/suggestion_quality.py sweeps   # ~1 min; writes results/sweeps.json
    python benchmarks/suggestion_quality.py score    # seconds; prints the table

Sweeps use the finder's defaults (min_lr=1e-7, max_lr=10, n_steps=100, smoothing=0.98,
diverge_factor=4) with the task's batch size, one sweep per seed; each rule's score on a task is
the mean over those sweeps.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402

RESULTS = Path(__file__).parent / "results"
GRID = np.logspace(-5, 1, 31)  # 5 points per decade
SEEDS = (0, 1, 2)


def _train_curve(task, lrs, seed):
    """Validation loss after `task.budget` steps at each rate in `lrs`, from one seed."""
    import keras
    import tensorflow as tf

    from tf_lrfinder.state import Snapshot

    keras.utils.set_random_seed(seed)
    x_tr, y_tr, x_va, y_va = task.data()
    model, optimizer, loss_fn = task.model(), task.optimizer(1e-3), task.loss()
    optimizer.build(model.trainable_variables)
    snapshot = Snapshot(list(model.variables) + list(optimizer.variables))
    snapshot.save()
    ds = (tf.data.Dataset.from_tensor_slices((x_tr, y_tr)).shuffle(len(x_tr), seed=seed).repeat()
          .batch(task.batch_size))

    @tf.function
    def train(iterator):
        for _ in tf.range(task.budget):
            x, y = next(iterator)
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True)) + sum(model.losses)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))

    @tf.function
    def evaluate():
        return loss_fn(y_va, model(x_va, training=False))

    untrained = float(evaluate())
    losses = []
    for lr in lrs:
        snapshot.restore()
        optimizer.learning_rate.assign(lr)
        train(iter(ds))
        losses.append(float(evaluate()))
    snapshot.restore()
    return untrained, losses


def run_grid(names):
    from tasks import TASKS

    out = json.loads((RESULTS / "grid.json").read_text()) if (RESULTS / "grid.json").exists() else {}
    for task in TASKS:
        if names and task.name not in names:
            continue
        t0 = time.time()
        untrained, curves = [], []
        for seed in SEEDS:
            u, c = _train_curve(task, GRID, seed)
            untrained.append(u)
            curves.append(c)
        out[task.name] = {"lrs": GRID.tolist(), "untrained": untrained, "losses": curves, "budget": task.budget,
                          "batch_size": task.batch_size}
        mean = np.mean(curves, axis=0)
        best = int(np.nanargmin(mean))
        print(f"{task.name:32s} best lr {GRID[best]:.2e} loss {mean[best]:.4f} (untrained "
              f"{np.mean(untrained):.4f}) {time.time() - t0:.0f}s", flush=True)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "grid.json").write_text(json.dumps(out))


def run_sweeps():
    import keras

    from tasks import TASKS
    from tf_lrfinder import LRFinder

    out = {}
    for task in TASKS:
        x_tr, y_tr, _, _ = task.data()
        sweeps = []
        for seed in SEEDS:
            keras.utils.set_random_seed(seed)
            finder = LRFinder(task.model(), task.optimizer(1e-3), task.loss(), verbose=False)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    finder((x_tr, y_tr), batch_size=task.batch_size)
                except ValueError as err:
                    print(task.name, seed, err)
            sweeps.append({"lrs": finder.lrs, "losses": finder.losses, "smoothed": finder.smoothed_losses,
                           "stop_reason": finder.stop_reason})
        default_lr = float(type(task.optimizer(1.0))().learning_rate)
        out[task.name] = {"sweeps": sweeps, "default_lr": default_lr}
        print(task.name, [len(s["lrs"]) for s in sweeps], flush=True)
    (RESULTS / "sweeps.json").write_text(json.dumps(out))


def loss_at(grid: dict, lr: float) -> float:
    """Seed-averaged validation loss at `lr`, interpolated in log(lr) on the grid."""
    lrs = np.asarray(grid["lrs"])
    mean = np.mean(grid["losses"], axis=0)
    x = np.log(lr)
    xs = np.log(lrs)
    if x <= xs[0]:
        return float(mean[0])
    if x > xs[-1]:
        return float("nan")
    j = int(np.searchsorted(xs, x))
    a, b = mean[j - 1], mean[j]
    t = (x - xs[j - 1]) / (xs[j] - xs[j - 1])
    if not (np.isfinite(a) and np.isfinite(b)):
        return float(a if t < 0.5 else b)
    return float(a + t * (b - a))


def score(grid: dict, loss: float) -> float:
    untrained = float(np.mean(grid["untrained"]))
    best = float(np.nanmin(np.mean(grid["losses"], axis=0)))
    if not np.isfinite(loss):
        return -1.0
    return max(-1.0, (untrained - loss) / (untrained - best))


def rules():
    from tf_lrfinder import suggest as S

    table = {name: fn for name, fn in S.SUGGESTERS.items()}
    return table


def run_score(train: bool):
    grid_all = json.loads((RESULTS / "grid.json").read_text())
    sweeps_all = json.loads((RESULTS / "sweeps.json").read_text())
    from tasks import TASKS

    by_name = {t.name: t for t in TASKS}
    table = {}
    names = [n for n in sweeps_all if n in grid_all]
    for rule_name, fn in list(rules().items()) + [("optimizer_default", None)]:
        per_task = []
        for name in names:
            grid = grid_all[name]
            scores = []
            for sweep in sweeps_all[name]["sweeps"]:
                if fn is None:
                    lr = sweeps_all[name]["default_lr"]
                else:
                    try:
                        lr = fn(np.array(sweep["lrs"]), np.array(sweep["smoothed"])).lr
                    except ValueError:
                        scores.append(-1.0)
                        continue
                if train:
                    loss = float(np.mean([_train_curve(by_name[name], [lr], s)[1][0] for s in SEEDS]))
                else:
                    loss = loss_at(grid, lr)
                scores.append(score(grid, loss))
            per_task.append(float(np.mean(scores)))
        table[rule_name] = per_task
    print(f"{'rule':20s} {'mean':>6s} {'worst':>6s} {'>=0.9':>6s}   " + " ".join(f"{n[:10]:>10s}" for n in names))
    for rule_name, s in sorted(table.items(), key=lambda kv: -np.mean(kv[1])):
        print(f"{rule_name:20s} {np.mean(s):6.3f} {np.min(s):6.3f} {sum(v >= 0.9 for v in s):3d}/{len(s):<2d}  "
              + " ".join(f"{v:10.3f}" for v in s))
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grid")
    g.add_argument("tasks", nargs="*")
    sub.add_parser("sweeps")
    s = sub.add_parser("score")
    s.add_argument("--train", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    if args.cmd == "grid":
        run_grid(args.tasks)
    elif args.cmd == "sweeps":
        run_sweeps()
    else:
        run_score(args.train)


if __name__ == "__main__":
    main()
