import logging

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
