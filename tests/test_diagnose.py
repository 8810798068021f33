import re
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tf_lrfinder.diagnose import NOISE_POINTS, NOISE_SHARE, fall_in_noise, sweep_warnings
from tf_lrfinder.smoothing import fully_smoothed, lag_free_bottom, start_level

LRS = np.logspace(-7, 1, 100)
FALLING = np.concatenate([np.linspace(2.0, 1.0, 80), np.linspace(1.0, 4.0, 20)])


def warnings_for(losses=FALLING, n_steps=100, stop_reason="diverged", cycled=False, index=50, lr=None):
    return sweep_warnings(LRS[:len(losses)], losses, n_steps, stop_reason, cycled, index, lr)


def test_a_good_sweep_gets_no_warning():
    assert warnings_for() == []


@pytest.mark.parametrize("kwargs, words", [
    (dict(losses=np.linspace(2.0, 1.0, 100), index=89, stop_reason="completed"),
     "never diverged: the best rate may lie above `max_lr`=10; raise `max_lr`"),
    (dict(losses=FALLING[:30], index=10),
     f"stopped after 30 of 100 steps, the loss blowing up at a rate of {LRS[29]:.3g}: too few points to judge "
     "the curve; lower `max_lr` to about ten times that rate, or raise `diverge_factor`."),
    (dict(losses=np.r_[FALLING[:29], np.nan], index=10, stop_reason="not_finite"),
     f"stopped after 30 of 100 steps, the loss NaN or inf at a rate of {LRS[29]:.3g}: too few points"),
    (dict(losses=np.r_[FALLING[:29], np.inf], index=10, stop_reason="not_finite"), "look for a log of 0 or a division by 0"),
    (dict(cycled=True), "data ran out and was cycled: later steps saw batches again. Pass more data if there"),
    (dict(losses=np.full(100, 1.0) + np.linspace(0, 0.01, 100)), "curve is flat"),
    (dict(losses=np.r_[np.full(50, 1.0), np.full(50, 0.99)]), "curve is flat"),  # fell by 1%
    (dict(index=0), "edge of the usable points"),
    (dict(index=10), "edge of the usable points"),  # where the lag-free curve is first fully smoothed
    (dict(index=99), "edge of the usable points"),
    (dict(index=10, lr=LRS[0] / 4), "below the first rate tried"),
])
def test_each_reason_not_to_trust_a_sweep_is_named(kwargs, words):
    messages = warnings_for(**kwargs)
    assert len(messages) == 1 and words in messages[0]


def test_cycled_data_says_how_many_batches_a_pass_held_where_known():
    messages = sweep_warnings(LRS, FALLING, 100, "diverged", True, 50, batches=62)
    assert messages == ["The data ran out and was cycled after 62 batches: later steps saw batches again. Pass "
                        "more data if there is more; on a small data set, which training sees many times over "
                        "too, this is expected."]


@pytest.mark.parametrize("rise_to, at_the_last_point_only, warned", [
    (2.5, False, False),  # back above where it started (2.0): the EMA's lag alone kept it running
    (1.8, False, True),  # it turned up, but not back to the start: the best rate may still lie above
    (2.5, True, True),  # the last point is a single batch: not enough to say the loss turned up
])
def test_a_sweep_that_ran_to_max_lr_is_told_to_raise_it_unless_the_loss_rose_back_to_its_start(
        rise_to, at_the_last_point_only, warned):
    losses = np.concatenate([np.linspace(2.0, 1.0, 80), np.linspace(1.0, rise_to, 20)])
    if at_the_last_point_only:
        losses = np.r_[np.linspace(2.0, 1.0, 99), rise_to]
    messages = sweep_warnings(LRS, losses, 100, "completed", False, 50)
    assert any(m.startswith("The loss never diverged") for m in messages) is warned


def test_a_flat_sweep_that_ran_to_max_lr_is_told_both():
    losses = np.r_[np.full(99, 1.0), 1.5]
    messages = sweep_warnings(LRS, losses + np.linspace(0, 0.01, 100), 100, "completed", False, 50)
    assert [m[:24] for m in messages] == ["The loss never diverged:", "The loss curve is flat: "]


@pytest.mark.parametrize("value", [0.0, -1.5, 2.0e6])
@pytest.mark.parametrize("stop_reason", ["completed", "diverged"])
def test_a_loss_the_same_at_every_step_is_told_it_does_not_follow_training_not_to_widen_the_range(value, stop_reason):
    messages = sweep_warnings(LRS, np.full(100, value), 100, stop_reason, False, 50)
    assert len(messages) == 1 and messages[0].startswith(  # alone: not flat, nor to raise `max_lr`
        f"The loss is {value:.6g} at every step of the sweep, bit for bit, from a rate of 1e-07 to 10: it does not "
        "follow the training")
    assert "metric it never updates" in messages[0]
    # One step that differs, by a single bit, is a flat curve as before.
    messages = sweep_warnings(LRS, np.r_[np.full(99, value), np.nextafter(value, np.inf)], 100, stop_reason, False, 50)
    assert not [m for m in messages if "bit for bit" in m] and [m for m in messages if "is flat" in m]


@pytest.mark.parametrize("cap, capped", [(0.1, True), (10.0, False), (None, False)])
def test_a_sweep_that_never_diverged_under_a_capped_rate_is_not_told_to_raise_max_lr(cap, capped):
    # Adafactor applies at most 1/sqrt(its step count): above that, a higher `max_lr` changes nothing.
    messages = sweep_warnings(LRS, np.linspace(2.0, 1.0, 100), 100, "completed", False, 50, cap=cap)
    assert len(messages) == 1
    if capped:
        assert messages[0].startswith("The loss never diverged, but the optimizer caps its rate at 0.1 by the "
                                      "sweep's last step") and "raise `max_lr`" not in messages[0]
    else:
        assert messages[0].endswith("raise `max_lr`.")


@pytest.mark.parametrize("floor, end, stop_reason, told", [
    (0.001, 0.001, "completed", "floor"),  # fell to 0.05% of its start (2.0) and stayed: it fits its batches
    (0.0, 0.0, "completed", "floor"),  # exactly
    (0.001, 0.1, "completed", "raise"),  # back up to 5% of its start by the end: not a floor
    (0.05, 0.05, "completed", "raise"),  # 2.5% of its start: there may be more to gain above `max_lr`
    (0.001, 0.001, "diverged", None),  # it did diverge (a last batch the EMA blew up on)
])
def test_a_sweep_whose_loss_fell_to_all_but_nothing_and_stayed_is_not_told_to_raise_max_lr(floor, end, stop_reason,
                                                                                           told):
    losses = np.concatenate([np.full(20, 2.0), np.geomspace(2.0, floor or 1e-9, 30), np.full(40, floor),
                             np.linspace(floor, end, 10)])
    messages = [m for m in sweep_warnings(LRS, losses, 100, stop_reason, False, 50) if "never diverged" in m]
    if told is None:
        assert messages == []
    elif told == "floor":
        assert messages == [f"The loss never diverged, but it fell to {floor:.3g}, under 1% of where it started (2), "
                            "and stayed there up to `max_lr`=10: the model fits these batches all but exactly, so "
                            "the rates above the fall train them no better, and a higher `max_lr` would only look "
                            "for where training turns unstable. On data this easy, how a rate does on other data "
                            "decides: refining measures its runs on data given as `validation_data` (or `validation_split`)."]
    else:
        assert len(messages) == 1 and messages[0].endswith("raise `max_lr`.")


def test_a_loss_below_zero_is_never_read_as_fitting_exactly():
    # A loss that may run below 0 (a negative cosine similarity, say) has no floor at 0 to read, whether
    # it starts below 0 or above it: one from 0.12 to -0.97 was told it "fell to -0.97, under 1% of
    # where it started (0.12)".
    for start in (-0.1, 0.12):
        losses = np.concatenate([np.full(20, start), np.linspace(start, -0.99, 80)])
        messages = sweep_warnings(LRS, losses, 100, "completed", False, 50)
        assert len(messages) == 1 and messages[0].endswith("raise `max_lr`."), messages


def test_a_sweep_that_blew_up_at_once_is_told_to_start_lower():
    # min_lr=1, max_lr=1000: the loss blew up on the second step, within a decade of `min_lr`.
    lrs = np.logspace(0, 3, 100)[:2]
    messages = sweep_warnings(lrs, np.array([0.7, 3.0]), 100, "diverged", False, None)
    assert messages == [
        "The sweep stopped after 2 of 100 steps, the loss blowing up at a rate of 1.07: too few points to "
        "judge the curve; lower `max_lr` to about ten times that rate, and `min_lr` to a hundredth of it "
        "or less, or raise `diverge_factor`."
    ]


def test_no_suggestion_gets_no_edge_warning():
    assert warnings_for(index=None) == []


def test_the_first_fully_smoothed_point_is_the_low_edge():
    # 100 steps over 8 decades, 0.081 decade apart: index 10 is the first 0.75 decade from the start
    assert np.argmax(fully_smoothed(LRS)) == 10
    assert warnings_for(index=11) == []


def test_a_lucky_first_batch_does_not_make_a_falling_curve_flat():
    losses = FALLING.copy()
    losses[0] = 0.5  # below the whole curve: the EMA's start, so the EMA never falls below it
    assert warnings_for(losses) == []


def test_a_nan_at_the_end_is_not_usable():
    assert warnings_for(np.r_[FALLING[:60], np.nan]) == []


SCATTER = np.random.default_rng(0).normal(0.0, 0.1, 100)
SCATTERED = np.r_[1.0 + SCATTER[:90], np.linspace(1.5, 4.0, 10)]  # no fall, then the blow-up


def test_a_curve_that_only_scatters_is_flat_though_its_lowest_dip_lies_past_2_percent():
    losses = SCATTERED
    curve, low = lag_free_bottom(LRS, losses)
    assert curve[low] < 0.98 * start_level(LRS, losses)  # past the 2% of the flat test before
    assert fall_in_noise(LRS, losses) > NOISE_SHARE
    messages = warnings_for(losses, index=int(low))
    assert len(messages) == 1 and messages[0].startswith(
        f"The loss curve is flat: it fell from {start_level(LRS, losses):.3g} to {curve[low]:.3g}, but the same "
        "losses in a random order fall as far ")


def test_a_fall_as_noisy_is_not_flat():
    losses = FALLING + SCATTER
    assert fall_in_noise(LRS, losses) == 1 / 201  # no random order falls as far: the least share there is
    assert not any("flat" in m for m in warnings_for(losses))


def test_the_noise_test_gives_one_sweep_one_answer_and_none_on_too_few_points():
    losses = SCATTERED
    assert fall_in_noise(LRS, losses) == fall_in_noise(LRS, losses.copy())
    short = np.logspace(-7, 1, 20)  # 2.4 points a decade: the bottom's window holds 4 or 5
    assert np.isnan(fall_in_noise(short, np.r_[1.0 + SCATTER[:18], 2.0, 4.0]))
    assert np.isnan(fall_in_noise(short, np.r_[np.linspace(2.0, 1.0, 16), 1.5, 2.0, 3.0, 4.0]))
    assert NOISE_POINTS > 5


# A recorded sweep: finite losses (of any sign or size, exact zeros included) up to a last one that
# may be NaN or inf, where the sweep stopped; what the finder hands `sweep_warnings` after any sweep.
recorded = st.integers(0, 99).flatmap(lambda n: st.tuples(
    arrays(np.float64, n, elements=st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                                             st.sampled_from([0.0, 1e-300, 1.0, 1.7e308]))),
    st.sampled_from([None, np.nan, np.inf]),
    st.sampled_from(["completed", "diverged", "not_finite"]),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, max(n, 1) - 1)),
    st.one_of(st.none(), st.floats(1e-9, 100.0)),
))


@settings(max_examples=300, deadline=None)
@given(sweep=recorded)
@example(sweep=(np.full(4, 2.0**1023), None, "completed", False, None, None))  # their median overflows to inf
@example(sweep=(np.array([]), None, "completed", False, None, None))  # nothing recorded
def test_every_sweep_gets_sentences_never_an_error_nor_a_numpy_warning(sweep):
    losses, last, stop_reason, cycled, index, cap = sweep
    if last is not None:
        losses = np.r_[losses, last]
    lrs = np.logspace(-7, 1, 100)[:len(losses)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        messages = sweep_warnings(lrs, losses, 100, stop_reason, cycled, index, None, 62, cap)
    assert all(isinstance(m, str) and m.endswith((".", ")")) for m in messages)
    said = " ".join(messages).replace("NaN or inf", "")  # the words; a number printed as nan or inf is a bug
    assert not re.search(r"\b(nan|inf)\b", said, re.IGNORECASE)



@pytest.mark.parametrize("start, bottom, bound, factor, told", [
    (0.0, -0.9, ("CosineSimilarity", -1.0, 1.0), 4.0, True),  # diverged past 1.8, beyond its bound
    (0.0, -0.4, ("CosineSimilarity", -1.0, 1.0), 4.0, True),  # past 0.8, far above where it started
    (0.6, 0.3, ("Dice", 0.0, 1.0), 4.0, True),
    (0.6, 0.05, ("Dice", 0.0, 1.0), 4.0, False),  # past 0.4, below where it started: a higher `max_lr` may show it
    (0.6, 0.3, ("Dice", 0.0, 1.0), None, False),  # no divergence rule
    (0.6, 0.3, None, 4.0, False),  # not known to be bounded
])
def test_a_bounded_loss_that_may_never_diverge_is_told_so_instead_of_to_raise_max_lr(start, bottom, bound, factor,
                                                                                     told):
    losses = np.linspace(start, bottom, 100)
    never = [m for m in sweep_warnings(LRS, losses, 100, "completed", False, 50, bound=bound, diverge_factor=factor)
             if "never diverged" in m]
    if told:
        curve, low = lag_free_bottom(LRS, losses)
        level, past = start_level(LRS, losses), curve[low] + 3 * abs(curve[low])
        assert never == [f"The loss never diverged up to `max_lr`=10, and may never: {bound[0]} stays between "
                         f"{bound[1]:g} and {bound[2]:g}, and the sweep counts it diverged only past {past:.3g} (from "
                         f"its bottom, {curve[low]:.3g}, and `diverge_factor`=4), worse than where it started "
                         f"({level:.3g}), where a bounded loss need not go at any rate. A higher `max_lr` may not stop "
                         "the sweep either, and can move the suggestion to rates that train worse; refining's short "
                         "runs (`refine=True`, the default) judge the rates near it."]
    else:
        assert never == ["The loss never diverged: the best rate may lie above `max_lr`=10; raise `max_lr`."]
