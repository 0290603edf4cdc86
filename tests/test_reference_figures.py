"""The pipeline against numbers public libraries measured on the same protocols (design.md).

A large difference would mean a split or a metric is wrong, so these run on the real data.
"""

import pytest

from recsys_lab.baselines import EASE, Biases, MostPopular
from recsys_lab.datasets import load_movielens_100k
from recsys_lab.evaluate import evaluate
from recsys_lab.splits import rating_split, seq_split, topn_split


@pytest.fixture(scope="module")
def movielens():
    return load_movielens_100k()


@pytest.fixture(scope="module")
def topn(movielens):
    return topn_split(movielens.ratings, seed=0)


def run(model, train, test, protocol, data):
    return evaluate(model, train, test, protocol, n_users=data.n_users, n_items=data.n_items)


def test_ease_topn_matches_the_reference(movielens, topn):
    row = run(EASE(l2=500), *topn, "TOPN", movielens)
    assert row["NDCG@10"] == pytest.approx(0.443, abs=0.015)
    assert row["Recall@20"] == pytest.approx(0.445, abs=0.015)


def test_most_popular_topn_matches_the_reference(movielens, topn):
    assert run(MostPopular(), *topn, "TOPN", movielens)["NDCG@10"] == pytest.approx(0.223, abs=0.01)


def test_seq_references(movielens):
    split = seq_split(movielens.ratings)
    ease = run(EASE(l2=500), split.history, split.test, "SEQ", movielens)
    popular = run(MostPopular(), split.history, split.test, "SEQ", movielens)
    assert ease["HR@10"] == pytest.approx(0.145, abs=0.01)
    assert popular["HR@10"] == pytest.approx(0.086, abs=0.01)


def test_biases_rating_matches_baseline_only(movielens):
    row = run(Biases(l2_item=10, l2_user=15), *rating_split(movielens.ratings), "RATING",
              movielens)
    assert row["RMSE"] == pytest.approx(0.944, abs=0.01)
