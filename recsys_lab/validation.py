"""Checks at the package boundary: bad input fails early with a message that names the problem."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def check_interactions(
    frame: pd.DataFrame,
    *,
    name: str = "train",
    columns: Iterable[str] = ("user", "item"),
    n_users: int | None = None,
    n_items: int | None = None,
) -> pd.DataFrame:
    """Validate an interaction frame and return it unchanged.

    Parameters
    ----------
    frame : DataFrame with at least ``columns`` (e.g. ``user``, ``item``, ``rating``).
    name : what the frame is called in error messages.
    n_users, n_items : if given, ids must lie in ``[0, n_users)`` and ``[0, n_items)``.

    Raises
    ------
    ValueError
        If the frame is not a DataFrame, is empty, lacks a column, has non-integer or
        negative or out-of-range ids, or has NaN / infinite values in a required column.
    """
    columns = tuple(columns)
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} is missing column(s) {missing}; it has {list(frame.columns)}"
        )
    if len(frame) == 0:
        raise ValueError(f"{name} is empty: it has no rows")
    for column in columns:
        values = frame[column].to_numpy()
        if not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"{name}[{column!r}] must be numeric, got dtype {values.dtype}")
        if not np.all(np.isfinite(values)):
            bad = int((~np.isfinite(values)).sum())
            raise ValueError(f"{name}[{column!r}] has {bad} NaN or infinite value(s)")
    for column, bound in (("user", n_users), ("item", n_items)):
        if column not in columns:
            continue
        ids = frame[column].to_numpy()
        if not np.all(ids == np.round(ids)):
            raise ValueError(f"{name}[{column!r}] must hold integer ids")
        if ids.min() < 0:
            raise ValueError(f"{name}[{column!r}] has negative id {int(ids.min())}")
        if bound is not None and ids.max() >= bound:
            raise ValueError(
                f"{name}[{column!r}] has unknown id {int(ids.max())}: "
                f"ids must be < n_{column}s={bound}"
            )
    return frame


def check_ids(ids, bound: int, *, kind: str) -> np.ndarray:
    """Return ``ids`` as an int64 array after checking each lies in ``[0, bound)``.

    ``kind`` is ``"user"`` or ``"item"`` and appears in the error message.
    """
    array = np.asarray(ids)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.number) or not np.all(array == np.round(array)):
            raise ValueError(f"{kind} ids must be integers, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and (array.min() < 0 or array.max() >= bound):
        bad = array[(array < 0) | (array >= bound)][0]
        raise ValueError(f"unknown {kind} id {int(bad)}: the model knows ids 0..{bound - 1}")
    return array


def check_fitted(model, attribute: str) -> None:
    """Raise a clear error when a model is used before ``fit``."""
    if not hasattr(model, attribute):
        name = type(model).__name__
        raise ValueError(f"{name} is not fitted yet: call fit(train, n_users, n_items) first")
