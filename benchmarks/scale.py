"""How fit time and peak memory grow with the data, against the complexity the chapters derive.

Each case fits one model on MovieLens-shaped synthetic data
(:func:`recsys_lab.synthetic_movielens.synthetic_movielens`, seed 0, its default shape:
``n_interactions / 150`` users, ``5 √n_interactions`` items) at a range of sizes, and fits
the log–log slope of the cost against the size (:mod:`recsys_lab.scaling`):

============  ==============  ==================================================================
case          size            theory (time per fit, as the other sizes move with the size)
============  ==============  ==================================================================
ease-items    n_items         O(n_items³): the inverse of the dense Gram matrix, at a fixed
                              10⁶ interactions (the sparse Gram product and the dense
                              conversion, O(Σ_u n_u²) and O(n_items²), fall behind)
wrmf-n        n_interactions  O(nnz·k² + (n_users+n_items)·k³) per ALS iteration, k = 32: linear
wrmf-k        n_factors       the same at 10⁶ interactions: k² while nnz·k² dominates
                              (k ≲ nnz / (n_users + n_items) ≈ 86), k³ beyond
mf-n          n_interactions  O(nnz·(1 + n_negatives)·d) per epoch: linear
sasrec-n      n_interactions  O(n_seq·L²·d + n_seq·L·d² + n_seq·L·d·n_items) per epoch, the last
                              term the full softmax; n_seq ∝ nnz and n_items ∝ √nnz, so 1 to 1.5
============  ==============  ==================================================================

ALS is :class:`~recsys_lab.models.mf.WRMF` (exact implicit ALS, one iteration), MF is
:class:`~recsys_lab.models.ncf.DotProductMF` (one epoch), SASRec one epoch with its defaults.
A fit is timed from ``fit`` to its return: input checks, the interaction matrix, and for the
Keras models building and tracing the network, all of it a fixed cost that flattens the slope
at small sizes. So the Keras models are also fitted for 3 epochs, and ``(t₃ − t₁) / 2``, the
time of one epoch alone, gets a slope of its own.

How it is measured: in this process, ``repeats`` fits per size back to back (the data are
made once per size, unmeasured); the time is the fastest repeat (other work on the machine,
and one-time costs such as TensorFlow's first kernels, only add), the memory the largest rise
of the process's resident size during a fit (``memory="rss"``: everything, TensorFlow and
BLAS included; Linux). Free memory the C allocator holds is returned to the kernel before
each fit, but pools that libraries keep (TensorFlow's) can be reused unseen, so that figure
is a lower bound, loosest for the Keras models. Processor time (all threads) is reported
beside wall time: on a shared machine it is less disturbed by other programs.

``--isolate`` runs each fit alone in a fresh process instead; on this virtual machine that
is slower *and* noisier: memory the guest freed a few seconds earlier is handed back to the
host, and touching it again costs seconds of system time (an 800 MB array took 0.05-0.1 s
to fill right after another, 2.7 s after a 3 s pause and 6 s after 10 s), a cost of the
machine, not of the model, that a fresh process always pays.

Run: ``make bench-scale`` (the full range; long) or ``.venv/bin/python benchmarks/scale.py
--quick`` (a few minutes); ``--cases`` picks cases. Writes ``_build/bench/scale.csv`` (every
run), ``scale-slopes.csv`` and ``scale.md`` (the table). No target: the exit status is 0.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recsys_lab.scaling import cost_sweep, fit_power_law, summarize_sweep, sweep_slopes
from recsys_lab.synthetic_movielens import synthetic_movielens

OUT = Path(__file__).resolve().parents[1] / "_build" / "bench"
SEED = 0
#: Interactions of the cases whose size is not the interactions.
FIXED_INTERACTIONS = 1_000_000
QUICK_EASE_INTERACTIONS = 200_000
#: Epochs of the second fit of the Keras cases (see Case.per_epoch).
LONG_FIT = 3


# --------------------------------------------------------------------------------------------
# The models and their data (module level: the child processes unpickle them)
# --------------------------------------------------------------------------------------------


def _ease(_size):
    from recsys_lab.baselines import EASE
    return EASE()


def _wrmf(n_factors):
    from recsys_lab.models.mf import WRMF
    return WRMF(n_factors=n_factors or 32, epochs=1)


def _mf(_size, epochs=1):
    from recsys_lab.models.ncf import DotProductMF  # imports TensorFlow: here, not in the fit
    return DotProductMF(epochs=epochs)


def _sasrec(_size, epochs=1):
    from recsys_lab.models.attention import SASRec
    return SASRec(epochs=epochs)


@dataclass
class Prepared:
    """What one measured fit needs, made before the clock starts."""

    model: object
    train: pd.DataFrame
    n_users: int
    n_items: int


def prepare(build, variable: str, size: int, interactions: int) -> Prepared:
    """The data (sized by ``variable``) and an unfitted model from ``build(size)``."""
    n = size if variable == "n_interactions" else interactions
    shape = {"n_items": size} if variable == "n_items" else {}
    data = synthetic_movielens(n, seed=SEED, **shape)
    model = build(size if variable == "n_factors" else None)
    return Prepared(model, data.ratings, data.n_users, data.n_items)


def fit(prepared: Prepared) -> None:
    """The measured call."""
    prepared.model.fit(prepared.train, prepared.n_users, prepared.n_items)


@dataclass(frozen=True)
class Case:
    model: str
    variable: str
    build: object
    quick: tuple[int, ...]
    full: tuple[int, ...]
    theory: str
    interactions: int = FIXED_INTERACTIONS
    quick_interactions: int = FIXED_INTERACTIONS
    #: Also fit with LONG_FIT epochs: ``(t_long − t_1) / (LONG_FIT − 1)`` is the time of one
    #: epoch without the fixed cost of a fit (building and tracing the network).
    per_epoch: bool = False


CASES = {
    "ease-items": Case("EASE", "n_items", _ease, (500, 1000, 2000, 4000),
                       (1000, 2000, 4000, 8000, 16000), "3 (n_items³ inverse)",
                       quick_interactions=QUICK_EASE_INTERACTIONS),
    "wrmf-n": Case("ALS (WRMF, 1 iteration)", "n_interactions", _wrmf,
                   (125_000, 250_000, 500_000, 1_000_000, 2_000_000),
                   (100_000, 300_000, 1_000_000, 3_000_000, 10_000_000), "1"),
    "wrmf-k": Case("ALS (WRMF, 1 iteration)", "n_factors", _wrmf, (8, 16, 32, 64, 128),
                   (16, 32, 64, 128, 256, 512), "2 → 3 (nnz·k², then k³)"),
    # At 10⁷ interactions DotProductMF (its dense seen-matrix and full-catalogue scores, on
    # top of what the earlier cases left in this process) was killed for lack of memory on a
    # 24 GiB machine, losing the run: the full range stops at 3·10⁶.
    "mf-n": Case("DotProductMF (1 epoch)", "n_interactions", _mf,
                 (125_000, 250_000, 500_000, 1_000_000),
                 (100_000, 300_000, 1_000_000, 3_000_000), "1", per_epoch=True),
    "sasrec-n": Case("SASRec (1 epoch)", "n_interactions", _sasrec,
                     (50_000, 100_000, 200_000, 400_000),
                     (100_000, 300_000, 1_000_000), "1 → 1.5 (full softmax)",
                     per_epoch=True),
}


# --------------------------------------------------------------------------------------------
# Running and reporting
# --------------------------------------------------------------------------------------------


def run_case(name: str, quick: bool, repeats: int, isolate: bool) -> pd.DataFrame:
    case = CASES[name]
    sizes = case.quick if quick else case.full
    interactions = case.quick_interactions if quick else case.interactions
    start = time.perf_counter()
    runs = [(case.model, case.build)]
    if case.per_epoch:
        runs.append((_long_label(case), functools.partial(case.build, epochs=LONG_FIT)))
    sweep = pd.concat([
        cost_sweep(fit, functools.partial(prepare, build, case.variable,
                                          interactions=interactions),
                   sizes, model=label, variable=case.variable, repeats=repeats,
                   memory="rss", isolate=isolate, timeout=3600)
        for label, build in runs], ignore_index=True)
    sweep.insert(0, "case", name)
    sweep["fixed_interactions"] = interactions if case.variable != "n_interactions" else pd.NA
    print(f"  {name}: {len(sweep)} fits in {time.perf_counter() - start:.0f} s", flush=True)
    print(summarize_sweep(sweep).to_string(index=False), flush=True)
    return sweep


def _long_label(case: Case) -> str:
    return case.model.replace("(1 epoch)", f"({LONG_FIT} epochs)")


def per_epoch_seconds(summary: pd.DataFrame, case: Case) -> pd.Series:
    """``(t_long − t_1) / (LONG_FIT − 1)`` by size: one epoch without the fit's fixed cost."""
    def seconds(label):
        rows = summary[(summary.model == label) & (summary.variable == case.variable)]
        return rows.set_index("size")["seconds"]
    return (seconds(_long_label(case)) - seconds(case.model)) / (LONG_FIT - 1)


def _per_epoch_slope(summary: pd.DataFrame, case: Case) -> str:
    if not case.per_epoch:
        return "–"
    epoch = per_epoch_seconds(summary, case)
    if len(epoch) < 2 or not (epoch > 0).all():
        return "– (an epoch's time ≤ 0: noise)"
    law = fit_power_law(epoch.index.to_numpy(), epoch.to_numpy())
    return f"{law.slope:.2f} [{law.low:.2f}, {law.high:.2f}]"


def _interval(row) -> str:
    if pd.isna(row.slope):
        return "–"
    return f"{row.slope:.2f} [{row.low:.2f}, {row.high:.2f}]"


def markdown(sweep: pd.DataFrame, slopes: pd.DataFrame, quick: bool) -> str:
    lines = [f"# Cost curves ({'quick' if quick else 'full'} run)", "",
             "Log–log slopes of fit time (wall clock, and processor time of all threads) and "
             "peak memory (rise of the resident set) against the size, with 95% t "
             "intervals; times = fastest repeat, memory = largest. "
             "Generated by benchmarks/scale.py.", "",
             f"Per-epoch slope: of (t_{LONG_FIT} − t_1) / {LONG_FIT - 1}, the time of one "
             "epoch without the fixed cost of a fit.", "",
             "| case | model | size | sizes | time slope | CPU-time slope | per-epoch slope | "
             "theory | memory slope | largest: seconds | largest: peak MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    summary = summarize_sweep(sweep)
    for name, case in CASES.items():
        if name not in set(sweep["case"]):
            continue
        rows = slopes[(slopes.model == case.model) & (slopes.variable == case.variable)]
        time_row = rows[rows.cost == "seconds"].iloc[0]
        cpu_row = rows[rows.cost == "cpu_seconds"].iloc[0]
        memory_row = rows[rows.cost == "peak_bytes"].iloc[0]
        mine = summary[(summary.model == case.model) & (summary.variable == case.variable)]
        last = mine.iloc[-1]
        lines.append(f"| {name} | {case.model} | {case.variable} | "
                     f"{', '.join(f'{s:,}' for s in mine['size'])} | {_interval(time_row)} | "
                     f"{_interval(cpu_row)} | {_per_epoch_slope(summary, case)} | "
                     f"{case.theory} | {_interval(memory_row)} | {last.seconds:.2f} | "
                     f"{last.peak_bytes / 2**20:,.0f} |")
    lines += ["", "## Every size", "", summary.assign(
        peak_mb=(summary.peak_bytes / 2**20).round(1)).drop(columns="peak_bytes")
        .to_markdown(index=False, floatfmt=".3f"), ""]
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--repeats", type=int, default=2, help="fits per size (default 2)")
    parser.add_argument("--isolate", action="store_true",
                        help="run each fit alone in a fresh process (slow; see above)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder (default {OUT})")
    return parser.parse_args(argv)


def write(sweep: pd.DataFrame, out: Path, quick: bool) -> str:
    """Write the runs, the slopes and the table of every case finished so far."""
    slopes = sweep_slopes(sweep.drop(columns=["case", "fixed_interactions"]))
    out.mkdir(parents=True, exist_ok=True)
    sweep.to_csv(out / "scale.csv", index=False)
    slopes.to_csv(out / "scale-slopes.csv", index=False)
    table = markdown(sweep, slopes, quick)
    (out / "scale.md").write_text(table)
    return table


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    sweeps = []
    for name in args.cases:
        sweeps.append(run_case(name, args.quick, args.repeats, args.isolate))
        # After every case, so that a run stopped later (killed, out of memory) keeps these.
        table = write(pd.concat(sweeps, ignore_index=True), args.out, args.quick)
    print(table)
    print(f"\n{time.perf_counter() - start:.0f} s in all; wrote {args.out / 'scale.md'}, "
          "scale.csv, scale-slopes.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
