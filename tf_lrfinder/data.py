"""Turning what users pass as data into a `tf.data.Dataset` of `(x, y[, sample_weight])` batches.

Everything here runs before the sweep touches any state, so a bad dataset raises while the model is
still exactly as the user left it. Arrays to batch by `batch_size` are `tf_lrfinder.arrays`'s; here
are the pipelines, generators and `PyDataset`s, the checks of every batch's structure against the
model, and the batches held for refining's runs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Callable, Iterable, Iterator

import keras
import numpy as np
import tensorflow as tf

from . import checks
from .arrays import as_tensor, from_arrays, holds_arrays, is_sparse, lists_as_tuples
from .compiled import plain
from .order import class_indices, one_target
from .pages import page_count, page_order, read_page, read_pages, workers_of
from .state import declared_inputs, leading_rows, left_out, present_leaves


@dataclass(frozen=True)
class Batches:
    """A validated source of training batches.

    Attributes:
        dataset: yields `(index, batch)` forever (unless the user's data yields nothing when read
            again): `index` counts elements within one pass of the user's data, so a repeated index
            shows that the data was cycled. Every iterator over it starts again from the first
            pass, and for arrays and plain iterables yields the same batches in the same order
            (each pass of arrays is shuffled by the seed and the pass number alone), so runs that
            each take a fresh iterator see the same data.
        first: the first batch, for building the model and checking shapes.
        cardinality: batches in one pass, or None when unknown or infinite.
        rereads: whether every iterator over it reads the user's `tf.data.Dataset` again (its
            pipeline runs again); arrays and plain iterables are sliced from memory instead.

    Example:
        >>> x, y = np.zeros((10, 3), "float32"), np.zeros((10, 1), "float32")
        >>> b = as_batches((x, y), model=None, n_steps=5, batch_size=4)  # 3 batches: 4, 4, 2
        >>> [int(i) for i, _ in b.dataset.take(5)]  # the index restarts: the data was cycled
        [0, 1, 2, 0, 1]
    """

    dataset: tf.data.Dataset
    first: Any
    cardinality: int | None
    rereads: bool = False


RUNS_IN_MEMORY = 2**29  # bytes (512 MiB): `in_memory` holds refining's batches of a tf.data pipeline up to this


def nbytes(batch: Any) -> int:
    """The bytes `batch`'s tensors hold (sparse and ragged ones' components; strings as NumPy holds them).

    Example:
        >>> nbytes((np.zeros((4, 3), "float32"), np.zeros(4, "int64")))
        80
    """
    return int(sum(np.asarray(t).nbytes for t in tf.nest.flatten(batch, expand_composites=True)))


def _counted(batches: Iterable[Any], on_read: Callable[[], None] | None) -> Iterator[Any]:
    """`batches`, calling `on_read` (the finder's progress bar) after each is read, where given."""
    if on_read is None:
        yield from batches
        return
    for batch in batches:
        on_read()
        yield batch


def _read(dataset: tf.data.Dataset, n: int, on_read: Callable[[], None] | None = None) -> list[Any]:
    """The first `n` elements of `dataset` (fewer where it ends), calling `on_read` after each. An
    error TensorFlow raises reading one (a pipeline's decode, a missing file) is raised again, its
    type and words kept, led by which."""
    elements: list[Any] = []
    iterator = _counted(iter(dataset.take(n)), on_read)
    while True:
        try:
            elements.append(next(iterator))
        except StopIteration:
            return elements
        except tf.errors.OpError as error:
            raise type(error)(error.node_def, error.op, (
                f"TensorFlow raised this reading batch {len(elements) + 1} of the first {n} of `dataset`, read "
                "once to be held in memory for the call, before any step trained on them: nothing was changed."
                f"\n\n{error.message}")) from error


def in_memory(batches: Batches, n: int, budget: int | None = None, on_read: Callable[[], None] | None = None
              ) -> Batches:
    """`batches` with its first `n` elements read once and replayed from memory, where it rereads a
    `tf.data.Dataset` and `n` batches as large as its first fit in `budget` bytes; else `batches`.

    Refining's short runs each read the same first batches afresh: from a pipeline that decodes or
    augments, every run would pay for it again (a default call reads its first 108 batches five to
    eight times, and its sweep 100 of them before). Held in memory (a default call holds them before
    its sweep), the pipeline runs for them once, and every run trains on the same
    batches, as from arrays, even where the pipeline reshuffles or augments at random. The replay is
    the one plain iterables get (`tf_lrfinder.data`), and iterators past its `n` elements end. The
    batches are held in host memory for the call; while they are joined for the replay, twice that.
    Where `n` batches as large as the first would take more than `budget`, each run reads the
    pipeline afresh.

    Args:
        batches: from `as_batches`.
        n: the elements every iterator will read at most.
        budget: the most bytes to hold, judged by the first batch (None: `RUNS_IN_MEMORY`, 512 MiB).
        on_read: called after each element read (the finder's progress bar), if given.

    Returns:
        A `Batches` whose `dataset` replays the elements read, or `batches` itself.

    Example:
        >>> b = as_batches(tf.data.Dataset.range(10).map(lambda i: (tf.fill([2, 1], i), i)), None, 5)
        >>> held = in_memory(b, 3)
        >>> held is not b, [int(x[0, 0]) for _, (x, _) in held.dataset], in_memory(b, 3, budget=8) is b
        (True, [0, 1, 2], True)
    """
    if not batches.rereads or n * nbytes(batches.first) > (RUNS_IN_MEMORY if budget is None else budget):
        return batches
    elements = _read(batches.dataset, n, on_read)
    if not elements:  # the user's data yielded nothing when read again: as the stream itself would end
        return replace(batches, dataset=batches.dataset.take(0), rereads=False)
    spec = batches.dataset.element_spec

    def as_read(*element: Any) -> Any:  # the static shapes the stream had: the step the sweep traced fits them
        return tf.nest.map_structure(lambda t, s: tf.ensure_shape(t, s.shape) if isinstance(s, tf.TensorSpec) else t,
                                     element, spec)

    replay = _from_iterable(elements, None).map(plain(as_read)).with_options(batches.dataset.options())
    return replace(batches, dataset=replay.prefetch(tf.data.AUTOTUNE), rereads=False)


def held_targets(batches: Batches, n: int) -> list[np.ndarray] | None:
    """The targets y of the first `n` batches of `batches` (of its first pass, where it is shorter),
    one array per batch, in the order the sweep reads them, where they are held in memory (plain
    iterables, and pipelines `in_memory` holds: reading them costs no pass over the user's pipeline)
    and y is one tensor of class labels or of one number per sample
    (`tf_lrfinder.order.class_indices`, `one_target`), or of integers of any shape (labels per time
    step or pixel); else None.

    Example:
        >>> labels = [(np.zeros((2, 1), "float32"), np.array([c, c])) for c in (0, 0, 1)]
        >>> [a.tolist() for a in held_targets(as_batches(labels, None, 3), 3)]
        [[0, 0], [0, 0], [1, 1]]
    """
    if batches.rereads:
        return None
    targets = tf.nest.flatten(keras.utils.unpack_x_y_sample_weight(batches.first)[1])
    if len(targets) != 1 or (class_indices(targets[0]) is None and one_target(targets[0]) is None
                             and not _integers(targets[0])):
        return None
    return [y[0] for y in _held(batches, n)]


def held_target_sets(batches: Batches, n: int) -> list[list[np.ndarray]] | None:
    """The targets of the first `n` batches of `batches`, as `held_targets` reads them, where y holds
    two or more tensors of numbers (a model of several outputs): for each batch, a list of arrays
    in the order of `tf.nest.flatten(y)`; else None.

    Example:
        >>> batches = [(np.zeros((2, 1), "float32"), {"b": np.array([c, c]), "a": np.zeros(2)}) for c in (0, 1)]
        >>> [[a.tolist() for a in y] for y in held_target_sets(as_batches(batches, None, 2), 2)]
        [[[0.0, 0.0], [0, 0]], [[0.0, 0.0], [1, 1]]]
    """
    if batches.rereads:
        return None
    targets = tf.nest.flatten(keras.utils.unpack_x_y_sample_weight(batches.first)[1])
    if len(targets) < 2 or not all(isinstance(t, tf.Tensor) and (t.dtype.is_integer or t.dtype.is_floating)
                                   for t in targets):
        return None
    return _held(batches, n)


def _held(batches: Batches, n: int) -> list[list[np.ndarray]]:
    """The flattened targets of the first `n` batches of `batches`, which it holds in memory."""
    # A pass read again says nothing more of the order, and its start would hide a sorted one's.
    ys = batches.dataset.take(min(n, batches.cardinality or n)).map(plain(lambda index, batch: tuple(tf.nest.flatten(
        keras.utils.unpack_x_y_sample_weight(batch)[1]))))
    return [list(y) for y in ys.as_numpy_iterator()]


def _integers(y: Any) -> bool:
    """Whether `y` is a dense tensor or array of integers (class labels per time step or pixel, say)."""
    dtype = getattr(y, "dtype", None)
    return not isinstance(y, (tf.SparseTensor, tf.RaggedTensor)) and dtype is not None and tf.as_dtype(dtype).is_integer


def batch_targets(batches: Any) -> list[list[Any]] | None:
    """Each batch's targets y, in order, as `tf.nest.flatten(y)` lists them (one per output), where
    every batch of `batches` (an iterable of batches, or arrays `data` as one batch) has y, of as
    many tensors or arrays; else None.

    Example:
        >>> [[a.tolist() for a in y] for y in batch_targets([(np.zeros((2, 1)), np.array([0, 1])),
        ...                                                  (np.zeros((2, 1)), np.array([2, 0]))])]
        [[[0, 1]], [[2, 0]]]
        >>> [len(y) for y in batch_targets([(np.zeros((2, 1)), (np.zeros(2), np.zeros(2)))])]
        [2]
        >>> batch_targets([(np.zeros((2, 1)),)]) is None
        True
    """
    ys = [tf.nest.flatten(keras.utils.unpack_x_y_sample_weight(batch)[1]) for batch in batches]
    same = all(len(y) == len(ys[0]) and all(t is not None for t in y) for y in ys)
    return ys if ys and same else None


def _from_iterable(data: Any, n_steps: int | None, model: Any = None,
                   on_read: Callable[[], None] | None = None) -> tf.data.Dataset:
    # Only n_steps batches are ever needed (None: all of them); a generator is read once and replayed
    # when cycled. The replay is pure TensorFlow (each leaf's batches joined, then sliced out again by
    # position), not `from_generator`: no Python call per batch, and none of its iterator bookkeeping,
    # which can print a stray `KeyError` traceback when an iterator over it is deleted.
    # Each batch is made tensors as it is read, so that the arrays it came as go (where nothing else holds them).
    batches = [tf.nest.map_structure(as_tensor, lists_as_tuples(b)) for b in _counted(
        itertools.islice(iter(data), n_steps), on_read)]
    if not batches:
        raise ValueError("`dataset` is empty: it yielded no batch. Pass data with at least one batch.")
    first = batches[0]
    for number, batch in enumerate(batches[1:], start=1):
        try:
            tf.nest.assert_same_structure(first, batch)
        except (ValueError, TypeError):
            raise ValueError(
                f"`dataset` must yield batches of one structure. Received: batch 0 is "
                f"{tf.nest.map_structure(lambda t: t.shape, first)} and batch {number} is "
                f"{tf.nest.map_structure(lambda t: t.shape, batch)}."
            ) from None
    columns = [list(leaves) for leaves in zip(*(tf.nest.flatten(b) for b in batches))]
    for column in columns:
        head = column[0]
        for number, t in enumerate(column):
            if head is None or t is None:  # an optional input, left out in every batch or in none
                if (head is None) != (t is None):
                    raise ValueError(
                        "`dataset` must yield batches whose inputs are left out (None) in every batch or in none. "
                        f"Received: {'None' if head is None else 'a tensor'} in batch 0 and "
                        f"{'None' if t is None else 'a tensor'} in batch {number}."
                    )
                continue
            if t.dtype != head.dtype or t.shape.rank != head.shape.rank or _kind(t) != _kind(head):
                raise ValueError(
                    "`dataset` must yield batches whose tensors keep one kind, dtype and rank. Received: "
                    f"a {_kind(head)} of {head.dtype.name} {head.shape} in batch 0 and a "
                    f"{_kind(t)} of {t.dtype.name} {t.shape} in batch {number}."
                )
    _fit_declared_inputs(batches, model)
    return tf.data.Dataset.range(len(batches)).map(plain(_replay(first, columns))).with_options(_replay_options())


def _batched_already(batch_size: int, data: Any) -> ValueError:
    """The error for a `batch_size` given with data read as batches (any but arrays and a `tf.data.Dataset`).

    Example:
        >>> str(_batched_already(32, ([[0.5, 1.0], [2.0, 0.0]], [0, 1])))[-97:]
        'Its parts are Python lists, which `fit` does not take either: make them arrays (`np.asarray(x)`).'
    """
    lists = isinstance(data, tuple) and any(isinstance(part, list) for part in data)  # not lists of arrays: those hold arrays
    return ValueError(
        f"`batch_size` applies only to arrays. Received: batch_size={batch_size} with a {type(data).__name__}, "
        "which is read as batches. " + ("For arrays, pass a tuple `(x, y)`, not a list. " if isinstance(data, list)
                                        else "") + "Drop it, or batch the data yourself."
        + (" Its parts are Python lists, which `fit` does not take either: make them arrays (`np.asarray(x)`)."
           if lists else ""))


def _pages(data: keras.utils.PyDataset, n: int | None, shuffle: bool, seed: int) -> Any:
    """A `keras.utils.PyDataset` as `as_batches` takes it, its batches in `tf_lrfinder.pages`'s order:
    the `n` batches a call reads (all where None), read by `read_pages` and held, where as many
    batches as the first take at most `RUNS_IN_MEMORY` bytes; else a `tf.data.Dataset` that reads
    each batch as the stream reaches it, as `fit` streams one (`_streamed_pages`), and holds no more
    than its queue: refining's runs then read them afresh, as from a pipeline too large to hold. (A
    sweep from 100 batches of 12 MiB images grew the process by 2.5 GiB held, against 0.14 GiB
    streamed and 0.14 GiB for `fit`.) Batches with sparse or ragged parts, or whose first two
    disagree in structure, kind or rank, are held whatever their size (their errors are
    `_from_iterable`'s)."""
    count = page_count(data)
    if count == 0:
        return iter(())  # "`dataset` is empty", as for any iterable
    order = page_order(count, None, shuffle, seed)
    head = order[:2] if isinstance(order, list) else [0, 1]  # the first two (one without end: in order)
    held = order[:n] if isinstance(order, list) else page_order(count, n, shuffle, seed)  # the first `n`
    first = read_page(data, head[0])
    if not isinstance(held, itertools.count) and len(held) * nbytes(first) <= RUNS_IN_MEMORY:
        return itertools.chain([first], read_pages(data, held[1:]))
    first = lists_as_tuples(first)
    second = lists_as_tuples(read_page(data, head[1])) if len(head) > 1 else first
    streamed = _streamed_pages(data, order, first, second)
    return read_pages(data, held) if streamed is None else streamed


def _streamed_pages(data: keras.utils.PyDataset, order: Any, first: Any, second: Any) -> tf.data.Dataset | None:
    """`data`'s batches in `order`, read as the stream reaches each, as many at once as `data` has
    workers (`workers_of`; in `tf.data`'s threads, where Keras would run processes for
    `use_multiprocessing=True`); None where the batches `first` and `second` do not allow it
    (`_pages`). Each part's shape is the two batches' where they agree, and None on the batch axis
    and where they differ, as `fit` judges it from two batches; a later batch that differs raises an
    error where the stream reaches it. An optional input left out (None) in both stays None."""
    try:
        tf.nest.assert_same_structure(first, second)
    except (ValueError, TypeError):
        return None
    pairs = list(zip(tf.nest.flatten(first), tf.nest.flatten(second)))
    gone = [a is None for a, _ in pairs]  # left out: not read through NumPy, None in each batch
    if any((a is None) != (b is None) for a, b in pairs):
        return None  # held, where `_from_iterable` tells which batch differs
    columns = [column for column, absent in zip(pairs, gone) if not absent]
    if any(is_sparse(t) or isinstance(t, (tf.SparseTensor, tf.RaggedTensor)) for column in columns for t in column):
        return None
    columns = [[np.asarray(t) for t in column] for column in columns]
    if any(a.ndim != b.ndim or a.ndim == 0 or a.dtype != b.dtype for a, b in columns):
        return None
    shapes = [tf.TensorShape([None] + [i if i == j else None for i, j in zip(a.shape[1:], b.shape[1:])])
              for a, b in columns]
    dtypes = [tf.string if a.dtype.kind in "OUS" else tf.as_dtype(a.dtype) for a, _ in columns]

    def read(index: np.ndarray) -> list[np.ndarray]:
        leaves = [np.asarray(t) for t in present_leaves(lists_as_tuples(read_page(data, int(index))))]
        return [leaf.astype(object) if dtype == tf.string else leaf for leaf, dtype in zip(leaves, dtypes)]

    def batch(index: tf.Tensor) -> Any:
        leaves = iter([tf.ensure_shape(t, shape) for t, shape in
                       zip(tf.numpy_function(read, [index], dtypes, stateful=True), shapes)])
        return tf.nest.pack_sequence_as(first, [None if absent else next(leaves) for absent in gone])

    indices = (tf.data.Dataset.counter() if isinstance(order, itertools.count)
               else tf.data.Dataset.from_tensor_slices(np.asarray(order, np.int64)))
    workers = workers_of(data)
    parallel = {"num_parallel_calls": workers, "deterministic": True} if workers > 1 else {}
    return indices.map(plain(batch), **parallel)


def _replay_options() -> tf.data.Options:
    """tf.data's options for a replay: none of its static optimizations, which serialize the
    pipeline's graph, the batches it captures included, each time an iterator is made."""
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    return options


def _kind(t: Any) -> str:
    if isinstance(t, tf.RaggedTensor):
        return f"RaggedTensor (ragged rank {t.ragged_rank})" if t.ragged_rank > 1 else "RaggedTensor"
    return "SparseTensor" if isinstance(t, tf.SparseTensor) else "tensor"


def _composite_leaf(column: list[Any]) -> Callable[[tf.Tensor], Any]:
    """`leaf(number)` for a column of ragged or sparse batches: the batches joined along the batch axis
    (sparse ones to the widest batch's shape beyond it) and each sliced out again by its rows."""
    rows = [int(t.nrows()) if isinstance(t, tf.RaggedTensor) else int(t.dense_shape[0]) for t in column]
    starts = tf.constant(np.cumsum([0] + rows[:-1]), tf.int64)
    sizes = tf.constant(rows, tf.int64)
    if isinstance(column[0], tf.RaggedTensor):
        joined = tf.concat(column, 0)
        return lambda number: joined[starts[number]:starts[number] + sizes[number]]
    joined = tf.sparse.concat(0, column, expand_nonconcat_dims=True)
    inner = joined.dense_shape[1:]
    shapes = {tuple(t.shape[1:]) for t in column}
    static = tf.TensorShape([None, *shapes.pop()] if len(shapes) == 1 else [None] * column[0].shape.rank)

    def leaf(number: tf.Tensor) -> tf.SparseTensor:
        t = tf.sparse.slice(joined, tf.concat([starts[number:number + 1], tf.zeros_like(inner)], 0),
                            tf.concat([sizes[number:number + 1], inner], 0))
        t.set_shape(static)
        return t

    return leaf


def _replay(first: Any, columns: list[list[tf.Tensor]]) -> Callable[[tf.Tensor], Any]:
    """`batch(number)`: the batch at that position, each leaf sliced out of its batches joined.

    A leaf whose shape beyond the batch axis is the same in every batch is joined along the batch
    axis; one whose shape varies (sequences of a length per batch, as `fit` takes from a generator)
    is joined flat and reshaped to each batch's own shape, its varying axes None in the spec.
    Ragged and sparse leaves are joined along the batch axis as they are, and sliced out so.
    """
    sliced = []
    for column in columns:
        head = column[0]
        if head is None:  # an optional input left out
            sliced.append(lambda number: None)
            continue
        if isinstance(head, (tf.RaggedTensor, tf.SparseTensor)):
            sliced.append(_composite_leaf(column))
            continue
        if head.shape.rank == 0:  # one value per batch: stacked, indexed
            sliced.append(lambda number, joined=tf.stack(column): joined[number])
            continue
        inner = [tuple(t.shape[1:]) for t in column]
        same = all(shape == inner[0] for shape in inner)
        sizes = [t.shape[0] if same else t.shape.num_elements() for t in column]
        joined = tf.concat(column if same else [tf.reshape(t, [-1]) for t in column], 0)
        starts = tf.constant(np.cumsum([0] + sizes[:-1]), tf.int64)
        shapes = None if same else tf.constant([t.shape.as_list() for t in column], tf.int64)
        static = tf.TensorShape([None] + [axis[0] if len(set(axis)) == 1 else None for axis in zip(*inner)])

        def leaf(number, j=joined, b=starts, n=tf.constant(sizes, tf.int64), shapes=shapes, static=static):
            t = j[b[number]:b[number] + n[number]]
            if shapes is None:
                return t
            t = tf.reshape(t, shapes[number])
            t.set_shape(static)
            return t

        sliced.append(leaf)

    def batch(number: tf.Tensor) -> Any:
        return tf.nest.pack_sequence_as(first, [leaf(number) for leaf in sliced])

    return batch


def _fit_declared_inputs(batches: list[Any], model: Any) -> None:
    """Raise a `ValueError` where a batch's input leaf does not fit the shape the model declares
    (its `keras.Input`s): batches may vary where the model leaves an axis free (None), as `fit`
    takes them, but a varying axis the model fixes would fail inside the compiled step."""
    for number, batch in enumerate(batches):
        for t, expected in _paired(_inputs(batch), model):
            declared = tf.TensorShape(expected.shape)
            if declared.rank == t.shape.rank and not declared[1:].is_compatible_with(t.shape[1:]):
                raise ValueError(
                    f"`dataset` must yield inputs of the shape the model takes, {tuple(declared)}. Received: "
                    f"an input of shape {tuple(t.shape)} in batch {number}. Pad or cut them to that shape, "
                    "or declare the varying axis as None in the model's `keras.Input`."
                )


def _paired(x: Any, model: Any) -> list[tuple[Any, Any]]:
    """The leaves of `x` (tensors or specs) paired with the model's declared inputs, as Keras's
    functional models pair them: a dict for inputs declared otherwise (a list of named inputs) by the
    inputs' names, its other keys unread; else in order, flattened. [] where the model declares no
    inputs, or the leaves cannot be paired with them (their counts differ).

    Example:
        >>> import keras
        >>> z, a = keras.Input((3,), name="z"), keras.Input((1,), name="a")
        >>> model = keras.Model([z, a], keras.layers.Concatenate()([z, a]))
        >>> [(leaf, t.name) for leaf, t in _paired({"a": "A", "z": "Z", "id": "I"}, model)]
        [('Z', 'z'), ('A', 'a')]
    """
    inputs = declared_inputs(model)
    pairs: list[tuple[Any, Any]] = []
    if isinstance(x, Mapping) and not _takes_a_dict(model):
        names = [t.name for t in inputs]
        if names and all(name in x for name in names):
            pairs = [(x[name], t) for name, t in zip(names, inputs)]
    if not pairs:
        leaves = tf.nest.flatten(x)
        pairs = list(zip(leaves, inputs)) if inputs and len(leaves) == len(inputs) else []
    return [(leaf, t) for leaf, t in pairs if not left_out(leaf)]


def _takes_a_dict(model: Any) -> bool:
    """Whether `model` declares its inputs as a dict (Keras's private `_inputs_struct`: a functional
    model's, as built), which Keras pairs with x by flattening both, not by name."""
    return isinstance(getattr(model, "_inputs_struct", None), Mapping)


def _check_ordered(spec: Any, model: Any) -> None:
    """Raise a `ValueError` where x is an OrderedDict whose keys are out of sorted order (as
    `tf.data.experimental.make_csv_dataset` yields a CSV file's columns) for a model that declares
    its inputs as a dict, and Keras flattens the OrderedDict in its own order (`keras.tree.flatten`,
    Keras 3.8 to 3.15): the model's inputs are flattened in the sorted order of their names, so each
    column would reach another input, in `fit` too, with no error where their dtypes agree."""
    x = _inputs(spec)
    if not (isinstance(x, OrderedDict) and _takes_a_dict(model)):
        return
    keys = list(x)
    if keras.tree.flatten(OrderedDict((key, key) for key in keys)) == sorted(keys):
        return  # read by name, as a dict is
    raise ValueError(
        f"`dataset`'s x is an OrderedDict whose keys are not in sorted order ({keys}), as "
        "`tf.data.experimental.make_csv_dataset` yields a file's columns, and the model takes a dict of inputs: "
        "Keras reads an OrderedDict in its own order and the model's inputs in the sorted order of their names, so "
        "each would reach another input, in `fit` too (with no error where their dtypes agree). Make x a plain "
        "dict: `dataset.map(lambda x, y: (dict(x), y))`, or `dict(x)` for arrays."
    )


def _inputs(spec: Any) -> Any:
    """The `x` of an element: the first of a tuple, or the element itself (x alone)."""
    return spec[0] if isinstance(spec, tuple) else spec


def _check_structure(spec: Any, targets: bool) -> None:
    with_targets = isinstance(spec, tuple) and len(spec) in (2, 3)
    x_alone = not isinstance(spec, tuple) or len(spec) == 1
    if not (with_targets or (x_alone and not targets)):
        hint = ""
        if isinstance(spec, dict):  # as TensorFlow Datasets yields them without `as_supervised=True`
            keys = list(spec)
            hint = (f" It yields dicts: map them to tuples, for example `dataset.map(lambda d: "
                    f"(d[{keys[0]!r}], d[{keys[-1]!r}]))`, or load it with `as_supervised=True`.")
        raise ValueError(
            "`dataset` must yield tuples `(x, y)` or `(x, y, sample_weight)`. "
            f"Received elements of structure: {_short(spec)}.{hint} For an autoencoder, yield `(x, x)` (x alone "
            "only for a model compiled without a loss, which computes its own)."
        )
    inputs = present_leaves(_inputs(spec))
    if any(leaf.shape.rank == 0 for leaf in inputs):
        lists = isinstance(_inputs(spec), tuple) and len(inputs) > 8  # not a model's few inputs
        raise ValueError(
            f"`dataset` looks unbatched: its inputs are scalars. Received element_spec: {_short(spec)}. "
            + ("Its batches look like nested Python lists, read as a structure of single numbers: yield "
               "NumPy arrays (`np.asarray(x)`, `np.asarray(y)`) instead." if lists else
               "Batch it first, for example `dataset.batch(32)`.")
        )


def _short(value: Any, most: int = 300) -> str:
    """`value`'s repr, cut to `most` characters."""
    text = repr(value)
    return text if len(text) <= most else text[:most] + "..."


def _check_batched(spec: Any, model: Any) -> None:
    """Compare input ranks with the model's declared inputs, where the model declares them. An input
    one axis short of an input declared with a last axis of 1 is batched: the model adds that axis
    itself, as Keras's functional models do (a column of a table, `keras.Input((1,))`)."""
    for leaf, expected in _paired(_inputs(spec), model):
        if (leaf.shape.rank is not None and leaf.shape.rank == len(expected.shape) - 1
                and expected.shape[-1] != 1):
            raise ValueError(
                f"`dataset` looks unbatched: an input has shape {leaf.shape} but the model expects "
                f"batches of shape {tuple(expected.shape)}. Batch it first, for example "
                "`dataset.batch(32)`."
            )


def as_batches(data: Any, model: Any, n_steps: int | None, batch_size: int | None = None, seed: int = 0,
               targets: bool = True, class_weight: Mapping[int, float] | None = None,
               shuffle: bool = True, on_read: Callable[[], None] | None = None) -> Batches:
    """Validate `data` and wrap it as an endless, indexed stream of batches.

    Args:
        data: a `tf.data.Dataset` of batches, a tuple of arrays `(x, y)` / `(x, y, sample_weight)`
            (`x` and `y` may be dicts or lists of arrays; anything with `__array__` and a `shape`, such
            as a pandas DataFrame, counts as an array) with `batch_size`, or any iterable of batches.
        model: the Keras model, to compare input ranks with (an unbatched dataset is a common slip).
        n_steps: how many batches each iterator over the stream will read (the sweep's, or a run's
            with its held-back batches); shorter data is cycled. Arrays longer than that are read
            only so far: past it, the stream starts again with a repeated index, as if cycled.
            None: all of the data (a generator is read to its end).
        batch_size: batch size for arrays; None for other data, or for a `tf.data.Dataset` the size of
            its batches (its first batch's: any other raises).
        targets: whether the loss needs targets. If False (a model compiled without a loss, which
            computes its own), `data` may hold x alone: an array or a dict of arrays with
            `batch_size`, or elements that are x alone or `(x,)`, as `fit(x)` takes them.
        class_weight: a weight per class index, as `fit` takes it: each batch gets the weights of
            its labels' classes as sample weights (`class_weights`). None or `{}`: no weights.
        seed: shuffle seed for arrays, and for a `keras.utils.PyDataset`'s order.
        shuffle: whether a `keras.utils.PyDataset`'s batches are read in a shuffled order, as `fit`
            reads training data (`tf_lrfinder.pages`), or in order, as it reads validation data.
            Arrays are shuffled either way, and other data read in its own order.
        on_read: called after each batch read to be held (a generator's, a PyDataset's: the
            finder's progress bar), if given; arrays and a `tf.data.Dataset` are not read here.

    Returns:
        A `Batches`.

    Raises:
        ValueError / TypeError: empty data, wrong structure, unbatched data, bad `batch_size`.

    Example:
        >>> x, y = np.zeros((10, 3), "float32"), np.zeros((10, 1), "float32")
        >>> b = as_batches((x, y), model=None, n_steps=5, batch_size=4)
        >>> b.cardinality, tuple(b.first[0].shape)
        (3, (4, 3))
    """
    if batch_size is not None:
        batch_size = checks.integer("batch_size", batch_size)
    if isinstance(data, keras.utils.PyDataset):  # as `fit` reads it: shuffled, by its workers
        if batch_size is not None:
            raise _batched_already(batch_size, data)
        data = _pages(data, n_steps, shuffle, seed)
    one_pass = None
    batched_by = None  # a dataset's batch size as given, checked against its first batch below
    if isinstance(data, tf.data.Dataset):
        batched_by, batch_size = batch_size, None
        ds = data
    elif holds_arrays(data):  # a tuple `(x, y[, sample_weight])`, or x alone (batches of x itself)
        if targets and not isinstance(data, tuple):
            raise TypeError(
                f"`dataset` must hold targets too: pass `(x, y)`, not x alone. Received: {type(data).__name__}"
            )
        one_pass, per_pass = from_arrays(data, batch_size, seed, n_steps)
        ds = one_pass(tf.constant(0, tf.int64))
    elif isinstance(data, tf.distribute.DistributedDataset):
        raise TypeError(
            "`dataset` is a distributed dataset (`strategy.experimental_distribute_dataset` or "
            "`distribute_datasets_from_function`), whose batches are already split across the replicas. The "
            "finder splits each batch itself: pass the tf.data.Dataset it was made from."
        )
    elif isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise TypeError(
            "`dataset` must be a tf.data.Dataset, a tuple of arrays `(x, y)`, or an iterable of "
            f"`(x, y)` batches. Received: {type(data).__name__}"
            + (f". Call it to get its batches: `{getattr(data, '__name__', 'make')}()`." if callable(data) else "")
        )
    else:
        if batch_size is not None:
            raise _batched_already(batch_size, data)
        ds = _from_iterable(data, n_steps, model, on_read)

    preprocess = preprocessing(model)
    if preprocess is not None:  # a KerasHub task's: strings to token ids, as its `fit` maps them over the batches
        if one_pass is not None:
            arrays_pass = one_pass
            one_pass = lambda number: arrays_pass(number).map(preprocess)
        ds = ds.map(preprocess)
    _check_structure(ds.element_spec, targets)
    _check_batched(ds.element_spec, model)
    _check_ordered(ds.element_spec, model)
    # tf.data's autotuner wakes at doubling intervals (10 ms, 20 ms, ...) and deleting an iterator
    # waits for its next wake-up: up to seconds after a sweep (measured: a 1000-step sweep of ~6 s
    # returned at 10.26 s). A sweep is too short for autotuning to pay anyway, so it is off here;
    # AUTOTUNE prefetch buffers still grow as they do without the autotuner.
    options = tf.data.Options()
    options.autotune.enabled = False
    ds = ds.with_options(options)
    # Peeking is the reliable emptiness test: cardinality can say INFINITE for repeat() of nothing.
    first = next(iter(ds.take(1)), None)
    if first is None:
        raise ValueError("`dataset` is empty: it yielded no batch. Pass data with at least one batch.")
    if batched_by is not None and samples(first) != batched_by:  # the same size as given does no harm
        raise ValueError(
            f"`batch_size` applies only to arrays; a tf.data.Dataset is already batched, and this one's first batch "
            f"holds {samples(first)} samples. Received: batch_size={batched_by}. Drop it (the dataset's batches are "
            "what the sweep trains on), or batch the dataset by it."
        )
    card = int(ds.cardinality()) if one_pass is None else per_pass
    cardinality = card if card >= 0 else None
    if one_pass is None:  # the user's data, or the replayed batches, as they are
        # `repeat` ends the stream when a pass yields nothing (data that can be read only once).
        passes = ds.enumerate().repeat()
    else:  # one pass after another, each shuffled by its number: never empty
        passes = tf.data.Dataset.counter().flat_map(plain(lambda number: one_pass(number).enumerate()))
    if isinstance(class_weight, Mapping) and not class_weight:
        class_weight = None  # `{}` weighs nothing, as in `fit`
    if class_weight is not None:
        weigh = class_weights(class_weight, first)
        first = weigh(*first)
        passes = passes.map(plain(lambda index, batch: (index, weigh(*batch))))
    stream = passes.prefetch(tf.data.AUTOTUNE).with_options(options)
    return Batches(stream, first, cardinality, rereads=isinstance(data, tf.data.Dataset))


def preprocessing(model: Any) -> Callable[..., Any] | None:
    """The model's `preprocess_samples`, where it is a KerasHub task with a `preprocessor` (turning
    strings into token ids, say): its `fit` and `evaluate` map it over the batches, of arrays or a
    `tf.data.Dataset`, before they reach the model, which refuses strings when called directly. None
    for other models. Mapped with `tf.data`'s default, autograph, as KerasHub maps it.

    Example:
        >>> preprocessing(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])) is None
        True
    """
    preprocess = getattr(model, "preprocess_samples", None)
    return preprocess if callable(preprocess) and getattr(model, "preprocessor", None) is not None else None


def samples(batch: Any) -> int:
    """How many samples `batch` holds: the leading size of its first tensor (sparse ones too).

    Example:
        >>> samples(({"a": np.zeros((5, 3))}, np.zeros(5)))
        5
    """
    return int(leading_rows(batch))


@dataclass(frozen=True)
class OnePass:
    """Up to `most` batches of `batches` (all of one pass where None), never past the end of one
    pass over the data, so that no sample counts twice: what a measurement reads (`refine`'s
    `validation_data`). Each iteration reads them afresh from the start, as `fit` reads its
    validation data at every epoch, in the same order (arrays: the first pass's shuffle), unless
    they are `held` (`pass_in_memory`): then it yields those.

    Example:
        >>> x, y = np.zeros((10, 3), "float32"), np.zeros((10, 1), "float32")
        >>> [len(b[0]) for b in OnePass(as_batches((x, y), model=None, n_steps=None, batch_size=4))]
        [4, 4, 2]
        >>> [len(b[0]) for b in OnePass(as_batches((x, y), model=None, n_steps=2, batch_size=4), most=2)]
        [4, 4]
    """

    batches: Batches
    most: int | None = None
    held: tuple[Any, ...] | None = None

    @property
    def length(self) -> int | None:
        """The batches a pass reads where that is known (`most`, or fewer in one pass), else None."""
        known = [n for n in (self.most, self.batches.cardinality) if n is not None]
        return min(known) if known else None

    def __iter__(self) -> Iterator[Any]:
        if self.held is not None:
            yield from self.held
            return
        length = self.length
        stream = self.batches.dataset if length is None else self.batches.dataset.take(length)
        for number, (index, batch) in enumerate(stream):
            if number and int(index) == 0:  # the data started again (a pass of unknown length)
                return
            yield batch


def pass_in_memory(one_pass: OnePass, budget: int | None = None, on_read: Callable[[], None] | None = None
                   ) -> OnePass:
    """`one_pass` with its batches read once and `held`, where it rereads a `tf.data.Dataset` and they
    take at most `budget` bytes (None: `RUNS_IN_MEMORY`, 512 MiB); else `one_pass`.

    Refining measures every run on one pass over `validation_data`: from a pipeline that decodes,
    every measurement would pay for it again (a default call measures five to nine times). Held,
    the pipeline runs for them once. A pass that outgrows `budget` while it is read, or that does
    not start with the batch `as_batches` read first (a pipeline that reshuffles, or one over a
    generator object, which a second read continues), is read afresh for each measurement
    instead, as `fit` reads it at every epoch. `on_read`, if given, is called after each batch read.

    Example:
        >>> b = as_batches(tf.data.Dataset.range(3).map(lambda i: (tf.fill([2, 1], i), i)), None, None)
        >>> held = pass_in_memory(OnePass(b))
        >>> [int(x[0, 0]) for x, _ in held], held.held is not None, pass_in_memory(OnePass(b), 8).held
        ([0, 1, 2], True, None)
    """
    if one_pass.held is not None or not one_pass.batches.rereads:
        return one_pass
    limit, held, total = RUNS_IN_MEMORY if budget is None else budget, [], 0
    for batch in _counted(one_pass, on_read):
        total += nbytes(batch)
        if total > limit:
            return one_pass
        held.append(batch)
    if not held or not _same(held[0], one_pass.batches.first):
        return one_pass
    return replace(one_pass, held=tuple(held))


def _same(a: Any, b: Any) -> bool:
    """Whether two batches hold the same values (sparse and ragged ones' components too)."""
    left, right = (tf.nest.flatten(t, expand_composites=True) for t in (a, b))
    return len(left) == len(right) and all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(left, right))


def class_weights(class_weight: Mapping[int, float], first: Any) -> Callable[..., tuple]:
    """A function `(x, y) -> (x, y, sample_weight)` that weighs each sample by its class, as
    `fit(class_weight=...)` does: the class is `y` itself (integer labels, `(batch,)` or
    `(batch, 1)`) or the index of its largest entry (one-hot rows). A class missing from
    `class_weight` weighs 1. Checked against the first batch, whose structure every batch shares.

    Raises:
        ValueError / TypeError: `class_weight` is not a mapping of class indices (integers from 0) to
            finite non-negative weights; or the batches hold sample weights already, several outputs'
            targets, or no targets, or labels that give a class per time step or pixel (`fit` refuses these too).

    Example:
        >>> weigh = class_weights({1: 5.0}, (np.zeros((3, 2)), np.array([0, 1, 2])))
        >>> weigh(np.zeros((3, 2)), np.array([0, 1, 2]))[2].numpy().tolist()
        [1.0, 5.0, 1.0]
        >>> weigh(np.zeros((2, 2)), np.array([[0.0, 1.0], [1.0, 0.0]]))[2].numpy().tolist()  # one-hot
        [5.0, 1.0]
        >>> weigh(np.zeros((3, 2)), np.array([[1], [0], [7]]))[2].numpy().tolist()  # (batch, 1); 7 unlisted
        [5.0, 1.0, 1.0]
    """
    if not isinstance(class_weight, Mapping) or not class_weight:
        raise TypeError(f"`class_weight` must be a dict from class index to weight, such as {{0: 1.0, 1: 5.0}}. "
                        f"Received: class_weight={class_weight!r}")
    for key, weight in class_weight.items():
        if not checks.is_integer(key) or key < 0:
            raise ValueError(f"`class_weight`'s keys must be class indices, integers from 0. Received: {key!r}")
        if not checks.is_number(weight) or not (np.isfinite(weight) and weight >= 0):
            raise ValueError(f"`class_weight`'s weights must be finite numbers of at least 0. Received: "
                             f"{key!r}: {weight!r}")
    if not isinstance(first, tuple) or len(first) != 2 or tf.nest.is_nested(first[1]):
        size = len(first) if isinstance(first, tuple) else 1
        what = ("sample weights already" if size == 3 else "no targets" if size < 2 else "targets for several outputs")
        raise ValueError(f"`class_weight` needs batches of `(x, y)` with one output's labels, as `fit` does; "
                         f"`dataset` holds {what}. Put the class weights into the sample weights instead.")
    labels = np.zeros(0) if isinstance(first[1], tf.SparseTensor) else np.asarray(first[1])
    if labels.ndim >= 3 or (labels.dtype.kind in "biuf" and labels.ndim == 2 and labels.shape[-1] > 1 and labels.size
                            and np.all(labels == np.round(labels)) and labels.max() > 1):
        # A class per position, not per sample: a sequence tagger's class indices (no one-hot row holds an entry
        # above 1), or a segmentation's labels. `fit` fails on both (Keras 3.8 to 3.15).
        raise ValueError(
            f"`class_weight` weighs each sample by one class, read from labels of shape (batch,) or (batch, 1) or "
            f"from one-hot rows; `dataset`'s first batch holds labels of shape {labels.shape}, a class per position "
            "(per time step or pixel), which `fit` cannot weigh by `class_weight` either. Weigh each position as "
            "sample weights instead: `(x, y, np.take(weights, y))` for class indices (`y.argmax(-1)` in place of y "
            "for one-hot ones), with `weights` each class's weight in a list."
        )
    table = tf.constant([float(class_weight.get(c, 1.0)) for c in range(int(max(class_weight)) + 1)], tf.float32)

    def weigh(x: Any, y: Any) -> tuple:
        y = tf.convert_to_tensor(y)
        if y.shape.rank >= 2:
            classes = tf.cond(tf.shape(y)[-1] > 1, lambda: tf.argmax(y, axis=-1, output_type=tf.int32),
                              lambda: tf.cast(tf.round(y[..., 0]), tf.int32))
        else:
            classes = tf.cast(tf.round(y), tf.int32)
        known = (classes >= 0) & (classes < len(table))
        weights = tf.where(known, tf.gather(table, tf.clip_by_value(classes, 0, len(table) - 1)), 1.0)
        return x, y, weights

    return weigh
