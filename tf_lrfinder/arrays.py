"""Arrays as `fit` takes them, batched by `batch_size`: `(x, y[, sample_weight])`, or x alone.

An array is anything `fit` reads as one: a NumPy array, a tensor, whatever has `__array__` and a
`shape` (a pandas DataFrame or Series), and sparse ones (SciPy's, `tf.SparseTensor`). x and y may be
dicts or lists of them, with None for an optional input left out. `from_arrays` batches them,
shuffled afresh each pass from a seed, and `split_off` cuts off `validation_split`'s share, as
`fit` does; both run before the sweep touches any state. Each batch's leaves become tensors by
`as_tensor`, which refuses arrays of Python objects no tensor holds (`no_objects`), for any data
`tf_lrfinder.data` reads.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from . import checks
from .compiled import plain
from .state import present_leaves

_ARRAY_TYPES = (np.ndarray, tf.Tensor)


def _is_array(value: Any) -> bool:
    # NumPy arrays and tensors, and whatever else converts to an array with a shape, as `fit` takes
    # it (a pandas DataFrame or Series, for example); sparse ones too, SciPy's and TensorFlow's.
    return (isinstance(value, _ARRAY_TYPES) or (hasattr(value, "__array__") and hasattr(value, "shape"))
            or is_sparse(value))


def is_sparse(value: Any) -> bool:
    """A `tf.SparseTensor`, or a SciPy sparse matrix (known by its `tocoo`, so SciPy is not imported)."""
    return isinstance(value, tf.SparseTensor) or (hasattr(value, "tocoo") and hasattr(value, "shape"))


def _sparse_tensor(matrix: Any) -> tf.SparseTensor:
    """A SciPy sparse matrix as a `tf.SparseTensor` (its entries in row-major order), as `fit` takes it.

    Example:
        >>> import scipy.sparse
        >>> t = _sparse_tensor(scipy.sparse.csr_matrix(np.array([[0.0, 2.0], [3.0, 0.0]])))
        >>> t.indices.numpy().tolist(), t.values.numpy().tolist(), t.shape.as_list()
        ([[0, 1], [1, 0]], [2.0, 3.0], [2, 2])
    """
    coo = matrix.tocoo()
    indices = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
    return tf.sparse.reorder(tf.SparseTensor(indices, coo.data, [int(d) for d in coo.shape]))


def _sparse_rows(t: tf.SparseTensor, rows: tf.Tensor) -> tf.SparseTensor:
    """Rows `rows` (distinct) of the sparse `t`, in that order, as `tf.gather` takes rows of a dense one.

    Example:
        >>> t = tf.sparse.from_dense(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
        >>> tf.sparse.to_dense(_sparse_rows(t, tf.constant([2, 0]))).numpy().tolist()
        [[3.0, 0.0], [1.0, 0.0]]
    """
    rows = tf.cast(rows, tf.int64)
    count = tf.size(rows, out_type=tf.int64)
    where = tf.tensor_scatter_nd_update(tf.fill([t.dense_shape[0]], tf.constant(-1, tf.int64)), rows[:, None],
                                        tf.range(count))  # each row's place in the result, or -1
    row = tf.gather(where, t.indices[:, 0])
    kept = row >= 0
    indices = tf.concat([tf.boolean_mask(row, kept)[:, None], tf.boolean_mask(t.indices, kept)[:, 1:]], axis=1)
    taken = tf.SparseTensor(indices, tf.boolean_mask(t.values, kept), tf.concat([[count], t.dense_shape[1:]], 0))
    return tf.sparse.reorder(taken)


def as_tensor(a: Any) -> tf.Tensor | tf.SparseTensor | tf.RaggedTensor:
    """One array, or a batch's leaf, as a tensor: a sparse one (SciPy's) as a `tf.SparseTensor`;
    ragged and sparse tensors as they are."""
    if isinstance(a, np.ndarray):
        no_objects(a, "A batch of `dataset`")
    return _tensor(a)


def _tensor(a: Any) -> tf.Tensor | tf.SparseTensor | tf.RaggedTensor:
    """`as_tensor` for an array already checked by `no_objects`."""
    if a is None or isinstance(a, (tf.SparseTensor, tf.RaggedTensor)):  # None: an optional input left out
        return a
    return _sparse_tensor(a) if is_sparse(a) else tf.convert_to_tensor(a)


def no_objects(a: np.ndarray, where: str) -> None:
    """Raise, saying what `a` holds and what to do, where it is an array of Python objects other than
    strings (those make a string tensor, for a model that reads text): no tensor holds them, and `fit`
    refuses them too. Such arrays come of sequences of different lengths (Keras's IMDB data), of a
    pandas DataFrame whose columns mix numbers and text, and of missing values left as None.

    Example:
        >>> no_objects(np.array(["a fine film", "a dull one"], dtype=object), "x")  # text: a string tensor
        >>> reviews = np.empty(2, dtype=object)
        >>> reviews[:] = [[14, 22, 16], [43, 530]]
        >>> no_objects(reviews, "x")
        Traceback (most recent call last):
        ...
        ValueError: x holds Python objects (list), which no tensor can hold (`fit` refuses them too): its entries are sequences of different lengths. Pad them to one length (`keras.utils.pad_sequences(sequences, maxlen=...)`), or pass a `tf.data.Dataset` of padded batches (`padded_batch`).
    """
    if a.dtype != object:
        return
    kinds = {type(v) for v in a.flat}
    if all(issubclass(kind, (str, bytes)) for kind in kinds):
        return
    if any(issubclass(kind, (list, tuple, np.ndarray)) for kind in kinds):
        fix = ("its entries are sequences of different lengths. Pad them to one length (`keras.utils.pad_sequences("
               "sequences, maxlen=...)`), or pass a `tf.data.Dataset` of padded batches (`padded_batch`).")
    elif type(None) in kinds:
        fix = "it holds None, a missing value. Fill in the missing values first (pandas' `fillna`)."
    elif any(issubclass(kind, (str, bytes)) for kind in kinds):
        fix = ("it mixes text with numbers, as a pandas DataFrame whose columns have different dtypes does. For a "
               "model with an input per column, pass the columns as a dict (`dict(df)`); otherwise encode the text "
               "as numbers first.")
    else:
        fix = "make it an array of numbers first (`np.asarray(a, dtype='float32')`)."
    names = ", ".join(sorted(kind.__name__ for kind in kinds))
    raise ValueError(f"{where} holds Python objects ({names}), which no tensor can hold (`fit` refuses them "
                     f"too): {fix}")


def _take(a: Any, rows: tf.Tensor) -> Any:
    """Rows `rows` of one array, whatever its kind (NumPy's, a tensor, sparse), as a tensor or array;
    None (an optional input left out) as it is."""
    if a is None:
        return None
    if isinstance(a, tf.SparseTensor):
        return _sparse_rows(a, rows)
    if is_sparse(a):  # SciPy's: its own row indexing, then only those rows converted
        return _sparse_tensor(a[rows.numpy()])
    return tf.gather(a, rows) if isinstance(a, tf.Tensor) else np.take(a, rows.numpy(), axis=0)


def _is_array_like(value: Any) -> bool:
    """An array, or a dict, list or tuple of them (several inputs or outputs, as `fit` takes them), of
    which some may be None (optional inputs left out), not all."""
    if isinstance(value, (dict, list, tuple)):
        values = [v for v in (value.values() if isinstance(value, dict) else value) if v is not None]
        return bool(values) and all(_is_array_like(v) for v in values)
    return _is_array(value)


def holds_arrays(data: Any) -> bool:
    """Whether `as_batches` reads `data` as arrays to batch (by `batch_size`): a tuple `(x, y)` or
    `(x, y, sample_weight)` of array-likes, or x alone, an array or a dict of them.

    Example:
        >>> holds_arrays((np.zeros((4, 2)), np.zeros(4))), holds_arrays([(np.zeros((4, 2)), np.zeros(4))])
        (True, False)
    """
    if isinstance(data, tuple):
        return len(data) in (2, 3) and all(_is_array_like(a) for a in data)
    return _is_array(data) or (isinstance(data, dict) and _is_array_like(data))


def split_off(data: Any, share: float) -> tuple[Any, Any]:
    """`(training, validation)`: the arrays of `data` without their last `share` of the samples, and
    those samples, as `fit(validation_split=...)` splits them (before any shuffling: shuffle sorted
    arrays first). Contiguous slices, so NumPy arrays (memory-mapped ones too) are viewed, not copied.

    Raises:
        ValueError / TypeError: `share` is not a number between 0 and 1, `data` is not arrays, or
            either part would hold no sample.

    Example:
        >>> (x, y), (x_val, y_val) = split_off((np.arange(10.0)[:, None], np.arange(10)), 0.2)
        >>> y.tolist(), y_val.tolist()
        ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
    """
    if not checks.is_number(share) or not 0 < share < 1:
        raise ValueError("`validation_split` must be a number between 0 and 1, the share of the samples to measure "
                         f"refining's runs on. Received: validation_split={share!r}")
    if not holds_arrays(data):
        raise TypeError(f"`validation_split` splits arrays only, as `fit` does; `dataset` is a {type(data).__name__}. "
                        "Pass your validation data as `validation_data=` instead.")
    n = int(present_leaves(lists_as_tuples(data))[0].shape[0])
    cut = int(math.floor(n * (1.0 - share)))
    if cut == 0 or cut == n:
        raise ValueError(f"`validation_split={share!r}` of {n} samples leaves none to "
                         f"{'train' if cut == 0 else 'measure the runs'} on. Pass a share that leaves samples on "
                         "both sides, or pass `validation_data=`.")

    def rows(a: Any, start: int, stop: int) -> Any:
        if a is None:  # an optional input left out
            return None
        if isinstance(a, tf.SparseTensor):
            return tf.sparse.slice(a, [start] + [0] * (a.shape.rank - 1), [stop - start, *a.shape[1:]])
        return a[start:stop]

    parts = [tf.nest.map_structure(lambda a: rows(a, start, stop), lists_as_tuples(data))
             for start, stop in ((0, cut), (cut, n))]
    return parts[0], parts[1]


def _named(path: tuple, data: Any) -> str:
    """Which part of arrays `data` (`(x, y[, sample_weight])`, or x alone) the leaf at `path` is, as a user writes it.

    Example:
        >>> data = ({"age": np.zeros(2), "sex": np.zeros(2)}, np.zeros(2))
        >>> _named((0, "sex"), data), _named((1,), data), _named(("sex",), data[0])
        ("x['sex']", 'y', "x['sex']")
    """
    if isinstance(data, tuple):
        head, path = ("x", "y", "sample_weight")[path[0]], path[1:]
    else:
        head = "x"
    return head + "".join(f"[{key!r}]" for key in path)


def lists_as_tuples(structure: Any) -> Any:
    # tf.data reads a Python list in an element as one tensor to stack: several inputs given as a
    # list (as `fit` takes them) become a tuple, which Keras takes just as well. An OrderedDict stays
    # one, as tf.data keeps it, since Keras reads it otherwise than a dict (`tf_lrfinder.data._check_ordered`).
    if isinstance(structure, (list, tuple)):
        return tuple(lists_as_tuples(s) for s in structure)
    if isinstance(structure, dict):
        items = [(key, lists_as_tuples(value)) for key, value in structure.items()]
        return OrderedDict(items) if isinstance(structure, OrderedDict) else dict(items)
    return structure


def from_arrays(data: Any, batch_size: int | None, seed: int,
                 needed: int | None) -> tuple[Callable[[Any], tf.data.Dataset], int]:
    """`(one_pass, batches in a pass)`, where `one_pass(number) -> tf.data.Dataset` gives the arrays
    in batches, shuffled by the seed and the pass number. `data`: a tuple `(x, y)` or `(x, y,
    sample_weight)`, or x alone (an array or a dict of them), whose batches are then x itself, as
    `fit(x)` hands them to `train_step` (`keras.utils.pack_x_y_sample_weight`), where the model's own
    step (`tf_lrfinder.own_step`) may compute with them as they come. Where the first pass alone holds the
    `needed` batches, only their rows are copied (gathered from the arrays in the first pass's
    order), not the whole arrays: a sweep of 100 batches from a million rows costs about as much as
    from ten thousand. Sparse arrays (SciPy's, `tf.SparseTensor`) give `tf.SparseTensor` batches."""
    if batch_size is None:
        given = "a tuple of arrays `(x, y)`" if isinstance(data, tuple) else "arrays of x alone"
        raise ValueError(
            f"`batch_size` is required when `dataset` is {given}: the best rate "
            "depends on it. Pass the one you will train with (`fit`'s default is batch_size=32), or "
            "pass a batched tf.data.Dataset."
        )
    data = tf.nest.map_structure(lambda a: a if a is None or isinstance(a, tf.Tensor) or is_sparse(a) else np.asarray(a),
                                 lists_as_tuples(data))
    for path, leaf in keras.tree.flatten_with_path(data):
        if isinstance(leaf, np.ndarray):
            no_objects(leaf, f"`dataset`'s {_named(path, data)}")
    leaves = present_leaves(data)
    if any(len(a.shape) == 0 for a in leaves):
        raise ValueError(
            "The arrays in `dataset` must hold one row per sample. Received an array of shape (): a "
            "scalar. Pass arrays of shape (samples, ...)."
        )
    lengths = {int(a.shape[0]) for a in leaves}
    if len(lengths) != 1:
        raise ValueError(
            f"The arrays in `dataset` must have the same number of samples. Received lengths: "
            f"{sorted(lengths)}"
        )
    (n,) = lengths
    per_pass = -(-n // batch_size)

    def keys(number: Any) -> tf.Tensor:
        # Shuffled afresh each pass, in the order of keys drawn from the seed and the pass number
        # alone. Not `shuffle(reshuffle_each_iteration=True)`: its seed generator is shared by every
        # iterator over the dataset, so the order a new iterator saw depended on how far an earlier
        # one's prefetching had read (it made refine's runs differ between processes).
        return tf.random.stateless_uniform(
            [n], seed=tf.stack([tf.constant(seed, tf.int64), tf.cast(number, tf.int64)]))

    if needed is not None and needed * batch_size <= n:
        # The first pass's full batches suffice: copy their rows alone (None: every row is needed).
        # The first rows of the first pass's order, without sorting all n keys: `tf.argsort` sorts
        # ascending as `top_k` of the negated keys, which puts equal keys in index order whatever k
        # is, so these are the same rows in the same order (4 million rows: 0.02 s against 0.8 s).
        rows = tf.math.top_k(-keys(0), k=needed * batch_size).indices
        taken = tf.nest.map_structure(lambda a: _take(a, rows), data)
        batches = tf.data.Dataset.from_tensor_slices(taken).batch(batch_size)
        return (lambda number: batches), per_pass  # read no further than `needed` batches
    tensors = tf.nest.map_structure(_tensor, data)  # its arrays checked above

    def one_pass(number: Any) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(tf.argsort(keys(number))).batch(batch_size).map(
            plain(lambda rows: tf.nest.map_structure(lambda t: _take(t, rows), tensors)))

    return one_pass, per_pass
