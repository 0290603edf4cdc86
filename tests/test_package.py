"""Package-wide promises."""

import os
import subprocess
import sys

import pytest


def test_import_does_not_load_tensorflow():
    """Every module outside ``recsys_lab.models`` imports without TensorFlow or Keras."""
    # pkgutil.walk_packages would import recsys_lab.models to list it: walk by hand instead.
    code = (
        "import importlib, pkgutil, sys, recsys_lab\n"
        "def walk(path, prefix):\n"
        "    for info in pkgutil.iter_modules(path, prefix):\n"
        "        if info.name == 'recsys_lab.models':\n"
        "            continue\n"
        "        module = importlib.import_module(info.name)\n"
        "        if info.ispkg:\n"
        "            walk(module.__path__, info.name + '.')\n"
        "walk(recsys_lab.__path__, 'recsys_lab.')\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_models_silence_tensorflows_cpp_log_unless_asked():
    """The C++ log, ERROR lines included, would reach the pages as stderr (chapters 6, 7, 9)."""
    pytest.importorskip("tensorflow")
    code = "import os, recsys_lab.models; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=env)
    assert quiet.stdout.strip() == "3" and quiet.stderr == ""
    asked = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=env | {"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert asked.stdout.strip() == "0"


def test_seed_everything_repeats_numpy_streams():
    from recsys_lab import seed_everything

    first = seed_everything(7).random(3)
    again = seed_everything(7).random(3)
    assert (first == again).all()
