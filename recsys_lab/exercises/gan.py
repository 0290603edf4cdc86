"""Checks for chapter 8's exercises: the GAN value at the optimal discriminator, the
generator's gradient through the discriminator's logit, and CFGAN's negative-item masks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys_lab.exercises import (
    Feedback,
    _as_float_arrays,
    _as_number,
    _grader,
    _not_a_function,
    _parts_found,
    _show,
)
from recsys_lab.exercises import as_float_array as _as_float_array
from recsys_lab.exercises import call_safely as _call_safely


def _reference_gan_value(p, q):
    p, q = np.asarray(p, float), np.asarray(q, float)
    mixture = p + q
    with np.errstate(divide="ignore", invalid="ignore"):
        real = np.where(p > 0, p * np.log(p / mixture), 0.0)
        fake = np.where(q > 0, q * np.log(q / mixture), 0.0)
    return float(real.sum() + fake.sum())


_VALUE_CASES = [
    ([0.5, 0.5], [0.5, 0.5]),
    ([0.9, 0.1], [0.1, 0.9]),
    ([1.0, 0.0], [0.0, 1.0]),
    ([0.2, 0.3, 0.5], [0.5, 0.3, 0.2]),
    ([0.7, 0.2, 0.1, 0.0], [0.25, 0.25, 0.25, 0.25]),
]


@_grader
def check_gan_value(function: Callable) -> Feedback:
    """Grade ``function(p_data, p_model) -> float``: ``V(D*, G)`` for two discrete distributions.

    ``V = Σ_x p_data(x) log D*(x) + Σ_x p_model(x) log(1 − D*(x))`` with the optimal
    discriminator ``D* = p_data / (p_data + p_model)``; terms with zero probability count 0.
    """
    if (not_a_function := _not_a_function("gan_value", function)) is not None:
        return not_a_function
    for p, q in _VALUE_CASES:
        expected = _reference_gan_value(p, q)
        got, error = _call_safely(function, np.array(p), np.array(q))
        if error:
            return Feedback(False, f"gan_value({p}, {q}) raised {error}. Hint: skip the terms "
                                   "where a probability is 0 (0 · log 0 counts as 0).")
        number = _as_number(got)
        if number is None:
            return Feedback(False, f"gan_value({p}, {q}) returned {_show(got)}, not a number")
        got = number
        if not np.isclose(got, expected, atol=1e-8):
            hint = ("when p_data = p_model the value is −log 4 ≈ −1.386"
                    if p == q else "D*(x) = p_data(x) / (p_data(x) + p_model(x)); weight "
                    "log D* by p_data and log(1 − D*) by p_model, then add.")
            return Feedback(False, f"gan_value({p}, {q}) returned {got:.4f}, expected "
                                   f"{expected:.4f}. Hint: {hint}")
    return Feedback(True, "correct: the value is −log 4 exactly when the two distributions are "
                          "equal, and −log 4 + 2·JSD otherwise.")


def _reference_logit_gradients(logit):
    d = 1.0 / (1.0 + np.exp(-np.asarray(logit, float)))
    return -d, -(1.0 - d)


@_grader
def check_logit_gradients(function: Callable) -> Feedback:
    """Grade ``function(logits) -> (saturating, non_saturating)``.

    For the discriminator's logit ``t`` on generated samples, the derivatives of the
    generator's two losses with respect to ``t``: ``d/dt log(1 − σ(t)) = −σ(t)`` and
    ``d/dt (−log σ(t)) = −(1 − σ(t))``, element-wise, each of the shape of ``logits``.
    """
    if (not_a_function := _not_a_function("logit_gradients", function)) is not None:
        return not_a_function
    logits = np.array([-8.0, -2.0, 0.0, 1.5, 6.0])
    got, error = _call_safely(function, logits.copy())
    if error:
        return Feedback(False, f"your function raised {error}")
    pair = _as_float_arrays(got, 2)
    if pair is None:
        return Feedback(False, "return a pair (saturating, non_saturating) of arrays, got "
                               f"{_parts_found(got)}")
    saturating, non_saturating = pair
    expected_sat, expected_non = _reference_logit_gradients(logits)
    for name, value, expected in (("saturating", saturating, expected_sat),
                                  ("non_saturating", non_saturating, expected_non)):
        if value.shape != logits.shape:
            return Feedback(False, f"{name} has shape {value.shape}; expected {logits.shape}, "
                                   "one derivative per logit")
        if not np.allclose(value, expected, atol=1e-6):
            wrong = int(np.flatnonzero(~np.isclose(value, expected, atol=1e-6))[0])
            return Feedback(False, f"{name} at logit {logits[wrong]} is {value[wrong]:.4f}, "
                                   f"expected {expected[wrong]:.4f}. Hint: σ'(t) = σ(t)(1 − σ(t)); "
                                   "mind the sign: both losses are minimised by G.")
    return Feedback(True, f"correct: at logit −8 (a confident discriminator) the saturating "
                          f"loss passes on {abs(expected_sat[0]):.5f}, the non-saturating one "
                          f"{abs(expected_non[0]):.5f}.")


@_grader
def check_negative_mask(function: Callable) -> Feedback:
    """Grade ``function(purchases, ratio, rng) -> mask`` (CFGAN's ZR / PM sampling).

    ``purchases`` is a 0/1 array ``(n_users, n_items)``; the mask must be 0/1 of the same
    shape, 0 wherever the user interacted, and pick each other item with probability
    ``ratio`` using ``rng`` (a NumPy ``Generator``), so that two calls give different masks.
    """
    if (not_a_function := _not_a_function("negative_mask", function)) is not None:
        return not_a_function
    data_rng = np.random.default_rng(0)
    purchases = (data_rng.random((60, 400)) < 0.1).astype(float)
    negatives = purchases == 0
    masks = []
    for ratio in (0.0, 0.3, 0.3, 1.0):
        rng = np.random.default_rng(len(masks))
        got, error = _call_safely(function, purchases.copy(), ratio, rng)
        if error:
            return Feedback(False, f"your function raised {error}")
        mask = _as_float_array(got)
        if mask is None:
            return Feedback(False, f"the mask should be an array of 0s and 1s of shape "
                                   f"{purchases.shape}, got {_show(got)}")
        if mask.shape != purchases.shape:
            return Feedback(False, f"the mask has shape {mask.shape}; expected "
                                   f"{purchases.shape}, one entry per user and item")
        if not np.isin(mask, (0, 1)).all():
            return Feedback(False, "the mask must hold only 0s and 1s")
        if mask[~negatives].any():
            return Feedback(False, "the mask picks items the user interacted with; only items "
                                   "with purchases == 0 may be sampled")
        share = mask[negatives].mean()
        if abs(share - ratio) > 0.02:
            return Feedback(False, f"with ratio={ratio} the mask picks {share:.1%} of the "
                                   "non-interacted items; expected about "
                                   f"{ratio:.0%}. Hint: draw a uniform number per entry.")
        masks.append(mask)
    if np.array_equal(masks[1], masks[2]):
        return Feedback(False, "two calls with different random generators returned the same "
                               "mask: sample with the rng you are given")
    return Feedback(True, "correct: a fresh random set of negatives at every call, none of them "
                          "a real interaction.")
