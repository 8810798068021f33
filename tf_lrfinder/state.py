"""Snapshot and restore of every variable a sweep can change.

The device snapshot keeps a backup of each variable next to it (on the same device) and copies with
one compiled call each way, with no round trip through host memory. The backups are emptied when the
snapshot is closed (the finder closes it after every sweep), so a finder holds no copy of the model
between sweeps. The host and disk snapshots are for models too large to hold twice on the
accelerator.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import tempfile
from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from .compiled import per_instance

LOCATIONS = ("device", "host", "disk")


GLOBAL_SEED_GENERATOR = "global_seed_generator"  # Keras's name for it in its global state


def keeps_global_random(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a finder's `method` so that it leaves the process's random state as it found it, however
    it ends, and draws the same unseeded `keras.random` numbers each time it is called.

    A layer that calls `keras.random` without a seed (noise added in `call`, say) draws from Keras's
    global `SeedGenerator`: a sweep advances its state, or creates it, seeding it from Python's
    `random`. Either way, without this, `fit` after the finder would draw other numbers than `fit`
    without it. So Python's `random` state is put back, and the generator's state, or its absence.
    So is NumPy's global random state (`keras.utils.set_random_seed` seeds it too), which the data
    a call reads may draw from: a generator, or a `keras.utils.PyDataset` that shuffles with it; and
    TensorFlow's global `tf.random.Generator` (`tf.random.get_global_generator()`), which a layer or
    a `tf.data` map may draw from: its state, or its absence.

    Where there is no global generator yet, the finder lends Keras one of its own for the call, made
    as Keras makes it and put back to where it started on every call: the step compiled in one call
    keeps drawing from the generator it was traced with, so a later call would otherwise go on from
    where the earlier one stopped, in a generator no longer global.

    Example:
        >>> import keras
        >>> class Draws:
        ...     @keeps_global_random
        ...     def __call__(self):
        ...         return float(keras.random.normal(()))
        >>> draws = Draws()
        >>> draws() == draws()
        True
    """
    from keras.src.backend.common import global_state  # private, to put them back (`_global_generators`)
    from tensorflow.python.ops import stateful_random_ops

    @functools.wraps(method)
    def kept(finder: Any, *args: Any, **kwargs: Any) -> Any:
        python, numpy = random.getstate(), np.random.get_state()
        generator, tf_generator = _global_generators()
        tf_state = None if tf_generator is None else tf_generator.state.numpy()
        value = None if generator is None else generator.state.numpy()  # a copy
        lent = finder.__dict__.get("_lent_generator")
        if generator is None and lent is None:
            made = keras.random.SeedGenerator()  # as Keras makes its global one, from Python's `random`
            lent = finder._lent_generator = (made, made.state.numpy())
        if lent is not None:  # a step traced in an earlier call may draw from it: from the same start
            lent[0].state.assign(lent[1])
        if generator is None:
            global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, lent[0])
        try:
            return method(finder, *args, **kwargs)
        finally:
            random.setstate(python)
            np.random.set_state(numpy)
            stateful_random_ops.global_generator = tf_generator
            if tf_generator is not None:
                tf_generator.state.assign(tf_state)
            global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, generator)
            if generator is not None:
                generator.state.assign(value)

    return kept


def all_layers(model) -> list:
    """`model` and every layer nested in it, by Keras 3's own walk (`_flatten_layers`).

    Example:
        >>> import keras
        >>> inner = keras.Sequential([keras.layers.Dense(1, name="d")], name="inner")
        >>> [layer.name for layer in all_layers(keras.Sequential([inner], name="outer"))]
        ['outer', 'inner', 'd']
    """
    flatten = getattr(model, "_flatten_layers", None)
    return list(flatten(include_self=True, recursive=True)) if flatten is not None else [model]


def stateful_layers(model) -> list:
    """The layers of `model` (itself and nested ones) made with `stateful=True` (stateful RNNs), whose
    states carry from one batch to the next.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((5, 3), batch_size=4), keras.layers.GRU(2, stateful=True)])
        >>> [type(layer).__name__ for layer in stateful_layers(model)]
        ['GRU']
    """
    return [layer for layer in all_layers(model) if getattr(layer, "stateful", False) is True]


def declared_inputs(model) -> list:
    """The model's declared inputs (its `keras.Input`s), or [] where it declares none (not built yet,
    or a subclassed model).

    Example:
        >>> import keras
        >>> [tuple(t.shape) for t in declared_inputs(keras.Sequential([keras.Input((3,), batch_size=8),
        ...                                                             keras.layers.Dense(1)]))]
        [(8, 3)]
    """
    return (getattr(model, "inputs", None) if getattr(model, "built", False) else None) or []


def present_leaves(structure: Any) -> list:
    """The leaves of `structure` (a batch, or a tf.data element's spec), without those left out: an
    optional input given as None (`keras.Input(optional=True)`, which `fit` takes so), and its spec
    in a tf.data element. The first of them gives a batch's rows.

    Example:
        >>> import numpy as np
        >>> [leaf.shape for leaf in present_leaves(({"a": None, "b": np.zeros((4, 2))}, np.zeros(4)))]
        [(4, 2), (4,)]
    """
    return [leaf for leaf in tf.nest.flatten(structure) if not left_out(leaf)]


def leading_rows(batch: Any) -> tf.Tensor:
    """How many rows `batch` holds (a scalar tensor; in a traced function too): the leading size of
    its first leaf given (`present_leaves`), sparse and ragged ones too.

    Example:
        >>> import numpy as np
        >>> int(leading_rows(({"a": None, "b": np.zeros((5, 3))}, np.zeros(5))))
        5
    """
    return tf.shape(present_leaves(batch)[0])[0]


def left_out(leaf: Any) -> bool:
    """Whether `leaf` is an optional input left out: None, or its spec in a tf.data element."""
    return leaf is None or type(leaf).__name__ == "NoneTensorSpec"


def untracked_variables(model) -> list:
    """The variables of `model`'s layers that are not in `model.variables`, which a sweep can change
    all the same: the states a stateful RNN carries from one batch to the next (Keras creates them
    outside its tracking), and a `tf.Variable` or the state of a `tf.random.Generator` set as a
    layer's attribute (Keras 2 tracked those; Keras 3 tracks only its own variables). A layer's
    attributes are searched, through lists, tuples and dicts nested up to `CONTAINER_DEPTH` deep, and
    a `tf.Module` among them gives its own variables (`tf.Module.variables`, its nested ones too).

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((5, 3), batch_size=4), keras.layers.GRU(2, stateful=True)])
        >>> [tuple(v.shape) for v in untracked_variables(model)], len(model.variables)
        ([(4, 2)], 4)
    """
    seen = {id(_tf_variable(v)) for v in model.variables}
    found = []
    for layer in all_layers(model):
        for value in vars(layer).values():
            for v in _variables_in(value, CONTAINER_DEPTH):
                key = id(_tf_variable(v))
                if key not in seen:  # `Bidirectional` lists its two RNNs' states again: each is taken once
                    seen.add(key)
                    found.append(v)
    return found


CONTAINER_DEPTH = 3  # lists, tuples and dicts searched within a layer's attributes, nested this deep


def _variables_in(value: Any, depth: int) -> list:
    """The variables `value` holds: itself, a `tf.random.Generator`'s state, a `tf.Module`'s own
    variables, or those in a list, tuple or dict of them, `depth` containers deep at most. A Keras
    layer is left to `all_layers`' walk; any other object is not searched."""
    if isinstance(value, tf.random.Generator):
        return [value.state]  # its numbers come from its state
    if isinstance(value, (tf.Variable, keras.Variable)):
        return [value]
    if isinstance(value, keras.layers.Layer):
        return []
    if isinstance(value, tf.Module):
        return list(value.variables)
    if isinstance(value, dict):
        value = list(value.values())
    if depth > 0 and isinstance(value, (list, tuple)):
        return [v for item in value for v in _variables_in(item, depth - 1)]
    return []


def _tf_variable(v):
    """The `tf.Variable` behind a Keras variable (or the variable itself)."""
    return getattr(v, "value", v) if not isinstance(v, tf.Variable) else v


def components(v) -> list:
    """The `tf.Variable`s that hold `v`'s values: one per replica for a variable created under a
    `tf.distribute` strategy (`MirroredStrategy`...), whose replicas may hold different values
    (BatchNorm's moving statistics, aggregated by NONE), else `v`'s one variable.

    Example:
        >>> with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        ...     mirrored = keras.Variable(1.0)
        >>> len(components(mirrored)), len(components(keras.Variable(1.0)))
        (1, 1)
    """
    tv = _tf_variable(v)
    return list(tv.values) if isinstance(tv, tf.distribute.DistributedValues) else [tv]


def written_variables(function: Any, *args: Any) -> list:
    """The variables a compiled function may change when called on `args` (values or specs): those
    its graph captures, less the ones it only reads, by TensorFlow's own analysis (the one its
    automatic control dependencies order ops by; an op it does not know counts as writing).

    So a variable no Keras tracking reaches, held in a plain object, a closure or a loss, is found
    wherever the compiled step writes to it, and one it only reads (a frozen teacher model called in
    a distillation loss) is not. Traces `function` for `args` if it was not yet (the call that
    follows with such arguments uses that trace). A function that is not compiled (a model with
    `run_eagerly=True`) is traced in a `tf.function` of its own, only to be read, never run; where
    that trace fails (a layer that reads a tensor's value in Python, which is why a model runs
    eagerly), there is no graph to read: [].

    Example:
        >>> counter, scale = tf.Variable(0), tf.Variable(2.0)
        >>> @tf.function
        ... def step(x):
        ...     counter.assign_add(1)
        ...     return x * scale
        >>> [v.name for v in written_variables(step, tf.TensorSpec([], tf.float32))]
        ['Variable:0']
        >>> def eager_step(x):  # not compiled: traced to be read, not run
        ...     counter.assign_add(1)
        ...     return x * scale
        >>> [v.name for v in written_variables(eager_step, tf.TensorSpec([], tf.float32))], int(counter.numpy())
        (['Variable:0'], 0)
        >>> written_variables(lambda x: x.numpy(), tf.TensorSpec([], tf.float32))  # cannot be traced
        []
    """
    if hasattr(function, "get_concrete_function"):
        graph = function.get_concrete_function(*args).graph
    else:
        try:
            graph = per_instance(function).get_concrete_function(*args).graph
        except Exception:  # it runs eagerly because it cannot be traced: no graph to read
            return []
    try:  # private: TensorFlow has no public form of this analysis
        from tensorflow.python.framework.auto_control_deps_utils import get_read_only_resource_input_indices_graph
        read_only = {id(graph.inputs[i]) for i in get_read_only_resource_input_indices_graph(graph)}
    except ImportError:  # every variable captured counts as written: more is saved, nothing is missed
        read_only = set()
    by_handle = {id(v.handle): v for v in graph.variables}
    return [by_handle[id(outer)] for outer, inner in graph.captures
            if id(outer) in by_handle and id(inner) not in read_only]


def global_random_variables() -> list:
    """The states of the process's global random generators that exist now: Keras's global
    `SeedGenerator` (or the one `keeps_global_random` lends it for a call) and TensorFlow's global
    `tf.random.Generator`. `keeps_global_random` puts them back after a call, not the snapshot.

    Example:
        >>> len(global_random_variables()) <= 2  # the two, where they exist
        True
    """
    return [g.state for g in _global_generators() if g is not None]


def _global_generators() -> tuple[Any, Any]:
    """Keras's global `SeedGenerator` and TensorFlow's global `tf.random.Generator`, each None where
    it does not exist yet. Private state, read so: neither library has a public way to read its
    generator that leaves an absent one absent (each makes one when asked)."""
    from keras.src.backend.common import global_state
    from tensorflow.python.ops import stateful_random_ops

    return global_state.get_global_attribute(GLOBAL_SEED_GENERATOR), stateful_random_ops.global_generator


class Snapshot:
    """Saved values of a fixed list of variables.

    Args:
        variables: the variables to save and restore. A variable created under a `tf.distribute`
            strategy is saved replica by replica, since its replicas may differ.
        location: `"device"` (copies beside the variables, fastest), `"host"` (numpy arrays in host
            memory) or `"disk"` (files in a temporary folder, removed by `close`).

    Example:
        >>> v = tf.Variable([1.0, 2.0])
        >>> snap = Snapshot([v]); snap.save(); _ = v.assign([5.0, 5.0]); snap.restore()
        >>> v.numpy().tolist()
        [1.0, 2.0]
    """

    def __init__(self, variables: Sequence, location: str = "device") -> None:
        if location not in LOCATIONS:
            raise ValueError(f"`snapshot` must be one of {LOCATIONS}. Received: snapshot={location!r}")
        self._sources = [_tf_variable(v) for v in variables]  # what `matches` compares
        self.variables = [c for v in variables for c in components(v)]  # what is saved: each replica's
        self.location = location
        self._copies: list[tf.Variable] | None = None
        self._filled = False
        self._arrays: list[np.ndarray] | None = None
        self._folder: str | None = None

        # Compiled copy and empty, per snapshot (from its own closure: a module-level function
        # would keep every model alive through its traces). Their arguments are always the same
        # variables, so `copy` traces once per direction and `empty` once.
        def copy(sources, targets):
            for source, target in zip(sources, targets):
                target.assign(source)

        def empty(targets):
            for target in targets:
                target.assign(tf.zeros([0], target.dtype))

        def copy_back_and_empty(sources, targets):
            copy(sources, targets)  # automatic control dependencies order each read before its empty
            empty(sources)

        self._copy = per_instance(copy)
        self._empty = per_instance(empty)
        self._copy_back_and_empty = per_instance(copy_back_and_empty)

    def matches(self, variables: Sequence) -> bool:
        """Whether this snapshot covers exactly `variables` (so it can be reused).

        Example:
            >>> a, b = tf.Variable(1.0), tf.Variable(2.0)
            >>> Snapshot([a, b]).matches([a, b]), Snapshot([a, b]).matches([b, a])
            (True, False)
        """
        return len(variables) == len(self._sources) and all(
            _tf_variable(a) is b for a, b in zip(variables, self._sources)
        )

    @property
    def nbytes(self) -> int:
        """Bytes of the saved values (every replica's, for a variable under a `tf.distribute` strategy).

        Example:
            >>> Snapshot([tf.Variable(tf.zeros([10, 10]))]).nbytes  # 100 float32
            400
        """
        return sum(v.shape.num_elements() * v.dtype.size for v in self.variables)

    def save(self) -> None:
        """Record the current values (again, if called again: the last save is what `restore` puts back).

        Example:
            >>> v = tf.Variable(1.0); snap = Snapshot([v], "host")
            >>> snap.save(); _ = v.assign(2.0); snap.save(); _ = v.assign(3.0); snap.restore()
            >>> float(v.numpy())
            2.0
        """
        if self.location == "device":
            if self._copies is None:  # shape-free backups, so that `close` can empty them
                self._copies = []
                for v in self.variables:
                    with tf.device(v.device):
                        self._copies.append(tf.Variable(tf.zeros([0], v.dtype), shape=tf.TensorShape(None),
                                                        trainable=False, name="lrf_backup"))
            try:
                self._copy(self.variables, self._copies)
            except tf.errors.ResourceExhaustedError:  # the device is full: free the copies made so far
                self._empty(self._copies)
                raise
            self._filled = True
        elif self.location == "host":
            self._arrays = [v.numpy() for v in self.variables]
        else:
            self._folder = self._folder or tempfile.mkdtemp(prefix="tf_lrfinder_")
            for i, v in enumerate(self.variables):
                np.save(os.path.join(self._folder, f"{i}.npy"), v.numpy())

    def restore(self) -> None:
        """Put the recorded values back, bit for bit (the snapshot stays filled: it can restore again).

        Raises:
            RuntimeError: nothing was saved, or the snapshot was closed.

        Example:
            >>> v = tf.Variable([0.5, 0.25]); snap = Snapshot([v], "disk"); snap.save()
            >>> _ = v.assign([9.0, 9.0]); snap.restore(); v.numpy().tolist()
            [0.5, 0.25]
            >>> snap.close()
        """
        if not self._filled and self._arrays is None and self._folder is None:
            raise RuntimeError("Snapshot.restore() called before save() (or after close()).")
        if self.location == "device":
            self._copy(self._copies, self.variables)
        elif self.location == "host":
            for v, a in zip(self.variables, self._arrays):
                v.assign(a)
        else:
            for i, v in enumerate(self.variables):
                v.assign(np.load(os.path.join(self._folder, f"{i}.npy"), mmap_mode="r"))

    def restore_and_close(self) -> None:
        """`restore` then `close`, in one compiled call for the device snapshot.

        Example:
            >>> v = tf.Variable(1.0); snap = Snapshot([v]); snap.save(); _ = v.assign(5.0)
            >>> snap.restore_and_close(); float(v.numpy())
            1.0
            >>> snap.restore()
            Traceback (most recent call last):
            ...
            RuntimeError: Snapshot.restore() called before save() (or after close()).
        """
        if self.location == "device" and self._filled:
            self._copy_back_and_empty(self._copies, self.variables)
            self._filled = False
        else:
            self.restore()
        self.close()

    def close(self) -> None:
        """Free what the snapshot holds (device backups, host arrays, the disk folder).

        Example:
            >>> v = tf.Variable(1.0); snap = Snapshot([v], "disk"); snap.save()
            >>> folder = snap._folder; snap.close(); os.path.exists(folder)
            False
        """
        if self._filled:
            self._empty(self._copies)
            self._filled = False
        self._arrays = None
        if self._folder:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

