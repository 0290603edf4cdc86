"""Candidate retrieval by maximum inner product: exact search, FAISS indexes, two stages.

A two-tower model scores ``s(u, i) = f(u) · g(i)``, so a user's best items are the item
vectors with the largest inner product with her query vector (maximum inner product search,
MIPS). Exact search costs ``O(n_items · d)`` per query; an approximate-nearest-neighbour
(ANN) index answers in far less, and may miss some of the true top K.

* :func:`exact_top_k` — the reference: every score computed with NumPy, in batches of
  queries so memory stays bounded (about 2²⁴ scores at once by default).
* One small interface, :class:`InnerProductIndex` (``build(items)``, then
  ``search(queries, k) -> (scores, ids)``), over FAISS (``faiss-cpu``):
  :class:`FlatIndex` (exact, FAISS's brute force), :class:`IVFIndex` (k-means cells, search
  the ``nprobe`` cells nearest the query) and :class:`HNSWIndex` (a navigable small-world
  graph, ``M`` links per node, a search beam of ``ef_search``). :class:`ExactIndex` puts
  :func:`exact_top_k` behind the same interface.
* :func:`recall_at_k` — the share of the exact top K that an index found (not the
  relevance metric :func:`recsys_lab.metrics.recall_at_k`, which counts held-out items).
* :func:`queries_per_second` — wall-clock throughput of an index over a batch of queries.
* :func:`retrieve_then_rank` — stage one retrieves ``n_candidates`` items per user from an
  index; stage two re-ranks them with any fitted model's ``score_items``.

Inputs are float32 matrices (what FAISS computes in); another dtype is refused rather than
silently rounded. A query whose index finds fewer than ``k`` items (an IVF cell can be
nearly empty) gets id ``-1`` and score ``-inf`` in the remaining places.

FAISS is imported when an index is first built, so ``import recsys_lab`` stays light. Its
searches run on ``n_threads`` OpenMP threads (default 1: the same graph and the same
answers every run, and no contention with the rest of the machine); the global FAISS
thread count is restored afterwards.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp

__all__ = ["ExactIndex", "FlatIndex", "HNSWIndex", "IVFIndex", "InnerProductIndex",
           "exact_top_k", "queries_per_second", "recall_at_k", "retrieve_then_rank"]


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_vectors(values, name: str, dim: int | None = None) -> np.ndarray:
    """``values`` as a C-contiguous float32 ``(n, d)`` array, after checking it is one."""
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d), got shape {array.shape}")
    if array.dtype != np.float32:
        raise ValueError(f"{name} must be float32 (FAISS computes in single precision), got "
                         f"{array.dtype}; pass {name}.astype(np.float32)")
    if array.shape[1] == 0:
        raise ValueError(f"{name} has zero columns: vectors need at least one dimension")
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"{name} have dimension {array.shape[1]} but the items have {dim}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contain NaN or infinite values")
    return np.ascontiguousarray(array)


def _check_count(value, name: str, low: int, high: int | None = None,
                 high_name: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        upper = f" and at most {high_name} = {high}" if high is not None else ""
        raise ValueError(f"{name} must be at least {low}{upper}, got {value}")
    return int(value)


# --------------------------------------------------------------------------------------------
# Exact search (the reference)
# --------------------------------------------------------------------------------------------


_BLOCK_SCORES = 2**24  # scores held at once by default: 64 MB of float32


def exact_top_k(queries, items, k: int, batch_size: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` items with the largest inner product with each query, computed exactly.

    Parameters
    ----------
    queries : float32 ``(n_queries, d)``; items : float32 ``(n_items, d)``.
    k : 1 ≤ k ≤ n_items.
    batch_size : queries scored at once (memory about ``batch_size · n_items`` floats, plus
        as many int64 for the partition); None: as many as keep that near 2²⁴ scores.

    Returns
    -------
    scores : float32 ``(n_queries, k)``, best first; ids : int64 ``(n_queries, k)``. Equal
    scores are ordered by the lower item id.
    """
    items = _check_vectors(items, "items")
    queries = _check_vectors(queries, "queries", dim=items.shape[1])
    k = _check_count(k, "k", 1, len(items), "n_items")
    if batch_size is None:
        batch_size = max(1, _BLOCK_SCORES // len(items))
    batch_size = _check_count(batch_size, "batch_size", 1)
    scores = np.empty((len(queries), k), dtype=np.float32)
    ids = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), batch_size):
        block = queries[start:start + batch_size] @ items.T
        # argpartition finds the k best in O(n_items); only those k are then sorted.
        best = np.argpartition(-block, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(block, best, axis=1)
        # Items tied with the k-th score straddle the cut, and argpartition picks among them
        # arbitrarily; such (rare) rows are sorted in full so that the lower ids win.
        kth = best_scores.min(axis=1, keepdims=True)
        for row in np.flatnonzero((block >= kth).sum(axis=1) > k):
            best[row] = np.argsort(-block[row], kind="stable")[:k]
            best_scores[row] = block[row, best[row]]
        order = np.lexsort((best, -best_scores), axis=1)  # by score, then by lower id
        ids[start:start + batch_size] = np.take_along_axis(best, order, axis=1)
        scores[start:start + batch_size] = np.take_along_axis(best_scores, order, axis=1)
    return scores, ids


# --------------------------------------------------------------------------------------------
# Indexes
# --------------------------------------------------------------------------------------------


def _faiss():
    try:
        import faiss
    except ImportError as error:
        raise ImportError("the FAISS indexes need the faiss-cpu package: "
                          "pip install faiss-cpu") from error
    return faiss


@contextmanager
def _faiss_threads(n_threads: int):
    """Run FAISS on ``n_threads`` OpenMP threads, then restore the previous setting."""
    faiss = _faiss()
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n_threads)
    try:
        yield faiss
    finally:
        faiss.omp_set_num_threads(previous)


class InnerProductIndex:
    """An index over item vectors answering "which ``k`` items score highest for this query?".

    ``build(items)`` stores float32 ``(n_items, d)`` vectors (item ``i`` is row ``i``);
    ``search(queries, k)`` returns ``(scores, ids)``, each ``(n_queries, k)``, best first, the
    scores being inner products. After ``build``: ``n_items_``, ``dim_`` and, for the FAISS
    indexes, the FAISS object in ``index_``. Subclasses implement ``_build`` and ``_search``.
    """

    n_threads = 1

    def build(self, items) -> InnerProductIndex:
        items = _check_vectors(items, "items")
        self._check_build(len(items))
        self.n_items_, self.dim_ = items.shape
        self._build(items)
        return self

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "n_items_"):
            raise ValueError(f"{type(self).__name__} is not built yet: call build(items) first")
        queries = _check_vectors(queries, "queries", dim=self.dim_)
        k = _check_count(k, "k", 1, self.n_items_, "n_items")
        self._check_search()
        if len(queries) == 0:
            return np.zeros((0, k), dtype=np.float32), np.zeros((0, k), dtype=np.int64)
        scores, ids = self._search(queries, k)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)  # FAISS pads with -1
        return scores, ids.astype(np.int64)

    def _check_build(self, n_items: int) -> None:
        """Refuse settings that cannot work for ``n_items`` items (before any work is done)."""

    def _check_search(self) -> None:
        """Refuse search settings (which may be changed between searches) that cannot work."""

    def _faiss_search(self, queries, k):
        with _faiss_threads(self.n_threads):
            return self.index_.search(queries, k)


class ExactIndex(InnerProductIndex):
    """:func:`exact_top_k` behind the index interface (NumPy, no FAISS)."""

    def __init__(self, batch_size: int | None = None):
        self.batch_size = None if batch_size is None else _check_count(batch_size,
                                                                       "batch_size", 1)

    def _build(self, items):
        self.items_ = items

    def _search(self, queries, k):
        return exact_top_k(queries, self.items_, k, self.batch_size)


class FlatIndex(InnerProductIndex):
    """FAISS's exact search (``IndexFlatIP``): every inner product, SIMD and BLAS."""

    def __init__(self, n_threads: int = 1):
        self.n_threads = _check_count(n_threads, "n_threads", 1)

    def _build(self, items):
        faiss = _faiss()
        self.index_ = faiss.IndexFlatIP(self.dim_)
        with _faiss_threads(self.n_threads):
            self.index_.add(items)

    def _search(self, queries, k):
        return self._faiss_search(queries, k)


class IVFIndex(InnerProductIndex):
    """An inverted file (``IndexIVFFlat``, inner product): k-means cells, search a few.

    ``build`` clusters the items into ``nlist`` cells by k-means (FAISS's spherical k-means for
    inner product, seeded by ``seed``, so the cells are the same every run) and files each
    item under its best centroid. ``search`` scores the query against the centroids, then
    exactly against the items of the ``nprobe`` best cells: cost about
    ``nlist + nprobe · n_items / nlist`` inner products per query. ``nprobe = nlist`` scans
    every item and is exact. ``nprobe`` may be changed between searches without rebuilding.
    """

    def __init__(self, nlist: int = 100, nprobe: int = 10, seed: int = 0, n_threads: int = 1):
        self.nlist = _check_count(nlist, "nlist", 1)
        self.nprobe = _check_count(nprobe, "nprobe", 1, self.nlist, "nlist")
        self.seed = _check_count(seed, "seed", 0, 2**31 - 1, "2**31 - 1")
        self.n_threads = _check_count(n_threads, "n_threads", 1)

    def _check_build(self, n_items):
        _check_count(self.nlist, "nlist", 1, n_items, "n_items")  # k-means needs n ≥ cells

    def _check_search(self):
        _check_count(self.nprobe, "nprobe", 1, self.nlist, "nlist")

    def _build(self, items):
        faiss = _faiss()
        self.quantizer_ = faiss.IndexFlatIP(self.dim_)  # the centroids; kept alive with index_
        self.index_ = faiss.IndexIVFFlat(self.quantizer_, self.dim_, self.nlist,
                                         faiss.METRIC_INNER_PRODUCT)
        self.index_.cp.seed = self.seed
        with _faiss_threads(self.n_threads):
            self.index_.train(items)
            self.index_.add(items)

    def _search(self, queries, k):
        self.index_.nprobe = self.nprobe
        return self._faiss_search(queries, k)


class HNSWIndex(InnerProductIndex):
    """A hierarchical navigable small-world graph (``IndexHNSWFlat``) searched by inner product.

    Each item is linked to about ``M`` neighbours per layer (``2M`` on the bottom layer);
    ``ef_construction`` is the beam width while inserting, ``ef_search`` while searching (at
    least ``k`` is used). A larger beam finds more of the true top K, more slowly.
    ``ef_search`` may be changed between searches without rebuilding. Items are inserted in
    id order and FAISS draws each item's layer from a generator with a fixed seed, so on one
    thread (the default) the graph is the same every run.

    Inner product is not a distance (an item need not be its own best match, and there is no
    triangle inequality), so graph search comes with no guarantee for MIPS. FAISS 1.15 does
    accept ``METRIC_INNER_PRODUCT`` for HNSW, greedily following the best inner product,
    and that is the default here. ``l2_reduction=True`` uses instead the standard reduction
    of MIPS to nearest-neighbour search (Bachrach et al. 2014): with ``R = max_i ‖x_i‖``,
    each item becomes ``(x_i, sqrt(R² − ‖x_i‖²))`` and each query ``(q, 0)``; then
    ``‖q̃ − x̃_i‖² = ‖q‖² + R² − 2 q·x_i``, so the nearest item in L2 is exactly the one of
    largest inner product, and the graph is built over a true metric. The scores returned
    are turned back into inner products. On random Gaussian vectors (5,000 × 32, ``M=16``,
    ``ef_search=64``) the direct search found about 98% of the top 10 and the reduction
    about 68%: the extra coordinate makes all items nearly equidistant from a query, which
    hurts the greedy search. Which one wins depends on the data; measure it.
    """

    def __init__(self, M: int = 32, ef_search: int = 64, ef_construction: int = 40,
                 l2_reduction: bool = False, n_threads: int = 1):
        self.M = _check_count(M, "M", 2)
        self.ef_search = _check_count(ef_search, "ef_search", 1)
        self.ef_construction = _check_count(ef_construction, "ef_construction", 1)
        if not isinstance(l2_reduction, bool | np.bool_):
            raise ValueError(f"l2_reduction must be True or False, got {l2_reduction!r}")
        self.l2_reduction = bool(l2_reduction)
        self.n_threads = _check_count(n_threads, "n_threads", 1)

    def _check_search(self):
        _check_count(self.ef_search, "ef_search", 1)

    def _build(self, items):
        faiss = _faiss()
        if self.l2_reduction:
            norms = np.einsum("ij,ij->i", items, items, dtype=np.float64)
            self.max_norm_squared_ = float(norms.max())
            extra = np.sqrt(np.maximum(self.max_norm_squared_ - norms, 0.0))
            items = np.hstack([items, extra[:, None].astype(np.float32)])
            self.index_ = faiss.IndexHNSWFlat(self.dim_ + 1, self.M, faiss.METRIC_L2)
        else:
            self.index_ = faiss.IndexHNSWFlat(self.dim_, self.M, faiss.METRIC_INNER_PRODUCT)
        self.index_.hnsw.efConstruction = self.ef_construction
        with _faiss_threads(self.n_threads):
            self.index_.add(np.ascontiguousarray(items))

    def _search(self, queries, k):
        self.index_.hnsw.efSearch = self.ef_search
        if not self.l2_reduction:
            return self._faiss_search(queries, k)
        padded = np.hstack([queries, np.zeros((len(queries), 1), dtype=np.float32)])
        distances, ids = self._faiss_search(np.ascontiguousarray(padded), k)
        # ‖q̃ − x̃‖² = ‖q‖² + R² − 2 q·x, solved for q·x.
        query_norms = np.einsum("ij,ij->i", queries, queries, dtype=np.float64)[:, None]
        return (query_norms + self.max_norm_squared_ - distances) / 2, ids


# --------------------------------------------------------------------------------------------
# Measuring an index
# --------------------------------------------------------------------------------------------


def recall_at_k(approximate_ids, exact_ids) -> np.ndarray:
    """Per query, the share of the exact top K that the approximate list contains.

    ``approximate_ids`` ``(n_queries, k')`` (``-1`` marks an empty place, never a match);
    ``exact_ids`` ``(n_queries, K)``, each row ``K`` distinct item ids. Returns a float array
    ``(n_queries,)``: ``|approximate ∩ exact| / K``; its mean is the usual "recall@K" of an
    ANN index. With ``k' > K`` it is the recall of K within k' retrieved ("K@k'").
    """
    approximate_ids, exact_ids = np.asarray(approximate_ids), np.asarray(exact_ids)
    for name, ids in (("approximate_ids", approximate_ids), ("exact_ids", exact_ids)):
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{name} must be a 2-D integer array (n_queries, k), got "
                             f"{ids.dtype} of shape {ids.shape}")
    if len(approximate_ids) != len(exact_ids):
        raise ValueError(f"approximate_ids has {len(approximate_ids)} queries but exact_ids "
                         f"has {len(exact_ids)}")
    if exact_ids.shape[1] == 0:
        raise ValueError("exact_ids has no columns: recall@K needs K ≥ 1")
    if (exact_ids < 0).any():
        raise ValueError("exact_ids contain negative ids: the exact top K is always full")
    ordered = np.sort(exact_ids, axis=1)
    if (ordered[:, 1:] == ordered[:, :-1]).any():
        raise ValueError("exact_ids repeat an item within a row")
    found = np.zeros(exact_ids.shape, dtype=bool)
    for column in approximate_ids.T:  # k' passes over (n, K): no (n, K, k') array
        found |= exact_ids == column[:, None]
    return found.sum(axis=1) / exact_ids.shape[1]


def queries_per_second(index: InnerProductIndex, queries, k: int, repeats: int = 3) -> float:
    """Throughput of ``index.search(queries, k)``: queries over the best wall-clock time.

    The whole batch is searched ``repeats`` times and the fastest run counts (the others
    carry noise from the rest of the machine). Wall clock, so the figure depends on the
    machine and on ``index.n_threads``.
    """
    repeats = _check_count(repeats, "repeats", 1)
    queries = np.asarray(queries)
    if len(queries) == 0:
        raise ValueError("queries is empty: throughput needs at least one query")
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        index.search(queries, k)
        best = min(best, time.perf_counter() - start)
    return len(queries) / max(best, 1e-9)


# --------------------------------------------------------------------------------------------
# Two stages: retrieve, then rank
# --------------------------------------------------------------------------------------------


def retrieve_then_rank(index: InnerProductIndex, queries, users, ranker, n_candidates: int,
                       k: int, exclude=None, batch_size: int = 256
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Each user's top ``k`` items: ``n_candidates`` from ``index``, ordered by ``ranker``.

    Parameters
    ----------
    index : a built :class:`InnerProductIndex` over the item vectors (row ``i`` = item ``i``).
    queries : float32 ``(len(users), d)``, each user's query vector (e.g. a two-tower model's
        ``user_vectors_[users]``).
    users : 1-D user ids, passed to ``ranker.score_items``.
    ranker : any fitted model with ``score_items(users) -> (len(users), n_items)``; only its
        scores of the candidates are used.
    n_candidates : items retrieved per user (stage one); ``k ≤ n_candidates ≤ n_items``.
    exclude : optional sparse ``(n_users, n_items)`` matrix, rows indexed by user id, whose
        non-zeros are items never to return (e.g. ``ranker.history_``). They are dropped after
        retrieval, so ``n_candidates`` should leave room for them.
    batch_size : users scored at once by the ranker.

    Returns
    -------
    ids : int64 ``(len(users), k)``, best first by the ranker's score (equal scores: the
    better-retrieved candidate first); ``-1`` where fewer than ``k`` candidates remain.
    scores : float ``(len(users), k)``, the ranker's scores, ``-inf`` where ``ids`` is ``-1``.
    """
    users = np.asarray(users)
    if users.ndim != 1:
        raise ValueError(f"users must be a 1-D array of user ids, got shape {users.shape}")
    queries = np.asarray(queries)
    if queries.ndim != 2 or len(queries) != len(users):
        raise ValueError(f"queries must have one row per user: shape ({len(users)}, d), got "
                         f"{queries.shape}")
    if not hasattr(index, "n_items_"):
        raise ValueError(f"{type(index).__name__} is not built yet: call build(items) first")
    n_candidates = _check_count(n_candidates, "n_candidates", 1, index.n_items_, "n_items")
    k = _check_count(k, "k", 1, n_candidates, "n_candidates")
    batch_size = _check_count(batch_size, "batch_size", 1)
    if exclude is not None:
        exclude = sp.csr_matrix(exclude)
        if exclude.shape[1] != index.n_items_:
            raise ValueError(f"exclude has {exclude.shape[1]} item columns but the index "
                             f"holds {index.n_items_} items")
        if len(users) and users.max() >= exclude.shape[0]:
            raise ValueError(f"exclude has {exclude.shape[0]} user rows; user "
                             f"{users.max()} has none")

    _, candidates = index.search(queries, n_candidates)
    ids = np.full((len(users), k), -1, dtype=np.int64)
    scores = np.full((len(users), k), -np.inf)
    for start in range(0, len(users), batch_size):
        rows = slice(start, start + batch_size)
        block, chosen = candidates[rows], users[rows]
        full = np.asarray(ranker.score_items(chosen), dtype=float)
        if full.shape[1] != index.n_items_:
            raise ValueError(f"ranker scores {full.shape[1]} items but the index holds "
                             f"{index.n_items_}")
        valid = block >= 0
        if exclude is not None:
            excluded = exclude[np.repeat(chosen, block.shape[1]), np.maximum(block, 0).ravel()]
            valid &= np.asarray(excluded).reshape(block.shape) == 0
        candidate_scores = np.where(
            valid, np.take_along_axis(full, np.maximum(block, 0), axis=1), -np.inf)
        if np.isnan(candidate_scores).any():
            raise ValueError("ranker returned NaN scores for some candidates")
        order = np.argsort(-candidate_scores, axis=1, kind="stable")[:, :k]
        top_scores = np.take_along_axis(candidate_scores, order, axis=1)
        ids[rows] = np.where(np.isneginf(top_scores), -1, np.take_along_axis(block, order, 1))
        scores[rows] = top_scores
    return ids, scores
