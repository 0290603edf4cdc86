"""Figures shared by the chapters: sweeps, training curves and embedding maps (matplotlib)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _axes(ax, figsize=(5.5, 3.5)):
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots(figsize=figsize)[1]


def plot_sweep(frame: pd.DataFrame, parameter: str, metric: str, ax=None, log_x=False,
               label=None, best="max"):
    """A validation metric against one hyper-parameter, with the best setting marked."""
    ax = _axes(ax)
    ax.plot(frame[parameter], frame[metric], marker="o", label=label)
    pick = frame[metric].idxmax() if best == "max" else frame[metric].idxmin()
    ax.plot(frame.loc[pick, parameter], frame.loc[pick, metric], "r*", markersize=14)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(parameter)
    ax.set_ylabel(f"{metric} (validation)")
    ax.grid(alpha=0.3)
    return ax


def plot_loss_curves(history: dict, ax=None, title=None):
    """Training curves from a dict of lists, e.g. Keras' ``History.history``."""
    ax = _axes(ax)
    for name, values in history.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set_xlabel("epoch")
    ax.legend()
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def plot_embedding_map(vectors: np.ndarray, labels, ax=None, title=None, max_labels=8):
    """A 2-D PCA projection of ``vectors`` (shape ``(n, d)``) coloured by ``labels`` (length n)."""
    vectors = np.asarray(vectors, dtype=float)
    centred = vectors - vectors.mean(axis=0)
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    points = centred @ directions[:2].T
    labels = pd.Series(np.asarray(labels))
    ax = _axes(ax, figsize=(6, 5))
    for label in labels.value_counts().index[:max_labels]:
        mask = (labels == label).to_numpy()
        ax.scatter(points[mask, 0], points[mask, 1], s=8, alpha=0.6, label=str(label))
    ax.legend(markerscale=2, fontsize="small")
    ax.set_xlabel("first principal direction")
    ax.set_ylabel("second principal direction")
    if title:
        ax.set_title(title)
    return ax


def plot_cost_vs_accuracy(table: pd.DataFrame, metric: str, axes=None, highlight=()):
    """``metric`` against fit time and against parameter count, one labelled point per model.

    ``table`` is indexed by model name with columns ``metric``, ``fit_seconds`` and
    ``parameters`` (as :func:`recsys_lab.registry.run` returns them). Both x axes are
    logarithmic: costs span several orders of magnitude. Models in ``highlight`` are drawn
    in orange. Returns the two axes.
    """
    import matplotlib.pyplot as plt

    missing = {metric, "fit_seconds", "parameters"} - set(table.columns)
    if missing:
        raise ValueError(f"the table needs columns {sorted(missing)}")
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)[1]
    for ax, cost, label in zip(axes, ("fit_seconds", "parameters"),
                               ("fit time on 2 CPU cores (s)", "learned parameters"), strict=True):
        x = table[cost].clip(lower=1e-2 if cost == "fit_seconds" else 1)
        colours = ["tab:orange" if m in highlight else "tab:blue" for m in table.index]
        ax.scatter(x, table[metric], c=colours, s=30, zorder=3)
        for name, xi, yi in zip(table.index, x, table[metric], strict=True):
            ax.annotate(name, (xi, yi), xytext=(4, 3), textcoords="offset points",
                        fontsize="small")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(metric)
    return axes
