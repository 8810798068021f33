"""Keep TensorFlow's native start-up chatter out of a command's output, without hiding errors.

`TF_CPP_MIN_LOG_LEVEL` no longer reaches every line: with TensorFlow 2.21, importing it on a machine
without a GPU driver prints, through C++ logging that is not yet set up, twice::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.

and the first device query adds ``E0000 ... cuda_platform.cc:52] failed call to cuInit: ...``. On a
CPU for which TensorFlow turns oneDNN's custom operations on by default (one with AVX-512 VNNI, say),
each import also prints, twice, ``I0000 ... port.cc:153] oneDNN custom operations are on. You may
see slightly different numerical results ...``: a notice, not a warning. TensorFlow 2.22 (its first
release candidate) follows the cuInit line with where the status was made, a ``=== Source Location
Trace: ===`` line, ``external/xla/.../cuda_status.cc:50`` and a blank line.
`native_stderr_filtered` drops exactly these lines (the cuInit one only after the "no driver" one,
when it says nothing new; a source-location trace only right after a line it dropped) and passes
every other byte through. The filter runs in a child process that reads the standard-error stream
as it is written, so a crash inside the block still shows its last words. It is for programs that
own their process (`python -m tf_lrfinder`); the library itself never touches file descriptors.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from typing import Iterator

BANNER = re.compile(rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR")
_LOG_HEAD = rb"\d{4} [\d:.]+ +\d+ "  # what follows the level letter of an absl log line: date, time, thread id


def _log_line(level: bytes, rest: bytes) -> re.Pattern[bytes]:
    """An absl log line of `level` (b"I" for INFO, b"E" for ERROR) whose source file and message match `rest`."""
    return re.compile(level + _LOG_HEAD + rest)


NO_DRIVER = _log_line(rb"I", rb"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not "
                      rb"be used\.")
NO_CUINIT = _log_line(rb"E", rb"cuda_platform\.cc:\d+\] failed call to cuInit: .*")
ONEDNN = _log_line(rb"I", rb"port\.cc:\d+\] oneDNN custom operations are on\. You may see slightly different numerical "
                   rb"results due to floating-point round-off errors from different computation orders\. To turn them "
                   rb"off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`\.")


TRACE_HEAD = re.compile(rb"=== Source Location Trace: ===[ \t]*")  # after a status, as TensorFlow 2.22 logs one
TRACE_FRAME = re.compile(rb"[\w./+-]+:\d+")  # one of its source files and line


def is_noise(line: bytes, no_driver_seen: bool) -> bool:
    """Whether one line of standard error (without its newline) is known start-up chatter.

    Args:
        line: the line's bytes.
        no_driver_seen: whether the "Could not find cuda drivers" line came before; only then is a
            failed cuInit expected (and dropped). On a machine with a driver it is a real error.

    Example:
        >>> is_noise(b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR", False)
        True
        >>> is_noise(b"E0000 00:00:17.1 22 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)", False)
        False
    """
    return bool(BANNER.fullmatch(line) or NO_DRIVER.fullmatch(line) or ONEDNN.fullmatch(line)
                or (no_driver_seen and NO_CUINIT.fullmatch(line)))


def filter_stream(source, sink) -> None:
    """Copy lines from the binary stream `source` to `sink`, dropping `is_noise` lines, flushing each.

    Example:
        >>> import io
        >>> out = io.BytesIO()
        >>> filter_stream(io.BytesIO(b"I0000 00:00:1.5 7 cudart_stub.cc:31] Could not find cuda drivers on your "
        ...                          b"machine, GPU will not be used.\\nreal error\\n"), out)
        >>> out.getvalue()
        b'real error\\n'
    """
    no_driver = False
    trace = None  # after a dropped line: "may" (its source-location trace may follow), "in" (inside it)
    for line in iter(source.readline, b""):
        body = line.rstrip(b"\r\n")
        if trace == "may" and TRACE_HEAD.fullmatch(body) or trace == "in" and TRACE_FRAME.fullmatch(body):
            trace = "in"
            continue
        if trace == "in" and not body:  # the blank line that ends the trace
            trace = None
            continue
        trace = None
        if is_noise(body, no_driver):
            no_driver = no_driver or bool(NO_DRIVER.fullmatch(body))
            trace = "may"
            continue
        sink.write(line)
        sink.flush()


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Within the block, file descriptor 2 (C++ and Python alike) goes through `filter_stream`.

    Does nothing where it cannot be done safely (not POSIX, a frozen executable, no child process).
    On exit the child has written everything it read before the program goes on.

    Example:
        >>> with native_stderr_filtered():
        ...     pass
    """
    if os.name != "posix" or getattr(sys, "frozen", False) or not sys.executable:
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to filter
        yield
        return
    try:  # the child runs this file as a script, isolated (-I: this folder not on its path): stdlib only
        child = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                 stdout=saved, stderr=saved)
    except OSError:
        os.close(saved)
        yield
        return
    os.dup2(child.stdin.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        child.stdin.close()
        child.wait()
        os.close(saved)


if __name__ == "__main__":  # the filter process of `native_stderr_filtered`
    filter_stream(sys.stdin.buffer, sys.stdout.buffer)
