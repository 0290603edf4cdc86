"""Package-wide promises."""

import subprocess
import sys


def test_import_does_not_load_tensorflow():
    code = ("import sys, recsys_lab, recsys_lab.baselines, recsys_lab.evaluate, "
            "recsys_lab.splits, recsys_lab.metrics, recsys_lab.datasets, recsys_lab.exercises, "
            "recsys_lab.plots, recsys_lab.widgets; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_seed_everything_repeats_numpy_streams():
    from recsys_lab import seed_everything

    first = seed_everything(7).random(3)
    again = seed_everything(7).random(3)
    assert (first == again).all()
