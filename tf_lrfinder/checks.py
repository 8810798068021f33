"""Checks of what users hand the finder, each raising before anything is changed.

The finder calls these at the door (`LRFinder.__post_init__`, `LRFinder.__call__`) or just before
its snapshot (`tf_lrfinder.preflight`). Each error names the argument, says what was received and,
where there is one, the fix, in Keras's own format.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping
from typing import Any, Callable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import tree

from .labels import label_fix, label_range, labels_outside
from .own_step import overrides
from .state import all_layers, components, stateful_layers
from .step import PARTS, UnweighableLoss, compute_loss, created_under, nonfinite_parts


# How to go on where refining cannot: in a call (`refine=False`) or after one (no `finder.refine`).
WITHOUT_REFINING = ("To go on without refining, pass refine=False to the finder, or leave out `finder.refine` after "
                    "its sweep (`finder.suggest()` reads the sweep recorded).")


class Unmeasurable(ValueError):
    """Refining cannot measure its runs on this model: `why`, and `fix`, what would let it. Raised
    where refining is asked for (`refine=True`, `finder.refine`); where a call refines by default,
    `LRFinder.__call__` warns `skipped` instead and returns the sweep's reading.

    Example:
        >>> error = Unmeasurable("Its `test_step` fails.", "Give the model a `test_step`")
        >>> str(error)
        'Its `test_step` fails. Give the model a `test_step`. To go on without refining, pass refine=False to the finder, or leave out `finder.refine` after its sweep (`finder.suggest()` reads the sweep recorded). Nothing was changed.'
        >>> error.skipped  # doctest: +ELLIPSIS
        "Its `test_step` fails. So this call skips refining and returns the sweep's reading alone, ... pass refine=False."
    """

    def __init__(self, why: str, fix: str):
        super().__init__(f"{why} {fix}. {WITHOUT_REFINING} Nothing was changed.")
        self.skipped = (f"{why} So this call skips refining and returns the sweep's reading alone, unchecked by "
                        f"short runs, as refine=False does. {fix} to have it checked; to go without this warning, "
                        "pass refine=False.")


def is_number(value: Any) -> bool:
    """Whether `value` is a real number, Python's or NumPy's, and not a bool.

    Example:
        >>> is_number(np.float32(0.5)), is_number(3), is_number(True), is_number("4")
        (True, True, False, False)
    """
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def is_integer(value: Any) -> bool:
    """Whether `value` is an integer, Python's or NumPy's, and not a bool.

    Example:
        >>> is_integer(np.int64(32)), is_integer(32.0), is_integer(False)
        (True, False, False)
    """
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def received(name: str, value: Any) -> str:
    """`name=value` for an error message: an array, tensor, table or dataset as its type (and shape),
    not its numbers; and where `value` looks like data, a hint on where data go (a call written as
    `fit` is, `finder(x, y)`, puts `y` in the place of `min_lr`, and `finder(train, val)` puts the
    validation data there).

    Example:
        >>> received("min_lr", "small")
        "min_lr='small'"
        >>> received("min_lr", np.zeros((512, 3)))
        'min_lr=ndarray of shape (512, 3). If this is data: pass the training data as one tuple, the first argument (`finder((x, y), batch_size=32)` or `finder.refine((x, y), batch_size=32)`, not `finder(x, y)` as `fit` takes them), and validation data as `validation_data=`.'
    """
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) >= 1:
        shown = f"{type(value).__name__} of shape {tuple(shape)}"
    elif isinstance(value, (list, tuple, dict)) and len(value) > 1:
        shown = f"{type(value).__name__} of {len(value)} items"
    elif isinstance(value, tf.data.Dataset):
        shown = type(value).__name__
    else:
        return f"{name}={value!r}"
    return (f"{name}={shown}. If this is data: pass the training data as one tuple, the first argument "
            "(`finder((x, y), batch_size=32)` or `finder.refine((x, y), batch_size=32)`, not `finder(x, y)` as "
            "`fit` takes them), and validation data as `validation_data=`.")


def positive_finite(name: str, value: Any) -> None:
    """Raise unless `value`, the argument `name`, is a finite positive number (not a bool).

    Example:
        >>> positive_finite("min_lr", 1e-7)
        >>> positive_finite("max_lr", 0)
        Traceback (most recent call last):
        ...
        ValueError: `max_lr` must be finite and positive. Received: max_lr=0
    """
    if not is_number(value):
        raise TypeError(f"`{name}` must be a number. Received: {received(name, value)}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be finite and positive. Received: {name}={value!r}")


def integer(name: str, value: Any, least: int = 1, why: str = "") -> int:
    """`value`, the argument `name`, as an `int`; raise unless it is an integer (Python's or NumPy's,
    not a bool) of at least `least` (a positive one by default). `why` follows the rule in the message.

    Example:
        >>> integer("batch_size", np.int64(32))
        32
        >>> integer("extend", 0, least=0)
        0
        >>> integer("n_steps", 3, least=5, why=": fewer steps are too few to suggest anything")
        Traceback (most recent call last):
        ...
        ValueError: `n_steps` must be an integer of at least 5: fewer steps are too few to suggest anything. Received: n_steps=3
    """
    if not is_integer(value) or value < least:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(least, f"an integer of at least {least}")
        raise ValueError(f"`{name}` must be {kind}{why}. Received: {received(name, value)}")
    return int(value)


def share(name: str, value: Any) -> float:
    """`value`, the argument `name`, as a `float`; raise unless it is a number in [0, 1) (not a bool).

    Example:
        >>> share("smoothing", np.float32(0.5))
        0.5
        >>> share("tolerance", 1)
        Traceback (most recent call last):
        ...
        ValueError: `tolerance` must be in [0, 1). Received: tolerance=1
    """
    if not is_number(value) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be in [0, 1). Received: {received(name, value)}")
    return float(value)


def by_name(argument: str, name: str, get: Callable[[str], Any], examples: str) -> Any:
    """What Keras's `get` makes of `name` (as `compile` reads it), or an error naming `argument`.

    Example:
        >>> type(by_name("optimizer", "sgd", keras.optimizers.get, "'adam' or 'sgd'")).__name__
        'SGD'
        >>> by_name("loss_fn", "msee", keras.losses.get, "'mse'")
        Traceback (most recent call last):
        ...
        ValueError: `loss_fn` is not a name Keras knows. Received: loss_fn='msee'. Use one such as 'mse', or pass the object itself.
    """
    try:
        return get(name)
    except ValueError:
        raise ValueError(
            f"`{argument}` is not a name Keras knows. Received: {argument}={name!r}. Use one such as "
            f"{examples}, or pass the object itself."
        ) from None


def optimizer_knows(optimizer: keras.optimizers.Optimizer, variables: list[Any]) -> None:
    """Raise if `optimizer` was built for other variables (say, before layers were unfrozen): Keras
    would refuse them only once a sweep had begun. Does nothing where Keras lacks its check.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3), keras.layers.Dense(1)])
        >>> optimizer = keras.optimizers.Adam()
        >>> optimizer.build(model.layers[-1].trainable_variables)  # the last layer only
        >>> optimizer_knows(optimizer, model.layers[-1].trainable_variables)
        >>> optimizer_knows(optimizer, model.trainable_variables)
        Traceback (most recent call last):
        ...
        ValueError: `optimizer` was built for other variables than the model's trainable ones (were layers frozen or unfrozen since it was used?). Pass a new optimizer, for example `finder.optimizer = keras.optimizers.Adam()`, or compile the model again.
    """
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's holds the slots
    check = getattr(optimizer, "_check_variables_are_known", None)  # Keras 3's own check (private)
    if check is None:
        return
    try:
        check(variables)
    except ValueError:
        raise ValueError(
            "`optimizer` was built for other variables than the model's trainable ones (were layers "
            "frozen or unfrozen since it was used?). Pass a new optimizer, for example "
            "`finder.optimizer = keras.optimizers.Adam()`, or compile the model again."
        ) from None


def same_strategy(model: keras.Model, optimizer: keras.optimizers.Optimizer, compiled: bool) -> None:
    """Raise unless `optimizer` was created under the `tf.distribute` strategy `model` was created
    under (if any), or outside any where the model was: its variables must be that strategy's, and
    Keras would fail once a sweep had begun ("Mixing different tf.distribute.Strategy objects", or
    'Need to be inside "with strategy.scope()"', as `fit` fails on it).

    Args:
        compiled: whether `optimizer` is the model's compiled one (the hint then says to compile
            inside the scope).

    Example:
        >>> with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        ...     model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        ...     inside = keras.optimizers.Adam()
        >>> same_strategy(model, inside, compiled=False)
        >>> same_strategy(model, keras.optimizers.Adam(), compiled=False)
        Traceback (most recent call last):
        ...
        ValueError: `optimizer` (Adam) was not created under the OneDeviceStrategy that `model` was created under, so its variables cannot be that strategy's (`fit` fails on it too). Create it inside the `with strategy.scope():` block, or pass its name (optimizer='adam'): the finder then creates it under the model's strategy.
        >>> same_strategy(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]), inside, compiled=False)
        Traceback (most recent call last):
        ...
        ValueError: `optimizer` (Adam) was created under a OneDeviceStrategy, but `model` outside any strategy, so their variables cannot work together (`fit` fails on it too). Create the model inside the `with strategy.scope():` block too, or the optimizer outside it.
    """
    from tensorflow.python.distribute import distribute_lib  # private: no public name for the default

    model_strategy = created_under(model)
    optimizer_strategy = getattr(optimizer, "_distribution_strategy", None)  # Keras: the one at creation
    what = type(optimizer).__name__
    if model_strategy is None and optimizer_strategy not in (None, distribute_lib._get_default_strategy()):
        raise ValueError(
            f"`optimizer` ({what}) was created under a {type(optimizer_strategy).__name__}, but `model` outside "
            "any strategy, so their variables cannot work together (`fit` fails on it too). Create the model "
            "inside the `with strategy.scope():` block too, or the optimizer outside it."
        )
    if model_strategy is None or optimizer_strategy is None or optimizer_strategy is model_strategy:
        return
    hint = ("Compile the model inside the `with strategy.scope():` block, as `fit` needs." if compiled else
            "Create it inside the `with strategy.scope():` block, or pass its name "
            f"(optimizer={what.lower()!r}): the finder then creates it under the model's strategy.")
    raise ValueError(
        f"`optimizer` ({what}) was not created under the {type(model_strategy).__name__} that `model` was "
        f"created under, so its variables cannot be that strategy's (`fit` fails on it too). {hint}"
    )


def average_written(error: Exception, optimizer: keras.optimizers.Optimizer, model: keras.Model) -> ValueError | None:
    """A `ValueError` with the fix, to raise instead of `error` where tracing the finder's step failed
    because Keras cannot write `optimizer`'s moving average (`use_ema=True`) into the weights every
    `ema_overwrite_frequency` steps under `model`'s strategy; None for any other error.

    Keras's write is a `merge_call` inside a conditional, which a `MirroredStrategy` refuses, of one
    replica or several ("`merge_call` called while defining a new graph or a tf.function"); `fit`
    fails on it too (Keras 3.8 and 3.15). The step is traced before any step runs.

    Example:
        >>> optimizer = keras.optimizers.Adam(use_ema=True, ema_overwrite_frequency=5)
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> error = RuntimeError("`merge_call` called while defining a new graph or a tf.function.")
        >>> print(average_written(error, optimizer, model))  # doctest: +ELLIPSIS
        `optimizer` (Adam) writes its moving average into the weights every 5 steps (use_ema=True, ema_overwrite_frequency=5), which Keras cannot do under a strategy...
        >>> average_written(RuntimeError("another"), optimizer, model) is None
        True
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's, where it wraps one
    every = getattr(inner, "ema_overwrite_frequency", None) if getattr(inner, "use_ema", False) else None
    if not every or "merge_call" not in str(error):
        return None
    strategy = created_under(model)
    under = f"a {type(strategy).__name__}" if strategy is not None else "a strategy"
    return ValueError(
        f"`optimizer` ({type(inner).__name__}) writes its moving average into the weights every {every} steps "
        f"(use_ema=True, ema_overwrite_frequency={every}), which Keras cannot do under {under}: it fails "
        "where the step is compiled (`fit` fails on it too). Create the optimizer with "
        "ema_overwrite_frequency=None, which keeps the average apart, and write it into the weights when "
        "training ends with `optimizer.finalize_variable_values(model.trainable_variables)`; or without "
        "`use_ema`."
    )


def not_applied(optimizer: keras.optimizers.Optimizer, model: keras.Model, written: Sequence[Any]) -> ValueError:
    """The `ValueError` to raise where the model's own `train_step` does not apply `optimizer`, whose
    rate the finder sweeps; it names the optimizers the step does apply, where the model holds them
    (`model.d_optimizer`, say, as a GAN's `compile` keeps them), read off `written`, the variables the
    step writes.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.d_optimizer = keras.optimizers.Adam()
        >>> model.d_optimizer.build(model.trainable_variables)
        >>> print(not_applied(keras.optimizers.RMSprop(), model, model.d_optimizer.variables))  # doctest: +ELLIPSIS
        The model's own `train_step` does not apply `optimizer` (RMSprop), whose rate the finder sweeps: none of its variables change in the step. It applies `model.d_optimizer` (Adam): pass it, `LRFinder(model, optimizer=model.d_optimizer)`, ...
        >>> print(not_applied(keras.optimizers.RMSprop(), model, []))  # doctest: +ELLIPSIS
        The model's own `train_step` does not apply `optimizer` (RMSprop), ... Pass the optimizer the step applies...
    """
    writes = {id(c) for v in written for c in components(v)}
    held = [(name, value) for name, value in vars(model).items()
            if isinstance(value, keras.optimizers.Optimizer) and value is not optimizer
            and writes & {id(c) for v in value.variables for c in components(v)}]
    applied = [f"`model.{name}` ({type(value).__name__})" for name, value in held]
    lead = (f"The model's own `train_step` does not apply `optimizer` ({type(optimizer).__name__}), whose rate the "
            "finder sweeps: none of its variables change in the step.")
    if not applied:
        return ValueError(f"{lead} Pass the optimizer the step applies (`LRFinder(model, optimizer=model.g_optimizer)`, "
                          "say, for a step that applies that one), or step='finder' to train with the finder's step. "
                          "Nothing was changed.")
    first = f"model.{held[0][0]}"
    if len(applied) == 1:
        return ValueError(f"{lead} It applies {applied[0]}: pass it, `LRFinder(model, optimizer={first})`, to sweep "
                          "its rate, or step='finder' to train with the finder's step. Nothing was changed.")
    return ValueError(f"{lead} It applies {', '.join(applied[:-1])} and {applied[-1]}: pass the one whose rate you are "
                      f"looking for (`LRFinder(model, optimizer={first})`, say; the others keep their rates), or "
                      "step='finder' to train with the finder's step. Nothing was changed.")


def untraceable(error: Exception) -> ValueError | None:
    """A `ValueError` with the fix, to raise instead of `error` where tracing a compiled step failed
    because the model or the loss turns a tensor into a NumPy array (`np.asarray`, or `.numpy()`,
    which a traced tensor lacks): a traced step holds symbolic tensors, which have no values, so
    `fit` fails the same way. The finder's checks of the first batch run eagerly, where this works;
    the step is traced after them, before the snapshot and any step. None for any other error.

    Example:
        >>> error = NotImplementedError("Cannot convert a symbolic tf.Tensor (x:0) to a numpy array.")
        >>> print(untraceable(error))  # doctest: +ELLIPSIS
        The training step cannot be compiled: the model or the loss turns a tensor into a NumPy array ...
        >>> untraceable(NotImplementedError("another")) is None
        True
    """
    if not (isinstance(error, NotImplementedError) and "Cannot convert a symbolic" in str(error)
            or isinstance(error, AttributeError) and re.search(r"'SymbolicTensor' object has no attribute '(numpy|item|"
                                                               r"tolist)'", str(error))):
        return None
    return ValueError(
        "The training step cannot be compiled: the model or the loss turns a tensor into a NumPy array (a NumPy "
        "function on it, `np.asarray`, `.numpy()`), which a compiled step cannot do, since its tensors hold no values "
        "yet (`fit` fails the same way). Compute it with `keras.ops` or `tf` functions instead (NumPy's would also "
        "leave no gradient to train by). Where a layer must read a value in Python, compile the model with "
        "`run_eagerly=True`: the finder then trains it eagerly, as `fit` does (slower). Nothing was changed. "
        f"TensorFlow raised {type(error).__name__}: {message_of(error)}")


def no_gradients(error: Exception) -> ValueError | None:
    """A `ValueError` with what to look for, to raise instead of Keras's `error` where the step was
    traced and the loss has no gradient with respect to any trainable variable (Keras's optimizer
    raises as it applies them, in `fit` too); None for any other error. Traced before the snapshot
    and any step.

    Example:
        >>> print(no_gradients(ValueError("No gradients provided for any variable.")))  # doctest: +ELLIPSIS
        No gradients: the loss does not depend on any trainable variable through operations that have a gradient...
        >>> no_gradients(ValueError("another")) is None
        True
    """
    if type(error) is not ValueError or not str(error).startswith("No gradients provided for any variable"):
        return None
    return ValueError(
        "No gradients: the loss does not depend on any trainable variable through operations that have a gradient, "
        "so no learning rate can train the model (`fit` fails the same way). Look for what cuts the way from the "
        "weights to the loss: `stop_gradient`, rounding, `argmax` or a cast to integers in the model or the loss, "
        "a loss that does not use the model's output, or a metric (`keras.metrics`) compiled as the loss. Nothing was "
        "changed. Keras raised ValueError: "
        f"{message_of(error)}")


def naming(argument: str) -> contextlib.AbstractContextManager[None]:
    """Inside, a `ValueError` or `TypeError` whose message names `dataset` names `argument` instead:
    the checks written for the training data serve other data too (`refine`'s `validation_data`).

    Example:
        >>> with naming("validation_data"):
        ...     raise ValueError("`dataset` is empty: it yielded no batch.")
        Traceback (most recent call last):
        ...
        ValueError: `validation_data` is empty: it yielded no batch.
    """
    return _reworded("`dataset`", f"`{argument}`")


def on_share(rows: int, of: int) -> contextlib.AbstractContextManager[None]:
    """Inside, a `ValueError` or `TypeError` whose message says "the first batch" says which part of it
    was checked, where that is `rows` of its `of` (the first replica's share, `step.first_share`).

    Example:
        >>> with on_share(16, 32):
        ...     raise ValueError("`dataset` does not fit `model`: calling it on the first batch raised ...")
        Traceback (most recent call last):
        ...
        ValueError: `dataset` does not fit `model`: calling it on the first batch (on the first replica's share of it, 16 of its 32 rows, as the model's strategy will run it) raised ...
    """
    if rows == of:
        return contextlib.nullcontext()
    return _reworded("the first batch", f"the first batch (on the first replica's share of it, {rows} of its {of} "
                                        "rows, as the model's strategy will run it)", count=1)


@contextlib.contextmanager
def _reworded(old: str, new: str, count: int = -1) -> Iterator[None]:
    """Inside, a `ValueError` or `TypeError` (not a subclass) whose message holds `old` says `new`
    there instead (the first `count` times; -1: every time), from the same cause."""
    try:
        yield
    except (ValueError, TypeError) as error:
        if type(error) not in (ValueError, TypeError) or old not in str(error):
            raise
        raise type(error)(str(error).replace(old, new, count)) from error.__cause__


def model_fits(model: keras.Model, x: Any) -> Any:
    """The model's output on the first batch's `x` (inference mode), or a `ValueError` that says the
    batch does not fit `model`, with Keras's own words: what would otherwise fail inside the first
    compiled step, after the snapshot, with a traceback through TensorFlow's graph code.

    A built model is called in a `keras.StatelessScope`, so that no variable changes (a stateful
    RNN's states included); an unbuilt one is built by the call, as `fit` builds it, and the states
    of its stateful RNNs, which the call set, are put back to zeros, where they start in `fit`.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> tuple(model_fits(model, np.zeros((4, 2))).shape)
        (4, 1)
        >>> model_fits(model, np.zeros((4, 3)))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `dataset` does not fit `model`: calling it on the first batch raised ValueError: ...expected axis -1 of input shape to have value 2, but received input with shape (4, 3)...
    """
    try:
        if model.built:
            with unchanged(model):
                return model(x, training=False)
        y_pred = model(x, training=False)
        for layer in stateful_layers(model):
            if hasattr(layer, "reset_state"):
                layer.reset_state()
        return y_pred
    except (ValueError, TypeError, tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as error:
        # (UnimplementedError: a column of strings cast to a number the model's input holds)
        raise ValueError(
            f"`dataset` does not fit `model`: calling it on the first batch raised {type(error).__name__}: "
            f"{message_of(error)} Check that x has the structure, shapes and dtypes of the model's inputs."
        ) from error


# Keras's words where `compile`'s losses, loss weights or metrics do not match the model's outputs: its
# compiled loss builds them on the first batch (Keras 3.8 to 3.15).
_COMPILE_MISFIT = re.compile(r"in loss dict, but found|`loss_weights` must match|Invalid `(weighted_)?metrics`")


def loss_fits(model: keras.Model, loss: Callable, x: Any, y: Any, y_pred: Any, sample_weight: Any,
              plain: bool = False) -> Any:
    """The loss on the first batch, or a `ValueError` if its targets do not fit `loss` (`(x, y, y_pred,
    sample_weight) -> loss`, as `tf_lrfinder.step.loss_function` makes it), with Keras's own words
    and what to check. Computed in a `keras.StatelessScope` (`unchanged`), so that no variable
    changes (a compiled loss's trackers included). `plain`: the loss is the user's plain function,
    which gets y as float32 (as under `compile(loss=fn)`); where y holds integers, the message says so.
    Class labels outside the model's outputs are told whether the loss raises on them (as a sparse
    crossentropy does on a CPU) or turns NaN or inf (as it does on a GPU).

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
        >>> sce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        >>> loss = lambda x, y, y_pred, sample_weight: sce(y, y_pred)
        >>> x, labels = np.zeros((4, 2)), np.array([0, 1, 2, 0])
        >>> float(loss_fits(model, loss, x, labels, model(x), None)) > 0
        True
        >>> loss_fits(model, loss, x, np.eye(3)[labels], model(x), None)  # one-hot labels
        Traceback (most recent call last):
        ...
        ValueError: `dataset`'s targets do not fit the loss: computing it on the first batch (y of shape (4, 3), the model's output of shape (4, 3)) raised ValueError: Argument `output` must have rank (ndim) `target.ndim - 1`. Received: target.shape=(4, 3), output.shape=(4, 3). Integer class labels need a sparse loss (SparseCategoricalCrossentropy), one-hot ones CategoricalCrossentropy; otherwise y must have the model's output shape.
    """
    try:
        with unchanged(model):
            value = loss(x, y, y_pred, sample_weight)
    except UnweighableLoss:
        raise  # it says what is wrong: not the targets
    except (ValueError, TypeError, KeyError, tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as error:
        listed = getattr(model, "loss", None)  # `compile`'s loss, as given: more losses than outputs, Keras's KeyError
        if _COMPILE_MISFIT.search(str(error)) or ("in the `loss` argument" in str(error) and isinstance(
                listed, (list, tuple)) and len(listed) != len(tree.flatten(y_pred))):
            raise ValueError(
                f"The model's `compile` does not fit its outputs: computing the compiled loss on the first batch raised "
                f"{type(error).__name__}: {message_of(error)} `fit` fails the same way. Give `compile`'s `loss` (and "
                "`loss_weights`, `metrics`) an entry for every output, by the names in `model.output_names` "
                f"({list(getattr(model, 'output_names', None) or [])}), None for an output without a loss, and compile "
                "again. Nothing was changed.") from error
        if sample_weight is not None and _computes(model, loss, x, y, y_pred):
            raise ValueError(
                f"`dataset`'s sample weights do not fit the loss: computing it on the first batch with weights of "
                f"shape {_shapes(sample_weight)} raised {type(error).__name__}: {message_of(error)} It computes without "
                f"them, so the targets (shape {_shapes(y)}) fit. Give one weight per sample, of shape (batch,), as "
                "`fit` takes them (or, for a sequence's outputs, one per time step, of shape (batch, steps))."
            ) from error
        raise ValueError(_misfit(y, y_pred, f"raised {type(error).__name__}: {message_of(error)}", plain)) from error
    if label_range(y, y_pred) is not None and not np.all(np.isfinite(np.asarray(value))):
        raise ValueError(_misfit(y, y_pred, f"gave a loss of {float(np.asarray(value))}.", plain))
    one_number(value)
    return value


def own_losses_add(model: keras.Model, loss: Callable, x: Any, y: Any, sample_weight: Any) -> None:
    """Raise a `ValueError` before the sweep where the compiled `loss` (`(x, y, y_pred, sample_weight)
    -> loss`, `tf_lrfinder.step.loss_function`'s) cannot add the model's own losses to its own on the
    first batch: Keras's `compute_loss` sums them as float32, and fails on a float64 model's
    regularisation penalties or an activity regulariser's under mixed precision, in `fit` too (Keras
    3.8 to 3.15). Without this, the sweep's first step raised TensorFlow's error, or the check of
    the targets blamed them. Only a model with layers that compute in another dtype than float32 is
    read: a forward pass in training mode, in `unchanged`, collecting what its layers add.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_regularizer="l2",
        ...                                                                 dtype="float64")])
        >>> model.compile("sgd", "mse")
        >>> compiled = lambda x, y, y_pred, sample_weight: model.compute_loss(x=x, y=y, y_pred=y_pred)
        >>> own_losses_add(model, compiled, np.ones((4, 2)), np.ones((4, 1)), None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: The compiled loss cannot be computed on the first batch: the model's own losses (`model.losses`: its regularisers' penalties, what its layers add with `add_loss`) are float64, and Keras cannot add them to the compiled loss, a float32 number, so `fit` fails the same way. Keras raised ... Compute the layers that add them in float32 (`dtype="float32"`, as mixed precision keeps the output layer's), or pass the loss as `loss_fn` to train with the finder's own step, which casts them.
    """
    if all(getattr(layer, "compute_dtype", "float32") == "float32" for layer in all_layers(model)):
        return
    with unchanged(model, collect_losses=True):
        y_pred = model(x, training=True)
        dtypes = sorted({tf.as_dtype(own.dtype).name for own in model.losses
                         if tf.as_dtype(own.dtype).is_floating and tf.as_dtype(own.dtype) != tf.float32})
        if not dtypes:
            return
        try:
            loss(x, y, y_pred, sample_weight)
            return
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
            failed = error
    raise ValueError(
        "The compiled loss cannot be computed on the first batch: the model's own losses (`model.losses`: its "
        f"regularisers' penalties, what its layers add with `add_loss`) are {' and '.join(dtypes)}, and Keras "
        "cannot add them to the compiled loss, a float32 number, so `fit` fails the same way. Keras raised "
        f"{type(failed).__name__}: {message_of(failed)} Compute the layers that add them in float32 "
        '(`dtype="float32"`, as mixed precision keeps the output layer\'s), or pass the loss as `loss_fn` to '
        "train with the finder's own step, which casts them.") from failed


def finite_first_loss(model: keras.Model, loss: Callable, batch: Any, value: Any, own: bool = False) -> None:
    """Raise a `ValueError` before the sweep where the loss on the first `batch` (`value`, from
    `loss_fits` in inference mode, or from `adds_a_loss` for a model that computes its `own`) is NaN
    or inf at the model's weights as they are, and is in training mode too (computed in
    `unchanged`): the sweep's first step, at any rate, would record it and stop, and no rate can be
    read. It names the cause where it can: the batch's data (`step.nonfinite_parts`:
    `finite_data`), else weights that hold NaN or inf values, else the model or the loss (`loss_fn`
    or the compiled one; for its `own`, what it adds with `add_loss` or its `compute_loss`). Only a
    loss that is not finite costs more than the test of `value`.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> mse = lambda x, y, y_pred, sample_weight: keras.ops.mean((y - y_pred) ** 2)
        >>> x, y = tf.ones((4, 2)), tf.zeros((4, 1))
        >>> finite_first_loss(model, mse, (x, y), mse(x, y, model(x), None))
        >>> log0 = lambda x, y, y_pred, sample_weight: -keras.ops.mean(keras.ops.log(0 * y_pred))
        >>> finite_first_loss(model, log0, (x, y), log0(x, y, model(x), None))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: The loss on the first batch is inf before any step, ... a log of 0, a division by 0 ...
    """
    if np.all(np.isfinite(np.asarray(value))):
        return
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
    with unchanged(model, collect_losses=True):  # the losses the model adds (`add_loss`) included
        trained = loss(x, y, model(x, training=True), sample_weight)
    if np.all(np.isfinite(np.asarray(trained))):
        return  # finite as the sweep's step computes it: the sweep decides
    finite_data(int(nonfinite_parts(batch)), "the loss on the first batch, before any step,")
    raise nonfinite_start(model, float(np.asarray(value)), "The loss",
                          "in the model or in the loss it computes (`add_loss`, or its own `compute_loss`)" if own
                          else "in the model or the loss (`loss_fn`, or the compiled loss)")


def nonfinite_start(model: keras.Model, value: float, whose: str, where: str, restored: bool = False) -> ValueError:
    """The `ValueError` for a loss (`whose`, as the message names it) that is NaN or inf (`value`) on
    the first batch, finite, before any step: where the model's trainable weights hold NaN or inf
    values, it names them; else it says to look for the cause `where` (in what). `restored`: the
    error comes after the sweep's first step, and the message says that the state is restored.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> print(nonfinite_start(model, float("inf"), "The loss", "in the model or the loss"))
        The loss on the first batch is inf before any step, at the model's weights as they are, on finite data: a sweep that starts there records that loss and stops, whatever the rate. Look for a log of 0, a division by 0 or an overflow in the model or the loss, and call again.
    """
    said = f"{whose} on the first batch is {value} before any step"
    bad = [getattr(v, "path", v.name) for v in model.trainable_variables if not np.isfinite(np.asarray(v)).all()]
    if bad:
        message = (f"{said}: `model`'s weights hold NaN or inf values ({', '.join(bad[:3])}"
                   f"{', ...' if len(bad) > 3 else ''}), as a training that diverged leaves them. No learning "
                   "rate trains from there: rebuild the model or load good weights, and call again.")
    else:
        message = (f"{said}, at the model's weights as they are, on finite data: a sweep that starts there records "
                   f"that loss and stops, whatever the rate. Look for a log of 0, a division by 0 or an overflow "
                   f"{where}, and call again.")
    return ValueError(message + (" The state is restored." if restored else ""))


def measurable_start(start: float, where: str) -> None:
    """Raise a `ValueError` where the loss before refining's runs (`start`), measured in inference
    mode on finite data (`where`: on what), is NaN or inf: no run can be compared with it, and each
    would count as diverged. The sweep, which trains in training mode, recorded finite losses, so
    the model computes NaN or inf only in inference mode, or (on a GPU, which gives a sparse
    crossentropy NaN there without an error) the data measured on hold class labels outside its
    outputs. The message says so and how to go on without refining.

    Example:
        >>> measurable_start(0.7, "`validation_data`")
        >>> measurable_start(float("inf"), "`validation_data`")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: The loss before refining's runs is inf, measured in inference mode (training=False, as `evaluate` measures) on `validation_data`, on finite data, ... pass refine=False ...
    """
    if np.isfinite(start):
        return
    raise ValueError(
        f"The loss before refining's runs is {start}, measured in inference mode (training=False, as `evaluate` "
        f"measures) on {where}, on finite data, at the model's weights as they are: no run can be compared with "
        "it. The sweep, which trains in training mode, recorded finite losses: look for a layer that computes NaN "
        "or inf only in inference mode, or, on a GPU, which turns a sparse crossentropy NaN there without an "
        f"error, for class labels outside the model's outputs. {WITHOUT_REFINING} The state is restored."
    )


def unmatched_targets(y: Any, y_pred: Any) -> str | None:
    """Where targets `y` and outputs `y_pred` are both dicts and y names what no output is named, or
    leaves an output without targets (absent, or None), or are both lists or tuples of different
    lengths or with None for an output, or y is one array for several outputs or a dict for one,
    what to change; else None (their shapes are for the loss to judge).

    Example:
        >>> outputs = {"out": np.zeros((2, 1)), "aux": np.zeros((2, 3))}
        >>> unmatched_targets({"output": np.zeros((2, 1)), "aux": np.zeros((2, 3))}, outputs)[:62]
        "y's keys ['output'] name no output of the model (its outputs: "
        >>> unmatched_targets({"out": np.zeros((2, 1))}, outputs)[:56]
        "y holds no targets for the model's outputs ['aux']: give"
        >>> unmatched_targets({"out": np.zeros((2, 1)), "aux": None}, outputs)[:56]
        "y holds no targets for the model's outputs ['aux']: give"
        >>> unmatched_targets({"out": np.zeros((2, 1)), "aux": np.zeros((2, 1))}, outputs) is None
        True
        >>> unmatched_targets((np.zeros((2, 1)),), list(outputs.values()))[:45]
        "y holds 1 targets for the model's 2 outputs: "
        >>> unmatched_targets([np.zeros((2, 1)), None], list(outputs.values()))[:70]
        "y holds no targets (None) for the model's outputs [1] (by position): g"
        >>> unmatched_targets(np.zeros((2, 1)), outputs)[:57]
        "y is one array for the model's 2 outputs ['aux', 'out']: "
        >>> unmatched_targets({"dense": np.zeros((2, 1))}, np.zeros((2, 1)))
        "y is a dict (keys ['dense']) for the model's one output: give its targets as one array (`y['dense']`), as `fit` needs them too."
    """
    none_needs = "compile it with a loss of None ({}), which needs none, as in `fit`."
    structures = (list, tuple, Mapping)
    if isinstance(y_pred, structures) and len(y_pred) > 1 and not isinstance(y, structures):
        if isinstance(y_pred, Mapping):
            names, first = f" {sorted(y_pred)}", sorted(y_pred)[0]
            how, unlossed = f"keyed by the outputs' names (`{{{first!r}: y, ...}}`)", f"`loss={{{first!r}: None, ...}}`"
        else:
            names, how, unlossed = "", "as a list in their order (`[y, y_aux]`)", "`loss=[..., None]`"
        return (f"y is one array for the model's {len(y_pred)} outputs{names}: give one for each, {how}, or, for "
                "an output that is only read, " + none_needs.format(unlossed))
    if isinstance(y, Mapping) and not isinstance(y_pred, structures):
        return (f"y is a dict (keys {sorted(y)}) for the model's one output: give its targets as one array "
                f"(`y[{sorted(y)[0]!r}]`), as `fit` needs them too.")
    if isinstance(y, (list, tuple)) and isinstance(y_pred, (list, tuple)):
        if len(y) != len(y_pred):
            return (f"y holds {len(y)} targets for the model's {len(y_pred)} outputs: give one for each, in their "
                    "order, or, for an output that is only read, " + none_needs.format("`loss=[..., None]`"))
        missing = [number for number, target in enumerate(y) if target is None]
        if missing:
            return (f"y holds no targets (None) for the model's outputs {missing} (by position): give them, or, for "
                    "an output that is only read, " + none_needs.format("`loss=[..., None]`"))
    if not (isinstance(y, Mapping) and isinstance(y_pred, Mapping)):
        return None
    given = {key for key, target in y.items() if target is not None}  # None: no targets, as `fit` reads it
    unknown, missing = sorted(set(y) - set(y_pred)), sorted(set(y_pred) - given)
    if unknown:
        return (f"y's keys {unknown} name no output of the model (its outputs: {sorted(y_pred)}): key the "
                "targets by the outputs' names, as `fit` matches them.")
    if missing:
        return (f"y holds no targets for the model's outputs {missing}: give them, or, for an output that is "
                "only read, " + none_needs.format(f"`loss={{{missing[0]!r}: None, ...}}`"))
    return None


def string_targets(y: Any) -> str | None:
    """Where targets `y` hold strings (class names read from a file), what to do: a loss computes on
    numbers, and TensorFlow's cast of them fails; else None.

    Example:
        >>> string_targets(np.array(["cat", "dog", "cat"], dtype=object))[:46]
        "y holds strings (['cat', 'dog']), not numbers:"
        >>> string_targets(np.array([0, 1, 0])) is None
        True
    """
    for leaf in tf.nest.flatten(y):
        values = np.asarray(leaf)
        if values.dtype.kind in "USO" and values.size and isinstance(values.flat[0], (str, bytes)):
            names = sorted({v.decode() if isinstance(v, bytes) else str(v) for v in values.flat})
            return (f"y holds strings ({names[:3] + ['...'] if len(names) > 3 else names}), not numbers: map them to "
                    "class indices (0, 1, ...) first, as `fit` needs them too (`keras.layers.StringLookup("
                    "vocabulary=names, num_oov_indices=0)` or scikit-learn's `LabelEncoder`).")
    return None


def _misfit(y: Any, y_pred: Any, outcome: str, plain: bool) -> str:
    """Why the first batch's targets `y` do not fit the loss, which `outcome` on them, and what to check."""
    return (
        f"`dataset`'s targets do not fit the loss: computing it on the first batch (y of shape {_shapes(y)}, the "
        f"model's output of shape {_shapes(y_pred)}) {outcome} "
        + (string_targets(y) or unmatched_targets(y, y_pred) or label_range(y, y_pred)
           or "Integer class labels need a sparse loss (SparseCategoricalCrossentropy), "
           "one-hot ones CategoricalCrossentropy; otherwise y must have the model's output shape.")
        + (" A plain `loss_fn` gets y cast to float32, as `compile(loss=fn)` passes it to `fit`: cast it "
           "back inside where it must hold integers (`tf.cast(y_true, 'int32')`)."
           if plain and any(tf.as_dtype(getattr(t, "dtype", "float32")).is_integer for t in tf.nest.flatten(y))
           else "")
    )


def _computes(model: keras.Model, loss: Callable, x: Any, y: Any, y_pred: Any) -> bool:
    """Whether `loss` computes on the batch without sample weights (changing nothing)."""
    try:
        with unchanged(model):
            loss(x, y, y_pred, None)
    except (ValueError, TypeError, tf.errors.InvalidArgumentError):
        return False
    return True


def labels_fit(model: keras.Model, loss: Callable, first: Any, ys: Sequence[Any], classes: int | None,
               where: Callable[[int, int], str], probes: int = 10, target: int = 0, output: str | None = None) -> None:
    """Raise a `ValueError` where the targets `ys` of batches (`where(batch, row)` names a place in
    them) hold a class label outside the model's `classes` outputs (`labels_outside`) that `loss`
    rejects: computed on the `first` batch with its first label set to it, the loss raises (a sparse
    crossentropy on a CPU, mid-sweep) or turns NaN or inf (on a GPU, without a word: the sweep would
    read it as divergence). The finder checks the batches it will read before the sweep where they
    are at hand, and a streamed batch's range where the loss turned NaN on it. A label the loss
    takes (an `ignore_class`, say) passes; up to `probes` labels outside are tried. For a model of
    several outputs, `ys` are the targets of the `output` so named, the `target`-th of
    `tf.nest.flatten(y)`, which the probe sets.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
        >>> sce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
        >>> loss = lambda x, y, y_pred, sample_weight: sce(y, y_pred)
        >>> first = (np.zeros((2, 2)), np.array([0, 1]))
        >>> labels_fit(model, loss, first, [np.array([0, 1]), np.array([-1, 2])], 3, "batch {}, row {}".format)
        >>> labels_fit(model, loss, first, [np.array([0, 1]), np.array([3, 2])], 3, "batch {}, row {}".format)
        Traceback (most recent call last):
        ...
        ValueError: `dataset`'s class labels run from 0 to 3, but the model has 3 outputs: a sparse loss needs labels from 0 to 2, one per output; give the model 4 outputs, or check the labels. The loss rejects the label 3, which batch 1, row 0 holds: on a CPU TensorFlow would raise an error mid-way, at the batch that holds it, and on a GPU the loss would turn NaN there without one, read as divergence.
    """
    found = labels_outside(ys, classes)
    if found is None:
        return
    places, low, high = found
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(first)
    y_pred = model_fits(model, x)
    for label, (batch, row) in list(places.items())[:probes]:
        flat = tf.nest.flatten(y)
        flat[target] = labels = np.array(flat[target])  # a copy, its first label set to this one
        labels.reshape(-1)[0] = label
        probe = tf.nest.pack_sequence_as(y, flat)  # y may be a dict of the outputs' targets
        try:
            with unchanged(model):
                taken = bool(np.all(np.isfinite(np.asarray(loss(x, probe, y_pred, sample_weight)))))
        except (ValueError, TypeError, tf.errors.InvalidArgumentError):
            taken = False
        if not taken:
            named = "" if output is None else f" for output {output!r}"
            raise ValueError(
                f"`dataset`'s class labels{named} "
                f"{label_fix(low, high, classes, sorted(places), None if output is None else f'output {output!r}')} "
                "The loss rejects the "
                f"label {label}, which {where(batch, row)} holds: on a CPU TensorFlow would raise an error mid-way, "
                "at the batch that holds it, and on a GPU the loss would turn NaN there without one, read as "
                "divergence.")


def one_number(loss: Any) -> None:
    """Raise a `ValueError` unless `loss`, the loss of the first batch, is one number: a
    `keras.losses.Loss` made with `reduction=None` (or `'none'`) gives one per sample, which the
    step cannot record, and which `fit` would train on the sum of.

    Example:
        >>> one_number(keras.losses.MeanSquaredError()(np.zeros((4, 1)), np.ones((4, 1))))
        >>> one_number(keras.losses.MeanSquaredError(reduction=None)(np.zeros((4, 1)), np.ones((4, 1))))
        Traceback (most recent call last):
        ...
        ValueError: The loss is not one number: on the first batch it has shape (4,) (a `keras.losses.Loss` made with `reduction=None` or 'none' gives one loss per sample, and `fit` trains on their sum). Make the loss with reduction='sum_over_batch_size' (Keras's default, the mean) or 'sum', whichever you will train with; or pass `loss_fn=` a function of (y_true, y_pred) that returns one loss per sample, which the finder averages.
    """
    shape = tuple(getattr(loss, "shape", ()))
    if shape:
        raise ValueError(
            f"The loss is not one number: on the first batch it has shape {shape} (a `keras.losses.Loss` "
            "made with `reduction=None` or 'none' gives one loss per sample, and `fit` trains on their "
            "sum). Make the loss with reduction='sum_over_batch_size' (Keras's default, the mean) or "
            "'sum', whichever you will train with; or pass `loss_fn=` a function of (y_true, y_pred) "
            "that returns one loss per sample, which the finder averages."
        )


def finite_data(mask: int, where: str, loss_finite: bool = False) -> None:
    """Raise a `ValueError` if `mask` (`step.nonfinite_parts` of the batches where the loss, or the
    weights, turned NaN or inf) names any of their parts: then the data, not the rate, did it, and no
    rate would train on them (`fit` turns the loss or the weights NaN too), so the finder says so
    instead of suggesting.

    Args:
        mask: the bitmask; 0 (the data were finite) raises nothing.
        where: whose loss where, for the message ("the sweep's loss at its step 3 of 100").
        loss_finite: the loss stayed finite but the step turned the weights NaN or inf: the bad values
            were hidden from the loss's value (oneDNN's fused ReLU reads a NaN as 0; a loss that skips
            missing targets with `tf.where`), not from its gradients.

    Example:
        >>> finite_data(0, "the sweep's loss at its step 3 of 100")
        >>> finite_data(2, "the sweep's loss at its step 3 of 100")
        Traceback (most recent call last):
        ...
        ValueError: `dataset` holds NaN or inf values in y (the targets): the sweep's loss at its step 3 of 100 was NaN or inf on them. No learning rate trains on such data (`fit`'s loss would turn NaN too). Remove or fill those samples (`np.isfinite(a).all()` checks an array `a`) and call again. The state is restored.
        >>> finite_data(1, "the sweep's loss at its step 3 of 100", loss_finite=True)
        Traceback (most recent call last):
        ...
        ValueError: `dataset` holds NaN or inf values in x (the inputs): the sweep's loss at its step 3 of 100 stayed finite on them, but the step turned the weights NaN or inf: they are hidden from the loss's value (a fused ReLU reads a NaN as 0), not from its gradients. No learning rate trains on such data (`fit` turns the weights NaN too, as silently). Remove or fill those samples (`np.isfinite(a).all()` checks an array `a`) and call again. The state is restored.
    """
    if mask:
        parts = " and ".join(name for bit, name in PARTS.items() if mask & bit)
        happened, fit = f"{where} was NaN or inf on them", "`fit`'s loss would turn NaN too"
        if loss_finite:
            happened = (f"{where} stayed finite on them, but the step turned the weights NaN or inf: they are "
                        "hidden from the loss's value (a fused ReLU reads a NaN as 0), not from its gradients")
            if mask & 2:  # the targets: a loss that masks missing ones with `tf.where` still differentiates them
                happened += (" (a loss that skips missing targets with `tf.where` must replace them before computing "
                             "with them: the branch it drops still has a gradient, NaN)")
            fit = "`fit` turns the weights NaN too, as silently"
        raise ValueError(
            f"`dataset` holds NaN or inf values in {parts}: {happened}. No learning rate trains on such data "
            f"({fit}). Remove or fill those samples (`np.isfinite(a).all()` checks an array `a`) and call "
            "again. The state is restored."
        )


def has_trainable_variables(model: keras.Model) -> None:
    """Raise a `ValueError` when `model` (built) has no trainable variable: nothing for a rate to train.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> has_trainable_variables(model)
        >>> model.trainable = False
        >>> has_trainable_variables(model)
        Traceback (most recent call last):
        ...
        ValueError: `model` has no trainable variables (every layer is frozen, `trainable=False`): there is nothing for a learning rate to train. Unfreeze the layers you will train first (`layer.trainable = True`, after `model.trainable = True` where the whole model was frozen).
    """
    if not model.trainable_variables:
        raise ValueError(
            "`model` has no trainable variables (every layer is frozen, `trainable=False`): there is "
            "nothing for a learning rate to train. Unfreeze the layers you will train first "
            "(`layer.trainable = True`, after `model.trainable = True` where the whole model was frozen)."
        )


def tensorflow_backend() -> None:
    """Raise a `RuntimeError` unless Keras runs on TensorFlow, which the finder's compiled steps need.

    Example:
        >>> tensorflow_backend()  # Keras's default backend
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"The finder needs Keras's TensorFlow backend, but Keras runs on {backend!r}. Set the "
            "environment variable KERAS_BACKEND=tensorflow before Keras is first imported (or "
            '"backend": "tensorflow" in ~/.keras/keras.json).'
        )


def keras_model(model: Any) -> None:
    """Raise a `TypeError` unless `model` is a Keras 3 `keras.Model`, saying how to make one from a
    Keras 2 (`tf_keras`) model or from layers.

    Example:
        >>> keras_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
        >>> keras_model(keras.layers.Dense(1))
        Traceback (most recent call last):
        ...
        TypeError: `model` must be a keras.Model (Keras 3). Received: Dense. Wrap layers in keras.Sequential or a functional Model.
    """
    if isinstance(model, keras.Model):
        return
    module = type(model).__module__.split(".")[0]
    raise TypeError(
        f"`model` must be a keras.Model (Keras 3). Received: {type(model).__name__}"
        + (f" from `{module}` (Keras 2). Build it with `import keras` (Keras 3) instead."
           if module in ("tf_keras", "tensorflow") else
           ". Wrap layers in keras.Sequential or a functional Model.")
    )


def one_optimizer(optimizer: Any, model: keras.Model, compiled: bool) -> keras.optimizers.Optimizer:
    """`optimizer` checked: None is the model's compiled one (raises where there is none), and a
    name makes a new one with Keras's defaults, as `compile` reads it, under the strategy the model
    was created under, if any, so that its variables are too.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> type(one_optimizer("sgd", model, compiled=False)).__name__
        'SGD'
        >>> one_optimizer(keras.optimizers.Adam, model, compiled=False)
        Traceback (most recent call last):
        ...
        TypeError: `optimizer` must be a keras.optimizers.Optimizer. Received: the class Adam. Pass an instance of it (`Adam()`, or with its learning rate and options).
        >>> one_optimizer(None, model, compiled=False)
        Traceback (most recent call last):
        ...
        ValueError: No optimizer: `model` is not compiled and `optimizer` is None. Pass `optimizer=keras.optimizers.Adam()` (for example) or compile the model first.
    """
    if optimizer is None:
        optimizer = getattr(model, "optimizer", None) if compiled else None
        if optimizer is None:
            raise ValueError(
                "No optimizer: `model` is not compiled and `optimizer` is None. Pass "
                "`optimizer=keras.optimizers.Adam()` (for example) or compile the model first."
            )
    if isinstance(optimizer, str):
        strategy = created_under(model)
        with strategy.scope() if strategy is not None else contextlib.nullcontext():  # its variables too
            optimizer = by_name("optimizer", optimizer, keras.optimizers.get, "'adam' or 'sgd'")
    if isinstance(optimizer, type) and issubclass(optimizer, keras.optimizers.Optimizer):  # `compile` refuses it too
        raise TypeError(f"`optimizer` must be a keras.optimizers.Optimizer. Received: the class {optimizer.__name__}. "
                        f"Pass an instance of it (`{optimizer.__name__}()`, or with its learning rate and options).")
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(f"`optimizer` must be a keras.optimizers.Optimizer. Received: {type(optimizer).__name__}")
    return optimizer


STEPS = ("auto", "model", "finder")


def own_step(step: Any, monitor: Any, model: keras.Model, loss_fn: Any, compiled: bool) -> bool:
    """Whether the finder trains `model` by the model's own `train_step` (`tf_lrfinder.own_step`):
    with `step="model"`, or `"auto"` where its class overrides Keras's `train_step`. Raises where
    `step` or `monitor` is not one of what they take, or where the model's own step would train
    but the model is not compiled (its step applies the compiled optimizer) or `loss_fn` is given
    (the step computes its own loss).

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> own_step("auto", "loss", model, None, True), own_step("model", "loss", model, None, True)
        (False, True)
        >>> own_step("model", "loss", model, "mse", True)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `loss_fn` is not used where the model's own `train_step` trains: it computes its own loss. ...
    """
    if step not in STEPS:
        raise ValueError(f"`step` must be one of {STEPS}. Received: step={step!r}")
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"`monitor` must be the key of the loss in what the model's `train_step` returns, a string "
                        f"such as 'loss'. Received: monitor={monitor!r}")
    own = step == "model" or (step == "auto" and overrides(model, "train_step"))
    if not own:
        return False
    why = "" if step == "model" else f" (`model`, a {type(model).__name__}, overrides `train_step`: step='auto' trains with it)"
    if not compiled:
        raise ValueError(f"The model's own `train_step` trains here{why}, and it applies the compiled optimizer: "
                         "`model` is not compiled. Compile it as for `fit` (`model.compile(optimizer=...)`), or pass "
                         "step='finder' to train with the finder's step, `optimizer` and `loss_fn`.")
    if loss_fn is not None:
        raise ValueError(f"`loss_fn` is not used where the model's own `train_step` trains: it computes its own "
                         f"loss{why}. Received: loss_fn={loss_fn!r}. Drop it (`monitor` names the loss the step "
                         "returns), or pass step='finder' to train with the finder's step and this loss.")
    return True


def one_loss(loss_fn: Any, compiled: bool) -> Any:
    """`loss_fn` checked, and made from a name or a `keras.losses.Loss` class where it is one (as
    `compile` reads them); None stays None where the model is `compiled` (its compiled loss is
    used), and raises where it is not.

    Example:
        >>> one_loss("mse", compiled=False).__name__
        'mean_squared_error'
        >>> type(one_loss(keras.losses.Huber, compiled=False)).__name__  # a class: one made with its defaults
        'Huber'
        >>> one_loss({"a": "mse"}, compiled=True)
        Traceback (most recent call last):
        ...
        TypeError: `loss_fn` must be one loss. Received: a dict of losses. For a model with several outputs, compile it with `loss=` that dict and leave `loss_fn` unset: the finder uses the compiled loss, its `loss_weights` included.
    """
    if loss_fn is None and not compiled:
        raise ValueError(
            "No loss: `model` was not compiled with a loss and `loss_fn` is None. Pass "
            "`loss_fn=` (for example 'sparse_categorical_crossentropy') or compile the model."
        )
    if isinstance(loss_fn, (dict, list, tuple)):
        kind = type(loss_fn).__name__
        raise TypeError(
            f"`loss_fn` must be one loss. Received: a {kind} of losses. For a model with several outputs, compile "
            f"it with `loss=` that {kind} and leave `loss_fn` unset: the finder uses the compiled loss, its "
            "`loss_weights` included."
        )
    if isinstance(loss_fn, str):
        loss_fn = by_name("loss_fn", loss_fn, keras.losses.get, "'mse' or 'sparse_categorical_crossentropy'")
    if isinstance(loss_fn, type) and issubclass(loss_fn, keras.losses.Loss):  # made with its defaults, as `compile` makes it
        try:
            loss_fn = loss_fn()
        except TypeError as error:
            raise TypeError(f"`loss_fn` is the class {loss_fn.__name__}, and making one with its defaults, as `compile` "
                            f"does, raised TypeError: {error}. Pass an instance of it, with its arguments.") from None
    if isinstance(loss_fn, keras.metrics.Metric):  # its value is a running mean, with no gradient
        name = type(loss_fn).__name__
        same = f"`keras.losses.{name}()`" if isinstance(getattr(keras.losses, name, None), type) else "a keras.losses.Loss"
        raise TypeError(f"`loss_fn` must be a loss. Received: a metric, {name} (`keras.metrics`), whose value is a running "
                        f"mean over the batches, with no gradient to train by (`fit` fails on it too). Pass {same}.")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"`loss_fn` must be callable or a loss name. Received: {loss_fn!r}")
    return loss_fn


def unchanged(model: keras.Model, collect_losses: bool = False) -> keras.StatelessScope:
    """A `keras.StatelessScope` in which `model` computes as it is and no variable changes.

    Every variable of the model is mapped to its current value: without that, Keras reads a
    variable's regularisation loss in a stateless scope from the scope alone, and finds nothing.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_regularizer="l2"),
        ...                           keras.layers.BatchNormalization()])
        >>> with unchanged(model):
        ...     _ = model(np.ones((4, 2)), training=True)  # would update BatchNorm's moving statistics
        ...     regularisation = float(model.losses[0])
        >>> regularisation == float(model.losses[0]) > 0, float(model.layers[1].moving_mean[0])
        (True, 0.0)
    """
    return keras.StatelessScope(state_mapping=[(v, v.value) for v in model.variables],
                                collect_losses=collect_losses)


def message_of(error: Exception) -> str:
    """An error's message without terminal colour codes (Keras wraps parts in bold), ending in a full stop;
    a `KeyError`'s message unquoted where it is a sentence, not a key.

    Example:
        >>> message_of(ValueError("Model \\x1b[1mVAE\\x1b[0m has no `call()`"))
        'Model VAE has no `call()`.'
        >>> message_of(KeyError("The path: (2,) in the `loss` argument, can't be found.")), message_of(KeyError("b"))
        ("The path: (2,) in the `loss` argument, can't be found.", "'b'.")
    """
    sentence = isinstance(error, KeyError) and len(error.args) == 1 and " " in str(error.args[0])
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error.args[0] if sentence else error)).strip()
    return text if text.endswith(".") else text + "."


def _shapes(value: Any) -> Any:
    """Each leaf's shape, as a tuple, in `value`'s structure; None as None."""
    return tree.map_structure(lambda leaf: None if leaf is None else tuple(leaf.shape) if hasattr(leaf, "shape")
                              else np.shape(leaf), value)


def adds_a_loss(model: keras.Model, x: Any, y: Any, sample_weight: Any, evaluates: bool) -> Any:
    """Raise unless a model compiled without a loss still computes one (`add_loss`, `compute_loss`):
    in training mode for the sweep, and in inference mode too where `refine`'s runs are measured
    (`evaluates`; an `Unmeasurable` where only that fails). Returns the loss in training mode, as
    the sweep's first step computes it, for `finite_first_loss`.

    A forward pass in each mode inside a `keras.StatelessScope` (`unchanged`), so that no variable
    changes (BatchNorm's moving statistics included). A model that keeps Keras's `compute_loss` must
    add a loss with `add_loss` in that mode: its weights' regularisation penalties alone are no loss
    to train or measure by. One that overrides `compute_loss` must return one without an error.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_regularizer="l2")])
        >>> model.compile(optimizer="sgd")  # no loss, and the model adds none: an L2 penalty only
        >>> _ = adds_a_loss(model, np.zeros((4, 2)), np.zeros((4, 1)), None, evaluates=True)
        Traceback (most recent call last):
        ...
        ValueError: No loss: `model` was compiled without a loss, adds none with `add_loss` and computes none in its `compute_loss` (Keras's own `compute_loss` would find only regularisation penalties, if any). Pass `loss_fn=` (for example 'mse') or compile the model with `loss=`.
    """
    overrides, trained = type(model).compute_loss is not keras.Model.compute_loss, None
    for training in (True, False) if evaluates else (True,):
        try:
            with unchanged(model, collect_losses=True) as scope:
                y_pred = model(x, training=training)
                if not overrides and not scope.losses:
                    raise ValueError("Keras's own `compute_loss` would find only regularisation penalties, if any")
                if overrides or training:  # an override must compute in both modes; training's is the step's loss
                    loss = compute_loss(model, x, y, y_pred, sample_weight, training)
                    trained = loss if training else trained
        except ValueError as error:
            if training:
                raise ValueError(
                    "No loss: `model` was compiled without a loss, adds none with `add_loss` and computes "
                    f"none in its `compute_loss` ({error}). Pass `loss_fn=` (for example 'mse') or "
                    "compile the model with `loss=`."
                ) from None
            raise Unmeasurable(
                "No loss in inference mode: `model` was compiled without a loss and computes one only "
                f"when training ({error}), while refining measures its runs in inference mode.",
                "Pass `loss_fn=` or compile the model with `loss=`") from None
    return trained
