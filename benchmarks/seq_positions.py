"""How much harder each user's last film is than the films before it, model by model (SEQ).

SASRec's settings were chosen on three validation folds (``benchmarks/seq_search.py``): the
validation film after ``seq.train``, then each user's two training films before it, each
ranked after the history that precedes it. Its test HR@10 has stayed well below those folds'
mean. This script asks whether that is SASRec's doing, or the last film's, and whether the
choice of settings flattered the folds it was made on. It fits every SEQ entry of the
registry with its defaults (model seed 0) on the test split and on six folds
(:func:`~recsys_lab.splits.seq_validation_splits`): the three the settings were chosen on
(2nd to 4th last film) and the three before them (5th to 7th last), which no search looked
at. It prints HR@10 per target position, then per model three differences of per-user
means, paired user by user (``paired_bootstrap``, 943 users, 95% intervals): the test film
minus the chosen-on folds, the test film minus the unused folds, and the chosen-on folds
minus the unused ones (what choosing on them added). No setting is chosen here; the test
split is read only to describe it.

Last, one candidate cause: timestamp ties. Half of ML-100K's consecutive ratings share their
second, and the splits order ties as the file does. The script prints, per position, the
share of targets rated in the same second as the film before them, and HR@10 separately for
those targets and the others: were the last film harder only because it is less often rated
together with the film before it, the gap would close within each group.

Run: ``.venv/bin/python benchmarks/seq_positions.py`` (42 fits, two positions at a time in
two worker processes: 145 s on two quiet cores, against 163 s one after another, with the
same output). No target: the exit status is 0.
"""

from __future__ import annotations

import sys

import pandas as pd

from recsys_lab import registry
from recsys_lab.datasets import load_movielens_100k
from recsys_lab.evaluate import per_user_metrics
from recsys_lab.splits import seq_split, seq_validation_splits
from recsys_lab.stats import paired_bootstrap

TEST = "last (test)"
CHOSEN_ON = ("2nd last", "3rd last", "4th last")
UNUSED = ("5th last", "6th last", "7th last")


def main() -> int:
    data = load_movielens_100k()
    positions = [seq_split(data.ratings), *seq_validation_splits(data.ratings, n_folds=6)]
    names = [entry.name for entry in registry.entries("SEQ")]
    hits, tied = {}, {}  # target position -> (n_users, n_models) HR@10 hits; (n_users,)
    # The positions do not depend on one another: two worker processes fit them side by side.
    runs = registry.run_rows_on_splits(names, "SEQ", data, positions, store=False, n_jobs=2)
    for label, split, (_, models) in zip((TEST, *CHOSEN_ON, *UNUSED), positions, runs,
                                         strict=True):
        hits[label] = pd.DataFrame({
            name: per_user_metrics(model, split.history, split.test, "SEQ")["HR@10"]
            for name, model in models.items()})
        tied[label] = shares_second_with_previous(split).reindex(hits[label].index)
    print(pd.DataFrame({label: frame.mean() for label, frame in hits.items()}).round(4)
          .to_string())
    chosen_on = sum(hits[label] for label in CHOSEN_ON) / len(CHOSEN_ON)
    unused = sum(hits[label] for label in UNUSED) / len(UNUSED)
    differences = pd.DataFrame({
        name: {"test − chosen-on folds": paired_bootstrap(hits[TEST][name], chosen_on[name]),
               "test − unused folds": paired_bootstrap(hits[TEST][name], unused[name]),
               "chosen-on − unused folds": paired_bootstrap(chosen_on[name], unused[name])}
        for name in names}).T
    print("\nDifferences of HR@10, paired user by user [95% interval]:")
    print(differences.map(str).to_string())
    print("\nShare of targets rated in the same second as the film before them:")
    print(pd.Series({label: flags.mean() for label, flags in tied.items()}).round(3)
          .to_string())
    for in_group, group in ((True, "rated in the same second as the film before"),
                            (False, "rated later than the film before")):
        print(f"\nHR@10 of the targets {group}:")
        print(pd.DataFrame({label: frame[tied[label] == in_group].mean()
                            for label, frame in hits.items()}).round(4).to_string())
    return 0


def shares_second_with_previous(split) -> pd.Series:
    """Per user: whether the target's timestamp equals that of the history's last film."""
    previous = split.history.groupby("user")["timestamp"].last()
    target = split.test.set_index("user")["timestamp"]
    return target == previous.reindex(target.index)


if __name__ == "__main__":
    sys.exit(main())
