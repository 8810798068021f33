import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_same_state, make_model, regression_data, state_of
from tf_lrfinder import LRFinder
from tf_lrfinder.arrays import split_off
from tf_lrfinder.data import as_batches


def test_arrays_are_batched_and_indexed(data):
    b = as_batches(data, make_model(), n_steps=13, batch_size=100)
    assert b.cardinality == 11 and b.first[0].shape == (100, 4)
    indices = [int(i) for i, _ in b.dataset.take(13)]
    assert indices == list(range(11)) + [0, 1]  # endless, and the index restarts when cycled


@pytest.mark.parametrize("kind", ["arrays", "dict", "tensors"])
def test_arrays_longer_than_needed_give_the_same_batches_from_the_rows_needed_alone(kind):
    # Where the first pass holds the batches a call needs, only their rows are copied (a sweep on a
    # million rows no longer copies them all, nor sorts a million keys per run): the same batches,
    # in the same order, as from the whole arrays.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(1000, 3)).astype("float32"), rng.normal(size=(1000, 1))  # y float64
    data = {"arrays": (x, y), "dict": ({"a": x[:, :2], "b": x[:, 2:]}, y),
            "tensors": (tf.constant(x), tf.constant(y))}[kind]
    needed = as_batches(data, None, n_steps=20, batch_size=32)  # 640 rows of 1000: the first pass suffices
    whole = as_batches(data, None, n_steps=40, batch_size=32)  # 1280: cycled, from the whole arrays
    assert needed.cardinality == whole.cardinality == 32
    for (i, a), (j, b) in zip(needed.dataset.take(20), whole.dataset.take(20)):
        assert int(i) == int(j)
        for p, q in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
            assert p.dtype == q.dtype
            np.testing.assert_array_equal(p.numpy(), q.numpy())
    # Read past what it was made for, the stream starts again, its index saying so (as when cycled).
    assert [int(i) for i, _ in needed.dataset.take(22)] == list(range(20)) + [0, 1]


def test_the_rows_needed_come_in_the_whole_shuffles_order_where_keys_tie():
    # The rows needed are picked by `top_k` on the shuffle's keys, not by sorting them all. At 200
    # thousand rows, some keys tie among those read (float32 keys: 2**23 values); the rows must still
    # come in the order the whole arrays' shuffle gives them.
    n = 200_000
    keys = tf.random.stateless_uniform([n], seed=tf.constant([0, 0], tf.int64)).numpy()
    read = np.sort(keys)[: 150 * 1000]
    assert (read[1:] == read[:-1]).sum() > 100  # ties among the keys of the rows read
    data = (np.arange(n, dtype="int64"), np.zeros(n, "float32"))
    needed = as_batches(data, None, n_steps=150, batch_size=1000)
    whole = as_batches(data, None, n_steps=250, batch_size=1000)  # 250 thousand rows: cycled, whole
    order = lambda b: np.concatenate([x.numpy() for _, (x, _) in b.dataset.take(150)])
    np.testing.assert_array_equal(order(needed), order(whole))


@pytest.mark.filterwarnings("ignore:The loss never diverged", "ignore:The data ran out")
@pytest.mark.parametrize("rows", [4000, 600])  # the rows needed alone; the whole arrays, cycled
def test_sparse_arrays_sweep_as_the_same_dense_ones(rows):
    # As `fit` takes them: a SciPy sparse matrix (TF-IDF features, say) or a tf.SparseTensor, in
    # `tf.SparseTensor` batches, the same rows in the same order as the dense array gives.
    import scipy.sparse

    from tf_lrfinder import LRFinder

    rng = np.random.default_rng(0)
    dense = (rng.random((rows, 50)) < 0.1) * rng.random((rows, 50)).astype("float32")
    y = (dense[:, :5].sum(1) > 0.25).astype("int64")

    def swept(x, sparse):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((50,), sparse=sparse), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(2)])
        finder = LRFinder(model, keras.optimizers.Adam(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          verbose=False)
        finder((x, y), batch_size=32, n_steps=40, refine=False)
        return finder

    plain = swept(dense, False)
    for x in (scipy.sparse.csr_matrix(dense), tf.sparse.from_dense(dense)):
        b = as_batches((x, y), None, n_steps=40, batch_size=32)
        assert isinstance(b.first[0], tf.SparseTensor) and b.first[0].shape.as_list() == [32, 50]
        np.testing.assert_array_equal(tf.sparse.to_dense(b.first[0]).numpy(),
                                      as_batches((dense, y), None, n_steps=40, batch_size=32).first[0])
        sparse = swept(x, True)
        assert sparse.cycled == plain.cycled == (rows < 40 * 32)
        np.testing.assert_allclose(sparse.losses, plain.losses, rtol=1e-5)


def test_split_off_takes_the_last_share_of_every_kind_of_array(tmp_path):
    # As `fit(validation_split=...)`: the last samples, of each input and target alike; NumPy arrays
    # (memory-mapped ones too) as views, sparse ones as sparse.
    import scipy.sparse

    x = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype="float32", shape=(10, 3))
    x[:] = np.arange(30, dtype="float32").reshape(10, 3)
    dense = np.eye(10, 4, dtype="float32")
    data = ({"x": x, "sparse": tf.sparse.from_dense(dense), "scipy": scipy.sparse.csr_matrix(dense)},
            [np.arange(10), np.arange(10) * 2])
    (train, y), (held, y_held) = split_off(data, 0.25)  # floor(10 * 0.75) = 7 to train on
    assert np.shares_memory(train["x"], x) and np.shares_memory(held["x"], x)
    np.testing.assert_array_equal(held["x"], x[7:])
    np.testing.assert_array_equal(tf.sparse.to_dense(held["sparse"]).numpy(), dense[7:])
    np.testing.assert_array_equal(tf.sparse.to_dense(train["sparse"]).numpy(), dense[:7])
    np.testing.assert_array_equal(held["scipy"].toarray(), dense[7:])
    assert [list(t) for t in y] == [list(range(7)), list(range(0, 14, 2))]
    assert [list(t) for t in y_held] == [[7, 8, 9], [14, 16, 18]]


def test_every_iterator_over_arrays_sees_the_same_passes():
    # Refine's runs each take a fresh iterator and must see the same batches, whatever an earlier
    # iterator (the sweep's, prefetching) had read.
    x = np.arange(10, dtype="float32")[:, None]
    b = as_batches((x, x), None, n_steps=5, batch_size=4)

    def two_passes():
        return [batch[0][:, 0].numpy().tolist() for _, batch in b.dataset.take(6)]

    first = two_passes()
    earlier = iter(b.dataset)
    for _ in range(5):  # into the second pass
        next(earlier)
    assert two_passes() == first
    assert sorted(sum(first[:3], [])) == sorted(sum(first[3:], [])) == list(range(10))  # each pass: all rows once
    assert first[:3] != first[3:]  # reshuffled from pass to pass


def test_dict_inputs_and_sample_weights():
    x = {"a": np.zeros((8, 2), "float32"), "b": np.ones((8, 3), "float32")}
    b = as_batches((x, np.zeros(8, "float32"), np.ones(8, "float32")), None, 5, batch_size=4)
    assert set(b.first[0]) == {"a", "b"} and len(b.first) == 3


class Frame:
    """A table that converts to an array, as a pandas DataFrame does, without being one."""

    def __init__(self, values):
        self.values = values
        self.shape = values.shape

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def test_several_inputs_as_a_list_and_tables_that_convert_to_arrays():
    xa, xb = np.arange(10, dtype="float32")[:, None], -np.arange(20, dtype="float32").reshape(10, 2) / 2
    y = np.arange(10, dtype="float32")
    b = as_batches(([xa, Frame(xb)], Frame(y)), None, 5, batch_size=4)
    for _, ((a, bb), t) in b.dataset.take(4):  # rows stay together through the shuffle
        np.testing.assert_array_equal(a[:, 0], t)
        np.testing.assert_array_equal(bb[:, 0], -t)
    batches = [([xa[i:i + 4], xb[i:i + 4]], y[i:i + 4]) for i in range(0, 10, 4)]  # an iterable, likewise
    for (_, ((a, bb), t)), want in zip(as_batches(batches, None, 3).dataset, batches):
        assert a.shape[1:] == (1,) and bb.shape[1:] == (2,)
        np.testing.assert_array_equal(bb, want[0][1])
    with pytest.raises(ValueError, match=r"the same number of samples. Received lengths: \[9, 10\]"):
        as_batches(([xa, xb[:9]], y), None, 5, batch_size=4)
    with pytest.raises(ValueError, match=re.escape("must hold one row per sample. Received an array of shape (): a scalar")):
        as_batches((xa, np.float32(1.0)), None, 5, batch_size=4)
    with pytest.raises(TypeError, match="`dataset` must hold targets too: pass `\\(x, y\\)`, not x alone. Received: Frame"):
        as_batches(Frame(xb), None, 5, batch_size=4)


def test_iterable_of_batches_is_replayed():
    batches = [(np.full((2, 4), i, "float32"), np.zeros((2, 1), "float32")) for i in range(3)]
    b = as_batches(iter(batches), make_model(), n_steps=5)
    seen = [float(batch[0][0, 0]) for _, batch in b.dataset.take(5)]
    assert seen == [0.0, 1.0, 2.0, 0.0, 1.0]


def test_iterable_is_replayed_exactly_with_a_smaller_last_batch_and_dict_inputs():
    x, y = np.arange(20, dtype="float32").reshape(10, 2), np.arange(10, dtype="int32")
    batches = [({"a": x[i:i + 4]}, y[i:i + 4]) for i in range(0, 10, 4)]  # 4, 4 and 2 rows
    b = as_batches((batch for batch in batches), None, n_steps=6)
    assert b.dataset.element_spec[1][0]["a"].shape.as_list() == [None, 2]  # any batch size
    seen = [batch for _, batch in b.dataset.take(6)]
    for got, want in zip(seen, batches + batches):
        np.testing.assert_array_equal(got[0]["a"], want[0]["a"])
        np.testing.assert_array_equal(got[1], want[1])


def test_iterable_of_sequences_whose_length_varies_by_batch_is_replayed_exactly():
    # As `fit` takes them from a generator or a PyDataset: each batch padded to its own length. The
    # varying axis is None in the spec, the others kept; every batch comes back with its own shape.
    rng = np.random.default_rng(0)
    batches = [(rng.integers(1, 50, (n, length)).astype("int32"), rng.normal(size=(n, length, 2)).astype("float32"))
               for n, length in [(4, 7), (4, 3), (4, 12), (2, 5)]]
    b = as_batches(iter(batches), None, n_steps=6)
    assert [leaf.shape.as_list() for leaf in b.dataset.element_spec[1]] == [[None, None], [None, None, 2]]
    seen = [(int(index), batch) for index, batch in b.dataset.take(6)]
    assert [index for index, _ in seen] == [0, 1, 2, 3, 0, 1]  # read once, cycled
    for (_, got), want in zip(seen, batches + batches):
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)


def test_keras_py_dataset_is_read_once_and_replayed():
    # Its batches in the order `tf_lrfinder.pages` reads them (tests/test_pages.py), cycled as a
    # generator's are; on Keras 3.10 too, whose PyDataset has no `__iter__`.
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return np.full((2, 4), index, "float32"), np.zeros((2, 1), "float32")

    b = as_batches(Batches(), make_model(), n_steps=5, shuffle=False)
    assert [float(batch[0][0, 0]) for _, batch in b.dataset.take(5)] == [0.0, 1.0, 2.0, 0.0, 1.0]


@pytest.mark.parametrize("second,message", [
    ((np.zeros((2, 5), "float32"), np.zeros((2, 1), "float32")),  # shapes may vary only where the model allows
     r"must yield inputs of the shape the model takes, \(None, 4\). Received: an input of shape \(2, 5\) in batch 1"),
    ((np.zeros((2, 4), "float64"), np.zeros((2, 1), "float32")),
     r"keep one kind, dtype and rank. Received: a tensor of float32 \(2, 4\) in batch 0 and a tensor of float64 "
     r"\(2, 4\) in batch 1"),
    ((np.zeros((2, 4, 1), "float32"), np.zeros((2, 1), "float32")),
     r"keep one kind, dtype and rank. Received: a tensor of float32 \(2, 4\) in batch 0 and a tensor of float32 "
     r"\(2, 4, 1\) in"),
    ((np.zeros((2, 4), "float32"), np.zeros((2, 1), "float32"), np.ones(2, "float32")),
     r"`dataset` must yield batches of one structure. Received: batch 0 is"),
    ((tf.ragged.constant([[1.0], [2.0, 3.0]]), np.zeros((2, 1), "float32")),
     r"keep one kind, dtype and rank. Received: a tensor of float32 \(2, 4\) in batch 0 and a RaggedTensor of "
     r"float32 \(2, None\) in batch 1"),
])
def test_iterable_whose_batches_disagree_raises_a_clear_error(second, message):
    first = (np.zeros((2, 4), "float32"), np.zeros((2, 1), "float32"))
    with pytest.raises(ValueError, match=message):
        as_batches([first, second], make_model(), n_steps=5)


def test_ragged_and_sparse_batches_from_a_plain_iterable_are_replayed_as_they_came():
    # As `fit` takes them from a generator (they used to be refused): each batch again, cycled, its
    # rows, values and shape as given; a SciPy sparse matrix as a tf.SparseTensor.
    import scipy.sparse

    ragged = [tf.ragged.constant([[1.0, 2.0], [3.0]]), tf.ragged.constant([[4.0], [5.0, 6.0, 7.0], [8.0]])]
    dense = [np.array([[0, 1], [2, 0]], "float32"), np.array([[0, 0], [0, 3], [4, 0]], "float32")]
    sparse = [tf.sparse.from_dense(dense[0]), scipy.sparse.csr_matrix(dense[1])]
    ys = [np.zeros((2, 1), "float32"), np.ones((3, 1), "float32")]
    b = as_batches(iter([((r, s), y) for r, s, y in zip(ragged, sparse, ys)]), None, n_steps=5)
    assert b.dataset.element_spec[1][0][1].shape.as_list() == [None, 2]  # the width all batches share
    seen = [batch for _, batch in b.dataset.take(5)]
    for ((r, s), y), k in zip(seen, [0, 1, 0, 1, 0]):
        assert isinstance(r, tf.RaggedTensor) and r.to_list() == ragged[k].to_list()
        assert isinstance(s, tf.SparseTensor) and s.dense_shape.numpy().tolist() == list(dense[k].shape)
        np.testing.assert_array_equal(tf.sparse.to_dense(s).numpy(), dense[k])
        np.testing.assert_array_equal(y.numpy(), ys[k])


def test_ragged_batches_that_change_ragged_rank_are_refused_naming_both():
    flat = (tf.ragged.constant([[[1.0]], [[2.0], [3.0]]], ragged_rank=1), np.zeros((2, 1), "float32"))
    nested = (tf.ragged.constant([[[1.0]], [[2.0], [3.0, 4.0]]]), np.zeros((2, 1), "float32"))
    with pytest.raises(ValueError, match=re.escape(
            "keep one kind, dtype and rank. Received: a RaggedTensor of float32 (2, None, 1) in batch 0 and a "
            "RaggedTensor (ragged rank 2) of float32 (2, None, None) in batch 1.")):
        as_batches([flat, nested], None, n_steps=5)


@pytest.mark.filterwarnings("ignore:The loss never diverged", "ignore:The data ran out", "ignore:The loss curve is flat")
def test_ragged_and_sparse_batches_from_a_generator_sweep_as_the_same_dense_ones():
    from tf_lrfinder import LRFinder

    class Padded(keras.Model):  # takes ragged token rows, or the same rows padded with zeros
        def __init__(self):
            super().__init__()
            self.embed, self.head = keras.layers.Embedding(20, 4), keras.layers.Dense(1)

        def call(self, x):
            if isinstance(x, tf.RaggedTensor):
                x = x.to_tensor(0, shape=[None, 6])
            return self.head(tf.reduce_sum(self.embed(x) * tf.cast(x > 0, "float32")[..., None], 1))

    rng = np.random.default_rng(0)
    rows = [[rng.integers(1, 20, rng.integers(1, 7)).tolist() for _ in range(16)] for _ in range(8)]
    targets = [rng.random((16, 1)).astype("float32") for _ in range(8)]
    features = [(rng.random((16, 30)) < 0.2) * rng.random((16, 30)).astype("float32") for _ in range(8)]

    def swept(make, batches):
        keras.utils.set_random_seed(0)
        finder = LRFinder(make(), keras.optimizers.Adam(), "mse", verbose=False)
        finder((batch for batch in batches), n_steps=20, refine=False)
        return finder.losses

    ragged = swept(Padded, [(tf.ragged.constant(r, "int64"), y) for r, y in zip(rows, targets)])
    padded = swept(Padded, [(tf.ragged.constant(r, "int64").to_tensor(0, shape=[None, 6]), y)
                              for r, y in zip(rows, targets)])
    np.testing.assert_allclose(ragged, padded, rtol=1e-5)

    def wide(sparse):
        return lambda: keras.Sequential([keras.Input((30,), sparse=sparse), keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(1)])

    sparse = swept(wide(True), [(tf.sparse.from_dense(x), y) for x, y in zip(features, targets)])
    np.testing.assert_allclose(sparse, swept(wide(False), list(zip(features, targets))), rtol=1e-5)
    assert len(sparse) > 10 and len(ragged) > 10


def test_arrays_need_batch_size(data):
    with pytest.raises(ValueError, match="`batch_size` is required when `dataset` is a tuple of arrays "
                       r"`\(x, y\)`: the best rate depends on it. Pass the one you will train with"):
        as_batches(data, None, 5)
    # x alone (for a model that computes its own loss) is not called a tuple `(x, y)`.
    with pytest.raises(ValueError, match=r"`batch_size` is required when `dataset` is arrays of x alone: "):
        as_batches(data[0], None, 5, targets=False)


def test_a_list_of_arrays_with_batch_size_is_told_to_be_a_tuple(data):
    # `[x, y]` is read as two batches; with `batch_size` the user meant the arrays `(x, y)`.
    with pytest.raises(ValueError, match=r"batch_size=32 with a list, which is read as batches. For arrays, "
                       r"pass a tuple `\(x, y\)`, not a list."):
        as_batches(list(data), None, 5, batch_size=32)
    with pytest.raises(ValueError, match=r"with a generator, which is read as batches. Drop it") as raised:
        as_batches((batch for batch in [data]), None, 5, batch_size=32)
    assert "not a list" not in str(raised.value) and "Python lists" not in str(raised.value)
    # Python lists of numbers in the tuple (`fit` refuses them too: "Unrecognized data type").
    x, y = data
    for lists in ((x.tolist(), y.tolist()), (x.tolist(), y)):
        with pytest.raises(ValueError, match=re.escape("Its parts are Python lists, which `fit` does not take "
                                                       "either: make them arrays (`np.asarray(x)`).")):
            as_batches(lists, None, 5, batch_size=32)


def test_batch_size_is_refused_for_datasets_batched_otherwise(data):
    # A dataset is batched already: the batch size it was batched by does no harm (a script passing its
    # BATCH on); any other would be silently ignored, so it is refused.
    batched = tf.data.Dataset.from_tensor_slices(data).batch(8)
    with pytest.raises(ValueError, match="already batched, and this one's first batch holds 8 samples. Received: "
                                         "batch_size=16. Drop it"):
        as_batches(batched, None, 5, batch_size=16)
    np.testing.assert_array_equal(as_batches(batched, None, 5, batch_size=8).first[0],
                                  as_batches(batched, None, 5).first[0])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_batch_size(data, bad):
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer"):
        as_batches(data, None, 5, batch_size=bad)


def test_empty_dataset(data):
    ds = tf.data.Dataset.from_tensor_slices(data).batch(8).take(0)
    with pytest.raises(ValueError, match="`dataset` is empty"):
        as_batches(ds, None, 5)
    with pytest.raises(ValueError, match="`dataset` is empty"):
        as_batches(iter([]), None, 5)


def test_empty_repeated_dataset_is_still_empty(data):
    ds = tf.data.Dataset.from_tensor_slices(data).batch(8).take(0).repeat()
    with pytest.raises(ValueError, match="`dataset` is empty"):
        as_batches(ds, None, 5)


def test_unbatched_dataset_is_named(data):
    ds = tf.data.Dataset.from_tensor_slices(data)
    with pytest.raises(ValueError, match="looks unbatched.*dataset.batch\\(32\\)"):
        as_batches(ds, make_model(), 5)


def test_a_generator_of_python_lists_is_told_to_yield_arrays(data):
    # Nested lists read as a structure of single numbers: one input per number, each a scalar.
    x, y = data

    def lists():
        for i in range(0, 64, 32):
            yield x[i:i + 32].tolist(), y[i:i + 32].tolist()

    with pytest.raises(ValueError, match="looks unbatched: its inputs are scalars") as raised:
        as_batches(lists(), None, 5)
    message = str(raised.value)
    assert "nested Python lists" in message and "`np.asarray(x)`" in message
    assert len(message) < 700  # the element_spec of 128 scalars, cut short
    with pytest.raises(ValueError, match="looks unbatched") as raised:  # a dataset of one-number rows: batch it
        as_batches(tf.data.Dataset.from_tensor_slices((x[:, 0], y[:, 0])), None, 5)
    assert "dataset.batch(32)" in str(raised.value) and "Python lists" not in str(raised.value)


def test_a_generator_function_not_called_is_told_to_call_it(data):
    def batches():
        yield data

    with pytest.raises(TypeError, match=re.escape("Received: function. Call it to get its batches: `batches()`.")):
        as_batches(batches, None, 5)
    with pytest.raises(TypeError, match=r"Received: int$"):  # not callable: no such hint
        as_batches(3, None, 5)


def test_wrong_structure(data):
    with pytest.raises(ValueError, match="must yield tuples `\\(x, y\\)`"):
        as_batches(tf.data.Dataset.from_tensor_slices(data[0]).batch(8), None, 5)
    with pytest.raises(TypeError, match="pass `\\(x, y\\)`, not x alone"):
        as_batches(data[0], None, 5, batch_size=8)
    with pytest.raises(TypeError, match="Received: int"):
        as_batches(3, None, 5)
    # Dicts, as TensorFlow Datasets yields them without `as_supervised=True`: say how to make tuples.
    dicts = tf.data.Dataset.from_tensor_slices({"image": data[0], "label": data[1]}).batch(8)
    with pytest.raises(ValueError, match=re.escape(
            "It yields dicts: map them to tuples, for example `dataset.map(lambda d: (d['image'], d['label']))`, "
            "or load it with `as_supervised=True`.")):
        as_batches(dicts, None, 5)


def test_mismatched_array_lengths(data):
    with pytest.raises(ValueError, match="same number of samples. Received lengths: \\[10, 1024\\]"):
        as_batches((data[0], data[1][:10]), None, 5, batch_size=8)


def test_the_sweep_stream_runs_without_the_autotuner(data):
    # Deleting an iterator waits for tf.data's autotuner to wake (at 10 ms, 20 ms, 40 ms, ... after
    # the iterator was made): a 1000-step sweep of ~6 s used to return at 10.26 s.
    user = tf.data.Dataset.from_tensor_slices(data).batch(32).prefetch(tf.data.AUTOTUNE)
    assert user.options().autotune.enabled is not False
    stream = as_batches(user, make_model(), 10).dataset
    assert stream.options().autotune.enabled is False


def _objects(rows: list) -> np.ndarray:
    """An array of Python objects, one per row, as NumPy makes of rows it cannot stack."""
    a = np.empty(len(rows), dtype=object)
    a[:] = rows
    return a


def _sequence_model() -> keras.Model:
    model = keras.Sequential([keras.Input((8,)), keras.layers.Embedding(50, 4), keras.layers.GlobalAveragePooling1D(),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.BinaryCrossentropy(from_logits=True))
    return model


@pytest.mark.parametrize("form", ["arrays", "generator", "py_dataset", "validation_data"])
def test_sequences_of_different_lengths_are_told_to_be_padded_before_anything_changes(form):
    # As Keras's IMDB data comes: each review a list of word indices, of its own length.
    rng = np.random.default_rng(0)
    reviews = _objects([list(rng.integers(1, 50, rng.integers(3, 9))) for _ in range(64)])
    y = rng.integers(0, 2, 64).astype("float32")
    padded = keras.utils.pad_sequences(reviews, maxlen=8)

    class Pages(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return reviews[32 * index:32 * index + 32], y[32 * index:32 * index + 32]

    data, kwargs, where = {
        "arrays": ((reviews, y), {"batch_size": 32}, "`dataset`'s x"),
        "generator": (((reviews[i:i + 32], y[i:i + 32]) for i in (0, 32)), {}, "A batch of `dataset`"),
        "py_dataset": (Pages(), {}, "A batch of `dataset`"),
        "validation_data": ((padded, y), {"batch_size": 32, "validation_data": (reviews, y)}, "`validation_data`'s x"),
    }[form]
    model = _sequence_model()
    before = state_of(model, model.optimizer)
    with pytest.raises(ValueError, match=re.escape(
            f"{where} holds Python objects (list), which no tensor can hold (`fit` refuses them too): its entries are "
            "sequences of different lengths. Pad them to one length (`keras.utils.pad_sequences(sequences, "
            "maxlen=...)`)")):
        LRFinder(model)(data, n_steps=10, **kwargs)
    assert_same_state(before, state_of(model, model.optimizer))


@pytest.mark.parametrize("cell,holds,fix", [
    ("text", "(float, str)", "it mixes text with numbers, as a pandas DataFrame whose columns have different dtypes "
                             "does. For a model with an input per column, pass the columns as a dict (`dict(df)`)"),
    (None, "(NoneType, float)", "it holds None, a missing value. Fill in the missing values first"),
    (0.5, "(float)", "make it an array of numbers first (`np.asarray(a, dtype='float32')`)."),
])
def test_arrays_of_python_objects_are_told_what_they_hold_and_the_fix_before_anything_changes(cell, holds, fix):
    x, y = regression_data(64)
    table = x.astype(object)  # as `df.values` of a table whose columns have different dtypes
    table[5, 2] = cell
    model = make_model("dense")
    model.compile(keras.optimizers.SGD(0.01), "mse")
    before = state_of(model, model.optimizer)
    with pytest.raises(ValueError, match=re.escape(f"`dataset`'s x holds Python objects {holds}, which no tensor can hold")
                       + ".*" + re.escape(fix)):
        LRFinder(model)((table, y), batch_size=16, n_steps=10)
    with pytest.raises(ValueError, match=re.escape("`dataset`'s x['b'] holds Python objects")):  # named where it is
        as_batches(({"a": x, "b": table}, y), None, 5, batch_size=16)
    assert_same_state(before, state_of(model, model.optimizer))


class Preprocessed(keras.Model):
    """A model with a `preprocessor` that its `fit` maps over the batches (`preprocess_samples`), and that
    refuses strings when called directly: KerasHub's tasks (a `BertTextClassifier`, say) are made so."""

    def __init__(self, vocabulary):
        super().__init__()
        self.preprocessor = keras.layers.StringLookup(vocabulary=vocabulary, output_mode="one_hot")
        self.dense = keras.layers.Dense(1)

    def __call__(self, x, *args, **kwargs):
        if any(t.dtype == tf.string if isinstance(t, tf.Tensor) else np.asarray(t).dtype.kind in "OSU"
               for t in keras.tree.flatten(x)):
            raise ValueError("Calling a model directly, e.g. `model(x)`, does not apply preprocessing")
        return super().__call__(x, *args, **kwargs)

    def call(self, x):
        return self.dense(x)

    def preprocess_samples(self, x, y=None, sample_weight=None):
        return keras.utils.pack_x_y_sample_weight(self.preprocessor(x), y, sample_weight)


def test_a_model_with_a_preprocessor_gets_its_batches_preprocessed_as_its_fit_does():
    # KerasHub's `fit` and `evaluate` map `preprocess_samples` over the batches of arrays or of a pipeline; the
    # finder called the model on the strings, and the model refused them.
    rng = np.random.default_rng(0)
    vocabulary = ["good", "bad", "fine", "poor"]
    words = np.array(vocabulary)[rng.integers(0, 4, 256)][:, None]
    y = np.isin(words[:, 0], ["good", "fine"]).astype("float32")[:, None]
    model = Preprocessed(vocabulary)
    model.compile(keras.optimizers.SGD(0.01), keras.losses.BinaryCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="does not apply preprocessing"):
        model(words)
    model(model.preprocessor(words[:2]))
    before = state_of(model, model.optimizer)
    finder = LRFinder(model, verbose=False)
    finder((words, y), batch_size=16, n_steps=30, refine=False)
    assert_same_state(before, state_of(model, model.optimizer))
    plain = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])  # the same, fed the strings preprocessed
    plain.set_weights(model.dense.get_weights())
    plain.compile(keras.optimizers.SGD(0.01), keras.losses.BinaryCrossentropy(from_logits=True))
    by_hand = LRFinder(plain, verbose=False)
    by_hand((model.preprocessor(words).numpy(), y), batch_size=16, n_steps=30, refine=False)
    np.testing.assert_allclose(finder.losses, by_hand.losses, rtol=1e-6)
    pipeline = tf.data.Dataset.from_tensor_slices((words, y)).batch(16)  # refined, measured on validation data
    lr = LRFinder(model, verbose=False)(pipeline, n_steps=30, validation_data=pipeline.take(2))
    assert np.isfinite(lr)
    assert_same_state(before, state_of(model, model.optimizer))


@pytest.mark.filterwarnings("ignore:The loss never diverged", "ignore:The data ran out", "ignore:The loss curve is flat")
def test_text_as_an_array_of_python_strings_sweeps_for_a_model_that_reads_text():
    # Strings as objects (a pandas column of text) make a string tensor: not refused as objects are.
    rng = np.random.default_rng(0)
    words = np.array(["good", "bad", "fine", "poor"], dtype=object)[rng.integers(0, 4, 64)][:, None]
    y = np.isin(words[:, 0], ["good", "fine"]).astype("float32")[:, None]
    inputs = keras.Input((1,), dtype="string")
    lookup = keras.layers.StringLookup(vocabulary=["good", "bad", "fine", "poor"], output_mode="one_hot")
    model = keras.Model(inputs, keras.layers.Dense(1)(lookup(inputs)))
    model.compile(keras.optimizers.SGD(0.01), keras.losses.BinaryCrossentropy(from_logits=True))
    before = state_of(model, model.optimizer)
    finder = LRFinder(model, verbose=False)
    finder((words, y), batch_size=16, n_steps=20, refine=False)
    assert len(finder.losses) == 20 and np.isfinite(finder.losses[0])
    assert_same_state(before, state_of(model, model.optimizer))
