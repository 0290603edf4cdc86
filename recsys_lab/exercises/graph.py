"""Checks for chapter 9's exercises: the normalised adjacency of the interaction graph,
LightGCN's layer combination and the BPR gradient through the propagation.

Conventions, as in :mod:`recsys_lab.scratch.graph`: users and items are the nodes of one
bipartite graph, node ``u`` is user ``u`` and node ``n_users + i`` is item ``i``;
``Â = D^{-1/2} A D^{-1/2}`` and a node with no edge keeps a zero row and column.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys_lab.exercises import (
    Feedback,
    _grader,
    _not_a_function,
    _show,
)
from recsys_lab.exercises import as_float_array as _as_float_array
from recsys_lab.exercises import call_quietly as _call_quietly
from recsys_lab.exercises import same_values as _same_values
from recsys_lab.scratch.graph import bipartite_adjacency as _bipartite_adjacency
from recsys_lab.scratch.graph import normalize_symmetric as _normalize_symmetric
from recsys_lab.scratch.graph import propagate as _propagate


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


def _normalized(interactions: np.ndarray) -> np.ndarray:
    return _normalize_symmetric(_bipartite_adjacency(interactions)).toarray()


def _nodes(nodes: np.ndarray, n_users: int) -> str:
    """Nodes named for a message: "user 2 (node 2) and item 3 (node 6) have"."""
    names = [f"user {v} (node {v})" if v < n_users else f"item {v - n_users} (node {v})"
             for v in (int(v) for v in nodes)]
    if len(names) == 1:
        return names[0] + " has"
    return ", ".join(names[:-1]) + " and " + names[-1] + " have"


def _scaled(adjacency: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return left[:, None] * adjacency * right[None, :]


# --------------------------------------------------------------------------------------------
# The normalised adjacency
# --------------------------------------------------------------------------------------------


def _adjacency_cases() -> list[np.ndarray]:
    """0/1 interaction matrices; each has a user and an item with no interaction."""
    small = np.array([[1, 1, 0, 0],
                      [0, 1, 1, 0],
                      [0, 0, 0, 0]], dtype=float)  # user 2 and item 3: no edge
    rng = np.random.default_rng(9)
    larger = (rng.random((6, 5)) < 0.5).astype(float)
    larger[4, :] = 0.0  # user 4: no interaction
    larger[:, 0] = 0.0  # item 0: no interaction
    larger[[0, 1, 2, 3, 5], [1, 2, 3, 4, 1]] = 1.0  # every other node has an edge
    return [small, larger]


def _adjacency_mistakes(interactions: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """The matrices typical mistakes return, each with what to tell the student."""
    n_users, n_items = interactions.shape
    adjacency = _bipartite_adjacency(interactions).toarray()
    degree = adjacency.sum(axis=1)
    ones = np.ones_like(degree)
    inverse = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
    with_loops = _normalize_symmetric(adjacency + np.eye(len(adjacency))).toarray()
    items_first = _normalized(interactions.T)
    symmetric = ("Hint: scale both sides, Â[v, w] = A[v, w] / sqrt(deg(v) · deg(w)), "
                 "i.e. D^{-1/2} A D^{-1/2}.")
    return [
        (adjacency, "that is the adjacency A itself, not normalised. " + symmetric),
        (_scaled(adjacency, inverse, ones),
         "that is D^{-1} A, the row normalisation (each row sums to 1): it is not symmetric. "
         + symmetric),
        (_scaled(adjacency, ones, inverse),
         "that is A D^{-1}, the column normalisation: it is not symmetric. " + symmetric),
        (_scaled(adjacency, inverse, inverse),
         "that is D^{-1} A D^{-1}: you forgot the square root of the degrees. " + symmetric),
        (with_loops,
         "you added self-loops (A + I, the renormalisation of Kipf & Welling's GCN); LightGCN "
         "normalises A itself, whose diagonal is zero."),
        (items_first,
         f"the nodes are in the wrong order: you put the {n_items} items first. Node u is "
         f"user u and node {n_users} + i is item i, so A = [[0, R], [Rᵀ, 0]]."),
    ]


@_grader
def check_normalized_adjacency(function: Callable) -> Feedback:
    """Grade ``function(interactions) -> (n_users + n_items, n_users + n_items)`` matrix ``Â``.

    ``interactions`` is a 0/1 NumPy array ``R`` of shape ``(n_users, n_items)``. The answer
    is the symmetric normalised adjacency ``D^{-1/2} A D^{-1/2}`` of the bipartite graph
    ``A = [[0, R], [Rᵀ, 0]]`` (nodes ordered users, then items; ``D`` the diagonal of the
    degrees), as a dense NumPy array or a SciPy sparse matrix. A user or item with no
    interaction has a zero row and column.
    """
    name = "normalized_adjacency"
    if (not_a_function := _not_a_function(name, function)) is not None:
        return not_a_function
    for interactions in _adjacency_cases():
        n_users, n_items = interactions.shape
        n_nodes = n_users + n_items
        expected = _normalized(interactions)
        case = (f"{name} of the {n_users} × {n_items} interactions "
                f"{_show(interactions.astype(int).tolist())}")
        got, error = _call_quietly(function, interactions.copy())
        if error:
            return Feedback(False, f"{case} raised {error}. Hint: build A = [[0, R], [Rᵀ, 0]] "
                                   "(np.block or scipy.sparse.bmat), then scale it by the "
                                   "inverse square roots of the degrees.")
        answer = _as_float_array(got)
        if answer is None:
            return Feedback(False, f"{case} returned {_show(got)}, expected a matrix of shape "
                                   f"{expected.shape}.")
        if answer.shape in ((n_users, n_items), (n_items, n_users)):
            return Feedback(False, f"{case} has shape {answer.shape}: that is only the "
                                   "user–item block. The graph has one node per user and per "
                                   f"item, so Â has shape (n_users + n_items, n_users + "
                                   f"n_items) = {expected.shape}: A = [[0, R], [Rᵀ, 0]].")
        if answer.shape != expected.shape:
            return Feedback(False, f"{case} has shape {answer.shape}, expected "
                                   f"{expected.shape} (one row and column per node: users, "
                                   "then items).")
        isolated = expected.sum(axis=1) == 0
        if not np.isfinite(answer).all():
            return Feedback(False, f"{case} holds NaN or infinity: did you divide by a zero "
                                   f"degree? {_nodes(np.flatnonzero(isolated), n_users)} "
                                   "no interaction, so degree 0 and 1 / sqrt(0) = ∞ (then "
                                   "0 · ∞ = NaN). Hint: give such nodes a scale of 0, e.g. "
                                   "np.divide(1, np.sqrt(degree), out=np.zeros_like(degree), "
                                   "where=degree > 0): their rows and columns stay zero.")
        if _same_values(answer, expected):
            continue
        for mistake, message in _adjacency_mistakes(interactions):
            if _same_values(answer, mistake):
                return Feedback(False, f"{case}: {message}")
        connected = np.ix_(~isolated, ~isolated)
        if _same_values(answer[connected], expected[connected]):
            return Feedback(False, f"{case} is right except where "
                                   f"{_nodes(np.flatnonzero(isolated), n_users)} no "
                                   "interaction (no edge): their rows and columns should be "
                                   "zero.")
        with np.errstate(all="ignore"):  # huge answers overflow in the comparison
            mismatch = ~np.isclose(answer, expected, rtol=1e-6, atol=1e-9)
        wrong = tuple(int(i) for i in np.argwhere(mismatch)[0])
        return Feedback(False, f"{case} is wrong at {wrong}: expected {expected[wrong]:.4f}, "
                               f"got {answer[wrong]:.4f} (of {n_nodes} nodes, node u is user u "
                               f"and node {n_users} + i is item i). Hint: Â[v, w] = A[v, w] / "
                               "sqrt(deg(v) · deg(w)).")
    return Feedback(True, "correct: Â is symmetric, and a user's row spreads its weight over "
                          "its items, less to the popular ones (larger degree).")


# --------------------------------------------------------------------------------------------
# LightGCN's layer combination
# --------------------------------------------------------------------------------------------


def _layer_cases() -> list[tuple[np.ndarray, np.ndarray, int]]:
    """``(normalized, embeddings, n_layers)``: several layers first, so that the mistakes
    that coincide at one layer (summing, dividing by L) are told apart."""
    rng = np.random.default_rng(19)
    small, larger = (_normalized(r) for r in _adjacency_cases())
    return [(larger, rng.standard_normal((len(larger), 4)), 3),
            (small, rng.standard_normal((len(small), 2)), 1),
            (small, rng.standard_normal((len(small), 3)), 0)]


def _layer_mistakes(normalized, embeddings, n_layers) -> list[tuple[np.ndarray, str]]:
    layers = _propagate(normalized, embeddings, n_layers)
    total = np.sum(layers, axis=0)
    if n_layers == 0:
        return []
    powers = [(normalized ** k) @ embeddings for k in range(1, n_layers + 1)]
    elementwise = "normalized ** k is an element-wise power, not the matrix power Â^k. Hint: "
    elementwise += ("propagate one layer at a time, E ← normalized @ E (or use "
                    "np.linalg.matrix_power).")
    mean = "Hint: average all L + 1 layers, (E⁰ + ÂE⁰ + … + Â^L E⁰) / (L + 1)."
    return [
        (layers[-1], f"you returned only the last layer Â^L E⁰ (L = {n_layers}): LightGCN "
                     f"combines every layer, E⁰ included. {mean}"),
        (total, f"you summed the layers without dividing by L + 1 = {n_layers + 1}. {mean}"),
        (total / n_layers, f"you divided by L = {n_layers} instead of L + 1 = {n_layers + 1}: "
                           f"there are L + 1 layers, E⁰ included. {mean}"),
        (np.mean(layers[1:], axis=0), f"you left out E⁰, the layer-0 embeddings, and averaged "
                                      f"layers 1..L only. {mean}"),
        ((total - embeddings) / (n_layers + 1), f"you left out E⁰, the layer-0 embeddings, "
                                                f"from the sum. {mean}"),
        (np.mean([embeddings, *powers], axis=0), elementwise),
        # normalized ** 0 is a matrix of ones, not the identity
        (np.mean([np.ones_like(normalized) @ embeddings, *powers], axis=0), elementwise),
    ]


@_grader
def check_layer_combination(function: Callable) -> Feedback:
    """Grade ``function(normalized, embeddings, n_layers) -> (N, d)`` LightGCN embeddings.

    ``normalized`` is ``Â``, a dense NumPy array ``(N, N)``; ``embeddings`` the layer-0
    embeddings ``E⁰``, ``(N, d)``; ``n_layers`` the number of layers ``L`` (an int, 0
    included). The answer is the mean of the layers,
    ``(E⁰ + ÂE⁰ + Â²E⁰ + … + Â^L E⁰) / (L + 1)``, shape ``(N, d)``.
    """
    name = "layer_combination"
    if (not_a_function := _not_a_function(name, function)) is not None:
        return not_a_function
    for normalized, embeddings, n_layers in _layer_cases():
        expected = np.mean(_propagate(normalized, embeddings, n_layers), axis=0)
        case = (f"{name}(normalized {normalized.shape}, embeddings {embeddings.shape}, "
                f"n_layers={n_layers})")
        got, error = _call_quietly(function, normalized.copy(), embeddings.copy(), n_layers)
        if error:
            return Feedback(False, f"{case} raised {error}. Hint: start from E = embeddings, "
                                   "apply E ← normalized @ E n_layers times (none for 0) and "
                                   "average every E along the way.")
        answer = _as_float_array(got)
        if answer is None:
            return Feedback(False, f"{case} returned {_show(got)}, expected an array of shape "
                                   f"{expected.shape}.")
        if answer.shape == (n_layers + 1, *expected.shape):
            return Feedback(False, f"{case} has shape {answer.shape}: you stacked the "
                                   f"{n_layers + 1} layers. Average them (axis 0) to get one "
                                   f"{expected.shape} matrix.")
        if answer.shape != expected.shape:
            return Feedback(False, f"{case} has shape {answer.shape}, expected "
                                   f"{expected.shape}, like the embeddings.")
        if _same_values(answer, expected):
            continue
        for mistake, message in _layer_mistakes(normalized, embeddings, n_layers):
            if _same_values(answer, mistake):
                return Feedback(False, f"{case}: {message}")
        if n_layers == 0:
            return Feedback(False, f"{case} should return the embeddings unchanged: with no "
                                   "layer the mean is over E⁰ alone.")
        return Feedback(False, f"{case} is wrong. Hint: E^(k+1) = normalized @ E^(k) with "
                               "E^(0) = embeddings; return the mean of E^(0), …, E^(L).")
    return Feedback(True, "correct: each node's final embedding mixes its own vector with "
                          "those of the nodes up to L hops away, nearer ones weighing more.")


# --------------------------------------------------------------------------------------------
# The BPR gradient through the propagation
# --------------------------------------------------------------------------------------------


def _smoothing(normalized: np.ndarray, n_layers: int) -> np.ndarray:
    """``S = (I + Â + … + Â^L) / (L + 1)``, so that the final embeddings are ``S E⁰``."""
    return np.mean(_propagate(normalized, np.eye(len(normalized)), n_layers), axis=0)


def _final_gradient(final: np.ndarray, user: int, positive: int, negative: int) -> np.ndarray:
    """``G``, the gradient of ``−log σ(e_u · e_i − e_u · e_j)`` with respect to ``final``."""
    e_u, e_i, e_j = final[user], final[positive], final[negative]
    weight = -_sigmoid(-(e_u @ (e_i - e_j)))  # d/dx of −log σ(x) is −σ(−x)
    gradient = np.zeros_like(final)
    gradient[user] += weight * (e_i - e_j)
    gradient[positive] += weight * e_u
    gradient[negative] -= weight * e_u
    return gradient


def _reference_graph_bpr_gradient(normalized, embeddings, n_layers, user, positive, negative):
    smoothing = _smoothing(normalized, n_layers)
    final = smoothing @ embeddings
    return smoothing.T @ _final_gradient(final, user, positive, negative)


def _gradient_cases() -> list[tuple[np.ndarray, np.ndarray, int, int, int, int]]:
    """``(normalized, embeddings, n_layers, user, positive, negative)``; the last three are
    node indices: the user, an item it interacted with and one it did not."""
    rng = np.random.default_rng(29)
    interactions = np.array([[1, 0, 1, 0, 0],
                             [0, 1, 1, 0, 1],
                             [1, 1, 0, 1, 0],
                             [0, 0, 1, 1, 1]], dtype=float)
    n_users = len(interactions)
    normalized = _normalized(interactions)
    n_nodes = len(normalized)
    return [(normalized, rng.standard_normal((n_nodes, 3)), 2, 0, n_users + 2, n_users + 3),
            (normalized, rng.standard_normal((n_nodes, 4)), 1, 2, n_users + 1, n_users + 4),
            (normalized, rng.standard_normal((n_nodes, 3)), 3, 3, n_users + 4, n_users + 0),
            (normalized, rng.standard_normal((n_nodes, 2)), 0, 1, n_users + 1, n_users + 0)]


def _gradient_mistakes(normalized, embeddings, n_layers, user, positive, negative
                       ) -> list[tuple[np.ndarray, str]]:
    expected = _reference_graph_bpr_gradient(normalized, embeddings, n_layers, user, positive,
                                             negative)
    smoothing = _smoothing(normalized, n_layers)
    final = smoothing @ embeddings
    summed = (n_layers + 1) * smoothing  # I + Â + … + Â^L, without the mean
    chain = ("Hint: with e = S E⁰ and G the gradient with respect to e, the gradient with "
             "respect to E⁰ is Sᵀ G = S G, S = (I + Â + … + Â^L) / (L + 1).")
    return [
        (_final_gradient(final, user, positive, negative),
         "your gradient is non-zero only in the rows of the user, the positive and the "
         "negative item: that is the gradient with respect to the final embeddings e = S E⁰. "
         "The loss depends on E⁰ through the propagation, so every node within L hops of the "
         f"three receives a share. {chain}"),
        (_final_gradient(embeddings, user, positive, negative),
         "you scored the triple with the layer-0 embeddings, as in plain matrix factorisation, "
         f"and forgot the propagation e = S E⁰ altogether. {chain}"),
        (smoothing.T @ _final_gradient(embeddings, user, positive, negative),
         "you scored the triple with the layer-0 embeddings: compute the final embeddings "
         "e = S E⁰ first and take e_u, e_i, e_j from them."),
        (-expected, "the sign is flipped: you computed the gradient of log σ(x), not of the "
                    "loss −log σ(x) (its derivative is −σ(−x), which is negative)."),
        ((n_layers + 1) * expected,
         f"you forgot the 1/(L + 1) of the mean in the backward pass: your gradient is L + 1 = "
         f"{n_layers + 1} times too large. {chain}"),
        (summed.T @ _final_gradient(summed @ embeddings, user, positive, negative),
         "you forgot the 1/(L + 1): LightGCN averages the L + 1 layers, it does not sum them. "
         + chain),
    ]


@_grader
def check_graph_bpr_gradient(function: Callable) -> Feedback:
    """Grade ``function(normalized, embeddings, n_layers, user, positive, negative) -> (N, d)``.

    ``normalized`` is ``Â`` (dense, ``(N, N)``), ``embeddings`` the layer-0 embeddings
    ``E⁰`` ``(N, d)`` and ``n_layers`` the number of layers ``L``; ``user``, ``positive`` and
    ``negative`` are *node* indices (an int each; item ``i`` is node ``n_users + i``). With
    the final embeddings ``e = S E⁰``, ``S = (I + Â + … + Â^L) / (L + 1)``, the answer is
    the gradient of the BPR loss ``−log σ(e_u · e_i − e_u · e_j)`` of this one triple with
    respect to ``E⁰``: an array of shape ``(N, d)``, like ``embeddings``.
    """
    name = "graph_bpr_gradient"
    if (not_a_function := _not_a_function(name, function)) is not None:
        return not_a_function
    for case_args in _gradient_cases():
        normalized, embeddings, n_layers, user, positive, negative = case_args
        expected = _reference_graph_bpr_gradient(*case_args)
        case = (f"{name}(normalized {normalized.shape}, embeddings {embeddings.shape}, "
                f"n_layers={n_layers}, user={user}, positive={positive}, "
                f"negative={negative})")
        got, error = _call_quietly(function, normalized.copy(), embeddings.copy(), n_layers, user,
                           positive, negative)
        if error:
            return Feedback(False, f"{case} raised {error}. Hint: user, positive and negative "
                                   "are node indices, i.e. rows of the (N, d) embeddings.")
        answer = _as_float_array(got)
        if answer is None:
            return Feedback(False, f"{case} returned {_show(got)}, expected an array of shape "
                                   f"{expected.shape}, like the embeddings.")
        if answer.shape != expected.shape:
            three = ("; a gradient for the user and the two items only is not enough: the "
                     "loss depends on every row of E⁰ within L hops of them"
                     if answer.ndim == 2 and answer.shape[0] == 3 else "")
            return Feedback(False, f"{case} has shape {answer.shape}, expected "
                                   f"{expected.shape}: one gradient row per node, like the "
                                   f"embeddings{three}.")
        if _same_values(answer, expected):
            continue
        for mistake, message in _gradient_mistakes(*case_args):
            if _same_values(answer, mistake):
                return Feedback(False, f"{case}: {message}")
        return Feedback(False, f"{case} is wrong. Hint: with x = e_u · (e_i − e_j) and "
                               "w = −σ(−x), the gradient with respect to e is G with rows "
                               "G_u = w (e_i − e_j), G_i = w e_u, G_j = −w e_u (zero "
                               "elsewhere); the gradient with respect to E⁰ is Sᵀ G.")
    return Feedback(True, "correct: one triple moves the layer-0 embeddings of every node "
                          "within L hops, which is how LightGCN shares what it learns along "
                          "the graph.")
