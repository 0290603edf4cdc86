"""tf.distribute on one machine (recsys_lab.distributed): same losses, no leftover process."""

import os
from pathlib import Path

import numpy as np
import pytest

from recsys_lab.distributed import (
    KERAS_FIT_NOTE,
    WorkerError,
    _batches,
    parameter_server_demo,
    train_two_tower,
)

pytest.importorskip("tensorflow")

N_USERS, N_ITEMS, DIM = 60, 40, 8


def _pairs(n=3000, seed=0):
    """Pairs with structure to learn: each user mostly picks from 3 items of its own."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, N_USERS, n)
    items = (users * 7 + rng.integers(0, 3, n)) % N_ITEMS
    return users, items


def _all_children() -> list[int]:
    """Process ids of every live descendant of this test process."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return [p.pid for p in psutil.Process().children(recursive=True)
                if p.status() != psutil.STATUS_ZOMBIE]
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = [], {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        found += frontier
    return found


def _children(before: set[int]) -> list[int]:
    """Live descendants started since ``before`` was taken: other tests may leave helpers
    running on purpose (multiprocessing's resource tracker), and they are not ours."""
    return [pid for pid in _all_children() if pid not in before]


@pytest.fixture(scope="module")
def runs():
    before = set(_all_children())
    users, items = _pairs()
    settings = dict(global_batch=64, steps=15, embedding_dim=DIM, learning_rate=0.05, seed=3,
                    timeout=120)
    one = train_two_tower(users, items, N_USERS, N_ITEMS, n_workers=1, softmax_groups=2,
                          **settings)
    after_one = _children(before)
    two = train_two_tower(users, items, N_USERS, N_ITEMS, n_workers=2, **settings)
    return one, two, after_one + _children(before)


def test_two_workers_reproduce_the_one_process_losses(runs):
    one, two, _ = runs
    assert one.losses.shape == two.losses.shape == (15,)
    assert np.all(np.isfinite(two.losses))
    np.testing.assert_allclose(two.losses, one.losses, rtol=0, atol=1e-4)
    # The model learns, so the match is not two runs that did nothing.
    assert two.losses[-3:].mean() < two.losses[:3].mean() - 0.1


def test_the_run_reports_its_sizes_and_costs(runs):
    one, two, _ = runs
    assert (one.n_workers, two.n_workers) == (1, 2)
    assert one.global_batch == two.global_batch == 64
    # Two embedding tables, float32, no feature weights: the gradient of every step.
    assert two.gradient_bytes == one.gradient_bytes == 4 * (N_USERS + N_ITEMS) * DIM
    assert two.ring_bytes_per_worker == two.gradient_bytes  # 2 (N - 1) / N with N = 2
    assert one.ring_bytes_per_worker == 0
    assert 0 < two.seconds_per_step < two.wall_seconds


def test_no_worker_outlives_a_run(runs):
    assert runs[2] == []


def test_a_different_softmax_grouping_gives_different_losses(runs):
    """The reference must cut the batch as the workers do: one softmax over 64 differs."""
    one, _, _ = runs
    users, items = _pairs()
    whole = train_two_tower(users, items, N_USERS, N_ITEMS, n_workers=1, softmax_groups=1,
                            global_batch=64, steps=3, embedding_dim=DIM, learning_rate=0.05,
                            seed=3)
    assert not np.allclose(whole.losses, one.losses[:3], atol=1e-3)


def test_a_failing_worker_raises_with_its_stderr_and_leaves_no_process():
    before = set(_all_children())
    users, items = _pairs()
    with pytest.raises(WorkerError, match=r"(?s)worker 1 exited with code 1.*injected failure"):
        train_two_tower(users, items, N_USERS, N_ITEMS, n_workers=2, global_batch=64,
                        steps=2, _fail_worker=1)
    assert _children(before) == []


def test_workers_past_the_deadline_are_killed():
    before = set(_all_children())
    users, items = _pairs()
    with pytest.raises(WorkerError, match=r"did not finish within timeout=0.5 s"):
        train_two_tower(users, items, N_USERS, N_ITEMS, n_workers=2, global_batch=64,
                        steps=2, timeout=0.5)
    assert _children(before) == []


def test_parameter_servers_hold_one_block_of_the_item_table_each():
    before = set(_all_children())
    users, items = _pairs()
    run = parameter_server_demo(users, items, N_USERS, N_ITEMS, steps=3, batch_size=8,
                                embedding_dim=DIM, timeout=120)
    assert len(run.shards) == 2
    assert sum(shard["rows"] for shard in run.shards) == run.n_items == N_ITEMS
    assert {shard["columns"] for shard in run.shards} == {DIM}
    devices = [shard["device"] for shard in run.shards]
    assert "/job:ps/replica:0/task:0" in devices[0] and "/job:ps/replica:0/task:1" in devices[1]
    assert run.losses.shape == (3,) and np.all(np.isfinite(run.losses))
    # The rows read back from the servers changed exactly for the items the worker saw.
    seen = np.unique(items[_batches(len(items), 8, 3, seed=0)])
    assert run.rows_updated == len(seen) < N_ITEMS
    assert _children(before) == []


@pytest.mark.parametrize(("arguments", "message"), [
    ({"n_workers": 0}, "n_workers must be an integer >= 1, got 0"),
    ({"steps": 0}, "steps must be an integer >= 1, got 0"),
    ({"global_batch": 63}, "global_batch=63 must be divisible by n_workers=2"),
    ({"global_batch": 64, "softmax_groups": 3}, "softmax_groups=3 must be a multiple of "
                                                "n_workers=2"),
    ({"global_batch": 2}, "fewer than 2 pairs per softmax group"),
    ({"items": np.arange(5)}, "users and items must have the same length, got 3000 and 5"),
    ({"users": np.full(3000, N_USERS)}, r"users must lie in \[0, 60\)"),
    ({"items": np.zeros(3000)}, "items must be a 1-D array of integer ids"),
    ({"timeout": 0}, "timeout must be a positive finite number"),
    ({"learning_rate": float("nan")}, "learning_rate must be a positive finite number"),
])
def test_bad_arguments_raise_before_any_process_starts(arguments, message):
    users, items = _pairs()
    arguments = {"users": users, "items": items, **arguments}
    with pytest.raises(ValueError, match=message):
        train_two_tower(arguments.pop("users"), arguments.pop("items"), N_USERS, N_ITEMS,
                        **arguments)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"n_ps": 0}, "n_ps must be an integer >= 1, got 0"),
    ({"n_ps": N_ITEMS + 1}, "n_ps=41 is more than n_items=40"),
    ({"batch_size": 1}, "batch_size must be at least 2"),
    ({"steps": -1}, "steps must be an integer >= 1, got -1"),
])
def test_bad_parameter_server_arguments(arguments, message):
    users, items = _pairs()
    with pytest.raises(ValueError, match=message):
        parameter_server_demo(users, items, N_USERS, N_ITEMS, **arguments)


def test_the_keras_fit_finding_is_recorded():
    assert "PerReplica" in KERAS_FIT_NOTE and "strategy.run" in KERAS_FIT_NOTE
