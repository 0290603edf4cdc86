"""Reproducibility: a seed per notebook, a seed per model, and fits that leave the caller alone.

* :func:`seed_everything` seeds the *caller's* global generators (Python, NumPy and, once it
  is imported, Keras): what a notebook does once at the top.
* :func:`isolated_random_state` runs a model's ``fit`` with the globals seeded by the model's
  own ``seed`` and puts them back afterwards, so that a fit is reproducible whatever ran
  before it, and a bootstrap placed between two fits does not silently repeat its numbers.

TensorFlow is never imported here, so ``import recsys_lab`` stays light.
"""

from __future__ import annotations

import contextlib
import random
import sys

import numpy as np

DEFAULT_SEED = 0


def seed_everything(seed: int = DEFAULT_SEED) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's global generator and (if imported) Keras.

    For a notebook's own code. Returns a NumPy ``Generator`` seeded with ``seed`` for code
    that wants its own stream. Models do not need it: each fit seeds itself
    (:func:`isolated_random_state`).
    """
    random.seed(seed)
    np.random.seed(seed)
    if "keras" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)


_KERAS_GENERATOR = "global_seed_generator"


def _keras_global_state():
    """The ``global_state`` module of Keras 3 if Keras is imported, else None."""
    if "keras" not in sys.modules:
        return None
    from keras.src.backend.common import global_state

    return global_state


@contextlib.contextmanager
def isolated_random_state(seed: int):
    """Seed the global generators with ``seed`` for the block, then restore them exactly.

    Inside the block Python's ``random`` and NumPy's global generator are seeded with
    ``seed``, and Keras starts a fresh global seed generator (Keras draws the seeds of
    initialisers and unseeded layers from Python's ``random``), so a model built and trained
    here gets the same weights in every process. On exit the caller's Python and NumPy
    states and Keras' global seed generator (None if Keras had none) are put back.
    TensorFlow's own global seed is not touched: the book's models draw every random number
    through Keras seeds or their own NumPy generators.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    keras_state = _keras_global_state()
    saved_generator = keras_state.get_global_attribute(_KERAS_GENERATOR) if keras_state else None
    random.seed(seed)
    np.random.seed(seed)
    if keras_state:
        keras_state.set_global_attribute(_KERAS_GENERATOR, None)  # re-created from `random`
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        keras_state = _keras_global_state()  # Keras may have been imported inside the block
        if keras_state:
            keras_state.set_global_attribute(_KERAS_GENERATOR, saved_generator)
