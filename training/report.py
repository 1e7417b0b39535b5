"""Markdown tables and PNG plots for training reports (matplotlib Agg, no display)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from training.evaluate import Metrics

METRIC_LABELS = {
    "mae": "MAE (lower is better)",
    "spearman": "Spearman",
    "qwk": "quadratic weighted kappa",
    "within1": "within 1 point",
    "auc": "ROC-AUC, score >= 8",
}


def fmt(value: float, digits: int = 3) -> str:
    """A number for a table; 'n/a' for nan.

    Parameters
    ----------
    value : float
        The number.
    digits : int
        Digits after the decimal point.

    Returns
    -------
    str
    """
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table.

    Parameters
    ----------
    header : Sequence[str]
        Column names.
    rows : Sequence[Sequence[object]]
        Cells, one row per item, as wide as ``header``; shown with ``str``.

    Returns
    -------
    str
        The table's lines, without a final newline.
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def metrics_table(columns: dict[str, Metrics]) -> str:
    """Metrics as rows, predictors (model, baselines) as columns.

    Parameters
    ----------
    columns : dict[str, Metrics]
        Predictor name -> its metrics, in column order.

    Returns
    -------
    str
        A markdown table, values with 3 decimals.
    """
    names = list(columns)
    rows = [[label, *(fmt(getattr(columns[n], key)) for n in names)] for key, label in METRIC_LABELS.items()]
    return table(["metric", *names], rows)


def histogram_table(labels: Sequence[object], columns: dict[str, np.ndarray]) -> str:
    """Shares per score (rows) for several histograms (columns), in percent.

    Parameters
    ----------
    labels : Sequence[object]
        Score labels, one per row.
    columns : dict[str, np.ndarray]
        Histogram name -> shares 0..1, shape (len(labels),).

    Returns
    -------
    str
        A markdown table.
    """
    rows = [[label, *(f"{100 * columns[n][i]:.1f}%" for n in columns)] for i, label in enumerate(labels)]
    return table(["score", *columns], rows)


def _save(fig: plt.Figure, path: Path) -> None:
    # Written beside the target and renamed, so an interrupted run leaves no half-written picture.
    tmp = path.with_name(path.name + ".tmp")
    try:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: Path, title: str) -> None:
    """Confusion counts (rows = truth) as an annotated heat map.

    Parameters
    ----------
    matrix : np.ndarray
        Counts, shape (k, k), rows = truth, columns = prediction.
    labels : Sequence[str]
        Class names, length k.
    path : Path
        The PNG to write (replaced atomically).
    title : str
        The plot's title.
    """
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    high = matrix.max() / 2
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > high else "black")
    _save(fig, path)


def plot_histograms(labels: Sequence[object], columns: dict[str, np.ndarray], path: Path, title: str) -> None:
    """Side-by-side bars of several score histograms (shares).

    Parameters
    ----------
    labels : Sequence[object]
        Score labels on the x axis.
    columns : dict[str, np.ndarray]
        Histogram name -> shares 0..1, shape (len(labels),).
    path : Path
        The PNG to write (replaced atomically).
    title : str
        The plot's title.
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(columns)
    x = np.arange(len(labels))
    for i, (name, shares) in enumerate(columns.items()):
        ax.bar(x + (i - (len(columns) - 1) / 2) * width, 100 * np.asarray(shares), width, label=name)
    ax.set_xticks(x, [str(label) for label in labels])
    ax.set_xlabel("score")
    ax.set_ylabel("% of songs / reviews")
    ax.set_title(title)
    ax.legend()
    _save(fig, path)


def write_text(path: Path, text: str) -> None:
    """Write a report atomically (temp file + rename).

    Parameters
    ----------
    path : Path
        The file to write; its folder is created.
    text : str
        The report, written as UTF-8.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
