"""`tf.function` for the functions each finder compiles for itself, without TensorFlow's retracing warning.

Every finder compiles its own step, evaluation, BatchNorm pass and snapshot copies: each captures
that finder's model and variables, so each traces afresh, once. TensorFlow counts the traces of all
functions made from the same Python code together and, after five in ten calls, logs "5 out of the
last 9 calls to <function ...> triggered tf.function retracing" (up to twice per function) as if
something were wrong: it was printed once a notebook had swept a fifth model (comparing optimizers,
say). Here it would be noise, so these functions ask TensorFlow not to give it, as the functions it
restores from a SavedModel do.

A model compiled with `run_eagerly=True` (one whose layers need eager execution, `.numpy()` in
`call` say, or one being debugged) gets its functions uncompiled, as `fit` honours the setting
(`for_model`); one whose step `fit` would compile with XLA gets its step and evaluation compiled
with XLA (`uses_xla`).

None of them is converted by autograph, as Keras compiles `fit`'s step without it: they are written
in TensorFlow's own control flow (the sweep's loop is a `tf.while_loop`), and converting them cost a
finder's first call in a new process most of a second (the sweep alone on the README's MLP: 1.73 s
with them converted, 0.94 s without; `benchmarks/speed.py --only first_call`). A plain
`loss_fn` of the user's is converted still, as their own `tf.function` would convert it
(`tf_lrfinder.step.loss_function`).
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

# The finder's own dataset functions (`Dataset.map`'s), like its steps, are written in TensorFlow's ops
# and need no autograph, which would only spend a first call's time converting them.
plain = tf.autograph.experimental.do_not_convert


def per_instance(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """`tf.function(fn, autograph=False, **kwargs)`, for a function made once per finder, that never
    logs TensorFlow's warning about frequent retracing (see the module's docstring).

    Args:
        fn: the Python function to compile, in TensorFlow's own control flow (no autograph).
        **kwargs: passed to `tf.function` (`jit_compile=True`, say).

    Returns:
        The compiled function.

    Example:
        >>> double = per_instance(lambda x: 2 * x)
        >>> float(double(tf.constant(1.5)))
        3.0
    """
    function = tf.function(fn, **{"autograph": False, **kwargs})
    function._omit_frequent_tracing_warning = True  # TensorFlow's own switch, private: set where it exists
    return function


def for_model(model: Any) -> Callable[[Callable[..., Any]], Any]:
    """`per_instance` for a function that calls `model`, or no compiling at all where the model was
    compiled with `run_eagerly=True`, as `fit` honours it (a layer that calls `.numpy()` in `call`
    would fail in a traced step).

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile(loss="mse", run_eagerly=True)
        >>> for_model(model)(lambda x: tf.executing_eagerly())(tf.constant(1.0))
        True
    """
    return (lambda fn: fn) if getattr(model, "run_eagerly", False) else per_instance


def uses_xla(model: Any) -> bool:
    """Whether `fit` compiles `model`'s step with XLA: the model's `jit_compile` as `compile` resolved
    it (`True`, or Keras's default "auto" on a GPU where every layer supports XLA; never on a
    CPU-only machine). A model never compiled is trained by the user's own loop, so it gets no XLA
    (as a plain `tf.function` has none), nor does a model with `run_eagerly=True`.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile(loss="mse", jit_compile=True)
        >>> uses_xla(model)
        True
    """
    if getattr(model, "run_eagerly", False) or not getattr(model, "compiled", False):
        return False
    return bool(model.jit_compile)  # resolved by `compile`: reading it changes nothing
