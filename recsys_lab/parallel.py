"""Independent jobs side by side in worker processes: folds fitted two at a time.

One small Keras fit on ML-100K keeps two cores about three-quarters busy: its batches are
too small to split well between two threads. Two fits in two processes fill the cores:
chapter 7.1's six SEQ folds (five models each, SASRec's fit most of the work) took 54 s
on two cores in two processes against 69 s one after another, process start-up included.

The results are those of the serial loop. Each worker is a fresh Python process
(``spawn``, never a copy of the caller made by ``fork``) that inherits the caller's
environment, so its TensorFlow and BLAS run on the caller's thread count
(:func:`recsys_lab.chapter.fix_threads` sets it there); and each model seeds its own fit
(:func:`recsys_lab.training.isolated_random_state`), whatever the process ran before.
Threads would not do: Python's and NumPy's global generators, which the fits seed, are
shared by every thread of a process.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor

from recsys_lab.validation import check_count


def map_in_processes(function: Callable, arguments: Iterable[tuple], n_jobs: int = 1) -> list:
    """``[function(*args) for args in arguments]``, computed on ``n_jobs`` worker processes.

    ``function`` must be importable by name (defined at the top level of a module, not in
    a notebook), and its arguments and results picklable; a fitted model of the book is.
    A script that calls it must do so under ``if __name__ == "__main__":``, since each
    worker imports the script that started it (Python's ``spawn``); a notebook need not.
    With ``n_jobs=1``, or a single job, everything runs here, in this process. Results come
    back in the order of ``arguments``. A job that fails raises its error here (the earliest
    in that order, if several fail) and cancels the jobs not yet started; the jobs already
    running finish first, as they do after an interrupt.
    """
    n_jobs = check_count(n_jobs, "n_jobs")
    jobs = [tuple(args) for args in arguments]
    if n_jobs == 1 or len(jobs) <= 1:
        return [function(*args) for args in jobs]
    try:
        pickle.dumps(function)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise TypeError(f"{function!r} cannot run in another process: define it at the top "
                        "level of a module (a function defined in a notebook cannot be "
                        "imported by the workers)") from error
    pool = ProcessPoolExecutor(min(n_jobs, len(jobs)),
                               mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = [pool.submit(function, *args) for args in jobs]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
