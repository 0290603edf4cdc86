"""The one interface every model of the book implements, so evaluation never special-cases one.

* ``fit(train, n_users, n_items, valid=None) -> self``: learn from a frame with ``user``,
  ``item`` (and ``rating`` for rating models) columns. A model that trains in epochs calls
  ``valid(model)`` after every epoch, when given, and records what it returns in ``curves_``.
* ``predict(users, items) -> ratings``, shape ``(n,)``, for models that predict ratings.
* ``score_items(users) -> scores``, shape ``(len(users), n_items)``, higher is better, for
  ranking: a fresh, writable float array. The caller removes the training history.

One name per concept in every model:

=================  ======================================================================
``epochs``         passes over the training data (ALS: alternations)
``learning_rate``  the optimiser's step size
``l2``             the L2 penalty (``l2_bias``, ``l2_user``, ... for a second one)
``batch_size``     examples per gradient step
``seed``           seeds everything random in ``fit``; the caller's global state is left alone
``network_``       the fitted Keras network, built by the overridable ``build_network()``
``curves_``        a DataFrame indexed by epoch: ``loss`` and, with ``valid``, its metrics
=================  ======================================================================

Hyper-parameters are set in ``__init__`` and never changed by ``fit``; learned state ends
with an underscore, as in scikit-learn. Each class declares the allowed values of its
hyper-parameters in ``hyperparameters`` (see :mod:`recsys_lab.validation`); ``fit`` checks
them and raises a ``ValueError`` that names the parameter and the allowed range.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_lab.training import isolated_random_state
from recsys_lab.validation import (
    Rule,
    check_count,
    check_fitted,
    check_hyperparameters,
    check_ids,
    check_interactions,
)

#: What ``valid`` is: a function of the model being fitted that returns metric values.
ValidationFunction = Callable[["Recommender"], Mapping[str, float]]


def interaction_matrix(
    frame: pd.DataFrame, n_users: int, n_items: int, values: str | None = None
) -> sp.csr_matrix:
    """Sparse ``(n_users, n_items)`` matrix of a frame: 1 per interaction, or ``frame[values]``.

    Duplicate (user, item) pairs are counted once (binary) or keep their last value.
    """
    frame = frame.drop_duplicates(["user", "item"], keep="last")
    data = np.ones(len(frame)) if values is None else frame[values].to_numpy(dtype=float)
    return sp.csr_matrix(
        (data, (frame["user"].to_numpy(), frame["item"].to_numpy())), shape=(n_users, n_items)
    )


class _NetworkWeights:
    """A pickled model's Keras network: its weights, in ``get_weights()`` order."""

    def __init__(self, weights: list[np.ndarray]):
        self.weights = weights


class Recommender:
    """Base class: validation at the boundary and the shared bookkeeping of ``fit``.

    Subclasses implement ``_fit(train)`` and ``_score(users)`` (and ``_predict`` for rating
    models), and declare ``hyperparameters``: one :class:`~recsys_lab.validation.Rule` per
    constructor argument. ``fit`` runs ``_fit`` with the global random generators seeded by
    the model's ``seed`` and restored afterwards
    (:func:`~recsys_lab.training.isolated_random_state`).
    """

    #: The columns ``train`` must have (rating models add ``rating``, sequence models
    #: ``timestamp``).
    columns: ClassVar[tuple[str, ...]] = ("user", "item")
    trains_in_epochs: ClassVar[bool] = False
    hyperparameters: ClassVar[dict[str, Rule]] = {}

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int,
            valid: ValidationFunction | None = None):
        """Learn from ``train``; ids must lie in ``[0, n_users)`` and ``[0, n_items)``.

        ``valid`` (models that train in epochs only) is called as ``valid(self)`` after every
        epoch and returns metrics to record in ``curves_``, e.g.
        ``recsys_lab.evaluate.Validation(train, valid_frame, "TOPN")``. Returns ``self``.
        """
        n_users, n_items = check_count(n_users, "n_users"), check_count(n_items, "n_items")
        check_hyperparameters(self)
        train = check_interactions(train, name="train", columns=self.columns, n_users=n_users,
                                   n_items=n_items)
        self._check_validation(valid)
        self.n_users_, self.n_items_ = n_users, n_items
        self.history_ = interaction_matrix(train, n_users, n_items)
        self._validation = valid
        try:
            with isolated_random_state(int(getattr(self, "seed", 0))):
                self._fit(train)
        except BaseException:
            self._forget_fit()  # a failed fit leaves an unfitted model, not half a fitted one
            raise
        finally:
            self.__dict__.pop("_validation", None)
        return self

    def _forget_fit(self) -> None:
        """Drop everything ``fit`` learned or kept (names ending or starting with ``_``)."""
        for name in [n for n in vars(self) if n.endswith("_") or n.startswith("_")]:
            delattr(self, name)

    def _check_validation(self, valid) -> None:
        if valid is None:
            return
        name = type(self).__name__
        if not self.trains_in_epochs:
            raise ValueError(f"{name} does not train in epochs, so it takes no valid=; "
                             "evaluate it on the validation split after fit instead")
        if not callable(valid):
            raise ValueError(f"valid must be a function of the model that returns metrics, "
                             f"e.g. recsys_lab.evaluate.Validation(train, valid, protocol); "
                             f"got {type(valid).__name__}")

    def score_items(self, users) -> np.ndarray:
        """Scores of every item for each user, shape ``(len(users), n_items)``; higher is better.

        ``users`` is a 1-D array-like of user ids (it may be empty). Returns a new float array.
        """
        check_fitted(self, "history_")
        users = check_ids(users, self.n_users_, kind="user")
        if len(users) == 0:
            return np.zeros((0, self.n_items_))
        scores = np.array(self._score(users), dtype=float)  # a copy: callers may write to it
        if scores.shape != (len(users), self.n_items_):
            raise RuntimeError(f"{type(self).__name__}._score returned shape {scores.shape}, "
                               f"expected {(len(users), self.n_items_)}")
        return scores

    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings for the pairs ``(users[j], items[j])``, shape ``(n,)``."""
        check_fitted(self, "history_")
        if not hasattr(self, "_predict"):
            raise ValueError(f"{type(self).__name__} ranks items; it does not predict ratings")
        users = check_ids(users, self.n_users_, kind="user")
        items = check_ids(items, self.n_items_, kind="item")
        if users.shape != items.shape:
            raise ValueError(f"users has shape {users.shape} but items has shape {items.shape}")
        if len(users) == 0:
            return np.zeros(0)
        return np.array(self._predict(users, items), dtype=float)

    def get_params(self) -> dict:
        """The constructor arguments, by name (the hyper-parameters)."""
        return {name: getattr(self, name) for name in self.hyperparameters}

    # A fitted model pickles with its Keras networks as their weights alone: Keras's own
    # pickling needs every custom layer to rebuild itself from a JSON config, which a layer
    # holding a graph's edges or a set of feature fields cannot. Unpickling builds each
    # network again from the fitted state and sets its weights, so the model scores exactly
    # as before; it can be fitted again, not trained further.

    #: Fitted Keras networks by attribute, each with the method that builds it again from
    #: its weights (``get_weights()`` order), in the order they are rebuilt.
    _keras_parts: ClassVar[dict[str, str]] = {"network_": "_rebuild_network"}
    #: Fitted Keras parts of the networks that their rebuild makes again.
    _rebuilt_with_network: ClassVar[tuple[str, ...]] = ()

    def _rebuild_network(self, weights: list[np.ndarray]):
        """A new, built ``network_`` that ``weights`` fit."""
        return self.build_network()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for name in self._keras_parts:
            if hasattr(state.get(name), "get_weights"):
                state[name] = _NetworkWeights([np.array(w) for w in state[name].get_weights()])
        for name in self._rebuilt_with_network:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for name, rebuild in self._keras_parts.items():
            saved = state.get(name)
            if isinstance(saved, _NetworkWeights):
                with isolated_random_state(int(getattr(self, "seed", 0))):
                    network = getattr(self, rebuild)(saved.weights)
                network.set_weights(saved.weights)
                setattr(self, name, network)

    def __repr__(self) -> str:
        """One line: the parameters, data arrays left out and sparse matrices summarised."""
        def shown(value):
            if sp.issparse(value):
                rows, columns = value.shape
                return f"<{rows}×{columns} sparse matrix, {value.nnz} stored>"
            return repr(value)

        params = ", ".join(f"{k}={shown(v)}" for k, v in self.get_params().items()
                           if not isinstance(v, np.ndarray))
        return f"{type(self).__name__}({params})"


def clone(model):
    """An unfitted copy of ``model``: the same class with the same hyper-parameters.

    Works for any object with ``get_params()`` whose keys are its constructor's arguments,
    as :class:`Recommender`'s are. The parameters are shared, not copied (as in
    scikit-learn's ``clone(safe=False)``); they are never changed by ``fit``.
    """
    return type(model)(**model.get_params())


class RatingRecommender(Recommender):
    """A model of explicit ratings; it ranks items by predicted rating."""

    columns = ("user", "item", "rating")

    def _score(self, users: np.ndarray) -> np.ndarray:
        items = np.arange(self.n_items_)
        pairs_users = np.repeat(users, self.n_items_)
        return self._predict(pairs_users, np.tile(items, len(users))).reshape(len(users), -1)


class EpochRecommender(Recommender):
    """A model trained in epochs: one training loop for all of them.

    ``fit`` calls ``_start(train)`` (prepare the data and the model, e.g. build
    ``network_``), then for each of ``epochs`` epochs ``_train_epoch(epoch)``, which returns
    the epoch's training losses as a dict (``{"loss": ...}``). When ``fit`` is given
    ``valid``, ``_finish()`` brings the fitted state up to date and ``valid(self)``'s metrics
    join the epoch's row. ``curves_`` is the DataFrame of those rows, indexed by epoch.
    ``_stop(rows)`` may end training early (default: never); ``_end_training()`` then
    releases what only training needed, and ``_finish()`` runs once more.
    """

    trains_in_epochs = True

    def _fit(self, train: pd.DataFrame) -> None:
        self._start(train)
        rows = []
        for epoch in range(1, int(self.epochs) + 1):
            row = dict(self._train_epoch(epoch))
            if self._validation is not None:
                self._finish()
                row |= {name: float(value) for name, value in self._validation(self).items()}
            rows.append(row)
            if self._stop(rows):
                break
        self.curves_ = pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1, name="epoch"))
        self._end_training()
        self._finish()

    def _start(self, train: pd.DataFrame) -> None:
        raise NotImplementedError

    def _train_epoch(self, epoch: int) -> dict:
        raise NotImplementedError

    def _finish(self) -> None:
        """Make scoring reflect the current parameters (default: nothing to do)."""

    def _end_training(self) -> None:
        """After the last epoch: e.g. restore the best weights, drop training arrays."""

    def _stop(self, rows: list[dict]) -> bool:
        return False
