"""Fitted leaderboard rows kept on disk, so that a later page reuses a fit instead of repeating it.

Several pages fit the same registry entry on the same split: chapters 2, 3, 4 and 8 and
section 9.1 fit top-N rows that later ones among them and the top-N leaderboard (11b) fit
again, chapter 12 needs all of 11b's rows and chapter 14 chapter 3's two-tower model and
EASE, chapter 6 and section 7.1 fit sequence rows that 7.1 and the SEQ leaderboard (11c)
fit again, chapters 2, 4 and 10 and section 10.2 fit rating and new-user rows that 10.1 and
the leaderboards of 11a and 11d fit again, and chapter 9 fits cold-item rows that the
cold-item leaderboard (11f) fits again. A fit is deterministic (same seed, same numbers in
every fresh process), so a later page can read the earlier page's fitted model and its row
back instead of fitting it again, with the same scores to the last bit (every model class
pickles: ``Recommender.__getstate__``).

A :class:`ModelStore` is a folder of pickled ``(row, model)`` pairs, each named by a key
that covers everything the fit depends on: the entry (class, settings, members), the
training and test frames, the dataset's tables, the source of :mod:`recsys_lab` and the
versions of Python and of the numerical packages. Any change makes a new key, so a stale fit
is never served. ``make test``, ``make notebooks`` and ``make book`` set
``RECSYS_LAB_MODEL_STORE`` to ``_build/.model_store`` (emptied with the execution cache);
without it every page fits every model itself, as it does in JupyterLab.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import pickle
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

#: The environment variable that names the store's folder (unset: no store).
ENVIRONMENT = "RECSYS_LAB_MODEL_STORE"

#: The packages whose versions can change a fit's numbers.
_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "tensorflow", "keras")


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 of every ``recsys_lab/**/*.py`` file, Python's version and the packages'."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    for name in _PACKAGES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{name}=={version}".encode())
    return digest.hexdigest()


def frame_fingerprint(frame: pd.DataFrame | None) -> str:
    """SHA-256 of a frame's columns, dtypes, index and values (``"none"`` for None)."""
    if frame is None:
        return "none"
    digest = hashlib.sha256(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame.index).to_numpy().tobytes())
    for _, column in frame.items():
        if column.dtype == object:  # e.g. a film's list of genres: hashed by its text
            digest.update(repr(column.tolist()).encode())
        else:
            digest.update(pd.util.hash_pandas_object(column, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _array_fingerprint(array) -> str:
    if array is None:
        return "none"
    array = np.ascontiguousarray(array)
    return hashlib.sha256(repr((array.dtype.str, array.shape)).encode()
                          + array.tobytes()).hexdigest()


def fit_key(entry, data, train: pd.DataFrame, test: pd.DataFrame, candidates=None) -> str:
    """The store's name for ``entry`` fitted on ``train`` and scored on ``test``.

    ``entry`` is a :class:`recsys_lab.registry.Entry`, ``data`` the dataset its model is
    built from (its ``ratings``, ``items``, ``users`` and ``kg`` tables and sizes count),
    ``candidates`` the scored candidate items, if any.
    """
    tables = [frame_fingerprint(getattr(data, name, None))
              for name in ("ratings", "items", "users", "kg")]
    parts = [
        repr(entry), data.n_users, data.n_items, *tables,
        frame_fingerprint(train), frame_fingerprint(test), _array_fingerprint(candidates),
        code_fingerprint(),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


class ModelStore:
    """A folder of fitted ``(row, model)`` pairs, by :func:`fit_key`.

    Parameters
    ----------
    folder : str or path; created at the first :meth:`save`.

    :meth:`load` returns ``None`` for a key it does not hold; :meth:`save` writes a pair
    atomically (a temporary file renamed into place), so that a run stopped half-way
    leaves no partial file. ``hits`` and ``saves`` count what this object served and wrote.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.hits = 0
        self.saves = 0

    @classmethod
    def from_environment(cls) -> ModelStore | None:
        """The store named by ``$RECSYS_LAB_MODEL_STORE``, or None when it is unset or empty."""
        folder = os.environ.get(ENVIRONMENT, "").strip()
        return cls(folder) if folder else None

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.pkl"

    def load(self, key: str):
        """``(row, model)`` saved under ``key``, or ``None``.

        A file that cannot be read (damaged, or written by an incompatible version) is
        reported with a warning that names it and is treated as absent: the caller fits the
        model again and :meth:`save` replaces the file.
        """
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with path.open("rb") as file:
                row, model = pickle.load(file)
        except Exception as error:  # noqa: BLE001 - any unreadable file means "fit again"
            warnings.warn(f"the model store's file {path} could not be read "
                          f"({type(error).__name__}: {error}); the model is fitted again",
                          RuntimeWarning, stacklevel=2)
            return None
        self.hits += 1
        return dict(row), model

    def save(self, key: str, row: dict, model) -> None:
        """Write ``(row, model)`` under ``key``; a model that cannot be pickled raises."""
        payload = pickle.dumps((dict(row), model), protocol=pickle.HIGHEST_PROTOCOL)
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".partial")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(payload)
            os.replace(temporary, self.path(key))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.saves += 1

    def __repr__(self) -> str:
        return f"ModelStore({str(self.folder)!r})"
