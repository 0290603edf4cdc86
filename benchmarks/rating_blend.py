"""How the chapter 11 blend's members were chosen: forward selection on validation folds only.

The registry row ``Blend`` (:class:`~recsys_lab.models.blend.LinearBlend`) combines some of
the RATING rows. This script is the search that chose which, on RATING's training data only:

1. for each validation fold s = 1, 2, 3, ``rating_split(train, seed=s)`` carves a fit part
   and a validation part from the standard split's training part; every learned RATING row
   (:data:`CANDIDATES`, each with its chapter's settings) is fitted on the fit part and
   predicts the validation ratings;
2. a set of members is scored on a fold by 5-fold cross-validation *within* the validation
   ratings: least-squares weights (an intercept and one per member) fitted on four fifths,
   squared errors on the fifth;
3. forward selection adds, one at a time, the candidate that lowers that RMSE most, and
   stops before a member that gains less than :data:`MIN_GAIN` on any fold.

It prints each fold's selection path, the RMSE of the chosen set, of its first member alone
and of all candidates together, and each candidate's fit time. The test split is not read.

Run: ``.venv/bin/python benchmarks/rating_blend.py`` (24 fits, about three minutes on two
quiet cores). No target of its own: exit status 0.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from recsys_lab.datasets import load_movielens_100k
from recsys_lab.registry import entries, get
from recsys_lab.splits import rating_split

FOLDS = (1, 2, 3)
#: Every RATING row that learns something (the global mean is the blend's intercept already).
CANDIDATES = tuple(e.name for e in entries("RATING") if e.name not in ("GlobalMean", "Blend"))
#: A member is added only if it lowers the cross-validated RMSE by this much on every fold.
MIN_GAIN = 0.0005


def cross_validated_rmse(predictions: dict, truth: np.ndarray, members: list) -> float:
    """RMSE of the blend of ``members`` on ``truth``, its weights fitted on other fifths."""
    design = np.column_stack([np.ones(len(truth)), *(predictions[m] for m in members)])
    squared = np.empty(len(truth))
    for part in np.array_split(np.random.default_rng(0).permutation(len(truth)), 5):
        rest = np.ones(len(truth), dtype=bool)
        rest[part] = False
        weights, *_ = np.linalg.lstsq(design[rest], truth[rest], rcond=None)
        squared[part] = (design[part] @ weights - truth[part]) ** 2
    return float(np.sqrt(squared.mean()))


def main() -> int:
    data = load_movielens_100k()
    train = rating_split(data.ratings).train
    folds, seconds = [], {name: [] for name in CANDIDATES}
    for fold in FOLDS:
        fit_part, valid = rating_split(train, seed=fold)
        predictions = {}
        for name in CANDIDATES:
            start = time.perf_counter()
            model = get(name, "RATING").build(data).fit(fit_part, data.n_users, data.n_items)
            seconds[name].append(time.perf_counter() - start)
            predictions[name] = model.predict(valid["user"].to_numpy(), valid["item"].to_numpy())
        folds.append((predictions, valid["rating"].to_numpy(dtype=float)))
    chosen, rmse = [], [float("inf")] * len(FOLDS)
    while len(chosen) < len(CANDIDATES):
        paths = [{name: cross_validated_rmse(p, truth, [*chosen, name])
                  for name in CANDIDATES if name not in chosen} for p, truth in folds]
        best = min(paths[0], key=lambda name: sum(path[name] for path in paths))
        gains = [before - path[best] for before, path in zip(rmse, paths, strict=True)]
        print(f"next: {best}, validation RMSE "
              + ", ".join(f"{path[best]:.4f}" for path in paths)
              + (f" (gains {', '.join(f'{g:.5f}' for g in gains)})" if chosen else ""))
        if chosen and min(gains) < MIN_GAIN:
            break
        chosen.append(best)
        rmse = [path[best] for path in paths]
    for label, members in (("chosen " + ", ".join(chosen), chosen),
                           (f"{chosen[0]} alone", chosen[:1]), ("all candidates", CANDIDATES)):
        values = [cross_validated_rmse(p, truth, list(members)) for p, truth in folds]
        print(f"{label}: validation RMSE " + ", ".join(f"{v:.4f}" for v in values))
    print("fit seconds on a fit part (mean over folds): " + ", ".join(
        f"{name} {np.mean(s):.1f}" for name, s in seconds.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
