import subprocess
import sys

import pytest


@pytest.mark.parametrize("options,measured", [([], "held-back"), (["--validation-split", "0.2"], "validation")])
def test_demo_runs_a_real_sweep_and_saves_the_plot(options, measured, tmp_path):
    out = tmp_path / "plot.png"
    result = subprocess.run(
        [sys.executable, "-m", "tf_lrfinder", "--n-steps", "40", "--quiet", "--output", str(out), *options],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "suggested learning rate: " in result.stdout
    assert "device: " in result.stdout
    # TensorFlow's start-up chatter on a machine without a GPU driver (and, on CPUs where it turns
    # oneDNN on, its notice saying so) is kept out of the output.
    assert "absl::InitializeLog" not in result.stderr and "cudart_stub" not in result.stderr
    assert "oneDNN custom operations" not in result.stderr
    lr = float(result.stdout.split("suggested learning rate: ")[1].split()[0])
    assert 1e-7 <= lr <= 10
    # The short runs are listed, the rate kept marked (unless a margin kept a rate below them all),
    # with the rule that kept it.
    assert "runs of 100 steps at constant rates" in result.stdout
    assert f"Loss on the {measured} batches before them" in result.stdout
    kept = [float(line.split()[0]) for line in result.stdout.splitlines() if line.endswith("<- kept")]
    assert [f"{r:.3g}" for r in kept] == [f"{lr:.3g}"] or (not kept and " times below " in result.stdout)
    assert f"Kept {lr:.3g}: " in result.stdout
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"
    width, height = (int.from_bytes(out.read_bytes()[k:k + 4], "big") for k in (16, 20))  # the PNG header
    assert width > 2 * height  # two panels: the sweep, and the short runs that checked its reading


def test_help_lists_options():
    result = subprocess.run([sys.executable, "-m", "tf_lrfinder", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--max-lr" in result.stdout and "--output" in result.stdout
    assert "--validation-split SHARE" in result.stdout
