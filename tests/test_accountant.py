"""The RDP accountant of the sampled Gaussian mechanism, against closed forms worked by hand
and against Google's dp-accounting."""

import math

import numpy as np
import pytest

from recsys_lab.accountant import (
    DEFAULT_ORDERS,
    dp_sgd_epsilon,
    epsilon_from_rdp,
    noise_for_epsilon,
    rdp_sampled_gaussian,
)


def test_without_sampling_it_is_the_gaussian_mechanism():
    # q = 1: every step sees every example, ε_α = α / (2σ²).
    assert rdp_sampled_gaussian(1.0, 2.0, [2, 3, 10]).tolist() == [0.25, 0.375, 1.25]


def test_order_two_by_hand():
    # A_2 = (1 − q)² + 2q(1 − q) + q² e^{1/σ²} = 1 + q² (e^{1/σ²} − 1).
    q, sigma = 0.1, 1.0
    expected = math.log(1 + q * q * (math.e - 1))          # 0.0170369...
    assert rdp_sampled_gaussian(q, sigma, [2])[0] == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.01703686, rel=1e-6)


def test_order_three_by_hand():
    q, sigma = 0.2, 2.0
    e1, e3 = math.exp(2 / (2 * sigma ** 2)), math.exp(6 / (2 * sigma ** 2))
    a3 = (1 - q) ** 3 + 3 * (1 - q) ** 2 * q + 3 * (1 - q) * q ** 2 * e1 + q ** 3 * e3
    assert rdp_sampled_gaussian(q, sigma, [3])[0] == pytest.approx(math.log(a3) / 2, rel=1e-12)


def test_edges():
    assert rdp_sampled_gaussian(0.0, 1.0, [2, 5]).tolist() == [0.0, 0.0]
    assert np.isinf(rdp_sampled_gaussian(0.5, 0.0, [2])).all()
    assert dp_sgd_epsilon(0.0, 0.1, 10, 1e-5) == math.inf
    assert dp_sgd_epsilon(1.0, 0.1, 0, 1e-5) == 0.0


def test_conversion_by_hand():
    # One order α = 2, RDP 1, δ = e^{-10}: ε = 1 + log(1/2) − (−10 + log 2) / 1.
    epsilon, order = epsilon_from_rdp([1.0], [2], math.exp(-10))
    assert order == 2
    assert epsilon == pytest.approx(11 - 2 * math.log(2), rel=1e-12)


def test_more_noise_or_fewer_steps_spend_less():
    base = dp_sgd_epsilon(1.0, 0.01, 1000, 1e-5)
    assert dp_sgd_epsilon(2.0, 0.01, 1000, 1e-5) < base
    assert dp_sgd_epsilon(1.0, 0.01, 100, 1e-5) < base
    assert dp_sgd_epsilon(1.0, 0.001, 1000, 1e-5) < base


# ε for (σ, q, steps, δ) from dp-accounting 0.6.0's RdpAccountant with the same integer
# orders 2..256 (PoissonSampledDpEvent(q, GaussianDpEvent(σ)) composed `steps` times),
# computed outside the book's environment: dp-accounting ≥ 0.3 needs attrs < 24 and
# absl-py ~= 1.0, which the pinned stack does not allow.
DP_ACCOUNTING = [
    # (noise_multiplier, sampling_rate, steps, delta, epsilon)
    (1.1, 256 / 60000, 14062, 1e-5, 2.5969811785948815),   # Abadi et al.'s MNIST setting
    (0.8, 0.02, 500, 1e-5, 5.397018914477776),
    (1.2, 0.02, 500, 1e-5, 2.1868525462515143),
    (3.0, 0.1, 50, 1e-6, 1.2295665431558618),
    (0.6, 0.02, 500, 1e-5, 13.134215510130371),
    (4.0, 0.02, 500, 1e-5, 0.44098332606220425),
    (1.0, 1.0, 10, 1e-5, 19.801691480042894),              # no sampling
]


@pytest.mark.parametrize("sigma, q, steps, delta, expected", DP_ACCOUNTING)
def test_agrees_with_dp_accounting(sigma, q, steps, delta, expected):
    assert dp_sgd_epsilon(sigma, q, steps, delta) == pytest.approx(expected, rel=1e-10)


def test_agrees_with_dp_accounting_when_installed():
    dp_accounting = pytest.importorskip("dp_accounting")
    for sigma, q, steps in ((1.1, 256 / 60000, 14062), (0.8, 0.02, 500), (3.0, 0.1, 50)):
        accountant = dp_accounting.rdp.RdpAccountant(list(DEFAULT_ORDERS))
        accountant.compose(dp_accounting.PoissonSampledDpEvent(
            q, dp_accounting.GaussianDpEvent(sigma)), steps)
        assert dp_sgd_epsilon(sigma, q, steps, 1e-5) == pytest.approx(
            accountant.get_epsilon(1e-5), rel=1e-6)


def test_noise_for_epsilon_meets_the_budget_and_no_less_noise_does():
    sigma = noise_for_epsilon(2.0, 0.01, 1000, 1e-5, tolerance=1e-4)
    assert dp_sgd_epsilon(sigma, 0.01, 1000, 1e-5) <= 2.0
    assert dp_sgd_epsilon(sigma * (1 - 2e-4), 0.01, 1000, 1e-5) > 2.0


@pytest.mark.parametrize("call, fragment", [
    (lambda: rdp_sampled_gaussian(1.5, 1.0), "sampling_rate"),
    (lambda: rdp_sampled_gaussian(0.1, -1.0), "noise_multiplier"),
    (lambda: rdp_sampled_gaussian(0.1, 1.0, [1]), "orders"),
    (lambda: rdp_sampled_gaussian(0.1, 1.0, [2.5]), "orders"),
    (lambda: epsilon_from_rdp([1.0], [2], 0.0), "delta"),
    (lambda: epsilon_from_rdp([1.0, 2.0], [2], 1e-5), "one ε_α per order"),
    (lambda: dp_sgd_epsilon(1.0, 0.1, -1, 1e-5), "steps"),
    (lambda: noise_for_epsilon(0.0, 0.1, 10, 1e-5), "epsilon"),
])
def test_bad_input_is_named(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call()
