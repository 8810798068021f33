"""Batches sorted by class, or in order of their targets: told before the sweep, where the batches are held in
memory."""

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
from tf_lrfinder.order import class_indices, one_target, sorted_classes, sorted_targets
from tf_lrfinder.step import target_moments

SORTED = "The batches look sorted by class, not shuffled: "
IN_ORDER = "The batches look in order of their targets, not shuffled: "


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


def in_batches(y: np.ndarray, size: int) -> list[np.ndarray]:
    return [y[i:i + size] for i in range(0, len(y), size)]


def test_targets_in_order_of_their_value_look_sorted_and_say_which_way():
    rng = np.random.default_rng(0)
    y = np.sort(rng.normal(size=640))
    assert sorted_targets(in_batches(y, 32)).startswith("the targets' mean rises from batch to batch")
    assert sorted_targets(in_batches(y[::-1], 32)).startswith("the targets' mean falls from batch to batch")
    assert sorted_targets(in_batches(y[:576], 64)) is None  # 10 batches at least: 9 say nothing
    blocks = np.repeat(np.arange(5.0), 128)  # class labels in blocks, as a drifting class balance would be
    assert "rank correlation" in sorted_targets(in_batches(blocks, 32))


def test_shuffled_targets_and_a_seasonal_series_do_not_look_in_order():
    rng = np.random.default_rng(1)
    draws = [lambda n: rng.normal(size=n), lambda n: rng.lognormal(0, 2, n), lambda n: rng.standard_cauchy(n),
             lambda n: (rng.random(n) < 0.05).astype(float), lambda n: rng.integers(0, 10, n).astype(float)]
    for _ in range(300):
        batches, size = int(rng.integers(10, 120)), int(rng.choice([2, 8, 32, 128]))
        draw = draws[int(rng.integers(len(draws)))]
        assert sorted_targets(in_batches(draw(batches * size), size)) is None
    t = np.arange(3456)  # a cycle of 50 steps over a slight trend: the means rise and fall
    assert sorted_targets(in_batches(0.0005 * t + np.sin(2 * np.pi * t / 50) + 0.3 * rng.normal(size=t.size), 32)) is None
    assert sorted_targets(in_batches(0.001 * t + 0.3 * rng.normal(size=t.size), 32)) is not None  # the trend alone
    assert sorted_targets(in_batches(np.ones(640), 32)) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(arrays(np.float64, st.integers(0, 40), elements=st.floats(-1e300, 1e300)), max_size=60))
def test_sorted_targets_is_total(targets):
    told = sorted_targets(targets)
    assert told is None or (isinstance(told, str) and "rank correlation" in told)


@pytest.mark.parametrize("y, expected", [(np.array([1, 2]), [1.0, 2.0]), (np.array([[0.5], [1.5]], "float32"), [0.5, 1.5])])
def test_one_target_reads_one_number_per_sample(y, expected):
    assert one_target(y).tolist() == expected


@pytest.mark.parametrize("y", [np.zeros((2, 3)), np.array([]), np.array([np.nan, 1.0]), np.array(["a", "b"]),
                               np.zeros((2, 1, 3)), np.array([1 + 2j, 0j])])
def test_one_target_is_none_for_what_is_not_one_number_per_sample(y):
    assert one_target(y) is None


def rising_series(shuffle: bool) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    t = np.arange(4000)
    s = ((0.001 * t + 0.3 * rng.normal(size=t.size) - 2.0) / 1.2).astype("float32")
    return keras.utils.timeseries_dataset_from_array(s[:-1], s[12:], sequence_length=12, batch_size=32,
                                                     shuffle=shuffle, seed=0)


def test_a_time_series_read_in_order_is_told_before_the_sweep_and_a_shuffled_one_is_not():
    def warned(shuffle):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
        finder = LRFinder(model, keras.optimizers.Adam(), "mse", verbose=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            finder(rising_series(shuffle), n_steps=30, refine=True)
        told = [w for w in caught if str(w.message).startswith(IN_ORDER)]
        assert all(w.filename == __file__ for w in told)  # the caller's line
        return [str(w.message) for w in told], finder

    messages, finder = warned(False)
    assert len(messages) == 1 and finder.warnings[0] == messages[0]
    assert "the targets' mean rises from batch to batch" in messages[0]
    assert messages[0].endswith("`timeseries_dataset_from_array(..., shuffle=True)`. Shuffle the data before batching "
                                "it (`dataset.shuffle(n)`, n as large as the data), as `fit` needs it too.")
    assert warned(True)[0] == []


def test_regression_batches_in_order_in_a_list_are_told_and_arrays_are_not():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(960, 4)).astype("float32")
    y = (x @ np.array([1.0, -0.5, 0.3, 0.0]) + 0.1 * rng.normal(size=960)).astype("float32")
    order = np.argsort(y)
    x, y = x[order], y[order]
    keras.utils.set_random_seed(0)
    finder = LRFinder(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]), keras.optimizers.SGD(), "mse",
                      verbose=False)
    with warnings.catch_warnings(record=True) as caught:  # and that the loss never diverged
        warnings.simplefilter("always")
        finder([(x[i:i + 32], y[i:i + 32]) for i in range(0, 960, 32)], refine=False)  # 30 batches, cycled
        assert finder.warnings[0].startswith(IN_ORDER + "the targets' mean rises") and finder.cycled
        assert "in the last of 30 (rank correlation" in finder.warnings[0]  # the first pass: its start again would hide it
        finder((x, y), batch_size=32, n_steps=20, refine=False)  # the finder shuffles arrays, as `fit`
    assert sum(str(w.message).startswith(IN_ORDER) for w in caught) == 1


def test_target_moments_give_the_mean_its_variance_and_the_range_for_one_number_per_sample_only():
    y = tf.constant([[1.0], [2.0], [4.0], [9.0]])
    np.testing.assert_allclose(target_moments((tf.zeros([4, 2]), y)).numpy(),
                               [4.0, np.var([1, 2, 4, 9], ddof=1) / 4, 1.0, 9.0])
    assert target_moments((tf.zeros([4, 2]), tf.constant([1, 3]))).numpy().tolist() == [2.0, 1.0, 1.0, 3.0]  # labels
    one_hot = tf.constant([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # read as the class indices 1 and 2; its values 0 to 1
    np.testing.assert_allclose(target_moments((tf.zeros([2, 2]), one_hot)).numpy(), [1.5, 0.25, 0.0, 1.0])
    for y, low, high in ((tf.zeros([4, 3]), 0.0, 0.0), (tf.constant([[0.0, 1.0], [0.5, 0.5]]), 0.0, 1.0),
                         (tf.constant([[[2], [7]], [[3], [4]]]), 2.0, 7.0)):  # no mean, a range
        moments = target_moments((tf.zeros([len(y), 2]), y)).numpy()
        assert np.isnan(moments[:2]).all() and moments[2:].tolist() == [low, high]
    for y in (tf.constant([True, False]), None, tf.sparse.from_dense(tf.constant([1.0, 0.0])),
              (tf.zeros([4]), tf.zeros([4]))):
        assert np.isnan(target_moments((tf.zeros([4, 2]), y)).numpy()).all()


def test_a_streamed_pipeline_in_order_of_its_targets_is_told_after_the_sweep():
    def swept(shuffle, accumulate=None):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
        optimizer = keras.optimizers.Adam(gradient_accumulation_steps=accumulate)
        finder = LRFinder(model, optimizer, "mse", verbose=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            finder(rising_series(shuffle), n_steps=40, refine=False)  # streamed: no check before the sweep
        told = [w for w in caught if str(w.message).startswith(IN_ORDER)]
        assert all(w.filename == __file__ for w in told)  # the caller's line
        return [str(w.message) for w in told], finder

    messages, finder = swept(False)
    assert len(messages) == 1 and finder.warnings[0] == messages[0] and finder.history["warnings"][0] == messages[0]
    assert "the targets' mean rises from batch to batch" in messages[0]
    assert f"in the last of {len(finder.lrs)} (rank correlation" in messages[0]  # the steps it took, all in one pass
    assert swept(True)[0] == []
    messages, finder = swept(False, accumulate=2)  # two batches an update, read as one
    assert len(messages) == 1 and f"in the last of {len(finder.lrs)} (rank correlation" in messages[0]


def test_whole_number_targets_of_one_output_in_order_are_told_as_targets_not_classes():
    rng = np.random.default_rng(0)
    ages = np.sort(rng.integers(18, 90, size=960)).astype("float32")  # a count or an age, sorted: not classes
    x = ((ages[:, None] - 50) / 20 + rng.normal(size=(960, 4))).astype("float32")
    keras.utils.set_random_seed(0)
    finder = LRFinder(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]), keras.optimizers.SGD(), "mse",
                      verbose=False)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        finder([(x[i:i + 32], ages[i:i + 32]) for i in range(0, 960, 32)], n_steps=30, refine=False)
    assert finder.warnings[0].startswith(IN_ORDER + "the targets' mean rises")
    # 0 and 1 for one output are a binary classifier's labels: sorted, they are told as classes.
    labels = (ages > 50).astype("float32")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        finder([(x[i:i + 32], labels[i:i + 32]) for i in range(0, 960, 32)], n_steps=30, refine=False)
    assert finder.warnings[0].startswith(SORTED)


def test_streamed_one_hot_rows_sorted_by_class_are_told_after_the_sweep():
    x, y = digits("sorted")
    finder = LRFinder(classifier(), keras.optimizers.Adam(), keras.losses.CategoricalCrossentropy(from_logits=True),
                      verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        finder(tf.data.Dataset.from_tensor_slices((x, np.eye(4, dtype="float32")[y])).batch(32), refine=False)
    told = [str(w.message) for w in caught if str(w.message).startswith(IN_ORDER)]
    assert len(told) == 1 and finder.warnings[0] == told[0] and "the targets' mean rises" in told[0]


def test_a_streamed_sweep_inside_one_class_block_is_told_as_sorted_by_class():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 3200)  # the first 100 batches of 32 hold class 0 alone
    x = (rng.normal(size=(len(y), 8)) + y[:, None]).astype("float32")
    finder = LRFinder(classifier(), keras.optimizers.Adam(),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True), verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        finder(tf.data.Dataset.from_tensor_slices((x, y)).batch(32), refine=False)  # streamed
    told = [str(w.message) for w in caught if str(w.message).startswith(SORTED)]
    assert told == [finder.warnings[0]]
    assert f"only class 0 turns up in all {len(finder.lrs)} batches, of a model with 4 outputs" in told[0]


def test_a_model_with_one_number_per_sample_of_shape_batch_is_not_read_as_a_classifier():
    # An output of shape (batch,) has no class axis: its batch axis (32) is not 32 classes, so whole-number
    # targets in order are told as targets, as for an output of shape (batch, 1).
    rng = np.random.default_rng(0)
    counts = np.sort(rng.integers(0, 40, size=960)).astype("float32")
    x = ((counts[:, None] - 20) / 10 + rng.normal(size=(960, 4))).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1), keras.layers.Reshape(())])
    finder = LRFinder(model, keras.optimizers.SGD(), "mse", verbose=False)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        finder([(x[i:i + 32], counts[i:i + 32]) for i in range(0, 960, 32)], n_steps=30, refine=False)
    assert finder.warnings[0].startswith(IN_ORDER + "the targets' mean rises")
