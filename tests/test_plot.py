import subprocess
import sys

import keras
import pytest
from matplotlib.axes import Axes

from conftest import make_model
from tf_lrfinder import LRFinder
from tf_lrfinder.plot import plot_sweeps


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


def test_overlay_of_sweeps(finder):
    ax = plot_sweeps({"adam": finder, "again": finder})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["adam", "again"]


@pytest.mark.filterwarnings("ignore:The loss never diverged")
def test_a_linear_sweep_is_drawn_on_a_linear_scale():
    x, y = __import__("conftest").regression_data()
    f = LRFinder(make_model(), keras.optimizers.Adam(), "mse", verbose=False)
    f((x, y), 1e-3, 0.3, 30, batch_size=32, mode="linear")
    assert f.plot().get_xscale() == "linear" and f.plot_loss_change().get_xscale() == "linear"
    assert f.plot().get_xlabel() == "learning rate"


def test_plot_before_a_sweep_is_a_clear_error():
    with pytest.raises(ValueError, match="No sweep recorded yet"):
        LRFinder(make_model(), keras.optimizers.Adam(), "mse").plot()


def test_importing_the_package_loads_neither_matplotlib_nor_tensorflow():
    code = ("import sys, tf_lrfinder, tf_lrfinder.suggest; "
            "print('matplotlib' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
