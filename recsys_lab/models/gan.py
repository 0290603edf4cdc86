"""Generative adversarial networks for recommendation: CFGAN (Chae et al. 2018).

A *generator* ``G`` maps a user's condition vector ``c_u`` (their training purchase vector,
shape ``(n_items,)``, optionally with a noise vector ``z``) to a generated purchase vector
``r̂_u`` in ``[0, 1]^n_items``. A *discriminator* ``D`` sees a purchase vector with the same
condition and outputs the logit of "this vector is real". Each training step
(:func:`cfgan_train_step`, one mini-batch of users)

* samples negative items: for every user, each item they did not interact with joins the
  zero-reconstruction set ``ZR`` with probability ``zr_ratio`` and, independently, the
  partial-masking set ``PM`` with probability ``pm_ratio``;
* updates ``D`` (``d_steps`` times) to tell ``r_u`` from ``r̂_u ⊙ (e_u + k_u)``, where ``e_u``
  marks the user's interactions and ``k_u`` the PM items;
* updates ``G`` (``g_steps`` times) to fool ``D`` (non-saturating loss ``−log D``) plus
  ``zr_weight · Σ_{j ∈ ZR} r̂_uj²``, which pushes sampled negatives towards zero.

The two networks have separate Adam optimisers. During training the generator sees its
condition through dropout (``condition_dropout``), so that copying ``c_u`` is no longer a
perfect forgery; the defaults are the settings chapter 8 chose on validation data. With
``adversarial=False`` the discriminator is dropped and ``G`` is trained alone: its
adversarial term is replaced by the squared reconstruction error on the same masked
positions ``e_u + k_u``, which is what a perfect discriminator would ask of it. Comparing
the two is the ablation of chapter 8.

``score_items`` returns ``r̂_u`` (noise set to zero when ``noise_dim > 0``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from recsys_lab.base import EpochRecommender
from recsys_lab.models._keras import keras
from recsys_lab.validation import (
    FLAG,
    NON_NEGATIVE,
    POSITIVE,
    PROBABILITY,
    RATE,
    SEED,
    check_fitted,
    check_ids,
    integer,
)


def build_generator(n_items: int, hidden: int, noise_dim: int = 0) -> keras.Model:
    """``G(c_u [, z]) -> r̂_u``: purchase vector (and noise) to a generated purchase vector."""
    condition = keras.Input((n_items,), name="condition")
    inputs, features = [condition], condition
    if noise_dim:
        noise = keras.Input((noise_dim,), name="noise")
        inputs.append(noise)
        features = keras.layers.Concatenate(name="condition_and_noise")([condition, noise])
    hidden_layer = keras.layers.Dense(hidden, activation="tanh", name="user_code")(features)
    generated = keras.layers.Dense(n_items, activation="sigmoid",
                                   name="generated_purchases")(hidden_layer)
    return keras.Model(inputs, generated, name="generator")


def build_discriminator(n_items: int, hidden: int) -> keras.Model:
    """``D(r, c_u) -> logit``: how real a (masked) purchase vector looks for this user."""
    vector = keras.Input((n_items,), name="purchase_vector")
    condition = keras.Input((n_items,), name="condition")
    joined = keras.layers.Concatenate(name="vector_and_condition")([vector, condition])
    hidden_layer = keras.layers.Dense(hidden, activation="relu", name="evidence")(joined)
    logit = keras.layers.Dense(1, name="real_logit")(hidden_layer)
    return keras.Model([vector, condition], logit, name="discriminator")


def negative_item_mask(purchases, ratio: float, seed=None):
    """CFGAN's ZR / PM sampling: a 0/1 mask of the shape of ``purchases`` (users × items).

    Each item a user did *not* interact with (``purchases == 0``) is picked independently
    with probability ``ratio``; interacted items never are. ``seed`` is an int or a
    ``keras.random.SeedGenerator`` (a fresh draw at every call).
    """
    draw = keras.random.uniform(keras.ops.shape(purchases), seed=seed)
    return keras.ops.cast(draw < ratio, "float32") * (1.0 - purchases)


def top_k_overlap(scores: np.ndarray, history, k: int = 10) -> float:
    """Mean Jaccard overlap of the top-``k`` lists of every pair of users (collapse detector).

    ``scores`` has shape ``(n_users, n_items)``; items in ``history`` (a CSR matrix of the
    same shape) are excluded first. 1.0 means everyone gets the same list (a collapsed
    generator, or MostPopular); a personalised model scores much lower.
    """
    scores = np.array(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[0] < 2:
        raise ValueError(f"scores must have shape (n_users >= 2, n_items), got {scores.shape}")
    if history is not None:
        scores[history.toarray().astype(bool)] = -np.inf
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    chosen = np.zeros(scores.shape, dtype=np.float32)
    np.put_along_axis(chosen, top, 1.0, axis=1)
    shared = chosen @ chosen.T
    jaccard = shared / (2 * k - shared)
    n = len(scores)
    return float((jaccard.sum() - np.trace(jaccard)) / (n * (n - 1)))


def cfgan_train_step(model, purchases):
    """One mini-batch of CFGAN training: ``d_steps`` discriminator updates, then
    ``g_steps`` generator updates, each on freshly drawn masks.

    ``model`` is the :class:`CFGAN` being fitted (its settings, networks, optimisers and
    mask draws); ``purchases`` the batch's purchase vectors ``r_u``, shape
    ``(batch, n_items)``. Returns the discriminator's and the generator's losses and
    the discriminator's mean output on real and on masked generated vectors.
    """
    n = keras.ops.shape(purchases)[0]
    d_loss = d_real = d_fake = keras.ops.zeros(())
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    for _ in range(model.d_steps if model.adversarial else 0):
        masked = purchases + model._negatives(purchases, model.pm_ratio)   # e_u + k_u
        fake = model.network_([model._condition(purchases), *model._noise(n)]) * masked
        with tf.GradientTape() as tape:
            real_logit = model.discriminator_([purchases, purchases])
            fake_logit = model.discriminator_([fake, purchases])
            d_loss = (bce(keras.ops.ones_like(real_logit), real_logit)
                      + bce(keras.ops.zeros_like(fake_logit), fake_logit))
        weights = model.discriminator_.trainable_variables
        gradients = tape.gradient(d_loss, weights)
        model._d_optimizer.apply_gradients(zip(gradients, weights, strict=True))
        d_real = keras.ops.mean(keras.ops.sigmoid(real_logit))
        d_fake = keras.ops.mean(keras.ops.sigmoid(fake_logit))
    for _ in range(model.g_steps):
        masked = purchases + model._negatives(purchases, model.pm_ratio)
        zero_targets = model._negatives(purchases, model.zr_ratio)
        with tf.GradientTape() as tape:
            generated = model.network_([model._condition(purchases), *model._noise(n)])
            if model.adversarial:
                fake_logit = model.discriminator_([generated * masked, purchases])
                fool = bce(keras.ops.ones_like(fake_logit), fake_logit)
            else:   # what a perfect discriminator asks: reconstruct the masked positions
                fool = keras.ops.mean(keras.ops.sum(
                    masked * keras.ops.square(generated - purchases), axis=1))
            zero_penalty = keras.ops.mean(keras.ops.sum(
                zero_targets * keras.ops.square(generated), axis=1))
            g_loss = fool + model.zr_weight * zero_penalty
        weights = model.network_.trainable_variables
        gradients = tape.gradient(g_loss, weights)
        model._g_optimizer.apply_gradients(zip(gradients, weights, strict=True))
    return d_loss, g_loss, d_real, d_fake


class CFGAN(EpochRecommender):
    """CFGAN: a conditional GAN that generates each user's purchase vector.

    Parameters
    ----------
    hidden_g, hidden_d : int
        Width of the generator's and the discriminator's hidden layer.
    noise_dim : int
        Length of the noise vector ``z`` fed to the generator; 0 (the published code's
        setting) makes ``G`` a deterministic function of the user's purchases.
    zr_ratio, pm_ratio : float in [0, 1]
        Probability that a non-interacted item is sampled into the ZR / PM set at each step.
    zr_weight : float
        Weight ``α`` of the zero-reconstruction penalty.
    adversarial : bool
        ``False`` trains the generator alone (masked reconstruction loss, no discriminator).
    epochs, batch_size : int
        Passes over the users, and users per mini-batch.
    learning_rate_g, learning_rate_d : float
        Adam step sizes of the two separate optimisers.
    g_steps, d_steps : int
        Generator and discriminator updates per mini-batch.
    popularity_init : bool
        Start the generator's output bias at the log-odds of each item's share of users (the
        MostPopular profile) instead of 0.
    condition_dropout : float in [0, 1)
        Dropout rate on the condition the *generator* sees during training (not in the
        published CFGAN): without it a noiseless generator can copy its condition, a perfect
        forgery that says nothing about the items it has not seen. ``D`` always sees the
        full condition.
    seed : int
        Seeds weights, shuffling and negative sampling.

    Attributes
    ----------
    network_ : the generator (:meth:`build_network`).
    discriminator_ : the discriminator (:meth:`build_discriminator`), or None if not
        ``adversarial``.
    curves_ : DataFrame, one row per epoch: ``loss`` (the generator's) and ``d_loss`` (the
        discriminator's), means over batches; ``d_real`` and ``d_fake`` (mean D output on
        real and masked generated vectors); ``top10_overlap`` (:func:`top_k_overlap` of the
        generated profiles of 200 fixed users); and ``valid``'s metrics when given.
    """

    hyperparameters = {"hidden_g": integer(1), "hidden_d": integer(1), "noise_dim": integer(0),
                       "zr_ratio": PROBABILITY, "pm_ratio": PROBABILITY,
                       "zr_weight": NON_NEGATIVE, "adversarial": FLAG, "epochs": integer(1),
                       "batch_size": integer(1), "learning_rate_g": POSITIVE,
                       "learning_rate_d": POSITIVE, "g_steps": integer(1), "d_steps": integer(1),
                       "popularity_init": FLAG, "condition_dropout": RATE, "seed": SEED}

    def __init__(self, hidden_g: int = 256, hidden_d: int = 64, noise_dim: int = 0,
                 zr_ratio: float = 0.2, pm_ratio: float = 0.2, zr_weight: float = 0.1,
                 adversarial: bool = True, epochs: int = 20, batch_size: int = 64,
                 learning_rate_g: float = 1e-3, learning_rate_d: float = 1e-4,
                 g_steps: int = 1, d_steps: int = 1,
                 popularity_init: bool = True, condition_dropout: float = 0.5,
                 seed: int = 0):
        self.hidden_g = hidden_g
        self.hidden_d = hidden_d
        self.noise_dim = noise_dim
        self.zr_ratio = zr_ratio
        self.pm_ratio = pm_ratio
        self.zr_weight = zr_weight
        self.adversarial = adversarial
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate_g = learning_rate_g
        self.learning_rate_d = learning_rate_d
        self.g_steps = g_steps
        self.d_steps = d_steps
        self.popularity_init = popularity_init
        self.condition_dropout = condition_dropout
        self.seed = seed

    def build_network(self) -> keras.Model:
        """The generator, :func:`build_generator`; override to try another.

        It must map ``[condition (batch, n_items)]`` (plus ``noise (batch, noise_dim)`` when
        ``noise_dim > 0``) to a purchase vector in ``[0, 1]`` and, with ``popularity_init``,
        keep its output layer ``generated_purchases``.
        """
        return build_generator(self.n_items_, self.hidden_g, self.noise_dim)

    def build_discriminator(self) -> keras.Model:
        """The discriminator, :func:`build_discriminator`; override to try another."""
        return build_discriminator(self.n_items_, self.hidden_d)

    _keras_parts = {"network_": "_rebuild_network",
                    "discriminator_": "_rebuild_discriminator"}

    def _rebuild_discriminator(self, weights):
        return self.build_discriminator()

    def _start(self, train: pd.DataFrame) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._purchases = tf.constant(self.history_.toarray(), dtype="float32")
        self.network_ = self.build_network()
        # Built in both variants, so that they draw the same random numbers from here on;
        # the generator-only variant keeps none (and its parameter count excludes it).
        discriminator = self.build_discriminator()
        self.discriminator_ = discriminator if self.adversarial else None
        if self.popularity_init:
            # Start from the MostPopular profile: output bias = log-odds of each item's share.
            share = np.clip(np.asarray(self.history_.mean(axis=0)).ravel(), 1e-3, 1 - 1e-3)
            layer = self.network_.get_layer("generated_purchases")
            layer.bias.assign(np.log(share / (1 - share)).astype("float32"))
        self._g_optimizer = keras.optimizers.Adam(self.learning_rate_g)
        self._d_optimizer = keras.optimizers.Adam(self.learning_rate_d)
        self._masks = keras.random.SeedGenerator(self.seed)
        self._step = tf.function(self._train_batch, input_signature=[
            tf.TensorSpec((None, self.n_items_), "float32")])
        # Collapse is watched on a fixed sample of users (all pairs of 943 users cost more).
        self._watched = np.sort(self._rng.choice(self.n_users_, min(200, self.n_users_),
                                                 replace=False))

    def _train_epoch(self, epoch: int) -> dict:
        order = self._rng.permutation(self.n_users_)
        sums = np.zeros(4)
        for first in range(0, self.n_users_, self.batch_size):
            batch = tf.gather(self._purchases, order[first:first + self.batch_size])
            sums += np.array([float(v) for v in self._step(batch)]) * len(batch)
        d_loss, g_loss, d_real, d_fake = sums / self.n_users_
        overlap = top_k_overlap(self._generate(self._watched), self.history_[self._watched])
        return {"loss": g_loss, "d_loss": d_loss, "d_real": d_real, "d_fake": d_fake,
                "top10_overlap": overlap}

    def _end_training(self) -> None:
        del (self._rng, self._purchases, self._g_optimizer, self._d_optimizer, self._masks,
             self._step, self._watched)

    def _negatives(self, purchases, ratio):
        return negative_item_mask(purchases, ratio, seed=self._masks)

    def _condition(self, purchases):
        """The generator's view of the condition: dropout on the purchase vector (training)."""
        if not self.condition_dropout:
            return purchases
        keep = keras.random.uniform(keras.ops.shape(purchases), seed=self._masks)
        return purchases * keras.ops.cast(keep >= self.condition_dropout, "float32") / (
            1.0 - self.condition_dropout)

    def _noise(self, n):
        if not self.noise_dim:
            return []
        return [keras.random.normal((n, self.noise_dim), seed=self._masks)]

    def _train_batch(self, purchases):
        """One mini-batch: :func:`cfgan_train_step`."""
        return cfgan_train_step(self, purchases)

    def _generate(self, users: np.ndarray, noise=None) -> np.ndarray:
        condition = self.history_[users].toarray().astype("float32")
        inputs = [condition]
        if self.noise_dim:
            inputs.append(np.zeros((len(users), self.noise_dim), "float32")
                          if noise is None else np.asarray(noise, "float32"))
        return np.asarray(self.network_(inputs, training=False))

    def generate(self, users, noise=None) -> np.ndarray:
        """Generated purchase vectors ``r̂_u``, shape ``(len(users), n_items)``.

        ``noise`` (shape ``(len(users), noise_dim)``) is the generator's noise input; zeros
        by default. Used to ask whether the generator listens to its noise at all.
        """
        check_fitted(self, "network_")
        return self._generate(check_ids(users, self.n_users_, kind="user"), noise)

    def discriminate(self, vectors, users) -> np.ndarray:
        """``D``'s probability that each row of ``vectors`` is a real purchase vector."""
        if not self.adversarial:
            raise ValueError("this CFGAN was trained without a discriminator (adversarial=False)")
        users = check_ids(users, self.n_users_, kind="user")
        condition = self.history_[users].toarray().astype("float32")
        logits = self.discriminator_([np.asarray(vectors, "float32"), condition], training=False)
        return 1.0 / (1.0 + np.exp(-np.asarray(logits)[:, 0]))

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._generate(users)
