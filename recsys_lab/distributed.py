"""Data-parallel training with ``tf.distribute`` on one machine, in worker processes.

Two demonstrations for the "Scaling out" chapter, each run in child processes so the
caller's Python (a notebook kernel) never starts a TensorFlow server it could not stop:

* :func:`train_two_tower` — synchronous data parallelism. ``n_workers`` processes on
  localhost, each given its ``TF_CONFIG``, build the same two-tower network
  (:func:`recsys_lab.models.ncf.two_tower_network`) under
  ``tf.distribute.MultiWorkerMirroredStrategy``; every step each worker computes the
  gradient on its share of the global batch, and a ring all-reduce sums the gradients so
  that every worker applies the same update. ``n_workers=1`` runs the same step in one
  process under the default strategy, the reference the multi-worker losses must match.
* :func:`parameter_server_demo` — ``tf.distribute.ParameterServerStrategy`` with an
  in-process cluster (two parameter servers, one worker, this child being the coordinator):
  a variable partitioner splits the item embedding table into row blocks, one per
  parameter server, and a ``ClusterCoordinator`` schedules the training steps. TensorFlow
  has no call that stops a ``tf.distribute.Server``, hence the child process, which exits
  when the demo is done.

The workers get their inputs and settings from files in a temporary folder and worker 0
(the chief) writes the result there as JSON, atomically. Each worker runs on the CPU with
one intra-op and one inter-op thread, in its own process group: whatever happens (an error,
a deadline, an interrupted notebook cell), the group is killed before the call returns.

Why a custom training step: on this stack (TensorFlow 2.21, Keras 3.15) Keras' ``fit`` does
not accept a multi-worker distributed dataset; see :data:`KERAS_FIT_NOTE` for what was tried.
A step run by ``strategy.run`` on the Keras network works, and shows the mechanics anyway.

On one machine with two cores nothing gets faster: both workers share the cores, and the
all-reduce adds a gRPC round trip per step. What the chapter can measure is the cost:
:attr:`TrainingRun.gradient_bytes`, the bytes of gradient that every step reduces.

Run ``python -m recsys_lab.distributed worker FOLDER INDEX`` only through these functions.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["KERAS_FIT_NOTE", "ParameterServerRun", "TrainingRun", "WorkerError",
           "parameter_server_demo", "train_two_tower"]

KERAS_FIT_NOTE = (
    "Checked on 2026-12-05 with TensorFlow 2.21.0 and Keras 3.15.1, two local workers under "
    "MultiWorkerMirroredStrategy, a one-layer Keras model compiled in strategy.scope(): "
    "model.fit fails on both a plain tf.data dataset and strategy.experimental_distribute_"
    "dataset(...), with ValueError 'Attempt to convert a value (PerReplica:{...}) to a "
    "Tensor'. A custom step run by strategy.run on the same Keras layers trains correctly.")

_RESULT = "result.json"
_STDERR_TAIL = 2000  # characters of each worker's stderr quoted in an error


class WorkerError(RuntimeError):
    """A worker process failed or ran past its deadline; the message quotes its stderr."""


@dataclass(frozen=True)
class TrainingRun:
    """What :func:`train_two_tower` measured.

    Attributes
    ----------
    losses : ndarray, shape ``(steps,)``, float
        The training loss of each step on the whole global batch (mean over its pairs).
    seconds_per_step : float
        Median wall time of one step after the first (which traces the step), on worker 0.
    wall_seconds : float
        Wall time of the whole call: starting the processes, importing TensorFlow, training.
    gradient_bytes : int
        Bytes of one full gradient, ``4 × (number of trainable float32 values)``; every step
        all-reduces this much (see :func:`train_two_tower` for what a ring sends).
    n_workers : int
        Worker processes (one replica each).
    global_batch : int
        Pairs per step over all workers; each worker takes ``global_batch / n_workers``.
    """

    losses: np.ndarray
    seconds_per_step: float
    wall_seconds: float
    gradient_bytes: int
    n_workers: int
    global_batch: int

    @property
    def ring_bytes_per_worker(self) -> float:
        """Bytes each worker sends per step in a ring all-reduce: ``2 (N − 1) / N × G``."""
        return 2 * (self.n_workers - 1) / self.n_workers * self.gradient_bytes


@dataclass(frozen=True)
class ParameterServerRun:
    """What :func:`parameter_server_demo` measured.

    Attributes
    ----------
    shards : list of dict
        One per block of the item embedding table: ``{"device": str, "rows": int,
        "columns": int}``, ``device`` naming the parameter server that holds it.
    n_items : int
        Rows of the whole item table (the shards' rows add up to it).
    losses : ndarray, shape ``(steps,)``, float
        The loss of each scheduled step, in order.
    rows_updated : int
        Rows of the item table, read back from the parameter servers after training, that
        differ from their initial values (the items of the batches the worker trained on).
    wall_seconds : float
        Wall time of the whole call, the child process's start included.
    """

    shards: list
    n_items: int
    losses: np.ndarray
    rows_updated: int
    wall_seconds: float


# --------------------------------------------------------------------------------------------
# Validation (in the caller's process, before any worker starts)
# --------------------------------------------------------------------------------------------


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not (
            0 < value < math.inf):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _pairs(users, items, n_users, n_items) -> tuple[np.ndarray, np.ndarray]:
    users, items = np.asarray(users), np.asarray(items)
    for name, ids, n in (("users", users, n_users), ("items", items, n_items)):
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{name} must be a 1-D array of integer ids, got dtype "
                             f"{ids.dtype} and shape {ids.shape}")
        if len(ids) and (ids.min() < 0 or ids.max() >= n):
            raise ValueError(f"{name} must lie in [0, {n}), got ids from {ids.min()} to "
                             f"{ids.max()}")
    if len(users) != len(items):
        raise ValueError(f"users and items must have the same length, got {len(users)} and "
                         f"{len(items)}")
    if len(users) == 0:
        raise ValueError("users and items are empty: there is nothing to train on")
    return users.astype(np.int32), items.astype(np.int32)


def _batches(n_pairs: int, global_batch: int, steps: int, seed: int) -> np.ndarray:
    """Row numbers of each step's global batch, ``(steps, global_batch)``: shuffled epochs."""
    rng = np.random.default_rng(seed)
    epochs = -(-steps * global_batch // n_pairs)
    order = np.concatenate([rng.permutation(n_pairs) for _ in range(epochs)])
    return order[:steps * global_batch].reshape(steps, global_batch)


# --------------------------------------------------------------------------------------------
# Starting, watching and stopping worker processes
# --------------------------------------------------------------------------------------------


def _free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports on localhost that were free a moment ago.

    Another program could take one before a worker binds it; the worker then fails at start
    and :func:`_run_workers` reports it (a rare race; running again picks new ports).
    """
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _worker_environment(tf_config: dict | None) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    # One core each, no GPU, TensorFlow's C++ log at errors only.
    env.update({"CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3",
                "OMP_NUM_THREADS": "1", "KERAS_BACKEND": "tensorflow",
                "PYTHONUNBUFFERED": "1"})
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no stderr)"
    return text[-_STDERR_TAIL:].strip() or "(empty stderr)"


def _kill(processes) -> None:
    """SIGKILL each worker's process group (each worker leads its own), then reap it."""
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
            pass


def _run_workers(folder: Path, mode: str, environments: list[dict], timeout: float) -> dict:
    """Start one worker per environment, wait for all, return worker 0's JSON result.

    Every worker is killed (with its process group) by the time this returns or raises.
    Raises :class:`WorkerError` if a worker exits with an error, or at the deadline.
    """
    processes, logs = [], []
    start = time.monotonic()
    try:
        for index, env in enumerate(environments):
            log = folder / f"worker{index}.stderr"
            logs.append(log)
            with open(log, "wb") as stderr, open(folder / f"worker{index}.stdout", "wb") as out:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "recsys_lab.distributed", mode, str(folder),
                     str(index)], stdout=out, stderr=stderr, stdin=subprocess.DEVNULL,
                    env=env, start_new_session=True))
        while True:
            codes = [process.poll() for process in processes]
            failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                _kill(processes)
                raise WorkerError("; ".join(
                    f"worker {i} exited with code {codes[i]}; its stderr ends with:\n"
                    f"{_tail(logs[i])}" for i in failed))
            if all(code == 0 for code in codes):
                break
            if time.monotonic() - start > timeout:
                _kill(processes)
                raise WorkerError(
                    f"the workers did not finish within timeout={timeout:g} s and were "
                    "killed; their stderr ends with:\n" + "\n".join(
                        f"[worker {i}] {_tail(log)}" for i, log in enumerate(logs)))
            time.sleep(0.05)
    finally:
        _kill(processes)
    result = folder / _RESULT
    if not result.exists():
        raise WorkerError(f"worker 0 exited without writing {_RESULT}; its stderr ends "
                          f"with:\n{_tail(logs[0])}")
    return json.loads(result.read_text())


def _write_json_atomically(path: Path, value) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value))
    os.replace(partial, path)  # a reader sees the whole file or none


# --------------------------------------------------------------------------------------------
# Multi-worker mirrored training of the two-tower model
# --------------------------------------------------------------------------------------------


def train_two_tower(users, items, n_users: int, n_items: int, *, n_workers: int = 2,
                    global_batch: int = 1024, steps: int = 100, embedding_dim: int = 32,
                    learning_rate: float = 0.05, temperature: float = 1.0,
                    softmax_groups: int | None = None, seed: int = 0,
                    timeout: float = 120.0, _fail_worker: int | None = None) -> TrainingRun:
    """Train a two-tower model for ``steps`` steps on ``n_workers`` local processes.

    Each step takes the next ``global_batch`` pairs of a seeded shuffle (the same batches
    whatever ``n_workers``) and cuts them into ``n_workers`` contiguous shares, worker ``w``
    getting the ``w``-th (``distribute_datasets_from_function``, sharded by hand, not
    auto-sharded). Worker ``w`` computes its share's loss scaled by ``share / global_batch``
    (what ``tf.nn.compute_average_loss(..., global_batch_size=global_batch)`` does), so that
    the all-reduced **sum** of the workers' gradients (Keras' optimizer sums over replicas)
    is the gradient of the mean loss over the global batch. Every worker starts from the same
    weights (the same ``seed``) and applies the same summed gradient, so the losses match
    the one-process run up to the order of floating-point additions.

    The loss is :func:`recsys_lab.models.ncf.in_batch_softmax_loss` with the logQ
    correction. A worker only holds its share of the batch, so the in-batch negatives are
    the other positives of the same share: the global batch is cut into ``softmax_groups``
    equal groups (default ``n_workers``), each its own softmax. A one-process reference for
    a two-worker run is therefore ``n_workers=1, softmax_groups=2``.

    All-reduce cost: the gradient has ``G = gradient_bytes`` bytes (dense, float32). A ring
    all-reduce over ``N`` workers sends ``2 (N − 1) / N × G`` bytes per worker per step (a
    reduce-scatter then an all-gather, each passing ``(N − 1)`` blocks of ``G / N``), nearly
    ``2 G`` for large ``N`` whatever the number of workers. The embedding gradients are
    sparse (``IndexedSlices``: one row per pair of the share); TensorFlow all-gathers those
    rows and their ids instead of the dense table, so ``G`` is the dense upper bound.

    Parameters
    ----------
    users, items : int arrays, shape ``(n_pairs,)``
        The observed (user, item) pairs, ids in ``[0, n_users)`` and ``[0, n_items)``.
    n_users, n_items : int
        Sizes of the embedding tables.
    n_workers : int
        Processes, one replica each: 1 runs under the default strategy,
        more under ``MultiWorkerMirroredStrategy`` on localhost ports chosen at run time.
    global_batch, steps : int
        Pairs per step over all workers (divisible by ``softmax_groups``), and steps.
    embedding_dim, learning_rate, temperature, seed : the model's size, Adam's step, the
        softmax temperature, and the seed of the weights and of the batch order.
    softmax_groups : int or None
        In-batch softmax groups per global batch, a multiple of ``n_workers``.
    timeout : float
        Seconds the workers may take in all (TensorFlow's import included); then they are
        killed and :class:`WorkerError` is raised.

    Returns
    -------
    TrainingRun

    Raises
    ------
    ValueError
        For bad arguments, before any process starts.
    WorkerError
        If a worker fails or runs out of time (the message quotes each worker's stderr).
        No worker process outlives the call, whatever happens.
    """
    n_users, n_items = _positive_int(n_users, "n_users"), _positive_int(n_items, "n_items")
    users, items = _pairs(users, items, n_users, n_items)
    n_workers = _positive_int(n_workers, "n_workers")
    global_batch = _positive_int(global_batch, "global_batch")
    steps = _positive_int(steps, "steps")
    embedding_dim = _positive_int(embedding_dim, "embedding_dim")
    learning_rate = _positive_float(learning_rate, "learning_rate")
    temperature = _positive_float(temperature, "temperature")
    timeout = _positive_float(timeout, "timeout")
    groups = n_workers if softmax_groups is None else _positive_int(softmax_groups,
                                                                     "softmax_groups")
    if groups % n_workers:
        raise ValueError(f"softmax_groups={groups} must be a multiple of n_workers="
                         f"{n_workers}: each worker holds whole groups")
    if global_batch % groups:
        raise ValueError(f"global_batch={global_batch} must be divisible by "
                         f"{'softmax_groups' if softmax_groups else 'n_workers'}={groups}")
    if global_batch // groups < 2:
        raise ValueError(f"global_batch={global_batch} leaves fewer than 2 pairs per softmax "
                         f"group ({groups} groups): an in-batch softmax needs negatives")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")

    counts = np.bincount(items, minlength=n_items)
    log_q = np.log(np.maximum(counts, 1) / counts.sum()).astype(np.float32)
    rows = _batches(len(users), global_batch, steps, int(seed))
    config = {"n_users": n_users, "n_items": n_items, "n_workers": n_workers,
              "global_batch": global_batch, "steps": steps, "embedding_dim": embedding_dim,
              "learning_rate": learning_rate, "temperature": temperature, "groups": groups,
              "seed": int(seed), "fail_worker": _fail_worker, "timeout": timeout}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recsys_lab_distributed_") as name:
        folder = Path(name)
        np.savez(folder / "inputs.npz", users=users[rows], items=items[rows], log_q=log_q)
        (folder / "config.json").write_text(json.dumps(config))
        if n_workers == 1:
            environments = [_worker_environment(None)]
        else:
            ports = _free_ports(n_workers)
            cluster = {"worker": [f"localhost:{port}" for port in ports]}
            environments = [_worker_environment({"cluster": cluster,
                                                 "task": {"type": "worker", "index": i}})
                            for i in range(n_workers)]
        result = _run_workers(folder, "worker", environments, timeout)
    if result["replicas"] != n_workers:
        raise WorkerError(f"the strategy ran {result['replicas']} replicas in sync, expected "
                          f"one per worker ({n_workers})")
    return TrainingRun(losses=np.asarray(result["losses"], dtype=float),
                       seconds_per_step=float(result["seconds_per_step"]),
                       wall_seconds=time.perf_counter() - started,
                       gradient_bytes=int(result["gradient_bytes"]), n_workers=n_workers,
                       global_batch=global_batch)


def _ncf():
    """:mod:`recsys_lab.models.ncf`, the two-tower model, imported by name in a worker.

    By name, as :mod:`recsys_lab.registry` imports the models: the package's top-level
    modules sit above ``models`` in the layering and hold no import statement into it.
    """
    return importlib.import_module("recsys_lab.models.ncf")


def _quiet_tensorflow(inter_op_threads: int = 1):
    """TensorFlow on one core per process, imported with its Python log at errors only."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)
    return tf


def _worker_main(folder: Path, index: int) -> None:
    """One worker of :func:`train_two_tower` (run in its own process)."""
    config = json.loads((folder / "config.json").read_text())
    if config["fail_worker"] == index:  # for the tests: a worker that dies at start
        raise RuntimeError(f"injected failure in worker {index}")
    tf = _quiet_tensorflow()
    n_workers, groups = config["n_workers"], config["groups"]
    # The strategy must exist before any other TensorFlow op: it starts this worker's server.
    strategy = (tf.distribute.MultiWorkerMirroredStrategy() if n_workers > 1
                else tf.distribute.get_strategy())

    import keras

    ncf = _ncf()

    inputs = np.load(folder / "inputs.npz")
    global_batch, share = config["global_batch"], config["global_batch"] // n_workers
    group_size = config["global_batch"] // groups
    shares = slice(index * share, (index + 1) * share)
    users, items = inputs["users"][:, shares], inputs["items"][:, shares]

    def dataset(context=None):
        # Worker `index` reads its own contiguous share of every global batch (sharded here by
        # hand, not by tf.data's auto-sharding), so the shares are exactly the batch's halves.
        return tf.data.Dataset.from_tensor_slices((users, items))

    keras.utils.set_random_seed(config["seed"])
    with strategy.scope():
        network = ncf.two_tower_network(config["n_users"], config["n_items"], 0, 0,
                                        config["embedding_dim"], ())
        optimizer = keras.optimizers.Adam(config["learning_rate"])
        optimizer.build(network.trainable_variables)
    variables = network.trainable_variables
    gradient_bytes = 4 * sum(int(np.prod(v.shape)) for v in variables)
    log_q = tf.constant(inputs["log_q"])
    temperature = config["temperature"]
    no_features = tf.zeros((share, 0))

    def replica_step(batch_users, batch_items):
        with tf.GradientTape() as tape:
            vectors = network({"user": batch_users, "user_features": no_features,
                               "item": batch_items, "item_features": no_features},
                              training=True)
            group_losses = [
                ncf.in_batch_softmax_loss(vectors["user_vector"][g:g + group_size],
                                          vectors["item_vector"][g:g + group_size],
                                          batch_items[g:g + group_size],
                                          tf.gather(log_q, batch_items[g:g + group_size]),
                                          temperature)
                for g in range(0, share, group_size)]
            # This replica's part of the mean over the global batch (compute_average_loss).
            loss = tf.add_n(group_losses) * (group_size / global_batch)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    @tf.function
    def step(batch):
        per_replica = strategy.run(replica_step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    distributed = strategy.distribute_datasets_from_function(
        dataset, tf.distribute.InputOptions(experimental_fetch_to_device=False))
    losses, seconds = [], []
    for batch in distributed:
        tick = time.perf_counter()
        losses.append(float(step(batch)))  # float() waits for the step to finish
        seconds.append(time.perf_counter() - tick)
    if index == 0:  # the chief reports; the others' losses are the same numbers
        _write_json_atomically(folder / _RESULT, {
            "losses": losses, "gradient_bytes": gradient_bytes,
            "replicas": int(strategy.num_replicas_in_sync),
            "seconds_per_step": float(np.median(seconds[1:] if len(seconds) > 1 else seconds))})


# --------------------------------------------------------------------------------------------
# Parameter servers: an item table sharded across two of them
# --------------------------------------------------------------------------------------------


def parameter_server_demo(users, items, n_users: int, n_items: int, *, n_ps: int = 2,
                          batch_size: int = 256, steps: int = 5, embedding_dim: int = 16,
                          learning_rate: float = 1.0, seed: int = 0,
                          timeout: float = 120.0) -> ParameterServerRun:
    """Shard the item embedding table across ``n_ps`` parameter servers and train a little.

    In a child process (a TensorFlow server cannot be shut down, so it must not live in the
    caller's kernel): start ``n_ps`` parameter servers and one worker as in-process
    ``tf.distribute.Server`` objects, the child itself being the coordinator ("chief"), and
    create the two embedding tables under a ``ParameterServerStrategy`` whose
    ``variable_partitioner`` is ``FixedShardsPartitioner(num_shards=n_ps)``: each table becomes a
    ``ShardedVariable`` of ``n_ps`` row blocks, block ``k`` on ``/job:ps/task:k``. The
    ``ClusterCoordinator`` then schedules ``steps`` steps of an in-batch softmax (plain SGD)
    on the worker, which reads the rows it needs from the parameter servers and sends back
    their updates (asynchronous training: no all-reduce; with several workers each would
    update the servers on its own schedule). The user table is sharded the same way; the
    result lists the item table's blocks. The tables are plain ``tf.Variable`` objects read
    with ``tf.nn.embedding_lookup``, which accepts a ``ShardedVariable``.

    Parameters are as :func:`train_two_tower`; ``batch_size`` pairs per step, drawn from a
    seeded shuffle. Returns a :class:`ParameterServerRun`. Raises ``ValueError`` for bad
    arguments and :class:`WorkerError` if the child fails or exceeds ``timeout`` seconds.
    """
    n_users, n_items = _positive_int(n_users, "n_users"), _positive_int(n_items, "n_items")
    users, items = _pairs(users, items, n_users, n_items)
    n_ps = _positive_int(n_ps, "n_ps")
    if n_ps > n_items:
        raise ValueError(f"n_ps={n_ps} is more than n_items={n_items}: a shard needs a row")
    batch_size, steps = _positive_int(batch_size, "batch_size"), _positive_int(steps, "steps")
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2 (in-batch negatives), got {batch_size}")
    embedding_dim = _positive_int(embedding_dim, "embedding_dim")
    learning_rate = _positive_float(learning_rate, "learning_rate")
    timeout = _positive_float(timeout, "timeout")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    rows = _batches(len(users), batch_size, steps, int(seed))
    config = {"n_users": n_users, "n_items": n_items, "n_ps": n_ps, "steps": steps,
              "embedding_dim": embedding_dim, "learning_rate": learning_rate,
              "seed": int(seed), "ports": _free_ports(n_ps + 1), "timeout": timeout}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recsys_lab_ps_") as name:
        folder = Path(name)
        np.savez(folder / "inputs.npz", users=users[rows], items=items[rows])
        (folder / "config.json").write_text(json.dumps(config))
        result = _run_workers(folder, "ps", [_worker_environment(None)], timeout)
    return ParameterServerRun(shards=result["shards"], n_items=n_items,
                              losses=np.asarray(result["losses"], dtype=float),
                              rows_updated=int(result["rows_updated"]),
                              wall_seconds=time.perf_counter() - started)


def _ps_main(folder: Path) -> None:
    """The child of :func:`parameter_server_demo`: cluster, coordinator and training."""
    config = json.loads((folder / "config.json").read_text())
    # One intra-op thread, but two inter-op threads: the coordinator, the worker and the
    # parameter servers share this process, and a single inter-op thread can deadlock them.
    tf = _quiet_tensorflow(inter_op_threads=2)
    n_ps, ports = config["n_ps"], config["ports"]
    cluster = tf.train.ClusterSpec({"worker": [f"localhost:{ports[0]}"],
                                    "ps": [f"localhost:{port}" for port in ports[1:]]})
    server_config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1,
                                             inter_op_parallelism_threads=2)
    # The servers live as long as this process: TensorFlow offers no way to stop one.
    servers = [tf.distribute.Server(cluster, job_name=job, task_index=task, protocol="grpc",
                                    config=server_config, start=True)
               for job, task in [("worker", 0)] + [("ps", k) for k in range(n_ps)]]
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(cluster, rpc_layer="grpc")
    strategy = tf.distribute.experimental.ParameterServerStrategy(
        resolver, variable_partitioner=tf.distribute.experimental.partitioners
        .FixedShardsPartitioner(num_shards=n_ps))
    coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)

    in_batch_softmax_loss = _ncf().in_batch_softmax_loss
    dim, lr = config["embedding_dim"], config["learning_rate"]
    initializer = tf.random.stateless_normal
    with strategy.scope():
        user_table = tf.Variable(initializer((config["n_users"], dim), (config["seed"], 0),
                                             stddev=0.1), name="user_embedding")
        item_table = tf.Variable(initializer((config["n_items"], dim), (config["seed"], 1),
                                             stddev=0.1), name="item_embedding")
    inputs = np.load(folder / "inputs.npz")

    @tf.function
    def step(batch_users, batch_items):
        with tf.GradientTape() as tape:
            user_vectors = tf.nn.embedding_lookup(user_table, batch_users)
            item_vectors = tf.nn.embedding_lookup(item_table, batch_items)
            loss = in_batch_softmax_loss(user_vectors, item_vectors, batch_items,
                                         tf.zeros(tf.shape(batch_items)), 1.0)
        variables = user_table.variables + item_table.variables
        for variable, gradient in zip(variables, tape.gradient(loss, variables), strict=True):
            variable.assign_sub(lr * tf.convert_to_tensor(gradient))
        return loss

    # The coordinator sends each step to the worker; the losses come back as futures.
    futures = [coordinator.schedule(step, args=(tf.constant(u), tf.constant(i)))
               for u, i in zip(inputs["users"], inputs["items"], strict=True)]
    coordinator.join()
    shards = [{"device": shard.device, "rows": int(shard.shape[0]),
               "columns": int(shard.shape[1])} for shard in item_table.variables]
    # Read the blocks back from the servers: the rows the worker's updates reached.
    trained = np.concatenate([shard.numpy() for shard in item_table.variables])
    initial = initializer((config["n_items"], dim), (config["seed"], 1), stddev=0.1).numpy()
    _write_json_atomically(folder / _RESULT, {
        "shards": shards, "losses": [float(f.fetch()) for f in futures],
        "rows_updated": int(np.any(trained != initial, axis=1).sum())})
    del servers
    sys.stdout.flush()
    os._exit(0)  # the servers' threads would keep a normal exit waiting forever


def _watchdog(deadline_seconds: float) -> None:
    """End this worker if its parent dies or the deadline passes, even if TensorFlow hangs.

    The parent kills its workers itself; this covers the case it cannot: a parent killed
    with SIGKILL (a notebook kernel restarted) would otherwise leave a worker waiting on a
    collective forever.
    """
    parent, deadline = os.getppid(), time.monotonic() + deadline_seconds

    def watch():
        while os.getppid() == parent and time.monotonic() < deadline:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="recsys_lab-watchdog").start()


def _main(argv: list[str]) -> None:
    if len(argv) != 3 or argv[0] not in ("worker", "ps"):
        raise SystemExit("usage: python -m recsys_lab.distributed {worker|ps} FOLDER INDEX "
                         "(started by train_two_tower / parameter_server_demo)")
    mode, folder, index = argv[0], Path(argv[1]), int(argv[2])
    _watchdog(json.loads((folder / "config.json").read_text())["timeout"] + 10)
    if mode == "worker":
        _worker_main(folder, index)
    else:
        _ps_main(folder)


if __name__ == "__main__":
    _main(sys.argv[1:])
