"""Automatic feedback for the book's exercises: the shared machinery.

Every ``check_*`` function grades a student's answer against a reference on a few cases
and returns a :class:`Feedback`: truthy when the answer is right, and shown in a notebook
as a short message saying what was wrong and a hint. Checks never raise on a wrong answer,
so a notebook with an unfinished exercise still runs top to bottom.

Each chapter's checks live in a module of this package named for its topic (chapter 1:
:mod:`recsys_lab.exercises.evaluation`) and build on :class:`Feedback` and :func:`check_cases`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
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
    try:
        return function(*args), None
    except Exception as error:  # the student's code may fail in any way; report it
        return None, f"{type(error).__name__}: {error}"


def as_float_array(value):
    """``value`` as a float array, or None when it is not numeric (e.g. an unfinished ``...``)."""
    try:
        return None if value is None else np.asarray(value, dtype=float)
    except (TypeError, ValueError):
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
    if not callable(function):
        return Feedback(False, f"{name} should be a function, got {type(function).__name__}")
    for args in cases:
        expected = reference(*args)
        got, error = call_safely(function, *args)
        shown = ", ".join(repr(a) for a in args)
        if error:
            return Feedback(False, f"{name}({shown}) raised {error}. Hint: {hint}")
        try:
            close = math.isclose(float(got), expected, rel_tol=tolerance, abs_tol=tolerance)
        except (TypeError, ValueError):
            close = False
        if not close:
            return Feedback(False, f"{name}({shown}) returned {got!r}, expected "
                                   f"{expected:.4f}. Hint: {hint}")
    return Feedback(True, f"{name} is correct on all {len(cases)} test cases.")
