"""A proposal for the RATING target, measured: a linear blend of three of the book's rating models.

Not a model of the book (yet): this script measures whether stacking the RATING rows would
reach the target of ``rating_targets.py`` (test RMSE ≤ 0.885), before a chapter spends its
time budget on it. For each split seed s in 42 (the standard split), 1 and 2:

1. ``rating_split(ratings, seed=s)`` gives train and test; ``rating_split(train,
   seed=VALIDATION_SEED)`` carves a fit part and a validation part from train;
2. each member (:data:`MEMBERS`, registry rows with their chapters' settings) is fitted on the
   fit part and predicts the validation ratings; the blend's weights (an intercept and one
   weight per member) are the least-squares fit of the validation ratings on those
   predictions: chosen on validation only;
3. each member is fitted again on all of train; the blend of their test predictions, with
   the weights of step 2, is scored on test and paired rating by rating against I-AutoRec
   alone (``paired_error_comparison``).

Run: ``.venv/bin/python benchmarks/rating_blend.py`` (eighteen fits, about three minutes on
two quiet cores). No target of its own: exit status 0.
"""

from __future__ import annotations

import sys

import numpy as np
from rating_targets import SPLIT_SEEDS  # benchmarks/rating_targets.py: 42 (standard), 1, 2

from recsys_lab.chapter import VALIDATION_SEED
from recsys_lab.datasets import load_movielens_100k
from recsys_lab.registry import get
from recsys_lab.splits import rating_split
from recsys_lab.stats import paired_error_comparison, seed_spread

MEMBERS = ("I-AutoRec", "U-AutoRec", "MF-ALS")


def member_predictions(data, train, rated) -> np.ndarray:
    """``(len(rated), 1 + len(MEMBERS))``: a column of ones, then each member's predictions
    of the ``rated`` pairs after a fit on ``train``."""
    columns = [np.ones(len(rated))]
    for name in MEMBERS:
        model = get(name, "RATING").build(data).fit(train, data.n_users, data.n_items)
        columns.append(model.predict(rated["user"].to_numpy(), rated["item"].to_numpy()))
    return np.column_stack(columns)


def main() -> int:
    data = load_movielens_100k()
    blend_rmse, alone_rmse = [], []
    for seed in SPLIT_SEEDS:
        split = rating_split(data.ratings, seed=seed)
        fit_part, valid_part = rating_split(split.train, seed=VALIDATION_SEED)
        valid_x = member_predictions(data, fit_part, valid_part)
        weights, *_ = np.linalg.lstsq(valid_x, valid_part["rating"].to_numpy(dtype=float),
                                      rcond=None)
        test_x = member_predictions(data, split.train, split.test)
        truth = split.test["rating"].to_numpy(dtype=float)
        blend_errors = (test_x @ weights - truth) ** 2
        alone_errors = (test_x[:, 1] - truth) ** 2  # the first member, I-AutoRec
        blend_rmse.append(float(np.sqrt(blend_errors.mean())))
        alone_rmse.append(float(np.sqrt(alone_errors.mean())))
        comparison = paired_error_comparison(blend_errors, alone_errors)
        described = ", ".join(f"{name} {w:+.3f}" for name, w in
                              zip(("intercept", *MEMBERS), weights, strict=True))
        print(f"split seed {seed:2d}: weights {described}; test RMSE blend "
              f"{blend_rmse[-1]:.4f}, I-AutoRec {alone_rmse[-1]:.4f}; in MSE, "
              + comparison.describe("the blend", "I-AutoRec", digits=4, unit="test ratings"),
              flush=True)
    print(f"over splits {list(SPLIT_SEEDS)}: blend {seed_spread(blend_rmse)}, "
          f"I-AutoRec {seed_spread(alone_rmse)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
