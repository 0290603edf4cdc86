"""Feature-rich models: factorization machines, Wide & Deep, DeepFM, DCN-v2 and multi-task.

Every model here sees a (user, item) pair as a list of categorical *fields*
(:mod:`recsys_lab.fields`): the user's age group, gender, occupation, the film's genres,
decade, director..., and, with ``use_ids``, the user id and the item id as two more
single-valued fields. Each field value ``v`` has a learned embedding ``e_v ∈ R^k`` and a
learned weight ``w_v``; a field's embedding in a row is ``Σ x_v e_v`` over the row's values,
``x_v`` its input (1, or ``1 / count`` for each value of a multi-hot field: the mean).
:class:`FieldEncoder` holds these tables for one side and looks them up by row id.

* :class:`FactorizationMachine` (Rendle 2010): ``w₀ + Σ w_v x_v + Σ_{v<v'} ⟨e_v, e_v'⟩ x_v
  x_v'`` over all the pair's values: exactly the FM over the design matrix
  ``[user fields | item fields | user id | item id]`` (see :meth:`FactorizationMachine.
  fm_parameters` and :func:`recsys_lab.scratch.fm.fm_predict`).
* :class:`WideAndDeep` (Cheng et al. 2016): a linear model of the values (wide) plus an MLP
  on the concatenated field embeddings (deep), the two logits summed.
* :class:`DeepFM` (Guo et al. 2017): the FM plus an MLP on the same embeddings.
* :class:`DCNv2` (Wang et al. 2021): ``n_cross_layers`` cross layers
  (``keras_rs.layers.FeatureCross``, ``x_{l+1} = x₀ ⊙ (x_l W + b) + x_l``) on the
  concatenated embeddings, then an MLP.
* :class:`MultiTask`: shared embeddings, a shared bottom MLP or a mixture of experts (MMoE,
  Ma et al. 2018), and two heads: the rating and whether the user watched the film.

``task="rating"`` regresses the ratings (MSE; the output is added to the global mean);
``task="implicit"`` treats every training pair as a positive against ``n_negatives``
uniformly drawn items per positive (a draw the user did interact with is masked), with
binary cross-entropy, and ranks items by the logit. ``task="click"`` is the click-through view
of explicit ratings: a rated pair with rating ≥ :data:`CLICK_THRESHOLD` is a click (1), any
other rated pair is not (0); binary cross-entropy on the rated pairs only, and ``predict``
returns the probability of a click.

**The new user.** An id that has no training row maps to value 0, "none", whose input ``x``
is 0: it contributes nothing, so a user absent from training is scored from their features
alone (and an item absent from training from its fields). This is how the COLD-USER
protocol's new users are scored: they are in ``user_fields`` (all ``n_users`` rows) but not
in ``train``.

Training runs one compiled TensorFlow function per epoch. The L2 penalty ``l2`` applies to
the embeddings and weights of the values each example uses (so a frequent value is
regularised more often, as in libFM), not to the MLP.

**Defaults** were chosen on the RATING validation split of ML-100K (``rating_split(train,
seed=1)`` of the standard training part), with ``user_fields(data.users)`` and
``item_fields(data.items)`` (genre, decade) and the ids, one fit per setting, validation
RMSE per epoch. FM: learning rate 0.003 / 0.01 / 0.02, batch 1024 / 2048 / 4096, ``l2``
1e-5 to 0.5, ``embedding_dim`` 8 / 16 / 32: best 0.913 (0.01, batch 4096, ``l2`` 0.1, 16
dimensions, 15 epochs; smaller ``l2`` overfits after 3–9 epochs). The deep models overfit
through their MLP after a few epochs at 0.01; at 0.003 with ``l2`` 0.1 the best were Wide &
Deep 0.929, DeepFM 0.927, DCN-v2 0.932 (8 epochs), and MultiTask's rating head 0.918 (12
epochs: the watched task regularises the shared embeddings). ALS matrix factorisation
(chapter 2's defaults) scored 0.919 on the same split. Each default fit takes 2–5 s on the
80,000 training ratings on two CPU cores. For ``task="implicit"`` (TOPN validation split,
NDCG@10) the rating defaults regularise too much: ``l2=1e-3`` with ``n_negatives=2`` and
10 epochs gave 0.204 (``l2`` 0.1, 4 negatives: 0.139; MostPopular 0.147, DotProductMF 0.245).
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_lab.base import EpochRecommender
from recsys_lab.fields import NONE, Field, Fields, history_field
from recsys_lab.models._keras import keras, sample_negatives, tf
from recsys_lab.models.ncf import bce_loss
from recsys_lab.validation import (
    DATA,
    FLAG,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    check_fitted,
    integer,
    integers,
    one_of,
)

# keras_rs after Keras (imported quietly above); importing it draws from Python's global
# `random`, which seeds Keras' initialisers: put the state back, as _keras does for TensorFlow.
_random_state = random.getstate()
from keras_rs.layers import FeatureCross  # noqa: E402

random.setstate(_random_state)
del _random_state

layers, ops = keras.layers, keras.ops

TASKS = ("rating", "implicit", "click")
#: A rating at or above this counts as a click under ``task="click"``.
CLICK_THRESHOLD = 4.0
ARCHITECTURES = ("shared_bottom", "mmoe")
SIDES = ("user", "item")

# --------------------------------------------------------------------------------------------
# The field embeddings of one side
# --------------------------------------------------------------------------------------------


class FieldEncoder(layers.Layer):
    """The fields of one side (users or items), looked up by row id.

    Keeps each field's value ids and inputs ``x`` for every row (constants, from a
    :class:`~recsys_lab.fields.Fields`) and learns two tables per field:
    ``{field}_embedding`` ``(vocab_size, k)`` and ``{field}_weight`` ``(vocab_size,)``.
    Called on row ids ``(batch,)`` it returns

    * ``embeddings`` ``(batch, n_fields, k)``: each field's ``Σ_j x_j e_{v_j}``;
    * ``linear`` ``(batch,)``: ``Σ`` over fields and values of ``x_j w_{v_j}``;
    * ``squares`` ``(batch, k)``: ``Σ x_j² e_{v_j}²``, the correction term of the FM identity.

    Value 0 ("none") has ``x = 0`` and so contributes nothing.
    """

    def __init__(self, fields: Fields, embedding_dim: int, stddev: float = 0.01, **kwargs):
        super().__init__(**kwargs)
        self.field_names = list(fields.names)
        self.value_ids = [tf.constant(field.values, "int32") for field in fields]
        self.inputs_x = [tf.constant(field.weights, "float32") for field in fields]
        self.embedding_tables = [
            self.add_weight(shape=(field.vocab_size, embedding_dim), name=f"{field.name}_embedding",
                            initializer=keras.initializers.RandomNormal(stddev=stddev))
            for field in fields]
        self.weight_tables = [
            self.add_weight(shape=(field.vocab_size,), name=f"{field.name}_weight",
                            initializer="zeros")
            for field in fields]
        self.embedding_dim = embedding_dim

    def _lookup(self, rows):
        """Per field: value ids and inputs x ``(batch, width)``, embeddings ``(batch, width,
        k)`` and weights ``(batch, width)`` of the rows."""
        for values, inputs_x, table, weights in zip(self.value_ids, self.inputs_x,
                                                    self.embedding_tables, self.weight_tables,
                                                    strict=True):
            ids = tf.gather(values, rows)
            yield ids, tf.gather(inputs_x, rows), tf.gather(table, ids), tf.gather(weights, ids)

    def call(self, rows):
        embeddings, linear, squares = [], 0.0, 0.0
        for _, x, vectors, weights in self._lookup(rows):
            embeddings.append(ops.sum(x[..., None] * vectors, axis=1))
            linear = linear + ops.sum(x * weights, axis=1)
            squares = squares + ops.sum(ops.square(x)[..., None] * ops.square(vectors), axis=1)
        return ops.stack(embeddings, axis=1), linear, squares

    def compute_output_spec(self, rows):
        batch = rows.shape[0]
        return (keras.KerasTensor((batch, len(self.field_names), self.embedding_dim)),
                keras.KerasTensor((batch,)), keras.KerasTensor((batch, self.embedding_dim)))

    def penalty(self, rows):
        """``(batch,)``: the squared norms of the embeddings and weights each row uses."""
        total = 0.0
        for ids, _, vectors, weights in self._lookup(rows):
            used = ops.cast(ids > 0, "float32")
            total = total + ops.sum(used * (ops.sum(ops.square(vectors), -1)
                                            + ops.square(weights)), axis=1)
        return total


class GlobalBias(layers.Layer):
    """A learned scalar ``w₀`` added to every score."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(), name="bias", initializer="zeros")

    def call(self, score):
        return score + self.bias


def _inputs():
    return (keras.Input(shape=(), dtype="int32", name="user"),
            keras.Input(shape=(), dtype="int32", name="item"))


def _mlp(x, hidden_units, name: str):
    for layer, units in enumerate(hidden_units):
        x = layers.Dense(units, activation="relu", name=f"{name}_{layer + 1}")(x)
    return x


def _logit(x, name: str):
    return ops.squeeze(layers.Dense(1, name=name)(x), axis=-1)


def _encode(user_encoder, item_encoder, user, item):
    """Both sides' fields: embeddings ``(batch, n_fields, k)``, linear, squares."""
    user_embeddings, user_linear, user_squares = user_encoder(user)
    item_embeddings, item_linear, item_squares = item_encoder(item)
    embeddings = layers.Concatenate(axis=1, name="field_embeddings")(
        [user_embeddings, item_embeddings])
    return embeddings, user_linear + item_linear, user_squares + item_squares


def fm_pairwise_term(embeddings, squares):
    """``½ Σ_f [(Σ_fields e)² − Σ x² e²]``: every pair of values, ``⟨e_v, e_v'⟩ x_v x_v'``."""
    summed = ops.sum(embeddings, axis=1)  # (batch, k): Σ_v x_v e_v over all fields
    return 0.5 * ops.sum(ops.square(summed) - squares, axis=-1)


def fm_network(user_encoder, item_encoder) -> keras.Model:
    """The factorization machine: ``w₀ + Σ x_v w_v + Σ_{v<v'} ⟨e_v, e_v'⟩ x_v x_v'``."""
    user, item = _inputs()
    embeddings, linear, squares = _encode(user_encoder, item_encoder, user, item)
    score = GlobalBias(name="bias")(linear + fm_pairwise_term(embeddings, squares))
    return keras.Model([user, item], score, name="factorization_machine")


def wide_and_deep_network(user_encoder, item_encoder, hidden_units) -> keras.Model:
    """Wide (``w₀ + Σ x_v w_v``) plus deep (an MLP on the concatenated field embeddings)."""
    user, item = _inputs()
    embeddings, linear, _ = _encode(user_encoder, item_encoder, user, item)
    deep = _mlp(layers.Flatten(name="concatenated")(embeddings), hidden_units, "deep")
    score = GlobalBias(name="bias")(linear + _logit(deep, "deep_output"))
    return keras.Model([user, item], score, name="wide_and_deep")


def deepfm_network(user_encoder, item_encoder, hidden_units) -> keras.Model:
    """The FM plus an MLP on the same field embeddings, the logits summed."""
    user, item = _inputs()
    embeddings, linear, squares = _encode(user_encoder, item_encoder, user, item)
    deep = _mlp(layers.Flatten(name="concatenated")(embeddings), hidden_units, "deep")
    fm = linear + fm_pairwise_term(embeddings, squares)
    score = GlobalBias(name="bias")(fm + _logit(deep, "deep_output"))
    return keras.Model([user, item], score, name="deepfm")


def dcn_network(user_encoder, item_encoder, n_cross_layers, hidden_units) -> keras.Model:
    """``x₀`` = concatenated embeddings → cross layers ``x₀ ⊙ (x W + b) + x`` → MLP → logit.

    Written out top to bottom, without the helpers the other networks share, because
    chapter 10 shows it as code the reader edits (the layers and their names are those of
    :func:`_inputs`, :func:`_encode`, :func:`_mlp` and :func:`_logit`).
    """
    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    user_embeddings, _, _ = user_encoder(user)  # (batch, n user fields, k); linear, squares
    item_embeddings, _, _ = item_encoder(item)  # (batch, n item fields, k)
    embeddings = layers.Concatenate(axis=1, name="field_embeddings")(
        [user_embeddings, item_embeddings])
    x0 = x = layers.Flatten(name="concatenated")(embeddings)  # (batch, n_fields · k)
    for layer in range(n_cross_layers):
        x = FeatureCross(name=f"cross_{layer + 1}")(x0, x)  # x₀ ⊙ (x W + b) + x
    for layer, units in enumerate(hidden_units):
        x = layers.Dense(units, activation="relu", name=f"deep_{layer + 1}")(x)
    score = ops.squeeze(layers.Dense(1, name="output")(x), axis=-1)
    return keras.Model([user, item], score, name="dcn_v2")


def multitask_network(user_encoder, item_encoder, architecture, n_experts, expert_units,
                      hidden_units) -> keras.Model:
    """Two heads, ``rating`` and ``watched``, on shared field embeddings.

    ``"shared_bottom"``: one MLP (``expert_units``) feeds both towers. ``"mmoe"``:
    ``n_experts`` expert MLPs; each task mixes them with its own softmax gate of the input.
    Each task's tower is an MLP (``hidden_units``) and a linear output.
    """
    user, item = _inputs()
    embeddings, _, _ = _encode(user_encoder, item_encoder, user, item)
    x = layers.Flatten(name="concatenated")(embeddings)
    outputs = {}
    if architecture == "shared_bottom":
        bottom = _mlp(x, expert_units, "shared_bottom")
        task_inputs = {task: bottom for task in ("rating", "watched")}
    else:
        experts = ops.stack([_mlp(x, expert_units, f"expert_{e + 1}")
                             for e in range(n_experts)], axis=1)  # (batch, n_experts, d)
        task_inputs = {}
        for task in ("rating", "watched"):
            gate = layers.Dense(n_experts, activation="softmax", name=f"{task}_gate")(x)
            task_inputs[task] = ops.sum(gate[..., None] * experts, axis=1)
    for task, task_input in task_inputs.items():
        outputs[task] = _logit(_mlp(task_input, hidden_units, f"{task}_tower"),
                               f"{task}_output")
    return keras.Model([user, item], outputs, name=f"multitask_{architecture}")


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def _epoch_of_rows(step, n_rows: int, batch_size: int, n_losses: int, seed_generator):
    """A compiled epoch: shuffle ``0..n_rows-1``, run ``step(rows) -> losses`` per batch.

    ``step`` returns a tensor of ``n_losses`` losses; the epoch returns their mean over the
    batches. The order comes from the model's Keras ``seed_generator``.
    """

    @tf.function
    def one_epoch():
        order = keras.random.shuffle(tf.range(n_rows), seed=seed_generator)
        total, batches = tf.zeros([n_losses]), 0.0
        for start in tf.range(0, n_rows, batch_size):
            total += step(order[start:start + batch_size])
            batches += 1.0
        return total / batches

    # One trace per fit; TensorFlow's retracing detector would count the fits of a chapter
    # or a benchmark as retracing of one function (see ``epoch_of_pairs``).
    one_epoch._omit_frequent_tracing_warning = True
    return one_epoch


def _id_field(ids_seen: np.ndarray, n: int) -> Field:
    """The id as a field: value ``id + 1`` for an id seen in training, 0 ("none") otherwise."""
    values = np.where(ids_seen, np.arange(n) + 1, 0)[:, None]
    return Field("id", values, (values > 0).astype(float), [NONE, *map(str, range(n))])


_COMMON = {"user_fields": DATA, "item_fields": DATA, "use_ids": FLAG,
           "user_history": integer(0), "min_user_rows": integer(1),
           "embedding_dim": integer(1), "n_negatives": integer(1), "epochs": integer(1),
           "batch_size": integer(1), "learning_rate": POSITIVE, "l2": NON_NEGATIVE,
           "seed": SEED}


class _FieldModel(EpochRecommender):
    """Shared fitting, scoring and inspection of the models on user and item fields.

    Subclasses set the hyper-parameters and define ``build_network()``, a Keras model from
    ``[users, items]`` (int32 ids, ``(batch,)``) to one output per pair, using the encoders
    ``self.user_encoder_`` and ``self.item_encoder_``.

    After ``fit``: ``user_fields_`` and ``item_fields_`` (the :class:`~recsys_lab.fields.
    Fields` used, the ``"id"`` field last when ``use_ids``), ``global_mean_`` (the mean
    training rating; 0 for ``task="implicit"``), ``network_`` and ``curves_``.
    """

    hyperparameters = {**_COMMON, "task": one_of(*TASKS)}

    @property
    def columns(self):
        columns = ("user", "item") if self._task() == "implicit" else ("user", "item", "rating")
        return columns + ("timestamp",) if self.user_history else columns

    def _task(self) -> str:
        return self.task

    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings (or, under ``task="click"``, click probabilities) of the pairs
        ``(users[j], items[j])``, shape ``(n,)``."""
        if self._task() == "implicit":
            raise ValueError(f"{type(self).__name__} ranks items; it does not predict ratings "
                             "(task='implicit'): use score_items")
        return super().predict(users, items)

    # -- fields ---------------------------------------------------------------------------

    def _side(self, fields, n: int, side: str, seen: np.ndarray) -> Fields:
        if fields is None:
            fields = Fields(())
        if not isinstance(fields, Fields):
            raise ValueError(f"{side}_fields must be a recsys_lab.fields.Fields or None, got "
                             f"{type(fields).__name__}")
        if len(fields) and fields.n_rows != n:
            raise ValueError(f"{side}_fields has {fields.n_rows} rows but n_{side}s is {n}: "
                             f"row r must describe {side} r")
        if self.use_ids:
            if "id" in fields.names:
                raise ValueError(f"{side}_fields has a field named 'id', the name of the "
                                 "id field that use_ids adds")
            fields = Fields((*fields, _id_field(seen, n)))
        if not len(fields):
            raise ValueError(f"the {side} side has no field: pass {side}_fields or "
                             "use_ids=True")
        return fields

    def _with_history(self, fields, train: pd.DataFrame):
        """``fields`` plus the "history" field of ``train`` when ``user_history`` > 0."""
        if not self.user_history or not (fields is None or isinstance(fields, Fields)):
            return fields  # (``_side`` reports a wrong type)
        fields = fields if fields is not None else Fields(())
        if "history" in fields.names:
            raise ValueError("user_fields has a field named 'history', the name of the field "
                             "that user_history adds")
        return Fields((*fields, self._history(train)))

    def _history(self, train: pd.DataFrame) -> Field:
        return history_field(train, self.n_users_, self.n_items_, int(self.user_history))

    def update_history(self, train: pd.DataFrame):
        """Give a fitted model the "history" field of ``train``, without training; returns ``self``.

        ``train`` (columns ``user``, ``item``, ``timestamp``) is the data that now holds the
        users' films, e.g. with a new user's first ratings: each user's first ``user_history``
        of them, the width the model was fitted with, become her history field. The same as
        :meth:`update_fields` with :func:`recsys_lab.fields.history_field` of ``train``.
        """
        check_fitted(self, "network_")
        if not self.user_history:
            raise ValueError("the model has no history field: it was fitted with "
                             "user_history=0")
        return self.update_fields(Fields((self._history(train),)))

    def update_fields(self, fields: Fields, side: str = "user"):
        """Give a fitted model new values of some fields, without training; returns ``self``.

        ``fields`` (a :class:`~recsys_lab.fields.Fields` with ``n_users`` or ``n_items`` rows)
        replaces the fields of the same names on ``side``; each must have the fitted field's
        vocabulary, since the learned tables are indexed by it. This is what a deployed model
        does when a user's profile changes, e.g. a new user's first ratings entering her
        "history" field (:func:`recsys_lab.fields.history_field` of the data that now
        includes them): the tables stay as trained, only her inputs change. The id field
        cannot be replaced.
        """
        check_fitted(self, "network_")
        current = self._fitted_fields(side)
        if not isinstance(fields, Fields):
            raise ValueError(f"fields must be a recsys_lab.fields.Fields, got "
                             f"{type(fields).__name__}")
        encoder = self._encoder(side)
        replaced = list(current)
        for field in fields:
            if field.name == "id" or field.name not in current.names:
                known = [name for name in current.names if name != "id"]
                raise ValueError(f"the fitted {side} fields are {known}; cannot replace "
                                 f"{field.name!r}")
            position = current.names.index(field.name)
            if field.vocabulary != current[field.name].vocabulary:
                raise ValueError(f"field {field.name!r} has another vocabulary than the fitted "
                                 "one: its values would index the wrong rows of the tables")
            if field.n_rows != current.n_rows:
                raise ValueError(f"field {field.name!r} has {field.n_rows} rows, the fitted "
                                 f"one {current.n_rows}")
            encoder.value_ids[position] = tf.constant(field.values, "int32")
            encoder.inputs_x[position] = tf.constant(field.weights, "float32")
            replaced[position] = field
        setattr(self, f"{side}_fields_", Fields(tuple(replaced)))
        self.network_.__dict__.pop("_compiled_call", None)  # it holds the old values
        return self

    def _fitted_fields(self, side: str) -> Fields:
        if side not in SIDES:
            raise ValueError(f"side must be 'user' or 'item', got {side!r}")
        return getattr(self, f"{side}_fields_")

    def build_encoders(self) -> None:
        """``user_encoder_`` and ``item_encoder_``, the :class:`FieldEncoder` of each side."""
        k = self.embedding_dim
        self.user_encoder_ = FieldEncoder(self.user_fields_, k, name="user_fields")
        self.item_encoder_ = FieldEncoder(self.item_fields_, k, name="item_fields")

    def build_network(self) -> keras.Model:
        raise NotImplementedError

    _rebuilt_with_network = ("user_encoder_", "item_encoder_")

    def _rebuild_network(self, weights):
        self.build_encoders()
        return self.build_network()

    # -- training -------------------------------------------------------------------------

    def _start(self, train: pd.DataFrame) -> None:
        users, items = train["user"].to_numpy(), train["item"].to_numpy()
        user_rows = np.bincount(users, minlength=self.n_users_)
        self.user_fields_ = self._side(self._with_history(self.user_fields, train),
                                       self.n_users_, "user", user_rows >= self.min_user_rows)
        self.item_fields_ = self._side(self.item_fields, self.n_items_, "item",
                                       np.bincount(items, minlength=self.n_items_) > 0)
        ratings = train["rating"].to_numpy(dtype=float) if "rating" in train else None
        self.global_mean_ = float(ratings.mean()) if self._task() == "rating" else 0.0
        self.build_encoders()
        self.network_ = network = self.build_network()
        self._data = {"user": tf.constant(users, "int32"), "item": tf.constant(items, "int32")}
        if ratings is not None and self._task() == "click":
            self._data["rating"] = tf.constant(ratings >= CLICK_THRESHOLD, "float32")
        elif ratings is not None:
            self._data["rating"] = tf.constant(ratings - self.global_mean_, "float32")
        self._seen = tf.constant(self.history_.toarray() > 0)
        self._optimizer = keras.optimizers.Adam(self.learning_rate)
        self._optimizer.build(network.trainable_variables)
        self._seed_generator = keras.random.SeedGenerator(self.seed)
        self._one_epoch = _epoch_of_rows(self._step_function(), len(train),
                                         int(self.batch_size), len(self._loss_names()),
                                         self._seed_generator)

    def _loss_names(self) -> tuple[str, ...]:
        return ("loss",)

    def _penalty(self, users, items, negatives=None):
        """``l2`` × the squared norms of the values a batch uses, averaged over its pairs.

        ``negatives`` ``(batch, n_negatives)``: items drawn for each pair, whose values
        count too (once per draw).
        """
        per_pair = self.user_encoder_.penalty(users) + self.item_encoder_.penalty(items)
        if negatives is not None:
            drawn = self.item_encoder_.penalty(tf.reshape(negatives, [-1]))
            per_pair = per_pair + ops.sum(tf.reshape(drawn, tf.shape(negatives)), axis=1)
        return float(self.l2) * ops.mean(per_pair)

    def _negatives(self, users):
        """``(negatives (batch, n_negatives), mask)``: uniform draws, masked if seen."""
        return sample_negatives(users, self._seen, self.n_items_, int(self.n_negatives),
                                self._seed_generator)

    def _step_function(self):
        network, optimizer, data = self.network_, self._optimizer, self._data
        variables = network.trainable_variables
        implicit = self._task() == "implicit"
        click = self._task() == "click"
        n_negatives = int(self.n_negatives)

        def step(rows):
            users, items = tf.gather(data["user"], rows), tf.gather(data["item"], rows)
            if implicit:
                negatives, mask = self._negatives(users)
                repeated = tf.reshape(tf.repeat(users[:, None], n_negatives, axis=1), [-1])
            with tf.GradientTape() as tape:
                if implicit:
                    positive = network([users, items], training=True)
                    negative = tf.reshape(network([repeated, tf.reshape(negatives, [-1])],
                                                  training=True), tf.shape(negatives))
                    loss = bce_loss(positive, negative, mask)
                    penalty = self._penalty(users, items, negatives)
                elif click:
                    logits = network([users, items], training=True)
                    loss = ops.mean(ops.binary_crossentropy(
                        tf.gather(data["rating"], rows), logits, from_logits=True))
                    penalty = self._penalty(users, items)
                else:
                    predicted = network([users, items], training=True)
                    loss = ops.mean(ops.square(tf.gather(data["rating"], rows) - predicted))
                    penalty = self._penalty(users, items)
                total = loss + penalty
            optimizer.apply(tape.gradient(total, variables), variables)
            return tf.stack([loss])

        return step

    def _train_epoch(self, epoch: int) -> dict:
        losses = self._one_epoch().numpy()
        return {name: float(value) for name, value in zip(self._loss_names(), losses,
                                                          strict=True)}

    def _end_training(self) -> None:
        for name in ("_one_epoch", "_optimizer", "_seed_generator", "_seen", "_data"):
            self.__dict__.pop(name, None)

    # -- scoring --------------------------------------------------------------------------

    def _outputs(self, users: np.ndarray, items: np.ndarray, batch_size: int = 1 << 15):
        """The network's output for the pairs (a dict of arrays for several outputs)."""
        outputs = []
        for start in range(0, len(users), batch_size):
            batch = [tf.constant(users[start:start + batch_size], "int32"),
                     tf.constant(items[start:start + batch_size], "int32")]
            outputs.append(self._call(batch))
        if isinstance(outputs[0], dict):
            return {key: np.concatenate([o[key] for o in outputs]) for key in outputs[0]}
        return np.concatenate(outputs)

    def _call(self, batch):
        output = self._compiled_network()(*batch)
        if isinstance(output, dict):
            return {key: np.asarray(value, dtype=float) for key, value in output.items()}
        return np.asarray(output, dtype=float)

    def _compiled_network(self):
        """The network in inference mode as one ``tf.function`` of ``(users, items)``, traced
        once for every batch size: scoring every item for every user calls it on millions
        of pairs, and called eagerly each of its operations would return to Python (twice as
        slow on ML-100K; the outputs agree to float32 rounding)."""
        network = self.network_
        if network.__dict__.get("_compiled_call") is None:
            ids = tf.TensorSpec([None], "int32")

            @tf.function(input_signature=[ids, ids])
            def call(users, items):
                return network([users, items], training=False)

            call._omit_frequent_tracing_warning = True  # one trace per fitted model
            network.__dict__["_compiled_call"] = call
        return network.__dict__["_compiled_call"]

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self._task() == "click":  # the probability of a click
            return 1.0 / (1.0 + np.exp(-self._outputs(users, items)))
        return self.global_mean_ + self._outputs(users, items)

    def _score(self, users: np.ndarray) -> np.ndarray:
        """Predicted ratings (``task="rating"``), logits (``"implicit"``) or click
        probabilities (``"click"``) of every item."""
        pairs_users = np.repeat(users, self.n_items_)
        pairs_items = np.tile(np.arange(self.n_items_), len(users))
        return self._predict(pairs_users, pairs_items).reshape(len(users), self.n_items_)

    # -- inspection -----------------------------------------------------------------------

    def _encoder(self, side: str) -> FieldEncoder:
        if side not in SIDES:
            raise ValueError(f"side must be 'user' or 'item', got {side!r}")
        return self.user_encoder_ if side == "user" else self.item_encoder_

    def field_embeddings(self, side: str, field: str) -> np.ndarray:
        """The value embeddings of one field, ``(vocab_size, embedding_dim)``.

        ``side`` is ``"user"`` or ``"item"``; ``field`` a name in ``user_fields_`` /
        ``item_fields_`` (``"id"`` for the ids). Row ``v`` belongs to the field's
        ``vocabulary[v]``; row 0 ("none") is never used.
        """
        encoder = self._encoder(side)
        names = encoder.field_names
        if field not in names:
            raise ValueError(f"no {side} field {field!r}; the {side} fields are {names}")
        return np.asarray(encoder.embedding_tables[names.index(field)], dtype=float)

    def _blocks(self):
        """(side, field index, Field) in design-matrix order: user fields, item fields, then
        the user id and the item id."""
        ordered = [(side, f, field) for side in SIDES
                   for f, field in enumerate(getattr(self, f"{side}_fields_"))
                   if field.name != "id"]
        ids = [(side, f, field) for side in SIDES
               for f, field in enumerate(getattr(self, f"{side}_fields_")) if field.name == "id"]
        return ordered + ids

    def design_matrix(self, users, items):
        """The design matrix of the pairs, SciPy CSR ``(n_pairs, p)``.

        Columns: one block per field (:meth:`recsys_lab.fields.Fields.design_matrix`), user
        fields, item fields, then the user id and the item id (with ``use_ids``); see
        :meth:`column_names`. A pair's row holds the inputs ``x`` the model sees.
        """
        rows = {"user": np.asarray(users, dtype=np.int64), "item": np.asarray(items,
                                                                              dtype=np.int64)}
        return sp.hstack([field.design_matrix()[rows[side]] for side, _, field in
                          self._blocks()], format="csr")

    def column_names(self) -> list[str]:
        """Names of the design matrix's columns, e.g. ``"user.occupation=writer"``."""
        return [f"{side}.{field.name}={value}" for side, _, field in self._blocks()
                for value in field.vocabulary]

    def _tables(self, which: str) -> np.ndarray:
        parts = []
        for side, f, _ in self._blocks():
            tables = getattr(self._encoder(side), which)
            parts.append(np.asarray(tables[f], dtype=float))
        return np.concatenate(parts)


class _PairwiseInteractions:
    """What the FM's pairwise term learned (for the models that have one)."""

    def fm_parameters(self) -> tuple[float, np.ndarray, np.ndarray]:
        """``(w0, w, V)`` over the columns of :meth:`design_matrix`: ``(p,)`` and ``(p, k)``.

        ``recsys_lab.scratch.fm.fm_predict(model.design_matrix(u, i), *model.fm_parameters())``
        is the FM part of the model's output (all of it for :class:`FactorizationMachine`).
        """
        w0 = float(np.asarray(self.network_.get_layer("bias").bias))
        return w0, self._tables("weight_tables"), self._tables("embedding_tables")

    def interaction_weights(self) -> pd.DataFrame:
        """Field × field mean of ``|⟨e_v, e_v'⟩|`` over the pairs of their values (not "none").

        A DataFrame indexed and columned by ``"user.age"``, ``"item.genre"``...: how strongly
        the model lets each pair of fields interact. The diagonal compares a field's values
        with each other (meaningful for a multi-hot field only, whose values co-occur).
        """
        names, vectors = [], []
        for side, f, field in self._blocks():
            names.append(f"{side}.{field.name}")
            vectors.append(np.asarray(self._encoder(side).embedding_tables[f])[1:])
        strengths = np.zeros((len(names), len(names)))
        for a, left in enumerate(vectors):
            for b, right in enumerate(vectors[:a + 1]):
                # in chunks: actors × actors alone is 24 million dot products
                total = sum(np.abs(left[start:start + 512] @ right.T).sum()
                            for start in range(0, len(left), 512))
                strengths[a, b] = strengths[b, a] = total / max(len(left) * len(right), 1)
        return pd.DataFrame(strengths, index=names, columns=names)


# --------------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------------

_PARAMETERS_DOC = """
    Parameters
    ----------
    user_fields, item_fields : :class:`recsys_lab.fields.Fields` or None, with one row per
        user (``n_users``) / item (``n_items``), e.g. ``user_fields(data.users)``.
    use_ids : bool, add the user and the item id as two more fields (an id with no
        training row is "none": such a user or item is scored from its fields alone).
    task : ``"rating"`` (MSE on ratings; ``predict`` and ``score_items`` give ratings),
        ``"implicit"`` (BCE against sampled negatives; ``score_items`` gives logits) or
        ``"click"`` (BCE on the rated pairs, rating ≥ 4 as a click; ``predict`` and
        ``score_items`` give click probabilities).
    embedding_dim : int, ``k``, the size of every value's embedding.
    n_negatives : int, negatives drawn per positive (``task="implicit"`` only).
    epochs, batch_size, learning_rate : Adam's schedule.
    l2 : float, the penalty on the embeddings and weights of the values a batch uses.
    seed : int.
    user_history : int ≥ 0; if positive, each user's first ``user_history`` training films
        (by ``timestamp``, which ``train`` must then have) become one more user field,
        "history" (:func:`recsys_lab.fields.history_field`): a user is described by what she
        rated, through the films' history vectors, even without an id vector of her own.
    min_user_rows : int ≥ 1; a user with fewer training rows has no id vector (her id is
        "none"), so a user with a handful of ratings is described by her fields alone instead
        of by an id vector fitted to those few ratings.
"""


class FactorizationMachine(_PairwiseInteractions, _FieldModel):
    """The factorization machine (Rendle 2010) over user and item fields.

    ``ŷ = w₀ + Σ_v w_v x_v + Σ_{v<v'} ⟨e_v, e_v'⟩ x_v x_v'`` over every value of the pair
    (design matrix :meth:`design_matrix`; the pairwise sum by the ``O(k · n)`` identity of
    :func:`recsys_lab.scratch.fm.fm_pairwise`). With the ids alone it is biased matrix
    factorisation; every field adds a bias and a factor vector per value.
    """ + _PARAMETERS_DOC + """
    Defaults: see the module's notes on the validation sweep; for ``task="implicit"`` pass
    ``l2=1e-3``.
    """

    def __init__(self, user_fields=None, item_fields=None, use_ids=True, task="rating",
                 embedding_dim=16, n_negatives=2, epochs=15, batch_size=4096,
                 learning_rate=0.01, l2=0.1, seed=0, user_history=0,
                 min_user_rows=1):
        self.user_fields = user_fields
        self.item_fields = item_fields
        self.use_ids = use_ids
        self.task = task
        self.embedding_dim = embedding_dim
        self.n_negatives = n_negatives
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2 = l2
        self.seed = seed
        self.user_history = user_history
        self.min_user_rows = min_user_rows

    def build_network(self) -> keras.Model:
        """:func:`fm_network`; an override must keep the layers ``user_fields``,
        ``item_fields`` and ``bias``."""
        return fm_network(self.user_encoder_, self.item_encoder_)


class _DeepModel(_FieldModel):
    hyperparameters = {**_FieldModel.hyperparameters, "hidden_units": integers(1)}

    def __init__(self, user_fields=None, item_fields=None, use_ids=True, task="rating",
                 embedding_dim=16, hidden_units=(64, 32), n_negatives=2, epochs=8,
                 batch_size=4096, learning_rate=0.003, l2=0.1, seed=0, user_history=0,
                 min_user_rows=1):
        self.user_fields = user_fields
        self.item_fields = item_fields
        self.use_ids = use_ids
        self.task = task
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.n_negatives = n_negatives
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2 = l2
        self.seed = seed
        self.user_history = user_history
        self.min_user_rows = min_user_rows


class WideAndDeep(_DeepModel):
    """Wide & Deep (Cheng et al. 2016): a linear model plus an MLP, trained jointly.

    The wide part is ``w₀ + Σ_v w_v x_v`` over every field value (and the ids); the deep
    part an MLP (ReLU layers ``hidden_units``, then a linear output) on the concatenation
    of the field embeddings. The two logits are summed. (The paper's wide part also has
    hand-made cross-product features; here the deep part must find interactions.)
    """ + _PARAMETERS_DOC + """    hidden_units : widths of the deep part's ReLU layers.
    """

    def build_network(self) -> keras.Model:
        """:func:`wide_and_deep_network`; override to try another network."""
        return wide_and_deep_network(self.user_encoder_, self.item_encoder_,
                                     tuple(self.hidden_units))


class DeepFM(_PairwiseInteractions, _DeepModel):
    """DeepFM (Guo et al. 2017): a factorization machine and an MLP on shared embeddings.

    The FM part is :class:`FactorizationMachine`'s score; the deep part an MLP on the
    concatenated field embeddings, as in :class:`WideAndDeep`. The logits are summed.
    """ + _PARAMETERS_DOC + """    hidden_units : widths of the deep part's ReLU layers.
    """

    def build_network(self) -> keras.Model:
        """:func:`deepfm_network`; an override must keep the layers ``user_fields``,
        ``item_fields`` and ``bias``."""
        return deepfm_network(self.user_encoder_, self.item_encoder_, tuple(self.hidden_units))


class DCNv2(_DeepModel):
    """Deep & Cross Network v2 (Wang et al. 2021), the stacked form.

    ``x₀`` is the concatenation of the field embeddings (``n_fields · k`` numbers); each of
    ``n_cross_layers`` cross layers computes ``x_{l+1} = x₀ ⊙ (x_l W_l + b_l) + x_l``
    (``keras_rs.layers.FeatureCross``; NumPy: :func:`recsys_lab.scratch.fm.cross_layer`),
    so ``L`` layers hold every product of up to ``L + 1`` coordinates; an MLP and a linear
    output follow.
    """ + _PARAMETERS_DOC + """    hidden_units : widths of the ReLU layers after the cross layers.
    n_cross_layers : int ≥ 0, the number of cross layers.
    """

    hyperparameters = {**_DeepModel.hyperparameters, "n_cross_layers": integer(0)}

    def __init__(self, user_fields=None, item_fields=None, use_ids=True, task="rating",
                 embedding_dim=16, n_cross_layers=2, hidden_units=(64, 32), n_negatives=2,
                 epochs=8, batch_size=4096, learning_rate=0.003, l2=0.1, seed=0, user_history=0,
                 min_user_rows=1):
        super().__init__(user_fields, item_fields, use_ids, task, embedding_dim, hidden_units,
                         n_negatives, epochs, batch_size, learning_rate, l2, seed,
                         user_history=user_history, min_user_rows=min_user_rows)
        self.n_cross_layers = n_cross_layers

    def build_network(self) -> keras.Model:
        """:func:`dcn_network`; override to try another network."""
        return dcn_network(self.user_encoder_, self.item_encoder_, int(self.n_cross_layers),
                           tuple(self.hidden_units))


class MultiTask(_FieldModel):
    """One network, two tasks: the rating a user gives and whether they watch the film.

    On the shared field embeddings, ``architecture="shared_bottom"`` puts one MLP
    (``expert_units``) under both task towers; ``"mmoe"`` (Ma et al. 2018) puts
    ``n_experts`` expert MLPs, which each task mixes with its own softmax gate. Each task
    has a tower (ReLU layers ``hidden_units``, then a linear output).

    The rating head is trained by MSE on the observed ratings, the watched head by binary
    cross-entropy: every rated pair is a 1, ``n_negatives`` uniform draws per pair are 0s
    (draws the user rated are masked). The loss is ``rating_weight · MSE + BCE``;
    ``curves_`` records ``loss``, ``rating_loss`` and ``watched_loss``. ``predict`` gives
    the rating; ``score_items`` the watched logit, for ranking.

    Parameters
    ----------
    architecture : ``"shared_bottom"`` or ``"mmoe"``.
    n_experts : int, experts of the MMoE (unused by shared-bottom).
    expert_units : widths of each expert's (or the shared bottom's) ReLU layers.
    hidden_units : widths of each task tower's ReLU layers.
    rating_weight : float ≥ 0, the weight of the rating loss.
    others : ``user_fields``, ``item_fields``, ``use_ids``, ``embedding_dim``,
        ``n_negatives``, ``epochs``, ``batch_size``, ``learning_rate``, ``l2``, ``seed``,
        ``user_history`` and ``min_user_rows``, as in :class:`FactorizationMachine`.
    """

    hyperparameters = {**_COMMON, "architecture": one_of(*ARCHITECTURES),
                       "n_experts": integer(1), "expert_units": integers(1),
                       "hidden_units": integers(1), "rating_weight": NON_NEGATIVE}

    def __init__(self, user_fields=None, item_fields=None, use_ids=True,
                 architecture="shared_bottom", n_experts=4, expert_units=(64,),
                 hidden_units=(32,), rating_weight=1.0, embedding_dim=16, n_negatives=2,
                 epochs=12, batch_size=4096, learning_rate=0.003, l2=0.1, seed=0, user_history=0,
                 min_user_rows=1):
        self.user_fields = user_fields
        self.item_fields = item_fields
        self.use_ids = use_ids
        self.architecture = architecture
        self.n_experts = n_experts
        self.expert_units = expert_units
        self.hidden_units = hidden_units
        self.rating_weight = rating_weight
        self.embedding_dim = embedding_dim
        self.n_negatives = n_negatives
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2 = l2
        self.seed = seed
        self.user_history = user_history
        self.min_user_rows = min_user_rows

    def _task(self) -> str:
        return "rating"

    def build_network(self) -> keras.Model:
        """:func:`multitask_network`; its outputs must stay ``rating`` and ``watched``."""
        return multitask_network(self.user_encoder_, self.item_encoder_, self.architecture,
                                 int(self.n_experts), tuple(self.expert_units),
                                 tuple(self.hidden_units))

    def _loss_names(self) -> tuple[str, ...]:
        return ("loss", "rating_loss", "watched_loss")

    def _step_function(self):
        network, optimizer, data = self.network_, self._optimizer, self._data
        variables = network.trainable_variables
        n_negatives, rating_weight = int(self.n_negatives), float(self.rating_weight)

        def step(rows):
            users, items = tf.gather(data["user"], rows), tf.gather(data["item"], rows)
            negatives, mask = self._negatives(users)
            repeated = tf.reshape(tf.repeat(users[:, None], n_negatives, axis=1), [-1])
            with tf.GradientTape() as tape:
                observed = network([users, items], training=True)
                drawn = network([repeated, tf.reshape(negatives, [-1])], training=True)
                rating_loss = ops.mean(ops.square(tf.gather(data["rating"], rows)
                                                  - observed["rating"]))
                watched_loss = bce_loss(observed["watched"],
                                        tf.reshape(drawn["watched"], tf.shape(negatives)), mask)
                loss = rating_weight * rating_loss + watched_loss
                penalty = self._penalty(users, items, negatives)
                total = loss + penalty
            optimizer.apply(tape.gradient(total, variables), variables)
            return tf.stack([loss, rating_loss, watched_loss])

        return step

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.global_mean_ + self._outputs(users, items)["rating"]

    def _score(self, users: np.ndarray) -> np.ndarray:
        """The watched logit of every item, ``(len(users), n_items)``."""
        pairs_users = np.repeat(users, self.n_items_)
        pairs_items = np.tile(np.arange(self.n_items_), len(users))
        watched = self._outputs(pairs_users, pairs_items)["watched"]
        return watched.reshape(len(users), self.n_items_)
