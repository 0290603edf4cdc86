"""Training and scoring speed of every Keras model in the registry, on ML-100K.

For each registry row whose class builds a Keras network (not the NumPy models), with the
row's settings and its protocol's standard training split:

* **seconds per epoch**: the model is fitted with ``epochs=1`` and with ``epochs=6``, and
  ``(t₆ − t₁) / (e₆ − e₁)`` is the time of one epoch without set-up, tracing and compiling
  (``e`` is ``len(model.curves_)``, the epochs a fit ran: fewer than 6 if it stopped early).
  An untimed ``epochs=1`` fit goes first: TensorFlow caches what a first fit compiles, so
  without it the later fit has less set-up and ``t₆ − t₁`` can even come out negative;
* **scoring seconds**: one ``score_items`` call for every user, after the 6-epoch fit. Some
  models compute every score at the end of ``fit`` (``scores_precomputed``): their pass
  only copies a stored matrix;
* **GFLOP per epoch**: the floating-point work of one epoch, estimated from the fitted
  model's shapes and training procedure by one function per model family (below);
* **GFLOP/s** achieved, and that as a fraction of the machine's peak, measured in the same
  run with a large float32 matrix product in TensorFlow (``2n³ / t``, best of 3).

How the work is counted: a multiply-add is 2 FLOPs. Only matrix products (dense layers,
dot products, attention), convolutions and LightGCN's graph propagation are counted.
Training a product costs 3 × its forward pass (the backward pass computes the gradient with
respect to the input and to the weights, each a product of the same size), except a first
layer that reads data, which needs no input gradient (2 ×), and a product with a constant
(the graph's Â), which needs no weight gradient (2 ×). Left out: element-wise work
(activations, losses, dropout, normalisation, L2 penalties), gathers and scatters
(embedding look-ups), sampling, and the optimiser's updates. Padded positions of sequences
are counted, because the dense tensors compute them. What an epoch computes besides
training (a held-out RMSE, a logged KL term or top-10 overlap) is counted as forward passes.
The estimates are lower bounds, and an achieved GFLOP/s far below the peak means an epoch
is spent on that other work or on overhead (Python, small kernels), not on arithmetic.

Run: ``make bench`` or ``.venv/bin/python benchmarks/speed.py [--models NAME ...]
[--out PATH]``. Prints the table sorted by seconds per epoch and writes it as CSV
(default ``_build/bench/speed.csv``). It has no target: the exit status is 0.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_lab.datasets import load_movielens_100k
from recsys_lab.registry import DATA_ARGUMENTS, ENTRIES, Entry
from recsys_lab.splits import SEQ, standard_splits

OUT = Path(__file__).resolve().parents[1] / "_build" / "bench" / "speed.csv"
#: Epochs of the longer timed fit: the difference to a 1-epoch fit spans this many minus one
#: epochs, enough to rise above the timer's noise for models whose epoch takes milliseconds.
LONG_FIT = 6

# --------------------------------------------------------------------------------------------
# Counting rules
# --------------------------------------------------------------------------------------------


def dense(*widths: int) -> float:
    """Forward FLOPs of one example through dense layers of these widths: ``2 Σ wᵢ wᵢ₊₁``."""
    return 2.0 * sum(a * b for a, b in zip(widths, widths[1:], strict=False))


def trained(forward: float, data_layer: float = 0.0) -> float:
    """Training FLOPs from forward FLOPs: ``3 × forward − data_layer``.

    ``data_layer`` is the forward FLOPs of a first layer that reads data: its input needs
    no gradient, so it costs 2 × its forward pass, not 3 ×.
    """
    return 3.0 * forward - data_layer


# --------------------------------------------------------------------------------------------
# FLOPs of one epoch, one function per model family: f(fitted model, training frame)
# --------------------------------------------------------------------------------------------


def pair_scorers(model, train: pd.DataFrame) -> float:
    """DotProductMF, GMF, MLP, NeuMF, CML: one positive and K sampled negatives per pair.

    Every one of the ``1 + K`` pairs (masked accidental hits included) costs a forward ``f``::

        DotProductMF  p_u · q_i                        f = 2d
        CML           ‖p_u − q_i‖²                     f = 2d (a difference, then its square)
        GMF           Dense(d → 1) on p_u ⊙ q_i        f = 2d
        MLP           Dense 2d → h₁ → … → h_L → 1      f = dense(2d, h₁, …, h_L, 1)
        NeuMF         that tower without its output, then Dense(d + h_L → 1)

    The inputs are learned embeddings, so every product back-propagates to its input:
    ``epoch = n_train × (1 + K) × 3f``.
    """
    d, name = model.embedding_dim, type(model).__name__
    hidden = list(getattr(model, "hidden_units", ()))
    if name == "NeuMF":
        per_pair = dense(2 * d, *hidden) + dense(d + hidden[-1], 1)
    elif name == "MLPRecommender":
        per_pair = dense(2 * d, *hidden, 1)
    else:  # DotProductMF, GMF, CML
        per_pair = 2.0 * d
    return len(train) * (1 + model.n_negatives) * trained(per_pair)


def two_tower(model, train: pd.DataFrame) -> float:
    """TwoTower with an in-batch softmax over batches of ``b`` pairs.

    A tower with ``n_f`` side features: ``2 n_f d`` (the feature layer, which reads data)
    plus ``dense(d, h₁, …, d)`` when it has hidden layers. The logits ``U Vᵀ`` of a batch:
    ``2 b² d``, the last batch having ``n_train mod b`` rows.
    ``epoch = n_train × (trained(user tower) + trained(item tower)) + 3 Σ_batches 2 b² d``.
    """
    d, hidden, n = model.embedding_dim, list(model.hidden_units), len(train)

    def tower(features) -> float:
        n_f = 0 if features is None else np.shape(features)[1]
        forward = 2.0 * n_f * d + (dense(d, *hidden, d) if hidden else 0.0)
        return trained(forward, data_layer=2.0 * n_f * d)

    b = model.batch_size
    batch_squares = (n // b) * b**2 + (n % b) ** 2
    return (n * (tower(model.user_features) + tower(model.item_features))
            + trained(2.0 * batch_squares * d))


def autorec(model, train: pd.DataFrame) -> float:
    """AutoRec: I-AutoRec encodes the ``n_items`` item vectors of length ``m = n_users``
    (U-AutoRec: ``n_users`` vectors, ``m = n_items``) through ``m → h → m``.
    ``epoch = n × trained(dense(m, h, m), 2mh)`` (the encoder reads data)."""
    n, m = ((model.n_items_, model.n_users_) if model.item_based
            else (model.n_users_, model.n_items_))
    return n * trained(dense(m, model.hidden, m), data_layer=dense(m, model.hidden))


def cdae(model, train: pd.DataFrame) -> float:
    """CDAE: every user's row of ``m = n_items`` through ``m → h → m`` (adding the user's
    vector to the code is element-wise). ``epoch = n_users × trained(dense(m, h, m), 2mh)``."""
    m, h = model.n_items_, model.hidden
    return model.n_users_ * trained(dense(m, h, m), data_layer=dense(m, h))


def mult_dae(model, train: pd.DataFrame) -> float:
    """Mult-DAE: every user's row through ``m → h → z → h → m`` (``m = n_items``).
    ``epoch = n_users × trained(dense(m, h, z, h, m), 2mh)``."""
    m, h, z = model.n_items_, model.hidden, model.latent
    return model.n_users_ * trained(dense(m, h, z, h, m), data_layer=dense(m, h))


def mult_vae(model, train: pd.DataFrame) -> float:
    """Mult-VAE: every user's row through the encoder ``m [→ h] → 2z`` (μ and log σ², two
    Dense layers side by side) and the decoder ``z [→ h] → m``; the bracketed layers exist
    when ``hidden > 0``. After each epoch the encoder runs forward on every row once more
    (the ``kl`` column of ``curves_``).
    ``epoch = n_users × (trained(encoder + decoder, first layer) + encoder)``."""
    m, h, z = model.n_items_, model.hidden, model.latent
    encoder = dense(m, h, 2 * z) if h else dense(m, 2 * z)
    decoder = dense(z, h, m) if h else dense(z, m)
    first = dense(m, h if h else 2 * z)
    return model.n_users_ * (trained(encoder + decoder, data_layer=first) + encoder)


def content_encoder(model, n_outputs: int) -> float:
    """Forward FLOPs of the content encoder for one item, token sequences of length ``L``.

    ``cnn``: per width ``w``, a Conv1D of ``F`` filters over ``e``-dimensional embeddings at
    every position ("same" padding): ``Σ_w 2 L w e F``, then ``dense(F × #widths, n_outputs)``.
    ``bag``: ``dense(e, n_outputs)`` on the sum of the embeddings.
    """
    length, e, filters = model.tokens_.shape[1], model.embedding_dim, model.n_filters
    if model.encoder == "bag":
        return dense(e, n_outputs)
    widths = list(model.kernel_sizes)
    return (sum(2.0 * length * w * e * filters for w in widths)
            + dense(filters * len(widths), n_outputs))


def content_to_factors(model, train: pd.DataFrame) -> float:
    """ContentToFactors: regress ``[q_i, b_i]`` (``k + 1`` numbers, ``k`` the factor model's
    size) from each warm item's tokens. ``epoch = n_warm × 3 × encoder(k + 1)``; the factor
    model is fitted before the first epoch (set-up, not counted)."""
    k = model.predicted_factors_.shape[1]
    return len(model.warm_items_) * trained(content_encoder(model, k + 1))


def content_tower(model, train: pd.DataFrame) -> float:
    """ContentTower: each warm item's encoder output ``[q_i, b_i]`` scores every user through
    ``Dense(k → n_users)``. ``epoch = n_warm × 3 × (encoder(k + 1) + 2 k n_users)``."""
    k = model.n_factors
    forward = content_encoder(model, k + 1) + dense(k, model.n_users_)
    return len(model.warm_items_) * trained(forward)


def positions(model) -> int:
    """Positions per epoch of a next-item model: training windows × ``max_len`` (the windows
    ``fit`` trained on, rebuilt by the model's own ``_training_examples``)."""
    return model._training_examples().inputs.size


def gru4rec(model, train: pd.DataFrame) -> float:
    """GRU4Rec, per position: the GRU's three gates from the input ``e`` and the state ``h``,
    ``2 × 3h (e + h)``, and the softmax over all items, ``2 h n_items``.
    ``epoch = positions × 3 × (6h(e + h) + 2h n_items)``."""
    e, h = model.embedding_dim, model.hidden_units
    return positions(model) * trained(2.0 * 3 * h * (e + h) + dense(h, model.n_items_))


def sasrec(model, train: pd.DataFrame) -> float:
    """SASRec, per position: each block has the Q, K, V and output projections ``4 × 2d²``,
    the scores ``QKᵀ`` and the weighted values ``2 × 2Ld`` (all ``L`` keys, before the causal
    mask), and the feed-forward network ``2 × 2d²``; the tied output layer ``2 d n_items``.
    ``epoch = positions × 3 × (blocks × (12d² + 4Ld) + 2d n_items)``."""
    d, length = model.embedding_dim, model.max_len
    block = 2.0 * (4 * d * d + 2 * length * d + 2 * d * d)
    return positions(model) * trained(model.n_blocks * block + dense(d, model.n_items_))


def cfgan(model, train: pd.DataFrame) -> float:
    """CFGAN, per user (``m = n_items``): G ``= dense(m, h_G, m)`` forward (``m + noise`` in),
    D ``= dense(2m, h_D, 1)`` forward (vector and condition side by side).

    * D step (``d_steps`` per batch, if adversarial): G forward, then D trained on the real
      and the fake vector, inputs without gradient: ``G + 2 × trained(D, 4m h_D)``;
    * G step (``g_steps``): G trained (its condition is data), plus, if adversarial, D
      forward and the gradient back to the generated vector, ``D + dense(m, h_D, 1)``;
    * after each epoch, G forward on 200 watched users and their top-10 overlap product
      (``200 × m`` by ``m × 200``): ``200 G + 2 × 200² m``.
    """
    m, h_g, h_d, adversarial = model.n_items_, model.hidden_g, model.hidden_d, model.adversarial
    g = dense(m + model.noise_dim, h_g, m)
    d = dense(2 * m, h_d, 1)
    d_step = g + 2 * trained(d, data_layer=dense(2 * m, h_d))
    g_step = trained(g, data_layer=dense(m + model.noise_dim, h_g))
    g_step += (d + dense(m, h_d, 1)) if adversarial else 0.0
    per_user = (model.d_steps * d_step if adversarial else 0.0) + model.g_steps * g_step
    watched = min(200, model.n_users_)
    return model.n_users_ * per_user + watched * g + 2.0 * watched**2 * m


def lightgcn(model, train: pd.DataFrame) -> float:
    """LightGCN: every mini-batch propagates the whole graph.

    Per batch, forward: ``L`` rounds of ``Â E`` over ``nnz(Â)`` edges, ``2 L nnz(Â) d``; its
    backward is the same propagation transposed (Â is constant: no weight gradient), 2 ×
    in all. With ``transform``, a ``d × d`` product per node and layer, ``2 L N d²``, 3 ×.
    Per training pair, ``1 + K`` dot products ``2d``, 3 ×.
    ``epoch = n_batches × (2 × 2L nnz d + 3 × 2LNd²) + n_train × (1 + K) × 3 × 2d``.
    """
    network, d, layers = model.network_, model.embedding_dim, model.n_layers
    n_edges, n_nodes = int(network.edges.shape[0]), network.n_nodes
    batches = math.ceil(len(train) / model.batch_size)
    propagation = 2 * (2.0 * layers * n_edges * d)
    transforms = trained(2.0 * layers * n_nodes * d * d) if model.transform else 0.0
    scores = len(train) * (1 + model.n_negatives) * trained(2.0 * d)
    return batches * (propagation + transforms) + scores


def keras_mf(model, train: pd.DataFrame) -> float:
    """KerasMatrixFactorization: the dot product ``p_u · q_i``, ``2k`` per rating, trained on
    the ratings not held out (``n_fit``); after each epoch the held-out ratings are
    predicted (``n_held``, forward only). ``epoch = n_fit × 3 × 2k + n_held × 2k``."""
    n_held = int(round(model.validation_fraction * len(train)))
    per_rating = 2.0 * model.n_factors
    return (len(train) - n_held) * trained(per_rating) + n_held * per_rating


def field_models(model, train: pd.DataFrame) -> float:
    """FM, DeepFM, DCN-v2 on user and item fields (ids included as two more fields).

    A pair's ``n_f`` fields of total width ``W`` (a multi-hot field of ``w`` values counts
    ``w``) are summed into field embeddings ``Σ x_j e_j``, a product of the inputs ``x``
    with the looked-up rows: ``2 W k`` (it reads data). Then, per pair::

        FM      the FM identity: the sum of the field embeddings and its dot product,
                2 n_f k + 2k
        DeepFM  that, plus an MLP on the concatenation: dense(n_f k, h₁, …, 1)
        DCN-v2  per cross layer ``x_l W`` with ``W`` ``(n_f k × n_f k)``: 2 (n_f k)², then
                dense(n_f k, h₁, …, 1)

    ``task="implicit"`` scores ``1 + K`` pairs per training row (K drawn negatives).
    ``epoch = n_train × pairs per row × trained(forward, 2 W k)``.
    """
    k, name = model.embedding_dim, type(model).__name__
    fields = [*model.user_fields_, *model.item_fields_]
    n_fields, width = len(fields), sum(np.shape(f.values)[1] for f in fields)
    concatenated = n_fields * k
    lookups = 2.0 * width * k
    if name == "DCNv2":
        interactions = (model.n_cross_layers * 2.0 * concatenated**2
                        + dense(concatenated, *model.hidden_units, 1))
    else:
        interactions = 2.0 * n_fields * k + 2.0 * k
        if name == "DeepFM":
            interactions += dense(concatenated, *model.hidden_units, 1)
    pairs = 1 + model.n_negatives if model.task == "implicit" else 1
    return len(train) * pairs * trained(lookups + interactions, data_layer=lookups)


FLOPS = {"DotProductMF": pair_scorers, "GMF": pair_scorers, "MLPRecommender": pair_scorers,
         "NeuMF": pair_scorers, "TwoTower": two_tower, "AutoRec": autorec, "CDAE": cdae,
         "MultDAE": mult_dae, "MultVAE": mult_vae, "ContentToFactors": content_to_factors,
         "ContentTower": content_tower, "GRU4Rec": gru4rec, "SASRec": sasrec, "CFGAN": cfgan,
         "LightGCN": lightgcn, "KerasMatrixFactorization": keras_mf,
         "CollaborativeMetricLearning": pair_scorers, "FactorizationMachine": field_models,
         "DeepFM": field_models, "DCNv2": field_models}

# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


def peak_gflops(n: int = 2048, repeats: int = 3) -> float:
    """The machine's float32 peak in GFLOP/s: ``2n³ / t`` of an ``n × n`` matrix product in
    TensorFlow (through Keras), the fastest of ``repeats`` after one warm-up."""
    from recsys_lab.models._keras import keras  # TensorFlow, imported quietly

    ops = keras.ops
    a, b = keras.random.normal((n, n), seed=1), keras.random.normal((n, n), seed=2)
    ops.convert_to_numpy(ops.matmul(a, b))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        ops.convert_to_numpy(ops.matmul(a, b))
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best / 1e9


def keras_entries(names=None) -> list[Entry]:
    """Registry rows whose class lives in ``recsys_lab.models`` and builds a Keras network."""
    chosen = [e for e in ENTRIES if e.factory.startswith("recsys_lab.models.")
              and (names is None or e.name in names)]
    return [e for e in chosen if hasattr(e.model_class, "build_network")]


def timed_fit(entry: Entry, derived: dict, data, train, epochs: int):
    """``(model, seconds)``: the entry's model with ``epochs`` epochs, fitted on ``train``."""
    model = entry.model_class(**derived, **{**entry.params, "epochs": epochs})
    start = time.perf_counter()
    model.fit(train, data.n_users, data.n_items)
    return model, time.perf_counter() - start


def measure(entry: Entry, data, train) -> dict:
    """One row of the table: epoch and scoring times and the estimated work of an epoch."""
    derived = {arg: DATA_ARGUMENTS[key](data) for arg, key in entry.data_params.items()}
    timed_fit(entry, derived, data, train, 1)  # warm-up: TensorFlow's caches, not timed
    one, t1 = timed_fit(entry, derived, data, train, 1)
    longer, t_long = timed_fit(entry, derived, data, train, LONG_FIT)
    e1, e_long = len(one.curves_), len(longer.curves_)
    per_epoch = (t_long - t1) / (e_long - e1) if e_long > e1 else math.nan
    start = time.perf_counter()
    longer.score_items(np.arange(data.n_users))
    score_seconds = time.perf_counter() - start
    count = FLOPS.get(type(longer).__name__)
    gflop = count(longer, train) / 1e9 if count else math.nan
    return {"model": entry.name, "protocol": entry.protocol, "epochs_run": f"{e1}+{e_long}",
            "s_per_epoch": per_epoch, "score_s": score_seconds,
            "scores_precomputed": any(hasattr(longer, a) for a in ("scores_", "predictions_")),
            "GFLOP_per_epoch": gflop, "GFLOP_per_s": gflop / per_epoch}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", metavar="NAME",
                        help="registry row names (default: every Keras model)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"CSV path (default {OUT})")
    args = parser.parse_args(argv)
    known = [e.name for e in keras_entries()]
    unknown = sorted(set(args.models or ()) - set(known))
    if unknown:
        parser.error(f"no Keras model {unknown} in the registry; known: {known}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    data = load_movielens_100k()
    splits = standard_splits(data.ratings)
    peak = peak_gflops()
    print(f"peak: {peak:.1f} GFLOP/s (float32 2048³ matrix product, TensorFlow)", flush=True)
    rows = []
    for entry in keras_entries(args.models):
        split = splits[entry.protocol]
        rows.append(measure(entry, data, split.history if entry.protocol == SEQ else split.train))
        print(f"{entry.name:14s} {rows[-1]['s_per_epoch']:7.2f} s/epoch", flush=True)
    table = pd.DataFrame(rows).sort_values("s_per_epoch", ignore_index=True)
    table["of_peak"] = table["GFLOP_per_s"] / peak
    table["peak_GFLOP_per_s"] = peak
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    shown = table.drop(columns="peak_GFLOP_per_s").assign(
        of_peak=table["of_peak"].map("{:.2%}".format))
    print(shown.to_string(index=False, float_format="{:.3g}".format))
    print(f"epochs_run: epochs of the 1- and {LONG_FIT}-epoch fits (fewer: stopped early).\n"
          "scores_precomputed: fit stored every score; the scoring pass only copies them.\n"
          f"Table written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
