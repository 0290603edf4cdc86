"""Each metric against a case computed by hand."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_lab import metrics


def test_rmse_and_mae_by_hand():
    y, y_hat = [1.0, 2.0, 4.0], [2.0, 2.0, 2.0]
    assert metrics.rmse(y, y_hat) == pytest.approx(np.sqrt((1 + 0 + 4) / 3))
    assert metrics.mae(y, y_hat) == pytest.approx(1.0)


def test_rating_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="shape"):
        metrics.rmse([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="zero ratings"):
        metrics.mae([], [])
    with pytest.raises(ValueError, match="NaN"):
        metrics.rmse([1, 2], [1, np.nan])


def test_top_k_orders_best_first_and_breaks_ties_by_item():
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [3.0, -np.inf, 2.0, 1.0]])
    np.testing.assert_array_equal(metrics.top_k(scores, 3), [[1, 3, 2], [0, 2, 3]])
    with pytest.raises(ValueError, match="k must"):
        metrics.top_k(scores, 5)


# One user, a top-5 list whose ranks 1 and 4 are relevant, and 3 relevant items in all.
HITS = np.array([[True, False, False, True, False]])
N_RELEVANT = np.array([3])


def test_precision_recall_hit_rate_by_hand():
    assert metrics.precision_at_k(HITS)[0] == pytest.approx(2 / 5)
    assert metrics.recall_at_k(HITS, N_RELEVANT)[0] == pytest.approx(2 / 3)
    assert metrics.hit_rate_at_k(HITS)[0] == 1.0
    assert metrics.hit_rate_at_k(~HITS & False)[0] == 0.0


def test_recall_divides_by_min_k_and_relevant():
    hits = np.array([[True, True]])
    assert metrics.recall_at_k(hits, np.array([10]))[0] == pytest.approx(1.0)


def test_ndcg_by_hand():
    dcg = 1 / np.log2(2) + 1 / np.log2(5)
    ideal = 1 / np.log2(2) + 1 / np.log2(3) + 1 / np.log2(4)
    assert metrics.ndcg_at_k(HITS, N_RELEVANT)[0] == pytest.approx(dcg / ideal)
    perfect = np.array([[True, True, True, False, False]])
    assert metrics.ndcg_at_k(perfect, N_RELEVANT)[0] == pytest.approx(1.0)


def test_ranking_metrics_need_a_relevant_item_per_user():
    with pytest.raises(ValueError, match="at least one relevant"):
        metrics.recall_at_k(HITS, np.array([0]))


def test_relevance_hits_and_coverage():
    relevant = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 0, 0]]))
    top = np.array([[3, 0], [1, 0]])
    np.testing.assert_array_equal(metrics.relevance_hits(top, relevant), [[True, False],
                                                                          [False, True]])
    assert metrics.coverage(top, n_items=4) == pytest.approx(3 / 4)
