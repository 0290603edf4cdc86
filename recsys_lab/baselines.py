"""Strong non-neural baselines: every deep model of the book is measured against these.

* :class:`GlobalMean` and :class:`Biases` predict ratings (RATING protocol).
* :class:`MostPopular`, :class:`ItemKNN`, :class:`UserKNN`, :class:`RP3beta` and
  :class:`EASE` rank items (TOPN, SEQ).
* :class:`GraphFilter` ranks items with a training-free filter on the item graph (the
  graph chapter's baseline).
* :class:`GenrePopularity`, :class:`GenreYearPopularity`, :class:`ContentKNN` and
  :class:`GroupPopularity` rank items for cold start: items nobody rated (COLD), from their
  genres, their genres and release year, or the similarity of their content to the user's
  items; users nobody has seen (COLD-USER), from the demographic group they belong to.

Constructor defaults are the settings chapter 1 chose on a validation split of ML-100K.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_lab.base import EpochRecommender, RatingRecommender, Recommender
from recsys_lab.validation import DATA, FLAG, NON_NEGATIVE, POSITIVE, check_fitted, integer


class GlobalMean(RatingRecommender):
    """Predicts the mean training rating for every pair: the floor every model must beat."""

    def _fit(self, train: pd.DataFrame) -> None:
        self.mean_ = float(train["rating"].mean())

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.full(len(users), self.mean_)


class Biases(EpochRecommender, RatingRecommender):
    """``r̂_ui = μ + b_u + b_i`` with L2-regularised biases, fitted by alternating least squares.

    Each epoch solves the item biases, then the user biases, in closed form:
    ``b_i = Σ_u (r_ui − μ − b_u) / (λ_i + n_i)`` and likewise for users, which shrinks the
    biases of rarely rated items towards zero: the minimiser of
    ``Σ (r_ui − μ − b_u − b_i)² + λ_i Σ_i b_i² + λ_u Σ_u b_u²`` (``curves_``' ``loss``, per
    rating).

    Parameters
    ----------
    l2_item, l2_user : float
        The shrinkage ``λ_i`` and ``λ_u`` (in pseudo-ratings). With 0, a user or item
        without training ratings gets a bias of 0.
    epochs : int
        Alternating passes.
    """

    hyperparameters = {"l2_item": NON_NEGATIVE, "l2_user": NON_NEGATIVE, "epochs": integer(1)}

    def __init__(self, l2_item: float = 3.0, l2_user: float = 3.0, epochs: int = 10):
        self.l2_item = l2_item
        self.l2_user = l2_user
        self.epochs = epochs

    def _start(self, train: pd.DataFrame) -> None:
        self._users = train["user"].to_numpy()
        self._items = train["item"].to_numpy()
        self._ratings = train["rating"].to_numpy(dtype=float)
        self.mean_ = float(self._ratings.mean())
        self._per_user = np.bincount(self._users, minlength=self.n_users_)
        self._per_item = np.bincount(self._items, minlength=self.n_items_)
        self.user_bias_ = np.zeros(self.n_users_)
        self.item_bias_ = np.zeros(self.n_items_)

    def _train_epoch(self, epoch: int) -> dict:
        users, items, ratings = self._users, self._items, self._ratings
        residual = ratings - self.mean_ - self.user_bias_[users]
        self.item_bias_ = _shrunk_mean(np.bincount(items, residual, self.n_items_),
                                       self._per_item, self.l2_item)
        residual = ratings - self.mean_ - self.item_bias_[items]
        self.user_bias_ = _shrunk_mean(np.bincount(users, residual, self.n_users_),
                                       self._per_user, self.l2_user)
        squared = (residual - self.user_bias_[users]) ** 2
        penalty = self.l2_item * self.item_bias_ @ self.item_bias_ + (
            self.l2_user * self.user_bias_ @ self.user_bias_)
        return {"loss": float((squared.sum() + penalty) / len(ratings)),
                "train_RMSE": float(np.sqrt(squared.mean()))}

    def _end_training(self) -> None:
        del self._users, self._items, self._ratings, self._per_user, self._per_item

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.mean_ + self.user_bias_[users] + self.item_bias_[items]


def _shrunk_mean(total: np.ndarray, count: np.ndarray, shrinkage: float) -> np.ndarray:
    """``total / (shrinkage + count)``, and 0 (no evidence) where both are 0."""
    denominator = shrinkage + count
    return np.divide(total, denominator, out=np.zeros_like(total), where=denominator > 0)


class MostPopular(Recommender):
    """Ranks items by how many training interactions they have, the same list for everyone."""

    def _fit(self, train: pd.DataFrame) -> None:
        self.popularity_ = np.asarray(self.history_.sum(axis=0)).ravel()

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(users), self.n_items_))


class ItemKNN(Recommender):
    """Item-based collaborative filtering with cosine similarity on binary interactions.

    ``score(u, j) = Σ_{i ∈ history(u)} sim(i, j)``, where each item keeps only its
    ``n_neighbors`` most similar items (Sarwar et al. 2001; Deshpande & Karypis 2004).
    ``shrinkage`` is added to the cosine's denominator to damp similarities between
    items with few interactions.
    """

    hyperparameters = {"n_neighbors": integer(1), "shrinkage": NON_NEGATIVE}

    def __init__(self, n_neighbors: int = 300, shrinkage: float = 10.0):
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage

    def _fit(self, train: pd.DataFrame) -> None:
        interactions = self.history_
        co_counts = (interactions.T @ interactions).toarray()
        norms = np.sqrt(np.diag(co_counts))
        similarity = co_counts / (np.outer(norms, norms) + self.shrinkage + 1e-12)
        np.fill_diagonal(similarity, 0.0)
        k = min(self.n_neighbors, self.n_items_ - 1)
        # Keep each item's k nearest neighbours (a row of the similarity matrix).
        weakest = np.argpartition(-similarity, k, axis=1)[:, k:]
        np.put_along_axis(similarity, weakest, 0.0, axis=1)
        self.similarity_ = sp.csr_matrix(similarity)

    def _score(self, users: np.ndarray) -> np.ndarray:
        # Neighbours of the history items vote for the items they are close to.
        return (self.history_[users] @ self.similarity_.T).toarray()


class UserKNN(Recommender):
    """User-based collaborative filtering with cosine similarity on binary interactions.

    ``sim(u, v) = |I_u ∩ I_v| / (sqrt(|I_u| · |I_v|) + shrinkage)`` with ``I_u`` the items of
    user ``u``; each user keeps its ``n_neighbors`` most similar *other* users ``N(u)``, and
    ``score(u, j) = Σ_{v ∈ N(u)} sim(u, v) r_vj`` (Herlocker et al. 1999; Breese et al.
    1998): the similarity-weighted votes of the neighbours. ``shrinkage`` (as in
    :class:`ItemKNN`) damps similarities between users with few interactions. An
    ``n_neighbors`` above ``n_users − 1`` is clipped to it (every other user is a
    neighbour). A user without training interactions has no neighbours and scores 0.

    After ``fit``: ``similarity_``, sparse ``(n_users, n_users)``, row ``u`` holding the
    weights of ``N(u)``.

    Defaults chosen on the TOPN validation split of ML-100K (``topn_split(train, seed=1)`` of
    the standard training part; validation NDCG@10): ``n_neighbors`` 50, 100, 200, 400 ×
    ``shrinkage`` 0, 10, 50 gave a best of 0.2411 at 100 and 0 (runner-up 0.2375 at 100 and
    10; 0.236 at 200 and 0; larger shrinkage was worse everywhere); a finer search, 75, 100,
    150 × 0, 2, 5, gave 0.2414 at 100 and 5 (0.2411 at 100 and 0, 0.2404 at 75 and 0). EASE
    scored 0.2582 on the same split.
    """

    hyperparameters = {"n_neighbors": integer(1), "shrinkage": NON_NEGATIVE}

    def __init__(self, n_neighbors: int = 100, shrinkage: float = 5.0):
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage

    def _fit(self, train: pd.DataFrame) -> None:
        interactions = self.history_
        co_counts = (interactions @ interactions.T).toarray()  # |I_u ∩ I_v|
        norms = np.sqrt(np.diag(co_counts))
        similarity = co_counts / (np.outer(norms, norms) + self.shrinkage + 1e-12)
        np.fill_diagonal(similarity, 0.0)
        self.similarity_ = sp.csr_matrix(_keep_largest(similarity, self.n_neighbors))

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.similarity_[users] @ self.history_).toarray()


class RP3beta(Recommender):
    """A 3-step random walk user → item → user → item, with popular items discounted.

    ``P_ui`` is the user-to-item transition matrix (the 0/1 interaction matrix with each
    row divided by the user's number of items), ``P_iu`` the item-to-user one (its
    transpose, each row divided by the item's number of users). As in P³_α (Cooper et al.
    2014) each transition probability is raised to the power ``alpha``, and the item-to-item
    weights are the two-step products, each column ``j`` divided by ``popularity(j)^beta``
    (Paudel et al. 2017; Christoffel et al. 2015):

        W_ij = Σ_u P_iu^alpha · P_uj^alpha / popularity(j)^beta
             = Σ_u r_ui r_uj / (deg(i)^alpha · deg(u)^alpha · deg(j)^beta).

    ``alpha`` = 1, ``beta`` = 0 is the exact 3-step walk (P³); ``beta`` > 0 lifts items of
    the long tail. The diagonal (a walk back to its start) is set to 0, then each item (row)
    keeps its ``n_neighbors`` largest weights (an ``n_neighbors`` above ``n_items − 1`` is
    clipped to it), and ``score(u, j) = Σ_{i ∈ history(u)} W_ij``. An item without training
    interactions has an all-zero row and column.

    ``alpha`` is applied to the one-step probabilities, as in Cooper et al. and the public
    implementation of Dacrema et al. (2019), not to the product ``P_iu P_ui``; the two agree
    at ``alpha`` = 1.

    After ``fit``: ``weights_``, sparse ``(n_items, n_items)``.

    Defaults chosen on the TOPN validation split of ML-100K (``topn_split(train, seed=1)`` of
    the standard training part; validation NDCG@10): ``alpha`` 0.5, 0.8, 1.0, 1.2 × ``beta``
    0, 0.2, 0.4, 0.6 × ``n_neighbors`` 100, 200, 400 gave a best of 0.2510 at 0.8, 0.6 and
    400 (runner-up 0.2465 at 0.8, 0.6, 200; 0.2453 at 1.0, 0.6, 400; with ``beta`` = 0 at
    most 0.2217). The best lay on the edge of the grid, so it was extended: ``alpha`` 0.6,
    0.7, 0.8, 0.9 × ``beta`` 0.6, 0.7, 0.8 and ``alpha`` 0.7, 0.8, 0.9 × ``beta`` 0.5, 0.55,
    0.65, each with ``n_neighbors`` 400, 800 and 1681 (every other item of ML-100K: no
    pruning). Best: 0.2529 at 0.8, 0.6, 1681 (0.2520 with 800, 0.2510 with 400: pruning
    barely matters); ``beta`` 0.5, 0.55, 0.65 gave at most 0.2478, 0.2507, 0.2500, ``beta``
    0.7 at most 0.2418 and 0.8 under 0.20. Raising the product ``P_iu P_ui`` to ``alpha``
    instead did worse (at most 0.2466 over ``alpha`` 0.5, 0.8, 1.2 × ``beta`` 0.4, 0.6, 0.8
    with 400 neighbours). EASE scored 0.2582 on the same split.
    """

    hyperparameters = {"alpha": NON_NEGATIVE, "beta": NON_NEGATIVE, "n_neighbors": integer(1)}

    def __init__(self, alpha: float = 0.8, beta: float = 0.6, n_neighbors: int = 1681):
        self.alpha = alpha
        self.beta = beta
        self.n_neighbors = n_neighbors

    def _fit(self, train: pd.DataFrame) -> None:
        self.weights_ = sp.csr_matrix(_keep_largest(self.transition_weights(),
                                                    self.n_neighbors))

    def transition_weights(self) -> np.ndarray:
        """``W`` before pruning, dense ``(n_items, n_items)``, with a zero diagonal
        (computed on demand from the training data: not a learned parameter)."""
        check_fitted(self)
        history = sp.csr_matrix(self.history_, dtype=float)
        user_degree = np.asarray(history.sum(axis=1)).ravel()
        item_degree = np.asarray(history.sum(axis=0)).ravel()
        user_to_item = sp.diags(_inverse_power(user_degree, 1.0)) @ history  # P_ui
        item_to_user = sp.diags(_inverse_power(item_degree, 1.0)) @ history.T  # P_iu
        user_to_item.data **= self.alpha
        item_to_user.data **= self.alpha
        weights = (item_to_user @ user_to_item).toarray()
        weights *= _inverse_power(item_degree, self.beta)[None, :]
        np.fill_diagonal(weights, 0.0)
        return weights

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.history_[users] @ self.weights_).toarray()


def _keep_largest(weights: np.ndarray, k: int) -> np.ndarray:
    """``weights`` (square, dense, non-negative, zero diagonal) with all but each row's ``k``
    largest entries set to 0, in place; ``k`` is clipped to ``n − 1``, which keeps them all."""
    k = min(int(k), weights.shape[1] - 1)
    weakest = np.argpartition(-weights, k, axis=1)[:, k:]
    np.put_along_axis(weights, weakest, 0.0, axis=1)
    return weights


def _inverse_power(degree: np.ndarray, power: float) -> np.ndarray:
    """``degree ** -power``, with 0 where the degree is 0."""
    return np.divide(1.0, degree ** power, out=np.zeros_like(degree, dtype=float),
                     where=degree > 0)


class EASE(Recommender):
    """Embarrassingly Shallow AutoEncoder (Steck 2019): a linear item-to-item model.

    Solves ``min_B ‖X − XB‖² + λ‖B‖²`` subject to ``diag(B) = 0`` in closed form:
    with ``P = (XᵀX + λI)⁻¹``, ``B = I − P · diag(1 / diag(P))``. Scores are ``X B``.
    """

    hyperparameters = {"l2": POSITIVE}

    def __init__(self, l2: float = 800.0):
        self.l2 = l2

    def _fit(self, train: pd.DataFrame) -> None:
        gram = (self.history_.T @ self.history_).toarray()
        gram[np.diag_indices_from(gram)] += self.l2
        precision = np.linalg.inv(gram)
        self.weights_ = -precision / np.diag(precision)
        np.fill_diagonal(self.weights_, 0.0)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.history_[users] @ self.weights_)


class GraphFilter(Recommender):
    """A training-free graph filter (in the spirit of Shen et al. 2021's GF-CF).

    With ``R`` the user–item matrix and ``D_U``, ``D_I`` its user and item degrees, the
    normalised matrix is ``R̃ = D_U^{-1/2} R D_I^{-1/2}`` and the item–item graph is
    ``P̃ = R̃ᵀ R̃``. Two filters on that graph are mixed:

    * the linear filter ``P̃``, what one round of user → item → user → item propagation on
      the normalised bipartite graph computes (a cosine-like ItemKNN without neighbour
      pruning);
    * the ideal low-pass filter ``D_I^{-1/2} V Vᵀ D_I^{1/2}``, ``V`` the ``n_components``
      leading eigenvectors of ``P̃`` (the smoothest signals on the item graph).

    ``score(u) = r_u (P̃ + alpha · D_I^{-1/2} V Vᵀ D_I^{1/2})``. With ``item_entities`` (an
    ``(n_items, n_entities)`` 0/1 matrix of knowledge-graph links) the item → entity → item
    graph ``K̃ K̃ᵀ`` (``K̃`` normalised by item and entity degrees, as ``R̃``) is added with
    weight ``entity_weight``: an item nobody rated is then reached through the entities it
    shares with the user's items. Nothing is learned by gradient descent; ``fit`` is a few
    sparse products and one symmetric eigendecomposition.

    Defaults chosen on the TOPN validation split of ML-100K (``topn_split(train, seed=1)``,
    NDCG@10): ``alpha`` 0, 0.1, 0.3, 1 × ``n_components`` 16, 64, 256 gave a best of 0.255
    at 0.3 and 64 (0.239 with ``alpha`` = 0; EASE 0.258); ``entity_weight`` 0, 0.1, 0.3, 1
    with the knowledge graph gave 0.2550, 0.2555, 0.2547, 0.2440.
    """

    hyperparameters = {"alpha": NON_NEGATIVE, "n_components": integer(1),
                       "item_entities": DATA, "entity_weight": NON_NEGATIVE}

    def __init__(self, alpha: float = 0.3, n_components: int = 64, item_entities=None,
                 entity_weight: float = 0.1):
        self.alpha = alpha
        self.n_components = n_components
        self.item_entities = item_entities
        self.entity_weight = entity_weight

    def _fit(self, train: pd.DataFrame) -> None:
        if self.n_components > self.n_items_:
            raise ValueError(f"n_components ({self.n_components}) exceeds the number of items "
                             f"({self.n_items_})")
        item_graph = self.item_graph()
        _, vectors = np.linalg.eigh(item_graph)  # ascending eigenvalues
        smooth = vectors[:, -self.n_components:]
        item_degree = np.asarray(self.history_.sum(axis=0), dtype=float).ravel()
        low_pass = ((_inverse_root(item_degree)[:, None] * smooth)
                    @ (smooth.T * np.sqrt(item_degree)[None, :]))
        self.weights_ = item_graph + self.alpha * low_pass
        if self.item_entities is not None:
            links = sp.csr_matrix(self.item_entities)
            if links.shape[0] != self.n_items_:
                raise ValueError(f"item_entities has {links.shape[0]} rows, one per item is "
                                 f"needed ({self.n_items_})")
            entity_normalized, _ = _normalize_bipartite((links != 0).astype(float))
            self.weights_ += self.entity_weight * (
                entity_normalized @ entity_normalized.T).toarray()

    def item_graph(self) -> np.ndarray:
        """The normalised item–item graph ``P̃ = R̃ᵀ R̃`` of the training data, dense
        ``(n_items, n_items)`` (computed on demand: not a learned parameter)."""
        check_fitted(self)
        normalized, _ = _normalize_bipartite(self.history_)
        return (normalized.T @ normalized).toarray()

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.history_[users] @ self.weights_)


def _inverse_root(degree: np.ndarray) -> np.ndarray:
    """``degree ** -0.5``, with 0 where the degree is 0."""
    return np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)


def _normalize_bipartite(matrix: sp.spmatrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """``D_rows^{-1/2} M D_columns^{-1/2}`` and the column degrees."""
    row_degree = np.asarray(matrix.sum(axis=1), dtype=float).ravel()
    column_degree = np.asarray(matrix.sum(axis=0), dtype=float).ravel()
    normalized = sp.diags(_inverse_root(row_degree)) @ matrix @ sp.diags(
        _inverse_root(column_degree))
    return sp.csr_matrix(normalized), column_degree


class GenrePopularity(Recommender):
    """Cold-start baseline: an item scores the mean popularity of the warm items of its genres.

    Needs no interactions with the item itself, only its genres, so it can rank items
    that were never seen in training (the COLD protocol). ``item_genres`` is a binary
    array of shape ``(n_items, n_genres)``.
    """

    hyperparameters = {"item_genres": DATA}

    def __init__(self, item_genres):
        self.item_genres = item_genres

    def _fit(self, train: pd.DataFrame) -> None:
        genres = np.asarray(self.item_genres, dtype=float)
        if genres.ndim != 2 or genres.shape[0] != self.n_items_:
            raise ValueError(f"item_genres must have shape (n_items={self.n_items_}, n_genres), "
                             f"got {genres.shape}")
        popularity = np.asarray(self.history_.sum(axis=0)).ravel()
        warm = popularity > 0
        items_per_genre = genres[warm].sum(axis=0)
        genre_popularity = genres[warm].T @ popularity[warm] / np.maximum(items_per_genre, 1)
        n_genres = np.maximum(genres.sum(axis=1), 1)
        self.item_scores_ = genres @ genre_popularity / n_genres

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(users), self.n_items_))


class GroupPopularity(Recommender):
    """Cold-user baseline: what the other users of the same demographic group chose.

    With ``g`` a user's group (``user_groups[u]``, e.g. age group × gender), ``n_g`` the
    training users of that group (those with at least one training interaction),
    ``c_g(i)`` how many of them interacted with item ``i``, and ``p(i) = c(i) / n`` the
    share of *all* ``n`` training users who did,

        score(i | g) = (c_g(i) + shrinkage · p(i)) / (n_g + shrinkage),

    the share of the group that chose ``i``, with ``shrinkage`` pseudo-users who behave like
    the whole population added to every group: a small group's list leans towards global
    popularity (:class:`MostPopular`'s order), a large one follows its own taste. A group
    without training users gets the global list. Every user of a group gets the same list,
    whether or not the user has training interactions, so it needs nothing but the group of
    a new user (the COLD-USER protocol).

    Parameters
    ----------
    user_groups : int array, shape ``(n_users,)``
        The group id (≥ 0) of every user, e.g. ``recsys_lab.fields.demographic_groups(
        data.users)[0]``.
    shrinkage : float ≥ 0
        The pseudo-users of global taste added to each group; 0 ranks by the group's own
        counts only.

    After ``fit``: ``group_scores_``, shape ``(n_groups, n_items)``, row ``g`` the scores of
    group ``g``; ``groups_``, the checked ``user_groups`` (int64).

    The default was chosen on the COLD-USER validation split of ML-100K
    (``Chapter.validation_split("COLD-USER")``: 151 validation users drawn from the warm
    users, seed 1; NDCG@10), with the 12 age group × gender groups of
    :func:`recsys_lab.fields.demographic_groups`: ``shrinkage`` 0, 1, 3, 10, 30, 100, 300,
    1000 gave 0.3642, 0.3620, 0.3620, 0.3608, 0.3595, 0.3572, 0.3443, 0.3332 (MostPopular
    0.3314); on the COLD-USER+5 validation split 0.3950, 0.3922, 0.3922, 0.3916, 0.3837,
    0.3817, 0.3755, 0.3666 (MostPopular 0.3626). Averaged over validation seeds 1 to 5, 0
    was best too (0.3522 against 0.3487 at 10 and 0.3462 at 100), though by less than the
    spread between seeds: the groups (7 to 231 users) are large enough for their own
    counts. With finer groups shrinkage matters: age × gender × occupation scored 0.3166
    without it and 0.3482 at 10.
    """

    hyperparameters = {"user_groups": DATA, "shrinkage": NON_NEGATIVE}

    def __init__(self, user_groups, shrinkage: float = 0.0):
        self.user_groups = user_groups
        self.shrinkage = shrinkage

    def _fit(self, train: pd.DataFrame) -> None:
        self.groups_ = groups = _check_groups(self.user_groups, self.n_users_)
        history = sp.csr_matrix(self.history_)
        active = np.asarray(history.getnnz(axis=1) > 0)
        n_groups = int(groups.max()) + 1
        membership = sp.csr_matrix((active.astype(float), (groups, np.arange(self.n_users_))),
                                   shape=(n_groups, self.n_users_))
        group_counts = (membership @ history).toarray()  # c_g(i)
        group_sizes = np.asarray(membership.sum(axis=1)).ravel()  # n_g
        global_share = group_counts.sum(axis=0) / max(active.sum(), 1)  # p(i)
        numerator = group_counts + self.shrinkage * global_share[None, :]
        denominator = (group_sizes + self.shrinkage)[:, None]
        # A group with no training users and no shrinkage has no evidence: use p(i).
        self.group_scores_ = np.divide(numerator, denominator,
                                       out=np.broadcast_to(global_share, numerator.shape).copy(),
                                       where=denominator > 0)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.group_scores_[self.groups_[users]]


def _check_groups(user_groups, n_users: int) -> np.ndarray:
    """``user_groups`` as an int64 array of shape ``(n_users,)`` with ids ≥ 0."""
    groups = np.asarray(user_groups)
    if groups.ndim != 1 or len(groups) != n_users:
        raise ValueError(f"user_groups must have shape (n_users={n_users},), got {groups.shape}")
    if groups.dtype == bool or not np.issubdtype(groups.dtype, np.number) or (
            not np.all(np.isfinite(groups))) or not np.all(groups == np.round(groups)):
        raise ValueError(f"user_groups must hold integer group ids, got dtype {groups.dtype}")
    if groups.size and groups.min() < 0:
        raise ValueError(f"user_groups has negative group id {int(groups.min())}")
    return groups.astype(np.int64)


class GenreYearPopularity(Recommender):
    """Cold-start baseline: popularity by genre *and* release year.

    A warm item's popularity ``c(i)`` is its number of training interactions. For genre
    ``g`` and year ``y``, with ``n_gy`` warm items of that genre and year and ``c_g`` the
    mean popularity of the warm items of genre ``g`` (what :class:`GenrePopularity` uses),

        pop(g, y) = (Σ_{warm i of genre g, year y} c(i) + shrinkage · c_g) / (n_gy + shrinkage),

    the genre's popularity in that year, shrunk towards the genre's popularity over all
    years when few warm items share the year. An item scores the mean of ``pop(g, y)``
    over its genres; an item without a known year scores its genres' ``c_g``, as in
    :class:`GenrePopularity`. It needs no interaction with the item itself, so it ranks
    items never seen in training (the COLD protocol). Under MovieLens-100K the ratings were
    collected in 1997–98 and went mostly to recent films, so the year says a lot.

    Parameters
    ----------
    item_genres : array, shape ``(n_items, n_genres)``
        Binary item × genre matrix (:func:`recsys_lab.features.genre_matrix`).
    item_years : array, shape ``(n_items,)``
        Each item's release year; NaN where unknown.
    shrinkage : float ≥ 0
        Pseudo-items of the genre's all-year popularity added to each (genre, year) cell.

    After ``fit``: ``item_scores_``, shape ``(n_items,)``, the score of every item.

    The default was chosen on the COLD validation split of ML-100K
    (``Chapter.validation_split("COLD")``, NDCG@10; chapter 5): ``shrinkage`` 0, 1, 2, 3, 5,
    10, 30, 100 gave 0.1106, 0.1060, 0.1311, 0.1321, 0.1275, 0.1107, 0.1076, 0.1060
    (:class:`GenrePopularity` 0.0895).
    """

    hyperparameters = {"item_genres": DATA, "item_years": DATA, "shrinkage": NON_NEGATIVE}

    def __init__(self, item_genres, item_years, shrinkage: float = 3.0):
        self.item_genres = item_genres
        self.item_years = item_years
        self.shrinkage = shrinkage

    def _fit(self, train: pd.DataFrame) -> None:
        genres = _check_item_genres(self.item_genres, self.n_items_)
        years = np.asarray(self.item_years, dtype=float)
        if years.shape != (self.n_items_,):
            raise ValueError(f"item_years must have shape (n_items={self.n_items_},), got "
                             f"{years.shape}")
        if np.isinf(years).any():
            raise ValueError("item_years must be finite years or NaN (unknown)")
        popularity = np.asarray(self.history_.sum(axis=0)).ravel()
        warm = popularity > 0
        genre_mean = genres[warm].T @ popularity[warm] / np.maximum(genres[warm].sum(axis=0), 1)
        known = ~np.isnan(years)
        year_ids = np.unique(years[known], return_inverse=True)[1]
        by_year = np.zeros((len(genres), int(year_ids.max()) + 1 if known.any() else 1))
        by_year[np.flatnonzero(known), year_ids] = 1.0  # one-hot year of each item
        fit_items = warm & known
        # (n_genres, n_years) totals and counts over the warm items with a known year
        totals = (genres[fit_items] * popularity[fit_items, None]).T @ by_year[fit_items]
        counts = genres[fit_items].T @ by_year[fit_items]
        shrunk = totals + self.shrinkage * genre_mean[:, None]
        denominator = counts + self.shrinkage
        cell = np.divide(shrunk, denominator, where=denominator > 0,
                         out=np.broadcast_to(genre_mean[:, None], shrunk.shape).copy())
        n_genres = np.maximum(genres.sum(axis=1), 1)
        scores = genres @ genre_mean / n_genres  # unknown year: the genres' popularity
        item_cells = cell[:, year_ids]  # (n_genres, n_known): the cells of each dated item
        scores[known] = (genres[known] * item_cells.T).sum(axis=1) / n_genres[known]
        self.item_scores_ = scores

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(users), self.n_items_))


def _check_item_genres(item_genres, n_items: int) -> np.ndarray:
    genres = np.asarray(item_genres, dtype=float)
    if genres.ndim != 2 or genres.shape[0] != n_items:
        raise ValueError(f"item_genres must have shape (n_items={n_items}, n_genres), got "
                         f"{genres.shape}")
    return genres


class ContentKNN(Recommender):
    """Content-based nearest neighbours: a user's score for an item is its mean content
    similarity to the items the user interacted with in training.

    With ``c_i`` item ``i``'s content vector (a row of ``item_content``, e.g. the bag of its
    content tokens) and ``I_u`` the training items of user ``u``, the score of item ``j`` is::

        s_uj = (1 / |I_u|) Σ_{i ∈ I_u} cos(c_i, c_j),   cos(a, b) = a·b / (‖a‖ ‖b‖ + shrinkage).

    With ``idf=True`` each content column is first weighted by its inverse document
    frequency ``log(n_items / n_t)`` (``n_t`` the items that carry it), so that a token
    carried by half the catalogue (a common genre) counts less than a shared director.
    Nothing is learned from interactions except the history itself, so an item nobody has
    rated is scored like any other: the classic content-based recommender, the baseline
    for the COLD protocol that uses the same content as the book's content models.

    Parameters
    ----------
    item_content : array or sparse matrix, shape ``(n_items, n_features)``, non-negative;
        or the :class:`~recsys_lab.features.ItemContent` of ``content_tokens`` (its tokens
        become a binary bag of tokens).
    shrinkage : float ≥ 0
        Added to the cosine's denominator, damping the similarity of items with little
        content.
    idf : bool
        Weight content columns by inverse document frequency.

    After ``fit``: ``item_vectors_``, the weighted content (sparse, ``(n_items, n_features)``),
    and ``similarity_``, the dense ``(n_items, n_items)`` matrix of ``cos(c_i, c_j)`` (0 for
    an item without content).

    Defaults chosen on the COLD validation split of ML-100K (chapter 5, NDCG@10) with the
    content tokens of :func:`recsys_lab.features.content_tokens`: with ``idf``, ``shrinkage``
    0, 1, 10, 30, 100, 300 gave 0.1189, 0.1192, 0.1249, 0.1359, 0.1591, 0.1492; without
    ``idf``, 0.0786, 0.0785, 0.0961 at 0, 1, 10. A large shrinkage favours items with much
    content, which on MovieLens are the well-known, popular films.
    """

    hyperparameters = {"item_content": DATA, "shrinkage": NON_NEGATIVE, "idf": FLAG}

    def __init__(self, item_content, shrinkage: float = 100.0, idf: bool = True):
        self.item_content = item_content
        self.shrinkage = shrinkage
        self.idf = idf

    def _content_matrix(self) -> sp.csr_matrix:
        content = self.item_content
        tokens = getattr(content, "tokens", None)
        if tokens is not None:  # an ItemContent: its tokens as a binary bag of tokens
            from recsys_lab.features import bag_of_tokens

            return bag_of_tokens(tokens, content.vocab_size)
        try:
            matrix = sp.csr_matrix(content, dtype=float)
        except (TypeError, ValueError) as error:
            raise ValueError(f"item_content must be a 2-D array of numbers: {error}") from None
        if matrix.ndim != 2 or matrix.shape[0] != self.n_items_:
            raise ValueError(f"item_content must have shape (n_items={self.n_items_}, "
                             f"n_features), got {matrix.shape}")
        if matrix.nnz and (not np.all(np.isfinite(matrix.data)) or matrix.data.min() < 0):
            raise ValueError("item_content must hold finite, non-negative values")
        return matrix

    def _fit(self, train: pd.DataFrame) -> None:
        content = self._content_matrix()
        if content.shape[0] != self.n_items_:
            raise ValueError(f"item_content has {content.shape[0]} rows, one per item is "
                             f"needed ({self.n_items_})")
        if self.idf:
            carriers = np.asarray((content > 0).sum(axis=0), dtype=float).ravel()
            content = content @ sp.diags(np.log(self.n_items_ / np.maximum(carriers, 1)))
        self.item_vectors_ = vectors = sp.csr_matrix(content)
        norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
        denominator = np.outer(norms, norms) + self.shrinkage
        self.similarity_ = np.divide((vectors @ vectors.T).toarray(), denominator,
                                     out=np.zeros(denominator.shape), where=denominator > 0)

    def _score(self, users: np.ndarray) -> np.ndarray:
        history = self.history_[users]
        counts = np.maximum(np.asarray(history.sum(axis=1)).ravel(), 1)
        return np.asarray(history @ self.similarity_) / counts[:, None]
