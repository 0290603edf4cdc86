"""LinearBlend: least-squares weights on an inner held-out split, members refitted on all of
train (or reused when given fitted on it), clear errors, and its registry row."""

from types import SimpleNamespace

import numpy as np
import pytest

from recsys_lab import registry
from recsys_lab.baselines import EASE, Biases, GlobalMean
from recsys_lab.datasets import synthetic_ratings
from recsys_lab.models.blend import LinearBlend
from recsys_lab.models.mf import ALSMatrixFactorization, SGDMatrixFactorization
from recsys_lab.splits import rating_split

N_USERS, N_ITEMS = 60, 40


@pytest.fixture(scope="module")
def ratings():
    return synthetic_ratings(n_users=N_USERS, n_items=N_ITEMS, density=0.3, seed=3).ratings


def members():
    return {"biases": Biases(), "als": ALSMatrixFactorization(n_factors=3, epochs=3),
            "sgd": SGDMatrixFactorization(n_factors=3, epochs=3)}


def pairs(frame):
    return frame["user"].to_numpy(), frame["item"].to_numpy()


def test_weights_are_the_least_squares_fit_of_the_held_out_ratings(ratings):
    blend = LinearBlend(members(), validation_seed=4).fit(ratings, N_USERS, N_ITEMS)
    fit_part, held_out = rating_split(ratings, seed=4)
    design = np.column_stack([np.ones(len(held_out))] + [
        type(m)(**m.get_params()).fit(fit_part, N_USERS, N_ITEMS).predict(*pairs(held_out))
        for m in members().values()])
    truth = held_out["rating"].to_numpy(dtype=float)
    expected, *_ = np.linalg.lstsq(design, truth, rcond=None)
    assert list(blend.members_) == ["biases", "als", "sgd"]
    np.testing.assert_allclose(blend.weights_, expected, rtol=1e-10)
    rmse = np.sqrt(((design[:, 1:] - truth[:, None]) ** 2).mean(axis=0))
    np.testing.assert_allclose(blend.held_out_rmse_.iloc[:3], rmse, rtol=1e-10)
    # In-sample on the held-out ratings, least squares cannot do worse than any member.
    assert blend.held_out_rmse_["blend"] <= rmse.min()


def test_members_are_refitted_on_all_of_train_and_predictions_are_the_clipped_blend(ratings):
    given = members()
    blend = LinearBlend(given).fit(ratings, N_USERS, N_ITEMS)
    assert not hasattr(given["als"], "history_")  # the given members stay unfitted
    assert blend.prefit_members_ == ()
    users, items = pairs(ratings)
    columns = []
    for name, model in members().items():
        alone = model.fit(ratings, N_USERS, N_ITEMS).predict(users, items)
        np.testing.assert_array_equal(blend.members_[name].predict(users, items), alone)
        columns.append(alone)
    w = blend.weights_
    expected = np.clip(w[0] + np.column_stack(columns) @ w[1:], ratings["rating"].min(),
                       ratings["rating"].max())
    np.testing.assert_allclose(blend.predict(users, items), expected, rtol=1e-12)
    assert blend.score_items([0, 5]).shape == (2, N_ITEMS)


def test_members_fitted_on_the_same_train_are_reused_as_they_are(ratings):
    fitted = {name: m.fit(ratings, N_USERS, N_ITEMS) for name, m in members().items()}
    other = rating_split(ratings, seed=0).train
    fitted["sgd"] = members()["sgd"].fit(other, N_USERS, N_ITEMS)  # other data: refitted
    reused = LinearBlend(fitted).fit(ratings, N_USERS, N_ITEMS)
    fresh = LinearBlend(members()).fit(ratings, N_USERS, N_ITEMS)
    assert reused.prefit_members_ == ("biases", "als")
    assert reused.members_["als"] is fitted["als"] and reused.members_["sgd"] is not fitted["sgd"]
    users, items = pairs(ratings)
    np.testing.assert_array_equal(reused.predict(users, items), fresh.predict(users, items))


def test_same_settings_same_blend_and_the_seed_picks_the_held_out_part(ratings):
    users, items = pairs(ratings)
    first = LinearBlend(members()).fit(ratings, N_USERS, N_ITEMS).predict(users, items)
    again = LinearBlend(members()).fit(ratings, N_USERS, N_ITEMS).predict(users, items)
    other = LinearBlend(members(), validation_seed=2).fit(ratings, N_USERS, N_ITEMS)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other.predict(users, items))


@pytest.mark.parametrize(("bad", "message"), [
    ({}, "members must be a non-empty mapping"),
    ([Biases()], "members must be a non-empty mapping"),
    (None, "members must be a non-empty mapping"),
    ({1: Biases()}, "member names must be strings"),
    ({"ease": EASE()}, "member 'ease' is a EASE that does not learn ratings"),
    ({"mean": "GlobalMean"}, "member 'mean' is a str that does not learn ratings"),
])
def test_bad_members_fail_at_fit_with_a_message_naming_them(ratings, bad, message):
    with pytest.raises(ValueError, match=message):
        LinearBlend(bad).fit(ratings, N_USERS, N_ITEMS)


def test_ratings_are_required(ratings):
    with pytest.raises(ValueError, match="rating"):
        LinearBlend({"mean": GlobalMean()}).fit(ratings.drop(columns="rating"), N_USERS,
                                                 N_ITEMS)


def test_the_registry_row_blends_earlier_rating_rows_and_reuses_them(monkeypatch, ratings):
    blend = registry.get("Blend", "RATING")
    rows = [e.name for e in registry.entries("RATING")]
    assert blend.members and all(rows.index(m) < rows.index("Blend") for m in blend.members)
    assert blend.call() == "LinearBlend(members=<I-AutoRec, U-AutoRec, FM>)"
    # run_all with cheap stand-ins: the blend reuses the rows' fits and pays for them.
    fake = (registry.Entry("Biases", "RATING", 1, "recsys_lab.baselines:Biases"),
            registry.Entry("MF", "RATING", 2, "recsys_lab.models.mf:ALSMatrixFactorization",
                           {"n_factors": 3, "epochs": 3}),
            registry.Entry("Blend", "RATING", 11, "recsys_lab.models.blend:LinearBlend",
                           members=("Biases", "MF")))
    monkeypatch.setattr(registry, "ENTRIES", fake)
    data = SimpleNamespace(ratings=ratings, n_users=N_USERS, n_items=N_ITEMS)
    splits = {"RATING": rating_split(ratings)}
    fitted = {}
    table = registry.run_all(["RATING"], data, splits, models=fitted).set_index("model")
    model = fitted["RATING", "Blend"]
    assert model.prefit_members_ == ("Biases", "MF")
    assert model.members_["MF"] is fitted["RATING", "MF"]
    assert table.loc["Blend", "fit_seconds"] > table.loc[["Biases", "MF"], "fit_seconds"].sum()
    assert table.loc["Blend", "parameters"] == (  # the members' and the blend's 3 weights
        table.loc["Biases", "parameters"] + table.loc["MF", "parameters"] + 3)
    alone = registry.run(fake[2], data, splits)  # without fitted rows: fits its own
    assert alone["RMSE"] == pytest.approx(table.loc["Blend", "RMSE"], abs=1e-12)
