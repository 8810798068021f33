"""The checks before a sweep or refining's runs of the data against the model and the loss.

`Preflight` reads the first batch (and, where the batches are held in memory, the targets of all
the batches a call reads, and the validation data) against the model and its loss: it raises
before anything changes where they do not fit (`tf_lrfinder.checks`), and warns where they fit
but train badly (logits given to a loss that expects probabilities, targets a bounded output
cannot reach or a loss broadcasts, batches sorted by class). The finder keeps one per model and
loss, and reads what it found: the outputs' classes and the warnings.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras.src import backend as keras_backend  # `compute_output_spec`, as `fit` builds the compiled loss

from . import checks
from .bounded import bounded_warnings
from .broadcast import broadcast_warnings
from .crossentropy import crossentropy_warnings
from .arrays import holds_arrays, split_off
from .data import Batches, OnePass, as_batches, batch_targets, held_target_sets, held_targets, pass_in_memory, samples
from .labels import output_classes, target_classes
from .order import held_order, sorted_warning
from .own_step import calls
from .pages import page_count
from .step import TARGET_RANGE, first_share, keras_loss_name, loss_function
from .warn import warn


def _batch_row(batch: int, row: int) -> str:
    """A place among batches held in memory, for a message: the batch counted from 1."""
    return f"batch {batch + 1} (row {row})"


def _in_y(batch: int, row: int) -> str:
    """A place in arrays' targets y (read as one batch), for a message."""
    return f"y[{row}]"


def model_scope(model: keras.Model) -> contextlib.AbstractContextManager[Any]:
    """The scope of the strategy `model` was created under (where its new variables, and the checks'
    eager calls, belong), or none."""
    strategy = getattr(model, "distribute_strategy", None)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def split_share(validation_split: Any) -> Any:
    """`validation_split` with 0, `fit`'s default for no split, read as None (no split); any other
    value as given, for `validation_args` to check.

    Example:
        >>> split_share(0.0), split_share(0), split_share(None), split_share(0.2)
        (None, None, None, 0.2)
    """
    return None if checks.is_number(validation_split) and validation_split == 0 else validation_split


def validation_args(dataset: Any, validation_data: Any, validation_split: float | None,
                     validation_steps: int | None) -> tuple[Any, Any, int | None]:
    """`(dataset, validation_data, validation_steps)`, checked, with `validation_split`'s share of
    the arrays split off as the validation data (`tf_lrfinder.arrays.split_off`) where it is given.

    Example:
        >>> x, y = np.arange(10.0).reshape(5, 2), np.arange(5.0)
        >>> (x_train, y_train), (x_val, y_val), steps = validation_args((x, y), None, 0.4, None)
        >>> y_train.tolist(), y_val.tolist(), steps  # the last 40%, as `fit` splits them
        ([0.0, 1.0, 2.0], [3.0, 4.0], None)
    """
    if validation_steps is not None:
        validation_steps = checks.integer("validation_steps", validation_steps)
        if validation_data is None and validation_split is None:
            raise ValueError(f"`validation_steps` counts batches of the validation data, and this call has none. "
                             f"Received: validation_steps={validation_steps!r}. Pass `validation_data` or "
                             "`validation_split` too, or drop it.")
    if validation_split is None:
        return dataset, validation_data, validation_steps
    if validation_data is not None:
        raise ValueError("Pass `validation_data` or `validation_split`, not both: `validation_split` splits the "
                         "validation data off `dataset`.")
    return (*split_off(dataset, validation_split), validation_steps)


class Preflight:
    """The checks of one model and loss against the data a call reads, and what they found.

    Args:
        model: the finder's model.
        loss_fn: the finder's `loss_fn` as checked (None: the model's compiled loss, or its own).
        own_step: whether the model's own `train_step` trains (`tf_lrfinder.own_step`): its loss is
            its own, so only that the model is built and has something to train is checked.

    Attributes (set by `first_batch`, each call):
        classes: the model's outputs, where it has one output of several classes, else None.
        target_classes: each target's output name (None for one output) and that output's classes.
        warnings: what the checks warned of, in order (the first batch's, then the held batches').

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> check = Preflight(model, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x = np.zeros((6, 4), "float32")
        >>> check.first_batch((x, np.array([0, 1, 2, 0, 1, 2])), evaluates=False)
        >>> check.classes, check.target_classes, check.warnings
        (3, [(None, 3)], [])
        >>> check.first_batch((x, np.array([0, 1, 2, 0, 1, 3])), evaluates=False)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `dataset`'s targets do not fit the loss: ... give the model 4 outputs, or check the labels.
    """

    def __init__(self, model: keras.Model, loss_fn: Any, own_step: bool = False) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.own_step = own_step
        self.classes: int | None = None
        self.target_classes: list[tuple[str | None, int | None]] = []
        self.warnings: list[str] = []

    def validation_batches(self, data: Any, batch_size: int | None, batches: Batches, steps: int | None,
                           on_read: Callable[[], None] | None = None) -> OnePass | None:
        """The batches of `validation_data` that refining measures its runs on (None for none): one
        pass over it, or its first `steps` batches where that is less, as `fit(validation_steps=...)`
        reads it. Arrays are batched by `batch_size`, or else as the training data's first batch.
        Checked as the training data is, and named so. `on_read`: called after each batch read
        (`tf_lrfinder.data.as_batches`)."""
        if data is None:
            return None
        if not holds_arrays(data):
            batch_size = None  # batched already
        elif batch_size is None:
            batch_size = samples(batches.first)  # as the training batches
        if (steps is None and isinstance(data, tf.data.Dataset)
                and int(data.cardinality()) == int(tf.data.INFINITE_CARDINALITY)):
            raise ValueError("`validation_data` repeats forever (a tf.data.Dataset with `repeat()`), so it has no "
                             "end to measure the runs up to. Pass `validation_steps`, the batches to measure each "
                             "run on, or drop the `repeat()`.")
        if steps is None and isinstance(data, keras.utils.PyDataset) and page_count(data) is None:
            raise ValueError("`validation_data` is a keras.utils.PyDataset without end (its `num_batches` is None), "
                             "so it has no end to measure the runs up to. Pass `validation_steps`, the batches to "
                             "measure each run on.")
        with checks.naming("validation_data"):
            return OnePass(as_batches(data, self.model, steps, batch_size, targets=not self.computes_own_loss(),
                                      shuffle=False, on_read=on_read), steps)

    def _check_validation(self, validation: OnePass | None) -> None:
        """Raise a `ValueError` naming `validation_data` if its first batch does not fit the model or
        the loss: what `first_batch` checks of the training data (and calls this for), in inference
        mode, as it is measured."""
        if validation is None or self.own_step:  # the model's `test_step` is traced on it (`LRFinder._read`)
            return
        share, rows, of = first_share(self.model, validation.batches.first)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(share)
        with checks.naming("validation_data"), checks.on_share(rows, of):
            y_pred = checks.model_fits(self.model, x)
            if not self.computes_own_loss():
                checks.loss_fits(self.model, loss_function(self.model, self.loss_fn, training=False), x, y, y_pred,
                                 sample_weight, plain=self._plain_loss())

    def _plain_loss(self) -> bool:
        """Whether `loss_fn` is the user's plain function, which gets y as float32 (Keras's own, which a
        name gives, take that in their stride)."""
        return (self.loss_fn is not None and not isinstance(self.loss_fn, keras.losses.Loss)
                and keras_loss_name(self.loss_fn) is None)

    def computes_own_loss(self) -> bool:
        """Whether the loss is the model's own (compiled without one, no `loss_fn`; or its own
        `train_step` trains): x alone will do."""
        return self.own_step or (self.loss_fn is None and getattr(self.model, "_compile_loss", None) is None)

    def first_batch(self, first_batch: Any, evaluates: bool, validation: OnePass | None = None) -> None:
        """Check the first batch against the model and the loss, building what they need (an unbuilt
        model, the compiled loss); `evaluates`: whether `refine`'s runs will be measured too;
        `validation`: the batches they will be measured on instead of held-back ones, checked too.
        The finder builds the rest (`LRFinder._build`) after `held`."""
        share, rows, of = first_share(self.model, first_batch)  # the first replica's, on several
        self.warnings = []
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(share)
        if self.own_step:  # its loss is its step's: the step's trace checks the rest (`LRFinder._cover`)
            self.classes, self.target_classes = None, []
            with model_scope(self.model), checks.on_share(rows, of):
                if not self.model.built and not self.model.trainable_variables:  # (its step may not call it)
                    checks.model_fits(self.model, x)  # builds it, as `fit` builds it on its first batch
                checks.has_trainable_variables(self.model)
            return
        needs_loss_build = self.loss_fn is None and not getattr(self.model._compile_loss, "built", True)
        with model_scope(self.model):
            with checks.on_share(rows, of):
                y_pred = checks.model_fits(self.model, x)  # builds an unbuilt model; else changes nothing
                self.classes = output_classes(y_pred)
                self.target_classes = target_classes(y, y_pred, getattr(self.model, "output_names", None))
                checks.has_trainable_variables(self.model)
                if self.computes_own_loss():
                    value = checks.adds_a_loss(self.model, x, y, sample_weight, evaluates)
                    checks.finite_first_loss(self.model, loss_function(self.model, None), share, value, own=True)
                else:
                    if needs_loss_build:
                        self._build_compiled_loss(y, y_pred, sample_weight)
                    if len(self.target_classes) > 1:  # each output's labels against it (one output's: `loss_fits`)
                        self.labels_fit(share, [tf.nest.flatten(y)], lambda _, row: f"row {row} of the first batch")
                    loss = loss_function(self.model, self.loss_fn)
                    if self.loss_fn is None:
                        checks.own_losses_add(self.model, loss, x, y, sample_weight)
                    value = checks.loss_fits(self.model, loss, x, y, y_pred, sample_weight, plain=self._plain_loss())
                    checks.finite_first_loss(self.model, loss, share, value)
                    # Warned now, before the sweep, and kept in the sweep's `warnings` (`LRFinder.__call__`).
                    self.warnings = self._first_batch_warnings(y, y_pred)
                    for message in self.warnings:
                        warn(message)
            self._check_validation(validation)

    def _build_compiled_loss(self, y: Any, y_pred: Any, sample_weight: Any) -> None:
        """Build the model's compiled loss for the first batch as `fit` builds it: called symbolically, so
        that it first matches y to the outputs as a call does (an output compiled with a loss of None
        has no targets). Where that call fails (targets that do not fit it, say), built from y as it
        comes where that works, so that `checks.loss_fits` computes it eagerly and says why in Keras's
        words (or, where y does not fit the outputs' structure, the call there does)."""
        compiled = self.model._compile_loss
        try:
            keras_backend.compute_output_spec(compiled, y, y_pred, sample_weight)
        except Exception:  # noqa: BLE001 - not hidden: `loss_fits` computes the loss next, and raises its error
            if not compiled.built:
                with contextlib.suppress(Exception):  # the same: `loss_fits`'s call raises it
                    compiled.build(y, y_pred)

    def own_step_misfit(self, first_batch: Any, error: Exception, step: str = "train_step") -> ValueError | None:
        """Where the model's own `step` (`train_step`; `test_step`, by which refining measures its
        runs) raised `error` as it was traced on `first_batch`, what the checks of the finder's own
        step find wrong with that batch, if anything, as a `ValueError` to raise from `error`: x
        that does not fit the model (`checks.model_fits`), targets that do not fit its compiled
        loss (`checks.loss_fits`: one-hot labels for a sparse loss, a wrong shape). None where they
        find nothing, or cannot run (a model without `call`, one compiled without a loss): the
        step's error is its own. Only run where the step failed, so that a step that feeds its
        model or its loss in its own way is never told it is wrong."""
        if not calls(self.model):
            return None
        share, rows, of = first_share(self.model, first_batch)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(share)
        try:
            with model_scope(self.model), checks.on_share(rows, of):
                y_pred = checks.model_fits(self.model, x)
                compiled = getattr(self.model, "_compile_loss", None)
                if y is not None and compiled is not None and getattr(compiled, "built", False):
                    checks.loss_fits(self.model, loss_function(self.model, None), x, y, y_pred, sample_weight)
        except ValueError as found:
            return ValueError(
                f"The model's own `{step}` failed on the first batch as it was traced, before any step (its "
                f"{type(error).__name__} is above), and the finder's checks of that batch say why: {found} Nothing "
                "was changed.")
        return None

    def _first_batch_warnings(self, y: Any, y_pred: Any) -> list[str]:
        """What the first batch's targets `y` and the model's outputs `y_pred` say against the loss,
        output by output: probabilities or targets a crossentropy does not expect
        (`tf_lrfinder.crossentropy`), targets beyond what a bounded output reaches
        (`tf_lrfinder.bounded`), and targets a regression loss broadcasts (`tf_lrfinder.broadcast`)."""
        compiled = self.loss_fn is None
        loss, names = self.model.loss if compiled else self.loss_fn, getattr(self.model, "output_names", None)
        return (crossentropy_warnings(loss, y, y_pred, names, compiled)
                + bounded_warnings(self.model, loss, y, y_pred, names, compiled)
                + broadcast_warnings(loss, y, y_pred, names, compiled))

    def held_validation(self, validation: OnePass | None, data: Any, split: bool,
                        on_read: Callable[[], None] | None = None) -> OnePass | None:
        """`validation`, batched from `data` (split off `dataset` where `split`), read once and held
        where it fits (`tf_lrfinder.data.pass_in_memory`, calling `on_read` after each batch), before
        the sweep, and its class labels checked as `held` checks the training batches', where they
        are in memory (arrays: all of y; not a pass too large to hold, read afresh for each
        measurement)."""
        if validation is None:
            return None
        validation = pass_in_memory(validation, on_read=on_read)
        if validation.held is None and validation.batches.rereads:
            return validation
        with checks.naming("validation_split" if split else "validation_data"):
            if holds_arrays(data):  # named by their place in the arrays: the batches are shuffled
                where = (lambda _, row: f"sample {row} of the share split off") if split else _in_y
                self.labels_fit(validation.batches.first, batch_targets([data]), where, training=False)
            else:
                self.labels_fit(validation.batches.first, batch_targets(validation), _batch_row, training=False)
        return validation

    def labels_at_nan(self, record: np.ndarray, first: Any, where: str) -> None:
        """Where the loss turned NaN or inf on finite data at a step whose batches' targets (`record`,
        the step's row of the records: their range in its columns `step.TARGET_RANGE`)
        hold a class label outside the model's outputs that the loss rejects, raise a `ValueError`
        that says so (`labels_fit`, tried on the `first` batch): a GPU's sparse crossentropy turns
        NaN on such a label, where a CPU's raises, and the NaN is not the rate's doing. Batches held
        in memory were checked before; this finds it in batches streamed."""
        if np.isfinite(record[TARGET_RANGE]).all():  # one target (the range is NaN for several)
            self.labels_fit(first, [[record[TARGET_RANGE]]], lambda *_: where)

    def labels_fit(self, first: Any, ys: Sequence[Sequence[Any]] | None, where: Callable[[int, int], str],
                   training: bool = True) -> None:
        """`checks.labels_fit` of the targets `ys` (each batch's, flattened as `tf.nest.flatten(y)`
        lists them; None: none to check), each against the output it is matched to, for this model
        and loss, tried on the `first` batch (its first replica's share), in the model's strategy
        scope; not where the model computes its own loss."""
        if ys is None or self.computes_own_loss() or any(len(y) != len(self.target_classes) for y in ys):
            return
        with model_scope(self.model):
            share, loss = first_share(self.model, first)[0], loss_function(self.model, self.loss_fn, training=training)
            for k, (output, classes) in enumerate(self.target_classes):
                if classes is not None and classes >= 2:
                    checks.labels_fit(self.model, loss, share, [y[k] for y in ys], classes, where, target=k,
                                      output=output)

    def held(self, dataset: Any, batches: Batches, n: int) -> bool:
        """Check, before the sweep, the targets of the `n` batches it reads where they are at hand:
        raise where their class labels run outside the model's outputs and the loss rejects them
        (`checks.labels_fit`; for arrays, all of y), and warn where held batches come sorted by
        class, or in order of their targets' value (`tf_lrfinder.order`), keeping the warning with the
        setup's. Arrays the finder shuffles itself, as `fit` does. Returns whether the batches were
        checked: not where they stream (`held_targets`), which the sweep checks as it reads them."""
        if holds_arrays(dataset):
            self.labels_fit(batches.first, batch_targets([dataset]), _in_y)
            return True
        ys = held_targets(batches, n)
        if ys is None:  # for a model of several outputs, their labels are checked, not the batches' order
            self.labels_fit(batches.first, held_target_sets(batches, n), _batch_row)
            return False
        self.labels_fit(batches.first, [[y] for y in ys], _batch_row)
        message = sorted_warning(*held_order(ys, self.classes))
        if message is not None:
            self.warnings.append(message)
            warn(message)
        return True
