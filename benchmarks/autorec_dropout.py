"""I-AutoRec's input dropout on two RATING validation splits (no target).

Chapter 4's ``AutoRec()`` uses dropout 0.2. This sweep fits it with 0.2, 0.35 and 0.5 on
two validation splits carved from RATING's training part (never the test split) and pairs
each rate's squared errors with 0.2's (``recsys_lab.stats.paired_bootstrap``), the evidence
for or against changing the default. About 50 s on two cores.
"""

import numpy as np

from recsys_lab.datasets import load_movielens_100k
from recsys_lab.models.autoencoders import AutoRec
from recsys_lab.splits import rating_split, standard_splits
from recsys_lab.stats import paired_bootstrap

RATES = (0.2, 0.35, 0.5)
VALIDATION_SEEDS = (1, 2)


def main() -> int:
    data = load_movielens_100k()
    train = standard_splits(data.ratings, n_items=data.n_items, n_users=data.n_users)[
        "RATING"].train
    for seed in VALIDATION_SEEDS:
        part = rating_split(train, seed=seed)
        users, items = part.test["user"].to_numpy(), part.test["item"].to_numpy()
        truth = part.test["rating"].to_numpy(dtype=float)
        errors = {}
        for rate in RATES:
            model = AutoRec(dropout=rate).fit(part.train, data.n_users, data.n_items)
            errors[rate] = (model.predict(users, items) - truth) ** 2
            print(f"validation seed {seed}, dropout {rate}: RMSE "
                  f"{np.sqrt(errors[rate].mean()):.4f}")
        for rate in RATES[1:]:
            comparison = paired_bootstrap(-errors[rate], -errors[RATES[0]])
            print("  in MSE:", comparison.describe(f"dropout {rate}", f"dropout {RATES[0]}",
                                                   digits=4, unit="ratings"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
