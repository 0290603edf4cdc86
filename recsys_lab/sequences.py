"""Sequences of interactions for next-item models (chapters 6 and 7), in NumPy only.

Three steps turn an interaction frame into what a sequence model eats:

1. :func:`user_histories` — each user's items in time order, one int array per user.
2. :func:`pad_sequences` — a fixed-length ``(n, max_len)`` matrix, left-padded, with item
   ids shifted by +1 so that ``0`` means "no item" (``keras.layers.Embedding(mask_zero=True)``
   and attention masks rely on that).
3. :func:`next_item_examples` — inputs and targets shifted by one step, with a mask: at every
   position ``t`` the model sees items ``..., x_t`` and must predict ``x_{t+1}``.

Conventions (stable: chapter 7 relies on them)

* Padded *inputs* hold ``item + 1`` (``0`` is padding). *Targets* hold the raw item id
  ``0..n_items-1`` (a class index for a softmax over the items), ``0`` where masked.
* Padding is on the left, so the most recent item is always in the last column and a model's
  output at position ``max_len - 1`` scores the next item.
* Histories longer than ``max_len`` keep their most recent ``max_len`` items.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from recsys_lab.splits import sort_by_time
from recsys_lab.validation import check_count, check_interactions

PAD = 0
"""The input id of padding; real item ``i`` is input id ``i + 1``."""


def user_histories(frame: pd.DataFrame, n_users: int) -> list[np.ndarray]:
    """Each user's item ids in time order.

    Parameters
    ----------
    frame : DataFrame with ``user``, ``item`` and ``timestamp`` columns. Ties in time keep
        the order of the frame (stable sort, :func:`recsys_lab.splits.sort_by_time`).
    n_users : size of the user id space; users must lie in ``[0, n_users)``.

    Returns
    -------
    list of ``n_users`` int64 arrays; entry ``u`` holds user ``u``'s items, oldest first
    (empty for a user absent from ``frame``).
    """
    n_users = check_count(n_users, "n_users")
    frame = check_interactions(frame, name="frame", columns=("user", "item", "timestamp"),
                               n_users=n_users)
    ordered = sort_by_time(frame)
    users = ordered["user"].to_numpy().astype(np.int64)
    items = ordered["item"].to_numpy().astype(np.int64)
    ends = np.cumsum(np.bincount(users, minlength=n_users))
    return np.split(items, ends[:-1])


def _check_max_len(max_len) -> int:
    if not isinstance(max_len, (int, np.integer)) or max_len < 1:
        raise ValueError(f"max_len must be a positive integer, got {max_len!r}")
    return int(max_len)


def _check_stride(stride, max_len: int, all_windows: bool) -> int:
    if stride is None:
        return max_len
    if not all_windows:
        raise ValueError("stride applies to all_windows=True only: without it each history "
                         "gives one window")
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) \
            or not 1 <= stride <= max_len:
        raise ValueError(f"stride must be an integer from 1 to max_len={max_len}, got {stride!r}")
    return int(stride)


def pad_sequences(histories, max_len: int) -> np.ndarray:
    """Left-pad (or truncate to the most recent ``max_len``) histories into one matrix.

    Parameters
    ----------
    histories : sequence of ``n`` int arrays of item ids ``>= 0`` (e.g. :func:`user_histories`).
    max_len : number of columns.

    Returns
    -------
    ``(n, max_len)`` int64 array of input ids ``item + 1``; ``0`` (``PAD``) on the left where a
    history is shorter than ``max_len``. Row ``i``'s last column is history ``i``'s last item.
    """
    max_len = _check_max_len(max_len)
    padded = np.zeros((len(histories), max_len), dtype=np.int64)
    for row, history in enumerate(histories):
        recent = np.asarray(history, dtype=np.int64)[-max_len:]
        if recent.size and recent.min() < 0:
            raise ValueError(f"history {row} has a negative item id {int(recent.min())}")
        if recent.size:
            padded[row, max_len - recent.size:] = recent + 1
    return padded


class NextItemExamples(NamedTuple):
    """Training examples for next-item prediction, one row per (window of a) history.

    inputs : ``(n, max_len)`` int64, input ids ``item + 1``, ``0`` = padding (left).
    targets : ``(n, max_len)`` int64, raw item id of the *next* item at each position,
        ``0`` where ``mask`` is False.
    mask : ``(n, max_len)`` bool, True where ``targets`` is a real next item.
    users : ``(n,)`` int64, the history (user) each row comes from.
    """

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    users: np.ndarray


def next_item_examples(histories, max_len: int, all_windows: bool = False,
                       stride: int | None = None) -> NextItemExamples:
    """Inputs ``x_1..x_{L-1}`` and targets ``x_2..x_L`` of each history, padded on the left.

    Parameters
    ----------
    histories : sequence of int arrays of item ids (e.g. :func:`user_histories`).
    max_len : length of each row (the number of prediction steps it holds).
    all_windows : if False, one row per history with its most recent ``max_len`` steps
        (histories with fewer than two items give an all-masked row, so row ``i`` is history
        ``i``). If True, a long history is cut into consecutive windows of ``max_len`` steps
        from its end backwards, so every transition is a target exactly once; histories with
        fewer than two items give no row.
    stride : with ``all_windows``, a window ends every ``stride`` steps from the end of a
        history (default ``max_len``: consecutive windows share one item). A smaller stride
        makes the windows overlap; each transition is still a target exactly once, in the
        window that gives it the longest history: the last ``stride`` positions of each
        window, and every position of a history's earliest window. A target then sees at
        least ``max_len − stride + 1`` items before it, when its history has them, as the
        last position does when a model scores; the price is ``max_len / stride`` times as
        many rows.

    Returns
    -------
    :class:`NextItemExamples` ``(inputs, targets, mask, users)``.
    """
    max_len = _check_max_len(max_len)
    stride = _check_stride(stride, max_len, all_windows)
    windows, owners, new_targets = [], [], []
    for row, history in enumerate(histories):
        history = np.asarray(history, dtype=np.int64)
        if not all_windows:
            windows.append(history[-(max_len + 1):])
            owners.append(row)
            continue
        # Windows of max_len + 1 items cut from the end backwards, one every `stride` steps.
        for end in range(len(history), 1, -stride):
            windows.append(history[max(0, end - max_len - 1):end])
            owners.append(row)
            # The window ending `stride` steps earlier holds the rest, with less history.
            new_targets.append(stride if end - stride > 1 else max_len)
    inputs = pad_sequences([w[:-1] for w in windows], max_len)
    targets_shifted = pad_sequences([w[1:] for w in windows], max_len)
    mask = targets_shifted > 0
    if stride < max_len:
        mask &= np.arange(max_len) >= max_len - np.array(new_targets)[:, None]
    targets = np.where(mask, targets_shifted - 1, 0)
    return NextItemExamples(inputs, targets, mask, np.asarray(owners, dtype=np.int64))


def history_lengths(histories) -> np.ndarray:
    """``(n,)`` int64 array: the number of items in each history."""
    return np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
