"""Biased matrix factorisation trained by DP-SGD: each rating is protected.

The model of :mod:`recsys_lab.models.mf` trained by DP-SGD (Abadi et al. 2016):
Poisson-sampled batches, every rating's gradient clipped to norm ``C``
(:func:`recsys_lab.privacy.clip_rows`), Gaussian noise of standard deviation ``σ C`` added to
the summed gradient of **every** parameter. The unit of privacy is one rating: the fitted
model is ``(ε, δ)``-DP with respect to adding or removing one rating, ``ε`` from
:mod:`recsys_lab.accountant`. Needs only NumPy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_lab.accountant import dp_sgd_epsilon
from recsys_lab.models.mf import _MatrixFactorization
from recsys_lab.privacy import clip_rows
from recsys_lab.scratch.mf import add_rows, predict_ratings
from recsys_lab.validation import NON_NEGATIVE, POSITIVE, SEED, integer, real

__all__ = ["DPSGDMatrixFactorization"]


class DPSGDMatrixFactorization(_MatrixFactorization):
    """Biased MF trained by DP-SGD, in NumPy: ``(ε, δ)``-DP for each rating.

    One step draws a Poisson batch (every training rating independently with probability
    ``sampling_rate`` = ``q``), computes each rating's gradient of its term of the objective
    of :mod:`recsys_lab.models.mf` with respect to ``[p_u, q_i, b_u, b_i]``, clips it to norm
    ``clip_norm`` = ``C`` (:func:`clip_rows`), sums, adds ``N(0, σ² C²)`` to every entry of
    every parameter array (``σ`` = ``noise_multiplier``; rows no rating touched get noise too,
    or the set of touched rows would leak) and takes a step of ``learning_rate`` times that
    noisy sum (the sum convention of :func:`recsys_lab.scratch.mf.sgd_step`). An epoch is
    ``round(1 / q)`` steps, so ``epochs`` epochs are ``T = epochs · round(1/q)`` steps and the
    model is ``(epsilon(delta), delta)``-DP by the accountant of the sampled Gaussian mechanism.

    The global mean ``μ`` would leak if computed from the ratings, so it is the public
    ``global_mean`` (the middle of MovieLens' 1–5 scale by default); predictions are clipped to
    the 1–5 scale, which is public too.

    Search (RATING validation split of :func:`recsys_lab.chapter.start_chapter` with seed 0,
    validation RMSE, one fit each, ``ε`` at ``δ = 1e-5``): the defaults 0.9652 (ε 3.15);
    ``learning_rate`` 0.02: 0.9941, 0.05: 1.1666; ``clip_norm`` 2: 0.9665, with
    ``learning_rate`` 0.02: 1.1397; ``l2 = l2_bias = 0``: 0.9675; ``n_factors`` 2: 0.9629;
    ``init_std`` 0.01: 0.9643; ``sampling_rate`` 0.1 with ``learning_rate`` 0.01: 0.9557 but
    ε 7.97 (more privacy spent). At the same ε no setting was better by more than 0.003, with
    no interval computed: the defaults are kept, not proven best. Biases alone: 0.9409.

    Parameters
    ----------
    n_factors : int
        ``d``.
    learning_rate : float
        The step size ``γ`` (applied to the noisy *sum* of clipped gradients).
    l2, l2_bias : float
        ``λ`` and ``λ_b``, inside each rating's gradient (and so clipped with it).
    epochs : int
        Expected passes over the ratings.
    sampling_rate : float
        ``q``, in ``(0, 1]``.
    clip_norm : float
        ``C``.
    noise_multiplier : float
        ``σ``; 0 gives clipped SGD without noise (and no guarantee: ``epsilon`` is infinite).
    global_mean : float
        The public ``μ``.
    init_std : float
        Factors start as ``N(0, init_std²)``.
    seed : int
        Seeds the initialisation, the batches and the noise.
    """

    hyperparameters = {"n_factors": integer(1), "learning_rate": POSITIVE, "l2": NON_NEGATIVE,
                       "l2_bias": NON_NEGATIVE, "epochs": integer(1),
                       "sampling_rate": real(0, 1, low_open=True), "clip_norm": POSITIVE,
                       "noise_multiplier": NON_NEGATIVE, "global_mean": real(),
                       "init_std": NON_NEGATIVE, "seed": SEED}

    def __init__(self, n_factors: int = 10, learning_rate: float = 0.005, l2: float = 0.1,
                 l2_bias: float = 0.01, epochs: int = 10, sampling_rate: float = 0.02,
                 clip_norm: float = 1.0, noise_multiplier: float = 1.0,
                 global_mean: float = 3.0, init_std: float = 0.1, seed: int = 0):
        self.n_factors = n_factors
        self.learning_rate = learning_rate
        self.l2 = l2
        self.l2_bias = l2_bias
        self.epochs = epochs
        self.sampling_rate = sampling_rate
        self.clip_norm = clip_norm
        self.noise_multiplier = noise_multiplier
        self.global_mean = global_mean
        self.init_std = init_std
        self.seed = seed

    @property
    def steps_per_epoch(self) -> int:
        """``round(1 / sampling_rate)``: one expected pass over the ratings."""
        return max(1, int(round(1 / self.sampling_rate)))

    def epsilon(self, delta: float) -> float:
        """The ``ε`` of the fitted run at this ``delta`` (one rating is the unit of privacy)."""
        steps = self.steps_per_epoch * len(self.curves_)
        return dp_sgd_epsilon(self.noise_multiplier, self.sampling_rate, steps, delta)

    def _start(self, train: pd.DataFrame) -> None:
        self._start_random_factors(train)
        # Public values instead of the ratings' own mean and range, which would leak.
        self.global_mean_ = float(self.global_mean)
        self.rating_range_ = (1.0, 5.0)
        self.clipped_share_ = []

    def _train_epoch(self, epoch: int) -> dict:
        d, clipped = self.n_factors, []
        for _ in range(self.steps_per_epoch):
            batch = np.flatnonzero(self._rng.random(len(self._ratings)) < self.sampling_rate)
            users, items = self._users[batch], self._items[batch]
            p, q = self.user_factors_[users], self.item_factors_[items]
            b_u, b_i = self.user_bias_[users], self.item_bias_[items]
            error = self._ratings[batch] - predict_ratings(self.parameters(), users, items)
            per_example = np.hstack([-error[:, None] * q + self.l2 * p,      # ∂/∂p_u
                                     -error[:, None] * p + self.l2 * q,      # ∂/∂q_i
                                     (-error + self.l2_bias * b_u)[:, None],  # ∂/∂b_u
                                     (-error + self.l2_bias * b_i)[:, None]])  # ∂/∂b_i
            per_example, norms = clip_rows(per_example, self.clip_norm)
            clipped.append(float(np.mean(norms > self.clip_norm)) if len(norms) else 0.0)
            self._noisy_step(users, items, per_example, d)
        self.clipped_share_.append(float(np.mean(clipped)))
        return self._training_losses() | {"clipped_share": self.clipped_share_[-1]}

    def _noisy_step(self, users, items, per_example, d) -> None:
        """Sum the clipped gradients into each parameter, add the noise, take the step."""
        std = self.noise_multiplier * self.clip_norm
        for name, rows, columns in (("user_factors_", users, slice(0, d)),
                                    ("item_factors_", items, slice(d, 2 * d)),
                                    ("user_bias_", users, 2 * d),
                                    ("item_bias_", items, 2 * d + 1)):
            values = getattr(self, name)
            gradient = self._rng.normal(0.0, std, values.shape)  # zeros when σ = 0
            if values.ndim == 2:
                add_rows(gradient, rows, per_example[:, columns])
            else:
                np.add.at(gradient, rows, per_example[:, columns])
            values -= self.learning_rate * gradient
