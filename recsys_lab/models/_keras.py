"""Keras, imported quietly, and the two training helpers every Keras model of the book shares.

Importing this module imports Keras 3 on TensorFlow. TensorFlow's C++ log is set to errors
only through its own setting, ``TF_CPP_MIN_LOG_LEVEL`` (unless the caller chose a level):
on a machine without a GPU it reports at every start that it found no CUDA driver, and at
the first fit of some models that oneDNN falls back to Eigen for boolean tensors, lines
that vary from run to run and would land in the book's pages. Nothing is redirected, so a
crash inside TensorFlow still prints.
"""

from __future__ import annotations

import os
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Importing TensorFlow draws from Python's global `random`, which seeds Keras' initialisers:
# put it back, so that a fit builds the same model whether Keras was imported before it or
# (KerasMatrixFactorization imports it lazily) inside it.
_random_state = random.getstate()
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

random.setstate(_random_state)
del _random_state


def _take(data, rows: np.ndarray):
    """``data`` (an array, or a list / dict of arrays with one row per example) at ``rows``."""
    if isinstance(data, dict):
        return {key: value[rows] for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_take(value, rows) for value in data)
    return data[rows]


def _length(data) -> int:
    first = next(iter(data.values())) if isinstance(data, dict) else (
        data[0] if isinstance(data, (list, tuple)) else data)
    return len(first)


def fit_one_epoch(network, inputs, targets, *, batch_size: int, rng: np.random.Generator,
                  sample_weight=None, callbacks=()) -> dict:
    """One pass of a compiled Keras ``network`` over the examples in a fresh random order.

    The order comes from ``rng`` (the model's own generator), not from ``fit(shuffle=True)``:
    with a global seed set, Keras 3 on TensorFlow draws the same permutation at every epoch
    and in every call. Returns the epoch's logs, e.g. ``{"loss": 0.42}``.

    Each mini-batch is one call of Keras's own ``network.train_step``, as in
    ``network.fit``, but the loop over the batches runs inside one ``tf.function``
    (:func:`_compiled_epoch`), traced once per network. ``fit`` would rebuild its input
    pipeline at every call, return to Python after every batch and trace again for the
    last, smaller batch; on ML-100K that overhead was larger than the arithmetic for most
    of the book's models (``benchmarks/speed.py``). The batches, the updates and therefore
    the weights are the ones ``fit`` computes. A :class:`BatchSchedule` among the
    ``callbacks`` sets its variable inside that graph, before each batch, to the value it
    would set as a callback of ``fit``. With any other callback (a Keras callback reacts to
    each batch in Python), or data other than NumPy arrays, the epoch runs through
    ``network.fit`` itself.
    """
    order = rng.permutation(_length(inputs))
    data = (inputs, targets) if sample_weight is None else (inputs, targets, sample_weight)
    schedules = [callback for callback in callbacks if isinstance(callback, BatchSchedule)]
    if len(schedules) < len(callbacks) or not all(
            isinstance(leaf, np.ndarray) for leaf in tf.nest.flatten(data)):
        history = network.fit(
            _take(inputs, order), _take(targets, order),
            sample_weight=None if sample_weight is None else sample_weight[order],
            batch_size=int(batch_size), epochs=1, shuffle=False, verbose=0,
            callbacks=list(callbacks))
        return {name: float(values[-1]) for name, values in history.history.items()}
    if not network.built or not network.optimizer.built:
        # What ``fit`` does before its first batch: build the layers, the loss and metric
        # trackers and the optimizer's slots, from the shapes of one batch.
        network._symbolic_build(data_batch=_take(data, order[:int(batch_size)]))
    network.reset_metrics()
    n_batches = -(-len(order) // int(batch_size))
    values = [tf.constant(schedule.take(n_batches), schedule.variable.dtype)
              for schedule in schedules]
    _compiled_epoch(network, int(batch_size), [schedule.variable for schedule in schedules])(
        tf.nest.map_structure(_as_tensor, data), tf.constant(order, "int64"), values)
    return {name: float(value) for name, value in network.get_metrics_result().items()}


def _as_tensor(array: np.ndarray):
    """``array`` as a tensor, floats in Keras's ``floatx`` as ``fit`` casts them."""
    if np.issubdtype(array.dtype, np.floating):
        array = array.astype(keras.config.floatx(), copy=False)
    return tf.convert_to_tensor(array)


def _take_rows(data, rows):
    """The rows ``rows`` of every tensor in the nested structure ``data``."""
    return tf.nest.map_structure(lambda tensor: tf.gather(tensor, rows), data)


def _compiled_epoch(network, batch_size: int, scheduled=()):
    """``epoch(data, order, values)``: ``network.train_step`` on every ``batch_size`` slice of
    ``order``, in one graph, each scheduled variable set to ``values[v][b]`` before batch
    ``b``; made once per network, batch size and scheduled variables, and kept on it."""
    # Kept in the instance's __dict__: through setattr, Keras would track the functions as
    # part of the model's state.
    cache = network.__dict__.setdefault("_compiled_epochs", {})
    key = (batch_size, *(variable.path for variable in scheduled))
    if key not in cache:
        # Keras compiles each step with XLA when the model asks for it (``jit_compile``).
        step = (tf.function(network.train_step, jit_compile=True, reduce_retracing=True)
                if network.jit_compile else network.train_step)

        @tf.function(reduce_retracing=True)
        def epoch(data, order, values):
            n = tf.shape(order, out_type="int64")[0]
            for batch in tf.range((n + batch_size - 1) // batch_size):
                for variable, schedule in zip(scheduled, values, strict=True):
                    variable.assign(schedule[batch])
                start = batch * batch_size
                step(_take_rows(data, order[start:start + batch_size]))

        epoch._omit_frequent_tracing_warning = True  # one trace per network (epoch_of_pairs)
        cache[key] = epoch
    return cache[key]


class BatchSchedule(keras.callbacks.Callback):
    """Sets ``variable`` to ``value(t)`` before update ``t`` and records the values in ``values``.

    Subclasses define ``value(steps)`` (the values at an array of update counts). As a
    callback of ``network.fit`` it sets the variable before every batch; given to
    :func:`fit_one_epoch`, the whole epoch's values are taken at once (:meth:`take`) and set
    inside the compiled epoch, the same values before the same batches. The update counter
    lives in the schedule, so one schedule serves a training run of several epochs.
    """

    def __init__(self, variable):
        super().__init__()
        self.variable = variable
        self.step = 0
        self.values: list[float] = []

    def value(self, steps: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def take(self, n: int) -> np.ndarray:
        """The values of the next ``n`` updates (recorded, and the counter moved on)."""
        values = np.asarray(self.value(np.arange(self.step, self.step + n)), dtype=float)
        self.step += n
        self.values.extend(values.tolist())
        return values

    def on_train_batch_begin(self, batch, logs=None):
        self.variable.assign(float(self.take(1)[0]))


def predict_in_batches(network, inputs, batch_size: int = 2048) -> np.ndarray:
    """The network's output in inference mode, by direct calls on batches of rows.

    ``inputs`` is an array or a list of arrays with the same number of rows. Unlike
    ``Model.predict``, a direct call traces no new ``tf.function`` per fitted model, so a
    chapter that fits several models gets no retracing warnings.
    """
    arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    outputs = []
    for start in range(0, max(len(arrays[0]), 1), batch_size):  # an empty input: one call
        batch = [array[start:start + batch_size] for array in arrays]
        output = network(batch if len(batch) > 1 else batch[0], training=False)
        outputs.append(keras.ops.convert_to_numpy(output))
    return np.concatenate(outputs)


def epoch_of_pairs(step, users, items, batch_size, seed_generator):
    """A compiled function that runs one epoch of ``step(users_batch, items_batch) -> loss``.

    ``users`` and ``items`` ``(n,)`` are the observed training pairs. One ``tf.function``
    call shuffles the pairs (with the model's Keras ``seed_generator``) and loops over the
    mini-batches of ``batch_size`` inside the graph; it returns the mean loss of the epoch.
    Shared by the models trained on sampled negatives (:mod:`recsys_lab.models.ncf`,
    :mod:`recsys_lab.models.graph`).
    """
    users, items = tf.constant(users, "int32"), tf.constant(items, "int32")
    n = int(users.shape[0])

    @tf.function
    def one_epoch():
        order = keras.random.shuffle(tf.range(n), seed=seed_generator)
        total, batches = 0.0, 0.0
        for start in tf.range(0, n, batch_size):
            batch = order[start:start + batch_size]
            total += step(tf.gather(users, batch), tf.gather(items, batch))
            batches += 1.0
        return total / batches

    # Every fit builds its own epoch function, traced once. TensorFlow's retracing detector
    # keys on the Python code, not the function object, so a chapter that fits a few models
    # with few epochs each would be warned of "excessive retracing" that is not happening.
    one_epoch._omit_frequent_tracing_warning = True
    return one_epoch


def sample_negatives(users, seen, n_items: int, n_negatives: int, seed_generator):
    """``n_negatives`` uniform item draws per user, and a mask of the draws to keep.

    ``users`` ``(batch,)`` int32, ``seen`` the ``(n_users, n_items)`` boolean interaction
    matrix. Returns ``negatives`` ``(batch, n_negatives)`` and ``mask`` (float, same shape),
    0 for a draw the user did interact with: in expectation the kept negatives are uniform
    over the user's unseen items. Draws come from the model's Keras ``seed_generator``.
    """
    negatives = keras.random.randint((tf.shape(users)[0], n_negatives), 0, n_items,
                                     seed=seed_generator, dtype="int32")
    repeated = tf.repeat(users[:, None], n_negatives, axis=1)
    accidental_hit = tf.gather_nd(seen, tf.stack([repeated, negatives], axis=-1))
    return negatives, tf.cast(tf.logical_not(accidental_hit), "float32")
