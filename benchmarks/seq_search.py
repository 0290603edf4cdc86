"""SASRec's second search on the SEQ validation folds (the test split is not read here).

Three folds of the standard SEQ split's history, each ranking one target per user after the
history that precedes it: ``seq.valid`` after ``seq.train``, then each user's last and
second-last training items (:func:`recsys_lab.splits.seq_validation_splits`). Every
setting is one fit per fold (model seed 0, or ``--seed=N``), paired user by user against
the registry's settings with the same seed (``paired_hit_test`` on HR@10,
``paired_bootstrap`` on NDCG@10, the three folds' 3 × 943 users pooled). The settings
(:data:`SETTINGS`) move one or two of the registry's choices at a time, now that it decays
the learning rate along a cosine: dropout, blocks, heads, window, width, learning rate,
batch size, epochs, overlapping training windows (``window_stride``); four changes the
class does not offer (:class:`SASRecVariant`: a learned bias per item on the logits,
decoupled weight decay, label smoothing, a fresh order of equal timestamps every epoch);
and, as a check on how much of the test split's spread over seeds an average would
recover, the mean of three seeds' softmaxes. The outcome is recorded in
:class:`~recsys_lab.models.attention.SASRec`'s docstring.

Run: ``.venv/bin/python benchmarks/seq_search.py [--seed=N] [name ...]`` (every setting:
about 35 minutes on two quiet cores; with names, only those besides the registry's).
No target: the exit status is 0.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from recsys_lab.datasets import load_movielens_100k
from recsys_lab.evaluate import per_user_metrics
from recsys_lab.models._keras import keras
from recsys_lab.models.attention import NextItemCrossEntropy, SASRec, SASRecNetwork
from recsys_lab.registry import get
from recsys_lab.sequences import next_item_examples, user_histories
from recsys_lab.splits import seq_validation_splits
from recsys_lab.stats import paired_bootstrap, paired_hit_test

#: Changes to the registry's SASRec, by name.
SETTINGS = {
    "dropout 0.35": {"dropout": 0.35},
    "dropout 0.5": {"dropout": 0.5},
    "two blocks": {"n_blocks": 2},
    "two blocks, dropout 0.5": {"n_blocks": 2, "dropout": 0.5},
    "max_len 20": {"max_len": 20},
    "width 64, dropout 0.5": {"embedding_dim": 64, "dropout": 0.5},
    "12 epochs": {"epochs": 12},
    "dropout 0.1": {"dropout": 0.1},
    "no dropout": {"dropout": 0.0},
    "max_len 5": {"max_len": 5},
    "two heads": {"n_heads": 2},
    "learning rate 0.005": {"learning_rate": 0.005},
    "learning rate 0.02": {"learning_rate": 0.02},
    "batches of 64": {"batch_size": 64},
    "batches of 256": {"batch_size": 256},
    "width 64": {"embedding_dim": 64},
    "width 16": {"embedding_dim": 16},
    "width 48": {"embedding_dim": 48},
    "width 64, batches of 64": {"embedding_dim": 64, "batch_size": 64},
    "width 64, two heads": {"embedding_dim": 64, "n_heads": 2},
    "windows every 5 steps": {"window_stride": 5},
    "windows every 3 steps": {"window_stride": 3},
    "windows every 2 steps": {"window_stride": 2},
    "windows every step": {"window_stride": 1},
    "windows every 2 steps, width 64": {"window_stride": 2, "embedding_dim": 64},
    "windows every 2 steps, 12 epochs": {"window_stride": 2, "epochs": 12},
    "a bias per item": {"item_bias": True},
    "weight decay 0.01": {"weight_decay": 0.01},
    "weight decay 0.1": {"weight_decay": 0.1},
    "label smoothing 0.1": {"label_smoothing": 0.1},
    "ties shuffled every epoch": {"shuffle_ties": True},
    # Not a setting of one fit: three fits (model seeds 0, 1, 2), their softmaxes averaged.
    "average of three seeds": {"average_over_seeds": (0, 1, 2)},
}


class BiasedSASRecNetwork(SASRecNetwork):
    """:class:`SASRecNetwork` whose logits add a learned bias per item: ``h Eᵀ + b``."""

    def __init__(self, n_items: int, *args, **kwargs):
        super().__init__(n_items, *args, **kwargs)
        self.item_bias = self.add_weight(shape=(n_items,), initializer="zeros",
                                         name="item_bias")

    def call(self, items, training=None):
        return super().call(items, training=training) + self.item_bias


class SmoothedCrossEntropy(NextItemCrossEntropy):
    """Cross-entropy against ``(1 − s) · one-hot + s · uniform`` (label smoothing ``s``)."""

    def __init__(self, smoothing: float):
        super().__init__()
        self.smoothing = smoothing

    def call(self, targets, logits):
        uniform = keras.ops.logsumexp(logits, axis=-1) - keras.ops.mean(logits, axis=-1)
        return (1 - self.smoothing) * super().call(targets, logits) + self.smoothing * uniform


class SASRecVariant(SASRec):
    """SASRec with a change the class does not offer, for this search only.

    ``item_bias`` adds :class:`BiasedSASRecNetwork`'s bias to the logits (and to the
    scores); ``weight_decay`` trains with AdamW instead of Adam; ``label_smoothing`` trains
    with :class:`SmoothedCrossEntropy`; ``shuffle_ties`` draws, every epoch, a new order of
    each user's interactions that share a timestamp (the data give them no order; half of a
    MovieLens-100K user's consecutive ratings share one) and cuts the training windows again.
    Scoring reads the histories in their stored order. Set them as attributes after
    construction.
    """

    item_bias, weight_decay, label_smoothing, shuffle_ties = False, None, None, False

    def _start(self, train: pd.DataFrame) -> None:
        super()._start(train)
        if self.shuffle_ties:
            self._train, self._tie_rng = train, np.random.default_rng(1000 + self.seed)

    def _train_epoch(self, epoch: int) -> dict:
        if self.shuffle_ties:
            # user_histories sorts by time stably, so equal timestamps keep this random order.
            shuffled = self._train.iloc[self._tie_rng.permutation(len(self._train))]
            self._examples = next_item_examples(user_histories(shuffled, self.n_users_),
                                                self.max_len, all_windows=self.all_windows,
                                                stride=self.window_stride)
        return super()._train_epoch(epoch)

    def build_network(self) -> keras.Model:
        if not self.item_bias:
            return super().build_network()
        return BiasedSASRecNetwork(self.n_items_, self.max_len, self.embedding_dim,
                                   self.n_blocks, self.n_heads, self.dropout, self.positional,
                                   name="sasrec")

    def _score_histories(self, histories) -> np.ndarray:
        scores = super()._score_histories(histories)
        if self.item_bias:
            scores = scores + keras.ops.convert_to_numpy(self.network_.item_bias)
        return scores

    def _compile(self) -> None:
        rate = self._learning_rate_schedule()
        optimizer = (keras.optimizers.Adam(rate) if self.weight_decay is None
                     else keras.optimizers.AdamW(rate, weight_decay=self.weight_decay))
        loss = (NextItemCrossEntropy() if self.label_smoothing is None
                else SmoothedCrossEntropy(self.label_smoothing))
        self.network_.compile(optimizer=optimizer, loss=loss)


class SeedAverage:
    """The mean next-item probabilities (softmax of the scores) of several fitted models."""

    def __init__(self, members):
        self.members = members

    def score_items(self, users) -> np.ndarray:
        probabilities = []
        for member in self.members:
            scores = member.score_items(users)
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            probabilities.append(scores / scores.sum(axis=1, keepdims=True))
        return np.mean(probabilities, axis=0)


def folds(ratings: pd.DataFrame) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """``[(history, targets)] × 3``: the validation item, then the two training items before it."""
    return [(fold.history, fold.test) for fold in seq_validation_splits(ratings, n_folds=3)]


def score(changes: dict, data, fold_list, seed: int) -> tuple[pd.DataFrame, float]:
    """Per-user HR@10 and NDCG@10 over the pooled folds, and the seconds of the three fits."""
    frames, seconds = [], 0.0
    changes = dict(changes)
    member_seeds = changes.pop("average_over_seeds", (seed,))
    sizes = {"n_users": data.n_users, "n_items": data.n_items}
    for history, targets in fold_list:
        members = []
        for member_seed in member_seeds:
            model = get("SASRec", "SEQ").build(data)
            model.seed = member_seed
            if {"item_bias", "weight_decay", "label_smoothing", "shuffle_ties"} & changes.keys():
                model = SASRecVariant(**model.get_params())
            for parameter, value in changes.items():
                setattr(model, parameter, value)
            start = time.perf_counter()
            members.append(model.fit(history, **sizes))
            seconds += time.perf_counter() - start
        model = members[0] if len(members) == 1 else SeedAverage(members)
        frames.append(per_user_metrics(model, history, targets, "SEQ", **sizes))
    return pd.concat(frames, ignore_index=True), seconds


def main(arguments: list[str]) -> int:
    seeds = [int(a.removeprefix("--seed=")) for a in arguments if a.startswith("--seed=")]
    seed = seeds[-1] if seeds else 0
    names = [a for a in arguments if not a.startswith("--seed=")]
    data = load_movielens_100k()
    fold_list = folds(data.ratings)
    print(f"model seed {seed}")
    base, base_seconds = score({}, data, fold_list, seed)
    print(f"{'registry settings':34s} HR@10 {base['HR@10'].mean():.4f}  "
          f"NDCG@10 {base['NDCG@10'].mean():.4f}  fits {base_seconds:.0f} s", flush=True)
    for name in names or SETTINGS:
        rows, seconds = score(SETTINGS[name], data, fold_list, seed)
        hits = paired_hit_test(rows["HR@10"], base["HR@10"])
        ndcg = paired_bootstrap(rows["NDCG@10"], base["NDCG@10"])
        print(f"{name:34s} HR@10 {rows['HR@10'].mean():.4f} ({hits.difference:+.4f} "
              f"[{hits.low:+.4f}, {hits.high:+.4f}])  NDCG@10 {rows['NDCG@10'].mean():.4f} "
              f"({ndcg.difference:+.4f} [{ndcg.low:+.4f}, {ndcg.high:+.4f}])  "
              f"fits {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
