"""A `keras.utils.PyDataset` read as `fit` reads it: its batches in a shuffled order, by its workers.

`fit` reads a `PyDataset` of known length in a new random order of its batches each epoch (its
default `shuffle=True`), and with `workers` above 1 reads them in that many threads (processes with
`use_multiprocessing=True`), a queue of them ahead of the step. The finder read the batches in
their own order, one at a time. So a `PyDataset` whose batches follow its files (a folder per
class, say) gave the sweep one class after another where `fit` mixes them, and one that loads or
decodes each batch from disk was read at a fraction of the speed `fit` reads it: with 8 workers
and 20 ms per batch, `fit` took 0.49 s for 100 steps and the sweep 3.15 s (a scratch check).

The finder reads them so: in a permutation of the batches drawn from a fixed seed (`page_order`;
validation data in order, as `fit` reads it), by a pool of `workers` threads or processes
(`read_pages`), only the batches a call needs. Where those would take more memory than refining
holds a pipeline's batches in, it streams them instead (`tf_lrfinder.data`), as `fit` does.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import multiprocessing.pool
from typing import Any, Iterable, Iterator

import keras
import numpy as np

_SHARED: list[Any] = []  # in a pool's worker process, the PyDataset it reads from


def page_count(data: keras.utils.PyDataset) -> int | None:
    """How many batches `data` holds: its `num_batches` (Keras's default is its `len`), or None for
    one without end (one that has neither, as Keras reads it).

    Example:
        >>> class Pages(keras.utils.PyDataset):
        ...     def __len__(self):
        ...         return 3
        ...     def __getitem__(self, i):
        ...         return np.full((2, 1), i), np.zeros(2)
        >>> page_count(Pages())
        3
    """
    try:
        count = data.num_batches
    except NotImplementedError:  # neither `num_batches` nor `__len__`
        return None
    return None if count is None else int(count)


def page_order(count: int | None, most: int | None, shuffle: bool, seed: int = 0) -> Iterable[int]:
    """The indices of the batches to read: up to `most` of them (all where None), in an order
    shuffled from `seed` where `shuffle` and the count is known, else in order (without end where
    both are None).

    Example:
        >>> list(page_order(5, None, shuffle=False)), list(page_order(None, 3, shuffle=True))
        ([0, 1, 2, 3, 4], [0, 1, 2])
        >>> sorted(page_order(5, 3, shuffle=True)) != [0, 1, 2]  # 3 of the 5, drawn
        True
    """
    if count is None:
        return itertools.count() if most is None else range(most)
    indices = np.random.default_rng(seed).permutation(count) if shuffle else np.arange(count)
    return [int(i) for i in indices[:most]]


def _share(data: keras.utils.PyDataset) -> None:
    """A worker process's initializer: the PyDataset it reads from."""
    _SHARED[:] = [data]


def _page(index: int) -> Any:
    """One batch, read in a worker process (`read_page`)."""
    return read_page(_SHARED[0], index)


def read_page(data: keras.utils.PyDataset, index: int) -> Any:
    """`data[index]` as `fit` reads it (Keras's own reader, `PyDataset.__getitem__`'s rules): an
    array alone as `(x,)`, which the model's own `train_step` is handed (`tf_lrfinder.own_step`);
    anything else as it is.

    Example:
        >>> class Pages(keras.utils.PyDataset):
        ...     def __len__(self):
        ...         return 1
        ...     def __getitem__(self, i):
        ...         return np.zeros((2, 1))
        >>> type(read_page(Pages(), 0)).__name__
        'tuple'
    """
    batch = data[index]
    return (batch,) if isinstance(batch, np.ndarray) else batch


def workers_of(data: keras.utils.PyDataset) -> int:
    """How many workers read `data`'s batches at once where Keras's own reader runs a pool of them:
    `data.workers` where that is above 1, or where it is 1 with `use_multiprocessing=True`; else 0.

    Example:
        >>> workers_of(keras.utils.PyDataset(workers=4)), workers_of(keras.utils.PyDataset())
        (4, 0)
    """
    workers = data.workers
    return workers if workers > 1 or (workers > 0 and data.use_multiprocessing) else 0


def read_pages(data: keras.utils.PyDataset, indices: Iterable[int]) -> Iterator[Any]:
    """The batches of `data` at `indices` (`page_order`), in that order, each as `read_page` reads
    it, and by `data`'s own `workers` where it has more than one (threads; processes with
    `use_multiprocessing=True`, which then receive `data` as Keras's reader gives it to them). A
    batch that raises an error raises it here. `data`'s `on_epoch_begin` and `on_epoch_end` are
    not called: they may change the user's object (reshuffle its samples), and a call leaves
    everything as it was.

    Args:
        data: a `keras.utils.PyDataset`.
        indices: the batches to read; a pool reads a list or range of them, to its end once it starts.

    Returns:
        An iterator over the batches.

    Example:
        >>> class Pages(keras.utils.PyDataset):
        ...     def __len__(self):
        ...         return 4
        ...     def __getitem__(self, i):
        ...         return np.full((2, 1), i), np.zeros(2)
        >>> [int(x[0, 0]) for x, _ in read_pages(Pages(), range(4))]
        [0, 1, 2, 3]
        >>> [int(x[0, 0]) for x, _ in read_pages(Pages(workers=2), [3, 1])]
        [3, 1]
    """
    workers = workers_of(data)
    if not workers or not isinstance(indices, (list, range)):
        return (read_page(data, i) for i in indices)
    if data.use_multiprocessing:  # each process is given `data` once, as Keras's reader gives it
        with multiprocessing.Pool(workers, initializer=_share, initargs=(data,)) as readers:
            return _handed_over(readers.map(_page, indices, chunksize=1))
    with multiprocessing.pool.ThreadPool(workers) as readers:
        return _handed_over(readers.map(functools.partial(read_page, data), indices, chunksize=1))


def _handed_over(batches: list[Any]) -> Iterator[Any]:
    """`batches` in order, each let go of as it is handed over: the reader that makes them tensors
    holds each batch once, not twice."""
    batches.reverse()
    while batches:
        yield batches.pop()
