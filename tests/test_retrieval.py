"""Candidate retrieval (recsys_lab.retrieval): exact search, FAISS indexes, recall, two stages."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys_lab.retrieval import (
    ExactIndex,
    FlatIndex,
    HNSWIndex,
    IVFIndex,
    exact_top_k,
    queries_per_second,
    recall_at_k,
    retrieve_then_rank,
)

faiss = pytest.importorskip("faiss")


def _random(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


ITEMS = _random(2000, 16, seed=0)
QUERIES = _random(50, 16, seed=1)


def test_importing_the_package_does_not_load_faiss():
    code = ("import sys, recsys_lab, recsys_lab.retrieval\n"
            "print('faiss' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip() == "False"


def test_recall_on_a_case_computed_by_hand():
    approximate = np.array([[0, 1, 2], [5, 6, 7], [9, -1, -1]])
    exact = np.array([[2, 1, 9], [8, 9, 10], [9, 3, 4]])
    recall = recall_at_k(approximate, exact)
    # row 0 finds 1 and 2 of {2, 1, 9}; row 1 none; row 2 finds 9 and the -1 pads match nothing
    assert recall.tolist() == pytest.approx([2 / 3, 0.0, 1 / 3])
    assert recall.mean() == pytest.approx(1 / 3)
    assert recall_at_k(np.array([[4, 3, 2, 1]]), np.array([[1, 2]])).tolist() == [1.0]  # 2@4


def test_recall_refuses_bad_inputs():
    with pytest.raises(ValueError, match="2-D integer"):
        recall_at_k(np.array([0, 1]), np.array([[0, 1]]))
    with pytest.raises(ValueError, match="2-D integer"):
        recall_at_k(np.array([[0.5]]), np.array([[0]]))
    with pytest.raises(ValueError, match="queries"):
        recall_at_k(np.array([[0], [1]]), np.array([[0]]))
    with pytest.raises(ValueError, match="repeat"):
        recall_at_k(np.array([[0, 1]]), np.array([[1, 1]]))
    with pytest.raises(ValueError, match="negative"):
        recall_at_k(np.array([[0, 1]]), np.array([[1, -1]]))


def test_exact_top_k_on_a_small_case_with_a_tie():
    items = np.array([[1, 0], [0, 1], [1, 1], [-1, 0], [0, 1]], dtype=np.float32)
    scores, ids = exact_top_k(np.array([[2, 1]], dtype=np.float32), items, k=3)
    assert ids.tolist() == [[2, 0, 1]]  # scores 3, 2, then 1 for items 1 and 4: lower id first
    assert scores.tolist() == [[3, 2, 1]]
    # many ties at the cut (scores 0, 1, 2): the lowest ids win it, as in a stable sort
    values = np.random.default_rng(0).integers(0, 3, size=40).astype(np.float32)
    _, ids = exact_top_k(np.ones((1, 1), dtype=np.float32), values[:, None], k=10)
    assert ids[0].tolist() == np.argsort(-values, kind="stable")[:10].tolist()
    # batching changes the ids not at all, the float32 sums (BLAS blocking) in the last bit
    batched = exact_top_k(QUERIES, ITEMS, 10, batch_size=7)
    whole = exact_top_k(QUERIES, ITEMS, 10)
    assert (batched[1] == whole[1]).all()
    np.testing.assert_allclose(batched[0], whole[0], rtol=1e-6)
    assert exact_top_k(QUERIES, ITEMS, len(ITEMS))[1][0].tolist() == \
        np.argsort(-(QUERIES[0] @ ITEMS.T), kind="stable").tolist()


def test_faiss_flat_and_exhaustive_ivf_equal_exact_search():
    scores, ids = exact_top_k(QUERIES, ITEMS, 10)
    for index in (FlatIndex(), IVFIndex(nlist=8, nprobe=8), ExactIndex()):
        found_scores, found_ids = index.build(ITEMS).search(QUERIES, 10)
        assert found_ids.dtype == np.int64 and found_scores.dtype == np.float32
        assert (found_ids == ids).all(), type(index).__name__
        np.testing.assert_allclose(found_scores, scores, rtol=1e-5, atol=1e-5)


def test_ivf_is_seeded_and_fewer_probes_trade_recall():
    _, exact = exact_top_k(QUERIES, ITEMS, 10)
    first = IVFIndex(nlist=16, nprobe=1, seed=3).build(ITEMS)
    again = IVFIndex(nlist=16, nprobe=1, seed=3).build(ITEMS)
    assert (first.search(QUERIES, 10)[1] == again.search(QUERIES, 10)[1]).all()
    other = IVFIndex(nlist=16, nprobe=1, seed=4).build(ITEMS)
    assert not np.allclose(first.quantizer_.reconstruct_n(0, 16),
                           other.quantizer_.reconstruct_n(0, 16))  # the seed is used
    one_probe = recall_at_k(first.search(QUERIES, 10)[1], exact).mean()
    first.nprobe = 16  # changed without rebuilding
    assert recall_at_k(first.search(QUERIES, 10)[1], exact).mean() == 1.0
    assert one_probe < 1.0


def test_ivf_pads_a_short_answer_with_minus_one():
    items = np.array([[1, 0]] * 5 + [[-1, 0]] * 2, dtype=np.float32)  # two tight clusters
    index = IVFIndex(nlist=2, nprobe=1).build(items)
    scores, ids = index.search(np.array([[-1, 0]], dtype=np.float32), 4)
    assert sorted(ids[0, :2].tolist()) == [5, 6]
    assert ids[0, 2:].tolist() == [-1, -1] and np.isneginf(scores[0, 2:]).all()


@pytest.mark.parametrize("l2_reduction", [False, True])
def test_hnsw_finds_most_of_the_top_10(l2_reduction):
    _, exact = exact_top_k(QUERIES, ITEMS, 10)
    index = HNSWIndex(M=16, ef_search=128, l2_reduction=l2_reduction).build(ITEMS)
    scores, ids = index.search(QUERIES, 10)
    assert recall_at_k(ids, exact).mean() >= 0.9
    # the scores are inner products, whichever metric the graph was built on
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", QUERIES, ITEMS[ids]),
                               rtol=1e-4, atol=1e-4)
    again = HNSWIndex(M=16, ef_search=128, l2_reduction=l2_reduction).build(ITEMS)
    assert (again.search(QUERIES, 10)[1] == ids).all()  # one thread: the same graph


def test_faiss_thread_count_is_restored():
    before = faiss.omp_get_max_threads()
    FlatIndex(n_threads=2).build(ITEMS[:10]).search(QUERIES[:2], 3)
    assert faiss.omp_get_max_threads() == before


def test_bad_inputs_are_refused_with_their_name():
    with pytest.raises(ValueError, match="float32"):
        FlatIndex().build(ITEMS.astype(np.float64))
    with pytest.raises(ValueError, match="2-D"):
        FlatIndex().build(ITEMS[0])
    with pytest.raises(ValueError, match="NaN"):
        FlatIndex().build(np.array([[np.nan, 1]], dtype=np.float32))
    with pytest.raises(ValueError, match="not built"):
        FlatIndex().search(QUERIES, 3)
    index = FlatIndex().build(ITEMS)
    with pytest.raises(ValueError, match="dimension 3"):
        index.search(QUERIES[:, :3], 3)
    with pytest.raises(ValueError, match="n_items = 2000"):
        index.search(QUERIES, 2001)
    with pytest.raises(ValueError, match="k must be"):
        exact_top_k(QUERIES, ITEMS, 0)
    with pytest.raises(ValueError, match="nprobe"):
        IVFIndex(nlist=4, nprobe=5)
    with pytest.raises(ValueError, match="nlist"):
        IVFIndex(nlist=50, nprobe=1).build(ITEMS[:20])
    ivf = IVFIndex(nlist=4, nprobe=2).build(ITEMS)
    ivf.nprobe = 9
    with pytest.raises(ValueError, match="nprobe"):
        ivf.search(QUERIES, 3)
    with pytest.raises(ValueError, match="M must"):
        HNSWIndex(M=1)
    with pytest.raises(ValueError, match="integer"):
        HNSWIndex(ef_search=2.5)
    assert index.search(QUERIES[:0], 3)[1].shape == (0, 3)


def test_queries_per_second_is_positive():
    index = FlatIndex().build(ITEMS)
    assert queries_per_second(index, QUERIES, 10, repeats=1) > 0
    with pytest.raises(ValueError, match="empty"):
        queries_per_second(index, QUERIES[:0], 10)


class FixedScores:
    """A stand-in ranker: the same scores for every user."""

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=float)

    def score_items(self, users):
        return np.tile(self.scores, (len(users), 1))


# Item vectors on a line: user 0's query (1, 0) retrieves items 4, 3, 2 (inner products
# 4, 3, 2); the ranker prefers 0 > 2 > 3 > 1 > 4, and item 0 was never retrieved.
LINE = np.array([[0, 1], [1, 0], [2, 0], [3, 0], [4, 0]], dtype=np.float32)
RANKER = FixedScores([10.0, 5.0, 8.0, 7.0, 1.0])


def test_retrieve_then_rank_reorders_only_the_candidates():
    index = FlatIndex().build(LINE)
    query = np.array([[1, 0]], dtype=np.float32)
    ids, scores = retrieve_then_rank(index, query, [0], RANKER, n_candidates=3, k=2)
    assert ids.tolist() == [[2, 3]] and scores.tolist() == [[8.0, 7.0]]
    ids, _ = retrieve_then_rank(index, query, [0], RANKER, n_candidates=5, k=2)
    assert ids.tolist() == [[0, 2]]  # with every item a candidate, the ranker decides alone


def test_retrieve_then_rank_drops_excluded_items_and_pads():
    index = ExactIndex().build(LINE)
    queries = np.array([[1, 0], [1, 0]], dtype=np.float32)
    seen = sp.csr_matrix(([1, 1], ([0, 1], [2, 4])), shape=(2, 5))  # user 0 saw 2, user 1 saw 4
    ids, scores = retrieve_then_rank(index, queries, [0, 1], RANKER, n_candidates=3, k=3,
                                     exclude=seen, batch_size=1)
    assert ids.tolist() == [[3, 4, -1], [2, 3, -1]]
    assert np.isneginf(scores[:, 2]).all()


def test_retrieve_then_rank_with_a_fitted_model():
    from recsys_lab.baselines import MostPopular

    train = pd.DataFrame({"user": [0, 0, 1, 1, 2], "item": [3, 2, 3, 1, 3]})
    model = MostPopular().fit(train, 3, 5)  # popularity 3 > {1, 2} > {0, 4}
    ids, _ = retrieve_then_rank(FlatIndex().build(LINE), np.array([[1, 0]], np.float32), [2],
                                model, n_candidates=3, k=1)
    assert ids.tolist() == [[3]]


def test_retrieve_then_rank_refuses_bad_inputs():
    index = FlatIndex().build(LINE)
    query = np.array([[1, 0]], dtype=np.float32)
    with pytest.raises(ValueError, match="n_candidates"):
        retrieve_then_rank(index, query, [0], RANKER, n_candidates=2, k=3)
    with pytest.raises(ValueError, match="one row per user"):
        retrieve_then_rank(index, query, [0, 1], RANKER, n_candidates=3, k=2)
    with pytest.raises(ValueError, match="ranker scores 4 items"):
        retrieve_then_rank(index, query, [0], FixedScores([1, 2, 3, 4]), n_candidates=3, k=2)
    with pytest.raises(ValueError, match="item columns"):
        retrieve_then_rank(index, query, [0], RANKER, 3, 2, exclude=sp.csr_matrix((1, 4)))
