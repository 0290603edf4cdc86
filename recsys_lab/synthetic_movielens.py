"""MovieLens-shaped synthetic data at any size, for measuring how the cost of a model grows.

``synthetic_movielens(n_interactions)`` draws 10⁵–10⁷ (user, item, rating, timestamp) rows
with the three features of MovieLens that drive cost and accuracy:

* **power-law item popularity**: the item of popularity rank ``r`` is drawn with probability
  ∝ ``r ** -item_exponent`` (Zipf-like; MovieLens's head is that steep);
* **power-law user activity**: the user of activity rank ``r`` rates about
  ``min_per_user + c * r ** -user_exponent`` items (capped at ``max_user_share`` of the
  catalogue, as no one rates every film);
* **a planted low-rank signal**: user and item factors of rank ``rank`` decide which of the
  drawn items a user keeps (probability ``sigmoid(signal * u·v)``) and the rating
  (``round(3.1 + u·v + noise)`` clipped to 1..5 stars; the kept items lean positive, so
  the mean rating is about 3.5, as in MovieLens), so a model can recover them.

Each (user, item) pair occurs at most once and the frame has exactly ``n_interactions`` rows.
Everything is vectorised (a few passes over arrays of ``n_interactions``), so 10⁷ rows take
seconds and well under 1 GB. The small generators with planted structure used by tests and
chapters (``synthetic_ratings`` and friends) are in :mod:`recsys_lab.datasets`; this one is for
sizes where the shape of the data, not its exact structure, matters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SyntheticMovieLens", "synthetic_movielens"]

#: Items per interaction and interactions per user of the default shape: ML-100K has 1,682
#: items for 10⁵ ratings, ML-1M 3,706 for 10⁶, ML-20M 26,744 for 2·10⁷ (about 5·√n), and
#: 106 to 165 ratings per user.
ITEMS_PER_SQRT_INTERACTION = 5.0
INTERACTIONS_PER_USER = 150.0
MAX_INTERACTIONS = 100_000_000
#: Rows of factors multiplied at once: bounds the temporary (chunk × rank) arrays.
_CHUNK = 1 << 20
_MAX_ROUNDS = 60
#: Rounds drawn from the popularity law; later rounds draw uniformly. The heaviest users (up
#: to max_user_share of the catalogue) would otherwise wait on ever rarer tail items, a
#: coupon-collector tail; the few rows drawn uniformly barely change the popularity curve.
_POPULAR_ROUNDS = 8


@dataclass(frozen=True, eq=False)
class SyntheticMovieLens:
    """What :func:`synthetic_movielens` drew, and what it planted.

    ratings : DataFrame ``user``, ``item`` (int64), ``rating`` (float64, whole stars 1..5),
        ``timestamp`` (int64, increasing within each user), grouped by user.
    user_factors, item_factors : (n_users, rank), (n_items, rank); ``u·v`` has unit variance.
    item_popularity : (n_items,) the probability each item is drawn (before the planted signal
        and the no-repeat rule thin it).
    user_activity : (n_users,) how many rows each user has (exact).
    """

    ratings: pd.DataFrame
    user_factors: np.ndarray
    item_factors: np.ndarray
    item_popularity: np.ndarray
    user_activity: np.ndarray
    n_users: int
    n_items: int
    item_exponent: float
    user_exponent: float


def _check(name, value, low, high=np.inf, integer=False):
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(
        value, (int, float, np.integer, np.floating))
    if isinstance(value, bool) or not ok or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} in [{low}, {high}], got {value!r}")


def _allocate(total: int, weights: np.ndarray, low: int, high: int) -> np.ndarray:
    """Integers ``low <= c_i <= high`` summing to ``total``, as close to ∝ weights as allowed.

    Water-filling: find the scale ``s`` with ``sum(clip(low + s*w, low, high)) = total`` by
    bisection, then round down and hand out the remainder by largest fractional part.
    """
    def filled(scale):
        return np.minimum(low + scale * weights, high)

    lo, hi = 0.0, 1.0
    while filled(hi).sum() < total:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if filled(mid).sum() < total else (lo, mid)
    exact = filled(hi)
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    room = np.flatnonzero(counts < high)
    order = room[np.argsort(-(exact - counts)[room], kind="stable")]
    counts[order[:short]] += 1
    return counts


class _AliasSampler:
    """Draws from a discrete distribution in O(1) per draw (Walker's alias method).

    Inverse-CDF sampling (``searchsorted``) costs a binary search per draw, which dominated
    the generator's run time at 10⁷ rows; here a draw is one uniform index and one coin.
    Built once in O(n) (Vose's construction; a Python loop, fine up to ~10⁶ items).
    """

    def __init__(self, probabilities: np.ndarray):
        n = len(probabilities)
        scaled = probabilities * (n / probabilities.sum())
        self.keep = np.ones(n)
        self.alias = np.arange(n)
        small = [i for i in range(n) if scaled[i] < 1.0]
        large = [i for i in range(n) if scaled[i] >= 1.0]
        while small and large:
            low, high = small.pop(), large.pop()
            self.keep[low], self.alias[low] = scaled[low], high
            scaled[high] -= 1.0 - scaled[low]
            (small if scaled[high] < 1.0 else large).append(high)
        # Leftovers are 1 up to rounding: they keep their own index (keep = 1 already).

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        index = rng.integers(0, len(self.keep), size=size)
        return np.where(rng.random(size) < self.keep[index], index, self.alias[index])


def _affinity(user_factors, item_factors, users, items) -> np.ndarray:
    """``u·v`` for each (user, item) pair, a chunk at a time."""
    out = np.empty(len(users), dtype=user_factors.dtype)
    for start in range(0, len(users), _CHUNK):
        stop = start + _CHUNK
        out[start:stop] = np.einsum("ij,ij->i", user_factors[users[start:stop]],
                                    item_factors[items[start:stop]])
    return out


def _draw_block(rng, need, sampler, keep_probability, n_items, first_user):
    """For each user ``first_user + u`` of a block, ``need[u]`` distinct items drawn by
    ``sampler``, thinned by ``keep_probability(users, items)``; returns (users, items) by user.

    Rounds of sampling with replacement: each round draws what every user still lacks (plus
    a margin for thinning and repeats), drops repeats of earlier draws and trims each user to
    what they lack, in the order drawn (random), so no item id is favoured by the trimming.
    After ``_POPULAR_ROUNDS`` rounds items are drawn uniformly.
    """
    need = need.copy()
    kept_users, kept_items = [], []
    seen = np.empty(0, dtype=np.int64)  # sorted keys user * n_items + item already kept
    rate = 0.5
    for round_ in range(_MAX_ROUNDS):
        if not need.any():
            break
        draws = np.ceil(need * (1.15 / rate)).astype(np.int64) + (need > 0)
        users = np.repeat(np.arange(len(need)), draws)
        if round_ < _POPULAR_ROUNDS:
            items = sampler.draw(rng, len(users))
        else:
            items = rng.integers(0, n_items, size=len(users))
        keep = rng.random(len(users)) < keep_probability(users + first_user, items)
        rate = max(keep.mean(), 0.05)
        users, items = users[keep], items[keep]
        keys = users * n_items + items
        # First draw of each key (a stable sort puts it first among its repeats)...
        order = np.argsort(keys, kind="stable")
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[order[1:]] != keys[order[:-1]]
        fresh = np.zeros(len(keys), dtype=bool)
        fresh[order[first]] = True
        # ...that no earlier round kept, taken in draw order up to what the user still lacks.
        if len(seen):
            at = np.minimum(np.searchsorted(seen, keys), len(seen) - 1)
            fresh &= seen[at] != keys
        users, items, keys = users[fresh], items[fresh], keys[fresh]
        starts = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=len(need)))[:-1]])
        take = np.arange(len(users)) - starts[users] < need[users]
        users, items = users[take], items[take]
        need -= np.bincount(users, minlength=len(need))
        kept_users.append(users)
        kept_items.append(items)
        seen = np.sort(np.concatenate([seen, keys[take]]))
    if need.any():
        raise RuntimeError(f"could not draw {int(need.sum())} distinct pairs in {_MAX_ROUNDS} "
                           "rounds; lower max_user_share")
    users = np.concatenate(kept_users)
    order = np.argsort(users, kind="stable")
    return users[order] + first_user, np.concatenate(kept_items)[order]


def _draw_pairs(rng, need, sampler, keep_probability, n_items):
    """``_draw_block`` over blocks of users of about ``_CHUNK`` rows: users are independent,
    so blocks need no common bookkeeping, and the temporary arrays stay small."""
    ends = np.searchsorted(np.cumsum(need), np.arange(_CHUNK, need.sum() + _CHUNK, _CHUNK))
    bounds = np.unique(np.concatenate([[0], np.minimum(ends + 1, len(need))]))
    blocks = [_draw_block(rng, need[a:b], sampler, keep_probability, n_items, a)
              for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return (np.concatenate([u for u, _ in blocks]).astype(np.int64),
            np.concatenate([i for _, i in blocks]).astype(np.int64))


def _timestamps(rng, users, n_users) -> np.ndarray:
    """Unix times increasing within each user (rows grouped by user), 1 min to 1 day apart."""
    clock = rng.integers(60, 86_400, size=len(users))
    np.cumsum(clock, out=clock)  # in place: at 10⁷ rows every copy is 80 MB
    counts = np.bincount(users, minlength=n_users)
    ends = np.cumsum(counts)
    before = np.concatenate([[0], clock[ends[:-1] - 1]])  # clock before each user's first row
    before[counts == 0] = 0
    starts = 880_000_000 + rng.integers(0, 400_000_000, size=n_users)
    clock += np.repeat(starts - before, counts)
    return clock


def synthetic_movielens(
    n_interactions: int = 1_000_000,
    *,
    n_users: int | None = None,
    n_items: int | None = None,
    rank: int = 16,
    item_exponent: float = 0.9,
    user_exponent: float = 0.5,
    min_per_user: int = 20,
    max_user_share: float = 0.5,
    signal: float = 2.0,
    noise: float = 0.5,
    seed: int = 0,
) -> SyntheticMovieLens:
    """Draw a MovieLens-shaped data set of exactly ``n_interactions`` distinct (user, item) rows.

    Parameters
    ----------
    n_interactions : rows to draw (meant for 10⁵..10⁷; at most ``MAX_INTERACTIONS``).
    n_users, n_items : default ``n_interactions / 150`` and ``5 * sqrt(n_interactions)``, the
        proportions of ML-100K..ML-20M.
    rank : rank of the planted user and item factors.
    item_exponent, user_exponent : Zipf exponents of item popularity and user activity
        (0 = uniform).
    min_per_user : rows of the least active user; max_user_share : the most any user rates,
        as a share of the items.
    signal : how strongly the factors decide which drawn items are kept (0: popularity alone).
    noise : standard deviation of the rating noise, in stars.
    seed : the same seed gives the same data.

    Raises ValueError if a parameter is out of range or the sizes cannot hold
    ``n_interactions`` distinct pairs within the per-user limits.
    """
    _check("n_interactions", n_interactions, 1, MAX_INTERACTIONS, integer=True)
    n_interactions = int(n_interactions)
    if n_users is None:
        n_users = max(1, round(n_interactions / INTERACTIONS_PER_USER))
    if n_items is None:
        n_items = max(1, round(ITEMS_PER_SQRT_INTERACTION * np.sqrt(n_interactions)))
    _check("n_users", n_users, 1, MAX_INTERACTIONS, integer=True)
    _check("n_items", n_items, 1, MAX_INTERACTIONS, integer=True)
    _check("rank", rank, 1, 1024, integer=True)
    _check("item_exponent", item_exponent, 0.0, 3.0)
    _check("user_exponent", user_exponent, 0.0, 3.0)
    _check("min_per_user", min_per_user, 1, n_items, integer=True)
    _check("max_user_share", max_user_share, 1e-9, 1.0)
    _check("signal", signal, 0.0, 20.0)
    _check("noise", noise, 0.0, 10.0)
    max_per_user = max(min_per_user, int(max_user_share * n_items))
    if not min_per_user * n_users <= n_interactions <= max_per_user * n_users:
        raise ValueError(
            f"{n_users} users rating {min_per_user} to {max_per_user} of {n_items} items each "
            f"cannot make {n_interactions} interactions: change n_users, n_items, "
            "min_per_user or max_user_share"
        )
    rng = np.random.default_rng(seed)

    # Popularity and activity by rank, then ranks shuffled so that ids say nothing about them.
    item_popularity = np.arange(1, n_items + 1, dtype=np.float64) ** -item_exponent
    item_popularity = item_popularity[rng.permutation(n_items)] / item_popularity.sum()
    activity_weight = np.arange(1, n_users + 1, dtype=np.float64) ** -user_exponent
    user_activity = _allocate(n_interactions, activity_weight, min_per_user, max_per_user)
    user_activity = user_activity[rng.permutation(n_users)]

    scale = rank ** -0.25  # entries N(0, rank^-1/2): u·v has unit variance
    user_factors = scale * rng.standard_normal((n_users, rank))
    item_factors = scale * rng.standard_normal((n_items, rank))
    # float32 copies for the hot loop: gathering factor rows is memory-bound.
    user_f32, item_f32 = user_factors.astype(np.float32), item_factors.astype(np.float32)

    def keep_probability(users, items):
        if signal == 0:
            return np.ones(len(users))
        return 1.0 / (1.0 + np.exp(-signal * _affinity(user_f32, item_f32, users, items)))

    sampler = _AliasSampler(item_popularity)
    users, items = _draw_pairs(rng, user_activity, sampler, keep_probability, n_items)
    stars = noise * rng.standard_normal(len(users))
    stars += 3.1 + _affinity(user_factors, item_factors, users, items)
    np.clip(np.rint(stars, out=stars), 1.0, 5.0, out=stars)
    timestamps = _timestamps(rng, users, n_users)
    # copy=False: the frame takes the arrays as they are instead of copying them into one block.
    ratings = pd.DataFrame({"user": users, "item": items, "rating": stars,
                            "timestamp": timestamps}, copy=False)
    return SyntheticMovieLens(ratings, user_factors, item_factors, item_popularity,
                              user_activity, n_users, n_items, float(item_exponent),
                              float(user_exponent))
