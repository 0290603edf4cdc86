"""Categorical fields of users and items: the input of the feature-rich models.

A *field* is one categorical attribute, such as a user's occupation or a film's genres. Each
row (a user, or an item) takes one value of the field, or several (a film has up to six
genres: a *multi-hot* field). A :class:`Field` stores its values as integer ids into its
``vocabulary`` and, beside them, the number each value contributes to the row's input ``x``
of a factorization machine:

* a single-valued field: ``x = 1`` for the row's value;
* a multi-hot field: ``x = 1 / count`` for each of the row's ``count`` values, so that every
  field weighs the same in a row however many values it has (and a field's embedding,
  ``Σ x · v``, is the mean of its values' embeddings).

Value id 0 means *none*: padding of a multi-hot row, a missing value (NaN) or one outside
the vocabulary. Its ``x`` is 0, so such a value contributes nothing: a row with no known
value of a field is described by its other fields alone.

:class:`Fields` holds all the fields of one side (users or items), row ``r`` being user (or
item) id ``r``. :meth:`Fields.design_matrix` lays them out as the sparse design matrix of a
factorization machine (one block of columns per field).

* :func:`user_fields` — age group, gender, occupation of ``MovieLens.users``;
* :func:`item_fields` — genres, release decade and knowledge-graph entities (directors,
  actors, ...) of ``MovieLens.items`` and ``MovieLens.kg``;
* :func:`demographic_groups` — each user's age group × gender, e.g. for a popularity
  baseline within groups;
* :func:`history_field` — each user's first films as a multi-hot user field, so that a new
  user's first ratings describe her as a feature, without an id of her own.

Vocabularies are sorted, so the ids are the same in every process. Nothing here imports
TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_lab.features import AGE_BOUNDS, KG_RELATIONS
from recsys_lab.splits import history_positions

#: The name of value id 0 in every vocabulary.
NONE = "<none>"

#: The fields :func:`user_fields` knows.
USER_FIELDS = ("age", "gender", "occupation")
#: The fields :func:`item_fields` knows: genres, decade, then one per knowledge-graph relation
#: of :data:`recsys_lab.features.KG_RELATIONS`, by its short name ("director", "actor", ...).
ITEM_FIELDS = ("genre", "decade", *(short for short, _ in KG_RELATIONS.values()))

#: Names of the age groups split at :data:`recsys_lab.features.AGE_BOUNDS`.
AGE_GROUPS = tuple(
    [f"<{AGE_BOUNDS[0]}"]
    + [f"{low}-{high - 1}" for low, high in zip(AGE_BOUNDS[:-1], AGE_BOUNDS[1:], strict=True)]
    + [f"{AGE_BOUNDS[-1]}+"])


@dataclass(frozen=True, eq=False, repr=False)
class Field:
    """One categorical field of ``n_rows`` rows.

    Attributes
    ----------
    name : str, e.g. ``"occupation"``.
    values : int64 array ``(n_rows, width)``: the value ids of each row; 0 means none
        (padding, missing or unknown). ``width`` is 1 for a single-valued field.
    weights : float array ``(n_rows, width)``: the input ``x`` of each value (1 for a
        single-valued field, ``1 / count`` for each of a multi-hot row's values), 0 where
        ``values == 0``.
    vocabulary : list of str; ``vocabulary[v]`` names value ``v``, ``vocabulary[0]`` is
        ``"<none>"``.
    """

    name: str
    values: np.ndarray
    weights: np.ndarray
    vocabulary: list[str]

    def __post_init__(self):
        values, weights = np.asarray(self.values), np.asarray(self.weights, dtype=float)
        if values.ndim != 2 or values.shape[1] < 1 or weights.shape != values.shape:
            raise ValueError(f"field {self.name!r}: values and weights must be arrays of one "
                             f"shape (n_rows, width ≥ 1), got {values.shape} and "
                             f"{weights.shape}")
        if not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"field {self.name!r}: values must be integer ids, got "
                             f"{values.dtype}")
        if not list(self.vocabulary) or self.vocabulary[0] != NONE:
            raise ValueError(f"field {self.name!r}: vocabulary[0] must be {NONE!r}")
        if values.size and (values.min() < 0 or values.max() >= len(self.vocabulary)):
            raise ValueError(f"field {self.name!r}: value ids must lie in 0..."
                             f"{len(self.vocabulary) - 1} (the vocabulary)")
        if not np.all(np.isfinite(weights)) or np.any(weights[values == 0] != 0):
            raise ValueError(f"field {self.name!r}: weights must be finite and 0 where "
                             "values is 0 (none)")
        object.__setattr__(self, "values", values.astype(np.int64, copy=False))
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "vocabulary", list(self.vocabulary))

    def __eq__(self, other) -> bool:
        if not isinstance(other, Field):
            return NotImplemented
        return (self.name == other.name and self.vocabulary == other.vocabulary
                and np.array_equal(self.values, other.values)
                and np.array_equal(self.weights, other.weights))

    def __hash__(self) -> int:
        return hash((self.name, self.values.shape, tuple(self.vocabulary)))

    def __repr__(self) -> str:
        # The arrays run to thousands of rows: a model holding fields would print them all.
        return (f"Field(name={self.name!r}, n_rows={self.n_rows}, width={self.width}, "
                f"vocab_size={self.vocab_size})")

    @property
    def vocab_size(self) -> int:
        """Number of value ids, "none" included (the input size of an embedding table)."""
        return len(self.vocabulary)

    @property
    def width(self) -> int:
        """Number of value slots per row (1 for a single-valued field)."""
        return self.values.shape[1]

    @property
    def multi_hot(self) -> bool:
        """Whether a row can hold more than one value."""
        return self.width > 1

    @property
    def n_rows(self) -> int:
        return self.values.shape[0]

    def design_matrix(self) -> sp.csr_matrix:
        """``(n_rows, vocab_size)`` sparse matrix of the weights; column 0 is always empty."""
        rows = np.repeat(np.arange(self.n_rows), self.width)
        keep = self.values.ravel() > 0
        matrix = sp.csr_matrix(
            (self.weights.ravel()[keep], (rows[keep], self.values.ravel()[keep])),
            shape=(self.n_rows, self.vocab_size))
        matrix.sum_duplicates()
        return matrix


@dataclass(frozen=True, repr=False)
class Fields:
    """All the fields of one side (users or items): row ``r`` describes id ``r``.

    Iterate over it for the :class:`Field` objects; ``fields["genre"]`` picks one.
    """

    fields: tuple[Field, ...]

    def __post_init__(self):
        fields = tuple(self.fields)
        if not all(isinstance(field, Field) for field in fields):
            raise ValueError("Fields holds Field objects only")
        names = [field.name for field in fields]
        if len(set(names)) != len(names):
            raise ValueError(f"field names must be distinct, got {names}")
        if len({field.n_rows for field in fields}) > 1:
            raise ValueError("every field must have the same number of rows, got "
                             + ", ".join(f"{f.name}: {f.n_rows}" for f in fields))
        object.__setattr__(self, "fields", fields)

    def __repr__(self) -> str:
        return f"Fields(names={self.names!r}, n_rows={self.n_rows})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    @property
    def n_rows(self) -> int:
        """Number of rows (users or items); 0 when there is no field."""
        return self.fields[0].n_rows if self.fields else 0

    def __len__(self) -> int:
        return len(self.fields)

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __getitem__(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"no field {name!r}; the fields are {list(self.names)}")

    def select(self, *names: str) -> Fields:
        """The fields ``names``, in that order."""
        unknown = [name for name in names if name not in self.names]
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; the fields are {list(self.names)}")
        return Fields(tuple(self[name] for name in names))

    def design_matrix(self) -> sp.csr_matrix:
        """The FM design matrix ``(n_rows, Σ vocab_size)``: one block of columns per field.

        Each block holds a field's weights, column ``v`` of the block for value ``v``; the
        first column of each block (value "none") is always empty.
        """
        if not self.fields:
            return sp.csr_matrix((0, 0))
        return sp.hstack([field.design_matrix() for field in self.fields], format="csr")

    def column_names(self) -> list[str]:
        """Names of the design matrix's columns, e.g. ``"occupation=writer"``."""
        return [f"{field.name}={value}" for field in self.fields for value in field.vocabulary]


# --------------------------------------------------------------------------------------------
# Building fields from data frames
# --------------------------------------------------------------------------------------------


def _vocabulary(like: Fields | None, name: str, found) -> list[str]:
    if like is not None and name in like.names:
        return like[name].vocabulary
    return [NONE, *sorted(set(found))]


def _single(name: str, labels: Sequence, vocabulary: list[str]) -> Field:
    """A single-valued field; a label that is None or not in ``vocabulary`` becomes 0."""
    index = {label: v for v, label in enumerate(vocabulary) if v > 0}
    values = np.array([index.get(label, 0) for label in labels], dtype=np.int64)[:, None]
    return Field(name, values, (values > 0).astype(float), vocabulary)


def _multi(name: str, label_lists: Sequence[Sequence], vocabulary: list[str]) -> Field:
    """A multi-hot field: each row's known values, sorted by id, each weighing 1 / count."""
    index = {label: v for v, label in enumerate(vocabulary) if v > 0}
    rows = [sorted({index[label] for label in labels if label in index})
            for labels in label_lists]
    width = max([len(row) for row in rows] + [1])
    values = np.zeros((len(rows), width), dtype=np.int64)
    weights = np.zeros((len(rows), width))
    for r, row in enumerate(rows):
        values[r, :len(row)] = row
        weights[r, :len(row)] = 1.0 / max(len(row), 1)
    return Field(name, values, weights, vocabulary)


def _check_frame(frame: pd.DataFrame, kind: str, needed: Sequence[str]) -> pd.DataFrame:
    """``frame`` sorted by id, after checking its columns and that ids are ``0..n-1``."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{kind}s must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [column for column in [kind, *needed] if column not in frame.columns]
    if missing:
        raise ValueError(f"{kind}s is missing column(s) {missing}; it has "
                         f"{list(frame.columns)}")
    frame = frame.sort_values(kind)
    if not np.array_equal(frame[kind].to_numpy(), np.arange(len(frame))):
        raise ValueError(f"{kind}s must hold every {kind} id 0..n-1 exactly once (row r of "
                         f"the fields describes {kind} r)")
    return frame


def _check_names(names, known: Sequence[str], kind: str) -> tuple[str, ...]:
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [name for name in names if name not in known]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"{kind} field names must be distinct names among {list(known)}, "
                         f"got {list(names)}")
    return names


def _labels(column: pd.Series) -> list:
    """Values as strings, None where missing."""
    return [None if pd.isna(value) else str(value) for value in column]


def age_group(ages) -> np.ndarray:
    """Index into :data:`AGE_GROUPS` of each age (years); -1 where the age is missing."""
    ages = pd.to_numeric(pd.Series(ages), errors="coerce").to_numpy(dtype=float)
    groups = np.searchsorted(AGE_BOUNDS, np.nan_to_num(ages), side="right")
    return np.where(np.isnan(ages), -1, groups)


def user_fields(users: pd.DataFrame, names=USER_FIELDS, like: Fields | None = None) -> Fields:
    """The categorical fields of users: ``"age"`` (group), ``"gender"``, ``"occupation"``.

    Parameters
    ----------
    users : DataFrame with a ``user`` column holding every id ``0..n_users-1`` once, and
        the columns of the fields asked for (``age`` in years, ``gender``, ``occupation``),
        as ``load_movielens_100k().users``.
    names : which fields, in order.
    like : optional :class:`Fields` whose vocabularies to reuse (e.g. to encode new users
        exactly as the training ones); default: each field's sorted values.

    Returns
    -------
    Fields with ``n_rows = n_users``. Age is cut into the groups :data:`AGE_GROUPS`
    (vocabulary in age order). A missing value (NaN), or one not in ``like``'s vocabulary,
    becomes value 0 ("none"): that field then contributes nothing for the user.
    """
    names = _check_names(names, USER_FIELDS, "user")
    users = _check_frame(users, "user", names)
    fields = []
    for name in names:
        if name == "age":
            groups = age_group(users["age"])
            labels = [AGE_GROUPS[g] if g >= 0 else None for g in groups]
            vocabulary = (like["age"].vocabulary if like is not None and "age" in like.names
                          else [NONE, *AGE_GROUPS])
        else:
            labels = _labels(users[name])
            vocabulary = _vocabulary(like, name, [label for label in labels if label])
        fields.append(_single(name, labels, vocabulary))
    return Fields(tuple(fields))


def _decade(year) -> str | None:
    return None if pd.isna(year) else f"{int(year) // 10 * 10}s"


def _entities(kg: pd.DataFrame, relation: str, n_items: int, min_count: int) -> list[list[str]]:
    """Each item's entities of ``relation`` linked to ≥ ``min_count`` films, capped as in
    :data:`KG_RELATIONS` (the entities shared by most films kept first)."""
    cap = KG_RELATIONS[relation][1]
    links = kg.loc[kg["relation"] == relation, ["item", "entity"]].drop_duplicates()
    links = links[(links["item"] >= 0) & (links["item"] < n_items)]
    links = links.assign(films=links.groupby("entity")["item"].transform("size"))
    links = links[links["films"] >= min_count].sort_values(
        ["item", "films", "entity"], ascending=[True, False, True])
    lists: list[list[str]] = [[] for _ in range(n_items)]
    for item, entities in links.groupby("item", sort=False)["entity"]:
        lists[int(item)] = list(entities)[:cap]
    return lists


def item_fields(items: pd.DataFrame, kg: pd.DataFrame | None = None, names=("genre", "decade"),
                min_count: int = 2, like: Fields | None = None) -> Fields:
    """The categorical fields of items: genres, release decade, knowledge-graph entities.

    Parameters
    ----------
    items : DataFrame with an ``item`` column holding every id ``0..n_items-1`` once,
        ``genres`` (a list of names per item) for ``"genre"`` and ``year`` (may be NA) for
        ``"decade"``, as ``load_movielens_100k().items``.
    kg : DataFrame with ``item``, ``relation``, ``entity`` (``MovieLens.kg``); needed for
        the knowledge-graph fields.
    names : which fields, in order: ``"genre"`` (multi-hot), ``"decade"`` (e.g.
        ``"1990s"``; a missing year gives "none"), or the short name of a relation of
        :data:`recsys_lab.features.KG_RELATIONS` (``"director"``, ``"actor"``, ...:
        multi-hot, Freebase ids such as ``"m.0bxtg"``).
    min_count : a knowledge-graph entity is kept when linked to at least this many films
        (one linked to a single film relates it to no other). At most
        ``KG_RELATIONS[relation][1]`` entities are kept per film (16 actors), those shared
        by most films first.
    like : optional :class:`Fields` whose vocabularies to reuse; values outside them
        become 0 ("none").

    Returns
    -------
    Fields with ``n_rows = n_items``.
    """
    names = _check_names(names, ITEM_FIELDS, "item")
    needed = (["genres"] if "genre" in names else []) + (["year"] if "decade" in names else [])
    items = _check_frame(items, "item", needed)
    relations = {short: relation for relation, (short, _) in KG_RELATIONS.items()}
    if any(name in relations for name in names):
        if kg is None or not {"item", "relation", "entity"} <= set(kg.columns):
            raise ValueError(f"fields {[n for n in names if n in relations]} come from the "
                             "knowledge graph: pass kg with columns 'item', 'relation', "
                             "'entity'")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or (
            min_count < 1):
        raise ValueError(f"min_count must be an integer ≥ 1, got {min_count!r}")
    fields = []
    for name in names:
        if name == "decade":
            labels = [_decade(year) for year in items["year"]]
            fields.append(_single(name, labels, _vocabulary(like, name, filter(None, labels))))
            continue
        if name == "genre":
            lists = [[str(g) for g in genres] if isinstance(genres, (list, tuple, np.ndarray))
                     else [] for genres in items["genres"]]
        else:
            lists = _entities(kg, relations[name], len(items), min_count)
        found = [label for labels in lists for label in labels]
        fields.append(_multi(name, lists, _vocabulary(like, name, found)))
    return Fields(tuple(fields))


def demographic_groups(users: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Each user's demographic group: age group × gender.

    ``users`` has ``user`` (every id ``0..n_users-1`` once), ``age`` and ``gender``.
    Returns ``groups`` (int64, ``(n_users,)``, group ids ``0..n_groups-1``) and ``names``
    (``names[g]`` such as ``"25-34 F"``). Only the groups that occur are listed, ordered by
    age group then gender; a missing age or gender is a group of its own (``"<none> M"``).
    """
    fields = user_fields(users, ("age", "gender"))
    age, gender = fields["age"].values[:, 0], fields["gender"].values[:, 0]
    pairs, groups = np.unique(np.column_stack([age, gender]), axis=0, return_inverse=True)
    names = [f"{fields['age'].vocabulary[a]} {fields['gender'].vocabulary[g]}" for a, g in pairs]
    return groups.ravel().astype(np.int64), names


def history_field(interactions: pd.DataFrame, n_users: int, n_items: int,
                  width: int = 10) -> Field:
    """Each user's first ``width`` films, in time order, as a multi-hot user field "history".

    ``interactions`` has columns ``user``, ``item`` and ``timestamp`` (ties keep the order of
    the input), ids in ``[0, n_users)`` and ``[0, n_items)``: pass the *training* data, so that
    a new user's field holds exactly the ratings she has given so far (under COLD-USER+5, her
    first five), and a user with no interaction has an empty field. Value ``v`` is item
    ``v - 1`` (vocabulary: ``"<none>"`` then the item ids as text); each of a row's ``c``
    films has input ``1 / c``, so the field's embedding is the mean of its films' vectors
    (the implicit feedback of SVD++, Koren 2008). Returns a :class:`Field` with
    ``n_users`` rows and ``width`` columns.
    """
    missing = [c for c in ("user", "item", "timestamp") if c not in interactions.columns]
    if missing:
        raise ValueError(f"interactions is missing column(s) {missing}: the history field "
                         "orders each user's films by time")
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be an integer ≥ 1, got {width!r}")
    users = interactions["user"].to_numpy()
    items = interactions["item"].to_numpy()
    if len(users) and (users.min() < 0 or users.max() >= n_users or items.min() < 0
                       or items.max() >= n_items):
        raise ValueError(f"interactions has ids outside [0, {n_users}) × [0, {n_items})")
    position = history_positions(interactions)
    keep = position < width
    values = np.zeros((n_users, width), dtype=np.int64)
    values[users[keep], position[keep]] = items[keep] + 1
    count = (values > 0).sum(axis=1, keepdims=True)
    weights = (values > 0) / np.maximum(count, 1)
    return Field("history", values, weights, [NONE, *map(str, range(n_items))])
