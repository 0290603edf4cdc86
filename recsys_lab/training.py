"""Reproducibility: one seed per notebook, the same numbers on every run."""

from __future__ import annotations

import os
import random
import sys

import numpy as np

DEFAULT_SEED = 0


def seed_everything(seed: int = DEFAULT_SEED) -> np.random.Generator:
    """Seed Python, NumPy and (if it is already imported) Keras/TensorFlow.

    Returns a NumPy ``Generator`` seeded with ``seed`` for code that wants its own stream.
    TensorFlow is never imported here, so ``import recsys_lab`` stays light; model
    modules call this again after importing Keras.
    """
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    if "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)
