"""Targets for the graph chapter (chapter 9), on the standard TOPN split of ML-100K.

* LightGCN with its chapter's settings reaches NDCG@10 ≥ 0.43.
* The best graph model (LightGCN or the training-free GraphFilter) is level with EASE or
  ahead: the paired 95% bootstrap interval of (graph − EASE) over users does not lie
  entirely below zero.

Run: ``make bench`` or ``.venv/bin/python benchmarks/graph_targets.py``. Exit status 1 when a
target is missed. Settings are the registry's (chosen on validation folds); this script only
reads the test split to report.
"""

from __future__ import annotations

import sys

from recsys_lab.datasets import load_movielens_100k
from recsys_lab.evaluate import evaluate, per_user_metrics
from recsys_lab.registry import get
from recsys_lab.splits import topn_split
from recsys_lab.stats import paired_bootstrap

LIGHTGCN_NDCG = 0.43


def main() -> int:
    data = load_movielens_100k()
    split = topn_split(data.ratings)
    sizes = {"n_users": data.n_users, "n_items": data.n_items}
    rows, per_user = {}, {}
    for name in ("EASE", "GraphFilter", "LightGCN"):
        model = get(name, "TOPN").build(data)
        rows[name] = evaluate(model, split.train, split.test, "TOPN", name=name, **sizes)
        per_user[name] = per_user_metrics(model, split.train, split.test, "TOPN")["NDCG@10"]
        print(f"{name:12s} NDCG@10 {rows[name]['NDCG@10']:.4f}  "
              f"fit {rows[name]['fit_seconds']:.1f} s", flush=True)
    best = max(("GraphFilter", "LightGCN"), key=lambda n: rows[n]["NDCG@10"])
    comparison = paired_bootstrap(per_user[best], per_user["EASE"])
    print(comparison.describe(best, "EASE"))
    checks = {
        f"LightGCN NDCG@10 ≥ {LIGHTGCN_NDCG}": rows["LightGCN"]["NDCG@10"] >= LIGHTGCN_NDCG,
        f"{best} level with EASE or ahead": comparison.verdict != "b ahead",
    }
    for target, met in checks.items():
        print(f"{'met   ' if met else 'MISSED'} {target}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
