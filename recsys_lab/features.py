"""Item and user side information turned into arrays that models can use.

* :func:`genre_matrix`: the binary item × genre matrix.
* :func:`content_tokens`: each item's content (genres, year, title words, knowledge-graph
  entities grouped by relation) as a padded sequence of token ids, for sequence models
  such as the CNN of chapter 5.
* :func:`bag_of_tokens`: the same content as a sparse item × token count matrix, for
  linear content models.
* :func:`user_features` and :func:`item_features`: one-hot side features of users (age
  group, gender, occupation) and items (genres, release decade), e.g. for a two-tower model.
* :func:`item_entities`: the knowledge graph as a sparse item × entity link matrix, for
  graph models that add entities as nodes.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp


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


#: Knowledge-graph relations used as content, in the order their tokens appear in an item's
#: sequence: short name used as the token prefix, and the most entities kept per item.
KG_RELATIONS: dict[str, tuple[str, int]] = {
    "film.film.directed_by": ("director", 2),
    "film.film.written_by": ("writer", 3),
    "film.film.produced_by": ("producer", 3),
    "film.film.cinematography": ("cinematographer", 1),
    "film.film.production_companies": ("company", 2),
    "film.film.country": ("country", 2),
    "film.film.language": ("language", 2),
    "film.film.rating": ("mpaa", 1),
    "film.film.genre": ("fbgenre", 6),
    "film.film.subjects": ("subject", 3),
    "film.film.award_nomination": ("nominated", 6),
    "film.film.award_won": ("won", 6),
    "film.film.actor": ("actor", 16),
}

#: The content fields :func:`content_tokens` knows, in sequence order.
CONTENT_FIELDS = ("genre", "year", "title", "kg")

#: Title words that say nothing about a film.
_STOP_WORDS = frozenset(
    "a an the of and in on to for with from at by la le les el il de des du der die das".split()
)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, eq=False, repr=False)
class ItemContent:
    """Items as token sequences: the output of :func:`content_tokens`.

    Attributes
    ----------
    tokens : int64 array, shape ``(n_items, max_length)``. Row ``i`` lists item ``i``'s token
        ids in field order, then zeros: id 0 is padding and never a token.
    vocabulary : list of str, length ``vocab_size``; ``vocabulary[t]`` names token ``t``,
        e.g. ``"genre:Comedy"``, ``"title:star"``, ``"director:m.0bxtg"``;
        ``vocabulary[0] == "<pad>"``.
    fields : the content fields used.
    """

    tokens: np.ndarray
    vocabulary: list[str]
    fields: tuple[str, ...]

    def __eq__(self, other) -> bool:
        if not isinstance(other, ItemContent):
            return NotImplemented
        return (tuple(self.fields) == tuple(other.fields) and self.vocabulary == other.vocabulary
                and np.array_equal(self.tokens, other.tokens))

    def __hash__(self) -> int:
        return hash((np.shape(self.tokens), tuple(self.vocabulary), tuple(self.fields)))

    def __repr__(self) -> str:
        # A model holding the content prints it in its repr: a summary, not every token.
        n_items, max_length = np.shape(self.tokens)
        return (f"ItemContent(fields={tuple(self.fields)!r}, n_items={n_items}, "
                f"max_length={max_length}, vocab_size={self.vocab_size})")

    @property
    def vocab_size(self) -> int:
        """Number of token ids, padding included (the input size of an embedding layer)."""
        return len(self.vocabulary)

    @property
    def lengths(self) -> np.ndarray:
        """Number of real (non-padding) tokens of each item, shape ``(n_items,)``."""
        return (self.tokens > 0).sum(axis=1)

    def decode(self, item: int) -> list[str]:
        """The token names of one item, in sequence order."""
        return [self.vocabulary[t] for t in self.tokens[item] if t > 0]


def _item_token_lists(items: pd.DataFrame, kg: pd.DataFrame | None,
                      fields: tuple[str, ...]) -> list[list[str]]:
    """Each item's token names (before the vocabulary filter), one list per item."""
    n_items = int(items["item"].max()) + 1
    lists: list[list[str]] = [[] for _ in range(n_items)]
    for row in items.itertuples(index=False):
        tokens = lists[row.item]
        if "genre" in fields:
            tokens += [f"genre:{g}" for g in row.genres]
        if "year" in fields and not pd.isna(row.year):
            tokens += [f"decade:{int(row.year) // 10 * 10}s", f"year:{int(row.year)}"]
        if "title" in fields:
            words = _WORD.findall(str(row.title).lower())
            tokens += [f"title:{w}" for w in dict.fromkeys(words) if w not in _STOP_WORDS]
    if "kg" in fields:
        kg = kg[kg["relation"].isin(KG_RELATIONS)].drop_duplicates(["item", "relation", "entity"])
        kg = kg[kg["item"] < n_items]
        names = [f"{KG_RELATIONS[r][0]}:{e}" for r, e in zip(kg["relation"], kg["entity"],
                                                             strict=True)]
        frame = pd.DataFrame({"item": kg["item"].to_numpy(), "name": names,
                              "order": kg["relation"].map(list(KG_RELATIONS).index).to_numpy()})
        # Within a relation, the entities shared by most films come first (they survive the cap).
        frame["films"] = frame.groupby("name")["item"].transform("size")
        frame = frame.sort_values(["item", "order", "films", "name"],
                                  ascending=[True, True, False, True])
        for item, names in frame.groupby("item", sort=False)["name"]:
            lists[item] += list(names)
    return lists


def content_tokens(
    items: pd.DataFrame,
    kg: pd.DataFrame | None = None,
    *,
    fields=CONTENT_FIELDS,
    min_count: int = 2,
    max_length: int = 64,
) -> ItemContent:
    """Every item's content as a padded sequence of token ids (0 = padding).

    An item's sequence is, in this order: its genre tokens (``genre:Drama``), a decade and a
    year token (``decade:1990s``, ``year:1995``), its title words (lower-cased, without
    articles and prepositions; ``title:star``), then its knowledge-graph entities grouped by
    relation in the order of :data:`KG_RELATIONS` (``director:m.0bxtg``, ..., ``actor:...``).
    The relation is part of the token, so an entity that directed one film and wrote another
    gives two tokens. Within a relation the entities linked to most films come first, and
    at most ``KG_RELATIONS[relation][1]`` are kept, so the actors (up to 158 per film) do
    not crowd out everything else.

    The vocabulary is built from the content of **all** items given, keeping the tokens
    that occur in at least ``min_count`` items (a token of a single item cannot relate it to
    any other). This is legitimate under cold start: a new film's content is known when it
    must be recommended; only its *interactions* are not. Models should still ignore tokens
    that no training item carries (their embeddings would never be trained); the models of
    :mod:`recsys_lab.models.content` do so.

    Parameters
    ----------
    items : DataFrame with ``item`` (contiguous 0-based ids), ``title``, ``year``
        (may be NA) and ``genres`` (list of str), as in ``load_movielens_100k().items``.
    kg : DataFrame with ``item``, ``relation``, ``entity`` (``load_movielens_100k().kg``);
        needed when ``fields`` contains ``"kg"``. Relations not in :data:`KG_RELATIONS` are
        ignored.
    fields : which of ``"genre"``, ``"year"``, ``"title"``, ``"kg"`` to use.
    min_count : keep tokens found in at least this many items.
    max_length : columns of the token array; longer sequences are cut at the end.

    Returns
    -------
    ItemContent with ``tokens`` of shape ``(n_items, max_length)``.
    """
    fields = tuple(fields)
    unknown = set(fields) - set(CONTENT_FIELDS)
    if unknown or not fields:
        raise ValueError(f"fields must be a non-empty subset of {CONTENT_FIELDS}, got {fields}")
    needed = {"item", "genres"} | ({"year"} if "year" in fields else set()) | (
        {"title"} if "title" in fields else set())
    if not needed <= set(items.columns):
        raise ValueError(f"items needs columns {sorted(needed)}, has {list(items.columns)}")
    if "kg" in fields and (kg is None or not {"item", "relation", "entity"} <= set(kg.columns)):
        raise ValueError("fields include 'kg': pass kg with columns 'item', 'relation', 'entity'")
    if min_count < 1 or max_length < 1:
        raise ValueError(f"min_count and max_length must be positive, got {min_count}, "
                         f"{max_length}")
    lists = _item_token_lists(items, kg, fields)
    counts = Counter(name for names in lists for name in set(names))
    # Sorted by field prefix and name, so the ids do not depend on the order of the items.
    vocabulary = ["<pad>"] + sorted(name for name, n in counts.items() if n >= min_count)
    index = {name: t for t, name in enumerate(vocabulary)}
    cap = dict(KG_RELATIONS.values())
    tokens = np.zeros((len(lists), max_length), dtype=np.int64)
    for item, names in enumerate(lists):
        kept = Counter()
        ids = []
        for name in names:
            prefix = name.split(":", 1)[0]
            if name in index and kept[prefix] < cap.get(prefix, max_length):
                kept[prefix] += 1
                ids.append(index[name])
        tokens[item, :min(len(ids), max_length)] = ids[:max_length]
    return ItemContent(tokens=tokens, vocabulary=vocabulary, fields=fields)


def bag_of_tokens(tokens: np.ndarray, vocab_size: int, binary: bool = True) -> sp.csr_matrix:
    """Sparse ``(n_items, vocab_size)`` matrix of token counts (or 0/1) of each item's sequence.

    Column 0 (padding) is always empty. The order of the tokens is lost: this is the input
    of a linear content model, the ablation of a convolutional one.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 2:
        raise ValueError(f"tokens must have shape (n_items, length), got {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size}), found "
                         f"[{tokens.min()}, {tokens.max()}]")
    rows = np.repeat(np.arange(tokens.shape[0]), tokens.shape[1])
    ids = tokens.ravel()
    keep = ids > 0
    matrix = sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], ids[keep])),
                           shape=(tokens.shape[0], vocab_size))
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    return matrix


#: Age groups of :func:`user_features`: lower bounds of ``[0, 18), [18, 25), ..., [56, ∞)``.
AGE_BOUNDS = (18, 25, 35, 45, 56)


def user_features(users: pd.DataFrame) -> np.ndarray:
    """One-hot user side features: age group, gender and occupation.

    ``users`` has columns ``user`` (contiguous 0-based ids), ``age`` (years), ``gender``
    and ``occupation`` (strings), as in ``load_movielens_100k().users``. Returns a float
    array of shape ``(n_users, 6 + n_genders + n_occupations)``: six age groups split at
    :data:`AGE_BOUNDS`, then one column per gender and per occupation (sorted names).
    """
    needed = {"user", "age", "gender", "occupation"}
    if not needed <= set(users.columns):
        raise ValueError(f"users needs columns {sorted(needed)}, has {list(users.columns)}")
    users = users.sort_values("user")
    if not np.array_equal(users["user"].to_numpy(), np.arange(len(users))):
        raise ValueError("users must hold every id 0..n_users-1 exactly once")
    age_group = np.searchsorted(AGE_BOUNDS, users["age"].to_numpy(), side="right")
    parts = [np.eye(len(AGE_BOUNDS) + 1)[age_group]]
    for column in ("gender", "occupation"):
        values = users[column].to_numpy()
        parts.append((values[:, None] == np.unique(values)[None, :]).astype(float))
    return np.hstack(parts)


def item_features(items: pd.DataFrame, genres=None) -> np.ndarray:
    """Item side features: the genres (multi-hot) and the release decade (one-hot).

    ``items`` has columns ``item``, ``genres`` (list of names) and ``year`` (may be NA), as
    in ``load_movielens_100k().items``; ``genres`` fixes the genre columns (default: sorted).
    Returns a float array of shape ``(n_items, n_genres + n_decades + 1)``; the last column
    marks an unknown year. Decades before the 1950s are pooled into one.
    """
    if "year" not in items.columns:
        raise ValueError(f"items needs a 'year' column, has {list(items.columns)}")
    multi_hot = genre_matrix(items, genres)
    year = items.set_index("item")["year"].reindex(np.arange(len(multi_hot)))
    known = year.notna().to_numpy()
    decade = np.where(known, year.fillna(1990).to_numpy(dtype=float) // 10 * 10, np.nan)
    decade = np.maximum(decade, 1940)  # 1940 stands for "1940s or earlier"
    decades = np.unique(decade[known])
    one_hot = (decade[:, None] == decades[None, :]).astype(float)
    return np.hstack([multi_hot, one_hot, (~known)[:, None].astype(float)])


class EntityLinks(NamedTuple):
    """Items linked to knowledge-graph entities: ``matrix[i, e] = 1`` links item ``i`` to
    entity ``entities[e]``."""

    matrix: sp.csr_matrix
    entities: np.ndarray


def item_entities(kg: pd.DataFrame, n_items: int, min_items: int = 2,
                  relations=None) -> EntityLinks:
    """The ``(n_items, n_entities)`` 0/1 matrix of item–entity links in ``kg``.

    ``kg`` has columns ``item``, ``relation`` and ``entity`` (``MovieLens.kg``). Only
    entities linked to at least ``min_items`` distinct items are kept (an entity of one
    film connects nothing); ``relations`` keeps only those relations (default: all).
    Columns are ordered by entity name, so the matrix is the same in every process.
    """
    missing = {"item", "relation", "entity"} - set(kg.columns)
    if missing:
        raise ValueError(f"kg needs columns 'item', 'relation' and 'entity'; missing "
                         f"{sorted(missing)}")
    if not isinstance(min_items, (int, np.integer)) or isinstance(min_items, bool) or (
            min_items < 1):
        raise ValueError(f"min_items must be an integer ≥ 1, got {min_items!r}")
    links = kg[["item", "relation", "entity"]]
    if relations is not None:
        unknown = set(relations) - set(links["relation"])
        if unknown:
            raise ValueError(f"relations not in kg: {sorted(unknown)}")
        links = links[links["relation"].isin(list(relations))]
    links = links.drop_duplicates(["item", "entity"])
    if len(links) and (links["item"].min() < 0 or links["item"].max() >= n_items):
        raise ValueError(f"kg has item ids outside 0..{n_items - 1}")
    counts = links.groupby("entity")["item"].transform("size")
    links = links[counts >= min_items]
    entities = np.sort(links["entity"].unique())
    columns = np.searchsorted(entities, links["entity"].to_numpy())
    matrix = sp.csr_matrix((np.ones(len(links)), (links["item"].to_numpy(), columns)),
                           shape=(n_items, len(entities)))
    return EntityLinks(matrix, entities)
