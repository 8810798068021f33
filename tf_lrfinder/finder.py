"""The LRFinder dataclass: validate, snapshot, sweep, restore, suggest."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from . import batchnorm as batchnorm_lib, checks, refine as refine_lib, schedule, smoothing as smoothing_lib
from . import suggest as suggest_lib
from .bounded import loss_range
from .compiled import uses_xla
from .data import Batches, OnePass, as_batches, in_memory, pass_in_memory, samples
from .diagnose import stopped_early, sweep_warnings
from .labels import rejected_labels
from .order import sorted_warning, streamed_order
from .preflight import Preflight, model_scope, split_share, validation_args
from .rates import accumulation_steps, rate_cap, rate_swapped, rate_target, start_accumulation
from .state import (LOCATIONS, Snapshot, components, global_random_variables, keeps_global_random,
                    untracked_variables, written_variables)
from .step import (COMPILED_EVERY_STEP, DIVERGED, LOSS, NOT_FINITE, RECORD_COLUMNS, RESTARTS, RUNNING, SMOOTHED,
                   TARGET_MEAN, TARGET_MEAN_VARIANCE, SweepState, after_scope, build_evaluate, build_sweep,
                   compiled_every_step, loss_function, nonfinite_parts, replica_overflow_warning)
from .own_step import (build_as_fit, build_model_evaluate, calls, legacy_metrics_warning, model_train_step,
                       noting_legacy_metrics, overrides)
from .warn import warn

STOP_REASONS = {DIVERGED: "diverged", NOT_FINITE: "not_finite"}
MIN_STEPS = 5
RAN_OUT = ("`dataset` ran out: it yielded no batch when read again. A tf.data.Dataset over a generator "
           "object can be read only once; pass one that can be read again (give `from_generator` a "
           "function that makes a new generator), or pass the batches themselves as a list or arrays.")


# The constructor's arguments that what the finder builds depends on (see `LRFinder.__setattr__`).
_CONFIGURATION = ("model", "optimizer", "loss_fn", "steps_per_execution", "snapshot", "step", "monitor")


@dataclass
class LRFinder:
    """Learning-rate range test for a Keras model (Smith 2015; fastai's `lr_find`).

    Trains for `n_steps` steps while the learning rate grows from `min_lr` to `max_lr`, records the
    loss, stops when it diverges, and suggests a rate; by default it then checks that reading with
    a few short runs at rates around it (`refine`) and returns the best of them. The model's and
    optimizer's variables are snapshotted first and restored afterwards, whatever happens, bit for
    bit (each replica's copy, for a model created under a `tf.distribute` strategy).

    Args:
        model: a Keras model. If compiled, `optimizer` and `loss_fn` default to its own. One created
            under a `MirroredStrategy` or `OneDeviceStrategy` is swept on the strategy's replicas,
            each on its share of every batch, as `fit` trains it (call the finder inside the `with
            strategy.scope():` block or after it; its optimizer must be created inside it, or
            named); what the finder builds (the optimizer's slots) is built under that strategy,
            and its own variables never are. One compiled with
            `run_eagerly=True` is swept eagerly, as `fit` runs it.
        optimizer: the optimizer to sweep (default: `model.optimizer`), or a name such as `"adam"`
            (a new one with Keras's defaults, as `compile` makes it, under the model's strategy if
            it has one; an optimizer object made outside that strategy raises a `ValueError`, as
            `fit` would fail on it). Learning rates are absolute.
            One created with `gradient_accumulation_steps=k` updates the weights every k batches:
            then a step (of the sweep, of `refine`'s runs) is one update, k batches at one rate, and
            the loss recorded is their mean, so the sweep and the runs make as many updates as
            without accumulation. A `MultiOptimizer`'s sub-optimizers move together, each keeping its
            ratio to the default optimizer's rate, which is the rate swept and suggested
            (`tf_lrfinder.rates.ratios`).
        loss_fn: a `keras.losses.Loss`, a loss name such as `"mse"`, or a function
            `(y_true, y_pred) -> per-sample losses` (default: the model's compiled loss, as `fit`
            computes it: for several outputs, compile with a dict of losses; a model compiled without
            a loss may add its own with `add_loss` or compute it in `compute_loss`).
        steps_per_execution: training steps per compiled call (default 20): the loss is read back
            once per call. 1 gives one call per step, as does a model with sparse gradients (an
            `Embedding`'s) on several replicas of a strategy, whose gather fails on a second step.
        snapshot: where the backup of the variables lives during a sweep: `"device"` (default,
            fastest; emptied after each sweep), `"host"` or `"disk"` for models too large to hold
            twice on the accelerator.
        verbose: show progress bars (default True): "LR data" while batches are read to be held
            before the sweep (not arrays), "LR sweep", and "LR check" for refining's runs.
        tqdm_class: progress-bar class (default `tqdm.auto.tqdm`: a widget in notebooks).
        step: which step trains: `"auto"` (default) the model's own `train_step` where its class
            overrides Keras's, as `fit` trains it (a VAE, a GAN, a custom update), else the
            finder's; `"model"` the model's `train_step` always; `"finder"` the finder's always
            (`tf_lrfinder.own_step`). The model's step needs a compiled model, and no `loss_fn`.
        monitor: where the model's own step trains, the key of its loss in what its `train_step`
            (and `test_step`, which measures refining's runs) returns (default `"loss"`).

    Setting one of these arguments on the finder later (`finder.optimizer = keras.optimizers.SGD()`)
    checks it as the constructor does and the next call sweeps with it.

    Attributes (after a sweep):
        lrs, losses, smoothed_losses: one entry per step taken.
        lr_opt: the suggested learning rate: the refined one (`trials.lr`) when `refine` ran, else
            the rule's (`suggest(method).lr`).
        trials: the short runs of `refine` (a `tf_lrfinder.refine.Trials`), or None.
        stop_reason: `"completed"`, `"diverged"` or `"not_finite"`.
        cycled: whether the data ran out and was cycled.
        warnings: why the sweep may not be trustworthy (also emitted as `UserWarning`): first what the
            first batch showed before it (logits or targets a crossentropy does not expect,
            `tf_lrfinder.crossentropy`; batches held in memory sorted by class or in order of their
            targets, `tf_lrfinder.order`), then the sweep's (first among them, a model's own step
            that calls tf.keras 2's `compiled_metrics`, `tf_lrfinder.own_step.legacy_metrics_warning`;
            then batches it streamed in order of their targets).

    Example (one sweep, then what the methods read from it; their own docs refer to this `finder`):
        >>> import keras, numpy as np
        >>> keras.utils.set_random_seed(0)
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> x = np.random.rand(2048, 4).astype("float32"); y = x.sum(1, keepdims=True)
        >>> finder = LRFinder(model, keras.optimizers.SGD(), "mse", verbose=False)
        >>> before = [v.numpy() for v in model.weights]
        >>> lr = finder((x, y), batch_size=32, n_steps=60)
        >>> 1e-7 <= lr <= 10, lr == finder.lr_opt, len(finder.losses) <= 60
        (True, True, True)
        >>> all((a == b.numpy()).all() for a, b in zip(before, model.weights))  # restored, bit for bit
        True
        >>> lr == finder.trials.lr and lr in finder.trials.lrs  # refined: the best of four (or more) short runs
        True
        >>> finder.suggest().lr in finder.trials.lrs  # the sweep's own reading was one of them
        True
        >>> s = finder.suggest("valley")  # fastai's rule on the same sweep, no new sweep
        >>> s.method, s.lr == finder.lrs[s.index]
        ('valley', True)
        >>> base_lr, max_lr = finder.suggest_range()
        >>> base_lr < max_lr, round(max_lr / finder.suggest().lr, 6)
        (True, 4.0)
        >>> h = finder.history
        >>> h["stop_reason"] in ("completed", "diverged", "not_finite"), len(h["lrs"]) == len(h["losses"])
        (True, True)
        >>> h["settings"]["n_steps"], h["lr_opt"] == finder.lr_opt
        (60, True)
        >>> ax = finder.plot(methods=("robust_minimum", "valley"))
        >>> ax.get_xscale(), [t.get_text().split(":")[0] for t in ax.texts]  # one labelled mark each
        ('log', ['refined', 'robust_minimum', 'valley'])
        >>> finder.plot_loss_change().get_xscale()
        'log'
        >>> finder.plot_trials().get_lines()[0].get_xdata().tolist() == [  # the runs refining chose from
        ...     r for r, v in zip(finder.trials.lrs, finder.trials.losses) if v <= 1.5 * finder.trials.start_loss]
        True
        >>> lr = finder.refine((x, y), batch_size=32, validation_data=(x[:64], y[:64]))  # measured on these
        >>> lr == finder.lr_opt == finder.trials.lr, finder.trials.validation
        (True, True)
    """

    model: keras.Model
    optimizer: keras.optimizers.Optimizer | str | None = None
    loss_fn: Callable | str | None = None
    steps_per_execution: int = 20
    snapshot: str = "device"
    verbose: bool = True
    tqdm_class: Callable[..., Any] = tqdm
    step: str = "auto"
    monitor: str = "loss"

    lrs: list[float] = field(default_factory=list, init=False)
    losses: list[float] = field(default_factory=list, init=False)
    smoothed_losses: list[float] = field(default_factory=list, init=False)
    stop_reason: str | None = field(default=None, init=False)
    cycled: bool = field(default=False, init=False)
    warnings: list[str] = field(default_factory=list, init=False)
    settings: dict[str, Any] = field(default_factory=dict, init=False)
    lr_opt: float | None = field(default=None, init=False)
    trials: refine_lib.Trials | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        checks.tensorflow_backend()
        checks.keras_model(self.model)
        compiled = getattr(self.model, "compiled", False)
        self._own_step = checks.own_step(self.step, self.monitor, self.model, self.loss_fn, compiled)
        if (self.step == "finder" and overrides(self.model, "train_step")
                and self.__dict__.get("_warned_for") is not self.model):  # once per model
            self._warned_for = self.model
            warn(f"`model` ({type(self.model).__name__}) overrides `train_step`, which the finder does not "
                 "call with step='finder': it trains with its own step (the model called with training=True, "
                 "`loss_fn` or the compiled loss, gradients of every trainable variable). The rates it suggests "
                 "are for that step; if yours trains differently (a GAN, a custom loss), they may not fit it. "
                 "step='auto' (the default) trains with yours.")
        self._compiled_optimizer = self.optimizer is None  # follows the model's compile, a recompile too
        self.optimizer = checks.one_optimizer(self.optimizer, self.model, compiled)
        checks.same_strategy(self.model, self.optimizer, self._compiled_optimizer)
        self._lr_target, self._swap = rate_target(self.optimizer)
        self._per_update = accumulation_steps(self.optimizer)  # batches per step (and per held-back batch)
        # A model compiled without a loss may still have one (`add_loss`, or its own `compute_loss`):
        # `_read` checks that on the first batch, before anything changes.
        self.loss_fn = None if self._own_step else checks.one_loss(self.loss_fn, compiled)
        self.steps_per_execution = checks.integer("steps_per_execution", self.steps_per_execution)
        if self.snapshot not in LOCATIONS:
            raise ValueError(f"`snapshot` must be one of {LOCATIONS}. Received: snapshot={self.snapshot!r}")
        self._state: SweepState | None = None
        self._run: Callable | None = None
        self._evaluate: Callable | None = None
        self._update_bn: Callable | None = None
        self._traced_with: list[Any] = []
        self._legacy_metrics: set[str] = set()  # the own steps traced that call `compiled_metrics` (`noting_legacy_metrics`)
        self._preflight = Preflight(self.model, self.loss_fn, self._own_step)  # the checks of the data, and what they found
        self._snapshot: Snapshot | None = None
        self._ready = True

    def __setattr__(self, name: str, value: Any) -> None:
        # The compiled step, the rate it sets and the snapshot were built for the model, optimizer and
        # loss as they were: a new one is checked as the constructor checks it and they are rebuilt,
        # so a later call never trains the old optimizer (nor leaves it changed, outside the
        # snapshot). A value that fails the checks raises, and the old one is kept.
        if name not in _CONFIGURATION or not self.__dict__.get("_ready", False):
            object.__setattr__(self, name, value)
            return
        before = dict(self.__dict__)
        object.__setattr__(self, "_ready", False)
        if name != "optimizer" and self._compiled_optimizer:
            object.__setattr__(self, "optimizer", None)  # still the (new) model's compiled one
        object.__setattr__(self, name, value)
        try:
            self.__post_init__()
        except Exception:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def __repr__(self) -> str:
        """One line: what is swept and where the sweep stands (not its hundreds of recorded numbers).

        Example:
            >>> import keras
            >>> LRFinder(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)], name="net"), "sgd", "mse")
            LRFinder(model='net', optimizer=SGD, loss_fn=mean_squared_error, no sweep yet)
        """
        loss = f"its train_step's {self.monitor!r}" if self._own_step else "compiled" if self.loss_fn is None else (
            getattr(self.loss_fn, "name", None) or getattr(self.loss_fn, "__name__", None) or type(self.loss_fn).__name__)
        head = f"LRFinder(model={self.model.name!r}, optimizer={type(self.optimizer).__name__}, loss_fn={loss}"
        if not self.lrs:
            return head + ", no sweep yet)"
        steps = f"{len(self.lrs)} of {self.settings.get('n_steps', len(self.lrs))} steps ({self.stop_reason})"
        lr_opt = "None" if self.lr_opt is None else f"{self.lr_opt:.3g}"
        return (head + f", swept {self.lrs[0]:.3g} to {self.lrs[-1]:.3g} in {steps}, lr_opt={lr_opt}"
                + (f", warnings: {len(self.warnings)}" if self.warnings else "") + ")")

    # -- the sweep -------------------------------------------------------------------------------

    @after_scope
    @keeps_global_random
    def __call__(self, dataset: Any, min_lr: float = 1e-7, max_lr: float = 10.0, n_steps: int = 100, *,
                 batch_size: int | None = None, mode: str = "exponential", smoothing: float = 0.98,
                 diverge_factor: float | None = 4.0, method: str = suggest_lib.DEFAULT_METHOD,
                 refine: bool | None = None, class_weight: dict[int, float] | None = None,
                 validation_data: Any = None, validation_split: float | None = None,
                 validation_steps: int | None = None) -> float:
        """Run the range test and return the suggested learning rate.

        Args:
            dataset: a batched `tf.data.Dataset` (or any iterable) of `(x, y)` or
                `(x, y, sample_weight)`; `x` may be a dict, and an input declared `optional=True`
                None. Or a tuple of arrays with `batch_size` (`x` and `y` may be dicts or lists of
                arrays, pandas tables or sparse matrices, as `fit` takes them).
                Data shorter than the batches needed is cycled.
            min_lr: first learning rate (default 1e-7).
            max_lr: last learning rate (default 10).
            n_steps: steps in the sweep (default 100, at least 5). 300 gives a steadier reading of
                the sweep alone (the suggestion benchmark's worst task: 0.776 against 0.684), but
                refining after 100 steps does better (0.842) for about the same cost. 30 reads
                worse (the sweep alone: 0.816 on average over the benchmark's 300 tasks, against
                0.913 at 100).
            batch_size: batch size, for arrays (for a `tf.data.Dataset`, None or the size it is batched by).
            mode: `"exponential"` (default) or `"linear"` spacing of the rates. The default
                suggestion is designed on exponential sweeps (its window is in decades); on
                linear ones it does well only over a narrow range (see the README).
            smoothing: EMA weight of the past for the smoothed loss, in [0, 1) (default 0.98).
            diverge_factor: stop when the smoothed loss exceeds this multiple of its best (default 4),
                by more than three times the loss's noise at the sweep's start (`smoothing.diverged`).
                None: stop only at a NaN or inf loss, as fastai's `stop_div=False` and Lightning's
                `early_stop_threshold=None` do, to record the whole curve (refining's runs then
                stop only there too).
            method: suggestion rule (see `tf_lrfinder.suggest.SUGGESTERS`).
            refine: after the sweep, check its reading by training (`refine` with its defaults:
                four to seven runs of 100 steps, four to seven times a default sweep). None
                (default) refines when `method` is the default rule, so that naming another rule
                returns that rule, and where refining cannot measure its runs on the model (a loss
                the model computes only when training; its own `test_step` fails), warns so and
                returns the sweep's reading; True raises there (`checks.Unmeasurable`).
            class_weight: a weight per class index (`{0: 1.0, 1: 5.0}`), as `fit` takes it: each
                sample's loss is weighted by its label's class (integer labels or one-hot rows; a
                class left out weighs 1), in the sweep and in refining's runs and measurements.
                Not with sample weights in `dataset`, nor for several outputs. `{}`, as in `fit`: none.
            validation_data: data refining measures its runs on instead of batches held back from
                `dataset` (see `refine`), as `fit` takes it: a tuple of arrays (batched by
                `batch_size`, or as `dataset`'s first batch), a `tf.data.Dataset` or an iterable of
                batches. Only with refining (a `ValueError` with `refine=False`).
            validation_split: instead of `validation_data`, for arrays: the share of their samples,
                the last ones, as `fit` takes it, that refining measures its runs on; the sweep and
                the runs train on the others. None (default) or 0, `fit`'s default: no split.
            validation_steps: the batches of the validation data to measure each run on, as `fit`
                takes it: None (default) for all of it, one pass.

        Returns:
            The suggested learning rate, also kept as `lr_opt`: the refined one when `refine`
            ran, else the rule's (`suggest(method).lr`).

        Raises:
            ValueError/TypeError: for bad arguments or data, before any state is touched; a
                ValueError after the sweep (state restored) if it stopped with too few points to
                suggest a rate (saying why it stopped and what to do: `diagnose.stopped_early`),
                if the data ran out when read again, or if the loss turned NaN or inf on data that
                hold NaN or inf values (in the sweep or refining's runs; the error names the part), or
                on a batch that holds class labels outside the model's outputs, or if the loss before
                refining's runs is NaN or inf on finite data (`checks.measurable_start`).
            ValueError: when called inside `strategy.scope()` of a strategy other than the one the
                model was created under, before any state is touched (inside the model's own, the
                call runs as after the `with` block: `tf_lrfinder.step.after_scope`).
            tf.errors.ResourceExhaustedError: out of memory, as TensorFlow raises it, its message led
                by what the device snapshot holds and how to move it off the device (state restored).
        """
        checks.positive_finite("min_lr", min_lr)
        checks.positive_finite("max_lr", max_lr)
        if max_lr <= min_lr:
            raise ValueError(f"`max_lr` must be greater than `min_lr`. Received: {min_lr=}, {max_lr=}")
        n_steps = checks.integer("n_steps", n_steps, MIN_STEPS,
                                 ": fewer steps are too few to suggest anything (100 is typical)")
        smoothing = checks.share("smoothing", smoothing)
        if diverge_factor is not None and (not checks.is_number(diverge_factor)
                                           or not (np.isfinite(diverge_factor) and diverge_factor > 1)):
            raise ValueError("`diverge_factor` must be a finite number above 1, or None to stop only at a NaN or "
                             f"inf loss. Received: {diverge_factor=}")
        suggest_lib.check_method(method)
        if refine is not None and not isinstance(refine, bool):
            raise TypeError(f"`refine` must be True, False or None. Received: {refine=}")
        asked, refine = refine, method == suggest_lib.DEFAULT_METHOD if refine is None else refine
        validation_split = split_share(validation_split)
        if (validation_data is not None or validation_split is not None) and not refine:
            name = "validation_data" if validation_data is not None else "validation_split"
            raise ValueError(f"`{name}` is read only by refining's runs, and this call runs none (refine="
                             f"{refine}, method={method!r}). Drop it, or pass refine=True.")
        lrs = schedule.learning_rates(int(n_steps), float(min_lr), float(max_lr), mode)
        batches, validation, streamed, skipped = self._read(
            dataset, batch_size, class_weight, validation_data, validation_split, validation_steps, int(n_steps),
            (refine_lib.EVAL_BATCHES, refine_lib.STEPS, refine_lib.TIE_STEPS) if refine else None,
            skippable=asked is None and validation_data is None and validation_split is None)
        refine = refine and skipped is None
        self._state.reset(lrs, smoothing_lib.bias_correction(len(lrs), smoothing), smoothing,
                          np.inf if diverge_factor is None else diverge_factor)
        with self._memory_hint():
            records, status = self._sweep_restoring_state(batches.dataset, int(n_steps), lrs)
        overflows = int(self._state.overflows.numpy())
        if overflows:
            warn(replica_overflow_warning(overflows, "the sweep's"))

        self.lrs = lrs[: len(records)].tolist()
        self.losses = records[:, LOSS].tolist()
        self.smoothed_losses = records[:, SMOOTHED].tolist()
        self.stop_reason = STOP_REASONS.get(status, "completed")
        self.cycled = bool(len(records) and records[-1, RESTARTS] > 0)  # the data started again
        self.settings = dict(min_lr=float(min_lr), max_lr=float(max_lr), n_steps=int(n_steps), mode=mode,
                             smoothing=float(smoothing),
                             diverge_factor=None if diverge_factor is None else float(diverge_factor), method=method,
                             refine=refine, gradient_accumulation_steps=self._per_update,
                             step="model" if self._own_step else "finder",  # which trained: the model's `train_step`?
                             monitor=self.monitor if self._own_step else None,
                             class_weight=None if class_weight is None else  # JSON's keys are strings
                             {str(int(k)): float(v) for k, v in class_weight.items()})
        self.lr_opt = None
        self.trials = None
        if self.stop_reason == "not_finite":
            self.warnings = []
            checks.finite_data(int(self._state.bad_data.numpy()),  # that step's batch, or the one before
                               f"the sweep's loss at its step {len(self.lrs)} of {n_steps} (a rate of "
                               f"{self.lrs[-1]:.3g})", loss_finite=bool(np.isfinite(self.losses[-1])))
            self._preflight.labels_at_nan(records[-1], batches.first, f"the batch of the sweep's step {len(self.lrs)}")
            if self._own_step and len(self.lrs) == 1:  # the loss at the weights as they are (for the finder's
                # own step, `Preflight.first_batch` computed it before the sweep)
                raise checks.nonfinite_start(self.model, self.losses[0], f"The loss the model's `train_step` "
                                             f"returned as {self.monitor!r}", "in the model or in the loss its "
                                             "`train_step` computes", restored=True)
        suggestion = None
        try:
            suggestion = self._read_short(lambda: self.suggest(method))
        finally:
            told = None if suggestion is not None else stopped_early(self.lrs, int(n_steps), self.stop_reason)
            in_order = None
            if streamed:  # its first pass: batches read again say nothing more of their order
                first_pass = records[records[:, RESTARTS] == 0]
                means, variances = first_pass[:, TARGET_MEAN], first_pass[:, TARGET_MEAN_VARIANCE]
                in_order = sorted_warning(*streamed_order(means, variances, self._preflight.classes))
            swept = [m for m in (self._legacy_warning(), skipped, in_order) if m is not None] + sweep_warnings(
                np.array(self.lrs), np.array(self.losses), int(n_steps), self.stop_reason, self.cycled,
                suggestion and suggestion.index, suggestion and suggestion.lr, batches.cardinality,
                rate_cap(self.optimizer, len(self.lrs)), diverge_factor=diverge_factor,
                bound=None if self._own_step else loss_range(self.model, self.model.loss if self.loss_fn is None
                                                             else self.loss_fn))
            self.warnings = self._preflight.warnings + swept  # the setup's were warned before the sweep
            for message in swept:
                if message != told:  # raised, not warned too
                    warn(message)
        self.lr_opt = suggestion.lr
        if refine:
            lrs = refine_lib.candidates(self.suggest_range()[1])
            self._refine(batches, lrs, refine_lib.STEPS, refine_lib.EVAL_BATCHES, refine_lib.TOLERANCE,
                         refine_lib.EXTEND, refine_lib.MARGIN, update_bn=True, tie_steps=refine_lib.TIE_STEPS,
                         edge=refine_lib.EDGE, validation=validation)
        return self.lr_opt

    def _read(self, dataset: Any, batch_size: int | None, class_weight: dict[int, float] | None,
              validation_data: Any, validation_split: float | None, validation_steps: int | None, sweep_steps: int,
              runs: tuple[int, int, int] | None, skippable: bool = False
              ) -> tuple[Batches, OnePass | None, bool, str | None]:
        """Take a call's data as `fit` takes it, check it, and build what the call needs, before
        anything changes: `dataset` as the batches of a sweep of `sweep_steps` steps and, given `runs`
        (refining's `eval_batches`, `steps` and `tie_steps`), of refining's runs, held in memory for
        them (a pipeline then runs once for the sweep and the runs); the validation data or split;
        the first batch's checks (`Preflight.first_batch`, which builds an unbuilt model and the
        compiled loss) and the held batches' (`Preflight.held`); then `_build`. Follows a new
        `compile` of the model first, where the optimizer is its compiled one. Where `skippable`
        (refining by default, not asked for), refining that cannot measure its runs on the model
        (`checks.Unmeasurable`) is skipped, not raised. Returns the batches, the validation batches
        (None without), whether the batches stream (the sweep then checks their order as it reads
        them) and, where refining was skipped, why (`Unmeasurable.skipped`, warned by the caller
        after the sweep: where the data do not fit the model's own step, which its `test_step`
        may have failed on too, the sweep raises that first), else None."""
        dataset, validation_data, validation_steps = validation_args(dataset, validation_data, validation_split,
                                                                     validation_steps)
        read = 0 if runs is None else self._runs_read(*runs, validated=validation_data is not None)
        needed = max(sweep_steps * self._per_update, read)  # batches of the stream read
        with self._reading(needed) as counted:
            batches = as_batches(dataset, self.model, needed, batch_size,
                                 targets=not self._preflight.computes_own_loss(), class_weight=class_weight,
                                 on_read=counted)
        with self._reading(validation_steps, " (validation)") as counted:
            validation = self._preflight.validation_batches(validation_data, batch_size, batches, validation_steps,
                                                            counted)
        if self._compiled_optimizer and getattr(self.model, "optimizer", None) not in (None, self.optimizer):
            self.optimizer = None  # the model was compiled again: its new optimizer (see `__setattr__`)
        skipped = None
        try:
            self._preflight.first_batch(batches.first, runs is not None, validation)
        except checks.Unmeasurable as error:
            if not skippable:
                raise
            self._preflight.first_batch(batches.first, False, validation)  # its checks of the sweep alone
            runs, skipped = None, error.skipped
        if runs is not None:
            with self._reading(needed) as counted:
                batches = in_memory(batches, needed, on_read=counted)
        streamed = not self._preflight.held(dataset, batches, needed)
        with self._reading(validation and validation.length, " (validation)") as counted:
            validation = self._preflight.held_validation(validation, validation_data, validation_split is not None,
                                                         counted)
        if self._own_step:
            build_as_fit(self.model, batches.first)
        self._build()
        if self._own_step and runs is not None:
            try:
                self._traces_test_step(batches if validation is None else validation.batches,
                                       "dataset" if validation is None else "validation_data")
            except checks.Unmeasurable as error:
                if not skippable:
                    raise
                skipped = error.skipped
        return batches, validation, streamed, skipped

    @contextlib.contextmanager
    def _reading(self, total: int | None, what: str = "") -> Iterator[Callable[[], None]]:
        """A callback that counts each batch read to be held before the sweep (from a pipeline, a
        generator, a PyDataset) on a progress bar, "LR data" and `what`, which opens at the first
        batch read: no bar shows where nothing is read (arrays, batches held already). `total`: the
        most batches that will be read (None: not known)."""
        bar = None

        def counted() -> None:
            nonlocal bar
            if bar is None:
                bar = self.tqdm_class(total=total, disable=not self.verbose, desc=f"LR data{what}", unit="batch",
                                      leave=False)
            bar.update(1)
        try:
            yield counted
        finally:
            if bar is not None:
                bar.close()

    @contextlib.contextmanager
    def _noting_legacy(self, step: str) -> Iterator[None]:
        """Inside, a trace of the model's own `step` (`"train_step"`, `"test_step"`) that calls tf.keras
        2's `compiled_metrics` is noted for `_legacy_warning` (`noting_legacy_metrics`), where the
        trace ends without an error."""
        with noting_legacy_metrics() as legacy:
            yield
        if legacy:
            self._legacy_metrics.add(step)

    def _legacy_warning(self) -> str | None:
        """The warning for the model's own steps traced that call tf.keras 2's `compiled_metrics`
        (`own_step.legacy_metrics_warning`), or None where none does."""
        steps = [step for step in ("train_step", "test_step") if step in self._legacy_metrics]
        return legacy_metrics_warning(self.monitor, steps) if steps else None

    def _traces_test_step(self, batches: Batches, what: str) -> None:
        """Where the model's own step trains, trace the model's `test_step`, by which refining
        measures its runs, on `batches` (of the argument `what`), before anything changes. Where it
        fails, a `ValueError` that says why where the first batch does not fit the model or its
        compiled loss (`Preflight.own_step_misfit`), else a `checks.Unmeasurable` (a model that
        computes its loss only in `train_step`)."""
        try:
            with self._noting_legacy("test_step"):
                written_variables(self._evaluator(), batches.dataset.element_spec[1])  # the runs' measurements use it
        except Exception as error:
            told = self._preflight.own_step_misfit(batches.first, error, "test_step")
            if told is not None:
                with checks.naming(what):
                    raise told from error
            raise checks.Unmeasurable(
                f"Refining measures its runs by the model's own `test_step` on batches of `{what}`, as `fit` measures "
                f"`validation_data`, and it failed there: {type(error).__name__}: {checks.message_of(error)}",
                f"Give the model a `test_step` that returns its loss under `monitor` ({self.monitor!r})") from error

    def _evaluator(self) -> Callable:
        """The compiled loss of one batch that refining measures its runs by, built where it was not:
        the model's own `test_step` where its own step trains, else the finder's loss in inference mode."""
        if self._evaluate is None:
            self._evaluate = (build_model_evaluate(self.model, self.monitor) if self._own_step else
                              build_evaluate(self.model, loss_function(self.model, self.loss_fn, training=False)))
        return self._evaluate

    def _build(self) -> None:
        """Build what the sweep needs after the checks of `_read` passed: the optimizer's slots, and
        the compiled functions where what they were traced with changed."""
        # The model's own step may apply an optimizer to some variables only (a GAN's), or not the compiled
        # one: it builds those it applies as it is traced, before the snapshot (`_cover`), as in `fit`
        # (under a strategy, `_read` builds what `fit` builds before: `build_as_fit`).
        if not self._own_step:
            if not self.optimizer.built:  # slots (Adam's moments...) must exist before the snapshot and tracing
                with model_scope(self.model):
                    self.optimizer.build(self.model.trainable_variables)
            checks.optimizer_knows(self.optimizer, self.model.trainable_variables)
        per_update = accumulation_steps(self.optimizer)
        if per_update != self._per_update:  # a selector's sub-optimizers, known once built
            self._per_update = per_update
            raise ValueError(
                f"The MultiOptimizer's sub-optimizers accumulate gradients over {self._per_update} batches, "
                "which the finder could not know before it was built (its selector function gives it its "
                "sub-optimizers then): it is built now, with nothing else changed. Call the finder again.")
        # The compiled functions hold the trainable variables and the compiled loss they were traced
        # with: layers frozen or unfrozen since, or a new `compile`, need new ones; so does a change of
        # `model.run_eagerly` (`compiled.for_model`) or `model.jit_compile` (`compiled.uses_xla`).
        traced_with = [bool(getattr(self.model, "run_eagerly", False)), uses_xla(self.model),
                       getattr(self.model, "_compile_loss", None), *self.model.trainable_variables]
        if len(traced_with) != len(self._traced_with) or any(
                a is not b for a, b in zip(traced_with, self._traced_with)):
            self._run = self._evaluate = self._update_bn = None
            self._traced_with, self._legacy_metrics = traced_with, set()
        if self._state is None:
            self._state = SweepState()
        if self._run is None:
            if uses_xla(self.model) and compiled_every_step(self.model, self.optimizer):
                warn(COMPILED_EVERY_STEP)
            target = self._state.lr if self._swap else self._lr_target
            if self._own_step:
                self._run = build_sweep(self.model, self.optimizer, None, target, self._state,
                                        own_step=model_train_step(self.model, self.monitor, self.optimizer))
            else:
                self._run = build_sweep(self.model, self.optimizer, loss_function(self.model, self.loss_fn), target,
                                        self._state)

    def _cover(self, dataset: tf.data.Dataset, measured: Sequence[Any] = ()) -> None:
        """Make the snapshot cover every variable the steps on `dataset` may change: the model's (all
        of them), the optimizer's, the metrics', those of its layers Keras does not track
        (`untracked_variables`), and any other the compiled step writes (`written_variables`: one
        held in a plain object or a closure, say), read off its trace for `dataset`, which the steps
        then run; and any other that refining's measurements write (`_evaluate`, in inference mode),
        read off their trace for each batch spec in `measured`. The finder's own records and the
        global random generators are left out: the finder reads the first after a sweep, and
        `keeps_global_random` puts the others back."""
        variables = list(self.model.variables) + list(self.optimizer.variables)
        variables += list(getattr(self.model, "metrics_variables", [])) + untracked_variables(self.model)
        known = {id(c) for v in variables for c in components(v)}
        known |= {id(c) for v in [*vars(self._state).values(), *global_random_variables()] for c in components(v)}
        steps = tf.TensorSpec([], tf.int32)  # as `_chunks` passes it
        try:
            with self._noting_legacy("train_step"):  # seen where it is traced, once
                written = written_variables(self._run, tf.data.IteratorSpec(dataset.element_spec), steps)
        except (RuntimeError, AttributeError) as error:  # where the step is traced, before the snapshot and any step
            told = checks.average_written(error, self.optimizer, self.model) or checks.untraceable(error)
            if told is None:
                raise
            raise told from error
        except (ValueError, TypeError) as error:  # no gradients; or the model's own step, traced on data that may not fit
            told = checks.no_gradients(error) or (
                self._own_step and self._preflight.own_step_misfit(next(iter(dataset.take(1)))[1], error))
            if not told:
                raise
            raise told from error
        if self._own_step and not self._applied(written):
            raise checks.not_applied(self.optimizer, self.model, written)
        for spec in measured:
            written += written_variables(self._evaluate, spec)
        for variable in written:
            parts = {id(c) for c in components(variable)}
            if not known & parts:
                variables.append(variable)
                known |= parts
        if self._snapshot is None or not self._snapshot.matches(variables):
            self._snapshot = Snapshot(variables, self.snapshot)

    def _applied(self, written: Sequence[Any]) -> bool:
        """Whether a step that writes the variables `written` applies the finder's optimizer: writes
        any of its variables but the rate the sweep sets. They are read after the step's trace, which
        builds an optimizer not yet built; its `iterations` is none of them where it accumulates
        gradients (a count of updates, made of its count of batches)."""
        own = {id(c) for v in self.optimizer.variables for c in components(v)}
        own -= {id(c) for c in components(self._lr_target)}
        return bool(own & {id(c) for v in written for c in components(v)})

    @contextlib.contextmanager
    def _memory_hint(self) -> Iterator[None]:
        """Re-raise a device out-of-memory error with what the finder's own snapshot holds there, and
        how to move it off the device (the state is restored by then, or was never changed)."""
        try:
            yield
        except tf.errors.ResourceExhaustedError as error:
            if self._snapshot is None or self._snapshot.location != "device":
                raise
            hint = (f"The finder ran out of memory. Its snapshot (snapshot='device') holds a copy of the model's "
                    f"and the optimizer's variables beside them, {self._snapshot.nbytes / 2**20:.1f} MiB: pass "
                    "`LRFinder(..., snapshot='host')` to hold it in host memory instead (off a GPU), or "
                    "snapshot='disk' to hold it in files; or lower the batch size. The state is restored.")
            raise type(error)(error.node_def, error.op, f"{hint}\n\n{error.message}") from error

    @contextlib.contextmanager
    def _restoring_state(self, dataset: tf.data.Dataset, measured: Sequence[Any] = ()) -> Iterator[None]:
        """The bracket around the sweep and around refining's runs: with a schedule optimizer's rate
        swapped for the finder's own, snapshot what the steps on `dataset` and the measurements on
        `measured` may change (`_cover`, which traces the step there, as it will run, reading the
        swapped rate), and restore it afterwards, whatever happens (errors and Ctrl-C included)."""
        with rate_swapped(self.optimizer, self._state.lr):
            self._cover(dataset, measured)
            self._snapshot.save()
            try:
                yield
            finally:
                self._snapshot.restore_and_close()

    def _sweep_restoring_state(self, dataset: tf.data.Dataset, n_steps: int, lrs: np.ndarray):
        """Snapshot, sweep in chunks, and restore (`_restoring_state`)."""
        chunks: list[np.ndarray] = []
        status = RUNNING
        bar = self.tqdm_class(total=n_steps, disable=not self.verbose, desc="LR sweep", unit="step", leave=False)
        try:
            with self._restoring_state(dataset):
                start_accumulation(self.optimizer)  # the first step is a fresh update
                taken = 0
                for chunk, status in self._chunks(iter(dataset), n_steps):
                    chunks.append(chunk)
                    taken += len(chunk)
                    bar.set_postfix(lr=f"{lrs[taken - 1]:.2e}", loss=f"{chunk[-1, SMOOTHED]:.4g}", refresh=False)
                    bar.update(len(chunk))
        finally:
            bar.close()
        return np.concatenate(chunks) if chunks else np.zeros((0, RECORD_COLUMNS)), status

    def _chunks(self, iterator: Any, n_steps: int, what: str = "the sweep") -> Iterator[tuple[np.ndarray, int]]:
        """Run up to `n_steps` steps of the compiled sweep, `steps_per_execution` per call, and yield
        each call's records and status; stop after a call that reports DIVERGED or NOT_FINITE. An
        `InvalidArgumentError` from inside (a label out of range in a later batch, say) is raised
        again led by where: `what`'s step and rate."""
        taken, status = 0, RUNNING
        while taken < n_steps and status == RUNNING:
            try:
                # One step per call where sparse gradients are gathered across replicas (`build_sweep`).
                per_call = 1 if self._state.one_step_per_call else self.steps_per_execution
                records, status_t = self._run(iterator, tf.constant(min(per_call, n_steps - taken), tf.int32))
            except tf.errors.OutOfRangeError:  # a pass of the user's data yielded nothing
                raise ValueError(RAN_OUT) from None
            except tf.errors.InvalidArgumentError as error:
                step = int(self._state.step.numpy())  # the steps completed: the variable's updates ran in order
                rate = float(self._state.lrs[min(step, n_steps - 1)].numpy())
                where = f"{what}'s step {step + 1} of {n_steps} (a rate of {rate:.3g})"
                told = self._rejected_labels(error, f"`dataset`'s class labels on the batch of {where}",
                                             "of the batches it holds before the sweep, and of a pipeline it streams")
                if told is not None:  # a label a CPU's sparse crossentropy rejects, in a batch streamed
                    raise told from error
                raise type(error)(error.node_def, error.op, (
                    f"TensorFlow raised this at {where}, on that step's batch (the first batch passed the "
                    "finder's checks) or on the model's values there. The state is restored.\n\n"
                    f"{error.message}")) from error
            chunk = records.numpy()  # the one host read per chunk
            status = int(status_t)
            taken += len(chunk)
            yield chunk, status

    # -- checking the reading by training -------------------------------------------------------

    @after_scope
    @keeps_global_random
    def refine(self, dataset: Any, steps: int = refine_lib.STEPS, *, batch_size: int | None = None,
               factors: tuple[float, ...] = refine_lib.FACTORS, eval_batches: int = refine_lib.EVAL_BATCHES,
               tolerance: float = refine_lib.TOLERANCE, extend: int = refine_lib.EXTEND,
               margin: float = refine_lib.MARGIN, update_bn: bool = True,
               tie_steps: int = refine_lib.TIE_STEPS, edge: bool = refine_lib.EDGE,
               class_weight: dict[int, float] | None = None, validation_data: Any = None,
               validation_split: float | None = None, validation_steps: int | None = None) -> float:
        """Check the sweep's suggestion by training: short runs at a few rates, keep the best.

        After a sweep, trains `steps` steps at each constant rate `bottom * factor` (bottom: where
        the sweep's loss stops falling, `suggest_range()[1]`; by default 1/8, 1/4, 1/2 and 1 of
        it), each from the state the model had before, measures each run's loss in inference mode
        on `eval_batches` batches held back from the start of `dataset` (with BatchNormalization's
        moving statistics first re-estimated on them, `update_bn`), and keeps the lowest rate
        within `tolerance` of the best improvement, or within the runs' own noise where that is
        more (`tf_lrfinder.refine.choose` and `noise`: how far a run's loss rose above a lower
        rate's before the best run). If that is the highest rate tried, the loss was still falling
        with the rate, so it tries twice that rate, while the highest keeps winning, never above
        the highest rate the sweep reached (`tf_lrfinder.refine.extension`); if the lowest rate
        tried is the only one that does about as well, or every run diverged, it tries half that
        rate, while that holds, never below the sweep's lowest rate (`tf_lrfinder.refine.below`);
        but while no run has lowered the loss by 10%, the runs sit on a plateau, so it tries eight
        times the highest rate instead (`tf_lrfinder.refine.leap`), and where that run fails, twice
        the highest rate that did not, to find the edge to within a factor of 2 as elsewhere
        (`tf_lrfinder.refine.narrow`); `extend` runs beyond the candidates at most. A run that
        diverges by the sweep's rule (`diverge_factor`, or a non-finite loss) stops there and is
        never chosen, and the rate kept stays `margin` times below the lowest rate that diverged,
        or that was thrown off: it ended no lower than it started above a rate that trained, or
        gave up more than half the best run's gain above the best rate
        (`tf_lrfinder.refine.short_of_divergence` and `failed`: a longer training turns unstable
        lower). Where no run failed, it runs once more at twice the highest rate tried, never above
        the sweep's top, to find that edge (`edge`, `tf_lrfinder.refine.edge_rate`). The state is
        restored after every run and at the end, whatever happens, bit for bit. The
        sweep's own suggestion reads the bottom over 4, Smith's rule of thumb; how far below the
        bottom the best rate lies varies from model to model, and these runs measure it (see the
        README's benchmark: over its 300 tasks the mean rises from 0.913 to 0.970, the tasks
        scoring 0.9 or better from 250 to 286, and the worst from -0.29 to 0.12).

        Every run trains on the same batches, those after the held-back ones, in the same order,
        so the runs differ only in their rate and a seeded process chooses the same rate every
        time. Where the model's own `train_step` trains (`step`), each run's loss is
        `logs[monitor]` of the model's `test_step` on each batch it is measured on (a `ValueError`
        before anything runs where that fails). Arrays and plain iterables are sliced from memory;
        from a `tf.data.Dataset`, the batches the runs read are read once and held in host memory
        where they take at most 512 MiB (`tf_lrfinder.data.in_memory`; a default call reads them
        before its sweep, which reads from them too), so its pipeline runs for them once, not once
        per run; above that, each run reads it afresh (one that reshuffles on each iteration then
        gives each run its own order).

        Costs `steps` training steps per run (400 by default, four times a default sweep, and 100
        more per run beyond them: 4.2 runs per call on the benchmark, at most 12 there, and where
        no run failed one more, `edge`: 0.91 per call) and a pass over the held-back batches (or
        the validation data) per run, plus one. Runs of 100 steps, not 50: a short run favours
        high rates (it rewards fast early progress, and a rate that turns unstable after
        60 to 100 steps still looks best at 50), which chose rates too high on held-out benchmark
        tasks.

        Args:
            dataset: as for the sweep (usually the same data).
            steps: training steps per run (default 100).
            batch_size: batch size, for arrays (for a `tf.data.Dataset`, None or the size it is batched by).
            factors: the candidate rates, as multiples of the bottom.
            eval_batches: batches held back to measure the runs (default 8; k times as many where
                the optimizer accumulates gradients over k batches, like the steps).
            tolerance: share of the best run's improvement a lower rate may give up (default 0.05;
                more where the runs' losses jump by more, `tf_lrfinder.refine.noise`).
            extend: runs beyond the candidates at most (default 10, a guard on cost: the search
                stops by itself where a step no longer wins; 0 tries the candidates alone).
            margin: the rate kept is at most the lowest diverged (or `failed`) rate over this
                (default 8; 1: none).
            update_bn: before measuring a run (and the start), set each BatchNormalization layer's
                moving mean and variance to its statistics on the held-back batches
                (`tf_lrfinder.batchnorm.update_bn`; default True). After 100 steps at Keras's
                default momentum a third of the moving averages still dates from before the run,
                so without it a BatchNorm model's runs measure that lag more than the training;
                False measures them as they are. No effect on models without BatchNormalization.
                They are re-estimated by calling the model on the batches' x: where a model's own
                `train_step` trains it and the model has no `call`, or calling it so fails (a step
                that reads x and y from one dict), the runs are measured as with False, with a
                warning.
            tie_steps: 0 (default), or more than `steps`: the runs that do about as well as the
                best (`tf_lrfinder.refine.tied`), when there are two or more, are run again for
                this many steps, and the rate is kept from those runs as from the short ones
                (`tf_lrfinder.refine.break_tie`). Runs of 100 steps cannot tell apart rates whose
                losses a longer training separates; where your training is long and paying about
                2.6 times the steps is acceptable, 300 is the setting measured on the benchmark
                (see the README).
            edge: where no run failed, run once more at twice the highest rate tried (never above
                the sweep's top), so that the margin has an edge of stability to keep clear of
                (`tf_lrfinder.refine.edge_rate`; default True). One more run of `steps` steps.
            class_weight: as for the sweep (not applied to `validation_data`, as `fit` applies none
                to its validation loss).
            validation_data: data to measure the runs on instead of batches held back from
                `dataset`, in the forms `dataset` takes (arrays are batched by `batch_size`, or as
                `dataset`'s first batch): all of it, one pass, for each run, each batch weighed by
                its samples (or its first `validation_steps` batches); a `tf.data.Dataset` is read
                once and held in memory where its pass fits in 512 MiB and starts as it did
                (`tf_lrfinder.data.pass_in_memory`), else read afresh for each run, as `fit` reads
                it at every epoch. A generator is read once, to its end (give one that
                never ends `validation_steps`), and replayed. Nothing is then held back: the runs
                train on `dataset` from its start, and BatchNorm's statistics are re-estimated on
                its first `eval_batches` batches. On a small data set, which a short run sees many
                times over, held-back batches measure how well a rate fits the training data, and
                the rate kept can overfit; these measure how well it generalises (see the README).
            validation_split: instead of `validation_data`, for arrays: the share of their samples,
                the last ones, as `fit` takes it, to measure the runs on; they train on the others.
                None (default) or 0, `fit`'s default: no split.
            validation_steps: None (default) to measure each run on all of the validation data, or
                the number of its first batches to measure on, as `fit` takes it: for a
                `tf.data.Dataset` that repeats forever, which has no end, or to measure on less
                of a large one, whose pass each run pays for where it is not held (read in its own
                order: shuffle one sorted by class).

        Returns:
            The chosen rate, also kept as `lr_opt`; the runs are kept as `trials`. If every run
            diverged (the search below ran out), `lr_opt` is the sweep's suggestion, or the lowest
            diverged rate over `margin` if that is less, and a warning says so. Warnings also say
            when the runs' noise decided (`tf_lrfinder.refine.noise_warning`) and when even the
            best run barely lowered the loss (`tf_lrfinder.refine.barely_trained_warning`); they
            are kept in `trials.warnings`, after what it warned of before the runs, as a call does
            (logits given to a loss that expects probabilities, batches held in memory sorted by
            class or in order of their targets).

        Raises:
            ValueError/TypeError: no sweep yet, or bad arguments or data, before any state is touched;
                a ValueError (state restored) if the data runs out when read again, if a loss
                turned NaN or inf on data that hold NaN or inf values, or if the loss before the runs
                is NaN or inf on finite data, as `__call__`.
            ValueError: inside the scope of a strategy other than the model's, as `__call__`.
            tf.errors.ResourceExhaustedError: out of memory, as `__call__`.

        Example (with `finder` as swept in the class example, which checks what these return)::

            lr = finder.refine((x, y), batch_size=32)   # lr == finder.lr_opt == finder.trials.lr
            lr = finder.refine((x, y), batch_size=32, validation_data=(x_val, y_val))  # measured on those
        """
        if not self.lrs:
            raise ValueError("No sweep recorded yet: call the finder on a dataset first, then `refine`.")
        steps, eval_batches = checks.integer("steps", steps), checks.integer("eval_batches", eval_batches)
        extend, tie_steps = checks.integer("extend", extend, 0), checks.integer("tie_steps", tie_steps, 0)
        if 0 < tie_steps <= steps:
            raise ValueError(f"`tie_steps` must be 0 (no runs to break ties) or more than `steps`, so that the "
                             f"runs are longer. Received: {tie_steps=}, {steps=}")
        tolerance = checks.share("tolerance", tolerance)
        refine_lib.check_margin(margin)
        validation_split = split_share(validation_split)
        for name, value in (("update_bn", update_bn), ("edge", edge)):
            if not isinstance(value, bool):
                raise TypeError(f"`{name}` must be True or False. Received: {name}={value!r}")
        lrs = refine_lib.candidates(self._read_short(self.suggest_range, "Nothing was changed.")[1], factors)
        batches, validation, *_ = self._read(dataset, batch_size, class_weight, validation_data, validation_split,
                                            validation_steps, 0, (int(eval_batches), int(steps), int(tie_steps)))
        legacy = self._legacy_warning()  # the runs train by the model's steps, and are measured by its `test_step`
        if legacy is not None:
            warn(legacy)
        return self._refine(batches, lrs, int(steps), int(eval_batches), float(tolerance), int(extend),
                            float(margin), update_bn, int(tie_steps), edge, validation,
                            setup=([legacy] if legacy else []) + self._preflight.warnings)

    def _runs_read(self, eval_batches: int, steps: int, tie_steps: int, validated: bool) -> int:
        """How many batches of the stream each of refining's runs reads, from its start: the
        `eval_batches` held back (none where `validated`: the runs are measured on validation data,
        though BatchNorm is still re-estimated on that many), then the longest run's steps; times the
        batches per step where the optimizer accumulates gradients."""
        held_back = 0 if validated else eval_batches
        return max(eval_batches, held_back + max(steps, tie_steps)) * self._per_update

    def _refine(self, batches: Batches, lrs: np.ndarray, steps: int, eval_batches: int,
                tolerance: float, extend: int, margin: float, update_bn: bool, tie_steps: int,
                edge: bool, validation: OnePass | None = None, setup: Sequence[str] = ()) -> float:
        """Run the trials on validated data, choose, and record (`refine` without the checks). The
        batches every run reads are read once from a `tf.data.Dataset` and held in memory where they
        fit (`tf_lrfinder.data.in_memory`), and so is the validation data (`pass_in_memory`).
        `setup`: the warnings `refine` called alone gave before the runs, kept first in
        `trials.warnings` (a call's are in `finder.warnings`)."""
        batches = in_memory(batches, self._runs_read(eval_batches, steps, tie_steps, validation is not None))
        validation = None if validation is None else pass_in_memory(validation)  # read once, not per run
        overflows = int(self._state.overflows.numpy())
        with self._memory_hint():
            lrs, losses, start, measured, bn_layers, unestimated, ties = self._trials_restoring_state(
                batches.dataset, lrs, steps, eval_batches, tolerance, extend, update_bn, tie_steps, edge, validation)
        overflows = int(self._state.overflows.numpy()) - overflows
        if overflows:
            warn(replica_overflow_warning(overflows, "refining's runs'"))
        i = refine_lib.choose(lrs, losses, start, tolerance)
        # If every run diverged, the sweep's suggestion stands in (not an earlier `refine`'s choice).
        kept = self.suggest(self.settings["method"]).lr if i is None else float(lrs[i])
        if ties[0].size:
            kept = refine_lib.break_tie(kept, *ties, start, margin, tolerance)
        self.lr_opt = refine_lib.short_of_divergence(kept, lrs, losses, margin, start)
        if i is None:
            messages = [f"Every short run diverged, even at {lrs[0]:.3g}: `lr_opt` is the sweep's suggestion, or "
                        f"the lowest diverged rate over `margin` if less: {self.lr_opt:.3g}. Check the data and the "
                        f"loss, or try smaller `factors`."]
        else:
            messages = [refine_lib.noise_warning(losses, start, self.lr_opt, tolerance),
                        refine_lib.barely_trained_warning(losses, start, self.lr_opt)]
        messages.insert(0, unestimated)
        self.trials = refine_lib.Trials(tuple(lrs.tolist()), tuple(losses.tolist()), start, steps, self.lr_opt,
                                        (*setup, *(m for m in messages if m is not None)), tolerance, bn_layers,
                                        margin,
                                        tie_steps if ties[0].size else 0, tuple(ties[0].tolist()),
                                        tuple(ties[1].tolist()), validation is not None, measured)
        for text in self.trials.warnings[len(setup):]:  # the setup's were warned before the runs
            warn(text)
        return self.lr_opt

    def _trials_restoring_state(self, dataset: tf.data.Dataset, lrs: np.ndarray, steps: int, eval_batches: int,
                                tolerance: float, extend: int, update_bn: bool,
                                tie_steps: int, edge: bool, validation: OnePass | None = None
                                ) -> tuple[np.ndarray, np.ndarray, float, int, int, tuple[np.ndarray, ...]]:
        """Snapshot; measure the start; for each run `refine.search` names (the candidates, any
        above or below them, the edge run, the tied rates again for `tie_steps` steps) train, measure
        (with BatchNorm's statistics re-estimated if `update_bn`) and restore; restore in a
        `finally`. The runs are measured on the first `eval_batches` batches of
        `dataset` and train on those after them, or, given `validation` batches, measured on those
        and train on `dataset` from its start (BatchNorm's statistics re-estimated on its first
        `eval_batches` batches). Returns the rates tried (increasing), their losses, the start
        loss, how many samples each loss was measured on, how many BatchNorm layers were
        re-estimated, the warning where they could not be (`_bn_unestimated`) or None, and the tied
        rates with their longer runs' losses (two empty arrays if none ran)."""
        self._evaluator()  # built before the snapshot reads what its trace writes
        bn_layers = len(batchnorm_lib.batchnorm_layers(self.model)) if update_bn else 0
        update_bn = bn_layers > 0
        if update_bn and self._update_bn is None:
            self._update_bn = batchnorm_lib.build_update_bn(self.model)
        eval_batches *= self._per_update  # as many samples as without accumulation
        bar = self.tqdm_class(total=steps * len(lrs), disable=not self.verbose, desc="LR check", unit="step",
                              leave=False)
        try:
            measured_on = dataset if validation is None else validation.batches.dataset  # (index, batch) pairs
            with self._restoring_state(dataset, [measured_on.element_spec[1]]):
                held = [batch for _, batch in dataset.take(eval_batches)]
                if not held:
                    raise ValueError(RAN_OUT)
                unestimated = self._bn_unestimated(held, bn_layers) if update_bn else None
                if unestimated is not None:
                    update_bn, bn_layers = False, 0
                skip = eval_batches if validation is None else 0  # the runs train after the held-back batches
                start, measured = self._measure(held, validation, update_bn)
                if not np.isfinite(start):  # before any run: are the data it was measured on to blame?
                    mask = np.bitwise_or.reduce([int(nonfinite_parts(batch))
                                                 for batch in (held if validation is None else validation)])
                    with checks.naming("dataset" if validation is None else "validation_data"):
                        checks.finite_data(int(mask), "the loss before refining's runs, measured on it,")
                    checks.measurable_start(start, "`validation_data`" if validation is not None else
                                            f"the {len(held)} batches held back from the start of `dataset`")
                self._snapshot.restore()  # every run starts from the state as it was
                # A run diverges by the sweep's own rule (its EMA weight and factor), its rise standing out
                # of the noise the sweep's loss showed at its start (`smoothing.diverged`).
                beta, factor = self.settings["smoothing"], self.settings["diverge_factor"]
                factor = np.inf if factor is None else factor  # None: only a NaN or inf loss stops a run
                noise = smoothing_lib.start_noise(np.array(self.losses))

                def run(lr: float, n: int) -> float:
                    """Train `n` steps at `lr`, measure, restore: the loss (inf if it diverged)."""
                    if bar.n + n > bar.total:  # a run beyond the candidates (`refine_lib.search`)
                        bar.total = bar.n + n
                        bar.refresh()
                    start_accumulation(self.optimizer)  # its first step is a fresh update
                    self._state.reset(np.full(n, lr), smoothing_lib.bias_correction(n, beta), beta, factor,
                                      fresh=False, noise=noise)
                    taken, status, last = 0, RUNNING, np.full(RECORD_COLUMNS, np.nan)
                    # A fresh iterator: every run trains on the same batches, after the held-back ones (if any).
                    for chunk, status in self._chunks(iter(dataset.skip(skip)), n, "refining's run"):
                        taken += len(chunk)
                        last = chunk[-1]
                        bar.update(len(chunk))
                    if status == NOT_FINITE:
                        checks.finite_data(int(self._state.bad_data.numpy()),
                                           f"the loss of refining's run at a rate of {lr:.3g}, at its step {taken},",
                                           loss_finite=bool(np.isfinite(last[LOSS])))
                        self._preflight.labels_at_nan(last, held[0], f"the batch of refining's run's step {taken}")
                    loss = self._measure(held, validation, update_bn)[0] if status == RUNNING else np.inf
                    bar.update(n - taken)
                    self._snapshot.restore()
                    return loss if np.isfinite(loss) else np.inf

                rates, runs, *ties = refine_lib.search(run, lrs, steps, start, self.lrs[0], self.lrs[-1], tolerance,
                                                       extend, edge, tie_steps)
        finally:
            bar.close()
        return rates, runs, start, measured, bn_layers, unestimated, tuple(ties)

    def _bn_unestimated(self, held: list[Any], layers: int) -> str | None:
        """Where the moving statistics of the model's `layers` BatchNorm layers cannot be re-estimated
        on the `held` batches, the warning that says why; else None. They are re-estimated by
        calling the model on each batch's x, as the finder's own step calls it. A model's own step
        decides what it calls the model on, if anything: not a model without `call`, whose steps
        call its parts (Keras's GAN example), and for one with `call`, re-estimating on `held`
        tells (the state it changes is restored with the rest)."""
        if not self._own_step:
            return None
        why = None
        if not calls(self.model):
            why = "this model has no `call` (its own steps call its parts)."
        else:
            try:
                self._update_bn(held)
            except Exception as error:  # noqa: BLE001 - the model's own step, not the finder, knows what it takes
                why = (f"calling this model so failed (its own `train_step` must call it on something else): "
                       f"{type(error).__name__}: {checks.message_of(error)}")
        return None if why is None else batchnorm_lib.not_estimated_warning(why, layers)

    def _measure(self, held: list[Any], validation: OnePass | None, update_bn: bool) -> tuple[float, int]:
        """The loss of the model as it is now, in inference mode, and how many samples it was measured
        on: the mean over the `held` batches, or, given `validation`, over one pass of it (read
        afresh, each batch weighed by its samples: the last may be smaller); with BatchNorm's
        statistics first re-estimated on `held` if `update_bn` (the moving averages lag the weights:
        this measures the weights, on training data)."""
        if update_bn:
            self._update_bn(held)
        if validation is None:
            return float(np.mean([self._evaluate(batch).numpy() for batch in held])), sum(map(samples, held))
        losses, weights = [], []
        try:
            for batch in validation:
                losses.append(self._evaluate(batch))
                weights.append(samples(batch))
            values = [loss.numpy() for loss in losses]
        except tf.errors.InvalidArgumentError as error:  # a label of a pass too large to hold, checked before
            told = self._rejected_labels(error, "`validation_data`'s class labels, on a batch of it that refining's "
                                         "runs are measured on,", "of validation data it holds before the sweep, "
                                         "and of a pass too large to hold")
            if told is None:
                raise
            raise told from error
        if not losses:
            with checks.naming("validation_data"):
                raise ValueError(RAN_OUT)
        return float(np.average(values, weights=weights)), int(sum(weights))

    def _rejected_labels(self, error: tf.errors.InvalidArgumentError, whose: str, held: str) -> ValueError | None:
        """Where `error` is TensorFlow's sparse crossentropy rejecting a class label (on a CPU), a
        `ValueError` that says `whose` labels, what they run from and to, and the fix
        (`labels.rejected_labels`), noting which labels the finder checks before (those `held`, and
        only the first batch's of the rest); else None."""
        fix = rejected_labels(error.message, self._preflight.target_classes)
        if fix is None:
            return None
        return ValueError(f"{whose} {fix} TensorFlow rejected them there (above); the finder checks the labels {held} "
                          "only the first batch's. The state is restored.")

    # -- reading the result ----------------------------------------------------------------------

    def _read_short(self, read: Callable[[], Any], state: str = "The state is restored.") -> Any:
        """`read()`, a reading of the sweep recorded (`suggest`, `suggest_range`). Where it raises a
        `ValueError` (too few points for the rules) and the sweep stopped early, a `ValueError` that
        says why it stopped and what to do (`diagnose.stopped_early`) instead of the rules' own
        advice, which cannot know why, and then `state`."""
        try:
            return read()
        except ValueError:
            told = stopped_early(self.lrs, self.settings.get("n_steps", len(self.lrs)), self.stop_reason)
            if told is None:
                raise
            raise ValueError(f"{told} No rate is suggested: the rules need {suggest_lib.MIN_POINTS} finite losses, and "
                             f"the sweep recorded {int(np.isfinite(self.losses).sum())}. {state}") from None

    def suggest(self, method: str = suggest_lib.DEFAULT_METHOD) -> suggest_lib.Suggestion:
        """Apply a suggestion rule to the recorded sweep (raw or smoothed losses, as the rule reads).

        Args:
            method: a name from `tf_lrfinder.suggest.SUGGESTERS` (default: the benchmarked best).

        Returns:
            A `Suggestion(lr, index, method)`.

        Raises:
            ValueError: no sweep yet, or too few usable points.

        Example (with `finder` as swept in the class example, which checks what these return)::

            finder.suggest()           # the default rule: finder.suggest().lr == finder.lr_opt
            finder.suggest("valley")   # fastai's rule on the same sweep, no new sweep
        """
        if not self.lrs:
            raise ValueError("No sweep recorded yet: call the finder on a dataset first.")
        return suggest_lib.suggest(np.array(self.lrs), np.array(self.losses), method, np.array(self.smoothed_losses))

    def suggest_range(self) -> tuple[float, float]:
        """`(base_lr, max_lr)` for cyclical / one-cycle schedules (see `tf_lrfinder.suggest.lr_range`).

        Returns:
            `(base_lr, max_lr)`, absolute rates; the default rule suggests `max_lr / 4`, and `refine`
            tries 1/8, 1/4, 1/2 and 1 times `max_lr`.

        Raises:
            ValueError: no sweep yet, or too few usable points.

        Example (with `finder` as swept in the class example, which checks what these return)::

            base_lr, max_lr = finder.suggest_range()   # max_lr == 4 * finder.suggest().lr
        """
        if not self.lrs:
            raise ValueError("No sweep recorded yet: call the finder on a dataset first.")
        return suggest_lib.lr_range(np.array(self.lrs), np.array(self.losses))

    @property
    def history(self) -> dict[str, Any]:
        """The sweep as plain data: the recorded lists, why it stopped, the settings and warnings.

        Save it with `tf_lrfinder.history.save_json` / `save_csv`; both round-trip.

        Example (with `finder` as swept in the class example, which checks what these return)::

            h = finder.history   # h["lrs"], h["losses"], h["stop_reason"], h["settings"]["n_steps"], ...
            tf_lrfinder.history.save_json(h, "sweep.json")
        """
        return {"lrs": list(self.lrs), "losses": list(self.losses), "smoothed_losses": list(self.smoothed_losses),
                "stop_reason": self.stop_reason, "cycled": self.cycled, "warnings": list(self.warnings),
                "lr_opt": self.lr_opt, "settings": dict(self.settings),
                "trials": None if self.trials is None else
                {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.trials).items()}}

    # -- plots (matplotlib is imported only here) -------------------------------------------------

    def plot(self, methods: str | tuple[str, ...] | None = None, ax: Any = None) -> Any:
        """Loss and smoothed loss against log(lr), suggestions marked and labelled.

        Args:
            methods: rules to mark besides `lr_opt`, one name or several (default: none after
                `refine`, whose choice is always marked, labelled "refined"; else the sweep's rule).
            ax: matplotlib Axes to draw on (default: a new figure).

        Returns:
            The matplotlib Axes.

        Raises:
            ValueError: no sweep yet, or a name in `methods` that is not a rule.

        Example (with `finder` as swept in the class example, which checks what these return)::

            ax = finder.plot(methods=("robust_minimum", "valley"))   # one labelled mark per rule
            ax.figure.savefig("lr_finder.png")
        """
        from .plot import plot_sweep

        if not self.lrs:
            raise ValueError("No sweep recorded yet: call the finder on a dataset first.")
        methods = (methods,) if isinstance(methods, str) else methods
        for m in methods or ():
            suggest_lib.check_method(m, "methods")
        marks = []
        if self.trials is not None:  # the rate `lr_opt` holds is always marked
            nearest = int(np.argmin(np.abs(np.log(np.array(self.lrs)) - np.log(self.trials.lr))))
            marks.append(suggest_lib.Suggestion(self.trials.lr, nearest, "refined"))
        elif not methods:
            methods = (self.settings.get("method", suggest_lib.DEFAULT_METHOD),)
        for m in methods or ():
            try:
                marks.append(self.suggest(m))
            except ValueError:
                pass  # too few points: draw the curve without that mark
        return plot_sweep(self.lrs, self.losses, self.smoothed_losses, marks, ax=ax)

    def plot_trials(self, ax: Any = None) -> Any:
        """Refining's short runs: each run's loss against its rate, the loss before them, the rate kept.

        What `refine` (run by `finder(...)` by default) measured and chose from; see
        `tf_lrfinder.plot.plot_trials`. Worth a look when it warns that the runs were noisy.

        Args:
            ax: matplotlib Axes to draw on (default: a new figure).

        Returns:
            The matplotlib Axes.

        Raises:
            ValueError: no runs recorded (no sweep yet, or it ran with `refine=False`).

        Example (with `finder` as swept in the class example, which checks what these return)::

            finder.plot_trials().figure.savefig("trials.png")
        """
        from .plot import plot_trials

        if self.trials is None:
            raise ValueError("No refining runs recorded: call the finder with `refine=True` (the default with the "
                             "default `method`), or call `refine` after a sweep.")
        return plot_trials(self.trials, ax=ax)

    def plot_loss_change(self, ax: Any = None) -> Any:
        """The smoothed rate of change of the loss against log(lr) (as popular Keras finders draw it).

        Args:
            ax: matplotlib Axes to draw on (default: a new figure).

        Returns:
            The matplotlib Axes.

        Example (with `finder` as swept in the class example, which checks what these return)::

            finder.plot_loss_change().figure.savefig("loss_change.png")
        """
        from .plot import plot_loss_change

        if not self.lrs:
            raise ValueError("No sweep recorded yet: call the finder on a dataset first.")
        return plot_loss_change(self.lrs, self.smoothed_losses, ax=ax)
