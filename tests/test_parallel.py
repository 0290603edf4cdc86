"""map_in_processes: independent jobs in worker processes, results in order, errors raised."""

import os

import pytest

from recsys_lab.parallel import map_in_processes


def test_one_job_at_a_time_runs_here_in_order():
    assert map_in_processes(pow, [(2, 3), (3, 2), (5, 0)]) == [8, 9, 1]
    assert map_in_processes(os.getpid, [()]) == [os.getpid()]
    assert map_in_processes(pow, [], n_jobs=2) == []


def test_several_jobs_run_in_other_processes_and_come_back_in_order():
    assert map_in_processes(pow, [(2, k) for k in range(6)], n_jobs=2) == [1, 2, 4, 8, 16, 32]
    workers = set(map_in_processes(os.getpid, [()] * 4, n_jobs=2))
    assert os.getpid() not in workers and 1 <= len(workers) <= 2


def test_a_failing_job_raises_its_error_here():
    with pytest.raises(ValueError, match="invalid literal for int"):
        map_in_processes(int, [("1",), ("one",), ("3",)], n_jobs=2)


def test_a_function_the_workers_cannot_import_is_refused_before_any_process_starts():
    with pytest.raises(TypeError, match="top level of a module"):
        map_in_processes(lambda x: x, [(1,), (2,)], n_jobs=2)


@pytest.mark.parametrize("n_jobs", [0, -1, 1.5, True, "2"])
def test_n_jobs_must_be_a_positive_integer(n_jobs):
    with pytest.raises(ValueError, match="n_jobs must be a positive integer"):
        map_in_processes(pow, [(2, 3)], n_jobs=n_jobs)
