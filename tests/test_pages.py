"""A `keras.utils.PyDataset` is read as `fit` reads it: its batches shuffled, by its own workers."""

from __future__ import annotations

import os
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_same_state, make_model, optional_input_model, regression_data, state_of

import tf_lrfinder.data as data_lib
from tf_lrfinder import LRFinder
from tf_lrfinder.data import as_batches
from tf_lrfinder.pages import page_count, page_order, read_pages


class Pages(keras.utils.PyDataset):
    """Batches of 32 rows of `regression_data`; each read noted as (batch, thread, process), and
    in `folder` as a file where given (a worker process's notes stay in that process)."""

    def __init__(self, pages: int = 10, folder: str | None = None, broken: int | None = None, delay: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = regression_data(32 * pages)
        self.pages, self.folder, self.broken, self.delay, self.reads = pages, folder, broken, delay, []

    def __len__(self):
        return self.pages

    def __getitem__(self, index):
        if index == self.broken:
            raise ValueError(f"batch {index} could not be read")
        self.reads.append((index, threading.get_ident(), os.getpid()))
        time.sleep(self.delay)  # as if read from disk: the other workers take the next batches meanwhile
        if self.folder:
            open(os.path.join(self.folder, f"{os.getpid()}-{index}"), "w").close()
        rows = slice(32 * index, 32 * index + 32)
        return self.x[rows], self.y[rows]


def first_column(batches) -> list[float]:
    return [float(batch[0][0, 0]) for _, batch in batches]


def sweep_losses(data, n_steps: int = 30) -> np.ndarray:
    finder = LRFinder(make_model("dense"), keras.optimizers.Adam(), "mse", verbose=False)
    finder(data, n_steps=n_steps, refine=False, diverge_factor=None)
    return np.asarray(finder.losses)


@pytest.mark.filterwarnings("ignore:The data ran out and was cycled")
def test_batches_are_read_in_a_shuffled_order_as_fit_reads_training_data():
    # `fit` reads a PyDataset's batches in a random order (`shuffle=True`); the finder read them in their own,
    # so batches that follow the files (a folder per class) gave the sweep one class after another.
    pages = Pages(10)
    x = pages.x[::32, 0].tolist()  # each batch's first value names it
    order = page_order(10, 6, shuffle=True)
    assert sorted(order) != list(range(6)) and len(set(order)) == 6  # six of the ten, drawn
    batches = as_batches(pages, make_model("dense"), n_steps=6)
    assert first_column(batches.dataset.take(8)) == [x[i] for i in order + order[:2]]  # read once, cycled
    assert sorted(index for index, _, _ in pages.reads) == sorted(order)  # only the batches the call needs
    assert as_batches(Pages(10), None, n_steps=6).first[0][0, 0] == x[order[0]]  # the same order each call
    # Validation data is read in order, as `fit` reads it.
    assert first_column(as_batches(Pages(10), None, n_steps=6, shuffle=False).dataset.take(6)) == x[:6]
    # The sweep trains on those batches in that order: the same losses as from a list of them.
    listed = [Pages(10)[i] for i in page_order(10, 30, shuffle=True)]
    np.testing.assert_array_equal(sweep_losses(Pages(10)), sweep_losses(listed))


def test_workers_read_the_batches_in_threads_and_the_sweep_is_the_same():
    # With `workers` above 1, `fit` reads batches in that many threads; the finder read them one at a
    # time in its own thread, a sweep of 100 batches of 20 ms each taking 3.2 s where `fit` took 0.5.
    serial, threaded = Pages(40), Pages(40, delay=0.005, workers=4)
    np.testing.assert_array_equal(sweep_losses(threaded), sweep_losses(serial))
    assert sorted(i for i, _, _ in threaded.reads) == sorted(i for i, _, _ in serial.reads)
    here = [index for index, thread, _ in threaded.reads if thread == threading.get_ident()]
    assert here == page_order(40, 1, shuffle=True)  # the first alone, read to judge how much the batches take
    assert len({thread for _, thread, _ in threaded.reads} - {threading.get_ident()}) > 1
    assert {thread for _, thread, _ in serial.reads} == {threading.get_ident()}


# Python 3.12 and later warn of any fork in a process with threads, as under `fit(...)` with the same PyDataset.
FORK = "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"


@pytest.mark.filterwarnings(FORK)
def test_use_multiprocessing_reads_the_batches_in_worker_processes(tmp_path):
    pages = Pages(12, folder=str(tmp_path), workers=2, use_multiprocessing=True)
    order = page_order(12, 8, shuffle=True)
    read = list(read_pages(pages, order))
    for (x, y), index in zip(read, order):
        np.testing.assert_array_equal(x, pages.x[32 * index:32 * index + 32])
    notes = [name.split("-") for name in os.listdir(tmp_path)]
    assert sorted(int(index) for _, index in notes) == sorted(order)
    assert str(os.getpid()) not in {pid for pid, _ in notes} and not pages.reads  # none read here


@pytest.mark.filterwarnings(FORK)
@pytest.mark.parametrize("kwargs", [{}, {"workers": 3}, {"workers": 2, "use_multiprocessing": True}])
def test_a_batch_that_cannot_be_read_raises_its_error_before_anything_changes(kwargs):
    model, optimizer = make_model("dense"), keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    pages = Pages(10, broken=page_order(10, 5, shuffle=True)[3], **kwargs)
    with pytest.raises(ValueError, match="could not be read"):
        LRFinder(model, optimizer, "mse", verbose=False)(pages, n_steps=5, refine=False)
    assert_same_state(before, state_of(model, optimizer))


def test_a_dataset_without_end_is_read_in_order_by_its_workers():
    class Endless(Pages):
        @property
        def num_batches(self):
            return None  # as Keras marks a PyDataset without end

    endless = Endless(10, delay=0.005, workers=3)
    assert page_count(endless) is None
    assert first_column(as_batches(endless, None, n_steps=5).dataset.take(5)) == endless.x[:160:32, 0].tolist()
    assert len({thread for _, thread, _ in endless.reads}) > 1

    class Unsized(keras.utils.PyDataset):  # neither `__len__` nor `num_batches`: without end, as Keras reads it
        def __getitem__(self, index):
            return np.full((2, 4), index, "float32"), np.zeros((2, 1), "float32")

    assert page_count(Unsized()) is None
    assert [float(x[0, 0]) for x, _ in read_pages(Unsized(), page_order(None, 3, shuffle=True))] == [0.0, 1.0, 2.0]


@pytest.mark.filterwarnings("ignore:The data ran out and was cycled")
def test_batches_too_large_to_hold_are_streamed_with_the_same_sweep_and_runs(monkeypatch):
    # Held, 100 batches of 12 MiB images grew the process by 3.7 GiB where `fit` grew it by 0.15; past the
    # budget refining holds a pipeline's batches to, a PyDataset's are read as the stream reaches them.
    def call(pages):
        finder = LRFinder(make_model("dense"), keras.optimizers.Adam(), "mse", verbose=False)
        rate = finder(pages, n_steps=30)
        return rate, np.asarray(finder.losses), finder.trials.losses

    held = call(Pages(40, workers=3))
    monkeypatch.setattr(data_lib, "RUNS_IN_MEMORY", 32 * 5 * 4 * 3)  # bytes: 3 batches of 32 rows of 5 float32s
    streamed = Pages(40, delay=0.005, workers=3)
    batches = as_batches(streamed, make_model("dense"), n_steps=30)
    assert batches.rereads and len(streamed.reads) < 30  # read as the stream reaches them, not all at once
    assert len({thread for _, thread, _ in streamed.reads}) > 1
    streamed.reads.clear()
    rate, losses, runs = call(streamed)
    np.testing.assert_array_equal(losses, held[1])
    np.testing.assert_array_equal(runs, held[2])
    assert rate == held[0]
    assert len(streamed.reads) > 40  # the runs read them afresh


def test_a_streamed_batch_that_cannot_be_read_raises_its_error_with_the_state_restored(monkeypatch):
    monkeypatch.setattr(data_lib, "RUNS_IN_MEMORY", 0)
    model, optimizer = make_model("dense"), keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    with pytest.raises(tf.errors.OpError, match="batch .* could not be read"):
        LRFinder(model, optimizer, "mse", verbose=False)(Pages(10, broken=page_order(10, 5, shuffle=True)[3]),
                                                         n_steps=5, refine=False)
    assert_same_state(before, state_of(model, optimizer))


def test_streamed_sequences_of_a_length_per_batch_sweep_as_the_same_batches_held(monkeypatch):
    class Sequences(keras.utils.PyDataset):  # each batch padded to its own length, as `fit` takes them
        def __len__(self):
            return 12

        def __getitem__(self, index):
            rng = np.random.default_rng(index)
            length = 3 + index % 4
            return rng.normal(size=(16, length, 2)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")

    def sweep():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((None, 2)), keras.layers.GRU(4), keras.layers.Dense(1)])
        finder = LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)
        finder(Sequences(), n_steps=12, refine=False, diverge_factor=None)
        return np.asarray(finder.losses)

    held = sweep()
    monkeypatch.setattr(data_lib, "RUNS_IN_MEMORY", 0)
    np.testing.assert_allclose(sweep(), held, rtol=1e-6)


def test_streamed_batches_with_an_optional_input_left_out_sweep_as_the_same_batches_held(monkeypatch):
    class LeftOut(keras.utils.PyDataset):  # x's input "a" declared optional, None in every batch
        def __len__(self):
            return 12

        def __getitem__(self, index):
            rng = np.random.default_rng(index)
            return {"a": None, "b": rng.normal(size=(16, 3)).astype("float32")}, rng.normal(size=(16, 1)).astype("float32")

    def sweep():
        keras.utils.set_random_seed(0)
        model = optional_input_model(3)
        finder = LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)
        finder(LeftOut(workers=2), n_steps=12, refine=False, diverge_factor=None)
        return np.asarray(finder.losses), model

    held, _ = sweep()
    monkeypatch.setattr(data_lib, "RUNS_IN_MEMORY", 0)
    streamed, model = sweep()
    assert as_batches(LeftOut(), model, n_steps=12).rereads  # streamed: read as the stream reaches them
    np.testing.assert_allclose(streamed, held, rtol=1e-6)


def test_an_empty_or_endless_dataset_is_told_before_anything_changes():
    model, optimizer = make_model("dense"), keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    before = state_of(model, optimizer)
    finder = LRFinder(model, optimizer, "mse", verbose=False)
    with pytest.raises(ValueError, match="`dataset` is empty: it yielded no batch"):
        finder(Pages(0), n_steps=5)

    class Endless(Pages):
        @property
        def num_batches(self):
            return None

    with pytest.raises(ValueError, match="`validation_data` is a keras.utils.PyDataset without end .* Pass "
                                         "`validation_steps`"):
        finder(Pages(10), n_steps=5, validation_data=Endless(10))
    assert_same_state(before, state_of(model, optimizer))


@pytest.mark.parametrize("budget", [None, 0])  # held, or streamed
def test_a_batch_size_given_with_a_py_dataset_is_told(monkeypatch, budget):
    if budget is not None:
        monkeypatch.setattr(data_lib, "RUNS_IN_MEMORY", budget)
    with pytest.raises(ValueError, match="`batch_size` applies only to arrays. Received: batch_size=32 with a Pages, "
                                         "which is read as batches. Drop it"):
        as_batches(Pages(10), make_model("dense"), n_steps=5, batch_size=32)
