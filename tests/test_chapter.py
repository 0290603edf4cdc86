"""The chapter helper: the standard splits, validation carved from training, the budget."""

import numpy as np
import pytest

from recsys_lab import chapter as chapter_module
from recsys_lab.datasets import synthetic_ratings
from recsys_lab.splits import cold_item_split, rating_split, seq_split, topn_split


@pytest.fixture()
def chapter(monkeypatch):
    data = synthetic_ratings(n_users=40, n_items=30, density=0.3, seed=0)
    movielens = chapter_module.MovieLens(ratings=data.ratings, items=None, users=None, kg=None,
                                         n_users=40, n_items=30)
    monkeypatch.setattr(chapter_module, "load_movielens_100k", lambda data_home=None: movielens)
    return chapter_module.start_chapter(seed=3)


def test_splits_are_the_protocols_standard_ones(chapter):
    ratings = chapter.data.ratings
    assert chapter.sizes == {"n_users": 40, "n_items": 30}
    expected = {"RATING": rating_split(ratings), "TOPN": topn_split(ratings),
                "SEQ": seq_split(ratings), "COLD": cold_item_split(ratings, n_items=30)}
    for protocol, split in expected.items():
        for got, want in zip(chapter.split(protocol), split, strict=True):
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    with pytest.raises(ValueError, match="unknown protocol"):
        chapter.split("RANK")


def test_validation_splits_are_carved_from_training_data(chapter):
    for protocol in ("RATING", "TOPN", "SEQ", "COLD"):
        fit_part, valid_part = chapter.validation_split(protocol)
        train = chapter.split(protocol).train
        test_index = chapter.split(protocol).test.index
        assert not set(fit_part.index) & set(test_index)
        assert not set(valid_part.index) & set(test_index)
        if protocol != "SEQ":
            assert set(fit_part.index) | set(valid_part.index) == set(train.index)
    fit_part, valid_part = chapter.validation_split("TOPN")
    np.testing.assert_array_equal(valid_part.index,
                                  topn_split(chapter.split("TOPN").train, seed=1).test.index)


def test_start_seeds_the_notebook_and_finish_checks_the_budget(chapter, capsys):
    assert np.random.random() == np.random.RandomState(3).random_sample()
    assert chapter.finish() is None
    assert "chapter ran in" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="over its -1 s"):
        chapter.finish(budget=-1)
