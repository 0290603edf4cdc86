"""The chapter helper: the standard splits, validation carved from training, the budget,
the thread count."""

import os
import subprocess
import sys

import numpy as np
import pytest

from recsys_lab import chapter as chapter_module
from recsys_lab.datasets import synthetic_ratings
from recsys_lab.splits import (
    PROTOCOLS,
    cold_item_split,
    cold_user_split,
    rating_split,
    seq_split,
    topn_split,
)

THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


@pytest.fixture()
def chapter(monkeypatch):
    for variable in THREAD_VARIABLES:  # start_chapter sets the first: put it back afterwards
        monkeypatch.delenv(variable, raising=False)
    # 21 ratings per user, so that cold users have ratings after their first ten (the test).
    data = synthetic_ratings(n_users=40, n_items=30, density=0.7, seed=0)
    movielens = chapter_module.MovieLens(ratings=data.ratings, items=None, users=None, kg=None,
                                         n_users=40, n_items=30)
    monkeypatch.setattr(chapter_module, "load_movielens_100k", lambda data_home=None: movielens)
    return chapter_module.start_chapter(seed=3)


def test_splits_are_the_protocols_standard_ones(chapter):
    ratings = chapter.data.ratings
    assert chapter.sizes == {"n_users": 40, "n_items": 30}
    expected = {"RATING": rating_split(ratings), "TOPN": topn_split(ratings),
                "SEQ": seq_split(ratings), "COLD": cold_item_split(ratings, n_items=30),
                "COLD-USER": cold_user_split(ratings, n_users=40),
                "COLD-USER+5": cold_user_split(ratings, n_known=5, n_users=40)}
    assert set(expected) == set(PROTOCOLS)
    for protocol, split in expected.items():
        for got, want in zip(chapter.split(protocol), split, strict=True):
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    with pytest.raises(ValueError, match="unknown protocol"):
        chapter.split("RANK")


def test_validation_splits_are_carved_from_training_data(chapter):
    for protocol in PROTOCOLS:
        fit_part, valid_part = chapter.validation_split(protocol)
        train = chapter.split(protocol).train
        test_index = chapter.split(protocol).test.index
        assert not set(fit_part.index) & set(test_index)
        assert not set(valid_part.index) & set(test_index)
        if protocol in ("RATING", "TOPN", "COLD"):
            assert set(fit_part.index) | set(valid_part.index) == set(train.index)
        assert set(fit_part.index) <= set(train.index) and len(valid_part) > 0
    fit_part, valid_part = chapter.validation_split("TOPN")
    np.testing.assert_array_equal(valid_part.index,
                                  topn_split(chapter.split("TOPN").train, seed=1).test.index)


def test_cold_user_validation_holds_out_warm_users_with_the_same_known_ratings(chapter):
    for protocol, n_known in (("COLD-USER", 0), ("COLD-USER+5", 5)):
        split = chapter.split(protocol)
        fit_part, valid_part = chapter.validation_split(protocol)
        # The test's cold users, known ratings included, are in neither part.
        assert not fit_part["user"].isin(split.cold_users).any()
        assert not valid_part["user"].isin(split.cold_users).any()
        warm = split.train[~split.train["user"].isin(split.cold_users)]
        expected = cold_user_split(warm, seed=1, n_known=n_known)
        np.testing.assert_array_equal(valid_part.index, expected.test.index)
        np.testing.assert_array_equal(fit_part.index, expected.train.index)
        known = fit_part[fit_part["user"].isin(expected.cold_users)].groupby("user").size()
        assert len(known) == (len(expected.cold_users) if n_known else 0)
        assert (known == n_known).all()


def test_start_seeds_the_notebook_and_finish_checks_the_budget(chapter, capsys):
    assert np.random.random() == np.random.RandomState(3).random_sample()
    assert chapter.finish() is None
    assert "chapter ran in" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="over its -1 s"):
        chapter.finish(budget=-1)


def test_start_fixes_the_thread_counts_unless_the_environment_sets_them(monkeypatch):
    for variable in THREAD_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    chapter_module.fix_threads()
    assert [os.environ[variable] for variable in THREAD_VARIABLES] == ["2", "2", "2"]
    assert chapter_module.THREADS == 2
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "5")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    chapter_module.fix_threads()
    assert os.environ["TF_NUM_INTRAOP_THREADS"] == "5" and os.environ["OMP_NUM_THREADS"] == "3"
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads must be a positive integer"):
            chapter_module.fix_threads(bad)


# A Keras fit (NeuMF) and a BLAS inverse (EASE) whose last digits depend on the thread count,
# run in a fresh process that may use only the first ``cores`` cores.
FIT_ON_CORES = """
import hashlib, os, sys
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:int(sys.argv[1])])
import numpy as np
from recsys_lab.chapter import fix_threads
if sys.argv[2] == "fixed":
    fix_threads()
from recsys_lab.baselines import EASE
from recsys_lab.datasets import synthetic_ratings
from recsys_lab.models.ncf import NeuMF
data = synthetic_ratings(n_users=300, n_items=800, density=0.1, seed=0)
for model in (NeuMF(epochs=2, seed=0), EASE()):
    scores = model.fit(data.ratings, 300, 800).score_items(np.arange(300))
    print(hashlib.sha1(scores.tobytes()).hexdigest())
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_with_the_threads_fixed_one_core_gives_the_scores_of_two():
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}

    def scores(cores, threads):
        run = subprocess.run([sys.executable, "-c", FIT_ON_CORES, str(cores), threads],
                             capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        return run.stdout.split()

    two = scores(2, "fixed")
    assert scores(1, "fixed") == two
    # What it prevents: left to their defaults, both libraries use one thread on one core.
    one_by_default = scores(1, "default")
    assert one_by_default[0] != two[0] and one_by_default[1] != two[1]
