"""A sweep as plain data: a dict of lists plus its settings, saved to and loaded from JSON or CSV."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

COLUMNS = ("lrs", "losses", "smoothed_losses")


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as strings that `float()` reads back."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _revive(history: dict[str, Any]) -> dict[str, Any]:
    """Turn the strings `_clean` wrote for non-finite numbers back into floats; raise a `ValueError`
    for a file that holds no sweep's history."""
    missing = [key for key in COLUMNS if not isinstance(history, dict) or key not in history]
    if missing:
        raise ValueError(f"Not a sweep's history: no {', '.join(map(repr, missing))}. Read a file written by "
                         "`save_json` or `save_csv` from `finder.history`.")
    for key in COLUMNS:
        history[key] = [float(v) for v in history[key]]
    if history.get("trials"):  # `LRFinder.refine`'s runs: a diverged run's loss is inf
        for key in ("losses", "tie_losses"):  # (a history saved before `tie_losses` existed has none)
            if key in history["trials"]:
                history["trials"][key] = [float(v) for v in history["trials"][key]]
    return history


def save_json(history: dict[str, Any], path: str | Path) -> None:
    """Write a sweep's history (from `LRFinder.history`) as JSON.

    Example:
        >>> import tempfile, os
        >>> h = {"lrs": [1e-3, 1e-2], "losses": [1.0, float("nan")], "smoothed_losses": [1.0, 2.0]}
        >>> p = os.path.join(tempfile.mkdtemp(), "h.json"); save_json(h, p)
        >>> load_json(p)["losses"][1]
        nan
    """
    Path(path).write_text(json.dumps(_clean(history), indent=1))


def load_json(path: str | Path) -> dict[str, Any]:
    """Read a history written by `save_json` (non-finite losses come back as floats).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "h.json")
        >>> save_json({"lrs": [1e-3], "losses": [2.0], "smoothed_losses": [2.0], "stop_reason": "completed"}, p)
        >>> load_json(p)["stop_reason"]
        'completed'
    """
    return _revive(json.loads(Path(path).read_text()))


def save_csv(history: dict[str, Any], path: str | Path) -> None:
    """Write a sweep's history as CSV: one row per step; the other fields as `# key: json` lines.

    Example:
        >>> import tempfile, os
        >>> h = {"lrs": [1e-3, 1e-2], "losses": [1.0, 0.5], "smoothed_losses": [1.0, 0.9], "stop_reason": "diverged"}
        >>> p = os.path.join(tempfile.mkdtemp(), "h.csv"); save_csv(h, p)
        >>> load_csv(p) == h
        True
    """
    with open(path, "w", newline="") as f:
        for key, value in history.items():
            if key not in COLUMNS:
                f.write(f"# {key}: {json.dumps(_clean(value))}\n")
        writer = csv.writer(f)
        writer.writerow(("step",) + COLUMNS)
        for i, row in enumerate(zip(*(history[c] for c in COLUMNS))):
            writer.writerow((i,) + tuple(repr(float(v)) for v in row))


def load_csv(path: str | Path) -> dict[str, Any]:
    """Read a history written by `save_csv`: the columns as lists of floats, the `# key:` lines as values.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "h.csv")
        >>> save_csv({"lrs": [1e-3, 1e-2], "losses": [1.0, 0.5], "smoothed_losses": [1.0, 0.9],
        ...           "settings": {"n_steps": 2}}, p)
        >>> h = load_csv(p); h["lrs"], h["settings"]
        ([0.001, 0.01], {'n_steps': 2})
    """
    history: dict[str, Any] = {c: [] for c in COLUMNS}
    meta: dict[str, Any] = {}
    with open(path, newline="") as f:
        lines = [line for line in f]
    body = []
    for line in lines:
        if line.startswith("# "):
            key, _, value = line[2:].partition(": ")
            meta[key] = json.loads(value)
        else:
            body.append(line)
    reader = csv.DictReader(body)
    if not set(COLUMNS) <= set(reader.fieldnames or ()):
        return _revive(meta)  # says which columns are missing
    for row in reader:
        for c in COLUMNS:
            history[c].append(float(row[c]))
    return _revive({**history, **meta})
