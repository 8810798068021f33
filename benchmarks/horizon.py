"""Do refining's 100-step choices hold over longer training? Runs of 100, 200 and 300 steps, replayed.

`LRFinder.refine` tells rates apart by runs of 100 steps, while the benchmark's budgets are 200-300
steps (and users train longer). This probe measures what longer runs would choose. For each task
and sweep seed of `suggestion_quality.py`, after the same sweep that `sweeps --refine` recorded,
it trains runs of 100, 200 and 300 steps (`refine(steps=..., factors=..., extend=0)`, each from
the same state on the same batches) at the rates that refining tried there
(`results/sweeps_refine.json`), plus half the lowest and twice the highest (up to the sweep's top
rate), and caches their losses in `results/runs_horizon.json`. The 100-step losses equal the
recorded ones bit for bit. `score` then replays choices on those runs and scores them as
`suggestion_quality.py score` does (the grid's loss interpolated at the rate, the mean over the
ten sweeps per task; mean / worst / tasks at 0.9 or better):

    now        the recorded choice: `refine` as it is (runs of 100 steps)
    +edge      and, where no run failed, one more at twice the highest rate, so that the margin
               below a failed run (`refine.short_of_divergence`) has an edge to keep clear of
    longer H   every run H steps long (the same rates: `refine(steps=H)` searches its own way)
    tie H      the runs that do about as well after 100 steps (`refine.tied`: within the threshold,
               not failed), when there are two or more, trained on to H steps; `choose` picks
               among them, and any of them that failed by then moves the margin (what
               `refine(tie_steps=H)` does, running each of them afresh for H steps)
    +edge tie H  both
    +edge tie 300 below half  `+edge tie 300` only where the best 100-step run took off less than half
               the loss before the runs (`HALF`): where the runs are still early in training, rates
               that tie after 100 steps may part later; where they took off more, their ranking stands
               (the forty-first and forty-sixth batches decided on it: it changed no rate kept on
               either, so not adopted)
    verify H   the rate kept trained on to H steps; while that run diverges or ends no lower than
               the loss before it, the next lower rate tried instead (a check that the rate kept
               stays stable over a longer training, at the cost of one longer run where it does)
    tie H verify H  both

Commands (from the repository root, with the dev extra installed):

    python benchmarks/horizon.py record [TASK ...]   # ~5 hours on 2 cores for all 300; resumable
    python benchmarks/horizon.py score [--tasks TASK ...] [--held-out]  # seconds
    python benchmarks/horizon.py score --train [--tasks TASK ...] [--held-out]
        # the default (`+edge`) alone, trained at the exact rates it keeps: ~1 min a task on 2 cores
    python benchmarks/horizon.py check TASK ... [--seeds 3] [--edge] [--tie-steps 0]
        # refine(tie_steps=300 or 0, edge=True or False) against the replay of `tie 300`, `+edge tie 300`,
        # `now` or `+edge`

Each line of the table also prints the extra runs it costs per call: `+edge` one run of up to 100
steps, `tie` 100 or 200 more steps for each run in the band, `verify` as many for each run it
checks (none for a run the tie already trained on). Under each table a line splits the default's
task scores by kind: the deep MLPs with tanh or sigmoid units trained with SGD, where its misses
come from, and the others. The last two lines count the calls on which the default warns that
even the best run barely lowered the loss (`refine.barely_trained_warning`), and that the runs'
noise, not the tolerance, decided which runs do about as well (`refine.noise_warning`).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from suggestion_quality import RESULTS, loss_at, score  # noqa: E402

STEPS = (100, 200, 300)
CACHE = RESULTS / "runs_horizon.json"


def _swept_again(task, seed: int, x: np.ndarray, y: np.ndarray):
    """A finder after the sweep `sweeps --refine` recorded for `task` and `seed` (seeded as it was
    seeded there: the same sweep)."""
    import keras

    from tf_lrfinder import LRFinder

    keras.utils.set_random_seed(seed)
    finder = LRFinder(task.model(), task.optimizer(1e-3), task.loss(), verbose=False)
    finder((x, y), batch_size=task.batch_size, refine=False)
    return finder


def record(names: list[str], path: Path = CACHE) -> None:
    """Run and cache the runs of each length (tasks already in `path` are skipped unless named)."""
    from tasks import TASKS

    recorded = json.loads((RESULTS / "sweeps_refine.json").read_text())
    out = json.loads(path.read_text()) if path.exists() else {}
    for task in TASKS:
        if (names and task.name not in names) or (not names and task.name in out):
            continue
        x, y, _, _ = task.data()
        calls = []
        for seed, sweep in enumerate(recorded[task.name]["sweeps"]):
            finder = _swept_again(task, seed, x, y)
            tried = sorted(sweep["trials"]["lrs"])
            above = [tried[-1] * 2] if tried[-1] * 2 <= finder.lrs[-1] else []  # up to the sweep's top
            lrs = np.array(sorted({tried[0] / 2, *tried, *above}))
            bottom = finder.suggest_range()[1]
            losses = []
            for steps in STEPS:
                finder.refine((x, y), steps=steps, batch_size=task.batch_size, factors=tuple(lrs / bottom), extend=0,
                              edge=False)
                losses.append(list(finder.trials.losses))
            calls.append({"start": finder.trials.start_loss, "lrs": lrs.tolist(),  # = trials.lrs, to an ulp
                          "losses": [list(row) for row in zip(*losses)]})
        out[task.name] = calls
        path.write_text(json.dumps(out))
        print(task.name, flush=True)


def check(names: list[str], seeds: int = 3, edge: bool = False, tie_steps: int = 300) -> None:
    """After the recorded sweeps, call `refine(tie_steps=tie_steps, edge=edge)` and print whether it
    keeps the rate that the replay keeps on the cached runs (`[+edge ]tie 300`, or with `tie_steps=0`
    `now` or `+edge`)."""
    from tasks import TASKS

    recorded = json.loads((RESULTS / "sweeps_refine.json").read_text())
    runs = json.loads(CACHE.read_text())
    for task in TASKS:
        if task.name not in names:
            continue
        x, y, _, _ = task.data()
        for seed in range(seeds):
            finder = _swept_again(task, seed, x, y)
            lr = finder.refine((x, y), batch_size=task.batch_size, tie_steps=tie_steps, edge=edge)
            want, _ = replay(runs[task.name][seed], recorded[task.name]["sweeps"][seed],
                             "tie" if tie_steps else "now", tie_steps, edge)
            same = "same" if np.isclose(lr, want, rtol=1e-9, atol=0) else "DIFFERENT"
            print(f"{task.name} seed {seed}: {lr:.6g}, replay {want:.6g}: {same} "
                  f"({len(finder.trials.tie_lrs)} tied runs)", flush=True)


def _tried(call: dict, sweep: dict, edge: bool) -> tuple[np.ndarray, int]:
    """Which of the call's cached runs refining tried (as recorded, and with `edge` the edge run), and
    how many runs the edge run added (0 or 1)."""
    from tf_lrfinder import refine as R

    lrs, losses, start = np.array(call["lrs"]), np.array(call["losses"]), call["start"]
    tried = np.isclose(lrs[:, None], np.array(sweep["trials"]["lrs"])[None, :], rtol=1e-9, atol=0).any(axis=1)
    further = R.edge_rate(lrs[tried], losses[tried, 0], start, limit=lrs[-1]) if edge else None
    if further is None:
        return tried, 0
    above = np.isclose(lrs, further, rtol=1e-9, atol=0)  # cached wherever the sweep reached it
    return tried | above, int(above.sum())


def warned(call: dict, sweep: dict, warning: str = "barely_trained_warning") -> bool:
    """Whether the default (`+edge`) gives `warning` (the name of a warning in `refine`:
    `barely_trained_warning`, `noise_warning`) on this call, on the 100-step runs it tried."""
    from tf_lrfinder import refine as R

    tried, _ = _tried(call, sweep, edge=True)
    return getattr(R, warning)(np.array(call["losses"])[tried, 0], call["start"], lr=0.0) is not None


def replay(call: dict, sweep: dict, rule: str, horizon: int = 0, edge: bool = False) -> tuple[float, int]:
    """The rate a rule keeps on one call's runs, and the extra runs it cost (see the module docstring).

    As `refine` keeps a rate: `choose`, then `short_of_divergence` below every run that failed;
    then, for the `verify` rules, the check of the rate kept over the longer horizon.
    """
    from tf_lrfinder import refine as R

    lrs, losses, start = np.array(call["lrs"]), np.array(call["losses"]), call["start"]  # lrs increasing
    tried, extra = _tried(call, sweep, edge)
    rates, runs = lrs[tried], losses[tried, STEPS.index(horizon) if rule == "longer" else 0]
    i = R.choose(rates, runs, start)
    if i is None:  # every run diverged: the recorded choice stands
        return sweep["refined"], extra
    kept, longer_runs = float(rates[i]), set()
    if rule == "tie half" and R.barely_trained_warning(runs, start, lr=0.0, least=HALF) is None:
        rule = "now"  # the runs took off half the loss or more: their ranking stands (as `refine.leap` reads it)
    if rule in ("tie", "tie verify", "tie half"):
        band = R.tied(rates, runs, start)
        if band.sum() >= 2:
            extra += int(band.sum())
            longer_runs = set(rates[band].tolist())
            kept = R.break_tie(kept, rates[band], losses[tried][band, STEPS.index(horizon)], start)
    kept = R.short_of_divergence(kept, rates, runs, R.MARGIN, start)
    if rule in ("verify", "tie verify") and kept in rates:  # not a rate the margin made
        k = int(np.flatnonzero(rates == kept)[0])
        while True:
            extra += int(rates[k] not in longer_runs)
            end = losses[tried][k, STEPS.index(horizon)]
            if (np.isfinite(end) and end < start) or k == 0:
                return float(rates[k]), extra
            k -= 1
    return kept, extra


HALF = 0.5  # `tie half`: the tied runs are run on only where the best run took off less than this share of the loss


RULES = (("now", "now", 0, False), ("+edge", "now", 0, True), ("longer 200", "longer", 200, False),
         ("longer 300", "longer", 300, False), ("tie 200", "tie", 200, False), ("tie 300", "tie", 300, False),
         ("+edge tie 300", "tie", 300, True), ("+edge tie 300 below half", "tie half", 300, True),
         ("verify 300", "verify", 300, False), ("tie 300 verify 300", "tie verify", 300, False))


def _caches(path: Path) -> tuple[dict, dict, dict]:
    """The grid, the recorded sweeps with refining (`sweeps_refine.json`) and the cached runs at `path`."""
    return tuple(json.loads(p.read_text()) for p in (RESULTS / "grid.json", RESULTS / "sweeps_refine.json", path))


SATURATING = re.compile(r"deep_(tanh|sigmoid)_mlp_")  # deep MLPs with tanh or sigmoid units, all trained with SGD


def _by_kind(scores: dict[str, float]) -> str:
    """The default's task scores split in two: the deep MLPs with tanh or sigmoid units trained with
    SGD (plain, momentum or Nesterov; `SATURATING`), the kind its misses come from, and the others."""
    parts = []
    for label, keep in (("deep tanh/sigmoid MLPs with SGD", True), ("the others", False)):
        x = np.array([v for name, v in scores.items() if bool(SATURATING.match(name)) == keep])
        parts.append(f"{label} ({x.size}) " + (f"{x.mean():.4f} / {x.min():.3f} / {(x >= 0.9).sum()}" if x.size else "-"))
    everything = np.array(list(scores.values()))
    return (f"  the default (+edge), all {everything.size}: mean {everything.mean():.4f}; by kind: "
            + "; ".join(parts))


def run_score(tasks: list[str], path: Path = CACHE) -> None:
    """Print the table of replayed rules, training and validation loss."""
    grid, recorded, runs = _caches(path)
    runs = {name: calls for name, calls in runs.items() if not tasks or name in tasks}
    for loss in ("train", "val"):
        print(f"{f'{loss} loss, {len(runs)} tasks':36s}mean   worst  >=0.9  extra runs/call")
        for label, rule, horizon, edge in RULES:
            per_task, extra = [], []
            for name, calls in runs.items():
                kept = [replay(call, sweep, rule, horizon, edge) for call, sweep in
                        zip(calls, recorded[name]["sweeps"])]
                extra += [cost for _, cost in kept]
                per_task.append(np.mean([score(grid[name], loss_at(grid[name], lr, loss), loss) for lr, _ in kept]))
            per_task = np.array(per_task)
            print(f"  {label:32s}{per_task.mean():7.3f}{per_task.min():8.3f}{(per_task >= 0.9).sum():6d}"
                  f"{np.mean(extra):10.2f}")
            if label == "+edge":
                default = dict(zip(runs, per_task))
        print(_by_kind(default))
    for warning, what in (("barely_trained_warning", "that the runs barely trained (`refine.barely_trained_warning`)"),
                          ("noise_warning", "that the runs' noise decided (`refine.noise_warning`)")):
        flagged = {name: sum(warned(call, sweep, warning) for call, sweep in zip(calls, recorded[name]["sweeps"]))
                   for name, calls in runs.items()}
        print(f"The default warns {what} on {sum(flagged.values())} of "
              f"{sum(len(calls) for calls in runs.values())} calls: "
              + (", ".join(f"{name} {k}" for name, k in flagged.items() if k) or "none"))


def run_exact(tasks: list[str], path: Path = CACHE) -> None:
    """The default (`+edge`) trained at the exact rates it keeps, beside its interpolated score.

    Each distinct rate the replay keeps on a task is trained for the task's budget from the grid's
    seeds (`suggestion_quality.SEEDS`), and each call is scored on that seed mean, as
    `suggestion_quality.py score --train` scores the rates recorded there.
    """
    from suggestion_quality import SEEDS, _seed_mean
    from tasks import TASKS

    grid, recorded, runs = _caches(path)
    _, rule, horizon, edge = next(row for row in RULES if row[0] == "+edge")
    names = [t.name for t in TASKS if t.name in runs and (not tasks or t.name in tasks)]
    by_name = {t.name: t for t in TASKS}
    table: dict[str, list[tuple[float, float]]] = {"train": [], "val": []}
    print(f"{'task':40s}{'train interp':>14s}{'exact':>8s}{'val interp':>12s}{'exact':>8s}")
    for name in names:
        kept = [replay(call, sweep, rule, horizon, edge)[0] for call, sweep in zip(runs[name], recorded[name]["sweeps"])]
        rates = sorted(set(kept))
        trained = _seed_mean(by_name[name], rates, SEEDS)
        row = []
        for loss in ("train", "val"):
            exact = {lr: float(v) for lr, v in zip(rates, trained[loss])}
            pair = (float(np.mean([score(grid[name], loss_at(grid[name], lr, loss), loss) for lr in kept])),
                    float(np.mean([score(grid[name], exact[lr], loss) for lr in kept])))
            table[loss].append(pair)
            row += list(pair)
        print(f"{name:40s}{row[0]:14.3f}{row[1]:8.3f}{row[2]:12.3f}{row[3]:8.3f}", flush=True)
    for loss, pairs in table.items():
        interp, exact = np.array(pairs).T
        print(f"{loss} loss, {len(names)} tasks, default (+edge): interpolated {interp.mean():.3f} / {interp.min():.3f} / "
              f"{(interp >= 0.9).sum()}, at exact rates {exact.mean():.3f} / {exact.min():.3f} / {(exact >= 0.9).sum()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("tasks", nargs="*")
    s = sub.add_parser("score")
    s.add_argument("--tasks", nargs="*", default=[])
    s.add_argument("--held-out", action="store_true", help="only the tasks added after the sweep's rule")
    s.add_argument("--train", action="store_true", help="the default alone, trained at the exact rates it keeps")
    c = sub.add_parser("check")
    c.add_argument("tasks", nargs="+")
    c.add_argument("--seeds", type=int, default=3)
    c.add_argument("--edge", action="store_true", help="refine(edge=True, ...) against a replay with `+edge`")
    c.add_argument("--tie-steps", type=int, choices=(0, 300), default=300)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # the sweeps' and runs' own warnings: expected on some benchmark tasks
    if args.cmd == "record":
        record(args.tasks)
    elif args.cmd == "check":
        check(args.tasks, args.seeds, args.edge, args.tie_steps)
    else:
        from tasks import TASKS

        names = ([t.name for t in TASKS if t.held_out and (not args.tasks or t.name in args.tasks)]
                 if args.held_out else args.tasks)
        (run_exact if args.train else run_score)(names)


if __name__ == "__main__":
    main()
