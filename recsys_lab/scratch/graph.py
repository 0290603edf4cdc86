"""The interaction graph in NumPy/SciPy: adjacency, normalisation, propagation (graph chapter).

Users and items are the nodes of one bipartite graph: node ``u`` is user ``u`` and node
``n_users + i`` is item ``i``; an interaction is an undirected edge. With ``R`` the
``(n_users, n_items)`` 0/1 interaction matrix, the adjacency matrix is

    A = [[0, R], [Rᵀ, 0]]          (N × N, N = n_users + n_items)

and its symmetric normalisation ``Â = D^{-1/2} A D^{-1/2}`` (``D`` the diagonal of node
degrees; a node with no edge keeps a zero row). One round of message passing is ``E ← Â E``:
every node becomes the degree-weighted sum of its neighbours' vectors. LightGCN's output is
the mean of the layers, ``(E⁰ + ÂE⁰ + … + Â^L E⁰) / (L + 1)``.

Extra node types (knowledge-graph entities linked to items) extend ``A`` with an
``(n_items, n_entities)`` block ``K``: ``A = [[0, R, 0], [Rᵀ, 0, K], [0, Kᵀ, 0]]``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def bipartite_adjacency(interactions: sp.spmatrix, item_entities: sp.spmatrix | None = None
                        ) -> sp.csr_matrix:
    """The symmetric 0/1 adjacency ``A`` of users, items (and entities), shape ``(N, N)``.

    ``interactions`` is the ``(n_users, n_items)`` matrix ``R`` (any non-zero is an edge);
    ``item_entities`` an optional ``(n_items, n_entities)`` matrix ``K`` of item–entity links.
    Nodes are ordered users, items, entities.
    """
    interactions = (sp.csr_matrix(interactions) != 0).astype(np.float64)
    n_users, n_items = interactions.shape
    if item_entities is None:
        return sp.bmat([[None, interactions], [interactions.T, None]], format="csr")
    item_entities = (sp.csr_matrix(item_entities) != 0).astype(np.float64)
    if item_entities.shape[0] != n_items:
        raise ValueError(f"item_entities has {item_entities.shape[0]} rows; the interactions "
                         f"have {n_items} items")
    user_entity = sp.csr_matrix((n_users, item_entities.shape[1]))
    return sp.bmat([[None, interactions, user_entity],
                    [interactions.T, None, item_entities],
                    [user_entity.T, item_entities.T, None]], format="csr")


def normalize_symmetric(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """``D^{-1/2} A D^{-1/2}``; rows and columns of isolated nodes stay zero."""
    adjacency = sp.csr_matrix(adjacency, dtype=np.float64)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    inverse_root = np.zeros_like(degree)
    inverse_root[degree > 0] = degree[degree > 0] ** -0.5
    scale = sp.diags(inverse_root)
    return (scale @ adjacency @ scale).tocsr()


def propagate(normalized: sp.spmatrix, embeddings: np.ndarray, n_layers: int) -> list:
    """The layer outputs ``[E⁰, ÂE⁰, …, Â^L E⁰]``, each ``(N, d)``, by sparse products."""
    outputs = [np.asarray(embeddings, dtype=float)]
    for _ in range(n_layers):
        outputs.append(normalized @ outputs[-1])
    return outputs


def light_gcn_embeddings(normalized: sp.spmatrix, embeddings: np.ndarray, n_layers: int
                         ) -> np.ndarray:
    """LightGCN's layer combination: the mean of :func:`propagate`'s outputs, ``(N, d)``."""
    return np.mean(propagate(normalized, embeddings, n_layers), axis=0)


def light_gcn_dense(interactions: np.ndarray, embeddings: np.ndarray, n_layers: int
                    ) -> np.ndarray:
    """The same combination written with dense matrices, for checking on small graphs."""
    interactions = (np.asarray(interactions) != 0).astype(float)
    n_users, n_items = interactions.shape
    adjacency = np.zeros((n_users + n_items,) * 2)
    adjacency[:n_users, n_users:] = interactions
    adjacency[n_users:, :n_users] = interactions.T
    degree = adjacency.sum(axis=1)
    inverse_root = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree),
                             where=degree > 0)
    normalized = inverse_root[:, None] * adjacency * inverse_root[None, :]
    total, layer = np.array(embeddings, dtype=float), np.array(embeddings, dtype=float)
    for _ in range(n_layers):
        layer = normalized @ layer
        total = total + layer
    return total / (n_layers + 1)
