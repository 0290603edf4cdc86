"""Group gaps (recsys_lab.fairness): the unpaired bootstrap and the group table."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab.fairness import group_gaps, unpaired_bootstrap


def test_unpaired_bootstrap_of_constant_groups_is_exact():
    result = unpaired_bootstrap([1.0, 1.0, 1.0], [0.0, 0.0])
    assert (result.difference, result.low, result.high) == (1.0, 1.0, 1.0)
    assert result.verdict == "a ahead" and result.n == 5


def test_unpaired_bootstrap_covers_the_difference_and_is_seeded():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.5, 1, 200), rng.normal(0.4, 1, 150)
    first = unpaired_bootstrap(a, b, seed=1)
    assert first == unpaired_bootstrap(a, b, seed=1)
    assert first.difference == pytest.approx(a.mean() - b.mean())
    assert first.low < first.difference < first.high
    # Each group's spread adds: the interval is about ±1.96·sqrt(1/200 + 1/150) wide.
    assert first.high - first.low == pytest.approx(2 * 1.96 * np.sqrt(1 / 200 + 1 / 150),
                                                   rel=0.2)


def test_unpaired_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        unpaired_bootstrap([1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        unpaired_bootstrap([1.0, np.nan], [0.0, 1.0])
    with pytest.raises(ValueError, match="n_resamples"):
        unpaired_bootstrap([1.0, 2.0], [0.0, 1.0], n_resamples=10)


def test_group_gaps_table():
    values = pd.Series([1.0, 1.0, 0.0, 0.0], index=[10, 11, 12, 13])
    groups = pd.Series(["F", "F", "M", "M", "M"], index=[10, 11, 12, 13, 14])
    table = group_gaps(values, groups)
    assert table.loc["F", ["users", "mean", "gap"]].tolist() == [2, 1.0, 1.0]
    assert table.loc["M", "gap"] == -1.0
    assert table["verdict"].tolist() == ["above", "below"]
    with pytest.raises(ValueError, match="no label"):
        group_gaps(values, groups.drop(13))
    with pytest.raises(ValueError, match="at least 2 groups"):
        group_gaps(values, pd.Series("F", index=values.index))
