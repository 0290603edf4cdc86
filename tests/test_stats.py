"""Paired intervals, McNemar and seed spreads against cases worked out by hand."""

import math
import random

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from recsys_lab import stats
from recsys_lab.stats import Comparison, Spread


def _noisy_differences(mean: float, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, 0.1, size=n)


# --------------------------------------------------------------------------------------------
# paired_bootstrap
# --------------------------------------------------------------------------------------------


def test_identical_models_have_a_zero_interval():
    a = np.random.default_rng(1).random(50)
    result = stats.paired_bootstrap(a, a.copy())
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert result.mean_a == result.mean_b == pytest.approx(a.mean())
    assert (result.n, result.confidence, result.p_value) == (50, 0.95, None)
    assert not result.excludes_zero
    assert result.verdict == "indistinguishable"


def test_a_constant_shift_gives_exactly_that_interval():
    b = np.random.default_rng(2).random(30)
    result = stats.paired_bootstrap(b + 0.1, b)
    assert result.difference == pytest.approx(0.1, abs=1e-12)
    assert result.low == pytest.approx(0.1, abs=1e-12)
    assert result.high == pytest.approx(0.1, abs=1e-12)
    assert result.excludes_zero and result.verdict == "a ahead"
    assert "ahead" in result.describe("EASE", "ItemKNN")
    assert stats.paired_bootstrap(b, b + 0.1).verdict == "b ahead"


def test_four_users_by_hand():
    # Differences [1, 0, 0, 0]: each resampled mean is (number of 1s drawn) / 4, with the
    # number of 1s ~ Binomial(4, 1/4): P(0) = (3/4)^4 = 0.316 > 0.025, so the 2.5% quantile
    # is 0; P(≤ 2) = 0.949 < 0.975 < P(≤ 3) = 0.996, so the 97.5% quantile is 3/4.
    result = stats.paired_bootstrap([1.0, 0.0, 0.0, 0.0], [0.0] * 4, n_resamples=20_000)
    assert result.difference == 0.25
    assert result.low == 0.0
    assert result.high == 0.75
    assert result.verdict == "indistinguishable"


def test_a_clear_difference_is_found_and_covered():
    differences = _noisy_differences(0.05, 2000, seed=3)
    result = stats.paired_bootstrap(differences, np.zeros(2000))
    assert result.excludes_zero and result.verdict == "a ahead"
    assert result.low < 0.05 < result.high


def test_no_difference_gives_an_interval_around_zero():
    differences = _noisy_differences(0.0, 2000, seed=4)
    result = stats.paired_bootstrap(differences, np.zeros(2000))
    assert result.low < 0 < result.high
    assert result.verdict == "indistinguishable"


def test_pairing_cancels_the_users_difficulty():
    # Users differ a lot in difficulty (sd 0.3) but A is ahead of B by 0.02 ± 0.01 per user.
    rng = np.random.default_rng(5)
    difficulty = rng.normal(0.4, 0.3, size=500)
    a = difficulty + 0.02 + rng.normal(0, 0.01, size=500)
    result = stats.paired_bootstrap(a, difficulty)
    assert result.verdict == "a ahead"
    assert result.high - result.low < 0.01


def test_the_interval_narrows_as_one_over_root_n():
    widths = {}
    for n in (400, 1600):
        result = stats.paired_bootstrap(_noisy_differences(0.0, n, seed=6), np.zeros(n))
        widths[n] = result.high - result.low
    assert 1.6 < widths[400] / widths[1600] < 2.4


def test_bootstrap_standard_error_matches_the_formula():
    differences = _noisy_differences(0.0, 5000, seed=7)
    result = stats.paired_bootstrap(differences, np.zeros(5000), n_resamples=5000)
    bootstrap_se = (result.high - result.low) / (2 * 1.96)
    assert bootstrap_se == pytest.approx(differences.std(ddof=1) / math.sqrt(5000), rel=0.1)


def test_confidence_sets_the_width():
    differences = _noisy_differences(0.0, 1000, seed=8)
    wide = stats.paired_bootstrap(differences, np.zeros(1000), confidence=0.99)
    narrow = stats.paired_bootstrap(differences, np.zeros(1000), confidence=0.5)
    assert narrow.high - narrow.low < wide.high - wide.low
    assert narrow.confidence == 0.5


def test_the_seed_decides_and_the_global_random_state_is_untouched():
    a, b = _noisy_differences(0.01, 300, seed=9), np.zeros(300)
    random.seed(11)
    np.random.seed(11)
    python_state, numpy_state = random.getstate(), np.random.get_state()[1].copy()
    first = stats.paired_bootstrap(a, b, seed=3)
    assert stats.paired_bootstrap(a, b, seed=3) == first
    other = stats.paired_bootstrap(a, b, seed=4)
    assert (other.low, other.high) != (first.low, first.high)
    stats.paired_hit_test(a > 0, b > 0, seed=3)
    assert random.getstate() == python_state
    assert (np.random.get_state()[1] == numpy_state).all()


def test_resampling_in_chunks_keeps_every_resample(monkeypatch):
    a, b = _noisy_differences(0.0, 100, seed=10), np.zeros(100)
    whole = stats.paired_bootstrap(a, b, n_resamples=250)
    monkeypatch.setattr(stats, "_MAX_INDICES", 100 * 7)  # 7 resamples per chunk
    chunked = stats.paired_bootstrap(a, b, n_resamples=250)
    assert chunked.difference == whole.difference
    assert chunked.low == pytest.approx(whole.low, abs=0.03)
    assert chunked.high == pytest.approx(whole.high, abs=0.03)
    means = stats._bootstrap_means(a, 250, seed=0)
    assert means.shape == (250,) and np.isfinite(means).all()


def test_series_are_aligned_on_their_index():
    rng = np.random.default_rng(12)
    users = pd.Index(np.arange(100, 300), name="user")
    a = pd.Series(rng.random(200), index=users)
    b = pd.Series(rng.random(200), index=users)
    shuffled = b.sample(frac=1.0, random_state=0)
    assert not shuffled.index.equals(b.index)
    assert stats.paired_bootstrap(a, shuffled) == stats.paired_bootstrap(
        a.to_numpy(), b.to_numpy())


def test_series_with_different_users_are_refused():
    a = pd.Series([0.1, 0.2, 0.3, 0.4], index=[0, 1, 2, 3])
    b = pd.Series([0.1, 0.2, 0.3, 0.4, 0.5], index=[0, 1, 2, 5, 6])
    with pytest.raises(ValueError, match="1 only in a, 2 only in b"):
        stats.paired_bootstrap(a, b)
    repeated = pd.Series([0.1, 0.2, 0.3, 0.4], index=[0, 1, 1, 3])
    with pytest.raises(ValueError, match="b has 1 repeated index"):
        stats.paired_bootstrap(a, repeated)


@pytest.mark.parametrize(("a", "b", "message"), [
    ([1.0, 2.0], [1.0, 2.0, 3.0], "a has 2, b has 3"),
    ([], [], "a is empty"),
    ([1.0, 2.0], [], "b is empty"),
    ([1.0, np.nan], [1.0, 2.0], "a has 1 NaN or infinite"),
    ([1.0, 2.0], [np.inf, 2.0], "b has 1 NaN or infinite"),
    ([1.0, None], [1.0, 2.0], "a has 1 NaN"),
    ([[1.0, 2.0]], [[1.0, 2.0]], r"a must be a 1-D array .* shape \(1, 2\)"),
    (1.0, 2.0, "a must be a 1-D array .* a scalar"),
    (["x", "y"], [1.0, 2.0], "a must hold numbers"),
    ([1.0, 2.0], pd.Series([1.0, None]), "b has 1 NaN"),
    ([1.0, 2.0], pd.Series(["x", "y"]), "b must be a 1-D array of numbers"),
])
def test_paired_bootstrap_rejects_bad_values(a, b, message):
    with pytest.raises(ValueError, match=message):
        stats.paired_bootstrap(a, b)


@pytest.mark.parametrize(("settings", "message"), [
    ({"n_resamples": 99}, "n_resamples must be an integer ≥ 100, got 99"),
    ({"n_resamples": 1000.0}, "n_resamples must be an integer"),
    ({"n_resamples": True}, "n_resamples must be an integer"),
    ({"confidence": 0.0}, "confidence must be a number > 0 and < 1, got 0.0"),
    ({"confidence": 1}, "confidence must be a number > 0 and < 1, got 1"),
    ({"confidence": 95}, "confidence must be .* got 95"),
    ({"confidence": np.nan}, "confidence must be"),
    ({"seed": -1}, "seed must be an integer ≥ 0, got -1"),
])
def test_settings_are_checked(settings, message):
    for test in (stats.paired_bootstrap, stats.paired_hit_test):
        with pytest.raises(ValueError, match=message):
            test([0, 1, 1], [1, 0, 1], **settings)


# --------------------------------------------------------------------------------------------
# Comparison: verdict and words
# --------------------------------------------------------------------------------------------


def _comparison(difference, low, high, **fields):
    return Comparison(mean_a=0.443, mean_b=0.443 - difference, difference=difference,
                      low=low, high=high, confidence=0.95, n=943, **fields)


def test_describe_a_lead():
    assert _comparison(0.012, 0.004, 0.020).describe("EASE", "LightGCN") == (
        "EASE is ahead of LightGCN by 0.012 (95% interval 0.004 to 0.020, 943 users)")


def test_describe_names_the_leader_first_when_b_is_ahead():
    comparison = _comparison(-0.012, -0.020, -0.004)
    assert comparison.verdict == "b ahead"
    assert comparison.describe("EASE", "LightGCN") == (
        "LightGCN is ahead of EASE by 0.012 (95% interval 0.004 to 0.020, 943 users)")


def test_describe_a_tie_with_a_typographic_minus_and_a_unit():
    comparison = _comparison(0.002, -0.006, 0.010)
    assert comparison.describe("EASE", "LightGCN") == (
        "EASE and LightGCN are indistinguishable on this data: difference 0.002 "
        "(95% interval \N{MINUS SIGN}0.006 to 0.010, 943 users)")
    assert comparison.describe("A", "B", digits=2, unit="sessions").endswith(
        "(95% interval \N{MINUS SIGN}0.01 to 0.01, 943 sessions)")


def test_describe_appends_a_p_value():
    assert _comparison(0.3, 0.1, 0.5, p_value=0.109375).describe("A", "B").endswith(
        ", 943 users, p = 0.11)")
    assert _comparison(0.3, 0.1, 0.5, p_value=1e-5).describe("A", "B").endswith(
        ", p < 0.001)")


def test_an_interval_touching_zero_is_not_a_lead():
    assert _comparison(0.01, 0.0, 0.02).verdict == "indistinguishable"
    assert _comparison(-0.01, -0.02, 0.0).verdict == "indistinguishable"
    assert not _comparison(0.01, 0.0, 0.02).excludes_zero


def test_str_gives_the_difference_and_interval():
    assert str(_comparison(0.012, 0.004, 0.020)) == "0.012 [0.004, 0.020]"
    assert str(_comparison(0.0001, -0.0002, 0.0123)) == "0.000 [0.000, 0.012]"
    minus = "\N{MINUS SIGN}"  # typeset, not a hyphen
    assert str(_comparison(-0.01, -0.0204, 0.0)) == f"{minus}0.010 [{minus}0.020, 0.000]"


def test_results_are_frozen():
    with pytest.raises(AttributeError):
        _comparison(0.1, 0.0, 0.2).low = 1.0  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# paired_hit_test
# --------------------------------------------------------------------------------------------


def _hits(both: int, only_a: int, only_b: int, neither: int) -> tuple[list[int], list[int]]:
    hits_a = [1] * both + [1] * only_a + [0] * only_b + [0] * neither
    hits_b = [1] * both + [0] * only_a + [1] * only_b + [0] * neither
    return hits_a, hits_b


def test_mcnemar_by_hand():
    # 10 discordant users, 8 for A and 2 for B: p = 2 (C(10,0) + C(10,1) + C(10,2)) / 2^10.
    hits_a, hits_b = _hits(both=5, only_a=8, only_b=2, neither=5)
    result = stats.paired_hit_test(hits_a, hits_b)
    assert result.p_value == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert result.p_value == pytest.approx(0.109375)
    assert result.p_value == pytest.approx(binomtest(2, 10, 0.5).pvalue)
    assert (result.mean_a, result.mean_b, result.n) == (13 / 20, 7 / 20, 20)
    assert result.difference == pytest.approx(0.3)
    interval = stats.paired_bootstrap(hits_a, hits_b)
    assert (result.low, result.high) == (interval.low, interval.high)


def test_mcnemar_is_symmetric_and_sees_only_discordant_users():
    hits_a, hits_b = _hits(both=5, only_a=8, only_b=2, neither=5)
    forward = stats.paired_hit_test(hits_a, hits_b).p_value
    assert stats.paired_hit_test(hits_b, hits_a).p_value == forward
    more_ties = _hits(both=500, only_a=8, only_b=2, neither=300)
    assert stats.paired_hit_test(*more_ties).p_value == pytest.approx(forward)


def test_no_discordant_users_gives_p_one():
    hits_a, hits_b = _hits(both=4, only_a=0, only_b=0, neither=6)
    result = stats.paired_hit_test(hits_a, hits_b)
    assert result.p_value == 1.0
    assert (result.low, result.high, result.verdict) == (0.0, 0.0, "indistinguishable")


def test_booleans_are_hits_too():
    hits_a, hits_b = _hits(both=3, only_a=4, only_b=1, neither=2)
    as_bools = stats.paired_hit_test(np.array(hits_a, bool), np.array(hits_b, bool))
    assert as_bools == stats.paired_hit_test(hits_a, hits_b)


def test_hit_series_are_aligned():
    hits_a, hits_b = _hits(both=3, only_a=4, only_b=1, neither=2)
    a = pd.Series(hits_a, index=range(10))
    b = pd.Series(hits_b, index=range(10))[::-1]
    assert stats.paired_hit_test(a, b) == stats.paired_hit_test(hits_a, hits_b)


@pytest.mark.parametrize(("hits_a", "hits_b", "message"), [
    ([0, 1, 2], [0, 1, 1], "hits_a must hold 0/1 .* 1 other value"),
    ([0, 1, 1], [0, 0.5, 1], "hits_b must hold 0/1 .* such as 0.5"),
    ([0, 1, np.nan], [0, 1, 1], "hits_a has 1 NaN"),
    ([0, 1], [0, 1, 1], "hits_a has 2, hits_b has 3"),
    ([], [], "hits_a is empty"),
])
def test_paired_hit_test_rejects_bad_values(hits_a, hits_b, message):
    with pytest.raises(ValueError, match=message):
        stats.paired_hit_test(hits_a, hits_b)


# --------------------------------------------------------------------------------------------
# Spreads over seeds
# --------------------------------------------------------------------------------------------


def test_seed_spread_by_hand():
    spread = stats.seed_spread([0.40, 0.42, 0.44])
    assert spread.mean == pytest.approx(0.42)
    assert spread.std == pytest.approx(0.02)  # sqrt((0.02² + 0 + 0.02²) / 2)
    assert spread.stderr == pytest.approx(0.02 / math.sqrt(3))
    assert spread.n == 3
    assert str(spread) == "0.420 ± 0.020 (3 seeds)"


def test_seed_spread_takes_arrays_and_series():
    expected = stats.seed_spread([0.40, 0.42, 0.44])
    assert stats.seed_spread(np.array([0.40, 0.42, 0.44])) == expected
    assert stats.seed_spread(pd.Series([0.40, 0.42, 0.44], index=[7, 8, 9])) == expected
    assert stats.seed_spread([1, 1]) == Spread(mean=1.0, std=0.0, n=2, stderr=0.0)


@pytest.mark.parametrize(("values", "message"), [
    ([0.4], "values must hold at least 2 seeds' results .* got 1"),
    ([], "values is empty"),
    ([0.4, np.nan, 0.5], "values has 1 NaN"),
    (pd.Series([0.4, None]), "values has 1 NaN"),
    ([[0.4, 0.5]], "values must be a 1-D array"),
])
def test_seed_spread_rejects_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        stats.seed_spread(values)


def test_compare_over_seeds_by_hand():
    spread = stats.compare_over_seeds([0.5, 0.6, 0.7], [0.4, 0.5, 0.6])
    assert spread.mean == pytest.approx(0.1)
    assert spread.std == pytest.approx(0.0, abs=1e-12)
    assert spread.n == 3
    swapped = stats.compare_over_seeds([0.40, 0.50], [0.42, 0.46])  # differences -0.02, 0.04
    assert swapped.mean == pytest.approx(0.01)
    assert swapped.std == pytest.approx(math.sqrt(2 * 0.03**2))


def test_compare_over_seeds_aligns_series_by_seed():
    a = pd.Series([0.5, 0.6, 0.7], index=[0, 1, 2])
    b = pd.Series([0.6, 0.4, 0.5], index=[2, 0, 1])
    assert stats.compare_over_seeds(a, b).mean == pytest.approx(0.1)


@pytest.mark.parametrize(("a", "b", "message"), [
    ([0.5, 0.6, 0.7], [0.4, 0.5], "a_by_seed has 3, b_by_seed has 2"),
    ([0.5], [0.4], "a_by_seed and b_by_seed must hold at least 2 .* got 1"),
    ([], [0.4], "a_by_seed is empty"),
    ([0.5, 0.6], [0.4, np.nan], "b_by_seed has 1 NaN"),
])
def test_compare_over_seeds_rejects_bad_values(a, b, message):
    with pytest.raises(ValueError, match=message):
        stats.compare_over_seeds(a, b)


def test_public_names():
    assert set(stats.__all__) == {"Comparison", "Spread", "paired_bootstrap",
                                  "paired_hit_test", "seed_spread", "compare_over_seeds",
                                  "compare_with_reference", "paired_error_comparison",
                                  "mean_over_splits", "in_words", "rows_with_verdict",
                                  "compare_pairs", "comparison_table"}


def test_describe_groups_thousands():
    from recsys_lab.stats import paired_bootstrap

    rng = np.random.default_rng(0)
    a = rng.random(20_000)
    sentence = paired_bootstrap(a, a + 1.0).describe("A", "B", unit="test ratings")
    assert sentence.endswith("20,000 test ratings)")


def test_compare_with_reference_by_hand():
    a = np.array([0.5, 0.6, 0.7, 0.8])
    values = {"A": a + 0.1, "Ref": a, "B": a - 0.2, "C": a + np.array([0.1, -0.1, 0.1, -0.1])}
    table = stats.compare_with_reference(values, "Ref")
    assert list(table.index) == ["A", "Ref", "B", "C"]
    assert list(table.columns) == ["difference", "low", "high", "verdict"]
    # A constant shift has exactly that interval.
    assert table.loc["A", ["difference", "low", "high"]].tolist() == pytest.approx([0.1] * 3)
    assert table.loc["B", "difference"] == pytest.approx(-0.2)
    assert table["verdict"].tolist() == ["better", "reference", "worse", "indistinguishable"]
    assert table.loc["Ref", ["difference", "low", "high"]].tolist() == [0.0, 0.0, 0.0]
    # Each row is the paired bootstrap of that model against the reference.
    c = stats.paired_bootstrap(values["C"], a)
    assert (table.loc["C", "low"], table.loc["C", "high"]) == (c.low, c.high)


def test_compare_with_reference_reads_errors_the_other_way():
    errors = np.array([1.0, 2.0, 3.0])
    table = stats.compare_with_reference({"low error": errors - 0.5, "ref": errors,
                                          "high error": errors + 0.5}, "ref",
                                         lower_is_better=True)
    assert table["verdict"].tolist() == ["better", "reference", "worse"]
    assert table.loc["low error", "difference"] == pytest.approx(-0.5)  # in the metric's units


def test_compare_with_reference_needs_the_reference():
    with pytest.raises(ValueError, match="reference 'EASE' is not among the models"):
        stats.compare_with_reference({"A": [1.0, 2.0]}, "EASE")
    with pytest.raises(ValueError, match="same units"):
        stats.compare_with_reference({"A": [1.0, 2.0], "B": [1.0]}, "B")


def test_paired_error_comparison_puts_the_smaller_error_ahead():
    errors_a = pd.Series([1.0, 0.0, 2.0, 1.0], index=[3, 1, 2, 0])
    errors_b = pd.Series([2.0, 1.0, 3.0, 2.0], index=[0, 1, 2, 3])  # aligned on the index
    comparison = stats.paired_error_comparison(errors_a, errors_b, n_resamples=500)
    assert comparison.verdict == "a ahead"
    assert comparison.difference == pytest.approx(1.0)  # mean(b) − mean(a)
    reverse = stats.paired_error_comparison(list(errors_b), list(errors_a), n_resamples=500)
    assert reverse.verdict == "b ahead" and reverse.difference == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        stats.paired_error_comparison([1.0, np.nan], [1.0, 2.0])


def test_mean_over_splits_averages_each_user_over_the_splits_they_are_tested_on():
    from recsys_lab.stats import mean_over_splits

    first = pd.Series([1.0, 0.0, 0.5], index=[0, 1, 2])
    second = pd.Series([0.0, 1.0], index=[2, 0])  # user 1 is not tested on this split
    pooled = mean_over_splits([first, second])
    pd.testing.assert_series_equal(pooled, pd.Series([1.0, 0.0, 0.25], index=[0, 1, 2]))
    assert mean_over_splits(iter([first])).equals(first)


@pytest.mark.parametrize("splits, fragment", [
    ([], "empty"),
    ([np.array([1.0, 2.0])], "pandas Series indexed by user"),
    ([pd.Series([1.0, 2.0], index=[3, 3])], "lists a user twice"),
    ([pd.Series([1.0, np.nan])], "NaN"),
])
def test_mean_over_splits_bad_input(splits, fragment):
    from recsys_lab.stats import mean_over_splits

    with pytest.raises(ValueError, match=fragment):
        mean_over_splits(splits)


def test_names_and_verdict_rows_read_as_a_sentence():
    from recsys_lab.stats import in_words, rows_with_verdict

    assert [in_words(n) for n in ([], ["A"], ["A", "B"], ["A", "B", "C"])] == [
        "", "A", "A and B", "A, B and C"]
    versus = pd.DataFrame({"verdict": ["reference", "better", "worse", "better"]},
                          index=["R", "X", "Y", "Z"])
    assert rows_with_verdict(versus, "better") == "X and Z"
    assert rows_with_verdict(versus, "indistinguishable") == "none"


def test_leader_names_the_model_ahead():
    ahead = stats.paired_bootstrap([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], n_resamples=200)
    level = stats.paired_bootstrap([1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], n_resamples=200)
    assert ahead.leader("A", "B") == "A" and ahead.leader("B", "A") == "B"
    negated = stats.paired_bootstrap([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], n_resamples=200)
    assert negated.leader("A", "B") == "B"
    assert level.leader("A", "B") == "indistinguishable"


def test_compare_pairs_runs_the_chosen_test_on_each_pair_in_order():
    a = np.array([0.5, 0.6, 0.7, 0.8])
    values = {"A": a + 0.1, "B": a, "C": a - 0.2}
    pairs = [("C", "A"), ("A", "B")]
    comparisons = stats.compare_pairs(values, pairs, n_resamples=300, seed=3)
    assert list(comparisons) == pairs
    assert comparisons["A", "B"] == stats.paired_bootstrap(values["A"], values["B"],
                                                           n_resamples=300, seed=3)
    errors = stats.compare_pairs(values, pairs, test=stats.paired_error_comparison)
    assert errors["A", "B"] == stats.paired_error_comparison(values["A"], values["B"])
    assert errors["A", "B"].verdict == "b ahead"  # A's larger values are larger errors
    hits = {"A": [1, 1, 0, 1], "B": [0, 1, 0, 0]}
    assert stats.compare_pairs(hits, [("A", "B")], test=stats.paired_hit_test)[
        "A", "B"].p_value == stats.paired_hit_test(hits["A"], hits["B"]).p_value
    assert stats.compare_pairs(values, []) == {}


def test_compare_pairs_names_a_missing_model():
    with pytest.raises(ValueError, match=r"no per-unit values for 'EASE' of pair \('A', "
                                         r"'EASE'\); the models are \['A', 'B'\]"):
        stats.compare_pairs({"A": [1.0, 2.0], "B": [1.0, 3.0]}, [("A", "B"), ("A", "EASE")])
    with pytest.raises(ValueError, match="same units"):
        stats.compare_pairs({"A": [1.0, 2.0], "B": [1.0]}, [("A", "B")])


def test_comparison_table_gives_each_pair_its_interval_and_leader():
    a = np.array([0.5, 0.6, 0.7, 0.8])
    comparisons = stats.compare_pairs({"A": a + 0.1, "B": a, "C": a - 0.2, "D": a[::-1]},
                                      [("A", "B"), ("C", "B"), ("D", "B")])
    table = stats.comparison_table(comparisons)
    assert table.index.names == ["A", "B"]
    assert list(table.index) == [("A", "B"), ("C", "B"), ("D", "B")]
    assert list(table.columns) == ["A \N{MINUS SIGN} B [95% interval]", "verdict"]
    assert table.iloc[0, 0] == "0.100 [0.100, 0.100]"
    assert table["verdict"].tolist() == ["A", "B", "indistinguishable"]
    hits = stats.compare_pairs({"A": [1, 1, 0, 1, 1], "B": [0, 1, 0, 0, 1]}, [("A", "B")],
                               test=stats.paired_hit_test)
    with_p = stats.comparison_table(hits)
    assert list(with_p.columns) == ["A \N{MINUS SIGN} B [95% interval]", "p-value", "verdict"]
    assert with_p.loc[("A", "B"), "p-value"] == hits["A", "B"].p_value == 0.5
    assert "p-value" not in stats.comparison_table({**hits, **comparisons})  # not every one
    narrower = {("A", "B"): stats.paired_bootstrap(a + 0.1, a, confidence=0.9)}
    assert stats.comparison_table(narrower).columns[0].endswith("[90% interval]")
    with pytest.raises(ValueError, match="different confidences"):
        stats.comparison_table({**comparisons, **{("A", "C"): narrower["A", "B"]}})
    with pytest.raises(ValueError, match="empty"):
        stats.comparison_table({})
