"""Every model of the book, with the settings its chapter chose, in one place.

Chapter 11 re-runs the whole book from this list, so the leaderboard there is reproducible on
its own. An :class:`Entry` names a leaderboard row, the protocol it is scored under, the
chapter that tuned it, and how to build it: a class given as ``"module:Class"`` (imported only
when built, so this module never imports TensorFlow), keyword arguments beyond the class's
defaults, and arguments derived from the data (item genres, item content tokens). A blend's
entry also names its ``members``: other rows of its protocol, built from their own entries.

>>> from recsys_lab.registry import entries
>>> [e.name for e in entries("SEQ")][:2]
['MostPopular', 'EASE']

:func:`run_all` fits and scores every entry of some protocols on the standard splits and
returns one tidy table, with each model's fit time and number of learned parameters.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys_lab.model_store import ModelStore, fit_key
from recsys_lab.parallel import map_in_processes
from recsys_lab.splits import (
    COLD,
    COLD_USER,
    COLD_USER_5,
    PROTOCOLS,
    RATING,
    SEQ,
    TOPN,
    standard_splits,
)


def _item_genres(data) -> np.ndarray:
    from recsys_lab.features import genre_matrix

    return genre_matrix(data.items, data.genres)


def _item_years(data) -> np.ndarray:
    years = data.items.set_index("item")["year"].reindex(np.arange(data.n_items))
    return years.to_numpy(dtype=float, na_value=np.nan)


def _item_tokens(data):
    from recsys_lab.features import content_tokens

    return content_tokens(data.items, data.kg)


def _item_entities(data):
    from recsys_lab.features import item_entities

    return item_entities(data.kg, data.n_items).matrix


def _user_groups(data):
    from recsys_lab.fields import demographic_groups

    return demographic_groups(data.users)[0]


def _user_fields(data):
    from recsys_lab.fields import user_fields

    return user_fields(data.users)


def _item_fields(data):
    from recsys_lab.fields import item_fields

    return item_fields(data.items, data.kg)


#: Constructor arguments that come from the data, by the name an :class:`Entry` uses.
DATA_ARGUMENTS: dict[str, Callable] = {"item_genres": _item_genres, "item_years": _item_years,
                                       "item_tokens": _item_tokens,
                                       "item_entities": _item_entities,
                                       "user_groups": _user_groups, "user_fields": _user_fields,
                                       "item_fields": _item_fields}


@dataclass(frozen=True)
class Entry:
    """One leaderboard row: a model, its chapter's settings and the protocol it runs under.

    Attributes
    ----------
    name : the row's name, unique per protocol across the book (e.g. ``"MF-ALS"``).
    protocol : one of :data:`recsys_lab.splits.PROTOCOLS` (``"RATING"``, ``"TOPN"``, ``"SEQ"``,
        ``"COLD"``, ``"COLD-USER"``, ``"COLD-USER+5"``).
    chapter : the chapter that introduces and tunes the model.
    factory : ``"module:Class"``; the class follows the book's model interface.
    params : keyword arguments that differ from the class's defaults.
    data_params : constructor arguments computed from the dataset, as
        ``{argument: key of DATA_ARGUMENTS}``.
    members : the rows of the same protocol a blend combines, by name; built as their
        entries build them and passed as the constructor's ``members`` mapping.
    """

    name: str
    protocol: str
    chapter: int
    factory: str
    params: Mapping = field(default_factory=dict)
    data_params: Mapping = field(default_factory=dict)
    members: tuple[str, ...] = ()

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"{self.name}: unknown protocol {self.protocol!r}")
        if ":" not in self.factory:
            raise ValueError(f"{self.name}: factory must be 'module:Class', got {self.factory!r}")
        unknown = set(self.data_params.values()) - set(DATA_ARGUMENTS)
        if unknown:
            raise ValueError(f"{self.name}: unknown data arguments {sorted(unknown)}")

    @property
    def model_class(self) -> type:
        """The model's class (importing its module, which may import Keras)."""
        module, _, name = self.factory.partition(":")
        return getattr(importlib.import_module(module), name)

    def build(self, data, fitted: Mapping | None = None):
        """A fresh, unfitted model with the chapter's settings; ``data`` is the dataset.

        A blend's members are built from their own entries, except those found in
        ``fitted`` (``{(protocol, name): fitted model}``, as :func:`run` fills it), which are
        passed as they are for the blend to reuse.
        """
        derived = {arg: DATA_ARGUMENTS[key](data) for arg, key in self.data_params.items()}
        if self.members:
            fitted = fitted or {}
            derived["members"] = {
                name: fitted[self.protocol, name] if (self.protocol, name) in fitted
                else get(name, self.protocol).build(data) for name in self.members}
        return self.model_class(**derived, **self.params)

    def call(self) -> str:
        """The constructor call as a reader would type it."""
        args = [f"{k}={v!r}" for k, v in self.params.items()]
        args = [*(f"{k}=<{v}>" for k, v in self.data_params.items()), *args]
        if self.members:
            args.insert(0, f"members=<{', '.join(self.members)}>")
        return f"{self.factory.partition(':')[2]}({', '.join(args)})"


_B = "recsys_lab.baselines:"
_M = "recsys_lab.models."
#: The feature models of chapter 10 see users and items through their side fields.
_FIELDS = {"user_fields": "user_fields", "item_fields": "item_fields"}
#: The new user (chapter 10, on the COLD-USER validation splits): implicit feedback needs a
#: weaker penalty than the rating defaults and ten epochs; each user's first ten films form a
#: "history" field, and a user with fewer than ten training rows gets no id vector of her own
#: (FM, validation NDCG@10 with five ratings known: 0.446 with that rule, 0.409 without).
_NEW_USER = {"task": "implicit", "l2": 1e-3, "epochs": 10, "user_history": 10,
             "min_user_rows": 10}

#: The book's models in chapter order. Defaults of each class are its chapter's choice.
ENTRIES: tuple[Entry, ...] = (
    Entry("GlobalMean", RATING, 1, _B + "GlobalMean"),
    Entry("Biases", RATING, 1, _B + "Biases"),
    Entry("MostPopular", TOPN, 1, _B + "MostPopular"),
    Entry("ItemKNN", TOPN, 1, _B + "ItemKNN"),
    Entry("EASE", TOPN, 1, _B + "EASE"),
    Entry("UserKNN", TOPN, 1, _B + "UserKNN"),
    Entry("RP3beta", TOPN, 1, _B + "RP3beta"),
    Entry("iALS", TOPN, 1, _M + "mf:WRMF"),
    Entry("MostPopular", SEQ, 1, _B + "MostPopular"),
    Entry("EASE", SEQ, 1, _B + "EASE"),
    Entry("MostPopular", COLD, 1, _B + "MostPopular"),
    Entry("GenrePopularity", COLD, 1, _B + "GenrePopularity", data_params={
        "item_genres": "item_genres"}),
    Entry("MostPopular", COLD_USER, 1, _B + "MostPopular"),
    Entry("MostPopular", COLD_USER_5, 1, _B + "MostPopular"),
    Entry("EASE", COLD_USER_5, 1, _B + "EASE"),
    # iALS's user step is the fold-in of a new user's ratings given the item factors.
    Entry("iALS", COLD_USER_5, 1, _M + "mf:WRMF"),
    Entry("MF-SGD", RATING, 2, _M + "mf:SGDMatrixFactorization"),
    Entry("MF-ALS", RATING, 2, _M + "mf:ALSMatrixFactorization"),
    Entry("MF-Keras", RATING, 2, _M + "mf:KerasMatrixFactorization"),
    Entry("MF-ALS", TOPN, 2, _M + "mf:ALSMatrixFactorization"),
    Entry("DotProductMF", TOPN, 3, _M + "ncf:DotProductMF"),
    Entry("GMF", TOPN, 3, _M + "ncf:GMF"),
    Entry("MLP", TOPN, 3, _M + "ncf:MLPRecommender"),
    Entry("NeuMF", TOPN, 3, _M + "ncf:NeuMF"),
    Entry("TwoTower", TOPN, 3, _M + "ncf:TwoTower"),
    Entry("CML", TOPN, 3, _M + "ncf:CollaborativeMetricLearning"),
    Entry("I-AutoRec", RATING, 4, _M + "autoencoders:AutoRec"),
    Entry("U-AutoRec", RATING, 4, _M + "autoencoders:AutoRec", {"item_based": False}),
    Entry("CDAE", TOPN, 4, _M + "autoencoders:CDAE"),
    Entry("Mult-DAE", TOPN, 4, _M + "autoencoders:MultDAE"),
    Entry("Mult-VAE", TOPN, 4, _M + "autoencoders:MultVAE"),
    Entry("ALS-implicit", TOPN, 5, _M + "mf:ImplicitALS"),
    Entry("ContentCNN", COLD, 5, _M + "content:ContentToFactors",
          data_params={"item_tokens": "item_tokens"}),
    Entry("ContentBag", COLD, 5, _M + "content:ContentToFactors",
          {"encoder": "bag", "epochs": 20, "learning_rate": 1e-3},  # content.BAG_SETTINGS
          data_params={"item_tokens": "item_tokens"}),
    Entry("ContentTower", COLD, 5, _M + "content:ContentTower",
          data_params={"item_tokens": "item_tokens"}),
    Entry("GenreYearPopularity", COLD, 5, _B + "GenreYearPopularity",
          data_params={"item_genres": "item_genres", "item_years": "item_years"}),
    Entry("ContentKNN", COLD, 5, _B + "ContentKNN", data_params={"item_content": "item_tokens"}),
    Entry("Markov", SEQ, 6, _M + "sequential:MarkovChain"),
    Entry("SessionKNN", SEQ, 6, _M + "sequential:SessionKNN"),
    Entry("GRU4Rec", SEQ, 6, _M + "sequential:GRU4Rec"),
    Entry("SASRec", SEQ, 7, _M + "attention:SASRec"),
    Entry("CFGAN", TOPN, 8, _M + "gan:CFGAN"),
    Entry("CFGAN-G", TOPN, 8, _M + "gan:CFGAN", {"adversarial": False}),
    Entry("GraphFilter", TOPN, 9, _B + "GraphFilter"),
    Entry("LightGCN", TOPN, 9, _M + "graph:LightGCN"),
    Entry("GraphFilter-KG", COLD, 9, _B + "GraphFilter",
          data_params={"item_entities": "item_entities"}),
    Entry("LightGCN-KG", COLD, 9, _M + "graph:LightGCN",
          data_params={"item_entities": "item_entities"}),
    Entry("FM", RATING, 10, _M + "features:FactorizationMachine", data_params=_FIELDS),
    Entry("DeepFM", RATING, 10, _M + "features:DeepFM", data_params=_FIELDS),
    # The new user: side fields only, then side fields and the first five ratings.
    Entry("GroupPopularity", COLD_USER, 10, _B + "GroupPopularity",
          data_params={"user_groups": "user_groups"}),
    Entry("FM", COLD_USER, 10, _M + "features:FactorizationMachine", _NEW_USER,
          data_params=_FIELDS),
    Entry("DeepFM", COLD_USER, 10, _M + "features:DeepFM", _NEW_USER, data_params=_FIELDS),
    Entry("DCN-v2", COLD_USER, 10, _M + "features:DCNv2", _NEW_USER, data_params=_FIELDS),
    Entry("GroupPopularity", COLD_USER_5, 10, _B + "GroupPopularity",
          data_params={"user_groups": "user_groups"}),
    Entry("FM", COLD_USER_5, 10, _M + "features:FactorizationMachine", _NEW_USER,
          data_params=_FIELDS),
    Entry("DeepFM", COLD_USER_5, 10, _M + "features:DeepFM", _NEW_USER, data_params=_FIELDS),
    Entry("DCN-v2", COLD_USER_5, 10, _M + "features:DCNv2", _NEW_USER, data_params=_FIELDS),
    # The leaderboard's blend: weights fitted on ratings held out of training (its docstring
    # gives how the members were chosen on validation data).
    Entry("Blend", RATING, 11, _M + "blend:LinearBlend",
          members=("I-AutoRec", "U-AutoRec", "FM")),
)


def entries(protocol: str | None = None, chapter: int | None = None) -> list[Entry]:
    """The registered models, optionally only one protocol's or one chapter's."""
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    return [e for e in ENTRIES if (protocol is None or e.protocol == protocol)
            and (chapter is None or e.chapter == chapter)]


def get(name: str, protocol: str) -> Entry:
    """The entry of row ``name`` under ``protocol``; a clear error names the known rows."""
    for entry in entries(protocol):
        if entry.name == name:
            return entry
    known = [e.name for e in entries(protocol)]
    raise ValueError(f"no model {name!r} under {protocol}; known: {known}")


def row_groups(protocol: str, neural) -> pd.DataFrame:
    """One protocol's rows, each with its chapter, its call and its group, for a leaderboard.

    ``neural`` names the rows the book counts as neural networks; every one must be a row of
    ``protocol``. Returns a DataFrame indexed by ``row`` (registry order) with columns
    ``chapter`` (int), ``model`` (:meth:`Entry.call`), ``group`` (``"neural"`` or ``"not
    neural"``) and ``Keras`` (bool: the model builds a Keras network; this imports the
    model classes' modules).
    """
    rows = entries(protocol)
    neural = set(neural)
    unknown = neural - {e.name for e in rows}
    if unknown:
        raise ValueError(f"neural names {sorted(unknown)} that are not rows of {protocol}; "
                         f"known: {[e.name for e in rows]}")
    return pd.DataFrame([{"row": e.name, "chapter": e.chapter, "model": e.call(),
                          "group": "neural" if e.name in neural else "not neural",
                          "Keras": hasattr(e.model_class, "build_network")}
                         for e in rows]).set_index("row")


def count_parameters(model) -> int:
    """Learned numbers in a fitted model: its Keras weights, or else its NumPy arrays.

    Keras weights are counted once each, however many attributes share them (a tower inside
    a network, an encoder inside a model); arrays computed from the networks for scoring are
    not counted again. A model without networks counts every float array attribute ending
    in ``_`` except the training history (EASE: its item–item matrix). Fitted sub-models
    (e.g. the factorisation a content model regresses on) add their own count; an array
    shared with a sub-model is counted once.
    """
    return _count(model, set())


def _count(model, counted: set) -> int:
    from recsys_lab.base import Recommender

    learned = {name: value for name, value in vars(model).items()
               if name.endswith("_") and name != "history_"}
    variables = {id(v): v for value in learned.values() if hasattr(value, "count_params")
                 for v in value.weights}
    total = sum(int(np.prod(v.shape)) for key, v in variables.items() if key not in counted)
    counted |= set(variables)
    models = [v for value in learned.values()
              for v in (value.values() if isinstance(value, Mapping) else [value])]
    total += sum(_count(v, counted) for v in models if isinstance(v, Recommender))
    if variables:
        return total
    for value in learned.values():
        is_array = isinstance(value, np.ndarray) or hasattr(value, "nnz")  # sparse too
        if not is_array or value.dtype.kind != "f" or id(value) in counted:
            continue
        counted.add(id(value))
        total += int(value.nnz) if hasattr(value, "nnz") else value.size
    return total


def run(entry: Entry, data, splits: Mapping, models: dict | None = None,
        store: ModelStore | bool = True) -> dict:
    """Fit ``entry``'s model on its protocol's training data and score the test part.

    ``splits`` maps each protocol to its split (:func:`recsys_lab.splits.standard_splits`).
    ``models``, when given, receives the fitted model under ``(protocol, name)``, so that
    it can be compared user by user (:func:`recsys_lab.evaluate.per_user_metrics`)
    without fitting it again; a blend takes its members from it when they are there.
    A blend's ``fit_seconds`` then counts only its own work: :func:`run_all` adds its
    members' fits.
    ``store``: a :class:`~recsys_lab.model_store.ModelStore` to read the fitted model and
    its row from when an earlier run saved the same fit (same entry, split, data and code),
    and to save them to otherwise; ``True`` (the default) takes
    :meth:`ModelStore.from_environment` (``$RECSYS_LAB_MODEL_STORE``, unset: no store),
    ``False`` always fits. A stored row keeps the ``fit_seconds`` of the fit that made it.
    Returns :func:`~recsys_lab.evaluate.evaluate`'s row plus ``chapter``, ``parameters``
    and ``score_seconds``.
    """
    from recsys_lab.evaluate import scoring_inputs

    split = splits[entry.protocol]
    train, candidates = scoring_inputs(split, entry.protocol)
    store = ModelStore.from_environment() if store is True else store or None
    key = fit_key(entry, data, train, split.test, candidates) if store else None
    stored = store.load(key) if store else None
    if stored:
        row, model = stored
    else:
        model = entry.build(data, models)
        row = run_model(model, entry.name, entry.protocol, data, split)
        row["chapter"] = entry.chapter
        if store:
            store.save(key, row, model)
    if models is not None:
        models[(entry.protocol, entry.name)] = model
    return row


def run_model(model, name: str, protocol: str, data, split, board=None) -> dict:
    """Fit and score any model as :func:`run` does an entry: a row for a chapter's table.

    For a model that is not a registry entry, such as the network a chapter writes out:
    ``model`` (unfitted) is fitted on ``split``'s training data for ``protocol`` and scored
    on ``split.test`` (:func:`~recsys_lab.evaluate.evaluate`, with the sizes of ``data``),
    and listed as ``name``. Returns that row plus ``score_seconds`` and ``parameters``
    (:func:`count_parameters`); ``board``, a :class:`~recsys_lab.evaluate.Leaderboard`,
    receives the row too. Nothing is read from or saved to a model store.
    """
    from recsys_lab.evaluate import evaluate, scoring_inputs

    train, candidates = scoring_inputs(split, protocol)
    extra = {} if candidates is None else {"candidates": candidates}
    start = time.perf_counter()
    row = evaluate(model, train, split.test, protocol, name=name, n_users=data.n_users,
                   n_items=data.n_items, **extra)
    row["score_seconds"] = time.perf_counter() - start - row["fit_seconds"]
    row["parameters"] = count_parameters(model)
    if board is not None:
        board.add(row)
    return row


def run_rows(names, protocol: str, data, split, store: ModelStore | bool = True,
             board=None):
    """Run the entries ``names`` of ``protocol`` on ``split`` (:func:`run`), in that order.

    For a chapter's test-split table: returns ``(board, models)``, a
    :class:`~recsys_lab.evaluate.Leaderboard` of their rows and ``{name: fitted model}``.
    ``board``: a leaderboard to add the rows to (e.g. one that already holds the chapter's
    own networks), returned; by default a new one. ``store`` is passed to :func:`run`.
    """
    from recsys_lab.evaluate import Leaderboard

    fitted = {}
    board = Leaderboard() if board is None else board
    for name in names:
        board.add(run(get(name, protocol), data, {protocol: split}, fitted, store))
    return board, {name: fitted[protocol, name] for name in names}


def run_rows_on_splits(names, protocol: str, data, splits, store: ModelStore | bool = True,
                       n_jobs: int = 1) -> list[tuple]:
    """:func:`run_rows` on each split of ``splits``, e.g. validation folds, ``n_jobs`` at a time.

    Returns ``[(board, models)]``, one pair per split, in the order of ``splits``. With
    ``n_jobs`` above 1 the splits are fitted in worker processes
    (:func:`recsys_lab.parallel.map_in_processes`): the same fits, with the same seeds and
    thread count, as a loop over :func:`run_rows` makes, returned pickled (a Keras model
    with its weights). ``store`` is passed to :func:`run`; the workers read and write the
    same store.
    """
    names = list(names)
    for name in names:
        get(name, protocol)  # an unknown name fails here, before any process starts
    return map_in_processes(run_rows, [(names, protocol, data, split, store)
                                       for split in splits], n_jobs)


def run_all(protocols, data, splits: Mapping | None = None,
            models: dict | None = None, store: ModelStore | bool = True) -> pd.DataFrame:
    """Run every entry of ``protocols`` (:func:`run`); one row per entry, in registry order.

    ``splits`` defaults to :func:`recsys_lab.splits.standard_splits` of ``data.ratings``
    (cold items and users drawn from all ``data.n_items`` and ``data.n_users``).
    Columns: ``protocol``, ``model``, ``chapter``, the metrics of each protocol (NaN where a
    protocol does not report one), ``fit_seconds``, ``score_seconds`` and ``parameters``.
    ``Leaderboard(table.to_dict("records")).table(protocol)`` sorts one protocol's rows.
    ``models``, when given a dict, receives every fitted model (see :func:`run`). A blend
    reuses its members' rows (fitted on the same split); its ``fit_seconds`` is its own
    work plus the fits of the members it reused, what fitting it alone costs.
    ``store`` is passed to :func:`run`.
    """
    protocols = [protocols] if isinstance(protocols, str) else list(protocols)
    for protocol in protocols:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    splits = splits if splits is not None else standard_splits(
        data.ratings, n_items=data.n_items, n_users=data.n_users)
    models = models if models is not None else {}
    store = ModelStore.from_environment() if store is True else store
    rows = {}
    for entry in (e for protocol in protocols for e in entries(protocol)):
        row = run(entry, data, splits, models, store)
        reused = getattr(models[entry.protocol, entry.name], "prefit_members_", ())
        row["fit_seconds"] += sum(rows[entry.protocol, name]["fit_seconds"] for name in reused)
        rows[entry.protocol, entry.name] = row
    first = ["protocol", "model", "chapter"]
    last = ["fit_seconds", "score_seconds", "parameters"]
    table = pd.DataFrame(list(rows.values()))
    middle = [c for c in table.columns if c not in first + last]
    return table[first + middle + last]
