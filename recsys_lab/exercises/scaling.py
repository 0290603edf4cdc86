"""Checks for the exercises of the chapter on scaling out: extrapolating a measured cost along
its log–log slope, the bytes a worker sends in a ring all-reduce, and the recall of an
inverted-file (IVF) index that probes a few cells.

The expected cost comes from the library's log–log fit
(:func:`recsys_lab.scaling.fit_power_law`, imported privately); the other answers are
computed privately here from their definitions (``2 (N − 1) / N · P · b`` bytes; probing the
cells whose centroids have the largest inner product with the query, as FAISS's
``IndexIVFFlat`` with ``METRIC_INNER_PRODUCT`` does).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from recsys_lab.exercises import Feedback, _as_number, _grader, _not_a_function, _show
from recsys_lab.exercises import call_quietly as _call_quietly
from recsys_lab.scaling import fit_power_law as _fit_power_law


def _close(got: float, expected: float, tolerance: float = 1e-6) -> bool:
    return math.isclose(got, expected, rel_tol=tolerance, abs_tol=1e-12)


def _grade_number(case: str, got, error, expected: float,
                  mistakes: list[tuple[float, str]], hint: str) -> Feedback | None:
    """A failing Feedback for a wrong number (a known mistake named), None if right."""
    if error:
        return Feedback(False, f"{case} raised {error}. Hint: {hint}")
    value = _as_number(got)
    if value is None:
        return Feedback(False, f"{case} returned {_show(got)}; expected one number. "
                               f"Hint: {hint}")
    if not math.isfinite(value):
        return Feedback(False, f"{case} returned {value}: did you divide by zero or take the "
                               f"log of zero? Hint: {hint}")
    if _close(value, expected):
        return None
    for mistake, message in mistakes:
        if not _close(mistake, expected) and _close(value, mistake):
            return Feedback(False, f"{case} returned {value:.6g}: {message}")
    return Feedback(False, f"{case} returned {value:.6g}, expected {expected:.6g}. "
                           f"Hint: {hint}")


# --------------------------------------------------------------------------------------------
# Extrapolating a cost along its log–log slope
# --------------------------------------------------------------------------------------------


def _log_log_fit(sizes, seconds) -> tuple[float, float]:
    """``(slope, intercept)`` of the least-squares line ``log t = intercept + slope · log n``."""
    law = _fit_power_law(sizes, seconds)
    return law.slope, law.intercept


def _extrapolate(sizes, seconds, new_size) -> float:
    return float(_fit_power_law(sizes, seconds).predict(new_size))


def _cost_cases():
    """An exact cubic, an exact power 2.4 with a constant, and a noisy cubic (as timings are).

    All three end at 20,000 items, the size the chapter asks about."""
    rng = np.random.default_rng(23)
    sizes = np.array([500.0, 1000.0, 2000.0, 4000.0])
    noisy_sizes = np.array([400.0, 800.0, 1600.0, 3200.0, 6400.0])
    noise = np.exp(rng.normal(0.0, 0.15, len(noisy_sizes)))
    return [(sizes, 2e-9 * sizes ** 3, 20_000.0),
            (sizes, 3.5e-7 * sizes ** 2.4, 20_000.0),
            (noisy_sizes, 1.5e-9 * noisy_sizes ** 3 * noise, 20_000.0)]


@_grader
def check_predict_cost(function: Callable) -> Feedback:
    """Grade ``function(sizes, seconds, new_size) -> predicted seconds at new_size``.

    ``sizes`` and ``seconds`` are 1-D arrays of the same length (at least two points), the
    measured sizes (e.g. numbers of items) and fit times. The answer fits a straight line to
    ``log(seconds)`` against ``log(sizes)`` by least squares, ``log t = a + b log n``, and
    returns ``exp(a + b log(new_size))`` (any base of logarithm gives the same prediction).
    """
    name = "predict_cost"
    if (not_a_function := _not_a_function(name, function)) is not None:
        return not_a_function
    hint = ("fit log(seconds) = a + b·log(sizes) with a least-squares line (np.polyfit on "
            "the logs, degree 1), then return exp(a + b·log(new_size)).")
    for sizes, seconds, new_size in _cost_cases():
        expected = _extrapolate(sizes, seconds, new_size)
        slope, intercept = _log_log_fit(sizes, seconds)
        line = np.polyfit(sizes, seconds, 1)
        end_slope = math.log(seconds[-1] / seconds[0]) / math.log(sizes[-1] / sizes[0])
        mistakes = [
            (float(np.polyval(line, new_size)), "that is a straight line through the times "
             "themselves (linear extrapolation): a cost that grows like n^b curves upwards; "
             "fit the line to log time against log size."),
            (float(seconds[-1] * new_size / sizes[-1]), "you scaled the last time in "
             "proportion to the size, as if the cost were linear: use the fitted slope b, "
             "t ∝ n^b."),
            (float(new_size ** slope), "you returned new_size ** slope without the intercept: "
             "the line is log t = a + b·log n, so t = exp(a)·n^b."),
            (float(math.exp(slope * math.log(new_size))), "you returned exp(b·log(new_size)) "
             "without the intercept: the line is log t = a + b·log n, so t = exp(a)·n^b."),
            (float(intercept + slope * math.log(new_size)), "that is the predicted log time: "
             "take exp of it to get seconds."),
            (float(seconds[-1] * (new_size / sizes[-1]) ** end_slope), "you drew the line "
             "through the first and last points only: fit it to all the measurements by "
             "least squares (one noisy point should not decide the slope)."),
        ]
        case = (f"{name}(sizes={_show(sizes)}, seconds={_show(seconds)}, "
                f"new_size={new_size:g})")
        got, error = _call_quietly(function, sizes.copy(), seconds.copy(), new_size)
        if (feedback := _grade_number(case, got, error, expected, mistakes, hint)) is not None:
            return feedback
    return Feedback(True, "correct: on a log–log plot a power law is a straight line, and its "
                          "slope is the exponent of the cost.")


# --------------------------------------------------------------------------------------------
# The volume of a ring all-reduce
# --------------------------------------------------------------------------------------------


def _ring_bytes(n_parameters, n_workers, bytes_per_value) -> float:
    """Bytes each worker sends: reduce-scatter then all-gather, ``N − 1`` steps of ``1/N``."""
    return 2 * (n_workers - 1) / n_workers * n_parameters * bytes_per_value


def _ring_cases():
    return [(1_000_000, 4, 4), (2_500_000, 2, 2), (123_457, 8, 4), (10_000_000, 16, 2)]


@_grader
def check_allreduce_bytes(function: Callable) -> Feedback:
    """Grade ``function(n_parameters, n_workers, bytes_per_value) -> bytes sent per worker``
    in one ring all-reduce of the gradients: ``2 (N − 1) / N · n_parameters ·
    bytes_per_value``."""
    name = "allreduce_bytes"
    if (not_a_function := _not_a_function(name, function)) is not None:
        return not_a_function
    hint = ("a ring all-reduce is a reduce-scatter then an all-gather; in each, a worker "
            "sends N − 1 chunks of 1/N of the gradient, each value taking bytes_per_value "
            "bytes.")
    for n_parameters, n_workers, bytes_per_value in _ring_cases():
        expected = _ring_bytes(n_parameters, n_workers, bytes_per_value)
        size = n_parameters * bytes_per_value
        mistakes = [
            (expected / 2, "that is half: count both phases, the reduce-scatter and the "
             "all-gather (the factor 2)."),
            (2.0 * size, "you used N / N instead of (N − 1) / N: a worker never sends its "
             "own chunk to itself, so each phase has N − 1 steps."),
            (2 * (n_workers - 1) * size, "you sent the whole gradient at every step: each "
             "step of the ring carries one chunk, 1/N of it."),
            (8 * expected, "that is in bits: the answer is in bytes (bytes_per_value bytes "
             "per value, not 8 × as many)."),
            (expected / bytes_per_value, "that counts values, not bytes: multiply by "
             "bytes_per_value."),
            (expected / 8, "you divided by 8 as if bytes_per_value were bits: it is "
             "already in bytes."),
        ]
        case = f"{name}({n_parameters:,}, {n_workers}, {bytes_per_value})"
        got, error = _call_quietly(function, n_parameters, n_workers, bytes_per_value)
        if (feedback := _grade_number(case, got, error, expected, mistakes, hint)) is not None:
            return feedback
    return Feedback(True, "correct: each worker sends almost twice the gradient per step, "
                          "however many workers share the ring.")


# --------------------------------------------------------------------------------------------
# The recall of an IVF index with nprobe probes
# --------------------------------------------------------------------------------------------


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """The positions of the ``k`` largest scores (all of them when fewer), best first."""
    return np.argsort(-scores, kind="stable")[:k]


def _probed(query, centroids, nprobe, by_distance=False) -> np.ndarray:
    if by_distance:
        return _top(-((centroids - query) ** 2).sum(axis=1), nprobe)
    return _top(centroids @ query, nprobe)


def _ivf_recall(query, centroids, assignment, item_vectors, k, nprobe,
                by_distance=False) -> float:
    """Recall@k of the IVF search against the exact top k (both by inner product)."""
    candidates = np.flatnonzero(np.isin(assignment, _probed(query, centroids, nprobe,
                                                             by_distance)))
    scores = item_vectors @ query
    found = candidates[_top(scores[candidates], k)]
    exact = _top(scores, k)
    return len(np.intersect1d(found, exact)) / k


def _ivf_cases():
    """Small seeded catalogues with unequal norms (so that the largest inner product and the
    smallest distance pick different cells), each item filed under its best centroid. The
    seeds were chosen so that every cell holds items and, in each case, probing by distance,
    and probing one cell more or one fewer, give recalls different from the right one."""
    cases = []
    for seed, n_items, n_cells, dim, k, nprobe in ((21, 40, 6, 3, 5, 2), (80, 60, 8, 4, 10, 3),
                                                    (7, 30, 5, 2, 4, 1)):
        rng = np.random.default_rng(seed)
        centroids = rng.normal(size=(n_cells, dim)) * rng.uniform(0.3, 2.0, (n_cells, 1))
        item_vectors = rng.normal(size=(n_items, dim)) * rng.uniform(0.5, 1.5, (n_items, 1))
        assignment = np.argmax(item_vectors @ centroids.T, axis=1)
        query = rng.normal(size=dim)
        cases.append((query, centroids, assignment, item_vectors, k, nprobe))
    return cases


@_grader
def check_ivf_recall(function: Callable) -> Feedback:
    """Grade ``function(query, centroids, assignment, item_vectors, k, nprobe) -> recall@k``.

    ``query`` ``(d,)``; ``centroids`` ``(n_cells, d)``; ``assignment`` ``(n_items,)``, the
    cell of each item; ``item_vectors`` ``(n_items, d)``. The IVF search probes the ``nprobe``
    cells whose centroids have the largest inner product with the query, scores the items
    filed under them by inner product and keeps the best ``k``; the answer is the share of
    the exact top ``k`` (by inner product over all items) that it found.
    """
    name = "ivf_recall"
    if (not_a_function := _not_a_function(name, function)) is not None:
        return not_a_function
    hint = ("rank the cells by centroids @ query, keep the nprobe best, score only their "
            "items by item_vectors @ query, keep the best k, and divide the number of them "
            "in the exact top k by k.")
    for query, centroids, assignment, item_vectors, k, nprobe in _ivf_cases():
        expected = _ivf_recall(query, centroids, assignment, item_vectors, k, nprobe)
        arguments = (query, centroids, assignment, item_vectors, k)
        mistakes = [
            (_ivf_recall(*arguments, nprobe, by_distance=True), "you probed the cells "
             "nearest the query in L2 distance: for maximum inner product search, probe "
             "those whose centroids have the largest inner product with it."),
            (_ivf_recall(*arguments, nprobe + 1), "you probed nprobe + 1 cells: probe "
             "exactly nprobe."),
            (_ivf_recall(*arguments, max(nprobe - 1, 0)) if nprobe > 1 else math.nan,
             "you probed nprobe − 1 cells: probe exactly nprobe."),
            (expected * k, "that is the number of the true top k found: divide it by k."),
        ]
        case = f"{name} with {len(item_vectors)} items in {len(centroids)} cells, k={k}, " \
               f"nprobe={nprobe}"
        got, error = _call_quietly(function, query.copy(), centroids.copy(),
                                   assignment.copy(), item_vectors.copy(), k, nprobe)
        if (feedback := _grade_number(case, got, error, expected, mistakes, hint)) is not None:
            return feedback
    return Feedback(True, "correct: the search only ever sees the items of the probed cells, "
                          "so recall grows with nprobe and reaches 1 when every cell is "
                          "probed.")
