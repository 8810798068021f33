"""The pure half of `LRFinder.refine`: which rates to try, and which run to keep."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tf_lrfinder.refine import (FACTORS, Trials, barely_trained_warning, below, break_tie, candidates, choose, edge_rate, extension, failed,
                                leap, narrow, next_rate, noise, noise_warning, runs_by_rate, search, short_of_divergence, threshold, tied)


def run_losses(min_size: int = 1):
    """Random runs' losses, in order of rate: up to 8, each a loss in [0, 10], inf (diverged) or NaN."""
    return arrays(np.float64, st.integers(min_size, 8), elements=st.one_of(
        st.floats(0, 10), st.just(np.inf), st.just(np.nan)))


def test_candidates_are_the_bottom_times_each_factor_increasing():
    np.testing.assert_allclose(candidates(0.8), [0.1, 0.2, 0.4, 0.8], rtol=1e-15)
    np.testing.assert_allclose(candidates(1.0, (1.0, 0.25, 0.25)), [0.25, 1.0])  # sorted, duplicates once
    assert FACTORS == (1 / 8, 1 / 4, 1 / 2, 1.0)


@pytest.mark.parametrize("bottom,factors,message", [
    (0.0, FACTORS, "`bottom` must be a positive, finite rate. Received: bottom=0.0"),
    (float("nan"), FACTORS, "`bottom` must be a positive, finite rate"),
    (1.0, (), "`factors` must be a non-empty sequence of positive numbers. Received: factors=()"),
    (1.0, (0.5, -1.0), "`factors` must be a non-empty sequence of positive numbers"),
    (1.0, "abc", "`factors` must be a non-empty sequence of positive numbers. Received: factors='abc'"),
    (1.0, "12", "`factors` must be a non-empty sequence of positive numbers"),  # not the number 12
    (1.0, None, "`factors` must be a non-empty sequence of positive numbers. Received: factors=None"),
    (1.0, ((0.5, 1.0), (2.0,)), "`factors` must be a non-empty sequence of positive numbers"),
])
def test_candidates_reject_what_cannot_be_a_rate(bottom, factors, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        candidates(bottom, factors)


def test_choose_keeps_the_lowest_rate_within_the_tolerance_of_the_best_gain():
    lrs = np.array([0.1, 0.2, 0.4, 0.8])
    # start 1.0, best 0.30 (gain 0.70): 5% of it is 0.035, so up to 0.335 qualifies.
    assert choose(lrs, np.array([0.40, 0.33, 0.30, 0.9]), 1.0) == 1
    assert choose(lrs, np.array([0.40, 0.34, 0.30, 0.9]), 1.0) == 2
    assert choose(lrs, np.array([0.40, 0.34, 0.30, 0.9]), 1.0, tolerance=0.0) == 2
    assert choose(lrs, np.array([0.40, 0.34, 0.30, 0.9]), 1.0, tolerance=0.2) == 0
    # A diverged run never qualifies, even below a finite best; no improvement means tolerance 0.
    assert choose(lrs, np.array([np.inf, np.nan, 0.5, 0.6]), 1.0) == 2
    assert choose(lrs, np.array([1.3, 1.2, 1.25, np.inf]), 1.0) == 1
    assert choose(lrs, np.full(4, np.inf), 1.0) is None


def test_choose_widens_the_tolerance_to_the_noise_the_runs_show():
    lrs = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    # 0.4 ended 0.2 above 0.2's run before the best (0.35): runs within 0.2 of the best are alike.
    assert noise(np.array([0.8, 0.4, 0.6, 0.35, np.inf])) == pytest.approx(0.2)
    assert choose(lrs, np.array([0.8, 0.4, 0.6, 0.35, np.inf]), 1.0) == 1
    assert choose(lrs, np.array([0.8, 0.4, 0.39, 0.35, np.inf]), 1.0) == 3  # falling steadily: 5% only
    # A rise after the best is the curve's own (too high a rate), not noise; diverged runs are left out.
    assert noise(np.array([0.8, 0.5, 0.35, 0.9, 2.0])) == 0.0
    assert choose(lrs, np.array([0.8, 0.5, 0.35, 0.9, 2.0]), 1.0) == 2
    assert noise(np.array([0.8, np.inf, 0.5, np.nan, 0.3])) == 0.0
    assert noise(np.array([np.nan, np.inf])) == 0.0
    # From the benchmark: a BatchNorm CNN with RMSprop, where the runs' losses jump about.
    lrs = np.array([0.0039, 0.0078, 0.0156, 0.0313, 0.0625, 0.125])
    losses = np.array([1.283, 0.881, 1.783, 0.805, 0.552, 6.822])
    assert noise(losses) == pytest.approx(1.783 - 0.881)
    assert choose(lrs, losses, 2.318) == 0
    assert choose(lrs[1:], losses[1:], 2.318) == 0  # 0.0078, where it kept 0.0625 on the 5% alone


def test_noise_warning_says_when_the_noise_decided_and_what_was_kept():
    # Noise 0.2 against 5% of the gain (0.65): the noise decided, and the message says so with numbers.
    message = noise_warning(np.array([0.8, 0.4, 0.6, 0.35, np.inf]), 1.0, lr=0.2)
    assert message == ("The short runs' losses jumped by 0.2 between rates before the best run (more than 5% of "
                       "its gain, 0.65): single runs cannot rank these rates finely, and the rate kept, 0.2, is a "
                       "cautious guess (`plot_trials()` shows the runs).")
    assert noise_warning(np.array([0.8, 0.4, 0.6, 0.35]), 1.0, lr=0.2, tolerance=0.5) is None  # 0.325 > 0.2
    assert noise_warning(np.array([0.8, 0.4, 0.39, 0.35]), 1.0, lr=0.8) is None  # falling steadily
    assert noise_warning(np.array([0.8, 0.5, 0.35, 0.9]), 1.0, lr=0.4) is None  # a rise after the best
    assert noise_warning(np.array([np.inf, np.nan]), 1.0, lr=0.1) is None  # every run diverged: not this
    assert noise_warning(np.array([1.2, 1.5, 1.1]), 1.0, lr=0.1).startswith(  # no gain: any jump decides
        "The short runs' losses jumped by 0.3 between rates before the best run (more than 5% of its gain, 0)")


@settings(max_examples=300, deadline=None)
@given(run_losses(min_size=0))
def test_noise_is_the_largest_rise_before_the_best_among_finite_runs(losses):
    x = losses[np.isfinite(losses)]
    b = int(np.argmin(x)) if x.size else -1
    rises = [x[j] - x[i] for j in range(b + 1) for i in range(j)]
    assert noise(losses) == max(rises + [0.0])


@pytest.mark.parametrize("kwargs,message", [
    (dict(lrs=np.array([]), losses=np.array([])), "non-empty 1-D arrays of the same length"),
    (dict(lrs=np.array([0.1, 0.2]), losses=np.array([1.0])), r"lrs.shape=\(2,\), losses.shape=\(1,\)"),
    (dict(lrs=np.array([0.1]), losses=np.array([1.0]), tolerance=1.0), r"`tolerance` must be in \[0, 1\)"),
])
def test_choose_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        choose(start_loss=1.0, **kwargs)


@settings(max_examples=300, deadline=None)
@given(run_losses(), st.floats(0, 20), st.floats(0, 0.99))
def test_choose_is_total_and_keeps_the_lowest_qualifying_run(losses, start, tolerance):
    lrs = np.logspace(-3, 0, len(losses))
    i = choose(lrs, losses, start, tolerance)
    finite = np.isfinite(losses)
    if not finite.any():
        assert i is None and threshold(losses, start, tolerance) is None
        return
    best = losses[finite].min()
    limit = best + max(tolerance * max(start - best, 0.0), noise(losses))
    assert threshold(losses, start, tolerance) == limit  # the band `plot_trials` shades
    assert np.isfinite(losses[i]) and losses[i] <= limit + 1e-12
    assert not any(np.isfinite(v) and v <= limit for v in losses[:i])  # no lower rate qualifies


def test_extension_goes_on_above_only_while_the_highest_run_is_kept():
    lrs = np.array([0.1, 0.2, 0.4])
    assert extension(lrs, np.array([0.9, 0.6, 0.3]), 1.0, limit=10.0) == 0.8  # still falling at the top
    assert extension(lrs, np.array([0.9, 0.31, 0.30]), 1.0, limit=10.0) is None  # 0.2 is within 5%: kept
    assert extension(lrs, np.array([0.9, 0.6, np.inf]), 1.0, limit=10.0) is None  # the top diverged
    assert extension(lrs, np.array([0.9, 0.6, 0.3]), 1.0, limit=0.79) is None  # beyond the sweep
    assert extension(lrs, np.array([np.nan] * 3), 1.0, limit=10.0) is None


def test_threshold_is_the_best_plus_the_larger_of_the_tolerance_and_the_noise():
    assert threshold(np.array([0.40, 0.33, 0.30, np.inf]), 1.0) == pytest.approx(0.30 + 0.05 * 0.70)
    assert threshold(np.array([0.40, 0.33, 0.30]), 1.0, tolerance=0.2) == pytest.approx(0.30 + 0.2 * 0.70)
    assert threshold(np.array([0.50, 0.40, 0.60, 0.30]), 1.0) == pytest.approx(0.30 + 0.20)  # noise: .40 to .60
    assert threshold(np.array([1.3, 1.2]), 1.0) == 1.2  # no improvement: the best alone
    assert threshold(np.array([np.inf, np.nan]), 1.0) is None


@settings(max_examples=200, deadline=None)
@given(run_losses(), st.floats(0, 20), st.floats(1e-3, 10.0))
def test_extension_is_twice_the_top_exactly_when_the_top_is_chosen_and_allowed(losses, start, limit):
    lrs = np.logspace(-3, 0, len(losses))
    above = extension(lrs, losses, start, limit)
    wanted = choose(lrs, losses, start) == len(lrs) - 1 and 2 * lrs[-1] <= limit
    assert above == (2 * lrs[-1] if wanted else None)


def test_edge_rate_looks_above_the_runs_only_where_no_run_failed():
    lrs = np.array([0.02, 0.04, 0.08, 0.16])
    # The best at .08 and .16 close behind: no run failed, so no edge was seen; one more at .32.
    assert edge_rate(lrs, np.array([0.6, 0.5, 0.4, 0.45]), start_loss=1.0, limit=10.0) == 0.32
    # Diverged, ended no lower than it started, or gave up more than half the best gain: an edge seen.
    for top in (np.inf, 1.2, 0.75):
        assert edge_rate(lrs, np.array([0.6, 0.5, 0.4, top]), start_loss=1.0, limit=10.0) is None
    assert edge_rate(lrs, np.array([0.6, 0.5, 0.4, 0.45]), start_loss=1.0, limit=0.3) is None  # above the sweep
    assert edge_rate(lrs[:0], lrs[:0], start_loss=1.0, limit=10.0) is None  # no runs


@settings(max_examples=300, deadline=None)
@given(run_losses(), st.floats(0.0, 10.0), st.floats(1e-3, 10.0))
def test_edge_rate_is_twice_the_top_exactly_when_no_run_failed_and_it_is_allowed(losses, start, limit):
    lrs = np.logspace(-3, 0, len(losses))
    wanted = not failed(lrs, losses, start).any() and 2 * lrs[-1] <= limit
    assert edge_rate(lrs, losses, start, limit) == (2 * lrs[-1] if wanted else None)


def test_below_goes_on_under_the_candidates_only_while_the_lowest_run_alone_is_kept():
    lrs = np.array([0.1, 0.2, 0.4])
    assert below(lrs, np.array([0.3, 0.6, 0.9]), 1.0, limit=1e-7) == 0.05  # still falling as the rate falls
    assert below(lrs, np.array([0.3, np.inf, np.inf]), 1.0, limit=1e-7) == 0.05  # the others diverged
    assert below(lrs, np.array([0.30, 0.31, 0.9]), 1.0, limit=1e-7) is None  # 0.2 is within 5%: no need
    assert below(lrs, np.array([0.9, 0.6, 0.3]), 1.0, limit=1e-7) is None  # the best is higher
    assert below(lrs, np.array([0.3, 0.6, 0.9]), 1.0, limit=0.051) is None  # beneath the sweep
    assert below(lrs, np.array([np.nan, np.inf, np.inf]), 1.0, limit=1e-7) == 0.05  # all diverged: lower
    assert below(lrs[:1], np.array([np.inf]), 1.0, limit=1e-7) == 0.05  # even a single run
    assert below(lrs, np.array([np.nan] * 3), 1.0, limit=0.051) is None  # but not beneath the sweep
    assert below(lrs[:1], np.array([0.3]), 1.0, limit=1e-7) is None  # one run that trained: nothing to compare


@settings(max_examples=200, deadline=None)
@given(run_losses(), st.floats(0, 20), st.floats(1e-5, 1e-2))
def test_below_is_half_the_lowest_exactly_when_it_alone_qualifies_or_all_diverged_and_is_allowed(
        losses, start, limit):
    lrs = np.logspace(-3, 0, len(losses))
    lower = below(lrs, losses, start, limit)
    finite = np.isfinite(losses)
    alone = False
    if len(lrs) > 1 and finite[0] and losses[0] == losses[finite].min():
        gain = start - losses[0] if start > losses[0] else 0.0
        alone = not np.any(losses[1:] <= losses[0] + 0.05 * gain)
    assert lower == (lrs[0] / 2 if (alone or not finite.any()) and lrs[0] / 2 >= limit else None)
    if lower is not None and finite.any():  # and then `choose` keeps the lowest: the two never disagree
        assert choose(lrs, losses, start) == 0


@settings(max_examples=200, deadline=None)
@given(run_losses(), st.floats(0, 20), st.floats(1e-5, 1e-2), st.floats(1e-3, 10.0))
def test_next_rate_leaps_while_nothing_trained_then_searches_above_then_narrows_then_below(losses, start, low, high):
    lrs = np.logspace(-3, 0, len(losses))
    jump, above = leap(lrs, losses, start, high), extension(lrs, losses, start, high)
    closer, under = narrow(lrs, losses, start), below(lrs, losses, start, low)
    assert next_rate(lrs, losses, start, low, high) == next(
        (rate for rate in (jump, above, closer, under) if rate is not None), None)
    assert above is None or under is None  # never both: one keeps the highest, the other the lowest alone
    assert closer is None or (above is None and jump is None)  # the highest failed: neither goes on up
    if closer is not None:  # twice a rate that did not fail, below every failed rate above it
        ok = ~failed(lrs, losses, start)
        assert closer == 2 * lrs[ok].max() and closer < lrs[~ok & (lrs > lrs[ok].max())].min()


def test_narrow_finds_the_edge_to_a_factor_of_two_after_a_leap_past_it():
    # From the benchmark: a deep tanh MLP with SGD whose leap from 0.079 to 0.634 still barely
    # trained, and whose next leap, to 5.07, diverged.
    lrs = np.array([0.0099, 0.0198, 0.0396, 0.0792, 0.634, 5.07])
    losses = np.array([0.6864, 0.6860, 0.6863, 0.6844, 0.6689, np.inf])
    assert narrow(lrs, losses, 0.6979) == pytest.approx(2 * 0.634, rel=1e-15)
    assert next_rate(lrs, losses, 0.6979, low=1e-7, high=10.0) == pytest.approx(1.268, rel=1e-15)
    # 1.27 ended above the start after lower rates trained: it failed too, and the edge lies
    # within a factor of 2; the margin is then measured from 1.27, not 5.07.
    lrs, losses = np.append(lrs, 1.268), np.append(losses, 0.6984)
    order = np.argsort(lrs)
    assert narrow(lrs[order], losses[order], 0.6979) is None
    assert short_of_divergence(0.634, lrs[order], losses[order], 8.0, 0.6979) == pytest.approx(1.268 / 8)
    # Nothing failed, everything failed, or nothing run: nothing to narrow.
    assert narrow(lrs[:5], losses[:5], 0.6979) is None
    assert narrow(lrs[:2], np.array([np.inf, np.nan]), 0.6979) is None
    assert narrow(np.array([]), np.array([]), 0.6979) is None


def test_leap_goes_up_eightfold_only_while_no_run_has_trained_the_model():
    # From the benchmark: a deep tanh MLP with SGD whose runs at 0.0005-0.0043 sat on a plateau.
    lrs = np.array([0.00054, 0.0011, 0.0022, 0.0043])
    plateau = np.array([0.6890, 0.6888, 0.6887, 0.6890])
    assert leap(lrs, plateau, 0.6894, limit=10.0) == pytest.approx(8 * 0.0043, rel=1e-15)
    assert extension(lrs, plateau, 0.6894, limit=10.0) is None  # the noise stopped the search above
    assert next_rate(lrs, plateau, 0.6894, low=1e-7, high=10.0) == pytest.approx(0.0344, rel=1e-15)
    # A plateau on which each doubling wins by a hair: the search above would crawl; it leaps.
    crawl = np.array([0.6893, 0.6891, 0.6888, 0.6884])
    assert extension(lrs, crawl, 0.6894, limit=10.0) == pytest.approx(2 * 0.0043, rel=1e-15)
    assert next_rate(lrs, crawl, 0.6894, low=1e-7, high=10.0) == pytest.approx(0.0344, rel=1e-15)
    assert leap(lrs, plateau, 0.6894, limit=0.01) == 0.01  # up to the sweep's top
    assert leap(lrs, plateau, 0.6894, limit=0.008) is None  # twice the highest is above it
    # 10% of the loss or more: the runs trained, and rank the rates.
    assert leap(lrs, np.array([0.69, 0.68, 0.62, 0.64]), 0.6894, limit=10.0) is None
    assert leap(lrs, np.array([0.69, 0.68, 0.63, 0.64]), 0.6894, limit=10.0) is not None  # 8.6%
    # The highest run diverged, or ended no lower than the start: the edge is found.
    assert leap(lrs, np.array([0.6890, 0.6888, 0.6887, np.inf]), 0.6894, limit=10.0) is None
    assert leap(lrs, np.array([0.6890, 0.6888, 0.6887, 0.6894]), 0.6894, limit=10.0) is None
    # No run moved the model (none ended lower, the highest at most 0.01% above the start): no edge
    # was found, so it leaps (a flat sweep read far too low: a masked LSTM swept over 40 steps).
    lstm = np.array([8.27e-08, 1.65e-07, 3.31e-07, 6.61e-07, 1.32e-06])
    still = np.array([0.69277697, 0.69277705, 0.69277710, 0.69277728, 0.69277759])
    assert leap(lstm, still, 0.69277695, limit=10.0) == pytest.approx(8 * 1.32e-06, rel=1e-15)
    assert next_rate(lstm, still, 0.69277695, low=1e-7, high=10.0) == pytest.approx(8 * 1.32e-06, rel=1e-15)
    assert leap(lrs, np.array([0.6895, 0.6896, 0.6896, 0.6897]), 0.6894, limit=10.0) is None  # 0.04% up
    assert leap(lrs, np.array([0.6890, 0.6888, 0.6887, 0.68945]), 0.6894, limit=10.0) is None  # others fell
    # No scale to measure by, or nothing run.
    assert leap(lrs, plateau, 0.0, limit=10.0) is None
    assert leap(lrs, plateau, np.inf, limit=10.0) is None
    assert leap(np.array([]), np.array([]), 0.6894, limit=10.0) is None
    assert leap(lrs, plateau, 0.6894, limit=10.0, factor=4.0) == pytest.approx(4 * 0.0043, rel=1e-15)


class Runs:
    """A toy `run` for `search`: the loss after a run at `lr` is `curve(lr)`; every call recorded."""

    def __init__(self, curve):
        self.curve, self.calls = curve, []

    def __call__(self, lr, steps):
        self.calls.append((lr, steps))
        return self.curve(lr)


def test_search_runs_the_candidates_then_above_while_the_highest_wins_then_the_edge():
    # The loss falls with the rate and diverges above 1: twice the highest, while it wins, up to 1.6.
    runs = Runs(lambda lr: np.inf if lr > 1 else 1 - lr / 2)
    rates, losses, tie_lrs, tie_losses = search(runs, candidates(0.4), 100, 1.0, low=1e-7, high=10.0)
    assert runs.calls == [(0.05, 100), (0.1, 100), (0.2, 100), (0.4, 100), (0.8, 100), (1.6, 100)]
    assert rates.tolist() == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6] and losses.tolist()[-2:] == [0.6, np.inf]
    assert tie_lrs.size == tie_losses.size == 0
    # `extend` caps the runs beyond the candidates; where none failed, `edge` runs twice the highest.
    runs = Runs(lambda lr: np.inf if lr > 1 else 1 - lr / 2)
    search(runs, candidates(0.4), 100, 1.0, low=1e-7, high=10.0, extend=1)
    assert runs.calls == [(0.05, 100), (0.1, 100), (0.2, 100), (0.4, 100), (0.8, 100), (1.6, 100)]  # 1.6: the edge
    runs = Runs(lambda lr: np.inf if lr > 1 else 1 - lr / 2)
    search(runs, candidates(0.4), 100, 1.0, low=1e-7, high=10.0, extend=0, edge=False)
    assert runs.calls == [(0.05, 100), (0.1, 100), (0.2, 100), (0.4, 100)]
    # Neither goes above `high`, the sweep's last rate.
    runs = Runs(lambda lr: np.inf if lr > 1 else 1 - lr / 2)
    search(runs, candidates(0.4), 100, 1.0, low=1e-7, high=0.5)
    assert runs.calls == [(0.05, 100), (0.1, 100), (0.2, 100), (0.4, 100)]


def test_search_goes_below_while_the_lowest_alone_wins_and_runs_the_ties_longer():
    # The lower the rate the lower the loss: half the lowest, while it alone does about as well as
    # the best, never below `low`.
    runs = Runs(lambda lr: 0.1 + 4 * lr)
    rates, _, _, _ = search(runs, candidates(0.4), 100, 1.0, low=0.01, high=10.0)
    assert [lr for lr, _ in runs.calls] == [0.05, 0.1, 0.2, 0.4, 0.025, 0.0125]
    assert rates.tolist() == [0.0125, 0.025, 0.05, 0.1, 0.2, 0.4]
    # Four runs tie: with `tie_steps`, each is run again for that many steps, in increasing order.
    runs = Runs(lambda lr: np.inf if lr > 0.5 else 0.5)
    rates, losses, tie_lrs, tie_losses = search(runs, candidates(0.4), 100, 1.0, low=1e-7, high=10.0,
                                                tie_steps=300)
    assert runs.calls[-4:] == [(0.05, 300), (0.1, 300), (0.2, 300), (0.4, 300)]
    assert tie_lrs.tolist() == [0.05, 0.1, 0.2, 0.4] and tie_losses.tolist() == [0.5] * 4
    assert (0.8, 100) in runs.calls and np.isinf(losses[-1])  # the extension ran and diverged


def test_runs_by_rate_orders_the_runs_by_rate():
    rates, losses = runs_by_rate([(0.4, np.inf), (0.1, 0.9), (0.2, 0.5)])
    assert rates.tolist() == [0.1, 0.2, 0.4] and losses.tolist() == [0.9, 0.5, np.inf]
    assert rates.dtype == losses.dtype == np.float64


def test_short_of_divergence_keeps_the_margin_below_the_lowest_diverged_rate():
    lrs = np.array([0.01, 0.02, 0.04, 0.08, 0.16])
    assert short_of_divergence(0.04, lrs, np.array([.3, .25, .2, np.inf, np.inf])) == 0.01  # 0.08 / 8
    assert short_of_divergence(0.04, lrs, np.array([.3, .25, .2, np.inf, np.inf]), margin=1) == 0.04
    assert short_of_divergence(0.04, lrs, np.array([.3, .25, .2, .5, np.nan]), margin=2) == 0.04  # 0.16 / 2
    assert short_of_divergence(0.001, lrs, np.array([.3, .25, .2, np.inf, .9])) == 0.001  # already clear
    assert short_of_divergence(0.04, lrs, np.array([.3, .25, .2, .5, .9])) == 0.04  # nothing diverged
    with pytest.raises(ValueError, match=r"`margin` must be a number of at least 1 \(1: no margin\)"):
        short_of_divergence(0.04, lrs, np.zeros(5), margin=0.5)
    with pytest.raises(ValueError, match="`lrs` and `losses` must have the same shape"):
        short_of_divergence(0.04, lrs, np.zeros(4))


def test_a_run_that_ended_worse_than_it_started_above_a_rate_that_trained_failed():
    lrs = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    # As on the benchmark's autoencoder with plain SGD: 0.8 did best, 1.6 ended above the start.
    losses = np.array([0.75, 0.55, 0.40, 0.30, 1.25])
    assert failed(lrs, losses, start_loss=1.0).tolist() == [False, False, False, False, True]
    assert failed(lrs, losses).tolist() == [False] * 5  # without the start, only divergence counts
    assert choose(lrs, losses, 1.0) == 3
    assert short_of_divergence(0.8, lrs, losses, start_loss=1.0) == 0.2  # 1.6 / 8
    assert short_of_divergence(0.8, lrs, losses) == 0.8  # as before this rule
    # Below the lowest rate that trained, a run that gained nothing is slow, not unstable.
    assert failed(lrs, np.array([1.0, 1.02, 0.6, 0.5, np.nan]), 1.0).tolist() == [False, False, False, False, True]
    # Where no run gained (a model already trained, say), only the runs that diverged failed.
    assert failed(lrs, np.array([1.01, 1.02, 1.05, np.inf, 1.3]), 1.0).tolist() == [False, False, False, True, False]
    assert failed(lrs, losses, start_loss=np.nan).tolist() == [False] * 5
    with pytest.raises(ValueError, match="`lrs` and `losses` must have the same shape"):
        failed(lrs, losses[:3], 1.0)


def test_a_run_above_the_best_that_gave_up_more_than_half_its_gain_failed():
    lrs = np.array([0.02, 0.04, 0.09, 0.18, 0.36])
    # As on the benchmark's autoencoder with Nesterov: 0.18 did best (gain 0.5), 0.36 fell back to
    # 0.83 (a third of the gain kept) without ending above the start.
    losses = np.array([0.80, 0.66, 0.55, 0.50, 0.83])
    assert failed(lrs, losses, start_loss=1.0).tolist() == [False, False, False, False, True]
    assert choose(lrs, losses, 1.0) == 3
    assert short_of_divergence(0.18, lrs, losses, start_loss=1.0) == 0.045  # 0.36 / 8
    # Keeping more than half the gain is overshoot, not failure; below the best, a slow run never fails.
    assert not failed(lrs, np.array([0.80, 0.66, 0.55, 0.50, 0.74]), 1.0).any()
    assert not failed(lrs, np.array([0.99, 0.98, 0.55, 0.50, 0.74]), 1.0).any()
    assert failed(lrs, np.array([0.80, 0.66, 0.55, 0.50, 0.7501]), 1.0)[-1]


@settings(max_examples=300, deadline=None)
@given(run_losses(), st.floats(0.0, 10.0))
def test_failed_runs_are_the_diverged_ones_and_those_thrown_off_above_one_that_trained(losses, start):
    lrs = np.logspace(-3, 0, len(losses))
    out = failed(lrs, losses, start)
    finite = np.isfinite(losses)
    gained = finite & (losses < start)
    best = int(np.argmin(np.where(finite, losses, np.inf)))
    for i, (rate, loss) in enumerate(zip(lrs, losses)):
        gained_below = bool((gained & (lrs < rate)).any())
        gave_up_half = gained.any() and rate > lrs[best] and loss > losses[best] + 0.5 * (start - losses[best])
        assert out[i] == (not np.isfinite(loss) or (loss >= start and gained_below) or gave_up_half)
    assert choose(lrs, losses, start) not in np.flatnonzero(out & gained.any())  # a failed run is never kept
    kept = short_of_divergence(1.0, lrs, losses, start_loss=start)
    assert all(kept * 8 <= r * (1 + 1e-12) for r in lrs[out])


@settings(max_examples=200, deadline=None)
@given(run_losses(), st.floats(1e-4, 2.0), st.floats(1.0, 32.0))
def test_short_of_divergence_never_raises_the_rate_and_clears_every_diverged_run(losses, lr, margin):
    lrs = np.logspace(-3, 0, len(losses))
    kept = short_of_divergence(lr, lrs, losses, margin)
    assert 0 < kept <= lr
    assert all(kept * margin <= r * (1 + 1e-12) for r, v in zip(lrs, losses) if not np.isfinite(v))
    assert (kept == lr) == all(lr * margin <= r for r, v in zip(lrs, losses) if not np.isfinite(v))


def test_tied_runs_do_about_as_well_as_the_best_and_did_not_fail():
    lrs = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    assert tied(lrs, np.array([0.50, 0.31, 0.30, 0.32, np.inf]), 1.0).tolist() == [False, True, True, True, False]
    # 0.8 is within 5% of the best after 0.4, but ended above its start: thrown off, it ties with nothing.
    assert tied(lrs, np.array([0.50, 0.31, 0.30, 0.60, 1.2]), 1.0).tolist() == [False, True, True, False, False]
    assert not tied(lrs[:2], np.array([np.inf, np.nan]), 1.0).any()
    with pytest.raises(ValueError, match="`tolerance` must be in"):
        tied(lrs, np.ones(5), 1.0, tolerance=1.0)


@settings(max_examples=300, deadline=None)
@given(run_losses(), st.floats(0.0, 10.0))
def test_tied_is_total_and_holds_the_run_choose_keeps_unless_it_failed(losses, start):
    lrs = np.logspace(-3, 0, len(losses))
    ties = tied(lrs, losses, start)
    limit = threshold(losses, start)
    assert not (ties & (~np.isfinite(losses) | failed(lrs, losses, start))).any()
    assert limit is not None or not ties.any()
    assert all(v <= limit for v in losses[ties])
    i = choose(lrs, losses, start)
    assert i is None or ties[i] or failed(lrs, losses, start)[i]


def test_break_tie_keeps_the_lowest_rate_that_does_as_well_over_the_longer_runs():
    lrs = np.array([0.1, 0.2, 0.4])
    assert break_tie(0.1, lrs, np.array([0.40, 0.30, 0.29]), 1.0) == 0.2  # 0.2 is within 5% of 0.4's gain
    assert break_tie(0.1, lrs, np.array([0.40, 0.39, 0.20]), 1.0) == 0.4
    assert break_tie(0.1, lrs, np.array([0.40, 0.30, np.inf]), 1.0) == 0.4 / 8  # the margin below 0.4
    assert break_tie(0.1, lrs, np.array([0.40, 0.30, np.inf]), 1.0, margin=1.0) == 0.2
    assert break_tie(0.1, lrs, np.array([np.inf, np.inf, np.nan]), 1.0) == 0.1 / 8  # all blew up
    with pytest.raises(ValueError, match="`margin` must be a number of at least 1"):
        break_tie(0.1, lrs, np.ones(3), 1.0, margin=0.5)


@settings(max_examples=300, deadline=None)
@given(run_losses(min_size=2), st.floats(0.0, 10.0), st.floats(1.0, 32.0))
def test_break_tie_keeps_a_longer_run_or_less_and_clears_every_one_that_failed(losses, start, margin):
    lrs = np.logspace(-2, 0, len(losses))
    kept = break_tie(float(lrs[0]), lrs, losses, start, margin)
    bad = lrs[failed(lrs, losses, start)]
    assert 0 < kept <= lrs[-1] and all(kept * margin <= r * (1 + 1e-12) for r in bad)
    assert kept in lrs or np.isclose(kept * margin, bad.min(), rtol=1e-12)  # a longer run's rate, or the margin's


def test_summary_lists_the_longer_runs_that_broke_the_tie():
    lrs, losses = (0.0209, 0.0417, 0.0834, 0.167), (0.7057, 0.6515, 0.645, 0.6447)
    t = Trials(lrs, losses, 1.12, 100, 0.167, tie_steps=300, tie_lrs=lrs[1:], tie_losses=(0.6186, 0.5978, 0.5577))
    assert t.summary().splitlines()[3:] == [
        "    0.0209      0.7057",
        "    0.0417      0.6515  about as good as the best",
        "    0.0834       0.645  about as good as the best",
        "     0.167      0.6447  best  <- kept",
        "About as good as the best: a loss of at most 0.6685, within 5% of the best run's gain (0.475).",
        "Those 3 rates, each run again for 300 steps to tell them apart:",
        "    0.0417      0.6186",
        "    0.0834      0.5978",
        "     0.167      0.5577  best  <- kept",
        "Kept 0.167: the lowest rate that did about as well as the best over 300 steps.",
    ]
    blown = Trials(lrs, losses, 1.12, 100, 0.167 / 8, tie_steps=300, tie_lrs=lrs[1:],
                   tie_losses=(0.6186, 0.5978, np.inf))
    assert blown.summary().splitlines()[-2:] == [
        "     0.167         inf  diverged", "Kept 0.0209: 8 times below 0.167, the lowest rate whose run failed."]
    thrown = Trials(lrs, losses, 1.12, 100, 0.167 / 8, tie_steps=300, tie_lrs=lrs[1:],
                    tie_losses=(0.6186, 0.5978, 1.2))
    assert thrown.summary().splitlines()[-2] == "     0.167         1.2  ended no lower than it started: counts as diverged"


def _kept(lrs, losses, start, tolerance=0.05, margin=8.0):
    """The rate `LRFinder.refine` keeps from these runs (as `_refine` does, given a finite run)."""
    lrs, losses = np.asarray(lrs, float), np.asarray(losses, float)
    return short_of_divergence(float(lrs[choose(lrs, losses, start, tolerance)]), lrs, losses, margin, start)


def test_summary_lists_every_run_and_says_which_rule_kept_the_rate():
    # As the demo's runs: every run trained, the lowest within 5% of the best gain is kept.
    lrs, losses, start = (0.0039, 0.0078, 0.0156, 0.0313), (0.0108, 0.0098, 0.00104, 0.00466), 1.057
    t = Trials(lrs, losses, start, 100, _kept(lrs, losses, start))
    assert t.lr == 0.0039
    assert t.summary().splitlines() == [
        "4 runs of 100 steps at constant rates, each from the same state.",
        "Loss on the held-back batches before them: 1.057.",
        "      rate        loss",
        "    0.0039      0.0108  about as good as the best  <- kept",
        "    0.0078      0.0098  about as good as the best",
        "    0.0156     0.00104  best",
        "    0.0313     0.00466  about as good as the best",
        "About as good as the best: a loss of at most 0.05384, within 5% of the best run's gain (1.06).",
        "Kept 0.0039: the lowest of those rates, the safer for a longer training.",
    ]


def test_summary_names_runs_thrown_off_and_the_margin_below_them():
    # The best at 0.8; 1.6 ended above its start, so the rate kept stays 8 times below it.
    lrs, losses = (0.1, 0.2, 0.4, 0.8, 1.6), (0.75, 0.55, 0.40, 0.30, 1.25)
    t = Trials(lrs, losses, 1.0, 50, _kept(lrs, losses, 1.0), margin=8.0)
    assert t.lr == 0.2
    lines = t.summary().splitlines()
    assert lines[3:8] == [
        "       0.1        0.75",
        "       0.2        0.55  <- kept",
        "       0.4         0.4",
        "       0.8         0.3  best",
        "       1.6        1.25  ended no lower than it started: counts as diverged",
    ]
    assert lines[8:] == [
        "About as good as the best: a loss of at most 0.335, within 5% of the best run's gain (0.7).",
        "Kept 0.2: 8 times below 1.6, the lowest rate whose run failed (a longer training turns",
        "unstable at lower rates than a short run); the lowest rate that did about as well is 0.8.",
    ]
    # Above the best rate, a run that gave up more than half the best gain is named so.
    lrs, losses = (0.02, 0.04, 0.09, 0.18, 0.36), (0.80, 0.66, 0.55, 0.50, 0.83)
    t = Trials(lrs, losses, 1.0, 100, _kept(lrs, losses, 1.0))
    assert t.summary().splitlines()[7] == (
        "      0.36        0.83  gave up more than 50% of the best run's gain: counts as diverged")


def test_summary_says_when_the_noise_decided_and_repeats_the_warnings():
    lrs, losses = (0.1, 0.2, 0.4, 0.8, 1.6), (0.8, 0.4, 0.6, 0.35, np.inf)
    warning = noise_warning(np.array(losses), 1.0, lr=0.2)
    t = Trials(lrs, losses, 1.0, 100, _kept(lrs, losses, 1.0, margin=1.0), (warning,), margin=1.0)
    lines = t.summary().splitlines()
    assert lines[4] == "       0.2         0.4  about as good as the best  <- kept"
    assert lines[5] == "       0.4         0.6"  # 0.6 is above 0.35 + 0.2
    assert lines[7] == "       1.6         inf  diverged"
    assert lines[8] == ("About as good as the best: a loss of at most 0.55, within the runs' noise (0.2: a "
                        "higher rate ended that much above a lower one before the best), more than 5% of the "
                        "best run's gain (0.65).")
    assert lines[-1] == f"Warning: {warning}"
    # Every run diverged: no threshold, and the line says where the rate kept came from.
    t = Trials((0.1, 0.2), (np.inf, np.nan), 1.0, 100, 0.0125)
    assert t.summary().splitlines()[3:] == [
        "       0.1         inf  diverged", "       0.2         nan  diverged",
        "No run has a finite loss. Kept 0.0125: the sweep's reading, or the lowest diverged rate over 8 where "
        "that is less."]


@settings(max_examples=200, deadline=None)
@given(run_losses(), st.floats(0.0, 10.0))
def test_summary_is_total_and_marks_the_rate_kept_where_it_was_a_run(losses, start):
    lrs = np.logspace(-3, 0, len(losses))
    i = choose(lrs, losses, start)
    lr = 1e-4 if i is None else short_of_divergence(float(lrs[i]), lrs, losses, 8.0, start)
    lines = Trials(tuple(lrs), tuple(losses), start, 100, lr).summary().splitlines()
    runs = lines[3:3 + len(lrs)]
    assert [line.endswith("<- kept") for line in runs] == [r == lr for r in lrs]
    finite = losses[np.isfinite(losses)]
    best_runs = 0 if i is None else int((losses == finite.min()).sum())
    assert sum(bool(re.search(r"\d  best(  <- kept)?$", line)) for line in runs) == best_runs
    assert lines[-1].startswith(("Kept", "No run has a finite loss", "unstable at lower rates"))


def test_barely_trained_warning_says_when_the_best_run_barely_lowered_the_loss():
    # From the benchmark: a deep tanh MLP with plain SGD whose runs end at 0.68-0.70 from 0.70.
    message = barely_trained_warning(np.array([0.6964, 0.6951, 0.6955, np.inf]), 0.7009, lr=0.0094)
    assert message == (
        "The best short run lowered the loss by only 0.8% (0.7009 to 0.6951; less than 10%): runs this short "
        "barely train the model at any rate, so they cannot rank the rates, and the rate kept, 0.0094, is a "
        "guess. Longer runs may tell them apart (`refine(dataset, steps=...)` with as many steps as you will "
        "train); a loss that no rate moves can also mean a plateau the model leaves later, or a model already "
        "trained.")
    assert barely_trained_warning(np.array([9.5, 9.0]), 10.0, lr=0.1) is None  # 10%: not less
    assert barely_trained_warning(np.array([0.95, 0.91]), 1.0, lr=0.1).startswith(
        "The best short run lowered the loss by only 9.0% (1 to 0.91; less than 10%)")
    assert barely_trained_warning(np.array([1.2, 1.1]), 1.0, lr=0.1).startswith(  # no run trained
        "The best short run did not lower the loss (1 to 1.1; less than 10%)")
    assert barely_trained_warning(np.array([0.69262, 0.69263]), 0.69262, lr=0.1).startswith(  # it read "-0.0%"
        "The best short run did not lower the loss (0.6926 to 0.6926;")
    assert barely_trained_warning(np.array([-0.5, -0.9]), -0.1, lr=0.1) is None  # a negative loss, by magnitude
    assert barely_trained_warning(np.array([-0.91]), -0.9, lr=0.1) is not None
    assert barely_trained_warning(np.array([0.5]), 1.0, lr=0.1, least=0.6) is not None
    for nothing in ((np.array([np.inf, np.nan]), 1.0), (np.array([0.5]), 0.0), (np.array([0.5]), np.inf)):
        assert barely_trained_warning(*nothing, lr=0.1) is None  # no finite run, or no scale
    for least in (0, 1, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match=r"`least` must be a share of the loss in \(0, 1\). Received: least="):
            barely_trained_warning(np.array([0.5]), 1.0, lr=0.1, least=least)
