"""CFGAN on planted communities, its monitoring and validation."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab.evaluate import Validation
from recsys_lab.splits import topn_split

gan = pytest.importorskip("recsys_lab.models.gan")

N_USERS, N_ITEMS = 80, 40


def communities(seed=0, per_user=8):
    """User u likes items of community u % 2 (the first or the second half of the items).

    Returns the training frame and, per user, one held-out item of their community.
    """
    rng = np.random.default_rng(seed)
    rows, held_out = [], []
    for user in range(N_USERS):
        half = user % 2
        items = rng.choice(N_ITEMS // 2, size=per_user + 1, replace=False) + half * N_ITEMS // 2
        rows += [(user, int(item)) for item in items[1:]]
        held_out.append(int(items[0]))
    return pd.DataFrame(rows, columns=["user", "item"]), np.array(held_out)


# 80 users in batches of 16 give only 5 updates per epoch: at the book's ML-100K learning
# rates (a discriminator at 1e-4) the discriminator barely learns in 150 updates, and the
# adversarial generator then gets no signal beyond the ZR penalty. Small problem, fast players.
SMALL = dict(hidden_g=16, hidden_d=8, epochs=30, batch_size=16, learning_rate_g=3e-3,
             learning_rate_d=3e-3, seed=0)


@pytest.fixture(scope="module")
def planted():
    train, held_out = communities()
    fitted = {adversarial: gan.CFGAN(adversarial=adversarial, **SMALL).fit(train, N_USERS, N_ITEMS)
              for adversarial in (True, False)}
    return train, held_out, fitted


def unseen_scores(model, train):
    scores = model.score_items(np.arange(N_USERS))
    scores[train["user"], train["item"]] = -np.inf
    return scores


@pytest.mark.parametrize("adversarial", [True, False])
def test_recommends_within_the_planted_community(planted, adversarial):
    train, held_out, fitted = planted
    scores = unseen_scores(fitted[adversarial], train)
    top5 = np.argsort(-scores, axis=1)[:, :5]
    in_community = (top5 // (N_ITEMS // 2)) == (np.arange(N_USERS) % 2)[:, None]
    assert in_community.mean() >= 0.9
    # The held-out item beats a random item of the other community for most users.
    other = (held_out + N_ITEMS // 2) % N_ITEMS
    rows = np.arange(N_USERS)
    assert (scores[rows, held_out] > scores[rows, other]).mean() >= 0.9


def test_curves_monitor_both_players(planted):
    _, _, fitted = planted
    log = fitted[True].curves_
    assert list(log.columns) == ["loss", "d_loss", "d_real", "d_fake", "top10_overlap"]
    assert len(log) == SMALL["epochs"] and np.isfinite(log.to_numpy()).all()
    assert log[["d_real", "d_fake", "top10_overlap"]].stack().between(0, 1).all()
    # Trained alone there is no discriminator to monitor.
    assert (fitted[False].curves_["d_loss"] == 0).all()


def test_validation_metrics_join_the_curves():
    train, _ = communities(seed=3)
    fit_part, valid = topn_split(train, seed=1)
    model = gan.CFGAN(**dict(SMALL, epochs=2))
    model.fit(fit_part, N_USERS, N_ITEMS, valid=Validation(fit_part, valid, "TOPN",
                                                           metrics=["NDCG@10"]))
    assert list(model.curves_.columns)[-1] == "NDCG@10" and len(model.curves_) == 2


def test_generated_profiles_stay_diverse(planted):
    """Two communities: a collapsed generator would give everyone the same top 5."""
    _, _, fitted = planted
    assert fitted[True].curves_["top10_overlap"].iloc[-1] < 0.9


def test_same_seed_same_scores():
    train, _ = communities(seed=1)
    settings = dict(SMALL, epochs=3)
    first = gan.CFGAN(**settings).fit(train, N_USERS, N_ITEMS).score_items([0, 1, 2])
    again = gan.CFGAN(**settings).fit(train, N_USERS, N_ITEMS).score_items([0, 1, 2])
    np.testing.assert_array_equal(first, again)


def test_negative_item_mask_only_picks_non_interacted_items():
    rng = np.random.default_rng(0)
    purchases = (rng.random((50, 300)) < 0.2).astype("float32")
    mask = np.asarray(gan.negative_item_mask(purchases, 0.3, seed=1))
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert not mask[purchases == 1].any()
    assert abs(mask[purchases == 0].mean() - 0.3) < 0.02
    everything = np.asarray(gan.negative_item_mask(purchases, 1.0, seed=1))
    np.testing.assert_array_equal(everything, 1 - purchases)


def test_top_k_overlap_detects_collapse():
    collapsed = np.tile(np.arange(20.0), (5, 1))           # everyone ranks the same way
    assert gan.top_k_overlap(collapsed, None, k=3) == pytest.approx(1.0)
    disjoint = np.zeros((2, 20))
    disjoint[0, :3] = 1
    disjoint[1, 3:6] = 1
    assert gan.top_k_overlap(disjoint, None, k=3) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="n_users >= 2"):
        gan.top_k_overlap(np.zeros(5), None)


def test_noise_input_and_generate():
    train, _ = communities(seed=2)
    model = gan.CFGAN(noise_dim=4, **dict(SMALL, epochs=2)).fit(train, N_USERS, N_ITEMS)
    plain = model.generate([0, 1])
    noisy = model.generate([0, 1], noise=np.ones((2, 4)))
    assert plain.shape == noisy.shape == (2, N_ITEMS)
    assert ((plain >= 0) & (plain <= 1)).all()
    np.testing.assert_allclose(model.score_items([0, 1]), plain, rtol=1e-6)
    assert model.discriminate(plain, [0, 1]).shape == (2,)


def test_bad_input_names_the_problem():
    train, _ = communities()
    with pytest.raises(ValueError, match="zr_ratio"):
        gan.CFGAN(zr_ratio=1.5).fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="condition_dropout"):
        gan.CFGAN(condition_dropout=1.0).fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="epochs"):
        gan.CFGAN(epochs=0).fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="missing column"):
        gan.CFGAN().fit(train.rename(columns={"item": "movie"}), N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="unknown id"):
        gan.CFGAN().fit(train, N_USERS, 10)
    alone = gan.CFGAN(adversarial=False, **dict(SMALL, epochs=1)).fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="without a discriminator"):
        alone.discriminate(np.zeros((1, N_ITEMS)), [0])


def test_generator_alone_keeps_no_discriminator_and_counts_only_the_generator():
    from recsys_lab.registry import count_parameters

    train, _ = communities()
    alone = gan.CFGAN(adversarial=False, **dict(SMALL, epochs=1)).fit(train, N_USERS, N_ITEMS)
    adversarial = gan.CFGAN(**dict(SMALL, epochs=1)).fit(train, N_USERS, N_ITEMS)
    assert alone.discriminator_ is None
    assert count_parameters(alone) == alone.network_.count_params()
    assert count_parameters(adversarial) == (adversarial.network_.count_params()
                                             + adversarial.discriminator_.count_params())
