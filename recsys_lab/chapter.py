"""What every chapter does first and last: a seed, the data, the splits, and the time budget.

A chapter starts with::

    from recsys_lab.chapter import start_chapter

    chapter = start_chapter(seed=0)
    data, sizes = chapter.data, chapter.sizes       # MovieLens-100K, {n_users, n_items}
    topn = chapter.split("TOPN")                    # the protocol's standard split
    fit_part, valid_part = chapter.validation_split("TOPN")   # carved from topn.train

and ends with ``chapter.finish()``, which prints how long it ran and asserts the budget.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from recsys_lab.datasets import MovieLens, load_movielens_100k
from recsys_lab.splits import (
    COLD,
    KNOWN_RATINGS,
    PROTOCOLS,
    RATING,
    SEQ,
    Split,
    cold_item_split,
    cold_user_split,
    rating_split,
    standard_splits,
    topn_split,
)
from recsys_lab.training import seed_everything
from recsys_lab.validation import check_count

#: Seconds a chapter may take from start to finish on a two-core laptop CPU.
BUDGET_SECONDS = 120.0
#: The seed of the validation splits carved from training data (the test splits use 42 and 0).
VALIDATION_SEED = 1
#: Threads of TensorFlow's and the BLAS's arithmetic in a chapter: the two cores of the laptop
#: the budgets assume, whatever the machine has. Both libraries otherwise start one thread
#: per core, and a sum cut into a different number of parts is added in a different order:
#: NeuMF's scores differ in their last digits on one, two and four threads, EASE's on one and
#: two, which can move a close comparison. With the count fixed, a reader's run gives the website's
#: numbers on any number of cores of the same kind of processor.
THREADS = 2


@dataclass
class Chapter:
    """A chapter's shared state: its seed, MovieLens-100K, its splits and its clock.

    Attributes
    ----------
    data : the :class:`~recsys_lab.datasets.MovieLens` dataset.
    seed : the notebook's seed (models take their own).
    started : ``time.perf_counter()`` when the chapter started.
    """

    data: MovieLens
    seed: int = 0
    started: float = field(default_factory=time.perf_counter)
    _splits: dict = field(default=None, repr=False)

    @property
    def sizes(self) -> dict:
        """``{"n_users": ..., "n_items": ...}``, the keyword arguments of ``fit``/``evaluate``."""
        return {"n_users": self.data.n_users, "n_items": self.data.n_items}

    def split(self, protocol: str):
        """The standard split of a protocol (:func:`recsys_lab.splits.standard_splits`)."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
        if self._splits is None:
            self._splits = standard_splits(self.data.ratings, n_items=self.data.n_items,
                                           n_users=self.data.n_users)
        return self._splits[protocol]

    def validation_split(self, protocol: str) -> Split:
        """``(fit_part, valid_part)``: a validation split carved from the protocol's training
        data, for choosing settings; the test split stays unread.

        RATING, TOPN and COLD split their training data again with the same protocol and
        :data:`VALIDATION_SEED`; SEQ uses each user's validation item (``seq.valid``) after
        ``seq.train``. COLD-USER and COLD-USER+5 hold out validation users from the *warm*
        users only (the test's cold users and their known ratings are left out of both
        parts), with the same number of known ratings.
        """
        split = self.split(protocol)
        if protocol == SEQ:
            return Split(split.train, split.valid)
        if protocol in KNOWN_RATINGS:
            warm = split.train[~split.train["user"].isin(split.cold_users)]
            valid = cold_user_split(warm, seed=VALIDATION_SEED,
                                    n_known=KNOWN_RATINGS[protocol])
            return Split(valid.train, valid.test)
        if protocol == COLD:
            valid = cold_item_split(split.train, seed=VALIDATION_SEED)
            return Split(valid.train, valid.test)
        make = rating_split if protocol == RATING else topn_split
        return make(split.train, seed=VALIDATION_SEED)

    def elapsed(self) -> float:
        """Seconds since the chapter started."""
        return time.perf_counter() - self.started

    def finish(self, budget: float = BUDGET_SECONDS) -> None:
        """Print how long the chapter ran and assert it stayed within ``budget`` seconds."""
        elapsed = self.elapsed()
        print(f"chapter ran in {elapsed:.0f} s (budget {budget:.0f} s)")
        assert elapsed <= budget, f"the chapter took {elapsed:.0f} s, over its {budget:.0f} s"


def fix_threads(threads: int = THREADS) -> None:
    """Run TensorFlow's and the BLAS's arithmetic on ``threads`` threads (:data:`THREADS`).

    Sets ``TF_NUM_INTRAOP_THREADS``, which TensorFlow reads when it runs its first
    operation, so this must come before the notebook's first Keras fit; limits the BLAS
    libraries of NumPy and SciPy, already loaded (``threadpoolctl``); and sets
    ``OPENBLAS_NUM_THREADS`` and ``OMP_NUM_THREADS`` for those loaded later (FAISS's).
    A thread count the environment already sets is left as it is.
    """
    threads = check_count(threads, "threads")
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    if not {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"} & set(os.environ):
        import scipy.linalg  # noqa: F401  (loads SciPy's own BLAS, so that it is limited too)
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads, user_api="blas")
        os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(threads)


def start_chapter(seed: int = 0, *, data_home=None) -> Chapter:
    """Seed the notebook, fix its thread count, set figure defaults, load MovieLens-100K and
    start the clock.

    ``seed`` seeds the notebook's own global generators
    (:func:`~recsys_lab.training.seed_everything`); every model takes its own ``seed``.
    The arithmetic runs on :data:`THREADS` threads (:func:`fix_threads`).
    ``data_home`` is the data cache (default ``$RECSYS_LAB_DATA`` or
    ``~/.cache/recsys_lab``).
    """
    started = time.perf_counter()
    seed_everything(seed)
    fix_threads()
    import matplotlib.pyplot as plt

    plt.rcParams["figure.dpi"] = 90
    return Chapter(load_movielens_100k(data_home), seed=seed, started=started)

