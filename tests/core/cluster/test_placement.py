"""Symbol affinity of bot placement (``cluster.placement``): which keys a worker claims and hands
over first, so each market's ticks reach as few workers as possible."""

from __future__ import annotations

from collections import Counter

from cluster.placement import claim_order, hand_over_order, settle, spread


def test_a_worker_claims_the_markets_it_hosts_first_then_unhosted_whole_markets_then_shared_ones():
    group = {"1": "BTC", "2": "ETH", "3": "ETH", "4": "SOL", "5": "XRP", "6": "XRP", "7": "XRP"}
    free = ["1", "2", "3", "4", "5", "6", "7"]
    order = claim_order(free, group, mine={"SOL": 3}, others={"BTC": 2}, sort_key=int)
    # SOL: hosted here; XRP and ETH: nobody hosts them (XRP has more free bots); BTC: another worker's.
    assert order == ["4", "5", "6", "7", "2", "3", "1"]


def test_keys_without_a_group_are_claimed_by_key_after_grouped_ones():
    assert claim_order(["10", "9", "2"], {"2": "BTC"}, {}, {}, sort_key=int) == ["2", "9", "10"]


def test_a_worker_hands_over_its_smallest_market_first_and_the_last_keys_of_a_market_first():
    group = {"1": "BTC", "2": "BTC", "3": "BTC", "4": "ETH", "5": "ETH", "6": "SOL", "7": "SOL"}
    order = hand_over_order(list(group), group, others={"SOL": 1}, sort_key=int)
    # ETH and SOL have two bots here: SOL first (another worker hosts it already), then ETH, then BTC.
    assert order == ["7", "6", "5", "4", "3", "2", "1"]


def test_without_groups_the_last_keys_move_first():
    assert hand_over_order(["1", "2", "3"], {}, {}, sort_key=int) == ["3", "2", "1"]


def test_placed_by_these_rules_three_workers_read_about_a_third_of_the_markets_each():
    # 3,000 bots on 100 markets, created market after market as users would (not striped).
    bots = {str(i): f"S{(i * 7) % 100:03d}" for i in range(3000)}
    holders = settle(["a", "b", "c"], bots, rounds=40, max_claims=200, max_moves=10, sort_key=int)
    assert Counter(holders.values()) == {"a": 1000, "b": 1000, "c": 1000}
    hosted = spread(holders, bots)
    assert sum(hosted.values()) <= 100 + 2  # a market is split between two workers at most at the seams


def test_a_joining_worker_takes_whole_markets_and_the_load_evens_out():
    bots = {str(i): f"S{i % 60:03d}" for i in range(1200)}
    holders = settle(["a", "b"], bots, rounds=20, max_claims=200, max_moves=10, sort_key=int)
    assert sum(spread(holders, bots).values()) <= 61
    holders = settle(["a", "b", "c"], bots, rounds=200, max_claims=200, max_moves=10, holders=holders,
                     sort_key=int)
    assert Counter(holders.values()) == {"a": 400, "b": 400, "c": 400}
    assert sum(spread(holders, bots).values()) <= 60 + 3
