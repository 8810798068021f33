import logging

import pytest
import tensorflow as tf

from tf_lrfinder.compiled import per_instance

RETRACING = "triggered tf.function retracing"


def made_in_a_loop(compile_):
    """Seven functions of the same code, as seven finders make them, each traced once."""
    for scale in range(7):
        def scaled(x, scale=scale):
            return scale * x

        compile_(scaled)(tf.constant(1.0))


def test_per_instance_functions_do_not_log_the_retracing_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        made_in_a_loop(tf.function)  # plain tf.function: TensorFlow warns, so the check can fail
    assert RETRACING in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        made_in_a_loop(per_instance)
    assert RETRACING not in caplog.text


def test_xla_where_fit_uses_it_and_nowhere_else():
    import keras

    from tf_lrfinder.compiled import uses_xla

    def model():
        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])

    never_compiled = model()
    assert not uses_xla(never_compiled)  # the user's own loop: a plain tf.function has no XLA
    assert never_compiled._jit_compile is None  # and asking did not resolve "auto" on the model
    gpu = bool(tf.config.list_physical_devices("GPU"))
    for setting, expected in ((True, True), (False, False), ("auto", gpu)):  # "auto": XLA on a GPU alone
        m = model()
        m.compile(loss="mse", jit_compile=setting)
        assert uses_xla(m) is expected
    m = model()
    m.compile(loss="mse", jit_compile=True)
    m.jit_compile = False
    assert not uses_xla(m)
    eager = model()
    with pytest.warns(UserWarning, match="Disabling `jit_compile`"):  # Keras turns XLA off, and so do we
        eager.compile(loss="mse", jit_compile=True, run_eagerly=True)
    assert not uses_xla(eager)


def test_a_default_call_converts_only_the_users_plain_loss_with_autograph(monkeypatch, data):
    """The finder's own functions run unconverted, as `fit`'s step does (converting them took about a
    second of a first call); a plain `loss_fn` of the user's is converted still, as their own
    `tf.function` would convert it, so a Python `if` on a tensor in it works as before."""
    import keras

    from conftest import make_model
    from tf_lrfinder import LRFinder

    api = pytest.importorskip("tensorflow.python.autograph.impl.api")  # private: every conversion passes here
    if not hasattr(api, "_convert_actual"):
        pytest.skip("this TensorFlow converts elsewhere")
    converted = []
    convert = api._convert_actual

    def spy(entity, program_ctx):
        converted.append(getattr(entity, "__module__", None) or "")
        return convert(entity, program_ctx)

    monkeypatch.setattr(api, "_convert_actual", spy)

    def branching(y, p):
        error = tf.square(y - p)[:, 0]
        if tf.reduce_min(error) < 0:  # a Python `if` on a tensor, never taken: the graph needs autograph
            error = -error
        return error

    def plain(y, p):
        return tf.square(y - p)[:, 0]

    x, y = data
    calls = []
    for loss in (branching, plain):
        finder = LRFinder(make_model("dense"), keras.optimizers.SGD(), loss, verbose=False)
        with pytest.warns(UserWarning):  # the range's own warnings (data cycled): not what is tested
            finder((x, y), batch_size=32)
        calls.append((finder.losses, finder.trials.lrs, finder.trials.losses, finder.lr_opt))
    assert calls[0] == calls[1]  # the same sweep and runs, bit for bit
    assert __name__ in converted  # the user's losses
    assert [m for m in converted if m.startswith("tf_lrfinder")] == []
