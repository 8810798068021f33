import subprocess
import sys

from tf_lrfinder.quiet import is_noise

BANNER = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
NO_DRIVER = (b"I0000 00:00:1795395662.898034   22048 cudart_stub.cc:31] Could not find cuda drivers on your "
             b"machine, GPU will not be used.")
NO_CUINIT = (b"E0000 00:00:1795395667.834428   22048 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA "
             b"error: Failed call to cuInit: UNKNOWN ERROR (303)")
NO_CUINIT_222 = (b"E0000 00:00:1796406138.022739   25950 cuda_platform.cc:57] failed call to cuInit: INTERNAL: "
                 b"CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)")  # TensorFlow 2.22.0rc0: with a trace
TRACE = [b"=== Source Location Trace: === ", b"external/xla/xla/stream_executor/cuda/cuda_status.cc:50", b""]
ONEDNN = (b"I0000 00:00:1796234347.025210   13441 port.cc:153] oneDNN custom operations are on. You may see "
          b"slightly different numerical results due to floating-point round-off errors from different computation "
          b"orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.")


def run_child(body: str) -> subprocess.CompletedProcess:
    code = "import os, sys\nfrom tf_lrfinder.quiet import native_stderr_filtered\n" + body
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)


def test_only_the_known_lines_are_noise():
    assert is_noise(BANNER, False) and is_noise(NO_DRIVER, False) and is_noise(ONEDNN, False)
    # A failed cuInit is an error on a machine that has a driver; expected only after "no driver".
    assert not is_noise(NO_CUINIT, False) and is_noise(NO_CUINIT, True)
    assert not is_noise(BANNER + b" and more", False)
    assert not is_noise(ONEDNN.replace(b"I0000", b"E0000"), True)  # only the notice, at INFO level
    assert not is_noise(b"E0000 00:00:1.0 1 some_op.cc:1] Check failed: x", True)


def test_native_writes_are_filtered_and_errors_pass_in_order():
    lines = [ONEDNN, BANNER, NO_DRIVER, b"first real line", ONEDNN, BANNER, NO_DRIVER, NO_CUINIT, b"second real line"]
    written = b"".join(line + b"\n" for line in lines)
    result = run_child(
        "with native_stderr_filtered():\n"
        f"    os.write(2, {written!r})\n"
        "    print('from python', file=sys.stderr)\n"
        "os.write(2, b'after the block\\n')\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b"first real line\nsecond real line\nfrom python\nafter the block\n"


def test_a_crash_inside_the_block_still_shows_its_last_words():
    result = run_child(
        "with native_stderr_filtered():\n"
        f"    os.write(2, {BANNER!r} + b'\\nCheck failed: last words\\n')\n"
        "    os.abort()\n"
    )
    assert result.returncode != 0
    assert result.stderr == b"Check failed: last words\n"


def test_the_source_location_trace_after_a_dropped_line_is_dropped_and_no_other():
    # TensorFlow 2.22.0rc0 follows its failed cuInit line with the status's source-location trace.
    lines = [BANNER, NO_DRIVER, NO_CUINIT_222, *TRACE, b"real line",
             *TRACE, b"after a real line, a trace is not dropped",
             b"E0000 00:00:1.0 1 some_op.cc:1] Check failed: x", *TRACE]
    written = b"".join(line + b"\n" for line in lines)
    result = run_child(f"with native_stderr_filtered():\n    os.write(2, {written!r})\n")
    assert result.returncode == 0, result.stderr
    kept = [b"real line", *TRACE, b"after a real line, a trace is not dropped",
            b"E0000 00:00:1.0 1 some_op.cc:1] Check failed: x", *TRACE]
    assert result.stderr == b"".join(line + b"\n" for line in kept)
