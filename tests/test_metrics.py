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


def test_auc_by_hand_with_ties():
    # Positives score 0.9 and 0.4, negatives 0.4 and 0.1: pairs (0.9>0.4), (0.9>0.1),
    # (0.4=0.4 counts one half), (0.4>0.1) → 3.5 of 4.
    assert metrics.auc([1, 0, 1, 0], [0.9, 0.4, 0.4, 0.1]) == pytest.approx(3.5 / 4)
    assert metrics.auc([0, 1], [0.2, 0.7]) == 1.0
    assert metrics.auc([1, 0], [0.2, 0.7]) == 0.0


def test_auc_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    labels = rng.random(200) < 0.3
    scores = np.round(rng.standard_normal(200), 1)  # rounding makes ties
    positive, negative = scores[labels], scores[~labels]
    pairwise = ((positive[:, None] > negative[None, :]).mean()
                + 0.5 * (positive[:, None] == negative[None, :]).mean())
    assert metrics.auc(labels.astype(int), scores) == pytest.approx(pairwise)


def test_log_loss_by_hand_and_clipping():
    expected = -(np.log(0.8) + np.log(1 - 0.4)) / 2
    assert metrics.log_loss([1, 0], [0.8, 0.4]) == pytest.approx(expected)
    assert np.isfinite(metrics.log_loss([1], [0.0]))


@pytest.mark.parametrize(("labels", "scores", "message"), [
    ([1, 1], [0.2, 0.3], "positive and one negative"),
    ([1, 2], [0.2, 0.3], "must be 0 or 1"),
    ([1, 0], [0.2], "one shape"),
    ([], [], "zero examples"),
    ([1, 0], [0.2, np.nan], "NaN"),
])
def test_auc_rejects_bad_input(labels, scores, message):
    with pytest.raises(ValueError, match=message):
        metrics.auc(labels, scores)


def test_log_loss_needs_probabilities():
    with pytest.raises(ValueError, match="lie in"):
        metrics.log_loss([1, 0], [1.5, 0.2])
