"""Target for TOPN (issue 25): the book's best neural model level with EASE or ahead, on the
mean of three TOPN splits of ML-100K, paired user by user.

The neural rows are those of the TOPN leaderboard (chapter 11, ``NEURAL``): a score that
passes through at least one hidden layer. For each split ``topn_split(ratings, seed=s)``,
s = 0 (the standard split), 1 and 2, every candidate and EASE are fitted with the registry's
settings (model seed = split seed) and scored per user (NDCG@10). The best neural model is
the one with the highest NDCG@10 averaged over the three splits. It is compared with EASE

* per split: the paired 95% bootstrap interval of (model − EASE) over that split's users;
* pooled: each user's NDCG@10 averaged over the three splits (every user is a test user on
  each), then the paired bootstrap over users, so that a user counts once;
* over splits: the mean ± standard deviation of the per-split differences.

Target: the pooled interval does not lie entirely below zero ("level with EASE or ahead").

Run: ``make bench`` or ``.venv/bin/python benchmarks/topn_targets.py``. Options:
``--models Mult-VAE CDAE`` fits only those rows (default: every neural row, which takes a
few minutes); ``--setting Mult-VAE:epochs=80`` overrides a registry setting, to check a
proposed change that was chosen on validation folds. Exit status 1 when the target is missed.
Settings are never chosen here: this script only reads the test splits to report.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time

import pandas as pd

from recsys_lab.datasets import load_movielens_100k
from recsys_lab.evaluate import per_user_metrics
from recsys_lab.registry import get
from recsys_lab.splits import topn_split
from recsys_lab.stats import compare_over_seeds, mean_over_splits, paired_bootstrap

#: The neural TOPN rows of the leaderboard (book/11b_leaderboard_topn.ipynb, ``NEURAL``).
NEURAL_TOPN = ("MLP", "NeuMF", "CDAE", "Mult-DAE", "Mult-VAE", "CFGAN", "CFGAN-G")
SEEDS = (0, 1, 2)
REFERENCE = "EASE"


def parse_settings(texts: list[str]) -> dict[str, dict]:
    """``["Mult-VAE:epochs=80", ...]`` → ``{"Mult-VAE": {"epochs": 80}}``."""
    settings: dict[str, dict] = {}
    for text in texts:
        name, _, assignment = text.partition(":")
        key, _, value = assignment.partition("=")
        if not (name and key and value):
            raise SystemExit(f"--setting wants ROW:KEY=VALUE, got {text!r}")
        settings.setdefault(name, {})[key] = ast.literal_eval(value)
    return settings


def build(name: str, data, settings: dict, seed: int):
    """The registry's model ``name`` with any overridden settings and the split's seed."""
    model = get(name, "TOPN").build(data)
    params = {**settings.get(name, {})}
    if "seed" in model.get_params():
        params["seed"] = seed
    return type(model)(**{**model.get_params(), **params})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(NEURAL_TOPN))
    parser.add_argument("--setting", action="append", default=[])
    args = parser.parse_args(argv)
    unknown = set(args.models) - set(NEURAL_TOPN)
    if unknown:
        raise SystemExit(f"not neural TOPN rows: {sorted(unknown)}; choose from {NEURAL_TOPN}")
    settings = parse_settings(args.setting)
    data = load_movielens_100k()
    sizes = {"n_users": data.n_users, "n_items": data.n_items}
    ndcg = {}  # (name, seed) -> each test user's NDCG@10
    seconds = {}
    for seed in SEEDS:
        train, test = topn_split(data.ratings, seed=seed)
        for name in (REFERENCE, *args.models):
            start = time.perf_counter()
            model = build(name, data, settings, seed).fit(train, **sizes)
            seconds[name, seed] = time.perf_counter() - start
            ndcg[name, seed] = per_user_metrics(model, train, test, "TOPN")["NDCG@10"]
            print(f"split {seed}  {name:10s} NDCG@10 {ndcg[name, seed].mean():.4f}  "
                  f"fit {seconds[name, seed]:.1f} s", flush=True)
    means = pd.DataFrame({name: [ndcg[name, s].mean() for s in SEEDS]
                          for name in (REFERENCE, *args.models)}, index=list(SEEDS))
    best = means[args.models].mean().idxmax()
    for seed in SEEDS:
        comparison = paired_bootstrap(ndcg[best, seed], ndcg[REFERENCE, seed])
        print(f"split {seed}: {comparison.describe(best, REFERENCE)}")

    pooled = paired_bootstrap(mean_over_splits(ndcg[best, s] for s in SEEDS),
                              mean_over_splits(ndcg[REFERENCE, s] for s in SEEDS))
    print(f"pooled over the {len(SEEDS)} splits: {pooled.describe(best, REFERENCE)}")
    print(f"{best} − {REFERENCE} over splits: {compare_over_seeds(means[best], means[REFERENCE])}")
    print(f"{best}: mean fit {sum(seconds[best, s] for s in SEEDS) / len(SEEDS):.1f} s; "
          f"settings {settings.get(best, 'the registry defaults')}")
    met = pooled.verdict != "b ahead"
    print(f"{'met   ' if met else 'MISSED'} best neural TOPN model ({best}) level with "
          f"{REFERENCE} or ahead on the mean of {len(SEEDS)} splits (paired)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
