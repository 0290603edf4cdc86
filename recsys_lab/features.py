"""Item and user side information turned into arrays that models can use."""

from __future__ import annotations

import numpy as np
import pandas as pd


def genre_matrix(items: pd.DataFrame, genres=None) -> np.ndarray:
    """Binary ``(n_items, n_genres)`` matrix: entry ``[i, g]`` is 1 if item ``i`` has genre ``g``.

    ``items`` has columns ``item`` (contiguous 0-based ids) and ``genres`` (a list of names
    per item); ``genres`` fixes the column order (default: sorted names found).
    """
    if not {"item", "genres"} <= set(items.columns):
        raise ValueError(f"items needs columns 'item' and 'genres', has {list(items.columns)}")
    genres = sorted({g for names in items["genres"] for g in names}) if genres is None else genres
    column = {name: j for j, name in enumerate(genres)}
    matrix = np.zeros((int(items["item"].max()) + 1, len(genres)))
    for item, names in zip(items["item"], items["genres"], strict=True):
        for name in names:
            if name not in column:
                raise ValueError(f"item {item} has genre {name!r}, not among {genres}")
            matrix[item, column[name]] = 1.0
    return matrix
