"""How good is a suggested learning rate? Scored against a grid search on small CPU tasks.

For each task in `tasks.py` the ground truth is a grid search: train `task.budget` steps at each
constant learning rate of a log grid (5 points per decade, 1e-5 to 10) from 5 seeds, and average
the loss over the seeds. A suggested rate is scored as the share of the grid's best improvement it
captures:

    score = (untrained loss - loss at the suggestion) / (untrained loss - best grid loss)

1.0 is as good as grid search; a diverged run (non-finite loss) scores -1, and scores are clipped
below at -1.

The losses are measured with each BatchNormalization layer's moving statistics set to its
statistics on the training set, in one batch (`tf_lrfinder.batchnorm.update_bn`, as `refine`
re-estimates them on its held-back batches), so that they measure the weights trained:
at Keras's default momentum the moving averages lag about 100 steps behind, and with them the
loss after a budget of a few hundred steps mostly measured that lag (a CNN+BN on digits at 0.025:
five seeds at 0.15-1.57 with the averages, 0.022-0.042 settled). The grids of the 32 BatchNorm
tasks among the first 103 were re-recorded so, and the twentieth batch's recorded so, with 3
seeds (`grid --seeds 3`; the first two re-recorded with 5), since the settled losses vary little
from seed to seed; `results/grid_bn_lagging.json` keeps their grids measured with the moving
averages, and `results/sweeps_refine_bn_lagging.json` their refined sweeps from before refining
re-estimated the statistics too (`score --refine --grid ... --sweeps ...` scores them).

Two tables are printed: one on the validation loss after the budget (what a user
finally cares about, but it also rewards rates that overfit less, which no range test can see) and
one on the training loss after the budget (what the sweep measures and the optimizer minimises).
The loss at a suggestion is interpolated linearly in log(lr) between the two nearest grid points
(both seed-averaged); `score --train` trains at the exact rate instead (slower).

Two hundred and ninety-three tasks. The sweep's rule (`robust_minimum`) was chosen on the first
eight; the other two hundred and eighty-five (`held_out=True` in `tasks.py`) were added afterwards in
forty-eight batches of five to seven, each committed before any run on it and scored once, so their
columns show how the rule does on tasks it was not chosen on. Refining and its later changes came
after looking at some of those batches; each is held out only from the batches scored after it:

    change                                                       made after looking at   held out
    reading the bottom only where the curve is fully smoothed    the tasks before it     3rd-49th
    `LRFinder.refine`                                            the first 28 tasks      5th-49th
    its search above the candidates (`refine.extension`)         the first 33 tasks      6th-49th
    runs of 100 steps, not 50                                    the sixth batch         7th-49th
    the search above going on past two runs                      the eighth batch        9th-49th
    the search below the candidates (`refine.below`)             the ninth batch         10th-49th
    the margin below a diverged run (`short_of_divergence`)      the tenth batch         11th-49th
    searching below while every run diverged                     the thirteenth batch    14th-49th
    the tolerance widened to the runs' noise (`refine.noise`)    the first 83 tasks      16th-49th
    BatchNorm measured with its statistics re-estimated          the first 103 tasks     20th-49th
    a run that ended worse than it started fails (`failed`)      the twenty-third batch  24th-49th
    a run that gave up half the best gain fails (`GIVE_UP`)      the twenty-fifth batch  26th-49th
    one more run above where none failed (`refine.edge_rate`)    all 181, then by a rule 34th-49th
                                                                 written before the 34th
    eight times higher while no run trained (`refine.leap`)      the thirty-fifth batch  36th-49th
    the leap before the search above, and `refine.narrow`        the thirty-sixth batch  37th-48th

Some batches were aimed at the kinds of task a change had acted on (the thirteenth, twenty-first,
twenty-fifth and twenty-seventh); the thirty-second was aimed at the kinds where 100-step runs and
the budget disagree, to check the rules `horizon.py` replays (among them the one `refine`'s
`tie_steps` option, off by default, now implements); the thirty-third and thirty-fourth were each
committed with a rule deciding, from its score, whether a replayed rule becomes the default
(`tie 300` with the edge run: no; the edge run alone: yes); the thirty-fifth checked the 15% of
`refine.barely_trained_warning` (lowered to 10%, as its rule said), the thirty-sixth `refine.leap`
(it stays, as its rule said), and the thirty-seventh the leap before the search above with
`refine.narrow` (it stays, vacuously: the rate kept changed on none of its calls), and the
thirty-eighth `refine.plateau`, a change to the choice where the runs barely trained (not adopted,
as its rule said); the thirty-ninth and fortieth, seven each of the kinds the suggestion issue
names, check the default as it stands and decide nothing; the forty-first decided on `+edge tie
300 below half` in `horizon.py` (not adopted: it changed no rate kept there); the forty-second
to forty-fifth, seven more each of the issue's kinds, decide nothing, like the thirty-ninth and
fortieth; the forty-sixth, aimed at where `below half` acts, decided on it again by the
forty-first's rule (not adopted: again it changed no rate kept); the forty-seventh to
forty-ninth, seven more each of the issue's kinds, decide nothing. The row "robust_minimum + refine" is
`refine` as recorded, before the edge run; `horizon.py score` replays the default with it (row
`+edge`). `benchmarks/README.md` records each batch,
each change and what it measured.

Each table prints all / chosen-on / held-out groups. The grid and `sweeps_refine.json` hold all
300, `sweeps.json` (the sweeps alone, for `score` without `--refine`) all 300 too;
`sweeps_refine50.json` (50-step runs, the search as it was then) the first 48;
`sweeps_refine200.json` (200-step runs, `--refine-steps 200`) the nineteen held-out tasks of the
twenty-third to twenty-eighth batches with a 200-step budget;
`sweeps_refine300.json` (300-step runs, `--refine-steps 300`) the six deep networks trained with
SGD; `sweeps_n30.json` (30-step sweeps) all 300, and `sweeps_refine_n30.json` (30-step sweeps
refined, `sweeps --refine --n-steps 30 TASK ...`) the first 33 and the 33 deep MLPs with tanh or
sigmoid units; the caches of other sweep lengths and of linear sweeps the first 33.
`runs_horizon.json` holds refining's runs at 100, 200 and 300 steps on all 300 (`horizon.py`).

How much of a score is noise: `ceiling` retrains each task at its own best grid rate with five
fresh seeds. A perfect rule scores that at exact rates. Re-run on the 37 BatchNorm tasks' settled
grids it scores 0.993 on average, 0.959 at worst (training; validation 0.992 / 0.933); measured
with the lagging moving averages it was 0.73-0.92 on several BatchNorm CNNs (their loss at high
rates jumped from seed to seed, and the grid's best is the luckiest of 31).

Commands (from the repository root, with the dev extra installed):

    python benchmarks/suggestion_quality.py grid [TASK ...]    # ~23 min on 2 cores for all 28 (the four Conv2D CNNs take ~10); writes results/grid.json
    python benchmarks/suggestion_quality.py sweeps [TASK ...]  # ~7.5 min for ten seeds; writes results/sweeps.json
    python benchmarks/suggestion_quality.py score              # seconds; prints the tables
    python benchmarks/suggestion_quality.py score --train --rules robust_minimum valley  # ~23 min: trains at each suggested rate
    python benchmarks/suggestion_quality.py score --train --refine --rules "robust_minimum + refine" --tasks NAME ...  # some tasks only
    python benchmarks/suggestion_quality.py ceiling            # ~3 min: the grid's best rate, retrained with fresh seeds
    python benchmarks/suggestion_quality.py warnings           # seconds: how often each sweep warning fires
    python benchmarks/suggestion_quality.py stops              # seconds: the stopping rule replayed on every recorded sweep set
    python benchmarks/suggestion_quality.py sweeps --n-steps 300  # ~10 min: longer sweeps, cached in results/sweeps_n300.json
    python benchmarks/suggestion_quality.py sweeps --n-steps 30   # ~50 min for all 300 tasks: shorter ones (sweeps_n30.json)
    python benchmarks/suggestion_quality.py score --n-steps 300              # the rules on them
    python benchmarks/suggestion_quality.py sweeps --linear --seeds 5      # ~5 min: linear sweeps from 1/20 to 4x each task's bottom (results/sweeps_linear.json)
    python benchmarks/suggestion_quality.py score --linear [--top 10]        # the rules on them (--top: sweeps up to 10x, sweeps_linear_top10.json)
    python benchmarks/suggestion_quality.py sweeps --refine    # ~25 min: the same sweeps, each followed by LRFinder.refine,
                                                               # as finder(...) runs by default (results/sweeps_refine.json)
    python benchmarks/suggestion_quality.py score --refine     # adds the row "robust_minimum + refine": what finder(...) returns
    python benchmarks/suggestion_quality.py sweeps --refine --without-edge TASK ...  # refine(edge=False), as
                                                               # sweeps_refine.json holds refining (from the 35th batch)
    python benchmarks/suggestion_quality.py sweeps --refine --refine-steps 50   # refining with runs of another length
    python benchmarks/suggestion_quality.py score --refine --refine-steps 50    # (results/sweeps_refine50.json: the default until the sixth batch)

Sweeps use the finder's defaults (min_lr=1e-7, max_lr=10, n_steps=100, smoothing=0.98,
diverge_factor=4) with the task's batch size, one sweep per seed of SWEEP_SEEDS (ten); each rule's
score on a task is the mean over those sweeps, and the default's standard error is printed.
`sweeps` with no task names keeps the sweeps already recorded and adds the missing seeds. The row
"<default>, 3 sweeps averaged" averages the raw losses of three consecutive sweeps (and smooths them
as the finder does): what running the sweep three times with different data order would give.
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
SEEDS = (0, 1, 2, 3, 4)  # the grid's seeds
SWEEP_SEEDS = tuple(range(10))  # one sweep per seed: a task's score is the mean over ten sweeps
FRESH_SEEDS = (5, 6, 7, 8, 9)  # for `ceiling`: seeds the grid never saw
N_STEPS = 100  # the finder's default sweep length; other lengths are cached in files of their own
LINEAR_TOP = 4.0  # linear sweeps run from 1/20 to this multiple of the default sweeps' bottom
REFINED = object()  # the score row that reads the rate `LRFinder.refine` chose after each sweep


def _train_curve(task, lrs, seed):
    """Losses after `task.budget` steps at each rate in `lrs`, from one seed.

    Returns `(untrained, losses)`: dicts keyed "val" and "train", the loss on the validation set
    and on the whole training set (both in inference mode), before training and at each rate.
    """
    import keras
    import tensorflow as tf

    from tf_lrfinder.batchnorm import build_update_bn
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
        return loss_fn(y_va, model(x_va, training=False)), loss_fn(y_tr, model(x_tr, training=False))

    settle_batchnorm = build_update_bn(model)  # BatchNorm's statistics on the training set (see the module docstring)

    def both():
        settle_batchnorm([x_tr])
        val, tr = evaluate()
        return {"val": float(val), "train": float(tr)}

    untrained = both()
    losses = {"val": [], "train": []}
    for lr in lrs:
        snapshot.restore()
        optimizer.learning_rate.assign(lr)
        train(iter(ds))
        for key, value in both().items():
            losses[key].append(value)
    snapshot.restore()
    return untrained, losses


def _seed_mean(task, lrs, seeds) -> dict[str, np.ndarray]:
    """{"val": ..., "train": ...}: the loss after the budget at each rate in `lrs`, averaged over `seeds`."""
    runs = [_train_curve(task, lrs, seed)[1] for seed in seeds]
    return {key: np.mean([run[key] for run in runs], axis=0) for key in ("val", "train")}


def run_grid(names, n_seeds=len(SEEDS)):
    from tasks import TASKS

    seeds = SEEDS[:n_seeds]
    out = json.loads((RESULTS / "grid.json").read_text()) if (RESULTS / "grid.json").exists() else {}
    for task in TASKS:
        if names and task.name not in names:
            continue
        t0 = time.time()
        untrained, curves, train_untrained, train_curves = [], [], [], []
        for seed in seeds:
            u, c = _train_curve(task, GRID, seed)
            untrained.append(u["val"])
            curves.append(c["val"])
            train_untrained.append(u["train"])
            train_curves.append(c["train"])
        out[task.name] = {"lrs": GRID.tolist(), "untrained": untrained, "losses": curves,
                          "train_untrained": train_untrained, "train_losses": train_curves,
                          "budget": task.budget, "batch_size": task.batch_size, "seeds": list(seeds)}
        mean = np.mean(curves, axis=0)
        best = int(np.nanargmin(mean))
        print(f"{task.name:32s} best lr {GRID[best]:.2e} loss {mean[best]:.4f} (untrained "
              f"{np.mean(untrained):.4f}) {time.time() - t0:.0f}s", flush=True)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "grid.json").write_text(json.dumps(out))


def _sweeps_file(n_steps: int, linear: bool = False, top: float = LINEAR_TOP, refine: bool = False,
                 refine_steps: int | None = None) -> Path:
    """Where the sweeps of `n_steps` steps are cached (the default length in sweeps.json, linear
    sweeps up to `top` times the bottom in sweeps_linear.json or sweeps_linear_top{top}.json,
    sweeps followed by `LRFinder.refine` in sweeps_refine.json, or sweeps_refine{S}.json with runs
    of S steps other than the default)."""
    from tf_lrfinder import refine as refine_lib

    stem = ("sweeps_linear" + ("" if top == LINEAR_TOP else f"_top{top:g}")) if linear else "sweeps"
    stem += "_refine" if refine else ""
    stem += f"{refine_steps}" if refine and refine_steps not in (None, refine_lib.STEPS) else ""
    return RESULTS / (f"{stem}.json" if n_steps == N_STEPS else f"{stem}_n{n_steps}.json")


def linear_range(default_sweeps: list[dict], top: float = LINEAR_TOP) -> tuple[float, float]:
    """The range of a task's linear sweeps: a user zooming in on the bottom of its default sweeps,
    from 1/20 to `top` times the rate there (`lr_range`'s max_lr, the median over the sweeps)."""
    from tf_lrfinder.suggest import lr_range

    bottom = float(np.median([lr_range(s["lrs"], s["losses"])[1] for s in default_sweeps]))
    return bottom / 20, bottom * top


def run_sweeps(names, n_steps=N_STEPS, n_seeds=len(SWEEP_SEEDS), linear=False, top=LINEAR_TOP, refine=False,
               refine_steps=None, edge=True):
    import warnings

    import keras

    from tasks import TASKS
    from tf_lrfinder import LRFinder

    path = _sweeps_file(n_steps, linear, top, refine, refine_steps)
    # Runs of another length: the sweep alone, then `refine` with its other defaults, as the default
    # call would do with runs of that length.
    # Without the edge run (`edge=False`): `refine` as `sweeps_refine.json` holds it for the tasks recorded before
    # that run became the default, so that `horizon.py` replays both on the same recorded runs.
    refine_in_call = refine and refine_steps is None and edge
    seeds = SWEEP_SEEDS[:n_seeds]
    out = json.loads(path.read_text()) if path.exists() else {}
    default = json.loads(_sweeps_file(N_STEPS).read_text()) if linear else {}
    for task in TASKS:
        if names and task.name not in names:
            continue
        x_tr, y_tr, _, _ = task.data()
        span = dict(zip(("min_lr", "max_lr"), linear_range(default[task.name]["sweeps"], top))) if linear else {}
        # Seeds already recorded are kept (a named task is swept afresh), so adding seeds adds sweeps.
        sweeps = [] if names else out.get(task.name, {}).get("sweeps", [])[:len(seeds)]
        for seed in seeds[len(sweeps):]:
            keras.utils.set_random_seed(seed)
            finder = LRFinder(task.model(), task.optimizer(1e-3), task.loss(), verbose=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    finder((x_tr, y_tr), batch_size=task.batch_size, n_steps=n_steps,
                           mode="linear" if linear else "exponential", refine=refine_in_call, **span)
                    if refine and not refine_in_call:
                        finder.refine((x_tr, y_tr), batch_size=task.batch_size, edge=edge,
                                      **({} if refine_steps is None else {"steps": refine_steps}))
                except ValueError as err:
                    print(task.name, seed, err)
            sweeps.append({"lrs": finder.lrs, "losses": finder.losses, "smoothed": finder.smoothed_losses,
                           "stop_reason": finder.stop_reason,
                           **({"refined": finder.lr_opt, "trials": finder.history["trials"]} if refine else {})})
        default_lr = float(type(task.optimizer(1.0))().learning_rate)
        out[task.name] = {"sweeps": sweeps, "default_lr": default_lr, "seeds": list(seeds), **span}
        print(task.name, [len(s["lrs"]) for s in sweeps], flush=True)
        path.write_text(json.dumps(out))


def _grid_curve(grid: dict, loss: str) -> tuple[float, np.ndarray]:
    """(seed-averaged untrained loss, seed-averaged loss at each grid rate) for "val" or "train"."""
    prefix = "" if loss == "val" else "train_"
    return float(np.mean(grid[prefix + "untrained"])), np.mean(grid[prefix + "losses"], axis=0)


def loss_at(grid: dict, lr: float, loss: str = "val") -> float:
    """Seed-averaged loss at `lr`, interpolated in log(lr) on the grid."""
    lrs = np.asarray(grid["lrs"])
    _, mean = _grid_curve(grid, loss)
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


def score(grid: dict, value: float, loss: str = "val") -> float:
    """Share of the grid's best improvement that a run ending at loss `value` captures."""
    untrained, mean = _grid_curve(grid, loss)
    if not np.isfinite(value):
        return -1.0
    return max(-1.0, (untrained - value) / (untrained - float(np.nanmin(mean))))


def _averaged(sweeps: list[dict], k: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(lrs, raw, smoothed) curves made by averaging the raw losses of `k` consecutive sweeps (cut to the shortest) and
    smoothing them as the finder does: what `k` sweeps with different data order would give."""
    from tf_lrfinder.smoothing import ema

    out = []
    for first in range(len(sweeps) - k + 1):
        group = sweeps[first:first + k]
        n = min(len(s["lrs"]) for s in group)
        raw = np.mean([np.asarray(s["losses"][:n], dtype=np.float64) for s in group], axis=0)
        out.append((np.asarray(group[0]["lrs"][:n]), raw, ema(raw)))  # the finder's default smoothing
    return out


def run_score(train: bool, only: list[str], n_steps: int = N_STEPS, linear: bool = False,
              top: float = LINEAR_TOP, refine: bool = False, refine_steps: int | None = None,
              tasks: list[str] | None = None, grid_file: Path | None = None, sweeps_file: Path | None = None):
    # Another grid or sweeps file replaces the default cache's entries for the tasks it holds.
    grid_all = json.loads((RESULTS / "grid.json").read_text())
    grid_all |= json.loads(Path(grid_file).read_text()) if grid_file else {}
    sweeps_all = json.loads(_sweeps_file(n_steps, linear, top, refine, refine_steps).read_text())
    sweeps_all |= json.loads(Path(sweeps_file).read_text()) if sweeps_file else {}
    from tasks import TASKS

    from tf_lrfinder import suggest as S

    by_name = {t.name: t for t in TASKS}
    names = [n for n in sweeps_all if n in grid_all and (not tasks or n in tasks)]
    rows = [(name, name, 1) for name in S.SUGGESTERS]
    rows += [("optimizer_default", None, 1), (f"{S.DEFAULT_METHOD}, 3 sweeps averaged", S.DEFAULT_METHOD, 3)]
    rows += [(f"{S.DEFAULT_METHOD} + refine", REFINED, 1)] if refine else []
    rows = [row for row in rows if not only or row[0] in only]
    held = np.array([by_name[n].held_out for n in names])
    groups = [(g, m) for g, m in (("all", np.ones_like(held)), ("chosen on", ~held), ("held out", held)) if m.any()]
    trained: dict = {}
    tables = {}
    for loss in ("val", "train"):
        table, spread = {}, {}
        for rule_name, method, k in rows:
            per_task, errors = [], []
            for name in names:
                grid, sweeps = grid_all[name], sweeps_all[name]["sweeps"]
                curves = ([(np.array(s["lrs"]), np.array(s["losses"], dtype=np.float64), np.array(s["smoothed"]))
                           for s in sweeps] if k == 1 else _averaged(sweeps, k))
                scores = []
                for j, (lrs, raw, smoothed) in enumerate(curves):
                    if method is None:
                        lr = sweeps_all[name]["default_lr"]
                    elif method is REFINED:
                        lr = sweeps[j]["refined"]
                        if lr is None:  # the sweep itself failed
                            scores.append(-1.0)
                            continue
                    else:
                        try:
                            lr = S.suggest(lrs, raw, method, smoothed).lr
                        except ValueError:
                            scores.append(-1.0)
                            continue
                    if train:
                        if (name, lr) not in trained:
                            trained[name, lr] = {key: float(v[0]) for key, v in
                                                 _seed_mean(by_name[name], [lr], SEEDS).items()}
                        value = trained[name, lr][loss]
                    else:
                        value = loss_at(grid, lr, loss)
                    scores.append(score(grid, value, loss))
                per_task.append(float(np.mean(scores)))
                errors.append(float(np.std(scores, ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else 0.0)
            table[rule_name], spread[rule_name] = per_task, errors
        tables[loss] = table
        print(f"\nscored on {'validation' if loss == 'val' else 'training'} loss after the budget")
        print(" " * 35 + "".join(f"{g + f' ({m.sum()})':>21s}" for g, m in groups))
        print(f"{'rule':34s}" + f"{'mean':>7s}{'worst':>7s}{'>=0.9':>7s}" * len(groups) + "   "
              + " ".join(f"{n[:10]:>10s}" for n in names))
        for rule_name, s in sorted(table.items(), key=lambda kv: -np.mean(kv[1])):
            s = np.array(s)
            print(f"{rule_name:34s}" + "".join(f"{s[m].mean():7.3f}{s[m].min():7.3f}{int((s[m] >= 0.9).sum()):5d}  "
                                               for _, m in groups)
                  + "   " + " ".join(f"{v:10.3f}" for v in s))
        if S.DEFAULT_METHOD in table:  # how precisely the sweeps pin each score down
            s, e = np.array(table[S.DEFAULT_METHOD]), np.array(spread[S.DEFAULT_METHOD])
            worst = int(np.argmin(s))
            print(f"{S.DEFAULT_METHOD}: standard error over a task's sweeps: median {np.median(e):.3f}, largest "
                  f"{e.max():.3f}; worst task {names[worst]} {s[worst]:.3f} +- {e[worst]:.3f}")
    return tables


def run_ceiling(names):
    """Retrain at each task's best grid rate with fresh seeds and score it: what a perfect rule can
    expect at exact rates, given how noisy a 5-seed mean is and that the grid's best is the luckiest
    of 31 such means."""
    grid_all = json.loads((RESULTS / "grid.json").read_text())
    from tasks import TASKS

    rows = {"val": [], "train": []}
    print(f"{'task':32s}{'val':>8s}{'train':>8s}   (score at the grid's best rate, retrained with seeds {FRESH_SEEDS})")
    for task in TASKS:
        if task.name not in grid_all or (names and task.name not in names):
            continue
        grid = grid_all[task.name]
        best = {loss: float(np.asarray(grid["lrs"])[np.nanargmin(_grid_curve(grid, loss)[1])]) for loss in rows}
        mean = _seed_mean(task, [best["val"], best["train"]], FRESH_SEEDS)
        got = {loss: score(grid, float(mean[loss][i]), loss) for i, loss in enumerate(("val", "train"))}
        for loss in rows:
            rows[loss].append(got[loss])
        print(f"{task.name:32s}{got['val']:8.3f}{got['train']:8.3f}", flush=True)
    print(f"{'mean / worst':32s}" + "".join(f"{np.mean(v):8.3f}" for v in rows.values())
          + "   /" + "".join(f"{np.min(v):8.3f}" for v in rows.values()))


def run_warnings():
    """How often each of the sweep's warnings fires on the recorded default sweeps (`sweeps.json`),
    with the default rule's reading: a warning that fires on most sweeps is one users learn to
    ignore. The recorded sweeps do not say whether their data was cycled, so that one is left out.
    For the never-diverged warning, it also prints how many of the tasks' grids trained best at a
    rate within a decade of the sweep's top, where raising `max_lr` might matter. Each row's score
    is the mean score of its sweeps' own suggestion (training loss), to set beside the sweeps none
    warned of: a warning worth reading marks suggestions that score worse."""
    from tf_lrfinder import suggest as S
    from tf_lrfinder.diagnose import sweep_warnings

    grid_all = json.loads((RESULTS / "grid.json").read_text())
    sweeps_all = json.loads((RESULTS / _sweeps_file(N_STEPS)).read_text())
    kinds = {"never diverged": "The loss never diverged:", "fell to a floor": "The loss never diverged, but it fell",
             "stopped early": "The sweep stopped after", "flat": "The loss curve is flat: it never",
             "flat (noise)": "The loss curve is flat: it fell",
             "edge": "The suggestion sits at the edge"}
    fired = {kind: [] for kind in kinds}
    ran_to_top, n, unwarned = [], 0, []
    for name, entry in sweeps_all.items():
        grid = grid_all[name]
        best = float(np.asarray(grid["lrs"])[np.nanargmin(_grid_curve(grid, "train")[1])])
        for sweep in entry["sweeps"]:
            n += 1
            lrs, losses = np.asarray(sweep["lrs"]), np.asarray(sweep["losses"])
            s = S.SUGGESTERS[S.DEFAULT_METHOD](lrs, losses)
            messages = sweep_warnings(lrs, losses, N_STEPS, sweep["stop_reason"], False, s.index, s.lr)
            top = best >= lrs[-1] / 10
            scored = score(grid, loss_at(grid, s.lr, "train"), "train")
            if sweep["stop_reason"] == "completed":
                ran_to_top.append(top)
            if not messages:
                unwarned.append(scored)
            for kind, start in kinds.items():
                if any(m.startswith(start) for m in messages):
                    fired[kind].append((name, top, scored))
    print(f"{n} recorded sweeps of {len(sweeps_all)} tasks (default settings, `{S.DEFAULT_METHOD}`'s reading)")
    print(f"{'warning':18s}{'sweeps':>8s}{'tasks':>7s}{'score':>7s}")
    for kind, hits in fired.items():
        mean = f"{np.mean([v for _, _, v in hits]):7.3f}" if hits else "      -"
        print(f"{kind:18s}{len(hits):8d}{len({t for t, _, _ in hits}):7d}{mean}")
    print(f"{'none':18s}{len(unwarned):8d}{'':7s}{np.mean(unwarned):7.3f}")
    warned = [top for _, top, _ in fired["never diverged"]]
    print(f"Sweeps that ran to max_lr: {len(ran_to_top)}, of which the task's grid trained best within a "
          f"decade of the top on {sum(ran_to_top)}; of the {len(warned)} warned that the loss never "
          f"diverged, on {sum(warned)}.")


def run_stops():
    """Replay the stopping rule (`tf_lrfinder.smoothing.stop_index`, as the device runs it) on every
    recorded set of sweeps (`results/sweeps*.json`: the default ones, longer and shorter, linear,
    refined) and count the sweeps whose stop it would move: the rule as it is; the rule before it,
    the best counted from the first step (`best_from=0`); and that without the noise floor of
    `smoothing.diverged`. The caches recorded with the rule before (all but `sweeps_n30.json` and
    `sweeps_refine_n30.json`, recorded since) must show none moved by it, the others none moved by
    the rule. A rule that stops later than recorded cannot be scored on the recorded sweeps, which
    hold no losses past their stops: the floor is neutral on the benchmark because it moves none,
    and counting a sweep's best from its fourth step moves a few, each later (benchmarks/README,
    "Random calls")."""
    from tf_lrfinder.smoothing import stop_index

    for path in sorted(RESULTS.glob("sweeps*.json")):  # every recorded set: default, longer, linear, refined
        name, sweeps_all = path.name, json.loads(path.read_text())
        counts = {"diverged": 0, "moved": 0, "before": 0, "without the floor": 0}
        for entry in sweeps_all.values():
            for sweep in entry["sweeps"]:
                if sweep["stop_reason"] != "diverged":
                    continue
                counts["diverged"] += 1
                losses, last = np.asarray(sweep["losses"]), len(sweep["losses"]) - 1
                counts["moved"] += stop_index(losses, 0.98, 4.0) != last
                counts["before"] += stop_index(losses, 0.98, 4.0, best_from=0) != last
                counts["without the floor"] += stop_index(losses, 0.98, 4.0, noise=0.0, best_from=0) != last
        print(f"{name}: {counts['diverged']} sweeps stopped as diverged; the rule moves {counts['moved']} of "
              f"their stops; the rule before it (the best counted from the first step) {counts['before']}, and "
              f"that without the noise floor {counts['without the floor']}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grid")
    g.add_argument("tasks", nargs="*")
    g.add_argument("--seeds", type=int, default=len(SEEDS), help="seeds per rate (the first ones)")
    w = sub.add_parser("sweeps")
    w.add_argument("tasks", nargs="*")
    w.add_argument("--n-steps", type=int, default=N_STEPS, help="sweep length (any but the default: its own cache file)")
    w.add_argument("--seeds", type=int, default=len(SWEEP_SEEDS), help="sweeps per task (the first seeds)")
    w.add_argument("--linear", action="store_true", help="linear sweeps over each task's `linear_range`")
    w.add_argument("--top", type=float, default=LINEAR_TOP, help="linear sweeps end at this multiple of the bottom")
    w.add_argument("--refine", action="store_true", help="run `LRFinder.refine` after each sweep (sweeps_refine.json)")
    w.add_argument("--refine-steps", type=int, help="with --refine: steps per run, if not the default (own cache)")
    w.add_argument("--without-edge", action="store_true",
                   help="with --refine: refine(edge=False), as sweeps_refine.json holds refining (horizon.py replays the edge run)")
    s = sub.add_parser("score")
    s.add_argument("--n-steps", type=int, default=N_STEPS, help="score the cached sweeps of this length")
    s.add_argument("--linear", action="store_true", help="score the cached linear sweeps")
    s.add_argument("--top", type=float, default=LINEAR_TOP, help="the linear sweeps that end at this multiple")
    s.add_argument("--refine", action="store_true", help="score the sweeps followed by `LRFinder.refine`")
    s.add_argument("--refine-steps", type=int, help="with --refine: the cache of runs of this many steps")
    s.add_argument("--train", action="store_true", help="train at each suggested rate instead of interpolating")
    s.add_argument("--rules", nargs="*", default=[], help="score only these rows (for example robust_minimum)")
    s.add_argument("--tasks", nargs="*", default=[], help="score only these tasks (default: every cached one)")
    s.add_argument("--grid", type=Path, help="a grid file whose tasks replace grid.json's (results/grid_bn_lagging.json)")
    s.add_argument("--sweeps", type=Path, help="a sweeps file whose tasks replace the cache's, as --grid")
    c = sub.add_parser("ceiling", help="score the grid's own best rate, retrained with fresh seeds")
    c.add_argument("tasks", nargs="*")
    sub.add_parser("warnings", help="how often each of the sweep's warnings fires on the recorded sweeps")
    sub.add_parser("stops", help="the stopping rule replayed on the recorded sweeps: how many stops it moves")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    if args.cmd == "grid":
        run_grid(args.tasks, args.seeds)
    elif args.cmd == "sweeps":
        run_sweeps(args.tasks, args.n_steps, args.seeds, args.linear, args.top, args.refine, args.refine_steps,
                   not args.without_edge)
    elif args.cmd == "ceiling":
        run_ceiling(args.tasks)
    elif args.cmd == "warnings":
        run_warnings()
    elif args.cmd == "stops":
        run_stops()
    else:
        run_score(args.train, args.rules, args.n_steps, args.linear, args.top, args.refine, args.refine_steps,
                  args.tasks, args.grid, args.sweeps)


if __name__ == "__main__":
    main()
