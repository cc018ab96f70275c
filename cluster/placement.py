"""Which leased keys a worker claims first and which it hands over first: symbol affinity.

Pure (no Django): ``cluster.leases.balance`` decides *how many* keys a worker claims or hands over
(least-loaded worker, fair share, bounded moves); this module decides *which*, so that the keys of
one group (for bots: one market, i.e. one (exchange, symbol) stream) end up on as few workers as
possible. Measured reason (``bench/bench_scaleout.py``): a worker decodes every tick of every symbol
its bots trade, so bots placed by count alone make each of N workers read nearly every symbol, and
the fan-out's decode cost grows with N instead of staying constant.

* Claiming: groups this worker already hosts first, then groups no other live worker hosts, then
  the rest; within each class the group with the most free keys first (whole groups move).
* Handing over: the group where this worker holds the fewest keys first (the move drops that
  stream here soonest), groups another worker already hosts before those only we host.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

K = TypeVar("K")


def _key_order(sort_key: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    return sort_key or (lambda k: k)


def claim_order(free: Iterable[K], group_of: Mapping[K, Hashable], mine: Mapping[Hashable, int],
                others: Mapping[Hashable, int], sort_key: Callable[[K], Any] | None = None) -> list[K]:
    """``free`` keys in the order a worker should claim them. ``mine`` / ``others``: how many keys of
    each group this worker / the other live workers hold. A key without a group is its own group."""
    by_key = _key_order(sort_key)
    keys = list(free)
    group = {k: group_of.get(k) for k in keys}
    free_in = Counter(group.values())

    def rank(k: K) -> tuple[Any, ...]:
        g = group[k]
        if g is None:  # no group: after the grouped keys nobody hosts, by key
            return (1, 1, "", by_key(k))
        cls = 0 if mine.get(g, 0) > 0 else (1 if others.get(g, 0) == 0 else 2)
        return (cls, -free_in[g], str(g), by_key(k))

    return sorted(keys, key=rank)


def hand_over_order(held: Iterable[K], group_of: Mapping[K, Hashable], others: Mapping[Hashable, int],
                    sort_key: Callable[[K], Any] | None = None) -> list[K]:
    """``held`` keys in the order a worker over its share should hand them over (first = first out)."""
    by_key = _key_order(sort_key)
    keys = list(held)
    group = {k: group_of.get(k) for k in keys}
    here = Counter(group.values())

    def rank(k: K) -> tuple[Any, ...]:
        g = group[k]
        if g is None:  # no group: by key alone
            return (0, 0, "")
        return (here[g], 0 if others.get(g, 0) > 0 else 1, str(g))

    # Within a group the last keys move first (as before symbol affinity): stable sort on the key, reversed.
    return sorted(sorted(keys, key=by_key, reverse=True), key=rank)


def spread(holders: Mapping[K, str], group_of: Mapping[K, Hashable]) -> dict[str, int]:
    """Groups each holder hosts (for bots: the streams each worker reads), for status and tests."""
    hosted: dict[str, set[Hashable]] = {}
    for k, h in holders.items():
        hosted.setdefault(h, set()).add(group_of.get(k, k))
    return {h: len(gs) for h, gs in hosted.items()}


def settle(workers: list[str], group_of: Mapping[K, Hashable], *, rounds: int, max_claims: int, max_moves: int,
           holders: dict[K, str] | None = None, sort_key: Callable[[K], Any] | None = None) -> dict[K, str]:
    """``cluster.leases.balance``'s rules played in memory (every worker live, a hand-over released
    at once): each round every worker in turn claims if it is the least loaded and under its share,
    or hands over a bounded number if over it. For benchmarks and tests of the choices above; the
    database version is the one the workers run."""
    import math

    holders = dict(holders or {})
    target = math.ceil(len(group_of) / len(workers))
    for _ in range(rounds):
        for w in workers:
            load = Counter(holders.values())
            mine_keys = [k for k, h in holders.items() if h == w]
            mine = Counter(group_of[k] for k in mine_keys)
            others = Counter(group_of[k] for k, h in holders.items() if h != w)
            if len(mine_keys) <= min(load.get(x, 0) for x in workers) and len(mine_keys) < target:
                free = [k for k in group_of if k not in holders]
                for k in claim_order(free, group_of, mine, others, sort_key)[:min(max_claims, target - len(mine_keys))]:
                    holders[k] = w
            elif len(mine_keys) > target:
                for k in hand_over_order(mine_keys, group_of, others, sort_key)[:min(max_moves,
                                                                                      len(mine_keys) - target)]:
                    del holders[k]
    return holders
