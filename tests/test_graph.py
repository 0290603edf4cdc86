"""The interaction graph: adjacency and propagation by hand, LightGCN and the graph filter."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_lab.baselines import GraphFilter
from recsys_lab.datasets import synthetic_communities
from recsys_lab.scratch.graph import (
    bipartite_adjacency,
    light_gcn_dense,
    light_gcn_embeddings,
    normalize_symmetric,
    propagate,
)

R = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]])  # user 2 has no interaction, item 2 none


def test_adjacency_and_its_normalisation_by_hand():
    adjacency = bipartite_adjacency(sp.csr_matrix(R)).toarray()
    assert adjacency.shape == (6, 6)
    np.testing.assert_array_equal(adjacency, adjacency.T)
    assert adjacency[0, 3] == adjacency[0, 4] == adjacency[1, 4] == 1  # items are nodes 3..5
    normalized = normalize_symmetric(adjacency).toarray()
    # Degrees: user 0 → 2, user 1 → 1, item 0 → 1, item 1 → 2.
    assert normalized[0, 3] == pytest.approx(1 / np.sqrt(2 * 1))
    assert normalized[0, 4] == pytest.approx(1 / np.sqrt(2 * 2))
    assert normalized[1, 4] == pytest.approx(1 / np.sqrt(1 * 2))
    assert not normalized[2].any() and not normalized[5].any()  # isolated nodes stay zero


def test_sparse_propagation_equals_the_dense_formula():
    rng = np.random.default_rng(0)
    interactions = (rng.random((7, 9)) < 0.3).astype(float)
    embeddings = rng.standard_normal((16, 4))
    normalized = normalize_symmetric(bipartite_adjacency(sp.csr_matrix(interactions)))
    layers = propagate(normalized, embeddings, 3)
    assert len(layers) == 4
    np.testing.assert_allclose(layers[1], normalized.toarray() @ embeddings)
    np.testing.assert_allclose(light_gcn_embeddings(normalized, embeddings, 3),
                               light_gcn_dense(interactions, embeddings, 3))


def test_knowledge_graph_entities_are_a_third_block():
    entities = sp.csr_matrix(np.array([[1, 0], [0, 0], [1, 1]]))
    adjacency = bipartite_adjacency(sp.csr_matrix(R), entities).toarray()
    assert adjacency.shape == (8, 8)
    assert adjacency[3, 6] == adjacency[5, 6] == adjacency[5, 7] == 1  # item → entity
    assert not adjacency[:3, 6:].any()  # users are not linked to entities
    with pytest.raises(ValueError, match="item_entities has 2 rows"):
        bipartite_adjacency(sp.csr_matrix(R), entities[:2])


def _communities(seed=0):
    planted = synthetic_communities(seed=seed)
    return planted.interactions, planted.n_users, planted.n_items


def test_graph_filter_recovers_planted_communities_and_reduces_to_the_linear_filter():
    train, n_users, n_items = _communities()
    model = GraphFilter(alpha=0.0, n_components=4).fit(train, n_users, n_items)
    assert synthetic_communities().own_share_of_top(model.score_items(np.arange(n_users))) > 0.9
    # alpha = 0: the scores are one round of item → user → item propagation, R P̃.
    history = model.history_.toarray()
    normalized = history / np.sqrt(history.sum(1, keepdims=True) * history.sum(0, keepdims=True))
    np.testing.assert_allclose(model.score_items([0, 5]),
                               history[[0, 5]] @ normalized.T @ normalized)


def test_graph_filter_checks_its_settings():
    train, n_users, n_items = _communities()
    with pytest.raises(ValueError, match="n_components"):
        GraphFilter(n_components=0).fit(train, n_users, n_items)
    with pytest.raises(ValueError, match="n_components .31. exceeds the number of items"):
        GraphFilter(n_components=31).fit(train, n_users, n_items)
    with pytest.raises(ValueError, match="alpha"):
        GraphFilter(alpha=-1.0).fit(train, n_users, n_items)


keras = pytest.importorskip("keras")


def test_keras_propagation_equals_the_numpy_one():
    from recsys_lab.models.graph import GraphPropagation

    rng = np.random.default_rng(1)
    interactions = (rng.random((6, 5)) < 0.4).astype(float)
    normalized = normalize_symmetric(bipartite_adjacency(sp.csr_matrix(interactions)))
    network = GraphPropagation(normalized, embedding_dim=3, n_layers=2)
    start = np.asarray(network.node_embedding.numpy(), dtype=float)
    np.testing.assert_allclose(np.asarray(network(None)),
                               light_gcn_dense(interactions, start, 2), atol=1e-5)
    last = GraphPropagation(normalized, embedding_dim=3, n_layers=2, combine="last")
    start = np.asarray(last.node_embedding.numpy(), dtype=float)
    np.testing.assert_allclose(np.asarray(last(None)), propagate(normalized, start, 2)[-1],
                               atol=1e-5)


def test_light_gcn_recovers_planted_communities():
    from recsys_lab.models.graph import LightGCN

    train, n_users, n_items = _communities()
    model = LightGCN(embedding_dim=8, epochs=30, batch_size=64, learning_rate=0.05,
                     l2=1e-2).fit(train, n_users, n_items)
    assert model.curves_["loss"].iloc[-1] < model.curves_["loss"].iloc[0]
    assert synthetic_communities().own_share_of_top(model.score_items(np.arange(n_users))) > 0.9
    assert model.user_factors_.shape == (n_users, 8)
    assert model.item_factors_.shape == (n_items, 8)


def test_light_gcn_with_entities_scores_an_item_nobody_rated_through_its_entities():
    from recsys_lab.models.graph import LightGCN

    train, n_users, n_items = _communities()
    cold = 29  # an odd item: community 1's
    train = train[train["item"] != cold]
    entities = np.zeros((n_items, 2))
    entities[np.arange(n_items) % 2 == 1, 1] = 1  # entity 1 links every odd item
    entities[np.arange(n_items) % 2 == 0, 0] = 1
    model = LightGCN(embedding_dim=8, epochs=30, batch_size=64, learning_rate=0.05, l2=1e-2,
                     item_entities=entities).fit(train, n_users, n_items)
    scores = model.score_items(np.arange(n_users))[:, cold]
    community = np.arange(n_users) % 2
    assert scores[community == 1].mean() > scores[community == 0].mean()


def test_light_gcn_rejects_entities_of_the_wrong_shape():
    from recsys_lab.models.graph import LightGCN

    train, n_users, n_items = _communities()
    with pytest.raises(ValueError, match="item_entities has 3 rows"):
        LightGCN(epochs=1, item_entities=np.ones((3, 2))).fit(train, n_users, n_items)


def test_message_passing_is_the_sparse_matrix_product():
    import tensorflow as tf

    from recsys_lab.models.graph import message_passing

    rng = np.random.default_rng(2)
    normalized = sp.coo_matrix(normalize_symmetric(bipartite_adjacency(
        sp.csr_matrix((rng.random((5, 7)) < 0.4).astype(float)))), dtype=np.float32)
    vectors = rng.standard_normal((12, 3)).astype(np.float32)
    edges = np.column_stack([normalized.row, normalized.col]).astype(np.int32)
    by_messages = message_passing(tf.constant(edges), tf.constant(normalized.data), 12,
                                  tf.constant(vectors))
    by_product = tf.sparse.sparse_dense_matmul(
        tf.sparse.reorder(tf.SparseTensor(edges.astype(np.int64), normalized.data, (12, 12))),
        vectors)
    np.testing.assert_allclose(np.asarray(by_messages), np.asarray(by_product), atol=1e-6)


def test_graph_filter_item_graph_is_computed_on_demand_after_fit():
    train, n_users, n_items = _communities()
    with pytest.raises(ValueError, match="not fitted"):
        GraphFilter().item_graph()
    model = GraphFilter(alpha=0.0, n_components=4).fit(train, n_users, n_items)
    np.testing.assert_allclose(model.item_graph(), model.weights_)
    assert not [name for name in vars(model) if name.startswith("item_graph")]


def test_ngcf_style_layers_train_and_add_one_matrix_per_layer():
    from recsys_lab.models.graph import LightGCN

    train, n_users, n_items = _communities()
    plain = LightGCN(embedding_dim=8, epochs=2, batch_size=64).fit(train, n_users, n_items)
    ngcf = LightGCN(embedding_dim=8, epochs=2, batch_size=64, transform=True,
                    activation="leaky_relu").fit(train, n_users, n_items)
    assert len(ngcf.network_.trainable_variables) == 1 + 2  # E⁰ and one 8 × 8 per layer
    extra = sum(int(np.prod(v.shape)) for v in ngcf.network_.trainable_variables) - sum(
        int(np.prod(v.shape)) for v in plain.network_.trainable_variables)
    assert extra == 2 * 8 * 8
    assert np.isfinite(ngcf.curves_["loss"]).all()


def test_a_model_with_an_entity_matrix_prints_on_one_line():
    from recsys_lab.models.graph import LightGCN

    entities = sp.csr_matrix(np.array([[1, 0], [0, 0], [1, 1]]))
    text = repr(LightGCN(epochs=1, item_entities=entities))
    assert "item_entities=<3×2 sparse matrix, 3 stored>" in text and "\n" not in text
