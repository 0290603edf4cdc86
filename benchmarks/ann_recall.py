"""Recall@10 and throughput of FAISS indexes (flat, IVF, HNSW) against exact inner-product search.

Two catalogues:

* the item vectors of a two-tower model (registry settings) fitted on the standard TOPN
  training split of ML-100K (1,682 items), queried with every user's vector;
* a synthetic catalogue of ``--items`` random Gaussian 64-d vectors (default 10⁶), queried
  with 1,000 random vectors. Random vectors have no cluster structure, the hardest case for
  IVF and HNSW: trained embeddings are usually easier.

For each index: build seconds, recall@10 (the share of the exact top 10 found, mean over
queries) and queries per second (best of three runs over the whole batch, wall clock). FAISS
runs on one thread (the NumPy reference on as many as its BLAS uses). No target: the script
exits 0 unless something fails.

Run: ``make bench`` or ``.venv/bin/python benchmarks/ann_recall.py [--items N]``. With
the default 10⁶ items expect the HNSW build to take a minute or more (10⁵ items took 5 s
here) and the four indexes to hold about 1.2 GB.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from recsys_lab.retrieval import (
    ExactIndex,
    FlatIndex,
    HNSWIndex,
    IVFIndex,
    exact_top_k,
    queries_per_second,
    recall_at_k,
)

K = 10


def _sweeps(n_items: int) -> list[tuple[str, object, str | None, list]]:
    """Each index with the search setting it is swept over: IVF with about √n cells (at least
    39 items per cell, FAISS's k-means minimum) at three probe counts, HNSW (M = 16) at three
    beam widths. Each index is built once per catalogue."""
    nlist = max(1, min(int(round(np.sqrt(n_items))), n_items // 39))
    probes = sorted({1, max(1, nlist // 32), max(1, nlist // 8)})
    return [("flat", FlatIndex(), None, [None]),
            (f"IVF nlist={nlist}", IVFIndex(nlist=nlist, nprobe=1), "nprobe", probes),
            ("HNSW M=16", HNSWIndex(M=16), "ef_search", [16, 64, 256])]


def compare(name: str, items: np.ndarray, queries: np.ndarray) -> None:
    """Print one table row per index and setting for this catalogue."""
    print(f"\n{name}: {len(items):,} items × {items.shape[1]} dims, {len(queries):,} queries, "
          f"recall@{K} against exact search", flush=True)
    print(f"  {'index':32s} {'build':>9s} {'recall':>7s} {'queries/s':>11s}")
    exact = ExactIndex().build(items)
    _, truth = exact_top_k(queries, items, K)
    # NumPy's BLAS may use every core; the FAISS indexes use one thread.
    print(f"  {'exact (NumPy, batched, BLAS)':32s} {'':>9s} {1:7.3f} "
          f"{queries_per_second(exact, queries, K, repeats=1):11,.0f}", flush=True)
    for label, index, setting, values in _sweeps(len(items)):
        start = time.perf_counter()
        index.build(items)
        build = f"{time.perf_counter() - start:7.1f} s"
        for value in values:
            if setting is not None:
                setattr(index, setting, value)  # a search setting: no rebuild
            _, ids = index.search(queries, K)
            recall = recall_at_k(ids, truth).mean()
            qps = queries_per_second(index, queries, K)
            row = label if setting is None else f"{label} {setting}={value}"
            print(f"  {row:32s} {build:>9s} {recall:7.3f} {qps:11,.0f}", flush=True)
            build = ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000,
                        help="size of the synthetic catalogue (0: skip it)")
    parser.add_argument("--skip-movielens", action="store_true")
    args = parser.parse_args()

    if not args.skip_movielens:
        from recsys_lab.datasets import load_movielens_100k
        from recsys_lab.registry import get
        from recsys_lab.splits import topn_split

        data = load_movielens_100k()
        split = topn_split(data.ratings)
        start = time.perf_counter()
        model = get("TwoTower", "TOPN").build(data).fit(split.train, data.n_users, data.n_items)
        print(f"TwoTower fitted on the ML-100K TOPN training split in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        compare("ML-100K two-tower item vectors", model.item_vectors_.astype(np.float32),
                model.user_vectors_.astype(np.float32))

    if args.items:
        rng = np.random.default_rng(0)
        items = rng.standard_normal((args.items, 64), dtype=np.float32)
        queries = rng.standard_normal((1000, 64), dtype=np.float32)
        compare("synthetic Gaussian catalogue", items, queries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
