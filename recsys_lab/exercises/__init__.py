"""Automatic feedback for the book's exercises: the shared machinery.

Every ``check_*`` function grades a student's answer against a reference on a few cases
and returns a :class:`Feedback`: truthy when the answer is right, and shown in a notebook
as a short message saying what was wrong and a hint. Checks never raise on a wrong answer
(a function that fails, returns ``None``, a string, a ragged nested list, NaN or a tuple of
the wrong size, or an answer that is not a function at all), so a notebook with an
unfinished exercise still runs top to bottom.

Each chapter's checks live in a module of this package named for its topic (chapter 1:
:mod:`recsys_lab.exercises.evaluation`) and build on :class:`Feedback`, :func:`call_safely`,
:func:`as_float_array`, :func:`wrong_shape` and :func:`check_cases`. The modules hold graders
only: each computes its expected answers privately, so nothing a student can import from
them solves an exercise.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import reprlib
import warnings
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp


@dataclasses.dataclass(frozen=True)
class Feedback:
    """The verdict of a check: ``passed`` and a message for the student."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("✅ " if self.passed else "❌ ") + self.message

    def _repr_markdown_(self) -> str:
        return repr(self)


def call_safely(function: Callable, *args):
    """``(function(*args), None)``, or ``(None, "ErrorType: message")`` if the call fails.

    The student's code may fail in any way (or not be a function at all): the error is
    reported, never raised.
    """
    if not callable(function):
        return None, f"TypeError: {type(function).__name__!r} object is not callable"
    try:
        return function(*args), None
    except Exception as error:
        return None, _describe_error(error)


def call_quietly(function: Callable, *args):
    """:func:`call_safely` with NumPy's floating-point warnings silenced: a division by zero
    in the student's code gives the NaN the check then explains, in a notebook as under
    ``-W error``."""
    with np.errstate(all="ignore"):
        return call_safely(function, *args)


def same_values(got: np.ndarray, expected: np.ndarray) -> bool:
    """Whether ``got`` has ``expected``'s shape and values (NaN never matches)."""
    if got.shape != expected.shape:
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(got, expected, rtol=1e-6, atol=1e-9))


def as_float_array(value) -> np.ndarray | None:
    """``value`` as a float array, or None when it is not an array of real numbers.

    None for ``None``, an unfinished ``...``, strings, complex numbers, dicts and other
    objects, nested lists of uneven lengths (``[[1, 2], [3]]``) and lists holding ``None``;
    never raises. Booleans become 0 and 1 and a SciPy sparse matrix its dense array. NaN
    and infinity are kept: they are numbers, only wrong ones.
    """
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. ComplexWarning: no silent loss of a part
            if sp.issparse(value):
                value = value.toarray()
            array = np.asarray(value)
            if array.dtype.kind == "O":
                if any(element is None for element in array.flat):
                    return None
            elif array.dtype.kind not in "biuf":
                return None  # strings, complex numbers, dates
            return array.astype(float)
    except Exception:  # ragged lists, objects that are not numbers, overflowing integers
        return None


def wrong_shape(got, expected_shape, what: str) -> Feedback | None:
    """A failing :class:`Feedback` unless ``got`` (from :func:`as_float_array`) has the shape.

    ``what`` names the expected result for the message, e.g. ``"a vector (one value per
    factor)"``; returns None when the shape is right.
    """
    if got is not None and got.shape == tuple(expected_shape):
        return None
    found = "no numbers" if got is None else f"shape {got.shape}"
    return Feedback(False, f"expected {what} of shape {tuple(expected_shape)}, got {found}.")


def check_cases(name: str, function: Callable, cases, reference: Callable, hint: str,
                tolerance: float = 1e-9) -> Feedback:
    """Grade ``function``, which returns one number, against ``reference`` on ``cases``.

    ``cases`` is a list of argument tuples; the answer must be within ``tolerance``
    (relative or absolute) of ``reference(*args)`` on every case.
    """
    if (not_a_function := _not_a_function(name, function)) is not None:
        return not_a_function
    for args in cases:
        expected = reference(*args)
        got, error = call_safely(function, *args)
        shown = ", ".join(repr(a) for a in args)
        if error:
            return Feedback(False, f"{name}({shown}) raised {error}. Hint: {hint}")
        value = _as_number(got)
        if value is None or not math.isclose(value, expected, rel_tol=tolerance,
                                             abs_tol=tolerance):
            return Feedback(False, f"{name}({shown}) returned {_show(got)}, expected "
                                   f"{expected:.4f}. Hint: {hint}")
    return Feedback(True, f"{name} is correct on all {len(cases)} test cases.")


# --------------------------------------------------------------------------------------------
# Private helpers shared by the graders (not part of the API, not exported)
# --------------------------------------------------------------------------------------------


def _grader(check: Callable) -> Callable:
    """Decorate a ``check_*``: should the check itself fail on some unforeseen answer, the
    student gets a failing :class:`Feedback` that says so, never a traceback."""

    @functools.wraps(check)
    def graded(*args, **kwargs) -> Feedback:
        try:
            return check(*args, **kwargs)
        except Exception as error:
            return Feedback(False, f"{check.__name__} could not grade this answer "
                                   f"({_describe_error(error)}). That is a bug in the check, "
                                   "not necessarily in your answer: please report it.")

    return graded


def _not_a_function(name: str, function) -> Feedback | None:
    """A failing :class:`Feedback` when the answer to a "write a function" exercise is not one."""
    if callable(function):
        return None
    return Feedback(False, f"{name} should be a function (def {name}(...): ...), got "
                           f"{_show(function)} of type {type(function).__name__}.")


def _as_number(value) -> float | None:
    """One real number (NaN and infinity included) as a float, or None.

    Accepts Python and NumPy numbers and arrays holding exactly one number; None for
    booleans, strings, ``None``, ragged lists and everything else. Never raises.
    """
    if isinstance(value, (bool, np.bool_)):
        return None
    array = as_float_array(value)
    if array is None or array.size != 1:
        return None
    return float(array.reshape(()))


def _as_whole_number(value) -> int | None:
    """``value`` as an int when it is a finite whole number (``12`` or ``12.0``), else None."""
    number = _as_number(value)
    if number is None or not math.isfinite(number) or number != round(number):
        return None
    return int(round(number))


def _as_float_arrays(value, count: int) -> list[np.ndarray] | None:
    """The ``count`` parts of a tuple (or list) answer, each as a float array, or None.

    None when ``value`` is not a sequence of exactly ``count`` parts, or when a part is
    not numbers (see :func:`as_float_array`). Never raises.
    """
    if value is None or isinstance(value, (str, bytes, dict)):
        return None
    try:
        parts = list(value)
    except Exception:
        return None
    if len(parts) != count:
        return None
    arrays = [as_float_array(part) for part in parts]
    return None if any(array is None for array in arrays) else arrays


def _ids(values: np.ndarray) -> list:
    """Float ids as ints for a message (``[3, 1]``, not ``[3.0, 1.0]``); others unchanged."""
    return [int(v) if math.isfinite(v) and v == round(v) else float(v) for v in values]


def _parts_found(value) -> str:
    """What a tuple answer holds, for a message: "3 values", "None", "a value of type float"."""
    if value is None or value is Ellipsis:
        return repr(value)
    if isinstance(value, (tuple, list)):
        return f"{len(value)} value{'s' if len(value) != 1 else ''}"
    return f"a value of type {type(value).__name__}"


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = 8


def _show(value) -> str:
    """A short ``repr`` of a student's value for a message; never raises."""
    try:
        if isinstance(value, np.ndarray):
            return np.array2string(value, precision=4, threshold=12, edgeitems=2)
        return _REPR.repr(value)
    except Exception:
        return f"a {type(value).__name__}"


def _describe_error(error: BaseException) -> str:
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:
        return type(error).__name__
