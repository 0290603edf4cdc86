"""How sure we are that one model beats another: paired intervals, paired tests, seed spreads.

Every leaderboard number comes from one test split of a few hundred users, so two models a
few thousandths apart may simply have drawn different luck. The book states "A beats B" only
when the interval for the difference A − B **excludes zero** (design.md, "Uncertainty").

* :func:`paired_bootstrap` — an interval for the mean difference of a per-user metric
  (NDCG@10, Recall@20, HR@10...) between two models scored on the *same* users. Pairing is
  what makes it sharp: a user whose test items are hard to find scores low under both
  models, so that difficulty cancels in the per-user difference ``a − b`` instead of
  swamping it. The interval is the percentile bootstrap: resample users with replacement,
  recompute the mean difference, and keep the middle ``confidence`` share of those means.
* :func:`paired_error_comparison` — the same for errors (a squared error per test rating),
  where the model with the *smaller* mean is ahead.
* :func:`paired_hit_test` — for hit/miss outcomes per user (did the next item make the top
  10, under SEQ): the exact McNemar test, which looks only at the users on whom the two
  models disagree, with the paired bootstrap interval for the difference of hit rates.
* :func:`compare_with_reference` — every model of a leaderboard against one reference model,
  each with its paired interval and a verdict, as a table.
* :func:`compare_pairs` and :func:`comparison_table` — chosen pairs of models, each compared
  by one of the paired tests above, and those comparisons as a table.
* :func:`seed_spread` and :func:`compare_over_seeds` — the mean ± standard deviation of a
  metric, or of a difference, over several split (or training) seeds. The bootstrap covers
  the choice of users; the spread over seeds shows how far the ordering seen on a single
  split can be trusted when the split itself is redrawn.
* :func:`mean_over_splits` — each user's metric averaged over several splits, so that one
  paired bootstrap can speak for all of them with each user counted once.

:class:`Comparison` holds a paired result and turns it into a verdict and a sentence;
:class:`Spread` holds a spread over seeds. Pure NumPy / SciPy / pandas: no models, no
TensorFlow, and no use of the global random state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from recsys_lab.validation import SEED, integer, real

__all__ = [
    "Comparison",
    "Spread",
    "compare_over_seeds",
    "compare_pairs",
    "compare_with_reference",
    "comparison_table",
    "in_words",
    "mean_over_splits",
    "paired_bootstrap",
    "paired_error_comparison",
    "paired_hit_test",
    "rows_with_verdict",
    "seed_spread",
]

#: At most this many resampled indices are held in memory at once (40 MB of int64).
_MAX_INDICES = 5_000_000

#: Negative numbers in sentences and tables are typeset with a minus sign, not a hyphen.
_MINUS = "\N{MINUS SIGN}"

_N_RESAMPLES = integer(100)
_CONFIDENCE = real(0, 1, low_open=True, high_open=True)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def _number(value: float, digits: int, minus: str = "-") -> str:
    """``value`` with ``digits`` decimals; a value that rounds to zero loses its sign."""
    text = f"{value:.{digits}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace("-", minus)


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of models A and B on the same ``n`` units (users).

    Attributes
    ----------
    mean_a, mean_b : the mean metric of each model over the units.
    difference : ``mean(a − b)``, positive when A scores higher.
    low, high : the ``confidence`` interval for ``difference``.
    confidence : e.g. ``0.95``.
    n : the number of paired units.
    p_value : a paired test's two-sided p-value (McNemar in :func:`paired_hit_test`), or
        ``None``. The verdict is read from the interval, not from the p-value.

    "Ahead" means a larger mean. For a metric where smaller is better (a squared error),
    compare the negated values, or read "a ahead" as "A has the larger error".
    """

    mean_a: float
    mean_b: float
    difference: float
    low: float
    high: float
    confidence: float
    n: int
    p_value: float | None = None

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely on one side of zero."""
        return self.low > 0 or self.high < 0

    @property
    def verdict(self) -> str:
        """``"a ahead"`` (interval above 0), ``"b ahead"`` (below 0) or ``"indistinguishable"``."""
        if self.low > 0:
            return "a ahead"
        if self.high < 0:
            return "b ahead"
        return "indistinguishable"

    def leader(self, name_a: str, name_b: str) -> str:
        """The verdict in names: ``name_a`` or ``name_b``, whichever is ahead, or
        ``"indistinguishable"``."""
        return {"a ahead": name_a, "b ahead": name_b}.get(self.verdict, "indistinguishable")

    def describe(self, name_a: str, name_b: str, digits: int = 3, unit: str = "users") -> str:
        """The comparison as one English sentence, for a chapter's prose.

        E.g. ``"EASE is ahead of LightGCN by 0.012 (95% interval 0.004 to 0.020, 943 users)"``
        or ``"EASE and LightGCN are indistinguishable on this data: difference 0.002 (95%
        interval −0.006 to 0.010, 943 users)"``. When B is ahead, the sentence names B
        first and gives B − A. Numbers have ``digits`` decimals (with a typographic minus);
        ``unit`` names what was paired; a p-value, when there is one, is appended.
        """
        difference, low, high = self.difference, self.low, self.high
        if self.verdict == "b ahead":
            name_a, name_b = name_b, name_a
            difference, low, high = -difference, -high, -low

        def number(value: float) -> str:
            return _number(value, digits, _MINUS)

        details = (f"{self.confidence * 100:g}% interval {number(low)} to {number(high)}, "
                   f"{self.n:,} {unit}")
        if self.p_value is not None:
            details += (", p < 0.001" if self.p_value < 0.001
                        else f", p = {self.p_value:.2g}")
        if self.excludes_zero:
            return f"{name_a} is ahead of {name_b} by {number(difference)} ({details})"
        return (f"{name_a} and {name_b} are indistinguishable on this data: "
                f"difference {number(difference)} ({details})")

    def __str__(self) -> str:
        return (f"{_number(self.difference, 3, _MINUS)} "
                f"[{_number(self.low, 3, _MINUS)}, {_number(self.high, 3, _MINUS)}]")


@dataclass(frozen=True)
class Spread:
    """A metric's spread over ``n`` seeds.

    Attributes
    ----------
    mean : the mean over seeds.
    std : the sample standard deviation (``ddof=1``).
    n : the number of seeds (at least 2).
    stderr : the standard error of the mean, ``std / sqrt(n)``.
    """

    mean: float
    std: float
    n: int
    stderr: float

    def __str__(self) -> str:
        return f"{_number(self.mean, 3, _MINUS)} ± {_number(self.std, 3)} ({self.n} seeds)"


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _as_vector(values, name: str) -> np.ndarray:
    """``values`` as a non-empty 1-D float64 array of finite numbers (bools become 0/1)."""
    try:
        if isinstance(values, pd.Series):
            array = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            array = np.asarray(values)
            if array.dtype == object:
                array = array.astype(float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a 1-D array of numbers: {error}") from None
    if array.ndim != 1:
        what = "a scalar" if array.ndim == 0 else f"an array of shape {array.shape}"
        raise ValueError(f"{name} must be a 1-D array of numbers, one per unit, got {what}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: it needs at least one value")
    if array.dtype != bool and not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    array = array.astype(float)
    if not np.all(np.isfinite(array)):
        bad = int((~np.isfinite(array)).sum())
        raise ValueError(f"{name} has {bad} NaN or infinite value(s)")
    return array


def _align(a, b, names: tuple[str, str]) -> tuple[object, object]:
    """Two Series reordered to the same index; anything else is returned unchanged."""
    if not (isinstance(a, pd.Series) and isinstance(b, pd.Series)):
        return a, b
    for series, name in ((a, names[0]), (b, names[1])):
        if not series.index.is_unique:
            repeated = int(series.index.duplicated().sum())
            raise ValueError(f"{name} has {repeated} repeated index label(s): a Series must "
                             "hold one value per unit")
    only_a = a.index.difference(b.index)
    only_b = b.index.difference(a.index)
    if len(only_a) or len(only_b):
        raise ValueError(f"{names[0]} and {names[1]} must be indexed by the same units: "
                         f"{len(only_a)} only in {names[0]}, {len(only_b)} only in {names[1]}")
    return a, b.reindex(a.index)


def _paired(a, b, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` as equal-length float arrays, one value per unit, units aligned."""
    a, b = _align(a, b, names)
    a, b = _as_vector(a, names[0]), _as_vector(b, names[1])
    if len(a) != len(b):
        raise ValueError(f"{names[0]} and {names[1]} must hold one value per unit for the "
                         f"same units: {names[0]} has {len(a)}, {names[1]} has {len(b)}")
    return a, b


def _check_settings(n_resamples, confidence, seed) -> None:
    _N_RESAMPLES.check("n_resamples", n_resamples)
    _CONFIDENCE.check("confidence", confidence)
    SEED.check("seed", seed)


# --------------------------------------------------------------------------------------------
# Paired comparisons
# --------------------------------------------------------------------------------------------


def _bootstrap_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """The means of ``n_resamples`` resamples (with replacement) of ``values``, shape
    ``(n_resamples,)``; indices are drawn in chunks of at most ``_MAX_INDICES`` (or one row)."""
    rng = np.random.default_rng(seed)
    n = len(values)
    centre = values.mean()
    deviations = values - centre  # exact zeros when every value is equal
    rows = max(1, _MAX_INDICES // n)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = deviations[indices].mean(axis=1)
    return centre + means


def paired_bootstrap(
    a,
    b,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """The percentile-bootstrap interval for the mean of ``a − b`` over paired units.

    Parameters
    ----------
    a, b : 1-D array-likes of equal length ``n``: a per-unit metric (e.g. each user's NDCG@10)
        of models A and B, entry ``i`` of both belonging to the same unit. If both are
        pandas Series they are aligned on their index (e.g. the ``user`` index of
        :func:`recsys_lab.evaluate.per_user_metrics`), which must hold the same units;
        otherwise they are paired by position.
    n_resamples : how many bootstrap resamples of the ``n`` units (an integer ≥ 100).
    confidence : the interval's coverage, in ``(0, 1)``.
    seed : seeds the resampling's own generator; the global random state is not touched,
        and the same seed gives the same result.

    Returns
    -------
    Comparison
        ``difference = mean(a − b)``; ``low``/``high`` are the ``(1 − confidence) / 2`` and
        ``(1 + confidence) / 2`` quantiles of the resampled mean differences.

    Raises
    ------
    ValueError
        If an input is empty, not 1-D, not numeric or holds NaN / infinite values, if the
        lengths (or the index sets of two Series) differ, or if a setting is out of range.
    """
    _check_settings(n_resamples, confidence, seed)
    a, b = _paired(a, b, ("a", "b"))
    means = _bootstrap_means(a - b, n_resamples, seed)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Comparison(mean_a=float(a.mean()), mean_b=float(b.mean()),
                      difference=float((a - b).mean()), low=float(low), high=float(high),
                      confidence=float(confidence), n=len(a))


def _mcnemar_p_value(hits_a: np.ndarray, hits_b: np.ndarray) -> float:
    """Exact two-sided McNemar p-value: a binomial test (p = ½) on the discordant pairs."""
    only_a = int(np.sum((hits_a == 1) & (hits_b == 0)))
    only_b = int(np.sum((hits_a == 0) & (hits_b == 1)))
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def paired_error_comparison(errors_a, errors_b, **settings) -> Comparison:
    """:func:`paired_bootstrap` for errors, where lower is better (e.g. each test rating's
    squared error, whose mean is the MSE).

    The comparison is of the negated errors, so ``verdict`` "a ahead" means A's mean error
    is smaller, and ``difference`` (with ``low`` and ``high``) is how much smaller:
    ``mean(errors_b) − mean(errors_a)``. Series stay aligned on their index, as in
    :func:`paired_bootstrap`, which also takes ``settings`` (``n_resamples``,
    ``confidence``, ``seed``) and raises on the same bad input.
    """
    def negated(errors):
        return -errors if isinstance(errors, pd.Series) else -np.asarray(errors, dtype=float)

    return paired_bootstrap(negated(errors_a), negated(errors_b), **settings)


def paired_hit_test(
    hits_a,
    hits_b,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare two models' hit/miss outcomes on the same units: McNemar plus an interval.

    Parameters
    ----------
    hits_a, hits_b : 1-D array-likes of 0/1 (or bools) of equal length ``n``, e.g. whether
        each user's next item made each model's top 10 (SEQ). Two Series are aligned on
        their index, as in :func:`paired_bootstrap`.
    confidence, n_resamples, seed : as in :func:`paired_bootstrap`.

    Returns
    -------
    Comparison
        ``mean_a``/``mean_b`` are the hit rates, ``low``/``high`` the paired bootstrap interval
        for their difference, and ``p_value`` the exact McNemar test: a two-sided binomial
        test that the users hit by only one model split evenly between the two (``1.0`` when
        there are no such users). The verdict comes from the interval.

    Raises
    ------
    ValueError
        As :func:`paired_bootstrap`, and if a value is neither 0 nor 1.
    """
    _check_settings(n_resamples, confidence, seed)
    hits_a, hits_b = _paired(hits_a, hits_b, ("hits_a", "hits_b"))
    for values, name in ((hits_a, "hits_a"), (hits_b, "hits_b")):
        binary = (values == 0) | (values == 1)
        if not binary.all():
            raise ValueError(f"{name} must hold 0/1 (hit or miss) outcomes, got "
                             f"{int((~binary).sum())} other value(s) such as "
                             f"{float(values[~binary][0]):g}")
    comparison = paired_bootstrap(hits_a, hits_b, n_resamples=n_resamples,
                                  confidence=confidence, seed=seed)
    return replace(comparison, p_value=_mcnemar_p_value(hits_a, hits_b))


def compare_with_reference(
    values: Mapping,
    reference: str,
    *,
    lower_is_better: bool = False,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Each model's paired interval against one reference model: a leaderboard's uncertainty.

    Parameters
    ----------
    values : ``{model name: per-unit metric}``, every model scored on the same units (e.g.
        each test user's NDCG@10, or each test rating's squared error), as in
        :func:`paired_bootstrap` (Series are aligned on their index). Must include
        ``reference``.
    reference : the name of the model every other one is compared with.
    lower_is_better : whether a smaller metric is better (an error), which decides the
        verdict's direction only.
    n_resamples, confidence, seed : as in :func:`paired_bootstrap` (the same seed for every
        model).

    Returns
    -------
    DataFrame indexed by model name, in the order of ``values``, with columns
    ``difference`` (mean of the model's metric minus the reference's, in the metric's own
    units), ``low`` and ``high`` (the paired bootstrap interval for it) and ``verdict``:
    ``"better"`` or ``"worse"`` than the reference when the interval excludes zero,
    ``"indistinguishable"`` otherwise, and ``"reference"`` on the reference's own row
    (difference and interval exactly 0).

    Raises
    ------
    ValueError
        If ``reference`` is not among ``values``, or as :func:`paired_bootstrap`.
    """
    if reference not in values:
        raise ValueError(f"reference {reference!r} is not among the models: {list(values)}")
    rows = {}
    for name, model_values in values.items():
        if name == reference:
            rows[name] = (0.0, 0.0, 0.0, "reference")
            continue
        comparison = paired_bootstrap(model_values, values[reference],
                                      n_resamples=n_resamples, confidence=confidence,
                                      seed=seed)
        ahead = {"a ahead": "better", "b ahead": "worse"}.get(comparison.verdict,
                                                              "indistinguishable")
        if lower_is_better and ahead != "indistinguishable":
            ahead = "worse" if ahead == "better" else "better"
        rows[name] = (comparison.difference, comparison.low, comparison.high, ahead)
    return pd.DataFrame.from_dict(rows, orient="index",
                                  columns=["difference", "low", "high", "verdict"])


def compare_pairs(values: Mapping, pairs, test=paired_bootstrap,
                  **settings) -> dict[tuple[str, str], Comparison]:
    """Each pair ``(a, b)`` of ``pairs`` compared by ``test(values[a], values[b])``.

    Parameters
    ----------
    values : ``{model name: per-unit metric}``, every model scored on the same units, as in
        :func:`compare_with_reference`.
    pairs : an iterable of ``(a, b)`` name pairs, each compared as A − B.
    test : :func:`paired_bootstrap` (the default, for a per-user metric),
        :func:`paired_error_comparison` (for errors, lower is better) or
        :func:`paired_hit_test` (for hits).
    settings : passed to ``test`` (``n_resamples``, ``confidence``, ``seed``).

    Returns
    -------
    dict ``{(a, b): Comparison}`` in the order of ``pairs``.

    Raises
    ------
    ValueError
        If a name of a pair is not among ``values``, or as ``test``.
    """
    comparisons = {}
    for pair in pairs:
        a, b = pair
        missing = [name for name in (a, b) if name not in values]
        if missing:
            raise ValueError(f"no per-unit values for {in_words(map(repr, missing))} of pair "
                             f"{pair!r}; the models are {list(values)}")
        comparisons[a, b] = test(values[a], values[b], **settings)
    return comparisons


def comparison_table(comparisons: Mapping) -> pd.DataFrame:
    """``{(a, b): Comparison}`` (e.g. from :func:`compare_pairs`) as a table.

    One row per pair, indexed by ``A`` and ``B``, with the difference A − B and its
    interval (``str`` of the :class:`Comparison`), a ``p-value`` column when every
    comparison has one (:func:`paired_hit_test`), and the verdict in names
    (:meth:`Comparison.leader`). The interval's column names its confidence, which must be
    the same for every pair.
    """
    if not comparisons:
        raise ValueError("comparisons is empty: there is nothing to tabulate")
    confidences = {comparison.confidence for comparison in comparisons.values()}
    if len(confidences) > 1:
        raise ValueError(f"the comparisons have different confidences {sorted(confidences)}: "
                         "one table needs one")
    interval = f"A {_MINUS} B [{confidences.pop() * 100:g}% interval]"
    with_p = all(comparison.p_value is not None for comparison in comparisons.values())
    rows = []
    for (a, b), comparison in comparisons.items():
        row = {"A": a, "B": b, interval: str(comparison)}
        if with_p:
            row["p-value"] = comparison.p_value
        rows.append(row | {"verdict": comparison.leader(a, b)})
    return pd.DataFrame(rows).set_index(["A", "B"])


def in_words(names) -> str:
    """Names as a sentence lists them: ``"A"``, ``"A and B"``, ``"A, B and C"``."""
    names = [str(name) for name in names]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def rows_with_verdict(versus: pd.DataFrame, verdict: str) -> str:
    """The rows of a :func:`compare_with_reference` table with ``verdict``, in words, in
    the table's order; ``"none"`` when there are none."""
    rows = list(versus.index[versus["verdict"] == verdict])
    return in_words(rows) if rows else "none"


# --------------------------------------------------------------------------------------------
# Spreads over seeds
# --------------------------------------------------------------------------------------------


def _spread(values: np.ndarray) -> Spread:
    std = float(np.std(values, ddof=1))
    return Spread(mean=float(values.mean()), std=std, n=len(values),
                  stderr=std / math.sqrt(len(values)))


def seed_spread(values) -> Spread:
    """Mean and sample standard deviation of one metric measured under several seeds.

    ``values`` is a 1-D list, array or Series (its index is ignored) of at least 2 finite
    numbers, one per seed. ``str()`` of the result reads e.g. ``"0.420 ± 0.020 (3 seeds)"``.
    """
    values = _as_vector(values, "values")
    if len(values) < 2:
        raise ValueError(f"values must hold at least 2 seeds' results to measure a spread, "
                         f"got {len(values)}")
    return _spread(values)


def compare_over_seeds(a_by_seed, b_by_seed) -> Spread:
    """The spread over seeds of the difference ``a − b`` between two models.

    ``a_by_seed`` and ``b_by_seed`` are equal-length 1-D sequences (at least 2 entries) of
    the per-seed means of models A and B, entry ``i`` of both measured under seed ``i``
    (two Series are aligned on their index, e.g. the seed). A mean difference that is large
    next to its ``std`` means A's lead does not depend on the split.
    """
    a, b = _paired(a_by_seed, b_by_seed, ("a_by_seed", "b_by_seed"))
    if len(a) < 2:
        raise ValueError(f"a_by_seed and b_by_seed must hold at least 2 seeds' results to "
                         f"measure a spread, got {len(a)}")
    return _spread(a - b)


def mean_over_splits(per_user_by_split) -> pd.Series:
    """Each user's metric averaged over the splits on which the user is a test user.

    ``per_user_by_split`` is an iterable of Series, one per split, each indexed by user
    (e.g. a column of :func:`recsys_lab.evaluate.per_user_metrics`). Two models' results,
    passed to :func:`paired_bootstrap`, then give one interval for all the splits in which
    a user counts once: concatenating the splits instead would count a user once per split
    and resample copies of one person as if they were independent, making the interval too
    narrow. Returns a Series indexed by user, sorted.
    """
    series = list(per_user_by_split)
    if not series:
        raise ValueError("per_user_by_split is empty: give one Series per split")
    for position, values in enumerate(series):
        if not isinstance(values, pd.Series):
            raise ValueError(f"per_user_by_split[{position}] must be a pandas Series indexed "
                             f"by user, got {type(values).__name__}")
        if values.index.has_duplicates:
            raise ValueError(f"per_user_by_split[{position}] lists a user twice: one value "
                             "per user and split")
        _as_vector(values, f"per_user_by_split[{position}]")
    return pd.concat(series).groupby(level=0).mean()
