"""Fixtures shared by several test modules, and the order in which the test files run."""

from pathlib import Path

import pytest

from recsys_lab.datasets import synthetic_sequences

#: The slowest test files, slowest first (seconds on two cores, `--durations=0`, 2026-12):
#: interface 118, dist 58, grading 55, feature_models 43, distributed 27.
SLOWEST_FIRST = ("test_interface.py", "test_dist.py", "test_grading.py",
                 "test_feature_models.py", "test_distributed.py")


def pytest_collection_modifyitems(items):
    """Run the slowest files first, each file's tests in their own order.

    ``make unit`` hands whole files to two workers (pytest-xdist, ``--dist loadfile
    --no-loadscope-reorder``) in collection order; a long file handed out last would run
    alone at the end while the other worker idles (about 25 s of the 4.5 minutes).
    """
    def rank(item):
        name = Path(str(item.fspath)).name
        return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: the other files keep pytest's order


@pytest.fixture(scope="session")
def chain():
    """A planted first-order Markov chain: 300 users, 100 items, histories of 20."""
    return synthetic_sequences(n_users=300, n_items=100, length=20, seed=0)
