"""One interface for every model: names, hyper-parameter checks, score_items, randomness.

Every model class of the book is fitted here on a tiny synthetic problem with the fastest
settings, and held to the same promises (see ``recsys_lab.base``).
"""

import importlib
import inspect
import os
import pickle
import random
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from recsys_lab import registry
from recsys_lab.base import Recommender
from recsys_lab.baselines import Biases
from recsys_lab.datasets import synthetic_ratings
from recsys_lab.models.mf import SGDMatrixFactorization

pytest.importorskip("keras")

N_USERS, N_ITEMS = 30, 20
MODULES = ["recsys_lab.baselines", "recsys_lab.models.mf", "recsys_lab.models.ncf",
           "recsys_lab.models.autoencoders", "recsys_lab.models.content",
           "recsys_lab.models.sequential", "recsys_lab.models.attention",
           "recsys_lab.models.gan", "recsys_lab.models.graph", "recsys_lab.models.features",
           "recsys_lab.models.blend"]

#: Data arguments, by constructor argument name.
DATA = {"item_genres": np.eye(3)[np.arange(N_ITEMS) % 3],
        "item_tokens": (np.arange(N_ITEMS * 6).reshape(N_ITEMS, 6) % 11) + 1,
        "user_groups": np.arange(N_USERS) % 3,
        "item_years": 1990.0 + np.arange(N_ITEMS) % 4,
        "item_content": np.eye(5)[np.arange(N_ITEMS) % 5],
        "members": {"biases": Biases(), "mf": SGDMatrixFactorization(n_factors=2, epochs=1)}}
#: The fastest settings, where a class takes them.
FAST = {"epochs": 1, "embedding_dim": 4, "hidden": 4, "latent": 2, "hidden_units": 4,
        "n_factors": 2, "max_len": 5, "n_filters": 2, "hidden_g": 4, "hidden_d": 4,
        "n_components": 4}
SHAPED = {"hidden_units": {"MLPRecommender": (4,), "NeuMF": (4,), "TwoTower": (),
                           "WideAndDeep": (4,), "DeepFM": (4,), "DCNv2": (4,),
                           "MultiTask": (4,)}}


def model_classes():
    classes = []
    for name in MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, Recommender)
                    and value.__module__ == name and not value.__name__.startswith("_")):
                classes.append(value)
    return classes


CLASSES = model_classes()


def build(cls, **overrides):
    names = inspect.signature(cls).parameters
    arguments = {name: DATA[name] for name in names if name in DATA}
    for name, value in FAST.items():
        if name in names:
            arguments[name] = SHAPED.get(name, {}).get(cls.__name__, value)
    return cls(**(arguments | overrides))


@pytest.fixture(scope="module")
def ratings():
    frame = synthetic_ratings(n_users=N_USERS, n_items=N_ITEMS, density=0.4, seed=0).ratings
    return frame.assign(rating=frame["rating"].round())


@pytest.fixture(scope="module")
def fitted(ratings):
    return {cls.__name__: build(cls).fit(ratings, N_USERS, N_ITEMS) for cls in CLASSES}


def test_every_registered_model_is_covered():
    names = {entry.model_class.__name__ for entry in registry.entries()}
    assert names <= {cls.__name__ for cls in CLASSES}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_hyperparameters_are_declared_for_every_argument_and_named_alike(cls):
    arguments = set(inspect.signature(cls).parameters)
    assert set(cls.hyperparameters) == arguments
    # One name per concept: these older names must not come back.
    assert not arguments & {"n_epochs", "max_epochs", "n_iter", "reg", "reg_bias", "lr",
                            "embedding_l2", "on_epoch_end"}
    model = build(cls)
    assert model.get_params().keys() == arguments  # __init__ stores, does nothing else
    assert not [name for name in vars(model) if name.endswith("_")]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_bad_hyperparameters_fail_at_fit_naming_the_parameter(cls, ratings):
    for name, rule in cls.hyperparameters.items():
        if rule.kind in ("data", "choice"):
            continue
        bad = {"flag": "yes", "integers": [1.5]}.get(rule.kind, float("nan"))
        with pytest.raises(ValueError, match=rf"{cls.__name__}: {name} must be"):
            build(cls, **{name: bad}).fit(ratings, N_USERS, N_ITEMS)
    if "epochs" in cls.hyperparameters:
        for bad in (0, 0.5, -1, True, "3"):
            with pytest.raises(ValueError, match="epochs must be an integer ≥ 1"):
                build(cls, epochs=bad).fit(ratings, N_USERS, N_ITEMS)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_score_items_takes_any_one_d_id_array_and_returns_a_fresh_array(cls, fitted):
    model = fitted[cls.__name__]
    empty = model.score_items([])
    assert empty.shape == (0, N_ITEMS) and empty.dtype == float
    assert model.score_items(np.array([], dtype=np.int64)).shape == (0, N_ITEMS)
    scores = model.score_items(pd.Series([3, 1]))
    assert scores.shape == (2, N_ITEMS) and scores.flags.writeable
    np.testing.assert_array_equal(model.score_items([3.0, 1.0]), scores)  # whole floats ok
    scores[:] = -1.0
    assert not np.array_equal(model.score_items([3, 1]), scores)  # nothing shared
    with pytest.raises(ValueError, match="1-D array"):
        model.score_items(3)
    with pytest.raises(ValueError, match="1-D array"):
        model.score_items([[3, 1]])
    with pytest.raises(ValueError, match="unknown user id -1"):
        model.score_items([-1])
    with pytest.raises(ValueError, match="integers"):
        model.score_items([1.5])


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_fit_checks_sizes_and_accepts_whole_number_float_ids(cls, ratings):
    for bad in (True, 0, 2.0, None):
        with pytest.raises(ValueError, match="n_users must be a positive integer"):
            build(cls).fit(ratings, bad, N_ITEMS)
    floats = ratings.astype({"user": float, "item": float})
    model = build(cls).fit(floats, N_USERS, N_ITEMS)
    assert model.score_items([0]).shape == (1, N_ITEMS)
    with pytest.raises(ValueError, match="integer ids"):
        build(cls).fit(ratings.assign(item=ratings["item"] + 0.5), N_USERS, N_ITEMS)


@pytest.mark.parametrize("cls", [c for c in CLASSES if c.trains_in_epochs],
                         ids=lambda c: c.__name__)
def test_models_that_train_in_epochs_record_curves_and_call_valid(cls, ratings):
    calls = []

    def valid(model):
        calls.append(model.score_items([0]).shape)
        return {"seen": len(calls)}

    model = build(cls, epochs=2).fit(ratings, N_USERS, N_ITEMS, valid=valid)
    curves = model.curves_
    assert isinstance(curves, pd.DataFrame) and curves.index.name == "epoch"
    assert list(curves.index) == [1, 2] and curves.columns[0] == "loss"
    assert list(curves["seen"]) == [1, 2] and calls == [(1, N_ITEMS)] * 2
    with pytest.raises(ValueError, match="valid must be a function"):
        build(cls).fit(ratings, N_USERS, N_ITEMS, valid=ratings)


def test_a_failed_fit_leaves_an_unfitted_model(ratings):
    from recsys_lab.models.sequential import GRU4Rec

    model = build(GRU4Rec).fit(ratings, N_USERS, N_ITEMS)
    one_each = ratings.drop_duplicates("user")  # nobody has a next item: nothing to learn
    with pytest.raises(ValueError, match="nothing to learn"):
        model.fit(one_each, N_USERS, N_ITEMS)
    assert set(vars(model)) == set(model.hyperparameters)
    with pytest.raises(ValueError, match="not fitted"):
        model.score_items([0])


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_clone_gives_an_unfitted_model_with_the_same_hyperparameters(cls, fitted):
    from recsys_lab.base import clone

    model = fitted[cls.__name__]
    copy = clone(model)
    assert type(copy) is cls and copy is not model
    assert set(vars(copy)) == set(model.hyperparameters)  # nothing learned comes along
    assert all(getattr(copy, name) is getattr(model, name) for name in model.hyperparameters)
    with pytest.raises(ValueError, match="not fitted"):
        copy.score_items([0])


def test_models_without_epochs_refuse_valid(ratings):
    from recsys_lab.baselines import EASE

    with pytest.raises(ValueError, match="does not train in epochs"):
        EASE().fit(ratings, N_USERS, N_ITEMS, valid=lambda model: {})


KERAS_CLASSES = [c for c in CLASSES if hasattr(c, "build_network")]


@pytest.mark.parametrize("cls", KERAS_CLASSES, ids=lambda c: c.__name__)
def test_keras_models_keep_their_network_in_network_(cls, fitted):
    model = fitted[cls.__name__]
    assert model.network_.count_params() > 0
    assert not [name for name in vars(model) if name in (
        "model_", "generator_", "encoder_", "user_tower_", "loss_history_", "training_log_",
        "kl_history_")]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_fitted_model_pickles_and_scores_the_same_afterwards(cls, fitted):
    # The model store (recsys_lab.model_store) hands fitted models from page to page so.
    model = fitted[cls.__name__]
    np.random.seed(7)
    random.seed(7)
    before = _global_state()
    copy = pickle.loads(pickle.dumps(model))
    after = _global_state()
    assert after[0] == before[0]  # rebuilding a network draws nothing from the caller's
    assert all(np.array_equal(a, b) for a, b in zip(after[1], before[1], strict=True))
    users = np.arange(N_USERS)
    np.testing.assert_array_equal(copy.score_items(users), model.score_items(users))
    if hasattr(model, "_predict"):
        np.testing.assert_array_equal(copy.predict(users, users % N_ITEMS),
                                      model.predict(users, users % N_ITEMS))
    if hasattr(model, "network_"):
        assert copy.network_ is not model.network_
        for mine, theirs in zip(copy.network_.get_weights(), model.network_.get_weights(),
                                strict=True):
            np.testing.assert_array_equal(mine, theirs)


def _global_state():
    return random.getstate(), np.random.get_state(), dict(os.environ)


@pytest.fixture(scope="module")
def refit(ratings):
    """refit(cls) -> (model, state before, state after): a second fit of each class, made
    once with the caller's generators seeded differently from the first fit's, and the
    global state around it (two tests read it: each fit of a Keras model costs seconds)."""
    cache = {}

    def get(cls):
        if cls not in cache:
            np.random.seed(123)
            random.seed(123)
            before = _global_state()
            model = build(cls).fit(ratings, N_USERS, N_ITEMS)
            cache[cls] = model, before, _global_state()
        return cache[cls]

    return get


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_fit_leaves_the_callers_random_state_and_environment_alone(cls, refit):
    _, before, after = refit(cls)
    assert after[0] == before[0]
    assert all(np.array_equal(a, b) for a, b in zip(after[1], before[1], strict=True))
    assert after[2] == before[2]


def test_a_bootstrap_between_two_fits_draws_new_numbers(ratings):
    from recsys_lab.models.ncf import DotProductMF

    np.random.seed(5)
    expected = np.random.random(2)
    np.random.seed(5)
    first = np.random.random()
    build(DotProductMF).fit(ratings, N_USERS, N_ITEMS)
    second = np.random.random()
    np.testing.assert_array_equal([first, second], expected)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_same_seed_same_scores_whatever_ran_before(cls, fitted, refit):
    again, _, _ = refit(cls)  # fitted after other fits, the global generators seeded anew
    np.testing.assert_array_equal(again.score_items(np.arange(N_USERS)),
                                  fitted[cls.__name__].score_items(np.arange(N_USERS)))


_FRESH_PROCESS = """
import hashlib, sys
import numpy as np
from recsys_lab.datasets import synthetic_ratings
from recsys_lab.models.attention import SASRec
from recsys_lab.models.autoencoders import MultVAE
from recsys_lab.models.mf import SGDMatrixFactorization
from recsys_lab.models.ncf import NeuMF

frame = synthetic_ratings(n_users=30, n_items=20, density=0.4, seed=0).ratings
digest = hashlib.sha256()
for model in (SGDMatrixFactorization(epochs=2), NeuMF(epochs=2, hidden_units=(8,)),
              MultVAE(epochs=2), SASRec(epochs=2, max_len=5)):
    digest.update(model.fit(frame, 30, 20).score_items(np.arange(30)).tobytes())
print(digest.hexdigest())
"""


def test_same_seed_same_scores_bit_for_bit_in_two_fresh_processes():
    runs = [subprocess.run([sys.executable, "-c", _FRESH_PROCESS], capture_output=True,
                           text=True, check=True, timeout=300).stdout for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0].strip()) == 64


_KERAS_IMPORTED_OR_NOT = """
import hashlib, sys
import numpy as np
from recsys_lab.datasets import synthetic_ratings
if sys.argv[1] == "before":
    import recsys_lab.models._keras
from recsys_lab.models.mf import KerasMatrixFactorization

frame = synthetic_ratings(n_users=30, n_items=20, density=0.4, seed=0).ratings
model = KerasMatrixFactorization(epochs=2).fit(frame, 30, 20)
print(hashlib.sha256(model.score_items(np.arange(30)).tobytes()).hexdigest())
"""


def test_same_scores_whether_keras_was_imported_before_the_fit_or_inside_it():
    runs = [subprocess.run([sys.executable, "-c", _KERAS_IMPORTED_OR_NOT, when],
                           capture_output=True, text=True, check=True, timeout=300).stdout
            for when in ("before", "inside")]
    assert runs[0] == runs[1] and len(runs[0].strip()) == 64
