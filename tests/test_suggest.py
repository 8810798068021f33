import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tf_lrfinder.smoothing import ema, fully_smoothed, lag_free
from tf_lrfinder.suggest import MIN_POINTS, READS_RAW, SUGGESTERS, Suggestion, lr_range, robust_minimum, suggest

LRS = np.logspace(-7, 1, 100)


def typical_curve(n=100):
    """Flat, then a fall centred near 1e-3, then a blow-up: the textbook range-test shape."""
    x = np.log10(np.logspace(-7, 1, n))
    return 2.0 - 1.5 / (1 + np.exp(-(x + 3) * 2)) + np.where(x > -0.5, (x + 0.5) ** 2 * 5, 0)


@pytest.mark.parametrize("method", sorted(SUGGESTERS))
def test_typical_curve_gives_a_rate_inside_the_fall(method):
    s = suggest(LRS, typical_curve(), method, typical_curve())
    assert isinstance(s, Suggestion) and s.method == method
    assert 1e-6 < s.lr < 1.0
    if method not in ("minimum", "robust_minimum"):
        assert s.lr == LRS[s.index]


def test_steepest_finds_the_steepest_point():
    assert abs(np.log10(suggest(LRS, typical_curve(), "steepest", typical_curve()).lr) + 3) < 0.1


def test_minimum_divides_by_ten():
    curve = typical_curve()
    s = suggest(LRS, curve, "minimum", curve)
    assert s.index == int(np.argmin(curve)) and s.lr == pytest.approx(LRS[s.index] / 10)


def test_non_finite_points_are_ignored():
    curve = typical_curve()
    curve[80:] = np.nan
    s = suggest(LRS, curve, "steepest", curve)
    assert s.index < 80 and np.isfinite(s.lr)


@pytest.mark.parametrize("method", sorted(SUGGESTERS))
@pytest.mark.parametrize("n", [0, 1, 2])
def test_too_short_curves_raise_clearly(method, n):
    with pytest.raises(ValueError, match=f"at least {MIN_POINTS} finite points.*Received: {n} of {n}"):
        suggest(LRS[:n], np.ones(n), method, np.ones(n))


@pytest.mark.parametrize("method", sorted(SUGGESTERS))
def test_all_nan_raises_clearly(method):
    with pytest.raises(ValueError, match="Received: 0 of 10"):
        suggest(LRS[:10], np.full(10, np.nan), method, np.full(10, np.nan))


@pytest.mark.parametrize("method", sorted(SUGGESTERS))
@pytest.mark.parametrize("shape", ["constant", "increasing", "three"])
def test_degenerate_curves_give_a_point_of_the_curve(method, shape):
    curve = {"constant": np.ones(100), "increasing": np.linspace(1, 2, 100), "three": None}[shape]
    lrs = LRS if curve is not None else LRS[:3]
    curve = curve if curve is not None else np.array([1.0, 0.5, 0.7])
    s = suggest(lrs, curve, method, curve)
    assert 0 <= s.index < len(curve) and np.isfinite(s.lr) and s.lr > 0


def test_mismatched_lengths_and_unknown_method_are_named():
    with pytest.raises(ValueError, match="same length. Received: lrs.shape=\\(3,\\), losses.shape=\\(2,\\)"):
        suggest(LRS[:3], np.ones(2), "valley")
    with pytest.raises(ValueError, match="`method` must be one of .* Received: method='best'"):
        suggest(LRS, typical_curve(), "best")
    with pytest.raises(ValueError, match="`divisor` must be at least 1. Received: divisor=0.5"):
        robust_minimum(LRS, typical_curve(), divisor=0.5)
    with pytest.raises(ValueError, match="`lrs` must be non-decreasing .* index 2"):
        robust_minimum(np.array([1e-3, 1e-2, 1e-3, 1e-1]), np.ones(4))


curves = st.integers(0, 300).flatmap(
    lambda n: arrays(np.float64, n, elements=st.floats(allow_nan=True, allow_infinity=True, width=64))
)


@settings(max_examples=200, deadline=None)
@given(curve=curves, method=st.sampled_from(sorted(SUGGESTERS)))
def test_every_rule_is_total(curve, method):
    lrs = np.logspace(-7, 1, len(curve)) if len(curve) else np.array([])
    finite = np.isfinite(curve).sum()
    if finite < MIN_POINTS:
        with pytest.raises(ValueError, match="finite points"):
            suggest(lrs, curve, method, curve)
        return
    s = suggest(lrs, curve, method, curve)
    assert np.isfinite(curve[s.index])
    assert np.isfinite(s.lr) and s.lr > 0
    assert lrs[0] / 10 - 1e-300 <= s.lr <= lrs[-1]


@pytest.mark.parametrize("method", sorted(SUGGESTERS))
def test_losses_near_overflow_give_no_numpy_warning(method):
    # Totality's inf and NaN are expected inside the rules; they must not reach users as NumPy's
    # RuntimeWarnings (a median or gradient of near-overflow losses printed them).
    rng = np.random.default_rng(0)
    for n in rng.integers(3, 300, 100):
        curve = rng.choice([1.7e308, -1.7e308, 1e300, -1e300, 1.0, 0.5, np.nan, np.inf], n)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            try:
                suggest(np.logspace(-7, 1, n), curve, method, curve)
            except ValueError as error:  # too few finite points: the documented error
                assert "finite points" in str(error)


@settings(max_examples=100, deadline=None)
@given(noise=arrays(np.float64, 100, elements=st.floats(-1, 1)), method=st.sampled_from(sorted(SUGGESTERS)))
def test_noisy_curves(noise, method):
    s = suggest(LRS, typical_curve() + noise, method, typical_curve() + noise)
    assert 0 <= s.index < 100 and LRS[0] / 10 <= s.lr <= LRS[-1]


def sweep_like(seed=0):
    """What a sweep records: a fall near 1e-3, a flat bottom from 1e-2 to 1e-1, a rise above it, plus
    batch noise. Returns (lrs, raw losses, noise-free losses)."""
    x = np.log10(LRS)
    clean = 1 + 1 / (1 + np.exp((x + 3) * 4)) + 3 * np.maximum(0, x + 1) ** 2
    return LRS, clean + np.random.default_rng(seed).normal(0, 0.15, len(x)), clean


@pytest.mark.parametrize("seed", range(5))
def test_robust_minimum_finds_the_bottom_the_ema_misses(seed):
    lrs, raw, clean = sweep_like(seed)
    s = suggest(lrs, raw)  # the default rule
    assert s.method == "robust_minimum" and s.lr == pytest.approx(lrs[s.index] / 4)
    assert -2.1 < np.log10(lrs[s.index]) < -0.9  # on the flat bottom of the noise-free curve
    # the EMA of the same losses bottoms out where the loss has already risen: its lag
    assert clean[np.argmin(ema(raw))] - clean.min() > 0.2


@pytest.mark.parametrize("seed", range(5))
def test_robust_minimum_ignores_a_lucky_batch(seed):
    lrs, raw, _ = sweep_like(seed)
    before = robust_minimum(lrs, raw)
    raw[3] = -5.0  # one absurdly low loss early in the sweep
    assert robust_minimum(lrs, raw) == before


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("end", [0, -1])
def test_robust_minimum_ignores_a_lucky_batch_at_either_end(seed, end):
    # The lag-free window shrinks to one batch at the ends; one low loss there must not be the bottom.
    lrs, raw, _ = sweep_like(seed)
    before = robust_minimum(lrs, raw)
    raw[end] = 0.0
    assert robust_minimum(lrs, raw) == before and lr_range(lrs, raw)[1] == before.lr * 4


@given(x=arrays(np.float64, st.integers(1, 60), elements=st.floats(-9, 3)))
def test_some_point_is_always_fully_smoothed(x):
    lrs = 10 ** np.sort(x)
    mask = fully_smoothed(lrs)
    assert mask.any()
    room = np.minimum(np.log10(lrs) - np.log10(lrs[0]), np.log10(lrs[-1]) - np.log10(lrs))
    assert np.all(room[mask] >= room[~mask].max(initial=-1) - 1e-9)  # never a point nearer an end


def test_suggest_hands_each_rule_its_curve():
    lrs, raw, _ = sweep_like()
    smoothed = ema(raw, 0.9)
    assert READS_RAW == {"robust_minimum"}
    assert suggest(lrs, raw, "valley", smoothed) == SUGGESTERS["valley"](lrs, smoothed)
    assert suggest(lrs, raw, "valley") == SUGGESTERS["valley"](lrs, ema(raw))  # the finder's default EMA
    assert suggest(lrs, raw, "robust_minimum", smoothed) == robust_minimum(lrs, raw)


def test_lag_free_is_centred_and_spike_proof():
    lrs = np.logspace(-4, 0, 41)
    line = np.linspace(2.0, 1.0, 41)
    np.testing.assert_allclose(lag_free(lrs, line), line)  # no lag on a straight line
    spiky = line.copy()
    spiky[20] = 100.0
    np.testing.assert_allclose(lag_free(lrs, spiky)[5:-5], line[5:-5], atol=0.03)


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(1, 60).flatmap(lambda n: arrays(np.float64, st.tuples(st.integers(1, 4), st.just(n)),
                                                        elements=st.floats(-1e6, 1e6))),
       decades=st.sampled_from([0.1, 0.75, 3.0]))
def test_lag_free_is_the_mean_of_running_medians_row_by_row(rows, decades):
    # Against the windows written out one by one: the points within `decades` on either side,
    # shrunk at the ends to stay centred. Rows of a 2-D array are curves over the same rates.
    lrs = np.logspace(-7, 1, rows.shape[1])
    x = np.log10(lrs)
    half = np.minimum(decades, np.minimum(x - x[0], x[-1] - x)) + 1e-9
    windows = [np.flatnonzero(np.abs(x - xi) <= h) for xi, h in zip(x, half)]
    for row, curve in zip(rows, lag_free(lrs, rows, decades)):
        medians = np.array([np.median(row[w]) for w in windows])
        np.testing.assert_allclose(curve, [medians[w].mean() for w in windows], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(lag_free(lrs, row, decades), curve, rtol=1e-14)  # alone as in rows


@settings(max_examples=200, deadline=None)
@given(curve=curves)
@example(curve=np.full(12, 2.0**1023))  # the median of two such losses overflows to inf
def test_lr_range_is_total(curve):
    # As the rules are: a pair of rates tried, the base below the top, or the documented error.
    lrs = np.logspace(-7, 1, len(curve)) if len(curve) else np.array([])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        if np.isfinite(curve).sum() < MIN_POINTS:
            with pytest.raises(ValueError, match="finite points"):
                lr_range(lrs, curve)
            return
        base_lr, max_lr = lr_range(lrs, curve)
    assert max_lr in lrs[np.isfinite(curve)]
    assert 0 < base_lr < max_lr and (base_lr in lrs or base_lr == max_lr / 10)


@pytest.mark.parametrize("seed", range(5))
def test_lr_range_brackets_the_fall_of_a_noisy_sweep(seed):
    lrs, raw, _ = sweep_like(seed)
    base, top = lr_range(lrs, raw)
    assert -4.75 < np.log10(base) < -3.0  # where the noise-free loss starts its fall to 1e-3
    assert -2.1 < np.log10(top) < -0.9  # the flat bottom
    assert top / 4 == pytest.approx(robust_minimum(lrs, raw).lr)


def test_slide_stops_where_the_interval_s_ends_fall_alike():
    # fastai's slide: a 15-point interval slides down from the top while the loss's gradients at its
    # ends differ by more than 0.005; here flat, then falling 0.02 a step (indices 41-78), then
    # blowing up. Both ends first fall alike at 63..78, so the last position that differed is 64..79.
    curve = np.r_[np.full(40, 2.0), 2.0 - 0.02 * np.arange(1, 41), 1.2 + np.arange(1, 21) ** 2]
    s = SUGGESTERS["slide"](LRS, curve, skip_start=0, skip_end=0)
    assert s.index == 64 and s.lr == LRS[64]
    # A 5-point interval first falls alike at 73..78.
    assert SUGGESTERS["slide"](LRS, curve, skip_start=0, skip_end=0, span=5).index == 74
