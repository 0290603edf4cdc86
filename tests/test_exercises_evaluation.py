"""Chapter 1's checkers accept the reference answers and reject typical wrong ones."""

import math

import numpy as np
import pandas as pd

from recsys_lab.exercises.evaluation import (
    check_density,
    check_ndcg_at_k,
    check_popularity_scores,
    check_recall_at_k,
)


def recall(ranked, relevant, k):
    return len(set(ranked[:k]) & set(relevant)) / min(k, len(relevant))


def ndcg(ranked, relevant, k):
    dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(ranked[:k]) if i in set(relevant))
    return dcg / sum(1 / math.log2(r + 2) for r in range(min(k, len(relevant))))


def test_recall_check():
    assert check_recall_at_k(recall)
    feedback = check_recall_at_k(lambda ranked, rel, k: len(set(ranked[:k]) & set(rel)) / k)
    assert not feedback and "min(k, len(relevant))" in feedback.message
    assert not check_recall_at_k(lambda *args: None)
    assert not check_recall_at_k(lambda *args: 1 / 0)
    assert not check_recall_at_k("not a function")


def test_ndcg_check():
    assert check_ndcg_at_k(ndcg)
    assert not check_ndcg_at_k(lambda ranked, relevant, k: recall(ranked, relevant, k))


def test_density_check():
    assert check_density(100 / 1000, 100, 10, 100)
    wrong = check_density(0.9, 100, 10, 100)
    assert not wrong and "sparsity" in wrong.message
    assert not check_density(None, 100, 10, 100)


def test_popularity_check():
    train = pd.DataFrame({"user": [0, 1, 1], "item": [2, 2, 0]})
    assert check_popularity_scores(lambda t, n: np.bincount(t["item"], minlength=n), train, 4)
    short = check_popularity_scores(lambda t, n: np.bincount(t["item"]), train, 4)
    assert not short and "minlength" in short.message
    assert not check_popularity_scores(lambda t, n: np.ones(n), train, 4)


def test_shared_helpers_read_answers_and_name_a_wrong_shape():
    from recsys_lab.exercises import as_float_array, wrong_shape

    assert as_float_array(...) is None and as_float_array(None) is None
    np.testing.assert_array_equal(as_float_array([1, 2]), [1.0, 2.0])
    assert wrong_shape(as_float_array([1, 2]), (2,), "a vector") is None
    short = wrong_shape(as_float_array([1]), (2,), "a vector")
    assert not short and short.message == "expected a vector of shape (2,), got shape (1,)."
    assert "no numbers" in wrong_shape(None, (2,), "a vector").message
