"""Hyper-parameter explorers for JupyterLab: a thin ipywidgets front on a plain function.

:func:`explorer` wraps any function of keyword arguments in sliders; the function does the
work (fit a model, score it on a validation split), so it runs in tests and in the book build
too. The website cannot run Python: there, the explorer's output is removed (cell tag
``remove-output``) and :func:`recsys_lab.charts.sweep_chart` shows the chapter's precomputed
validation sweep as a chart whose controls run in the page.
"""

from __future__ import annotations

from collections.abc import Callable


def explorer(function: Callable, **controls):
    """Sliders/dropdowns for ``function``'s keyword arguments (live in JupyterLab).

    ``controls`` map argument names to ipywidgets abbreviations, e.g. ``l2=(10, 2000, 10)``
    or ``loss=["bpr", "bce"]``. Returns an ``ipywidgets.interactive`` that re-runs
    ``function`` when the button is pressed (fits take seconds, so not on every drag).
    """
    import ipywidgets

    return ipywidgets.interactive(function, {"manual": True, "manual_name": "Fit"}, **controls)
