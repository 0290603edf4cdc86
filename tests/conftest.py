"""Fixtures shared by several test modules."""

import pytest

from recsys_lab.datasets import synthetic_sequences


@pytest.fixture(scope="session")
def chain():
    """A planted first-order Markov chain: 300 users, 100 items, histories of 20."""
    return synthetic_sequences(n_users=300, n_items=100, length=20, seed=0)
