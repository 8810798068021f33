import numpy as np

from tf_lrfinder.smoothing import NOISE_FACTOR, NOISE_STEPS, bias_correction, diverged, ema, start_noise, stop_index


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
    assert stop_index(np.array([1.0, 0.5, 1.9, 2.1]), 0.0, diverge_factor=4.0, noise=0.0) == 3
    # Measured as it goes, the noise is of the changes before a step, from the fourth step on.
    assert stop_index(np.array([1.0, 1.1, 1.0, 1.1, 0.5, 3.0]), 0.0) == 5  # 2.5 above 0.5: out of noise of 0.25
    assert stop_index(np.array([1.0, 0.2, 1.0, 0.2, 1.0, 0.2, 1.0]), 0.0) is None  # 0.8 up: within noise of 0.8
    assert stop_index(np.array([1.0, 2.0, 50.0, 1e4]), 0.0) is None  # too few changes to judge: on to a NaN


def test_a_sweep_counts_its_best_from_the_fourth_step_and_a_run_from_its_first():
    lucky = np.array([0.1, 0.9, 1.1, 0.8, 1.0, 0.9, 1.1, 1.0, 0.9, 1.0, 1.1])  # one batch far below the rest
    assert stop_index(lucky, 0.0) is None
    assert stop_index(lucky, 0.0, noise=0.01) == 1  # a run, its noise given: the rise from its first loss
    blowing_up = np.array([1.0, 1.0, 1.0, 1.0, 0.9, 0.8, 2.0, 4.0])
    assert stop_index(blowing_up, 0.0) == 7  # 4.0 against the best 0.8, the noise 0.23
    assert stop_index(np.array([0.1, 0.5, 0.5, 0.5, 0.5, 2.5]), 0.0) == 5  # 2.5 against the best since the fourth, 0.5


def test_start_noise_is_the_mean_change_over_the_first_steps():
    losses = np.array([1.0, 1.1, 0.9, 1.0] + [50.0] * 20)
    assert np.isclose(start_noise(losses, steps=3), np.mean([0.1, 0.2, 0.1]))  # the blow-up after not counted
    assert np.isclose(start_noise(losses), np.mean(np.abs(np.diff(losses[:NOISE_STEPS + 1]))))
    assert start_noise(np.array([1.0])) == np.inf and start_noise(np.array([])) == np.inf


def test_a_rise_within_the_noise_is_not_divergence():
    assert diverged(0.05, 0.01, 4.0) and not diverged(0.05, 0.01, 4.0, noise=0.05)
    assert diverged(0.05, 0.01, 4.0, noise=0.039 / NOISE_FACTOR)  # the rise, 0.04, stands out of it
    assert not diverged(0.03, 0.01, 4.0, noise=0.0)  # the factor still rules where the noise is small


def test_a_loss_that_starts_near_zero_and_can_go_below_it_is_not_stopped_by_its_noise():
    # As a `CosineSimilarity` does (about 0 untrained, -1 at best): noise of 0.05 around 0 for the low
    # rates, then a fall to -0.9, then a blow-up back above 0. The distance rule alone, 3 times a best
    # near 0, stopped such sweeps within their first steps (a Conv2D with Adam at its step 25, an
    # Embedding with RMSprop at its third).
    rng = np.random.default_rng(0)
    stops_without, stops_with = [], []
    for _ in range(200):
        curve = np.concatenate([0.02 + 0.05 * rng.standard_normal(50), np.linspace(0, -0.9, 30),
                                -0.9 + np.geomspace(0.01, 1000, 20)])
        stops_without.append(stop_index(curve, 0.98, 4.0, noise=0.0))
        stops_with.append(stop_index(curve, 0.98, 4.0))
    assert sum(s is not None and s < 50 for s in stops_without) > 50  # many stopped on the noise
    assert all(s is not None and s >= 80 for s in stops_with)  # each ran on, and stopped at the blow-up
