import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tf_lrfinder.schedule import SCHEDULES, exponential, is_linear, learning_rates, linear


def test_exponential_hits_decades_exactly():
    np.testing.assert_array_equal(learning_rates(5, 1e-5, 1e-1), [1e-5, 1e-4, 1e-3, 1e-2, 1e-1])


def test_default_sweep_ends_exactly_at_min_and_max():
    lrs = learning_rates(100, 1e-7, 10.0)
    assert lrs[0] == 1e-7 and lrs[-1] == 10.0
    ratios = lrs[1:] / lrs[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)


def test_linear_is_evenly_spaced():
    np.testing.assert_allclose(learning_rates(5, 0.1, 0.5, "linear"), [0.1, 0.2, 0.3, 0.4, 0.5], rtol=1e-15)
    assert linear(3, 4, 0.1, 0.7) == 0.7


def test_scalar_step():
    assert exponential(0, 10, 1e-3, 1.0) == pytest.approx(1e-3)


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match="`mode` must be one of .* Received: mode='cosine'"):
        learning_rates(5, 1e-3, 1.0, "cosine")


@given(n=st.integers(3, 300), low=st.floats(-8, 0), decades=st.floats(0.05, 9),
       mode=st.sampled_from(SCHEDULES), keep=st.integers(3, 300))
def test_is_linear_tells_the_schedules_apart(n, low, decades, mode, keep):
    lrs = learning_rates(n, 10**low, 10 ** (low + decades), mode)[:keep]  # also a sweep that stopped early
    assume(mode == "linear" or lrs[-1] / lrs[0] > 1.01)  # a geometric sweep over under 1% is linear too
    assert is_linear(lrs) == (mode == "linear")
