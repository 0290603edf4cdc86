"""Chapter 5: NumPy convolutions against Keras, and content models on planted data."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from recsys_lab.baselines import MostPopular
from recsys_lab.datasets import synthetic_content
from recsys_lab.evaluate import Validation, evaluate
from recsys_lab.models.mf import ImplicitALS
from recsys_lab.scratch.conv import conv1d, max_over_time
from recsys_lab.splits import cold_item_split

keras = pytest.importorskip("keras")
content = pytest.importorskip("recsys_lab.models.content")


# --------------------------------------------------------------------------------------------
# Convolution from scratch
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width,stride,padding", [(1, 1, "valid"), (3, 1, "valid"),
                                                  (3, 2, "valid"), (2, 1, "same"),
                                                  (3, 1, "same"), (4, 3, "same")])
def test_conv1d_matches_keras(width, stride, padding):
    rng = np.random.default_rng(width * 10 + stride)
    x = rng.standard_normal((2, 9, 3)).astype("float32")
    layer = keras.layers.Conv1D(4, width, strides=stride, padding=padding)
    expected = np.asarray(layer(x))
    kernel, bias = layer.get_weights()
    got = conv1d(x, kernel, bias, stride=stride, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_max_over_time_ignores_padding():
    maps = np.array([[[1.0, -2.0], [5.0, -1.0], [9.0, 7.0]]])
    np.testing.assert_array_equal(max_over_time(maps), [[9.0, 7.0]])
    np.testing.assert_array_equal(max_over_time(maps, mask=[[1, 1, 0]]), [[5.0, -1.0]])
    pooled = np.asarray(keras.layers.GlobalMaxPooling1D()(maps.astype("float32")))
    np.testing.assert_allclose(max_over_time(maps), pooled)


def test_conv1d_rejects_bad_shapes():
    with pytest.raises(ValueError, match="kernel"):
        conv1d(np.zeros((1, 5, 3)), np.zeros((2, 4, 1)))
    with pytest.raises(ValueError, match="shorter than the kernel"):
        conv1d(np.zeros((1, 2, 1)), np.zeros((3, 1, 1)))
    with pytest.raises(ValueError, match="padding"):
        conv1d(np.zeros((1, 5, 1)), np.zeros((3, 1, 1)), padding="full")


def test_encoders_output_shape_and_bag_ignores_order():
    tokens = np.array([[3, 1, 4, 0, 0], [4, 3, 1, 0, 0]], dtype="int32")
    bag = content.build_content_encoder(5, 6, 3, encoder="bag", dropout=0.0)
    out = np.asarray(bag(tokens))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)  # same tokens, other order
    cnn = content.build_content_encoder(5, 6, 3, kernel_sizes=(1, 2), n_filters=4)
    assert np.asarray(cnn(tokens)).shape == (2, 3)
    assert {"token_embedding", "conv_width_1", "conv_width_2", "item_vector"} <= {
        layer.name for layer in cnn.layers}
    with pytest.raises(ValueError, match="encoder"):
        content.build_content_encoder(5, 6, 3, encoder="rnn")


# --------------------------------------------------------------------------------------------
# Planted data: content determines the item factors, the factors determine interactions
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted():
    """Each user interacts with the 15% of items of highest true preference; items' true
    factors are their topic mixtures, which their tokens reveal. 20% of items are cold."""
    data = synthetic_content(n_items=200, n_users=300, n_tokens=200, length=20, rank=4, seed=0)
    threshold = np.quantile(data.true_ratings, 0.85, axis=1, keepdims=True)
    users, items = np.nonzero(data.true_ratings >= threshold)
    frame = pd.DataFrame({"user": users, "item": items})
    split = cold_item_split(frame, seed=0, n_items=data.n_items)
    return data, split


def _cold_row(model, data, split):
    return evaluate(model, split.train, split.test, "COLD", candidates=split.cold_items,
                    n_users=data.n_users, n_items=data.n_items)


SMALL = {"embedding_dim": 16, "n_filters": 16, "kernel_sizes": (1, 2)}


@pytest.fixture(scope="module")
def fitted_cnn(planted):
    data, split = planted
    model = content.ContentToFactors(data.tokens, epochs=30, batch_size=32, **SMALL)
    return model, _cold_row(model, data, split)


def test_content_to_factors_ranks_cold_items(planted, fitted_cnn):
    data, split = planted
    model, row = fitted_cnn
    chance = _cold_row(MostPopular(), data, split)  # every cold item ties: random order
    assert row["Recall@20"] > chance["Recall@20"] + 0.25
    assert row["NDCG@10"] > 2 * chance["NDCG@10"]
    # The predicted factors of cold items follow the planted topics: items whose true topic
    # mixtures are alike get alike predicted vectors.
    cold = split.cold_items
    predicted = np.c_[model.item_factors_, model.item_bias_][cold]
    true_similarity = np.corrcoef(data.item_factors[cold])[np.triu_indices(len(cold), 1)]
    got_similarity = np.corrcoef(predicted)[np.triu_indices(len(cold), 1)]
    assert np.corrcoef(true_similarity, got_similarity)[0, 1] > 0.5


def test_content_tower_ranks_cold_items(planted):
    data, split = planted
    model = content.ContentTower(data.tokens, epochs=30, batch_size=32, **SMALL)
    row = _cold_row(model, data, split)
    chance = _cold_row(MostPopular(), data, split)
    assert row["Recall@20"] > chance["Recall@20"] + 0.2
    assert model.user_factors_.shape == (data.n_users, model.n_factors)


def test_hybrid_keeps_mf_factors_and_shares_a_fitted_factor_model(planted, fitted_cnn):
    data, split = planted
    cnn, _ = fitted_cnn
    factor_model = cnn.factor_model_
    hybrid = content.ContentToFactors(data.tokens, factor_model=factor_model, hybrid=True,
                                      epochs=1, **SMALL)
    hybrid.fit(split.train, data.n_users, data.n_items)
    assert hybrid.factor_model_ is factor_model  # reused, not refitted
    warm = hybrid.warm_items_
    np.testing.assert_array_equal(hybrid.item_factors_[warm], factor_model.item_factors_[warm])
    np.testing.assert_array_equal(hybrid.item_factors_[split.cold_items],
                                  hybrid.predicted_factors_[split.cold_items])
    other = split.train[split.train["user"] > 0]
    with pytest.raises(ValueError, match="other training data"):
        content.ContentToFactors(data.tokens, factor_model=factor_model).fit(
            other, data.n_users, data.n_items)


def test_tokens_of_cold_items_only_are_ignored(planted):
    data, split = planted
    tokens = data.tokens.copy()
    tokens[split.cold_items[0], 0] = tokens.max() + 1  # a token no warm item has
    model = content.ContentToFactors(tokens, epochs=1, **SMALL).fit(split.train, data.n_users,
                                                                    data.n_items)
    assert model.vocab_size_ == tokens.max() + 1
    assert model.tokens_[split.cold_items[0], 0] == 0  # the encoder reads padding there
    assert model.tokens_.shape == tokens.shape
    content_object = SimpleNamespace(tokens=tokens)  # like features.ItemContent
    same = content.ContentToFactors(content_object, epochs=1, **SMALL).fit(
        split.train, data.n_users, data.n_items)
    np.testing.assert_array_equal(same.tokens_, model.tokens_)


def test_same_seed_same_scores(planted):
    data, split = planted
    scores = [content.ContentTower(data.tokens, epochs=2, **SMALL)
              .fit(split.train, data.n_users, data.n_items).score_items([0, 1])
              for _ in range(2)]
    np.testing.assert_array_equal(scores[0], scores[1])


def test_content_to_factors_records_cold_validation_each_epoch(planted):
    data, split = planted
    fit_part = cold_item_split(split.train, seed=1)
    valid = Validation(fit_part.train, fit_part.test, "COLD", candidates=fit_part.cold_items)
    model = content.ContentToFactors(data.tokens, epochs=2, **SMALL)
    model.fit(fit_part.train, data.n_users, data.n_items, valid=valid)
    assert list(model.curves_.columns) == ["loss", "Recall@20", "NDCG@10"]
    assert model.network_.name == "content_encoder"


def test_bag_settings_fit_the_bag_of_tokens(planted):
    # Chapter 5 and the registry fit the ablation as ContentToFactors(tokens, **BAG_SETTINGS).
    data, split = planted
    assert content.BAG_SETTINGS["encoder"] == "bag"
    assert set(content.BAG_SETTINGS) <= set(content.ContentToFactors(data.tokens).get_params())
    settings = {**content.BAG_SETTINGS, "epochs": 1}
    model = content.ContentToFactors(data.tokens, **settings, **SMALL).fit(
        split.train, data.n_users, data.n_items)
    assert not any(layer.name.startswith("conv_width") for layer in model.network_.layers)
    assert model.learning_rate == content.BAG_SETTINGS["learning_rate"]


def test_implicit_als_learns_popularity(planted):
    data, split = planted
    model = ImplicitALS(n_factors=8).fit(split.train, data.n_users, data.n_items)
    counts = np.bincount(split.train["item"], minlength=data.n_items)
    warm = counts > 0
    assert np.corrcoef(model.item_bias_[warm], counts[warm])[0, 1] > 0.5


def test_bad_input_raises(planted):
    data, split = planted
    sizes = (data.n_users, data.n_items)
    with pytest.raises(ValueError, match="item_tokens has 10 rows"):
        content.ContentToFactors(data.tokens[:10]).fit(split.train, *sizes)
    with pytest.raises(ValueError, match="integer array"):
        content.ContentTower(data.tokens.astype(float)).fit(split.train, *sizes)
    with pytest.raises(ValueError, match="encoder"):
        content.ContentToFactors(data.tokens, encoder="lstm").fit(split.train, *sizes)
    with pytest.raises(ValueError, match="dropout"):
        content.ContentTower(data.tokens, dropout=1.5).fit(split.train, *sizes)
    with pytest.raises(ValueError, match="n_negatives"):
        ImplicitALS(n_negatives=0).fit(split.train, *sizes)
    with pytest.raises(ValueError, match="item"):
        content.ContentTower(data.tokens).fit(split.train.assign(item=-1), *sizes)


def test_the_registry_fits_the_bag_with_bag_settings():
    # The registry stays free of TensorFlow, so it repeats the settings instead of importing them.
    from recsys_lab.registry import get

    assert get("ContentBag", "COLD").params == content.BAG_SETTINGS
