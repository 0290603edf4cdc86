"""Hyper-parameter explorers: a plain, testable function plus a thin ipywidgets front.

:func:`sweep` does the work (fit a model for each setting, score it on a validation
split) and returns a DataFrame, so it runs in tests and in the book build. :func:`explorer`
wraps any function of keyword arguments in sliders for JupyterLab. The website cannot run
Python, so every chapter also shows the figure of a precomputed :func:`sweep`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from recsys_lab.evaluate import evaluate


def sweep(
    make_model: Callable,
    values: Iterable,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    protocol: str,
    *,
    n_users: int,
    n_items: int,
    parameter: str = "value",
) -> pd.DataFrame:
    """Evaluate ``make_model(value)`` for each value; one row per value, ``parameter`` first.

    ``valid`` must be a validation split carved from training data: sweeping on the test
    split would tune on the test set.
    """
    rows = []
    for value in values:
        row = evaluate(make_model(value), train, valid, protocol, n_users=n_users,
                       n_items=n_items)
        rows.append({parameter: value, **row})
    if not rows:
        raise ValueError("sweep needs at least one value")
    return pd.DataFrame(rows)


def explorer(function: Callable, **controls):
    """Sliders/dropdowns for ``function``'s keyword arguments (live in JupyterLab).

    ``controls`` map argument names to ipywidgets abbreviations, e.g. ``l2=(10, 2000, 10)``
    or ``loss=["bpr", "bce"]``. Returns an ``ipywidgets.interactive`` that re-runs
    ``function`` when the button is pressed (fits take seconds, so not on every drag).
    """
    import ipywidgets

    return ipywidgets.interactive(function, {"manual": True, "manual_name": "Fit"}, **controls)
