"""Package-wide promises: light imports, no TensorFlow where none is needed, a clean layering."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recsys_lab"


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=300, env={**os.environ, **env})


def _modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def test_import_does_not_load_tensorflow():
    """Every module outside the Keras model modules imports without TensorFlow or Keras."""
    keras_modules = ("_keras", "ncf", "autoencoders", "content", "sequential", "attention",
                     "gan", "graph", "features")
    names = [n for n in _modules() if not any(n == f"recsys_lab.models.{k}"
                                              for k in keras_modules)]
    code = (f"import importlib, sys\nfor name in {names!r}:\n    importlib.import_module(name)\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    assert _run(code).stdout.strip() == "[]"


_WITHOUT_TENSORFLOW = """
import importlib.abc, sys

class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in ("tensorflow", "keras"):
            raise ImportError(f"No module named {name!r} (blocked by the test)")

sys.meta_path.insert(0, NoTensorFlow())
from recsys_lab.baselines import GraphFilter, RP3beta, UserKNN
from recsys_lab.datasets import synthetic_ratings
from recsys_lab.models.mf import (WRMF, ALSMatrixFactorization, ImplicitALS,
                                  KerasMatrixFactorization, SGDMatrixFactorization)

frame = synthetic_ratings(n_users=20, n_items=15, seed=0).ratings
for model in (SGDMatrixFactorization(epochs=2), ALSMatrixFactorization(epochs=2),
              ImplicitALS(epochs=2), WRMF(n_factors=2, epochs=2), RP3beta(), UserKNN(),
              GraphFilter(n_components=4)):
    assert model.fit(frame, 20, 15).score_items([0]).shape == (1, 15)
try:
    KerasMatrixFactorization(epochs=1).fit(frame, 20, 15)
except ImportError as error:
    print("keras blocked:", "tensorflow" in str(error) or "keras" in str(error))
"""


def test_numpy_models_fit_without_tensorflow_installed():
    assert _run(_WITHOUT_TENSORFLOW).stdout.strip() == "keras blocked: True"


def test_keras_is_imported_without_redirecting_file_descriptors():
    """TensorFlow's C++ log is quieted by its own setting; a crash inside it still prints."""
    pytest.importorskip("tensorflow")
    code = ("import os\n"
            "def refuse(*args):\n    raise AssertionError('file descriptors redirected')\n"
            "os.dup2 = refuse\n"
            "import recsys_lab.models._keras\n"
            "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=env, timeout=300)
    assert quiet.stdout.strip() == "3"
    asked = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=env | {"TF_CPP_MIN_LOG_LEVEL": "0"}, timeout=300)
    assert asked.stdout.strip() == "0"


def _imports(path: Path, module: str, top_level_only: bool) -> set[str]:
    """The ``recsys_lab`` modules that ``module`` imports (resolving relative imports)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                package = module.split(".")[:-node.level + (path.name == "__init__.py")]
                base = ".".join([*package, node.module])
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("recsys_lab")}


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else "recsys_lab"


def test_layering_models_never_import_evaluation_or_exercises():
    modules = _modules()
    for name, path in modules.items():
        imported = _imports(path, name, top_level_only=False) & set(modules)
        if name.startswith("recsys_lab.models"):
            assert not {m for m in imported if m.startswith(("recsys_lab.evaluate",
                                                             "recsys_lab.exercises",
                                                             "recsys_lab.registry"))}, name
        if name.startswith("recsys_lab.scratch"):
            assert all(m.startswith("recsys_lab.scratch") for m in imported), name


def test_no_import_circles_between_folders_or_modules():
    modules = _modules()
    folder_edges, module_edges = set(), {}
    for name, path in modules.items():
        everywhere = _imports(path, name, top_level_only=False) & set(modules)
        folder_edges |= {(_folder(name), _folder(m)) for m in everywhere
                         if _folder(name) != _folder(m)}
        module_edges[name] = (_imports(path, name, top_level_only=True) & set(modules)) - {
            name}
    assert not {(a, b) for a, b in folder_edges if (b, a) in folder_edges}, folder_edges

    visiting, done = set(), set()

    def visit(node, trail):
        if node in done:
            return
        assert node not in visiting, f"import circle: {' -> '.join([*trail, node])}"
        visiting.add(node)
        for other in module_edges.get(node, ()):
            visit(other, [*trail, node])
        visiting.discard(node)
        done.add(node)

    for name in module_edges:
        visit(name, [])


def test_evaluation_lives_in_one_module():
    import recsys_lab

    for gone in ("sampling", "widgets.sweep", "sequences.next_item_ranks"):
        module, _, attribute = gone.partition(".")
        if not attribute:
            assert not (Path(recsys_lab.__file__).parent / f"{module}.py").exists()
            continue
        assert not hasattr(__import__(f"recsys_lab.{module}", fromlist=["x"]), attribute)
    from recsys_lab import evaluate

    for name in ("evaluate", "Validation", "sweep", "sampled_hit_rate", "full_hit_rate",
                 "ScoreCache", "next_item_ranks", "Leaderboard"):
        assert hasattr(evaluate, name), name


def test_seed_everything_repeats_numpy_streams():
    from recsys_lab import seed_everything

    first = seed_everything(7).random(3)
    again = seed_everything(7).random(3)
    assert (first == again).all()


def test_isolated_random_state_restores_the_globals_even_on_error():
    import random

    import numpy as np

    from recsys_lab.training import isolated_random_state

    random.seed(1)
    np.random.seed(1)
    python_state, numpy_state = random.getstate(), np.random.get_state()[1].copy()
    with pytest.raises(RuntimeError), isolated_random_state(5):
        assert np.random.random() == np.random.RandomState(5).random_sample()
        random.random()
        raise RuntimeError
    assert random.getstate() == python_state
    assert (np.random.get_state()[1] == numpy_state).all()
