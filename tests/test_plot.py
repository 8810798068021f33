import json
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from matplotlib.axes import Axes

from conftest import make_model
from tf_lrfinder import LRFinder
from tf_lrfinder.history import load_json, save_json
from tf_lrfinder.plot import plot_sweeps


@pytest.fixture(autouse=True)
def close_figures():
    """Close each test's figures after it: past 20 open ones matplotlib warns (as it did in CI)."""
    yield
    __import__("matplotlib.pyplot").pyplot.close("all")


@pytest.fixture(scope="module")
def finder():
    x, y = __import__("conftest").regression_data()
    f = LRFinder(make_model(), keras.optimizers.Adam(), "mse", verbose=False)
    f((x, y), batch_size=32, n_steps=40)
    return f


def test_plot_marks_and_labels_suggestions(finder):
    ax = finder.plot(methods=("valley", "robust_minimum", "minimum"))
    assert isinstance(ax, Axes) and ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.texts]
    assert f"robust_minimum: {finder.suggest('robust_minimum').lr:.2e}" in labels and len(labels) == 4
    assert labels[0] == f"refined: {finder.lr_opt:.2e}"  # the rate the finder returned, always marked
    assert len({t.xyann[1] for t in ax.texts}) == 4  # each label in its own row: close ones cannot overlap
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["loss", "smoothed loss (EMA)", "lag-free loss"]
    # each mark sits at its suggested rate, on the EMA curve
    marks = [c.get_offsets()[0] for c in ax.collections]
    assert sorted(float(x) for x, _ in marks) == sorted(
        [finder.lr_opt] + [finder.suggest(m).lr for m in ("valley", "robust_minimum", "minimum")])
    ema_line = ax.get_lines()[1]
    for x, y in marks:
        assert min(ema_line.get_ydata()) - 1e-9 <= float(y) <= max(ema_line.get_ydata()) + 1e-9


def test_plot_on_given_axes(finder):
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    assert finder.plot(ax=ax) is ax
    assert finder.plot_loss_change(ax=ax) is ax


def test_overlay_of_sweeps(finder, tmp_path):
    ax = plot_sweeps({"adam": finder, "again": finder})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"adam: {finder.lr_opt:.2e}",
                                                                   f"again: {finder.lr_opt:.2e}"]
    # A saved history draws the same curve and suggestion as the finder it came from.
    save_json(finder.history, tmp_path / "adam.json")
    ax = plot_sweeps({"adam": finder, "saved": load_json(tmp_path / "adam.json")})
    (live, saved), (mark, saved_mark) = ax.get_lines()[::2], ax.get_lines()[1::2]
    np.testing.assert_array_equal(live.get_ydata(), saved.get_ydata())
    assert mark.get_xdata()[0] == saved_mark.get_xdata()[0] == finder.lr_opt


def test_overlay_of_sweeps_says_what_is_wrong(finder):
    unswept = LRFinder(make_model(), keras.optimizers.SGD(), "mse", verbose=False)
    for sweeps, error, message in [
        ([finder], TypeError, "`sweeps` must map a name to each sweep, for example {'sgd': finder_sgd, "
         "'adam': finder_adam}. Received: list"),
        ({}, ValueError, "`sweeps` is empty"),
        ({"adam": finder, "sgd": unswept}, ValueError, "`sweeps['sgd']` has recorded no sweep: call that "
         "finder on a dataset first."),
        ({"adam": 3}, TypeError, "`sweeps['adam']` must be a finder or its history, with `lrs` and "
         "`smoothed_losses`. Received: int"),
    ]:
        with pytest.raises(error, match=re.escape(message)):
            plot_sweeps(sweeps)


def test_plot_takes_one_rule_by_name_and_refuses_unknown_ones(finder):
    ax = finder.plot(methods="valley")
    assert [t.get_text() for t in ax.texts] == [f"refined: {finder.lr_opt:.2e}",
                                                f"valley: {finder.suggest('valley').lr:.2e}"]
    with pytest.raises(ValueError, match=re.escape("`methods` must be one of ['largest_drop', 'lightning', "
                                                   "'minimum', 'robust_minimum', 'slide', 'steep', "
                                                   "'steepest', 'valley']. Received: methods='nope'")):
        finder.plot(methods=("valley", "nope"))  # used to be dropped without a word


@pytest.mark.filterwarnings("ignore:The loss never diverged")
def test_a_linear_sweep_is_drawn_on_a_linear_scale(finder):
    x, y = __import__("conftest").regression_data()
    f = LRFinder(make_model(), keras.optimizers.Adam(), "mse", verbose=False)
    f((x, y), 1e-3, 0.3, 30, batch_size=32, mode="linear")
    assert f.plot().get_xscale() == "linear" and f.plot_loss_change().get_xscale() == "linear"
    assert f.plot().get_xlabel() == "learning rate"
    assert plot_sweeps({"linear": f, "again": f}).get_xscale() == "linear"
    assert plot_sweeps({"linear": f, "geometric": finder}).get_xscale() == "log"  # log unless every one is linear


def test_plot_before_a_sweep_is_a_clear_error():
    finder = LRFinder(make_model(), keras.optimizers.Adam(), "mse")
    for draw_or_read in (finder.plot, finder.plot_loss_change, finder.suggest_range):
        with pytest.raises(ValueError, match="No sweep recorded yet: call the finder on a dataset first"):
            draw_or_read()


def test_plot_of_a_sweep_too_short_to_suggest_draws_the_curve_without_a_mark():
    # The call raises, the curve is kept: the plot is how to see why.
    x, y = __import__("conftest").regression_data()
    f = LRFinder(make_model(), keras.optimizers.SGD(), "mse", verbose=False)
    with pytest.raises(ValueError, match="too few points to judge the curve.* No rate is suggested"):
        f((x, y), batch_size=32, min_lr=1e3, max_lr=1e6, n_steps=20)
    assert 0 < np.isfinite(f.losses).sum() < 3 and f.lr_opt is None
    ax = f.plot()
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), f.lrs)
    assert not ax.texts and not ax.collections  # no mark, no label


@pytest.mark.parametrize("draw", ["plot_sweep", "plot_loss_change"])
@pytest.mark.parametrize("lrs", [[1e-7], [1e-7, 1.2e-7], []])
def test_a_sweep_with_no_finite_loss_is_drawn_saying_so(draw, lrs):
    # Its first loss was NaN (a log of 0 in the model, say): the call raised; the plot says why it is empty.
    from tf_lrfinder import plot

    nan = [float("nan")] * len(lrs)
    ax = getattr(plot, draw)(lrs, nan, nan) if draw == "plot_sweep" else plot.plot_loss_change(lrs, nan)
    ax.figure.canvas.draw()  # a log axis over no data at all raised here
    assert [t.get_text() for t in ax.texts] == ["no finite loss recorded"]
    if lrs:
        assert ax.get_xscale() == "log" and ax.get_xlim()[0] <= lrs[0] and lrs[-1] <= ax.get_xlim()[1]


def test_importing_the_package_loads_neither_matplotlib_nor_tensorflow():
    code = ("import sys, tf_lrfinder, tf_lrfinder.suggest; "
            "print('matplotlib' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_dir_of_the_package_lists_its_public_names_lrfinder_before_its_first_use():
    # A notebook completes `tf_lrfinder.` from `dir`: `LRFinder`, loaded on first use, must be there
    # from the start, and the modules the package imports for itself must not.
    code = "import tf_lrfinder, json; print(json.dumps(dir(tf_lrfinder)))"
    names = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                      check=True).stdout)
    import tf_lrfinder
    assert set(tf_lrfinder.__all__) | {"__version__"} <= set(names) and "LRFinder" in names
    assert not {"os", "types", "Any", "annotations"} & set(names)
    assert "suggest" in names  # a submodule already imported (by the package itself)


def test_plot_trials_draws_every_run_and_the_rate_kept(finder):
    t = finder.trials
    ax = finder.plot_trials()
    assert isinstance(ax, Axes) and ax.get_xscale() == "log"
    on_scale = [(r, v) for r, v in zip(t.lrs, t.losses) if v <= 1.5 * t.start_loss]
    assert len(on_scale) >= 3  # this sweep's runs: most end below the loss before them
    runs = ax.get_lines()[0]
    assert list(zip(runs.get_xdata().tolist(), runs.get_ydata().tolist())) == on_scale
    start, kept = ax.get_lines()[1], ax.get_lines()[2]
    assert list(start.get_ydata()) == [t.start_loss] * 2 and list(kept.get_xdata()) == [t.lr] * 2
    assert kept.get_label() == f"kept: {finder.lr_opt:.2e}"
    _, ax2 = __import__("matplotlib.pyplot").pyplot.subplots()
    assert finder.plot_trials(ax=ax2) is ax2


def test_plot_trials_puts_diverged_and_off_scale_runs_on_the_top_edge():
    from tf_lrfinder.plot import plot_trials
    from tf_lrfinder.refine import Trials

    t = Trials((0.01, 0.02, 0.04, 0.08, 0.16), (0.7, 0.3, 0.5, 9.0, float("inf")), 1.0, 100, 0.02)
    ax = plot_trials(t)
    assert ax.get_lines()[0].get_xdata().tolist() == [0.01, 0.02, 0.04]  # the runs on the scale
    ax.figure.canvas.draw()  # the x axis is labelled at every rate tried, and nowhere else
    assert [x.get_text() for x in ax.get_xticklabels()] == ["0.01", "0.02", "0.04", "0.08", "0.16"]
    assert not ax.xaxis.get_minorticklocs().size
    top = 1.5  # 1.5 times the loss before the runs
    off, diverged = (c.get_offsets().tolist() for c in ax.collections)
    assert off == [[0.08, top]] and diverged == [[0.16, top]]
    assert ax.get_ylim()[0] < 0.3 and ax.get_ylim()[1] >= top
    band = ax.patches[0].get_path().get_extents().transformed(ax.patches[0].get_patch_transform())
    assert abs(band.y0 - 0.3) < 1e-12 and abs(band.y1 - (0.3 + 0.05 * 0.7)) < 1e-12  # best + 5% of its gain
    labels = [x.get_text() for x in ax.get_legend().get_texts()]
    assert labels == ["loss after 100 steps", "before the runs", "about as good as the best", "kept: 2.00e-02",
                      "off the scale", "diverged"]


def test_plot_trials_rings_a_run_that_was_thrown_off():
    from tf_lrfinder.plot import plot_trials
    from tf_lrfinder.refine import Trials

    t = Trials((0.01, 0.02, 0.04, 0.08), (0.7, 0.3, 0.5, 1.2), 1.0, 100, 0.01)
    ax = plot_trials(t)
    assert ax.get_lines()[0].get_xdata().tolist() == [0.01, 0.02, 0.04, 0.08]  # all on the scale
    (ringed,) = (c.get_offsets().tolist() for c in ax.collections)
    assert ringed == [[0.08, 1.2]]
    labels = [x.get_text() for x in ax.get_legend().get_texts()]
    assert labels[-1] == "thrown off: counted as diverged"
    plain = plot_trials(Trials((0.01, 0.02), (1.1, 1.2), 1.0, 100, 0.01))  # no run trained: none ringed
    assert not plain.collections
    # Above the best rate, a run that kept less than half its gain (0.3 of 0.7) is ringed; 0.6 of it is not.
    collapsed = plot_trials(Trials((0.01, 0.02, 0.04, 0.08), (0.7, 0.3, 0.45, 0.7), 1.0, 100, 0.01))
    assert [c.get_offsets().tolist() for c in collapsed.collections] == [[[0.08, 0.7]]]


def test_plot_trials_draws_the_longer_runs_that_broke_a_tie():
    from tf_lrfinder.plot import plot_trials
    from tf_lrfinder.refine import Trials

    t = Trials((0.02, 0.04, 0.08, 0.16), (0.7, 0.65, 0.645, 0.644), 1.1, 100, 0.08, tie_steps=300,
               tie_lrs=(0.04, 0.08, 0.16), tie_losses=(0.62, 0.56, float("inf")))
    ax = plot_trials(t)
    short, longer = ax.get_lines()[:2]
    assert short.get_xdata().tolist() == [0.02, 0.04, 0.08, 0.16]
    assert longer.get_xdata().tolist() == [0.04, 0.08] and longer.get_ydata().tolist() == [0.62, 0.56]
    (diverged,) = (c.get_offsets().tolist() for c in ax.collections)
    assert diverged == [[0.16, 1.5 * 1.1]] and ax.get_ylim()[0] < 0.56  # at the top edge; the scale takes both lines
    labels = [x.get_text() for x in ax.get_legend().get_texts()]
    assert labels == ["loss after 100 steps", "tied rates, after 300 steps", "before the runs",
                      "about as good as the best", "kept: 8.00e-02", "diverged"]


def test_plot_trials_without_runs_is_a_clear_error():
    x, y = __import__("conftest").regression_data()
    f = LRFinder(make_model(), keras.optimizers.Adam(), "mse", verbose=False)
    with pytest.raises(ValueError, match="No refining runs recorded"):
        f.plot_trials()
    f((x, y), batch_size=32, n_steps=20, refine=False)
    with pytest.raises(ValueError, match="refine=True"):
        f.plot_trials()


def test_no_label_hides_a_mark(finder):
    # The labels' boxes are opaque enough to hide what lies under them: the marks are drawn above
    # every label (a label in the notebook's plot covered the refined rate's mark).
    ax = finder.plot(methods=("valley", "robust_minimum", "minimum"))
    assert min(c.get_zorder() for c in ax.collections) > max(t.get_zorder() for t in ax.texts)
    # and in colours of their own, none of the curves'
    curves = {tuple(np.round(__import__("matplotlib").colors.to_rgba(line.get_color()), 6)) for line in ax.get_lines()}
    marks = [tuple(np.round(c.get_facecolor()[0], 6)) for c in ax.collections]
    assert len(set(marks)) == len(marks) == 4 and not curves & set(marks)


def test_loss_change_shows_the_fall_not_only_the_blow_up():
    # A textbook sweep: the loss falls by 1.5 around 1e-3, then blows up by hundreds at the end. The
    # y axis spans the steepest fall; the blow-up runs off the top instead of flattening the fall.
    from tf_lrfinder.plot import plot_loss_change

    lrs = np.logspace(-7, 1, 100)
    x = np.log10(lrs)
    curve = 2.0 - 1.5 / (1 + np.exp(-(x + 3) * 2)) + np.where(x > 0, 500 * x ** 2, 0)
    ax = plot_loss_change(lrs, curve)
    slope = ax.get_lines()[0].get_ydata()
    low, top = ax.get_ylim()
    assert low < slope.min() < 0.8 * low  # the steepest fall fills the lower part
    assert 0 < top < slope.max() / 100  # the blow-up, far steeper, off the top
