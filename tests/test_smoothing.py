import numpy as np

from tf_lrfinder.smoothing import bias_correction, diverged, ema, stop_index


def test_ema_matches_closed_form():
    beta = 0.9
    losses = np.array([2.0, 1.0, 3.0])
    avg1 = 0.1 * 2.0
    avg2 = beta * avg1 + 0.1 * 1.0
    avg3 = beta * avg2 + 0.1 * 3.0
    expected = [avg1 / (1 - beta), avg2 / (1 - beta**2), avg3 / (1 - beta**3)]
    np.testing.assert_allclose(ema(losses, beta), expected, rtol=1e-15)


def test_bias_correction_makes_a_constant_curve_constant():
    np.testing.assert_allclose(ema(np.full(50, 3.0), 0.98), 3.0, rtol=1e-12)


def test_zero_smoothing_is_identity():
    x = np.array([3.0, 1.0, 2.0])
    np.testing.assert_array_equal(ema(x, 0.0), x)
    np.testing.assert_array_equal(bias_correction(2, 0.0), [1.0, 1.0])


def test_nan_propagates():
    out = ema(np.array([1.0, np.nan, 1.0]), 0.5)
    assert np.isfinite(out[0]) and np.isnan(out[1:]).all()


def test_divergence_rule_positive_and_negative_losses():
    assert diverged(4.01, 1.0, 4.0) and not diverged(4.0, 1.0, 4.0)
    # A negative best must not stop a sweep at once (4 * -1 = -4 would be below any loss).
    assert not diverged(-0.9, -1.0, 4.0)
    assert diverged(2.5, -1.0, 4.0)


def test_stop_index():
    assert stop_index(np.array([1.0, 0.9, 0.8]), 0.0) is None
    assert stop_index(np.array([1.0, 0.5, np.inf, 0.1]), 0.0) == 2
    assert stop_index(np.array([1.0, 0.5, 1.9, 2.1]), 0.0, diverge_factor=4.0) == 3
