"""Does refining on `validation_data` choose rates that generalise better? Scored on data no run saw.

`LRFinder.refine` measures its runs on batches held back from the training data, so on a small
data set, which a short run already sees several times over, it measures how well a rate fits the
training data, and may keep a rate that overfits (the validation misses of `suggestion_quality.py`:
an MLP with Adam on diabetes data scores 0.994 on training loss and 0.110 on validation loss).
`finder(..., validation_data=...)` measures the runs on other data instead.

To score it on data that no run saw, each task's training split is split again, 80 / 20 (a fixed
permutation), and for each sweep seed the finder is called as a user without a validation set of
their own would call it: swept and refined on the 80%, its runs measured on the 20%
(`validation_data`). With `--held-back`, after the same sweep, `refine` on the 80% alone is called
too, to tell the effect of measuring on held-out data from that of training on less (recorded for
the fourteen tasks whose validation score moved by 0.05 or more). The rates are scored as
`suggestion_quality.py score` scores (the grid's loss interpolated at the rate, on the task's own
validation split, which no call saw, and on its training loss), beside the default as recorded on
all the training data (`horizon.py`'s `+edge` replay, the same sweep seeds). A seed recorded again
(to add `--held-back`) must return the same rate with `validation_data` as before: it is checked.

The library first measured the runs on the first 8 batches of `validation_data`, and now on all of
it, as `fit` does. `record --again` recorded again the 169 tasks whose 20% holds more than 8
batches (the other 103 read the same batches either way), keeping the rates before as `first_8`,
which `score` prints as a row of their own.

Commands (from the repository root, with the dev extra installed):

    python benchmarks/validation.py record [TASK ...] [--seeds 5] [--held-back]
        # adds what is missing: ~4 s a task and seed on 2 cores, twice that with --held-back
    python benchmarks/validation.py record --again      # see above: 39 min on 2 cores
    python benchmarks/validation.py score [--tasks TASK ...]         # seconds; the table, and the tasks that moved most
    python benchmarks/validation.py score --checks    # the same on the nine batches that check the issue's kinds
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

CACHE = RESULTS / "validation.json"
FIRST = 8  # the validation batches the library measured on before it measured all of them
SHARE = 0.2  # of the training split, held out as `validation_data`
SPLIT_SEED = 0


def split(x, y):
    """The training split, split again: (x, y) for training, (x, y) for `validation_data`."""
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    cut = len(x) - int(round(SHARE * len(x)))
    train, held = order[:cut], order[cut:]
    return (x[train], y[train]), (x[held], y[held])


def record(names: list[str], seeds: int, held_back: bool, again: bool = False, path: Path = CACHE) -> None:
    """For each task and sweep seed: the rate `finder(...)` returns with `validation_data`, and with
    `held_back` the rate `refine` keeps after the same sweep without it. Keeps what `path` holds and
    adds what is missing (seeds up to `seeds`, and with `held_back` the rate without validation).
    With `again`, records `validation` again for every seed of the tasks whose 20% holds more than
    `FIRST` batches (the library measured those on their first `FIRST` batches before it measured
    all of it), keeping the rate before as `first_8`, and the tasks in `CHECKS` first."""
    import keras

    from tasks import TASKS
    from tf_lrfinder import LRFinder

    out = json.loads(path.read_text()) if path.exists() else {}
    checked = check_tasks()
    order = sorted(TASKS, key=lambda task: task.name not in checked) if again else TASKS
    for task in order:
        calls = out.get(task.name, [])
        if again:
            missing = [seed for seed, call in enumerate(calls) if "first_8" not in call]
        else:
            missing = [seed for seed in range(seeds)
                       if seed >= len(calls) or (held_back and "held_back" not in calls[seed])]
        if (names and task.name not in names) or not missing:
            continue
        x, y, _, _ = task.data()
        train, held = split(x, y)
        if again and -(-len(held[0]) // task.batch_size) <= FIRST:
            continue  # its 20% fits in `FIRST` batches: read the same either way
        for seed in missing:
            keras.utils.set_random_seed(seed)
            finder = LRFinder(task.model(), task.optimizer(1e-3), task.loss(), verbose=False)
            call = {"validation": finder(train, batch_size=task.batch_size, validation_data=held)}
            if again:
                calls[seed] = {**calls[seed], "first_8": calls[seed]["validation"], **call}
                continue
            if held_back:
                call["held_back"] = finder.refine(train, batch_size=task.batch_size)
            if seed < len(calls):
                assert call["validation"] == calls[seed]["validation"], (task.name, seed)  # the same call again
                calls[seed] = call
            else:
                calls.append(call)
        out[task.name] = calls
        path.write_text(json.dumps(out))
        print(task.name, flush=True)


def run_score(tasks: list[str], path: Path = CACHE) -> None:
    """Print mean / worst / tasks at 0.9 or better for each rate, on validation and training loss,
    and the tasks whose validation score moved most."""
    import horizon

    grid, recorded, runs = horizon._caches(horizon.CACHE)
    cached = json.loads(path.read_text())
    names = [name for name in cached if not tasks or name in tasks]
    _, rule, steps, edge = next(row for row in horizon.RULES if row[0] == "+edge")
    rates = {DEFAULT: {}, HELD_BACK: {}, FIRST_8: {}, VALIDATED: {}}
    again = any("first_8" in c for calls in cached.values() for c in calls)  # where `record --again` ran
    for name in names:
        calls = cached[name]  # the default replayed on the same sweep seeds
        rates[DEFAULT][name] = [horizon.replay(call, sweep, rule, steps, edge)[0]
                                for call, sweep in zip(runs[name][:len(calls)], recorded[name]["sweeps"])]
        rates[VALIDATED][name] = [c["validation"] for c in calls]
        if again:
            rates[FIRST_8][name] = [c.get("first_8", c["validation"]) for c in calls]
        if all("held_back" in c for c in calls):
            rates[HELD_BACK][name] = [c["held_back"] for c in calls]
    scores = {key: {name: [np.mean([score(grid[name], loss_at(grid[name], lr, loss), loss) for lr in lrs])
                           for loss in ("val", "train")] for name, lrs in by_task.items()}
              for key, by_task in rates.items()}
    seeds = sorted({len(cached[name]) for name in names})
    print(f"{len(names)} tasks, {' or '.join(map(str, seeds))} sweep seeds each; mean / worst / tasks at 0.9 or better")
    subsets = [("all the tasks", names)]
    if scores[HELD_BACK]:
        subsets.append(("the tasks with the 80% refined on held-back batches too", list(scores[HELD_BACK])))
    for title, subset in subsets:
        print(f"{f'{title} ({len(subset)})':44s}{'validation loss':>22s}{'training loss':>22s}")
        for key, by_task in scores.items():
            if all(name in by_task for name in subset):
                table = np.array([by_task[name] for name in subset])
                cells = [f"{s.mean():.3f} / {s.min():.3f} / {(s >= 0.9).sum():3d}" for s in table.T]
                print(f"  {key:42s}{cells[0]:>22s}{cells[1]:>22s}")
    moved = sorted(names, key=lambda n: scores[VALIDATED][n][0] - scores[DEFAULT][n][0])
    print("Validation loss, the default -> with validation_data, the tasks that moved most"
          " (training loss in brackets):")
    for name in moved[:6] + moved[-10:] if len(moved) > 16 else moved:
        print(f"  {name:42s}{scores[DEFAULT][name][0]:7.3f} ->{scores[VALIDATED][name][0]:7.3f}"
              f"   ({scores[DEFAULT][name][1]:.3f} ->{scores[VALIDATED][name][1]:6.3f})"
              + (f"   80% held-back: {scores[HELD_BACK][name][0]:.3f}" if name in scores[HELD_BACK] else ""))
    if scores[FIRST_8]:
        moved = sorted(names, key=lambda n: scores[VALIDATED][n][0] - scores[FIRST_8][n][0])
        moved = [n for n in moved if abs(scores[VALIDATED][n][0] - scores[FIRST_8][n][0]) >= 0.01]
        print("Validation loss, validation_data's first 8 batches -> all of it, where it moved by 0.01 or more"
              " (training loss in brackets):")
        for name in moved:
            print(f"  {name:42s}{scores[FIRST_8][name][0]:7.3f} ->{scores[VALIDATED][name][0]:7.3f}"
                  f"   ({scores[FIRST_8][name][1]:.3f} ->{scores[VALIDATED][name][1]:6.3f})")


CHECKS = ("thirty-ninth", "fortieth", "forty-second", "forty-third", "forty-fourth", "forty-fifth", "forty-seventh",
          "forty-eighth", "forty-ninth")


def check_tasks() -> list[str]:
    """The tasks of the nine batches that check the default on the kinds the suggestion issue names
    (`CHECKS`), read from the batch headers in `tasks.py` ("# Held out, thirty-ninth batch: ...")."""
    batch, names = None, []
    for line in (Path(__file__).parent / "tasks.py").read_text().splitlines():
        header = re.match(r"\s*# Held out, ([\w-]+) batch", line)
        batch = header.group(1) if header else batch
        task = re.match(r'\s*Task\("([^"]+)"', line)
        if task and batch in CHECKS:
            names.append(task.group(1))
    return names


DEFAULT, HELD_BACK, FIRST_8, VALIDATED = ("the default, all the training data", "80%, held-back batches",
                                          "80%, the first 8 batches of the 20%", "80%, validation_data=20%")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("tasks", nargs="*")
    r.add_argument("--seeds", type=int, default=5)
    r.add_argument("--held-back", action="store_true", help="also refine on the 80%% alone, after the same sweep")
    r.add_argument("--again", action="store_true",
                   help="record again the tasks whose 20%% holds more than 8 batches (see `record`)")
    s = sub.add_parser("score")
    s.add_argument("--tasks", nargs="*", default=[])
    s.add_argument("--checks", action="store_true", help="the nine batches that check the issue's kinds")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # the sweeps' and runs' own warnings: expected on some benchmark tasks
    if args.cmd == "record":
        record(args.tasks, args.seeds, args.held_back, args.again)
    else:
        run_score(check_tasks() if args.checks else args.tasks)


if __name__ == "__main__":
    main()
