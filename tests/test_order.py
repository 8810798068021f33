"""Batches sorted by class: told before the sweep, where the batches are held in memory."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tf_lrfinder import LRFinder
from tf_lrfinder.order import class_indices, sorted_classes

SORTED = "The batches look sorted by class, not shuffled: "


@pytest.mark.parametrize("y, expected", [
    (np.array([3, 1, 1]), [3, 1, 1]),
    (np.array([[1.0], [0.0]]), [1, 0]),
    (np.array([[0, 0, 1], [1, 0, 0]], "float32"), [2, 0]),
])
def test_class_indices_reads_labels_and_one_hot_rows(y, expected):
    assert class_indices(y).tolist() == expected


@pytest.mark.parametrize("y", [np.array([0.5, 1.0]), np.array([[0.2, 0.8], [1.0, 0.0]]), np.zeros((2, 3, 4)),
                               np.array([]), np.array([np.nan, 1.0]), np.array(["a", "b"]), np.array([[1, 1], [0, 1]])])
def test_class_indices_is_none_for_what_is_not_one_label_per_sample(y):
    assert class_indices(y) is None


def test_shuffled_batches_do_not_look_sorted():
    rng = np.random.default_rng(0)
    for _ in range(300):
        classes, size, count = int(rng.integers(2, 12)), int(rng.choice([8, 32, 128])), int(rng.integers(5, 120))
        shares = rng.dirichlet(np.ones(classes))
        labels = rng.choice(classes, size=size * count, p=shares)
        assert sorted_classes(np.split(labels, count), classes) is None


@pytest.mark.parametrize("classes, size, count", [(2, 32, 60), (3, 32, 100), (10, 128, 100), (5, 8, 40)])
def test_batches_in_blocks_of_their_class_look_sorted(classes, size, count):
    labels = np.repeat(np.arange(classes), size * count // classes)
    told = sorted_classes(np.array_split(labels, count), classes)
    assert told is not None and "turns up in" in told and "where shuffled it would in about" in told


def test_one_class_alone_looks_sorted_only_where_the_model_tells_three_or_more_apart():
    batches = [np.zeros(32, int)] * 10
    assert sorted_classes(batches, 10) == "only class 0 turns up in all 10 batches, of a model with 10 outputs"
    assert sorted_classes(batches, 2) is None  # a binary model: one class for 320 samples may be its data
    assert sorted_classes(batches[:9], 10) is None and sorted_classes(batches, None) is None


def test_a_rare_class_missing_by_chance_is_no_sign():
    rng = np.random.default_rng(0)
    labels = [rng.choice(2, size=32, p=[0.995, 0.005]) for _ in range(20)]  # expected in about 3 batches
    assert sorted_classes(labels, 2) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(arrays(np.int64, st.integers(0, 40), elements=st.integers(-3, 12)), max_size=60),
       st.one_of(st.none(), st.integers(1, 20)))
def test_sorted_classes_is_total(labels, classes):
    told = sorted_classes(labels, classes)
    assert told is None or (isinstance(told, str) and "turns up in" in told)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(0, 6), st.integers(1, 4)),
              elements=st.floats(-3, 3, width=32) | st.sampled_from([0.0, 1.0, 2.0, np.nan])),
       st.booleans())
def test_class_indices_is_total_and_one_index_per_sample(y, whole):
    indices = class_indices(np.round(y) if whole else y)
    assert indices is None or (indices.shape == (len(y),) and indices.dtype == np.int64)


def digits(order: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 256)
    x = (rng.normal(size=(len(y), 8)) + y[:, None]).astype("float32")
    if order == "shuffled":
        keep = rng.permutation(len(y))
        x, y = x[keep], y[keep]
    return x, y


def classifier() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4)])


def told(data, **kwargs) -> tuple[list[str], LRFinder]:
    finder = LRFinder(classifier(), keras.optimizers.Adam(),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True), verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        finder(data, **kwargs)
    assert all(w.filename == __file__ for w in caught if str(w.message).startswith(SORTED))  # the caller's line
    return [str(w.message) for w in caught if str(w.message).startswith(SORTED)], finder


def test_a_sorted_pipeline_is_told_before_the_sweep_and_kept_in_its_warnings():
    x, y = digits("sorted")
    messages, finder = told(tf.data.Dataset.from_tensor_slices((x, y)).batch(32))
    assert len(messages) == 1 and finder.warnings[0] == messages[0]
    assert messages[0].endswith("Shuffle the data before batching it (`dataset.shuffle(n)`, n as large as the data), "
                                "as `fit` needs it too.")
    x, y = digits("shuffled")
    assert told(tf.data.Dataset.from_tensor_slices((x, y)).batch(32))[0] == []


def test_sorted_batches_in_a_list_are_told_and_sorted_arrays_are_not():
    x, y = digits("sorted")
    one_hot = np.eye(4, dtype="float32")[y]
    batches = [(x[i:i + 32], one_hot[i:i + 32]) for i in range(0, len(y), 32)]
    finder = LRFinder(classifier(), keras.optimizers.Adam(),
                      keras.losses.CategoricalCrossentropy(from_logits=True), verbose=False)
    with pytest.warns(UserWarning, match=SORTED + "class [0-3] turns up in"):
        finder(batches, n_steps=20, refine=False)
    assert told((x, y), batch_size=32, n_steps=20, refine=False)[0] == []  # the finder shuffles arrays, as `fit`


def test_refine_called_alone_tells_sorted_batches_and_keeps_the_setup_warnings_first_in_its_trials():
    x, y = digits("shuffled")
    finder = LRFinder(classifier(), keras.optimizers.Adam(),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True), verbose=False)
    finder((x, y), batch_size=32, n_steps=30, refine=False)
    sx, sy = digits("sorted")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        finder.refine(tf.data.Dataset.from_tensor_slices((sx, sy)).batch(32), steps=20, eval_batches=4)
    messages = [str(w.message) for w in caught if str(w.message).startswith(SORTED)]
    assert len(messages) == 1 and finder.trials.warnings[0] == messages[0]
    assert all(w.filename == __file__ for w in caught if str(w.message).startswith(SORTED))  # the caller's line
    assert sum(str(w.message) in finder.trials.warnings for w in caught) == len(finder.trials.warnings)  # once each
    finder.refine(tf.data.Dataset.from_tensor_slices((x, y)).batch(32), steps=20, eval_batches=4)
    assert not any(w.startswith(SORTED) for w in finder.trials.warnings)
    # A call keeps the setup's warnings in `finder.warnings` only, not again in its trials'.
    with warnings.catch_warnings(record=True):  # told as above; and that the loss never diverged
        warnings.simplefilter("always")
        finder(tf.data.Dataset.from_tensor_slices((sx, sy)).batch(32), n_steps=30)
    assert finder.warnings[0].startswith(SORTED) and not any(w.startswith(SORTED) for w in finder.trials.warnings)
