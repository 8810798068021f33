"""Speed and memory of a sweep, against the hardware's limit and the finders users have today.

Run from the repository root (dev extra installed):

    python benchmarks/speed.py                 # all sections, ~10 min on 2 CPU cores
    python benchmarks/speed.py --repeats 7 --steps 100

Every contender trains the same model on the same batches for the same number of steps; all run
in one process, interleaved, after a warm-up; the median of `--repeats` runs is reported with its
ratio to the limit and to `model.fit`. Sweeps use a range that does not diverge (1e-6 to 1e-4), so
every contender takes all the steps.

Contenders:
- limit: all steps inside one `tf.function` call, the rate fixed, nothing recorded.
- model.fit: `fit` for the same steps (default `steps_per_execution=1`).
- keras-callback finder: `fit` with a callback that sets the rate before each batch and reads
  `logs["loss"]` after it (how the popular Keras finders work).
- per-step GradientTape finder: a compiled step called once per batch, the rate assigned from
  Python, the loss read back each step (the published TensorFlow 2 dataclass finder's loop).
- tf_lrfinder first call (a new finder: tracing included) and repeated call, both the sweep alone
  (`refine=False`); and the default call, which adds `refine`'s four runs of 100 steps (400 more
  steps and five passes over 8 held-back batches: about 5x the sweep's time at 100 steps; one or
  two runs more where the highest run wins).

`arrays`: a sweep from arrays of 10 thousand, 1 million and 4 million rows, each in its own process:
the call reads 100 batches whatever the length, so its time and peak memory should barely grow.

`xla`: the MLP compiled with `jit_compile=True` and without, the finder's sweep beside `model.fit` with
the same setting: the finder compiles its step with XLA where `fit` would.

`update_bn`: `refine`'s runs on a CNN with BatchNormalization with the statistics re-estimated
before each measurement (the default) and without: what the eight extra forward passes per run cost.

`nan_check`: the repeated sweep as it is, beside the same sweep with its check of every batch for
NaN or inf (which names the data, not the rate, where the loss turns NaN) left out: on a linear
model over 784 inputs, the cheapest step per input value, where reading the inputs weighs most, and
on the MLP; with and without XLA.

`strategy`: the MLP created under a `MirroredStrategy` of two logical CPUs (in a process of its own:
logical devices are set before TensorFlow starts), the finder's sweep beside `model.fit` under the
same strategy, and beside the finder with its steps in one place on the whole batch (as before it
ran them on the replicas); the same model without a strategy for reference. Two logical CPUs share
the same two cores, so this measures the overhead of splitting each batch, not what several
GPUs gain.

`pipeline`: `refine`'s runs, then the default call (the sweep and the runs), from a `tf.data`
pipeline that augments images at random (flip, brightness, resize from 96x96 to 64x64, padded
random crop; two parallel calls), on a small CNN: the batches read once and held in memory (the
default, `tf_lrfinder.data.in_memory`) beside the pipeline read afresh by the sweep and every run
(the memory budget set to 0), and beside the same batches cached by the user (`.cache()`), where
the pipeline runs for no step at all.

`py_dataset`: a sweep from a `keras.utils.PyDataset` whose batches each take 20 ms to read (as from
disk), with 8 workers and with 1, beside `model.fit` for the same steps from the same PyDataset, and
beside the same sweep reading the batches one at a time in its own thread (as the finder read them
before it used the PyDataset's workers, `tf_lrfinder.pages`). Then, each in a process of its own,
`fit`, the sweep and the default call from 12 MiB batches of images: their time and how far each
grew the process's peak memory (past the 512 MiB refining holds, the finder streams them), and the
finder's two with the batches held whatever their size, as before it streamed them.

`first_call`: a finder's first call in a fresh process, beside its second call in the same process
(the default call and the sweep alone, on the MLP and on a CNN with BatchNormalization): what a
script or a new notebook pays once, for tracing the finder's functions (a first call in a process
that already ran a finder pays less: TensorFlow keeps what it converted and compiled). With
`--against DIR`, a checkout of another commit (`git worktree add DIR COMMIT`), the same processes run
that checkout's `tf_lrfinder` too, interleaved, and the ratios of this checkout's times to its are
printed: a change's cost or gain measured side by side.

`validation`: `refine`'s runs on the MLP measured on 8 held-back batches (the default), on all of
`validation_data` (10 thousand samples, 79 batches of 128: what `fit` would measure), and on its
first 8 batches (`validation_steps=8`): what measuring each run on all of it costs.
"""

from __future__ import annotations

import argparse
import contextlib
import warnings
import os
import subprocess
import sys
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_lrfinder import LRFinder, step as step_lib  # noqa: E402
from tf_lrfinder.state import Snapshot  # noqa: E402

L = keras.layers
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def mlp(width=512, depth=2, inputs=784):
    return keras.Sequential([keras.Input((inputs,))] + [L.Dense(width, activation="relu") for _ in range(depth)]
                            + [L.Dense(10)])


def cnn():
    return keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
                             L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(), L.Dense(10)])


def cnn_bn():
    return keras.Sequential([keras.Input((16, 16, 1)), L.Conv2D(16, 3), L.BatchNormalization(), L.ReLU(),
                             L.MaxPooling2D(), L.Conv2D(32, 3), L.BatchNormalization(), L.ReLU(),
                             L.GlobalAveragePooling2D(), L.Dense(10)])


def data(shape, n_steps, batch=128):
    rng = np.random.default_rng(0)
    n = batch * 64
    x = rng.normal(size=(n, *shape)).astype("float32")
    y = rng.integers(0, 10, n).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).repeat().prefetch(tf.data.AUTOTUNE)


def make_limit(model, opt, ds):
    """The limit: `limit(n)` runs `n` training steps on `ds` inside one compiled call, the rate
    fixed, nothing recorded, and waits for the device."""

    @tf.function
    def limit_fn(iterator, n):
        for _ in tf.range(n):
            x, y = next(iterator)
            with tf.GradientTape() as tape:
                loss = LOSS(y, model(x, training=True))
            opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))

    def limit(n):
        limit_fn(iter(ds), tf.constant(n))
        float(opt.iterations)  # wait for the device

    return limit


def contenders(make_model, ds, n_steps):
    model = make_model()
    opt = keras.optimizers.Adam(1e-5)
    model.compile(optimizer=opt, loss=LOSS)
    opt.build(model.trainable_variables)

    run_limit = make_limit(model, opt, ds)

    def limit():
        run_limit(n_steps)

    def fit():
        model.fit(ds, steps_per_epoch=n_steps, epochs=1, verbose=0)

    lrs = np.geomspace(1e-6, 1e-4, n_steps)

    class SetRate(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            opt.learning_rate.assign(lrs[batch])

        def on_train_batch_end(self, batch, logs=None):
            self.last = float(logs["loss"])

    def callback_finder():
        model.fit(ds, steps_per_epoch=n_steps, epochs=1, verbose=0, callbacks=[SetRate()])

    @tf.function
    def one_step(x, y):
        with tf.GradientTape() as tape:
            loss = LOSS(y, model(x, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    def per_step_finder():
        losses = []
        for i, (x, y) in enumerate(ds.take(n_steps)):
            opt.learning_rate.assign(lrs[i])
            losses.append(one_step(x, y).numpy())

    finder = LRFinder(model, opt, LOSS, verbose=False)

    def ours():
        finder(ds, min_lr=1e-6, max_lr=1e-4, n_steps=n_steps, refine=False)
        assert len(finder.lrs) == n_steps, finder.stop_reason

    def ours_first():
        LRFinder(model, opt, LOSS, verbose=False)(ds, min_lr=1e-6, max_lr=1e-4, n_steps=n_steps, refine=False)

    def ours_refined():  # the default call: the sweep, then `refine`'s 4 runs of 100 steps
        finder(ds, min_lr=1e-6, max_lr=1e-4, n_steps=n_steps)

    return {"limit (one call, nothing recorded)": limit, "model.fit": fit, "keras-callback finder": callback_finder,
            "per-step GradientTape finder": per_step_finder, "tf_lrfinder, first call": ours_first,
            "tf_lrfinder, repeated call": ours, "tf_lrfinder, default: + refine": ours_refined}, finder


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved_medians(fns, repeats):
    """Each contender's median time over `repeats` rounds, after one warm-up call each (tracing and
    compiling); a round calls every contender once, so a noisy spell on the shared machine hits them
    all alike."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(timed(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def speed_table(name, make_model, shape, n_steps, repeats):
    ds = data(shape, n_steps)
    fns, _ = contenders(make_model, ds, n_steps)
    med = interleaved_medians(fns, repeats)
    limit, fit = med["limit (one call, nothing recorded)"], med["model.fit"]
    print(f"\n{name}: {n_steps} steps, batch 128, Adam, median of {repeats}")
    print(f"| {'contender':36s} | {'ms':>8s} | {'x limit':>7s} | {'x fit':>6s} |")
    print(f"|{'-' * 38}|{'-' * 10}|{'-' * 9}|{'-' * 8}|")
    for k, v in med.items():
        print(f"| {k:36s} | {v * 1e3:8.1f} | {v / limit:7.2f} | {v / fit:6.2f} |")
    return med


def scaling(repeats):
    print("\nSweep time against n_steps (MLP, repeated call), beside the limit for the same steps,")
    print("interleaved: the ratio should stay flat (no per-step creep)")
    ds = data((784,), 1000)
    model, opt = mlp(), keras.optimizers.Adam(1e-5)  # the limit trains it too: keep it gentle
    finder = LRFinder(model, opt, LOSS, verbose=False)
    finder(ds, min_lr=1e-7, max_lr=1e-5, n_steps=100, refine=False)

    limit = make_limit(model, opt, ds)
    limit(10)
    print(f"| {'n_steps':>7s} | {'ours s':>7s} | {'ours ms/step':>12s} | {'limit ms/step':>13s} | {'x limit':>7s} |")
    for n in (100, 300, 1000):
        ours, lim = [], []
        for _ in range(repeats):
            ours.append(timed(lambda: finder(ds, min_lr=1e-7, max_lr=1e-5, n_steps=n, refine=False)))
            lim.append(timed(lambda: limit(n)))
        assert len(finder.lrs) == n
        t, t_lim = statistics.median(ours), statistics.median(lim)
        print(f"| {n:7d} | {t:7.3f} | {t / n * 1e3:12.3f} | {t_lim / n * 1e3:13.3f} | {t / t_lim:7.2f} |")


def update_bn_cost(repeats):
    print("\nrefine on a CNN with BatchNormalization (16x16x1, batch 128, Adam), the candidates only")
    print("(extend=0: four runs of 100 steps), with BatchNorm's statistics re-estimated before each")
    print("measurement (update_bn=True, the default) and without, interleaved, median of", repeats)
    ds = data((16, 16, 1), 100)
    finder = LRFinder(cnn_bn(), keras.optimizers.Adam(), LOSS, verbose=False)
    finder(ds, min_lr=1e-6, max_lr=1e-1, n_steps=100, refine=False)

    def refined(update):
        def call():
            finder.refine(ds, extend=0, update_bn=update)
            assert finder.trials.bn_layers == (2 if update else 0)
        return call

    med = interleaved_medians({update: refined(update) for update in (True, False)}, repeats)
    on, off = med[True], med[False]
    print(f"| update_bn=True s | update_bn=False s | ratio |\n|---|---|---|\n| {on:.2f} | {off:.2f} | {on / off:.3f} |")


def validation_cost(repeats):
    print("\nrefine on the MLP 784-512-512-10 (batch 128, Adam), the candidates only (extend=0, edge=False:")
    print("four runs of 100 steps), each run measured on 8 held-back batches, on all of 10 thousand")
    print("validation samples (79 batches) and on their first 8 batches; interleaved, median of", repeats)
    ds = data((784,), 100)
    rng = np.random.default_rng(1)
    validation = (rng.normal(size=(10_000, 784)).astype("float32"), rng.integers(0, 10, 10_000).astype("int32"))
    finder = LRFinder(mlp(), keras.optimizers.Adam(), LOSS, verbose=False)
    finder(ds, min_lr=1e-6, max_lr=1e-1, n_steps=100, refine=False)
    settings = {"held-back batches (default)": {}, "validation_data, all of it": dict(validation_data=validation),
                "validation_steps=8": dict(validation_data=validation, validation_steps=8)}

    def refined(kwargs):
        def call():
            finder.refine(ds, extend=0, edge=False, **kwargs)
            assert len(finder.trials.lrs) == 4
        return call

    med = interleaved_medians({name: refined(kwargs) for name, kwargs in settings.items()}, repeats)
    print_ratios(med, "measured on", "held-back batches (default)", "held-back")


def print_ratios(medians, what, base, short):
    """Print `medians` (seconds by name) as a table, each beside its ratio to the one named `base`."""
    print(f"| {what} | s | x {short} |\n|---|---|---|")
    for name, t in medians.items():
        print(f"| {name} | {t:.2f} | {t / medians[base]:.2f} |")


def pipeline_cost(repeats):
    import tf_lrfinder.data as data_lib

    print("\nrefine's runs (the candidates only: extend=0, edge=False, four runs of 100 steps) from a tf.data")
    print("pipeline that augments 96x96 images at random and resizes them to 64x64 (batch 64), on a small CNN;")
    print("interleaved, median of", repeats)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 255, (4000, 96, 96, 3)).astype("uint8"), rng.integers(0, 10, 4000)

    def augment(img, label):
        img = tf.image.random_brightness(tf.image.random_flip_left_right(tf.image.convert_image_dtype(img, tf.float32)),
                                         0.1)
        img = tf.image.resize(img, (64, 64))
        return tf.image.random_crop(tf.pad(img, [[4, 4], [4, 4], [0, 0]], mode="REFLECT"), (64, 64, 3)), label

    ds = tf.data.Dataset.from_tensor_slices((images, labels)).map(augment, num_parallel_calls=2).batch(64)
    cached = ds.cache()
    for _ in cached:  # filled once, before any timing
        pass
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    finder = LRFinder(model, keras.optimizers.Adam(), LOSS, verbose=False)
    finder(ds, min_lr=1e-6, max_lr=1e-1, n_steps=100, refine=False)

    def timed_call(dataset, budget, whole):
        def call():
            before, data_lib.RUNS_IN_MEMORY = data_lib.RUNS_IN_MEMORY, budget
            try:
                if whole:  # the default call: the sweep (a range that never diverges), then refining's runs
                    finder(dataset, min_lr=1e-6, max_lr=1e-4, n_steps=100)
                else:
                    finder.refine(dataset, extend=0, edge=False)
                    assert len(finder.trials.lrs) == 4
            finally:
                data_lib.RUNS_IN_MEMORY = before
        return call

    for whole in (False, True):
        med = interleaved_medians({"held in memory (default)": timed_call(ds, data_lib.RUNS_IN_MEMORY, whole),
                                   "read afresh (budget 0)": timed_call(ds, 0, whole),
                                   "cached by the user (.cache())": timed_call(cached, data_lib.RUNS_IN_MEMORY,
                                                                               whole)}, repeats)
        print("the default call, the sweep and the runs:" if whole else "refine's four runs:")
        print_ratios(med, "the batches", "held in memory (default)", "held in memory")


class SlowPages(keras.utils.PyDataset):
    """Batches of 128 MNIST-sized rows, each taking `delay` seconds to read (as from disk)."""

    def __init__(self, pages, delay, **kwargs):
        super().__init__(**kwargs)
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(pages * 128, 784)).astype("float32")
        self.y = rng.integers(0, 10, pages * 128)
        self.pages, self.delay = pages, delay

    def __len__(self):
        return self.pages

    def __getitem__(self, index):
        time.sleep(self.delay)
        return self.x[index * 128:(index + 1) * 128], self.y[index * 128:(index + 1) * 128]


def py_dataset_cost(n_steps, repeats):
    import tf_lrfinder.data as data_lib

    print(f"\nA sweep of {n_steps} steps (refine=False) from a keras.utils.PyDataset whose batches take 20 ms each to")
    print("read, on the MLP; interleaved, median of", repeats)

    def one_at_a_time(data, indices):  # as the finder read a PyDataset before `tf_lrfinder.pages`
        return (data[i] for i in indices)

    model = mlp()
    model.compile(keras.optimizers.Adam(), LOSS)
    finder = LRFinder(model, verbose=False)
    fns = {}
    for workers in (8, 1):
        pages = SlowPages(2 * n_steps, 0.02, workers=workers)

        def sweep(pages=pages, reader=data_lib.read_pages):
            before, data_lib.read_pages = data_lib.read_pages, reader
            try:
                finder(pages, min_lr=1e-6, max_lr=1e-4, n_steps=n_steps, refine=False)
            finally:
                data_lib.read_pages = before

        fns[f"model.fit, {workers} workers"] = lambda pages=pages: model.fit(pages, steps_per_epoch=n_steps, verbose=0)
        fns[f"tf_lrfinder sweep, {workers} workers"] = sweep
        if workers > 1:
            fns[f"tf_lrfinder sweep, {workers} workers, read one at a time (before)"] = \
                lambda sweep=sweep: sweep(reader=one_at_a_time)
    print_ratios(interleaved_medians(fns, repeats), "contender", "model.fit, 8 workers", "fit, 8 workers")
    print("\nFrom 12 MiB batches of images (64 of 128x128x3 float32, made at random as read; 4 workers), on a small")
    print("CNN: each contender in a process of its own, once; its time and how far it grew the process's peak memory")
    print("| contender | s | peak memory growth MiB |\n|---|---|---|")
    for contender in ("model.fit", "sweep", "default call", "sweep, held", "default call, held"):
        out = subprocess.run([sys.executable, __file__, "--only", "py_dataset", "--pages", contender],
                             capture_output=True, text=True, check=True).stdout
        print(next(line for line in out.splitlines() if line.startswith("| ")))


class ImagePages(keras.utils.PyDataset):
    """Batches of 64 random 128x128x3 float32 images (12 MiB), drawn as read, labels from a pixel."""

    def __init__(self, pages, **kwargs):
        super().__init__(**kwargs)
        self.pages = pages

    def __len__(self):
        return self.pages

    def __getitem__(self, index):
        x = np.random.default_rng(index).random((64, 128, 128, 3), dtype=np.float32)
        return x, (x[:, 0, 0, 0] > 0.5).astype("int64")


def _pages_child(contender):
    """`py_dataset`'s child: one contender from `ImagePages`, its time and peak memory growth."""
    import resource

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((128, 128, 3)), keras.layers.Conv2D(4, 3, strides=4, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ImagePages(2), epochs=1, verbose=0)  # built and traced before anything is measured
    import tf_lrfinder.data as data_lib

    pages = ImagePages(400, workers=4)
    if contender.endswith("held"):  # as before the finder streamed batches past the budget
        data_lib.RUNS_IN_MEMORY = 2**40
    with open("/proc/self/statm") as statm:  # the resident pages now; the peak below is in KiB
        before = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024
    if contender == "model.fit":
        seconds = timed(lambda: model.fit(pages, epochs=1, steps_per_epoch=100, verbose=0))
    else:
        seconds = timed(lambda: LRFinder(model, verbose=False)(pages, refine=contender.startswith("default call")))
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"| {contender} | {seconds:.1f} | {grown:.0f} |")


def xla(n_steps, repeats):
    """A model compiled with `jit_compile=True`: the finder compiles its step with XLA, as `fit` does
    (on a GPU, Keras's default "auto" turns XLA on; on a CPU-only machine, off). Each contender beside
    `model.fit` with the same setting, interleaved."""
    ds = data((784,), n_steps)
    fns = {}
    for jit in (False, True):
        model = mlp()
        model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=LOSS, jit_compile=jit)
        fns[jit, "model.fit"], fns[jit, "tf_lrfinder, repeated call"] = fit_and_sweep(model, ds, n_steps)
    grouped_table(interleaved_medians(fns, repeats), "jit_compile",
                  f"MLP 784-512-512-10 compiled with and without jit_compile=True: {n_steps} steps, batch 128, Adam, "
                  f"median of {repeats}")


def fit_and_sweep(model, ds, n_steps, **finder_kwargs):
    """Two contenders on the compiled `model`: `fit` for `n_steps` steps of `ds`, and the finder's
    repeated sweep of as many steps (no refining; `finder_kwargs` for `LRFinder`)."""
    finder = LRFinder(model, verbose=False, **finder_kwargs)
    return (lambda: model.fit(ds, steps_per_epoch=n_steps, epochs=1, verbose=0),
            lambda: finder(ds, min_lr=1e-6, max_lr=1e-4, n_steps=n_steps, refine=False))


def grouped_table(medians, group, title):
    """Print `medians` (keyed by (a group's value, contender)), each against its group's `fit`."""
    print(f"\n{title}")
    print(f"| {group:>16s} | {'contender':28s} | {'ms':>8s} | {'x fit':>6s} |")
    for (value, name), v in medians.items():
        print(f"| {str(value):>16s} | {name:28s} | {v * 1e3:8.1f} | {v / medians[value, 'model.fit']:6.2f} |")


class OwnStep(keras.Sequential):
    """The MLP, with a `train_step` of its own that does what Keras's does (its loss, its update,
    its metrics): what the finder's `step="auto"` trains with, as `fit` does."""

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        self.optimizer.apply(tape.gradient(loss, self.trainable_weights), self.trainable_weights)
        return self.compute_metrics(x, y, y_pred)


def own_step(n_steps, repeats):
    """The model's own `train_step` (`tf_lrfinder.own_step`) against the finder's step, on the MLP:
    a subclass whose step does what Keras's does, swept by it (`step="auto"`) and by the finder's
    step (`step="finder"`), beside `fit` (which trains by it) and the plain MLP's sweep, interleaved."""
    ds = data((784,), n_steps)
    fns = {}
    for name, cls in (("plain MLP", keras.Sequential), ("own train_step", OwnStep)):
        model = cls(mlp().layers)
        model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=LOSS)
        for step in ("finder", "model") if cls is keras.Sequential else ("auto", "finder"):
            fns[name, "model.fit"], fns[name, f"sweep, step={step!r}"] = fit_and_sweep(model, ds, n_steps, step=step)
    grouped_table(interleaved_medians(fns, repeats), "model",
                  f"MLP 784-512-512-10, the model's own train_step against the finder's: {n_steps} steps, batch 128, "
                  f"Adam, median of {repeats}")


@contextlib.contextmanager
def without_nan_check():
    """A finder first called inside traces its sweep with `step.nonfinite_parts` replaced by a constant
    0: the sweep without its check of each batch for NaN or inf."""
    original = step_lib.nonfinite_parts
    step_lib.nonfinite_parts = lambda batch: tf.constant(0, tf.int64)
    try:
        yield
    finally:
        step_lib.nonfinite_parts = original


def nan_check(n_steps, repeats):
    """The repeated sweep with and without its check of each batch for NaN or inf, interleaved."""
    ds = data((784,), n_steps)
    fns = {}
    for name, make in (("linear 784-10", lambda: mlp(depth=0)), ("MLP 784-512-512-10", mlp)):
        for jit in (False, True):
            for check in (True, False):
                model = make()
                model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=LOSS, jit_compile=jit)
                finder = LRFinder(model, verbose=False)

                def call(f=finder):
                    f(ds, min_lr=1e-6, max_lr=1e-4, n_steps=n_steps, refine=False)
                    assert len(f.lrs) == n_steps

                with contextlib.nullcontext() if check else without_nan_check():
                    call()  # traced here
                fns[name, jit, check] = call
    med = interleaved_medians(fns, repeats)
    print(f"\nThe repeated sweep with its NaN check of each batch and without: {n_steps} steps, batch 128, Adam, "
          f"median of {repeats}")
    print("| model | jit_compile | with check ms | without ms | ratio |\n|---|---|---|---|---|")
    for (name, jit, check), v in med.items():
        if check:
            without = med[name, jit, False]
            print(f"| {name} | {jit} | {v * 1e3:.1f} | {without * 1e3:.1f} | {v / without:.3f} |")


ROWS = (10_000, 1_000_000, 4_000_000)


def strategy_cost(n_steps, repeats):
    """The MLP under a `MirroredStrategy` of two logical CPUs: the finder's repeated sweep beside `fit`
    under it and beside the finder's steps run in one place; the same without a strategy. Must run
    before TensorFlow starts (`--only strategy` sets the logical devices first)."""
    ds = data((784,), n_steps)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    fns = {}
    for name, scope in (("MirroredStrategy, 2 logical CPUs", strategy.scope()), ("no strategy", contextlib.nullcontext())):
        with scope:
            model = mlp()
            model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=LOSS)
        finder = LRFinder(model, verbose=False)
        fns[name, "model.fit"] = lambda m=model: m.fit(ds, steps_per_epoch=n_steps, epochs=1, verbose=0)
        fns[name, "tf_lrfinder, repeated call"] = lambda f=finder: f(ds, min_lr=1e-6, max_lr=1e-4, n_steps=n_steps,
                                                                     refine=False)
        if name != "no strategy":
            one_place = LRFinder(model, verbose=False)
            original = step_lib.replica_strategy
            step_lib.replica_strategy = lambda model: None  # traced now: its steps in one place, for good
            try:
                one_place(ds, min_lr=1e-6, max_lr=1e-4, n_steps=n_steps, refine=False)
            finally:
                step_lib.replica_strategy = original
            fns[name, "tf_lrfinder, steps in one place"] = lambda f=one_place: f(
                ds, min_lr=1e-6, max_lr=1e-4, n_steps=n_steps, refine=False)
    med = interleaved_medians(fns, repeats)
    print(f"\nMLP 784-512-512-10 under a strategy: {n_steps} steps, batch 128, Adam, median of {repeats}")
    print(f"| {'strategy':32s} | {'contender':32s} | {'ms':>8s} | {'x fit':>6s} |")
    for (where, name), v in med.items():
        print(f"| {where:32s} | {name:32s} | {v * 1e3:8.1f} | {v / med[where, 'model.fit']:6.2f} |")


def array_rows(repeats, rows=None):
    """A sweep from arrays (`finder((x, y), batch_size=32)`, 100 features, `refine=False`) against the
    arrays' number of rows: the call reads 100 batches of 32 whatever their length, so only those
    rows are copied. Each size in a fresh process, so that its peak memory is its own."""
    if rows is not None:  # the child: one size
        import resource

        x = np.random.default_rng(0).standard_normal((rows, 100), dtype=np.float32)
        y = np.zeros((rows,), np.int64)
        finder = LRFinder(mlp(64, 1, 100), keras.optimizers.Adam(), LOSS, verbose=False)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        first = timed(lambda: finder((x, y), batch_size=32, refine=False))
        again = statistics.median(timed(lambda: finder((x, y), batch_size=32, refine=False)) for _ in range(repeats))
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(f"ROW {rows} {x.nbytes / 2**20:.0f} {first:.3f} {again:.3f} {grown:.0f}")
        return
    print("\nA sweep from arrays of 100 features against their rows (MLP 100-64-10, batch 32, 100 steps,")
    print(f"refine=False), each size in its own process, repeated call: median of {repeats}")
    print(f"| {'rows':>9s} | {'data MiB':>8s} | {'first call s':>12s} | {'repeated s':>10s} | {'x 10k rows':>10s} |"
          f" {'peak memory growth MiB':>22s} |")
    base = None
    for n in ROWS:
        out = subprocess.run([sys.executable, __file__, "--only", "arrays", "--rows", str(n), "--repeats",
                              str(repeats)], capture_output=True, text=True, check=True).stdout
        _, _, mib, first, again, grown = next(line for line in out.splitlines() if line.startswith("ROW ")).split()
        base = base or float(again)
        print(f"| {n:9d} | {mib:>8s} | {float(first):12.2f} | {float(again):10.3f} | {float(again) / base:10.2f} |"
              f" {grown:>22s} |")


def first_call(repeats, against=None):
    """The `first_call` section (see the module's docstring): each row's times are medians over
    `repeats` fresh processes per checkout, interleaved."""
    this, other = "this checkout", f"against {against}"
    sides = {this: os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    if against is not None:
        sides[other] = os.path.abspath(against)
    cases = [(model, call) for model in ("mlp", "cnn_bn") for call in ("default", "sweep")]
    times = {(side, case): [] for side in sides for case in cases}
    for _ in range(repeats):
        for case in cases:
            for side, root in sides.items():
                env = dict(os.environ, PYTHONPATH=root)
                out = subprocess.run([sys.executable, __file__, "--first", *case], env=env, capture_output=True,
                                     text=True, check=True).stdout
                times[side, case].append([float(t) for t in out.split("FIRST ")[1].split()])
    print("\nA finder's first call in a fresh process beside its second (MLP 784-512-512-10, CNN+BN on 16x16x1;")
    print(f"batch 128, 100 steps, 1e-6 to 1e-4), seconds, median of {repeats} processes per checkout, interleaved")
    header = "".join(f" {side + ': first':>30s} | {'again':>5s} |" for side in sides)
    print(f"| {'model':7s} | {'call':8s} |{header}" + (" ratio of first calls |" if against else ""))
    for case in cases:
        medians = {side: np.median(times[side, case], axis=0) for side in sides}
        cells = "".join(f" {m[0]:30.2f} | {m[1]:5.2f} |" for m in medians.values())
        ratio = f" {medians[this][0] / medians[other][0]:20.2f} |" if against else ""
        print(f"| {case[0]:7s} | {case[1]:8s} |{cells}{ratio}")


def _first_call_child(model_name, call):
    """`first_call`'s child process: one finder (from the checkout on PYTHONPATH), its first and
    second call, printed."""
    model, shape = (mlp(), (784,)) if model_name == "mlp" else (cnn_bn(), (16, 16, 1))
    finder = LRFinder(model, keras.optimizers.Adam(), LOSS, verbose=False)
    ds = data(shape, 100)
    times = [timed(lambda: finder(ds, min_lr=1e-6, max_lr=1e-4, refine=call == "default")) for _ in range(2)]
    print("FIRST", *times)


def _allocator():
    """(bytes in use, peak bytes) of TensorFlow's CPU allocator (needs TF_CPU_ALLOCATOR_USE_BFC)."""
    info = tf.config.experimental.get_memory_info("CPU:0")
    return info["current"], info["peak"]


def restore_and_memory(repeats, steps=10):
    print("\nSnapshot + restore against rebuilding and recompiling (Adam, optimizer built); memory read")
    print("from TensorFlow's allocator: peak of save + sweep steps + restore, less the peak of the same")
    print(f"steps without a snapshot, over the variables' bytes ({steps} training steps, batch 128)")
    print(f"| {'model':14s} | {'params':>10s} | {'snapshot+restore ms':>19s} | {'rebuild+compile ms':>18s} | "
          f"{'+ first step ms':>15s} | {'ratio':>6s} | {'peak added / var bytes':>22s} | {'held after':>10s} |")
    for label, kwargs in (("MLP ~1M", dict(width=1024, depth=1)), ("MLP ~20M", dict(width=4096, depth=2))):
        model = mlp(**kwargs)
        opt = keras.optimizers.Adam()
        opt.build(model.trainable_variables)
        variables = list(model.variables) + list(opt.variables)
        x = tf.random.normal((128, 784))
        y = tf.zeros((128,), tf.int32)

        @tf.function
        def train_step():
            with tf.GradientTape() as tape:
                loss = LOSS(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))

        snap = Snapshot(variables, "device")
        for _ in range(2):  # warm up both paths
            train_step()
            snap.save()
            train_step()
            snap.restore_and_close()
        peaks = {}
        for with_snapshot in (False, True, False, True):
            before, _ = _allocator()
            tf.config.experimental.reset_memory_stats("CPU:0")
            if with_snapshot:
                snap.save()
            for _ in range(steps):
                train_step()
            if with_snapshot:
                snap.restore_and_close()
            train_step()  # the user trains on
            current, peak = _allocator()
            peaks.setdefault(with_snapshot, []).append(peak - before)
            if with_snapshot:
                held = current - before  # what the snapshot left allocated
        added = (min(peaks[True]) - min(peaks[False])) / snap.nbytes

        def save_restore():
            snap.save()
            snap.restore_and_close()
            float(opt.iterations)

        t_snap = statistics.median(timed(save_restore) for _ in range(repeats))
        xs = np.zeros((128, 784), "float32")
        ys = np.zeros((128,), "int32")

        def rebuild():
            clone = keras.models.clone_model(model)
            clone.set_weights(model.get_weights())
            clone.compile(optimizer=keras.optimizers.Adam(), loss=LOSS)
            return clone

        t_rebuild = statistics.median(timed(rebuild) for _ in range(repeats))
        t_first = statistics.median(timed(lambda: rebuild().train_on_batch(xs, ys)) for _ in range(max(2, repeats // 2)))
        params = model.count_params()
        print(f"| {label:14s} | {params:10,d} | {t_snap * 1e3:19.2f} | {t_rebuild * 1e3:18.1f} | {t_first * 1e3:15.1f} |"
              f" {t_rebuild / t_snap:6.0f} | {added:22.3f} | {held / snap.nbytes:9.3f}x |")


def main():
    parser = argparse.ArgumentParser(description="tf_lrfinder speed benchmark")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--only", choices=["speed", "scaling", "update_bn", "validation", "pipeline", "restore",
                                           "arrays", "xla", "nan_check", "strategy", "first_call", "py_dataset",
                                           "own_step"],
                        default=None)
    parser.add_argument("--against", default=None, help="first_call: a checkout of another commit, run beside")
    parser.add_argument("--rows", type=int, default=None, help=argparse.SUPPRESS)  # `arrays`' child process
    parser.add_argument("--first", nargs=2, default=None, help=argparse.SUPPRESS)  # `first_call`'s child process
    parser.add_argument("--pages", default=None, help=argparse.SUPPRESS)  # `py_dataset`'s child process
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the sweeps here are deliberately short of divergence
    if args.rows is not None:
        array_rows(args.repeats, args.rows)
        return
    if args.first is not None:
        _first_call_child(*args.first)
        return
    if args.pages is not None:
        _pages_child(args.pages)
        return
    if args.only == "strategy":  # before TensorFlow starts
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    if args.only != "restore" or os.environ.get("TF_CPU_ALLOCATOR_USE_BFC") != "true":
        print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, devices: "
              f"{[d.device_type for d in tf.config.list_physical_devices()]}")
    if args.only in (None, "speed"):
        speed_table("MLP 784-512-512-10", mlp, (784,), args.steps, args.repeats)
        speed_table("CNN on 28x28x1", cnn, (28, 28, 1), args.steps, args.repeats)
    if args.only in (None, "scaling"):
        scaling(max(3, args.repeats // 2))
    if args.only in (None, "update_bn"):
        update_bn_cost(max(3, args.repeats // 2))
    if args.only in (None, "validation"):
        validation_cost(max(3, args.repeats // 2))
    if args.only in (None, "pipeline"):
        pipeline_cost(max(3, args.repeats // 2))
    if args.only in (None, "arrays"):
        array_rows(args.repeats)
    if args.only in (None, "py_dataset"):
        py_dataset_cost(args.steps, max(3, args.repeats // 2))
    if args.only in (None, "xla"):
        xla(args.steps, max(3, args.repeats // 2))
    if args.only in (None, "nan_check"):
        nan_check(args.steps, args.repeats)
    if args.only in (None, "own_step"):
        own_step(args.steps, args.repeats)
    if args.only == "strategy":
        strategy_cost(args.steps, args.repeats)
    elif args.only is None:  # logical devices must be set before TensorFlow starts: a process of its own
        subprocess.run([sys.executable, __file__, "--only", "strategy", "--repeats", str(args.repeats),
                        "--steps", str(args.steps)], check=True)
    if args.only in (None, "first_call"):
        first_call(args.repeats, args.against)
    if args.only in (None, "restore"):
        if os.environ.get("TF_CPU_ALLOCATOR_USE_BFC") == "true":
            restore_and_memory(args.repeats)
        else:  # the allocator that counts bytes must be chosen before TensorFlow starts
            env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true")
            subprocess.run([sys.executable, __file__, "--only", "restore", "--repeats", str(args.repeats)],
                           env=env, check=True)


if __name__ == "__main__":
    main()
