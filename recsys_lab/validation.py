"""Checks at the package boundary: bad input fails early with a message that names the problem.

* :func:`check_interactions` — a frame of interactions (columns, emptiness, NaN, ids);
* :func:`check_ids` — a 1-D array of user or item ids;
* :func:`check_count` — ``n_users`` / ``n_items``;
* :class:`Rule` and :func:`check_hyperparameters` — every model's hyper-parameters, checked
  at ``fit`` against the rules its class declares (one helper for every model);
* :func:`check_fitted` — a model used before ``fit``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd


def _is_whole_number_array(values: np.ndarray) -> bool:
    return np.issubdtype(values.dtype, np.integer) or (
        np.issubdtype(values.dtype, np.floating) and bool(np.all(values == np.round(values))))


def check_interactions(
    frame: pd.DataFrame,
    *,
    name: str = "train",
    columns: Iterable[str] = ("user", "item"),
    n_users: int | None = None,
    n_items: int | None = None,
) -> pd.DataFrame:
    """Validate an interaction frame; return it with ``user``/``item`` as int64 ids.

    Parameters
    ----------
    frame : DataFrame with at least ``columns`` (e.g. ``user``, ``item``, ``rating``).
    name : what the frame is called in error messages.
    n_users, n_items : if given, ids must lie in ``[0, n_users)`` and ``[0, n_items)``.

    Returns
    -------
    The frame itself when its ids are already int64, else a copy whose ``user`` and ``item``
    columns are converted (whole-number floats such as ``3.0`` are accepted as ids).

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
        raise ValueError(f"{name} is missing column(s) {missing}; it has {list(frame.columns)}")
    if len(frame) == 0:
        raise ValueError(f"{name} is empty: it has no rows")
    for column in columns:
        values = frame[column].to_numpy()
        if not np.issubdtype(values.dtype, np.number) or values.dtype == bool:
            raise ValueError(f"{name}[{column!r}] must be numeric, got dtype {values.dtype}")
        if not np.all(np.isfinite(values)):
            bad = int((~np.isfinite(values)).sum())
            raise ValueError(f"{name}[{column!r}] has {bad} NaN or infinite value(s)")
    converted = {}
    for column, bound in (("user", n_users), ("item", n_items)):
        if column not in columns:
            continue
        ids = frame[column].to_numpy()
        if not _is_whole_number_array(ids):
            raise ValueError(f"{name}[{column!r}] must hold integer ids, got {ids.dtype} values "
                             f"such as {ids[ids != np.round(ids)][0]!r}")
        if ids.min() < 0:
            raise ValueError(f"{name}[{column!r}] has negative id {int(ids.min())}")
        if bound is not None and ids.max() >= bound:
            raise ValueError(f"{name}[{column!r}] has unknown id {int(ids.max())}: "
                             f"ids must be < n_{column}s={bound}")
        if ids.dtype != np.int64:
            converted[column] = ids.astype(np.int64)
    return frame.assign(**converted) if converted else frame


def check_ids(ids, bound: int, *, kind: str) -> np.ndarray:
    """``ids`` as a 1-D int64 array, after checking each lies in ``[0, bound)``.

    ``ids`` is any 1-D array-like of integers (whole-number floats are accepted); an empty
    one is fine. A scalar, a 2-D array or non-numbers raise ``ValueError``, as does an id
    out of range. ``kind`` (``"user"`` or ``"item"``) appears in the messages.
    """
    try:
        array = np.asarray(ids)
    except ValueError as error:  # a ragged nested list
        raise ValueError(f"{kind} ids must be a 1-D array of integers: {error}") from None
    if array.ndim != 1:
        what = "a scalar" if array.ndim == 0 else f"an array of shape {array.shape}"
        raise ValueError(f"{kind} ids must be a 1-D array of integers, got {what}; "
                         f"wrap a single id in a list, e.g. [{kind} id]")
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number) or (
            not _is_whole_number_array(array)):
        raise ValueError(f"{kind} ids must be integers, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.min() < 0 or array.max() >= bound:
        bad = array[(array < 0) | (array >= bound)][0]
        raise ValueError(f"unknown {kind} id {int(bad)}: the model knows ids 0..{bound - 1}")
    return array


def check_count(value, name: str) -> int:
    """``value`` as an int after checking it is a positive integer (``True`` is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_fitted(model, attribute: str = "history_") -> None:
    """Raise a clear error when a model is used before ``fit``."""
    if not hasattr(model, attribute):
        name = type(model).__name__
        raise ValueError(f"{name} is not fitted yet: call fit(train, n_users, n_items) first")


# --------------------------------------------------------------------------------------------
# Hyper-parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """What one hyper-parameter may be; :meth:`check` raises a ``ValueError`` naming it.

    ``kind`` is ``"integer"``, ``"real"`` (an int or float, finite), ``"flag"`` (a bool),
    ``"choice"`` (one of ``choices``), ``"integers"`` (a tuple of integers, each within the
    bounds), or ``"data"`` (arrays or objects checked by the model itself at ``fit``).
    ``low``/``high`` bound numbers, open (excluded) when ``low_open``/``high_open``;
    ``optional`` also allows ``None``.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    optional: bool = False

    def describe(self) -> str:
        """The allowed values in words, e.g. ``"an integer ≥ 1"``."""
        if self.kind == "flag":
            text = "True or False"
        elif self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind == "data":
            text = "data"
        else:
            noun = {"integer": "an integer", "real": "a number",
                    "integers": "a tuple of integers"}[self.kind]
            bounds = []
            if self.low is not None:
                bounds.append(f"{'>' if self.low_open else '≥'} {self.low:g}")
            if self.high is not None:
                bounds.append(f"{'<' if self.high_open else '≤'} {self.high:g}")
            text = noun + (" " + " and ".join(bounds) if bounds else "")
            if self.kind == "integers" and bounds:
                text = "a tuple of integers, each " + " and ".join(bounds)
        return text + (", or None" if self.optional else "")

    def _in_bounds(self, value) -> bool:
        if self.low is not None and not (value > self.low if self.low_open else value >= self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def _valid(self, value) -> bool:
        if self.kind == "data":
            return True
        if self.kind == "flag":
            return isinstance(value, (bool, np.bool_))
        if self.kind == "choice":
            return any(value == choice for choice in self.choices)
        if self.kind == "integers":
            return isinstance(value, (tuple, list)) and all(
                _is_integer(v) and self._in_bounds(v) for v in value)
        if isinstance(value, (bool, np.bool_)):
            return False
        if self.kind == "integer":
            return _is_integer(value) and self._in_bounds(value)
        return (isinstance(value, (int, float, np.integer, np.floating))
                and math.isfinite(value) and self._in_bounds(value))

    def check(self, name: str, value, owner: str = "") -> None:
        """Raise ``ValueError`` unless ``value`` is allowed for parameter ``name``."""
        if value is None and self.optional:
            return
        if not self._valid(value):
            where = f"{owner}: " if owner else ""
            raise ValueError(f"{where}{name} must be {self.describe()}, got {value!r}")


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def integer(low: int | None = 1, high: int | None = None, *, optional: bool = False) -> Rule:
    """An integer in ``[low, high]`` (default: a positive integer)."""
    return Rule("integer", low, high, optional=optional)


def integers(low: int | None = 1) -> Rule:
    """A tuple (or list) of integers ≥ ``low``, e.g. layer widths; may be empty."""
    return Rule("integers", low)


def real(low: float | None = None, high: float | None = None, *, low_open: bool = False,
         high_open: bool = False) -> Rule:
    """A finite number in the interval ``low..high`` (ends included unless ``*_open``)."""
    return Rule("real", low, high, low_open, high_open)


def one_of(*choices) -> Rule:
    """One of the given values."""
    return Rule("choice", choices=tuple(choices))


POSITIVE = real(0, low_open=True)
NON_NEGATIVE = real(0)
RATE = real(0, 1, high_open=True)  #: a dropout or corruption rate: 0 ≤ p < 1
PROBABILITY = real(0, 1)
FLAG = Rule("flag")
DATA = Rule("data")
SEED = integer(0)


def check_hyperparameters(model) -> None:
    """Check every hyper-parameter of ``model`` against its class's ``hyperparameters``.

    ``hyperparameters`` maps each constructor argument to a :class:`Rule`. Called by
    ``fit`` (not by ``__init__``, which only stores its arguments, as in scikit-learn).
    """
    owner = type(model).__name__
    for name, rule in type(model).hyperparameters.items():
        rule.check(name, getattr(model, name), owner)
