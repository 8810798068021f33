import re

import keras
import numpy as np
import pytest

from conftest import make_model
from tf_lrfinder import LRFinder
from tf_lrfinder.history import load_csv, load_json, save_csv, save_json
from tf_lrfinder.smoothing import fully_smoothed, lag_free
from tf_lrfinder.suggest import lr_range


@pytest.fixture(scope="module")
def finder():
    x, y = __import__("conftest").regression_data()
    f = LRFinder(make_model(), keras.optimizers.Adam(), "mse", verbose=False)
    with pytest.warns(UserWarning):
        f((x[:200], y[:200]), batch_size=32, n_steps=60)  # cycled data: warns
    return f


@pytest.mark.parametrize("save,load,suffix", [(save_json, load_json, "json"), (save_csv, load_csv, "csv")])
def test_history_round_trips(finder, tmp_path, save, load, suffix):
    history = finder.history
    assert history["stop_reason"] == finder.stop_reason and history["settings"]["n_steps"] == 60
    assert history["cycled"] and any("cycled" in w for w in history["warnings"])
    path = tmp_path / f"sweep.{suffix}"
    save(history, path)
    assert load(path) == history


def test_a_file_that_holds_no_history_is_named(tmp_path):
    (tmp_path / "other.json").write_text('{"loss": [1.0]}')
    (tmp_path / "other.csv").write_text("epoch,loss\n0,1.0\n")
    for path, load in ((tmp_path / "other.json", load_json), (tmp_path / "other.csv", load_csv)):
        with pytest.raises(ValueError, match=re.escape("Not a sweep's history: no 'lrs', 'losses', "
                                                       "'smoothed_losses'. Read a file written by `save_json`")):
            load(path)


def test_history_keeps_nan(tmp_path):
    h = {"lrs": [1e-3, 1e-2, 1e-1], "losses": [1.0, 0.5, float("nan")], "smoothed_losses": [1.0, 0.7, float("nan")]}
    for save, load in ((save_json, load_json), (save_csv, load_csv)):
        save(h, tmp_path / "h")
        back = load(tmp_path / "h")
        assert back["lrs"] == h["lrs"] and np.isnan(back["losses"][2])


def test_refining_runs_round_trip_with_diverged_ones_and_without_tie_runs(tmp_path):
    # A diverged run's loss (inf) comes back as a float in both lists; a history saved before
    # `tie_losses` existed comes back as it was saved, with no key added.
    trials = {"lrs": [0.1, 0.2], "losses": [0.5, float("inf")], "tie_lrs": [0.1], "tie_losses": [float("inf")]}
    h = {"lrs": [1e-3], "losses": [1.0], "smoothed_losses": [1.0], "trials": trials}
    old = {**h, "trials": {"lrs": [0.1], "losses": [float("inf")]}}
    for save, load in ((save_json, load_json), (save_csv, load_csv)):
        save(h, tmp_path / "h")
        assert load(tmp_path / "h") == h
        save(old, tmp_path / "old")
        assert load(tmp_path / "old") == old


def test_suggest_range_brackets_the_fall(finder):
    base, top = finder.suggest_range()
    assert base < top
    lrs, losses = np.array(finder.lrs), np.array(finder.losses)
    inner = np.flatnonzero(fully_smoothed(lrs))
    assert top == lrs[inner[np.argmin(lag_free(lrs, losses)[inner])]]  # the bottom of the lag-free curve
    assert finder.suggest("robust_minimum").lr == pytest.approx(top / 4)  # the default is a quarter of it


def test_lr_range_of_a_curve_without_a_fall():
    lrs = np.logspace(-3, 0, 5)  # 0.75 decade apart: the first fully smoothed point is the second
    base, top = lr_range(lrs, np.array([1.0, 1.1, 1.2, 1.3, 1.4]))
    assert top == lrs[1] and base == pytest.approx(lrs[1] / 10)
