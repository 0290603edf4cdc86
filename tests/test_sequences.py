"""Sequence plumbing: time order, left padding with shifted ids, next-item examples."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab.datasets import synthetic_sequences
from recsys_lab.sequences import (
    PAD,
    history_lengths,
    next_item_examples,
    pad_sequences,
    user_histories,
)


def small_frame():
    # Rows deliberately out of time order; user 1 has a tie at t=5 (input order kept).
    return pd.DataFrame({
        "user": [0, 0, 0, 2, 1, 1],
        "item": [7, 3, 5, 4, 8, 9],
        "timestamp": [30, 10, 20, 1, 5, 5],
    })


def test_user_histories_are_in_time_order_with_empty_users():
    histories = user_histories(small_frame(), n_users=4)
    assert len(histories) == 4
    np.testing.assert_array_equal(histories[0], [3, 5, 7])
    np.testing.assert_array_equal(histories[1], [8, 9])
    np.testing.assert_array_equal(histories[2], [4])
    assert histories[3].size == 0 and histories[0].dtype == np.int64
    np.testing.assert_array_equal(history_lengths(histories), [3, 2, 1, 0])


def test_user_histories_recover_the_synthetic_chain_order():
    data = synthetic_sequences(n_users=20, n_items=30, length=10, seed=1)
    shuffled = data.ratings.sample(frac=1.0, random_state=0)
    histories = user_histories(shuffled, data.n_users)
    expected = data.ratings["item"].to_numpy().reshape(20, 10)
    np.testing.assert_array_equal(np.stack(histories), expected)


def test_pad_sequences_left_pads_shifts_and_truncates():
    padded = pad_sequences([np.array([3, 5, 7]), np.array([0]), np.array([], dtype=int)], 2)
    np.testing.assert_array_equal(padded, [[6, 8], [PAD, 1], [PAD, PAD]])
    assert padded.dtype == np.int64


def test_next_item_examples_shift_by_one():
    examples = next_item_examples([np.array([3, 5, 7]), np.array([4]), np.array([1, 2])], 3)
    np.testing.assert_array_equal(examples.inputs, [[0, 4, 6], [0, 0, 0], [0, 0, 2]])
    np.testing.assert_array_equal(examples.targets, [[0, 5, 7], [0, 0, 0], [0, 0, 2]])
    np.testing.assert_array_equal(examples.mask, [[0, 1, 1], [0, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(examples.users, [0, 1, 2])
    # Wherever there is a target, the next column's input is that target (+1).
    inputs, targets, mask = examples.inputs, examples.targets, examples.mask
    np.testing.assert_array_equal(inputs[:, 1:][mask[:, :-1]], targets[:, :-1][mask[:, :-1]] + 1)


def test_next_item_examples_keep_the_most_recent_steps():
    examples = next_item_examples([np.arange(10)], 4)
    np.testing.assert_array_equal(examples.inputs, [[6, 7, 8, 9]])  # items 5..8, shifted
    np.testing.assert_array_equal(examples.targets, [[6, 7, 8, 9]])  # items 6..9


def test_all_windows_use_every_transition_exactly_once():
    history = np.arange(11)  # 10 transitions
    examples = next_item_examples([history, np.array([5])], 4, all_windows=True)
    assert examples.mask.sum() == 10
    np.testing.assert_array_equal(np.sort(examples.targets[examples.mask]), np.arange(1, 11))
    np.testing.assert_array_equal(examples.users, [0, 0, 0])
    # In 0, 1, ..., 10 the item after t is t + 1, which is also t's input id.
    mask = examples.mask
    np.testing.assert_array_equal(examples.inputs[mask], examples.targets[mask])


@pytest.mark.parametrize("stride", [1, 2, 3, 4])
def test_overlapping_windows_keep_each_transition_once_with_the_longest_history(stride):
    history = np.arange(12)  # 11 transitions; the item after t is t + 1
    examples = next_item_examples([history, np.array([5]), np.arange(3)], 4, all_windows=True,
                                  stride=stride)
    mask = examples.mask
    targets = examples.targets[mask]
    assert mask.sum() == 11 + 2
    np.testing.assert_array_equal(np.sort(targets[examples.users[np.nonzero(mask)[0]] == 0]),
                                  np.arange(1, 12))
    np.testing.assert_array_equal(examples.inputs[mask], targets)
    # Item t has t items before it; its row shows it at least max_len - stride + 1 of them.
    seen = (examples.inputs > 0).cumsum(axis=1)[mask]
    assert (seen >= np.minimum(targets, 4 - stride + 1)).all()
    assert stride == 1 or (seen < targets).any()


def test_a_stride_of_max_len_is_the_default_cut():
    histories = [np.arange(n) for n in (0, 1, 2, 7, 11, 23)]
    default = next_item_examples(histories, 5, all_windows=True)
    for got, expected in zip(next_item_examples(histories, 5, all_windows=True, stride=5),
                             default, strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("call, message", [
    (lambda: user_histories(small_frame().drop(columns="timestamp"), 3), "timestamp"),
    (lambda: user_histories(small_frame(), 2), "unknown id"),
    (lambda: user_histories(small_frame(), 0), "n_users"),
    (lambda: pad_sequences([np.array([1])], 0), "max_len"),
    (lambda: pad_sequences([np.array([-1])], 3), "negative"),
    (lambda: next_item_examples([np.array([1, 2])], 2.5), "max_len"),
    (lambda: next_item_examples([np.array([1, 2])], 3, all_windows=True, stride=4), "stride"),
    (lambda: next_item_examples([np.array([1, 2])], 3, all_windows=True, stride=0), "stride"),
    (lambda: next_item_examples([np.array([1, 2])], 3, stride=2), "all_windows"),
])
def test_bad_input_raises_a_named_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
