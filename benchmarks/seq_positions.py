"""How much harder each user's last film is than the films before it, model by model (SEQ).

SASRec's settings were chosen on three validation folds (``benchmarks/seq_search.py``): the
validation film after ``seq.train``, then each user's two training films before it, each
ranked after the history that precedes it. Its test HR@10 has stayed well below those folds'
mean. This script asks whether that is SASRec's doing, or the last film's: it fits every SEQ
entry of the registry with its defaults (model seed 0) on the test split and on each fold,
and prints HR@10 per target position. Then, per model, it pairs each user's test hit with
the mean of their three fold hits (``paired_bootstrap``, 943 users): the test film minus
the earlier ones, with a 95% interval. No setting is chosen here; the test split is read
only to describe it.

Run: ``.venv/bin/python benchmarks/seq_positions.py`` (24 fits, about three minutes on two
quiet cores). No target: the exit status is 0.
"""

from __future__ import annotations

import sys

import pandas as pd

from recsys_lab import registry
from recsys_lab.datasets import load_movielens_100k
from recsys_lab.evaluate import per_user_metrics
from recsys_lab.splits import seq_split, seq_validation_splits
from recsys_lab.stats import paired_bootstrap

TARGETS = ("test (last film)", "validation (2nd last)", "3rd last", "4th last")


def main() -> int:
    data = load_movielens_100k()
    positions = [seq_split(data.ratings), *seq_validation_splits(data.ratings, n_folds=3)]
    names = [entry.name for entry in registry.entries("SEQ")]
    hits = {}  # target position -> (n_users, n_models) HR@10 hits
    for label, split in zip(TARGETS, positions, strict=True):
        _, models = registry.run_rows(names, "SEQ", data, split, store=False)
        hits[label] = pd.DataFrame({
            name: per_user_metrics(model, split.history, split.test, "SEQ")["HR@10"]
            for name, model in models.items()})
    earlier = sum(hits[label] for label in TARGETS[1:]) / len(TARGETS[1:])
    print(f"{'model':12s} " + "  ".join(f"{label:>21s}" for label in TARGETS)
          + "   test − mean of the folds [95% interval]")
    for name in names:
        gap = paired_bootstrap(hits[TARGETS[0]][name], earlier[name])
        print(f"{name:12s} " + "  ".join(f"{hits[label][name].mean():21.4f}" for label in TARGETS)
              + f"   {gap.difference:+.4f} [{gap.low:+.4f}, {gap.high:+.4f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
