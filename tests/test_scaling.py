"""Measuring how a fit's cost grows: slopes, intervals, predictions, measurements, sweeps."""

import functools
import math
import sys

import numpy as np
import pandas as pd
import pytest

from recsys_lab.scaling import (
    PowerLaw,
    cost_sweep,
    fit_power_law,
    measure,
    summarize_sweep,
    sweep_slopes,
)

LINUX = sys.platform.startswith("linux")


@pytest.mark.parametrize("slope", [0.5, 1.0, 2.0, 3.0])
def test_exact_power_law_recovers_slope_and_prefactor(slope):
    sizes = np.array([500, 1000, 2000, 4000])
    law = fit_power_law(sizes, 3e-9 * sizes ** slope)
    assert law.slope == pytest.approx(slope, abs=1e-10)
    assert math.exp(law.intercept) == pytest.approx(3e-9, rel=1e-8)
    assert law.low == pytest.approx(slope, abs=1e-8) and law.high == pytest.approx(slope, abs=1e-8)
    assert law.n == 4 and law.residual_std == pytest.approx(0.0, abs=1e-10)


def test_prediction_extrapolates_the_fitted_law():
    sizes = np.array([500.0, 1000.0, 2000.0, 4000.0])
    law = fit_power_law(sizes, 2e-9 * sizes ** 3)
    # Three doublings from 2,500 items at slope 3: 2³ each, 512 in all.
    assert law.predict(20_000) == pytest.approx(law.predict(2_500) * 512, rel=1e-9)
    assert law.predict(20_000) == pytest.approx(2e-9 * 20_000 ** 3, rel=1e-9)
    np.testing.assert_allclose(law.predict([1000, 8000]), 2e-9 * np.array([1e3, 8e3]) ** 3)
    with pytest.raises(ValueError, match="size must be positive"):
        law.predict(0)


def test_noisy_interval_covers_the_truth_and_has_its_coverage():
    rng = np.random.default_rng(1)
    sizes = np.geomspace(1e5, 1e7, 6)
    law = fit_power_law(sizes, 1e-6 * sizes ** 1.2 * np.exp(rng.normal(0, 0.1, 6)))
    assert law.low < 1.2 < law.high and law.high - law.low < 0.3
    assert law.slope != pytest.approx(1.2, abs=1e-6)  # the noise moved it; the interval holds
    # Over many seeded noisy fits, a 90% interval misses the truth about 10% of the time.
    covered = []
    for _ in range(400):
        costs = 1e-6 * sizes ** 1.2 * np.exp(rng.normal(0, 0.2, 6))
        fit = fit_power_law(sizes, costs, confidence=0.9)
        covered.append(fit.low < 1.2 < fit.high)
    assert 0.85 < np.mean(covered) < 0.95


def test_two_points_give_a_slope_but_no_interval():
    law = fit_power_law([10, 100], [1.0, 100.0])
    assert law.slope == pytest.approx(2.0)
    assert law.low == -math.inf and law.high == math.inf and math.isnan(law.residual_std)
    assert isinstance(law, PowerLaw)


@pytest.mark.parametrize(("sizes", "costs", "message"), [
    ([10], [1.0], "at least 2 sizes"),
    ([10, 20, 40], [1.0, 2.0], "sizes has 3 values but costs has 2"),
    ([10, 0, 40], [1.0, 2.0, 3.0], r"sizes must be positive.*sizes\[1\] is 0"),
    ([10, 20, 40], [1.0, -2.0, 3.0], r"costs must be positive.*costs\[1\] is -2"),
    ([10, 20], [1.0, np.nan], r"costs\[1\] is nan"),
    ([10, 10, 10], [1.0, 2.0, 3.0], "at least two different"),
    ([[10, 20]], [[1.0, 2.0]], "one-dimensional"),
    (["a", "b"], [1.0, 2.0], "sizes must be numbers"),
])
def test_bad_inputs_are_named(sizes, costs, message):
    with pytest.raises(ValueError, match=message):
        fit_power_law(sizes, costs)


def test_bad_confidence_is_named():
    with pytest.raises(ValueError, match=r"confidence must be a number in \(0, 1\)"):
        fit_power_law([1, 2, 3], [1, 2, 3], confidence=95)


def _allocate(n_bytes):
    block = np.ones(n_bytes // 8)  # written, so every page is touched
    return float(block[-1])


def test_tracemalloc_sees_an_allocation_of_known_size():
    small = measure(functools.partial(_allocate, 1_000_000))
    large = measure(functools.partial(_allocate, 40_000_000))
    assert small.seconds > 0 and small.cpu_seconds > 0 and small.memory == "tracemalloc"
    assert 1_000_000 <= small.peak_bytes < 1_200_000
    assert 40_000_000 <= large.peak_bytes < 40_200_000


def test_setup_is_passed_on_and_not_measured():
    # setup allocates 40 MB and the fit nothing new: the fit's peak stays small.
    cost = measure(lambda block: float(block.sum()), setup=lambda: np.ones(5_000_000))
    assert cost.peak_bytes < 1_000_000


@pytest.mark.skipif(not LINUX, reason="memory='rss' reads Linux's /proc")
def test_rss_and_isolated_measurements_see_the_allocation():
    here = measure(functools.partial(_allocate, 80_000_000), memory="rss")
    assert here.memory == "rss" and here.peak_bytes >= 70_000_000
    alone = measure(functools.partial(_allocate, 80_000_000), memory="rss", isolate=True,
                    timeout=60)
    assert alone.seconds > 0 and 78_000_000 <= alone.peak_bytes < 120_000_000


def test_an_isolated_failure_is_reported_with_its_cause():
    with pytest.raises(RuntimeError, match="negative dimensions"):
        measure(functools.partial(np.ones, -1), isolate=True, timeout=60)


def test_measure_rejects_bad_arguments():
    with pytest.raises(ValueError, match="fit must be a function"):
        measure(3)
    with pytest.raises(ValueError, match="memory must be one of"):
        measure(lambda: None, memory="psutil")
    with pytest.raises(ValueError, match="timeout must be a positive"):
        measure(lambda: None, timeout=0)


def _quadratic_work(size):
    return np.ones((size, size))


def test_sweep_is_tidy_and_its_summary_keeps_the_fastest_time():
    sweep = cost_sweep(np.linalg.norm, _quadratic_work, [200, 400, 800], model="norm",
                       variable="n", repeats=2)
    assert list(sweep.columns) == ["model", "variable", "size", "repeat", "seconds",
                                   "cpu_seconds", "peak_bytes", "memory"]
    assert list(sweep["size"]) == [200, 200, 400, 400, 800, 800]
    assert (sweep["seconds"] > 0).all()
    summary = summarize_sweep(sweep)
    assert list(summary["size"]) == [200, 400, 800] and (summary["repeats"] == 2).all()
    assert summary["seconds"].tolist() == sweep.groupby("size")["seconds"].min().tolist()


def test_sweep_slopes_fit_each_model_and_cost():
    rows = [{"model": m, "variable": "n", "size": n, "repeat": r,
             "seconds": c * n ** k * (1 + r), "peak_bytes": 8 * n ** 2, "memory": "rss"}
            for m, c, k in (("cubic", 1e-9, 3), ("linear", 1e-6, 1))
            for n in (100, 200, 400) for r in (0, 1)]
    slopes = sweep_slopes(pd.DataFrame(rows)).set_index(["model", "cost"])
    assert slopes.loc[("cubic", "seconds"), "slope"] == pytest.approx(3.0)
    assert slopes.loc[("linear", "seconds"), "slope"] == pytest.approx(1.0)
    assert slopes.loc[("linear", "peak_bytes"), "slope"] == pytest.approx(2.0)
    assert slopes.loc[("cubic", "seconds"), "n"] == 3


def test_sweep_rejects_bad_sizes_and_frames():
    with pytest.raises(ValueError, match="every size must be a positive integer"):
        cost_sweep(np.linalg.norm, _quadratic_work, [10, 0], model="m", variable="n")
    with pytest.raises(ValueError, match="repeats must be a positive integer"):
        cost_sweep(np.linalg.norm, _quadratic_work, [10], model="m", variable="n", repeats=0)
    with pytest.raises(ValueError, match="lacks the columns"):
        summarize_sweep(pd.DataFrame({"size": [1]}))
