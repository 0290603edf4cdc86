"""How the cost of a fit grows: time and peak memory of one fit, sweeps over sizes, log–log slopes.

If a fit costs ``c · nᵅ`` then ``log cost = log c + α log n``: on a log–log plot the points lie
on a line of slope ``α``, the exponent the complexity analysis predicts (EASE: 3 in the
items; ALS: 1 in the interactions; ...). This module measures and fits that line.

* :func:`measure` — wall-clock and processor seconds and the peak memory of one call
  ``fit(setup())`` (a :class:`Measurement`); only the fit is measured, not ``setup``
  (generating the data). Two ways to count memory, and the option of running the fit alone
  in a fresh child process (``isolate=True``); see there.
* :func:`cost_sweep` — for each size: make the data (seeded, outside the measurement), fit,
  measure, ``repeats`` times; a tidy DataFrame, one row per run.
* :func:`fit_power_law` — the least-squares slope of ``log(cost)`` on ``log(size)`` with a
  t interval, and :meth:`PowerLaw.predict` to extrapolate to a size not measured.
* :func:`summarize_sweep` and :func:`sweep_slopes` — one cost per size (fastest time,
  largest peak) and the fitted slope of each (model, size variable).

A slope is an *empirical* exponent over the sizes measured: fixed costs (start-up, Python
overhead, compiling a TensorFlow graph) flatten it at small sizes, and the term the theory
calls dominant may only dominate at large ones (EASE's n³ inverse against its n² dense Gram
matrix). Compare slopes over the range where you will extrapolate.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import math
import multiprocessing
import os
import time
import traceback
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MEMORY_METHODS", "Measurement", "PowerLaw", "cost_sweep", "fit_power_law",
           "measure", "summarize_sweep", "sweep_slopes"]

#: How :func:`measure` counts memory (see its docstring).
MEMORY_METHODS = ("tracemalloc", "rss")
_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


@dataclass(frozen=True)
class Measurement:
    """The cost of one fit.

    seconds : wall-clock seconds of the fit alone (``time.perf_counter``).
    cpu_seconds : processor time of the whole process during the fit, every thread, user
        and system (``time.process_time``). On a shared machine it barely grows when other
        programs take the cores, where wall time does; but threads that spin while waiting
        (BLAS, TensorFlow's pools) add to it, and so does the kernel's work on page faults.
    peak_bytes : the most memory the fit held at once beyond what was held when it started,
        as counted by ``memory``.
    memory : ``"tracemalloc"`` or ``"rss"`` (see :func:`measure`).
    """

    seconds: float
    cpu_seconds: float
    peak_bytes: int
    memory: str


# --------------------------------------------------------------------------------------------
# Measuring one fit
# --------------------------------------------------------------------------------------------


def _status_bytes(field: str) -> int:
    """``VmRSS`` or ``VmHWM`` of this process, in bytes (Linux's /proc/self/status)."""
    with open(_STATUS) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # the kernel reports kB (KiB)
    raise RuntimeError(f"{_STATUS} has no {field} line")


def _check_rss_supported() -> None:
    if not (os.path.exists(_STATUS) and os.access(_CLEAR_REFS, os.W_OK)):
        raise ValueError('memory="rss" needs Linux (/proc/self/status and a writable '
                         '/proc/self/clear_refs to reset the peak); use memory="tracemalloc"')


def _release_free_memory() -> None:
    """Hand memory that is free but still resident back to the kernel, so a fit cannot reuse
    it unseen: collect garbage, then glibc's ``malloc_trim(0)`` (skipped where there is none)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the measurement stays a lower bound
        pass


def _timed(call) -> tuple[float, float]:
    """Wall-clock and processor seconds of ``call()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def _measure_here(fit: Callable[..., Any], argument, has_argument: bool,
                  memory: str) -> Measurement:
    call = (lambda: fit(argument)) if has_argument else fit
    if memory == "tracemalloc":
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            seconds, cpu_seconds = _timed(call)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            if not was_tracing:
                tracemalloc.stop()
        return Measurement(seconds, cpu_seconds, max(0, peak - before), memory)
    _check_rss_supported()
    _release_free_memory()
    with open(_CLEAR_REFS, "w") as clear:
        clear.write("5")  # "5" resets the peak resident size (VmHWM) to the current one
    before = _status_bytes("VmRSS")
    seconds, cpu_seconds = _timed(call)
    return Measurement(seconds, cpu_seconds, max(0, _status_bytes("VmHWM") - before), memory)


def _child(connection, fit, setup, memory) -> None:
    """Runs in the spawned process: make the data, measure the fit, send the result back."""
    try:
        argument = setup() if setup is not None else None
        result = _measure_here(fit, argument, setup is not None, memory)
        connection.send(("ok", result))
    except BaseException:  # noqa: BLE001 - everything goes back to the parent, as text
        connection.send(("error", traceback.format_exc()))
    finally:
        connection.close()


def _measure_isolated(fit, setup, memory: str, timeout: float) -> Measurement:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited pages
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, fit, setup, memory), daemon=True)
    process.start()
    send.close()
    try:
        if not receive.poll(timeout):
            raise TimeoutError(f"the isolated fit did not finish within {timeout} s")
        status, payload = receive.recv()
    except EOFError:
        process.join(5)
        raise RuntimeError(f"the isolated fit's process died (exit code "
                           f"{process.exitcode}): out of memory?") from None
    finally:
        receive.close()
        if process.is_alive():
            process.kill()
        process.join(10)
    if status != "ok":
        raise RuntimeError(f"the isolated fit raised an exception:\n{payload}")
    return payload


def measure(fit: Callable[..., Any], setup: Callable[[], Any] | None = None, *,
            memory: str = "tracemalloc", isolate: bool = False,
            timeout: float = 600.0) -> Measurement:
    """Seconds and peak memory of ``fit(setup())`` (or ``fit()`` without ``setup``).

    ``setup`` (e.g. generating the data) runs first and is not measured; its result is
    passed to ``fit``. Returns a :class:`Measurement`.

    What ``peak_bytes`` counts, by ``memory``:

    * ``"tracemalloc"`` (portable): the peak of the memory allocated through Python's
      allocators during the fit, above what they held when it started. NumPy and SciPy
      report their array buffers there, so this is the fit's peak of Python objects and
      arrays. It does **not** see memory that C++ libraries allocate themselves: TensorFlow's
      tensors and kernels, OpenBLAS/LAPACK work space. Tracing also slows Python-heavy code
      (every allocation is recorded), so its seconds are a little pessimistic.
    * ``"rss"`` (Linux): how far the process's resident set rose above its size at the
      start: the kernel's peak resident size (``VmHWM``, reset through
      ``/proc/self/clear_refs`` just before the fit) minus the resident size then
      (``VmRSS``). It counts everything: TensorFlow, BLAS, every thread. Before the fit,
      free memory that the C allocator still holds is returned to the kernel (glibc's
      ``malloc_trim``), so the fit cannot reuse it unseen; pools that libraries keep for
      themselves (TensorFlow's, Python's small-object arenas) can still be reused, so the
      figure is a lower bound, tightest in a fresh process (``isolate=True``).

    ``isolate=True`` runs ``setup`` and ``fit`` in a fresh Python process (``spawn``),
    alone, and waits at most ``timeout`` seconds (then kills it and raises ``TimeoutError``).
    The measurement is cleaner, but each call pays the interpreter's start and the imports
    (a few seconds with TensorFlow): right for a benchmark, too slow for a chapter. ``fit``
    and ``setup`` must then be picklable: module-level functions or ``functools.partial``
    of them. An exception in the child is raised here as ``RuntimeError`` with its traceback.
    """
    if not callable(fit):
        raise ValueError(f"fit must be a function, got {type(fit).__name__}")
    if setup is not None and not callable(setup):
        raise ValueError(f"setup must be a function or None, got {type(setup).__name__}")
    if memory not in MEMORY_METHODS:
        raise ValueError(f"memory must be one of {MEMORY_METHODS}, got {memory!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if memory == "rss":
        _check_rss_supported()
    if isolate:
        return _measure_isolated(fit, setup, memory, float(timeout))
    argument = setup() if setup is not None else None
    return _measure_here(fit, argument, setup is not None, memory)


# --------------------------------------------------------------------------------------------
# Sweeps
# --------------------------------------------------------------------------------------------


class _Bound:
    """``function(size)`` as a picklable argument-free callable (a lambda would not pickle)."""

    def __init__(self, function, size):
        self.function, self.size = function, size

    def __call__(self):
        return self.function(self.size)


def cost_sweep(fit: Callable[[Any], Any], data: Callable[[int], Any], sizes: Sequence[int],
               *, model: str, variable: str, repeats: int = 3, memory: str = "tracemalloc",
               isolate: bool = False, timeout: float = 600.0) -> pd.DataFrame:
    """Measure ``fit(data(size))`` for each size, ``repeats`` times each.

    ``data(size)`` makes the input of one fit (e.g. a seeded synthetic frame with ``size``
    interactions); it is not measured. In this process it is called once per size and its
    result shared by the repeats (``fit`` must not modify it); with ``isolate`` each fresh
    process calls it. ``model`` and
    ``variable`` (the name of what ``size`` counts: ``"n_items"``, ``"n_interactions"``,
    ``"n_factors"``...) label the rows. ``memory``, ``isolate``, ``timeout``: as
    :func:`measure`.

    Returns a DataFrame with one row per run: ``model``, ``variable``, ``size`` (int),
    ``repeat`` (0-based), ``seconds``, ``cpu_seconds``, ``peak_bytes``, ``memory``, sizes in
    the given order.
    """
    sizes = [_check_size(size) for size in np.atleast_1d(np.asarray(sizes, dtype=object))]
    if not sizes:
        raise ValueError("sizes is empty: give at least one size")
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if not callable(data):
        raise ValueError(f"data must be a function of the size, got {type(data).__name__}")
    rows = []
    for size in sizes:
        # In this process the data are made once per size and shared by its repeats; a fresh
        # process (isolate) must make them itself.
        setup = _Bound(data, size) if isolate else functools.partial(_same, data(size))
        for repeat in range(int(repeats)):
            cost = measure(fit, setup, memory=memory, isolate=isolate, timeout=timeout)
            rows.append({"model": model, "variable": variable, "size": size,
                         "repeat": repeat, "seconds": cost.seconds,
                         "cpu_seconds": cost.cpu_seconds,
                         "peak_bytes": cost.peak_bytes, "memory": cost.memory})
    return pd.DataFrame(rows)


def _same(value):
    return value


def _check_size(size) -> int:
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) \
            or size < 1:
        raise ValueError(f"every size must be a positive integer, got {size!r}")
    return int(size)


_SWEEP_COLUMNS = ("model", "variable", "size", "seconds", "peak_bytes")
_COSTS = ("seconds", "cpu_seconds", "peak_bytes")


def summarize_sweep(sweep: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, variable, size) of a :func:`cost_sweep` frame.

    ``seconds`` (and ``cpu_seconds``, where present) is the **fastest** repeat: the
    machine's other work (other processes, the garbage collector, caches still cold) only
    ever adds time, so the minimum is the estimate least disturbed by it. ``peak_bytes`` is
    the **largest** repeat: in-process measurements can only under-count (memory reused
    from an earlier fit). ``repeats`` counts the runs.
    """
    missing = [c for c in _SWEEP_COLUMNS if c not in getattr(sweep, "columns", ())]
    if missing:
        raise ValueError(f"sweep must be a cost_sweep frame; it lacks the columns {missing}")
    if len(sweep) == 0:
        raise ValueError("sweep is empty")
    extra = {"cpu_seconds": ("cpu_seconds", "min")} if "cpu_seconds" in sweep.columns else {}
    return (sweep.groupby(["model", "variable", "size"], sort=False)
            .agg(seconds=("seconds", "min"), **extra, peak_bytes=("peak_bytes", "max"),
                 repeats=("seconds", "size"))
            .reset_index())


def sweep_slopes(sweep: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The log–log slope of each cost against size, per (model, variable).

    ``sweep`` is a :func:`cost_sweep` frame (summarized first, see :func:`summarize_sweep`)
    or a summary. Returns rows ``model``, ``variable``, ``cost`` (``"seconds"``,
    ``"cpu_seconds"`` where present, ``"peak_bytes"``), ``slope``, ``low``, ``high`` (the
    ``confidence`` interval), ``n`` (sizes), ``smallest``, ``largest``. A cost with a zero
    at some size (e.g. no traced memory) gets NaN: a power law cannot fit it.
    """
    summary = summarize_sweep(sweep) if "repeat" in sweep.columns else sweep
    rows = []
    for (model, variable), group in summary.groupby(["model", "variable"], sort=False):
        for cost in [c for c in _COSTS if c in summary.columns]:
            row = {"model": model, "variable": variable, "cost": cost, "n": len(group),
                   "smallest": int(group["size"].min()), "largest": int(group["size"].max())}
            values = group[cost].to_numpy(dtype=float)
            if len(group) >= 2 and np.all(values > 0) and group["size"].nunique() >= 2:
                law = fit_power_law(group["size"].to_numpy(), values, confidence)
                row |= {"slope": law.slope, "low": law.low, "high": law.high}
            else:
                row |= {"slope": math.nan, "low": math.nan, "high": math.nan}
            rows.append(row)
    columns = ["model", "variable", "cost", "slope", "low", "high", "n", "smallest", "largest"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------------
# Log–log slopes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerLaw:
    """``cost ≈ exp(intercept) · size ** slope``, fitted by least squares on logs.

    slope : the exponent; low, high : its ``confidence`` interval (t distribution with
        ``n − 2`` degrees of freedom; infinite with two points, where nothing is left to
        estimate the scatter from).
    intercept : natural log of the cost at size 1.
    n : number of points; residual_std : standard deviation of the log residuals
        (``√(RSS / (n − 2))``; NaN with two points).
    """

    slope: float
    intercept: float
    low: float
    high: float
    confidence: float
    n: int
    residual_std: float

    def predict(self, size):
        """The fitted cost at ``size`` (a positive number or array): ``e^intercept · sizeᵅ``.

        Extrapolating far beyond the measured sizes multiplies the slope's error: at ``k``
        times the largest size, an error ``δ`` in the slope is a factor ``k^δ`` in the cost.
        """
        values = np.asarray(size, dtype=float)
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"size must be positive and finite, got {size!r}")
        predicted = np.exp(self.intercept + self.slope * np.log(values))
        return float(predicted) if predicted.ndim == 0 else predicted


def _positive_vector(values, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers, got {values!r}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    bad = np.flatnonzero(~(np.isfinite(array) & (array > 0)))
    if len(bad):
        raise ValueError(f"{name} must be positive and finite (logs are taken); "
                         f"{name}[{bad[0]}] is {float(array[bad[0]]):g}")
    return array


def fit_power_law(sizes, costs, confidence: float = 0.95) -> PowerLaw:
    """The least-squares line through ``(log size, log cost)``: its slope, with an interval.

    ``sizes`` and ``costs``: 1-D, the same length (at least 2), positive and finite, with at
    least two distinct sizes. The interval is ``slope ± t_{(1+confidence)/2, n−2} · s /
    √Sxx`` (``s`` the residual standard deviation, ``Sxx`` the sum of squared deviations of
    log size): exact if the log residuals are independent and normal, and wide with few
    points, as it should be. Returns a :class:`PowerLaw`.
    """
    from scipy import stats  # SciPy's t quantiles; imported here to keep the import light

    x = np.log(_positive_vector(sizes, "sizes"))
    y = np.log(_positive_vector(costs, "costs"))
    if len(x) != len(y):
        raise ValueError(f"sizes has {len(x)} values but costs has {len(y)}")
    if len(x) < 2:
        raise ValueError(f"a slope needs at least 2 sizes, got {len(x)}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) \
            or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx <= 1e-24 * max(1.0, float(x @ x)):
        raise ValueError("sizes must hold at least two different values")
    slope = float(dx @ (y - y.mean())) / sxx
    intercept = float(y.mean() - slope * x.mean())
    n = len(x)
    if n == 2:
        return PowerLaw(slope, intercept, -math.inf, math.inf, float(confidence), n, math.nan)
    residuals = y - (intercept + slope * x)
    residual_std = math.sqrt(float(residuals @ residuals) / (n - 2))
    half_width = float(stats.t.ppf((1 + confidence) / 2, n - 2)) * residual_std / math.sqrt(sxx)
    return PowerLaw(slope, intercept, slope - half_width, slope + half_width,
                    float(confidence), n, residual_std)
