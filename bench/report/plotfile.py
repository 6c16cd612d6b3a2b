"""``bench plot``: one report figure saved as PNG, SVG or PDF.

The figure is drawn by the same builder as the report (:mod:`bench.report.figures`), on
the tables of the given run folders taken together, and saved through a temporary file
renamed into place.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import ConfigError, DataError, OutputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PLOT_FORMATS", "SavedPlot", "save_plot"]

PLOT_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
"""File endings ``bench plot`` writes and their matplotlib formats."""


@dataclass(frozen=True)
class SavedPlot:
    """Where a figure went and its size: inches and dpi (``pixels`` is text for raster files)."""

    kind: str
    task: str
    path: Path
    width_in: float
    height_in: float
    dpi: int
    pixels: str


def _labelled(metrics: pd.DataFrame, model: str | None) -> str | None:
    """``--model NAME`` as the merged runs call it: the name itself, or the one label that
    carries it with run settings (``smollm2-135m (5-shot)``, :mod:`bench.report.identity`).

    Raises
    ------
    ConfigError
        When the runs hold the model under several settings, naming their labels.
    """
    names = list(dict.fromkeys(metrics["model"].astype(str))) if "model" in metrics else []
    if model is None or model in names:
        return model
    found = [n for n in names if n.startswith(f"{model} (") and "@" not in n]
    if len(found) > 1:
        raise ConfigError(f"--model {model!r}: the runs hold it under several settings: "
                          f"{', '.join(repr(n) for n in found)}; name one of them.")
    return found[0] if found else model


def save_plot(kind: str, run_dirs: Sequence[str | Path], output: str | Path, *, suite: str | None = None,
              task: str | None = None, model: str | None = None, dpi: int = 300) -> SavedPlot:
    """Draw figure ``kind`` of the first matching task of ``run_dirs`` and save it to ``output``.

    Raises
    ------
    ConfigError
        An unknown kind, an ending other than .png/.svg/.pdf, or no task of the runs that
        has this figure (naming the tasks there are).
    DataError
        When the figure cannot be drawn from these runs (e.g. two models with no example
        in common for a difference profile), with the reason.
    OutputError
        When the file cannot be written.
    """
    import matplotlib.pyplot as plt

    from bench.report.figures import build_figures, merge_runs
    from bench.report.html import write_atomic
    from bench.report.identity import label_runs
    from bench.report.rundata import load_runs

    path = Path(output)
    if path.suffix.lower() not in PLOT_FORMATS:
        raise ConfigError(f"Cannot save a plot as {path.name!r}: the file must end in "
                          f"{', '.join(PLOT_FORMATS)}.")
    run = merge_runs(label_runs(load_runs(run_dirs)))
    model = _labelled(run.metrics, model)
    views = [v for v in run.tasks if suite in (None, v.suite) and task in (None, v.task)]
    if not views:
        known = ", ".join(v.key for v in run.tasks) or "none"
        raise DataError(f"No task matches --suite {suite or '*'} --task {task or '*'}; the runs hold: {known}.")
    for view in views:
        built = build_figures(run, view, [kind], model=model)
        if built:
            break
    else:
        raise ConfigError(f"No {kind} figure in {', '.join(v.key for v in views)}"
                          f"{f' for model {model!r}' if model else ''}: the runs lack what it needs "
                          "(see 'bench plot --help').")
    _, caption, figure = built[0]
    for _, _, extra in built[1:]:
        if extra is not None:
            plt.close(extra)
    if figure is None:  # the builder's caption says why it could not draw
        raise DataError(caption)
    buffer = io.BytesIO()
    width, height = figure.get_size_inches()
    figure.savefig(buffer, format=PLOT_FORMATS[path.suffix.lower()], dpi=dpi)
    plt.close(figure)
    write_atomic(path, buffer.getvalue(), OutputError)
    raster = path.suffix.lower() == ".png"
    pixels = f", {round(width * dpi)} × {round(height * dpi)} px" if raster else ", vector"
    return SavedPlot(kind, view.key, path, float(width), float(height), dpi, pixels)
