"""How much privacy DP-SGD spends: the Rényi-DP accountant of the sampled Gaussian mechanism.

One step of DP-SGD samples each example with probability ``q`` (Poisson sampling), sums the
clipped per-example gradients (each of norm at most ``C``) and adds Gaussian noise of
standard deviation ``σ C`` (``σ`` is the *noise multiplier*). Mironov, Talwar & Zhang (2019,
"Rényi differential privacy of the sampled Gaussian mechanism", section 3.3) show that for
an integer order ``α ≥ 2`` one step is ``(α, ε_α)``-Rényi-DP with

    ε_α = log A_α / (α − 1),
    A_α = Σ_{k=0}^{α} C(α, k) (1 − q)^{α−k} q^k exp((k² − k) / (2σ²)),

(with ``q = 1`` the sum keeps its last term and ``ε_α = α / (2σ²)``, the plain Gaussian
mechanism). Rényi-DP composes by addition, so ``T`` steps are ``(α, T ε_α)``-RDP, and an
RDP guarantee converts to ``(ε, δ)``-DP by the bound of Canonne, Kamath & Steinke (2020) and
Balle et al. (2020), minimised over the orders:

    ε = min_α  T ε_α + log((α − 1) / α) − (log δ + log α) / (α − 1).

This is what Google's ``dp-accounting`` (``RdpAccountant``) computes for these orders; the
book implements it here so that it needs no extra package, and the tests compare the two.
Integer orders only (the bound holds for each order; more orders can only lower ε a little).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln, logsumexp

__all__ = ["DEFAULT_ORDERS", "dp_sgd_epsilon", "epsilon_from_rdp", "noise_for_epsilon",
           "rdp_sampled_gaussian"]

#: The integer Rényi orders the accountant minimises over.
DEFAULT_ORDERS = tuple(range(2, 257))


def _check_probability(q) -> float:
    if isinstance(q, bool) or not isinstance(q, (int, float, np.number)) or not 0 <= q <= 1:
        raise ValueError(f"sampling_rate must be a probability in [0, 1], got {q!r}")
    return float(q)


def _check_non_negative(value, name: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
            or not value >= 0 or math.isinf(value)):
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")
    return float(value)


def _check_orders(orders) -> np.ndarray:
    array = np.asarray(orders)
    if (array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.number)
            or np.any(array != np.round(array)) or np.any(array < 2)):
        raise ValueError(f"orders must be a non-empty 1-D sequence of integers ≥ 2 (this "
                         f"accountant is exact for integer Rényi orders), got {orders!r}")
    return array.astype(np.int64)


def _check_delta(delta) -> float:
    if isinstance(delta, bool) or not isinstance(delta, (int, float, np.number)) or (
            not 0 < delta < 1):
        raise ValueError(f"delta must lie strictly between 0 and 1, got {delta!r}")
    return float(delta)


def rdp_sampled_gaussian(sampling_rate: float, noise_multiplier: float,
                         orders=DEFAULT_ORDERS) -> np.ndarray:
    """The Rényi-DP ``ε_α`` of **one** step of the sampled Gaussian mechanism, per order.

    Parameters
    ----------
    sampling_rate : float
        ``q`` in ``[0, 1]``, the probability that an example is in a step's batch.
    noise_multiplier : float
        ``σ ≥ 0``: the noise's standard deviation divided by the clipping norm.
    orders : sequence of int
        Rényi orders ``α ≥ 2``.

    Returns
    -------
    ndarray, shape ``(len(orders),)``
        ``ε_α`` for each order: 0 when ``q = 0``, infinite when ``σ = 0`` and ``q > 0``.
    """
    q = _check_probability(sampling_rate)
    sigma = _check_non_negative(noise_multiplier, "noise_multiplier")
    orders = _check_orders(orders)
    if q == 0:
        return np.zeros(len(orders))
    if sigma == 0:
        return np.full(len(orders), np.inf)
    if q == 1:
        return orders / (2 * sigma ** 2)
    result = np.empty(len(orders))
    for n, alpha in enumerate(orders):
        k = np.arange(alpha + 1)
        log_terms = (gammaln(alpha + 1) - gammaln(k + 1) - gammaln(alpha - k + 1)
                     + (alpha - k) * math.log1p(-q) + k * math.log(q)
                     + (k * k - k) / (2 * sigma ** 2))
        result[n] = logsumexp(log_terms) / (alpha - 1)
    return result


def epsilon_from_rdp(rdp, orders, delta: float) -> tuple[float, int]:
    """Convert a composed Rényi-DP curve into ``(ε, δ)``-DP: the smallest ε over the orders.

    ``rdp`` holds ``ε_α`` for each of ``orders`` (after composition, e.g. ``T`` times one
    step's). Returns ``(ε, best order)``; ε is never negative.
    """
    orders = _check_orders(orders)
    rdp = np.asarray(rdp, dtype=float)
    if rdp.shape != orders.shape:
        raise ValueError(f"rdp has shape {rdp.shape} but orders has shape {orders.shape}: "
                         "one ε_α per order")
    if np.any(np.isnan(rdp)) or np.any(rdp < 0):
        raise ValueError("rdp must hold non-negative numbers (one ε_α per order)")
    delta = _check_delta(delta)
    with np.errstate(invalid="ignore"):
        epsilons = (rdp + np.log1p(-1.0 / orders)
                    - (math.log(delta) + np.log(orders)) / (orders - 1))
    best = int(np.argmin(epsilons))
    return max(float(epsilons[best]), 0.0), int(orders[best])


def dp_sgd_epsilon(noise_multiplier: float, sampling_rate: float, steps: int, delta: float,
                   orders=DEFAULT_ORDERS) -> float:
    """The ``ε`` of ``steps`` steps of DP-SGD with Poisson sampling at ``(ε, delta)``-DP.

    Infinite when ``noise_multiplier`` is 0 (no noise: no guarantee at all); 0 when nothing
    touches the data (no step, or ``sampling_rate`` 0).
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a whole number ≥ 0, got {steps!r}")
    _check_delta(delta)
    if steps == 0 or _check_probability(sampling_rate) == 0:
        return 0.0
    rdp = int(steps) * rdp_sampled_gaussian(sampling_rate, noise_multiplier, orders)
    if np.all(np.isinf(rdp)):
        return math.inf
    return epsilon_from_rdp(rdp, orders, delta)[0]


def noise_for_epsilon(epsilon: float, sampling_rate: float, steps: int, delta: float,
                      orders=DEFAULT_ORDERS, tolerance: float = 1e-3) -> float:
    """The smallest noise multiplier ``σ`` whose DP-SGD run stays within ``(epsilon, delta)``.

    Bisection on ``σ`` (ε falls as ``σ`` grows), to a relative ``tolerance``; the ``σ``
    returned meets the budget.
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.number)) or (
            not 0 < epsilon < math.inf):
        raise ValueError(f"epsilon must be a positive finite number, got {epsilon!r}")

    def spent(sigma):
        return dp_sgd_epsilon(sigma, sampling_rate, steps, delta, orders)

    low, high = 0.0, 1.0
    while spent(high) > epsilon:
        low, high = high, 2 * high
        if high > 1e6:
            raise ValueError(f"no noise multiplier below 1e6 reaches ε = {epsilon}")
    while high - low > tolerance * high:
        middle = (low + high) / 2
        low, high = (middle, high) if spent(middle) > epsilon else (low, middle)
    return high
