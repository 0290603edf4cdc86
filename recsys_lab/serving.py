"""A trained two-tower model as a served pipeline: exported towers, retrieval, then ranking.

In production the two towers of a :class:`~recsys_lab.models.ncf.TwoTower` live apart: the
item tower runs offline over the catalogue and fills an approximate-nearest-neighbour index;
the user tower runs on every request, and its vector queries the index; a heavier ranking
model then re-orders the few hundred candidates retrieved.

* :func:`export_towers` writes each tower as a TensorFlow SavedModel (Keras 3's
  ``ExportArchive``) with one serving signature, ``serve(id: int32 (batch,), features:
  float32 (batch, d)) -> float32 (batch, dim)``; the folder appears whole or not at all.
* :func:`load_tower` reads one back (``tf.saved_model.load``, no Keras needed) as a
  :class:`ServedTower`, a callable ``(ids, features) -> vectors`` giving the fitted
  model's vectors.
* :func:`pipeline_latency` times the three stages of one request (user tower, index search,
  re-rank with :func:`recsys_lab.retrieval.retrieve_then_rank`), one user per request and
  a batch of users per request, and returns the median and 95th percentile per stage.

TensorFlow is imported inside the functions, so ``import recsys_lab`` stays light.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_lab.retrieval import InnerProductIndex, retrieve_then_rank

__all__ = ["ServedTower", "export_towers", "load_tower", "pipeline_latency"]

#: The sub-folders of an export, one SavedModel per tower.
TOWERS = ("user_tower", "item_tower")
#: The name of the serving signature of each exported tower.
SIGNATURE = "serve"


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def _fitted_towers(model):
    """The fitted model's two Keras towers, after checking it is a fitted two-tower model."""
    network = getattr(model, "network_", None)
    if network is None:
        raise ValueError(f"{type(model).__name__} is not fitted (no network_): fit the "
                         "two-tower model before exporting it")
    names = {layer.name for layer in network.layers}
    missing = [name for name in TOWERS if name not in names]
    if missing:
        raise ValueError(f"{type(model).__name__}.network_ has no layer named "
                         f"{' or '.join(missing)}: export_towers needs a two-tower network "
                         "(recsys_lab.models.ncf.two_tower_network)")
    return [network.get_layer(name) for name in TOWERS]


def _export_tower(tower, path: Path) -> None:
    """Write ``tower`` as a SavedModel with the ``serve(id, features)`` signature."""
    import keras
    import tensorflow as tf

    n_features = int(tower.input["features"].shape[-1])
    archive = keras.export.ExportArchive()
    archive.track(tower)
    # An explicit signature: an int32 id vector and a float32 feature matrix, any batch size.
    archive.add_endpoint(
        SIGNATURE,
        lambda ids, features: tower({"id": ids, "features": features}, training=False),
        input_signature=[tf.TensorSpec([None], tf.int32, name="id"),
                         tf.TensorSpec([None, n_features], tf.float32, name="features")])
    # The SavedModel writer logs "Assets written to ..." at INFO level on stderr whatever
    # `verbose` says; a chapter would show it as a warning-coloured block.
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        archive.write_out(str(path), verbose=False)
    finally:
        logger.setLevel(level)


def export_towers(model, directory, overwrite: bool = False) -> tuple[Path, Path]:
    """Export a fitted two-tower model's user tower and item tower as SavedModels.

    Parameters
    ----------
    model : a fitted :class:`~recsys_lab.models.ncf.TwoTower` (any model whose ``network_``
        has the layers ``user_tower`` and ``item_tower``, each a Keras model from
        ``{"id": int32 (batch,), "features": float32 (batch, d)}`` to ``(batch, dim)``).
    directory : the folder to create; it will hold ``user_tower/`` and ``item_tower/``.
    overwrite : replace ``directory`` if it exists (otherwise an existing one is refused).

    Returns
    -------
    ``(user_tower_path, item_tower_path)``, each a :class:`~pathlib.Path` to a SavedModel.

    Both towers are written into a temporary folder beside ``directory`` and then renamed to
    it, so a failed or interrupted export leaves no half-written ``directory``. With
    ``overwrite=True`` the old export is first moved aside (and then deleted): for an instant
    between the two renames neither is in place.
    """
    if not isinstance(overwrite, bool):
        raise ValueError(f"overwrite must be True or False, got {overwrite!r}")
    towers = _fitted_towers(model)
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} exists and is not a folder: choose another directory")
    if target.exists() and not overwrite:
        raise ValueError(f"{target} already exists: choose a new directory, or pass "
                         "overwrite=True to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        for tower, name in zip(towers, TOWERS, strict=True):
            _export_tower(tower, staging / name)
        if target.exists():  # overwrite: move the old export aside, then drop it
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "export")
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # only left when something failed
    return target / TOWERS[0], target / TOWERS[1]


# --------------------------------------------------------------------------------------------
# Loading back
# --------------------------------------------------------------------------------------------


class ServedTower:
    """An exported tower loaded back: ``tower(ids, features=None) -> float32 (n, dim)``.

    ``ids`` are 1-D integer ids (``0 ≤ id < n_ids_``); ``features`` float ``(n, n_features_)``,
    or None for a tower without side features. Holds the loaded SavedModel in ``saved_model_``
    and its serving function in ``signature_``.
    """

    def __init__(self, saved_model):
        self.saved_model_ = saved_model
        self.signature_ = saved_model.signatures[SIGNATURE]
        spec = self.signature_.structured_input_signature[1]["features"]
        self.n_features_ = int(spec.shape[-1])
        output = next(iter(self.signature_.structured_outputs.values()))
        self.dim_ = int(output.shape[-1])
        # The rows of the id embedding's table (the layer :func:`tower` names
        # ``id_embedding``): the number of ids the tower knows, None if it has no such table.
        tables = [variable for variable in getattr(saved_model, "variables", ())
                  if variable.name.startswith("id_embedding/")]
        self.n_ids_ = int(tables[0].shape[0]) if tables else None

    def __call__(self, ids, features=None) -> np.ndarray:
        import tensorflow as tf

        ids = np.asarray(ids)
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"ids must be a 1-D array of integer ids, got {ids.dtype} of "
                             f"shape {ids.shape}")
        if ids.size and (ids.min() < 0 or (self.n_ids_ is not None and
                                           ids.max() >= self.n_ids_)):
            raise ValueError(f"ids must lie in [0, {self.n_ids_}), got {ids.min()} to "
                             f"{ids.max()}")
        if features is None:
            if self.n_features_:
                raise ValueError(f"this tower takes {self.n_features_} side features per id: "
                                 "pass features of shape (len(ids), "
                                 f"{self.n_features_})")
            features = np.zeros((len(ids), 0), dtype=np.float32)
        features = np.asarray(features, dtype=np.float32)
        if features.shape != (len(ids), self.n_features_):
            raise ValueError(f"features must have shape ({len(ids)}, {self.n_features_}), "
                             f"got {features.shape}")
        outputs = self.signature_(id=tf.constant(ids, tf.int32),
                                  features=tf.constant(features))
        return next(iter(outputs.values())).numpy()


def load_tower(path) -> ServedTower:
    """Load one tower written by :func:`export_towers` (``tf.saved_model.load``)."""
    import tensorflow as tf

    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise ValueError(f"{path} is not a SavedModel folder (no saved_model.pb): pass one "
                         "of the paths export_towers returned")
    saved_model = tf.saved_model.load(str(path))
    if SIGNATURE not in saved_model.signatures:
        raise ValueError(f"{path} has no {SIGNATURE!r} signature (it has "
                         f"{sorted(saved_model.signatures)}): was it written by export_towers?")
    return ServedTower(saved_model)


# --------------------------------------------------------------------------------------------
# Latency of the two stages
# --------------------------------------------------------------------------------------------


class _TimedIndex:
    """An index that adds the wall-clock time of each ``search`` to ``seconds``, so that the
    retrieval inside :func:`retrieve_then_rank` can be told apart from the re-ranking."""

    def __init__(self, index: InnerProductIndex):
        self.index = index
        self.n_items_ = index.n_items_
        self.seconds = 0.0

    def search(self, queries, k):
        start = time.perf_counter()
        result = self.index.search(queries, k)
        self.seconds += time.perf_counter() - start
        return result


def _one_request(user_tower, features, index, ranker, users, n_candidates, k, exclude):
    """Seconds spent by each stage on one request for ``users``: (tower, search, re-rank)."""
    start = time.perf_counter()
    queries = user_tower(users, None if features is None else features[users])
    tower_done = time.perf_counter()
    timed = _TimedIndex(index)
    retrieve_then_rank(timed, np.ascontiguousarray(queries, dtype=np.float32), users, ranker,
                       n_candidates, k, exclude=exclude, batch_size=max(1, len(users)))
    total = time.perf_counter() - tower_done
    return tower_done - start, timed.seconds, total - timed.seconds


def pipeline_latency(user_tower, index: InnerProductIndex, ranker, users, user_features=None,
                     n_candidates: int = 100, k: int = 10, batch_size: int = 256,
                     exclude=None) -> pd.DataFrame:
    """Time a served retrieve-then-rank pipeline, stage by stage, per request.

    Parameters
    ----------
    user_tower : a callable ``(ids, features) -> float32 (n, d)``, e.g. a :class:`ServedTower`.
    index : a built :class:`~recsys_lab.retrieval.InnerProductIndex` over the item vectors.
    ranker : a fitted model with ``score_items(users) -> (len(users), n_items)``.
    users : 1-D user ids. Each is one request in the "1 user" rows; consecutive groups of
        ``batch_size`` are one request each in the batched rows.
    user_features : ``(n_users, d_u)`` float array, the user tower's side features (None: the
        tower has none).
    n_candidates, k, exclude : as :func:`~recsys_lab.retrieval.retrieve_then_rank`.

    Returns
    -------
    A DataFrame with one row per (request size, stage): ``users_per_request``, ``stage``
    (``user tower``, ``index search``, ``re-rank``, ``total``), ``requests`` (how many were
    timed), ``median_ms`` and ``p95_ms`` (milliseconds per request, wall clock) and
    ``median_ms_per_user``. One untimed request of each size runs first (warm-up). The
    re-rank stage includes the ranker's ``score_items`` over the whole catalogue, which
    :func:`~recsys_lab.retrieval.retrieve_then_rank` then reads at the candidates.
    """
    users = np.asarray(users)
    if users.ndim != 1 or users.size == 0 or not np.issubdtype(users.dtype, np.integer):
        raise ValueError(f"users must be a non-empty 1-D array of integer user ids, got "
                         f"{users.dtype} of shape {users.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not callable(user_tower):
        raise ValueError(f"user_tower must be a callable (ids, features) -> vectors, got "
                         f"{type(user_tower).__name__}")
    if user_features is not None:
        user_features = np.asarray(user_features, dtype=np.float32)
        if user_features.ndim != 2 or users.max() >= len(user_features):
            raise ValueError(f"user_features must be a (n_users, d) array with a row for "
                             f"every user, got shape {user_features.shape} for user ids up "
                             f"to {users.max()}")

    stages = ("user tower", "index search", "re-rank")
    rows = []
    for size in sorted({1, min(int(batch_size), len(users))}):
        requests = [users[start:start + size] for start in range(0, len(users), size)]
        requests = [request for request in requests if len(request) == size]
        _one_request(user_tower, user_features, index, ranker, requests[0], n_candidates, k,
                     exclude)  # warm-up: first calls load kernels and fill caches
        seconds = np.array([_one_request(user_tower, user_features, index, ranker, request,
                                         n_candidates, k, exclude) for request in requests])
        seconds = np.column_stack([seconds, seconds.sum(axis=1)])
        for column, stage in enumerate((*stages, "total")):
            milliseconds = 1000 * seconds[:, column]
            rows.append({"users_per_request": size, "stage": stage, "requests": len(requests),
                         "median_ms": float(np.median(milliseconds)),
                         "p95_ms": float(np.percentile(milliseconds, 95)),
                         "median_ms_per_user": float(np.median(milliseconds)) / size})
    return pd.DataFrame(rows)
