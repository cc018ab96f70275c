"""Bot placement over engine workers: which bots a worker claims, keeps or hands over.

The database is the truth: a bot should be hosted when it is ``resumable()``; its lease says who
hosts it. Each worker runs ``plan_bots`` about once a second (``bots.workers``):

* it renews its leases (and learns which it lost);
* the least-loaded live worker claims free or expired bot leases up to its fair share
  (``ceil(resumable / live workers)``), so new and orphaned bots go to the least-loaded worker;
* a worker above its fair share hands over a bounded number of bots per round (gradual rebalancing
  when a worker joins; each move is a clean stop here and a resume there);
* which bots: symbol affinity (``cluster.placement``, grouped by market): a worker claims bots of
  the markets it already hosts first and hands over those of its smallest markets first, so each
  market's ticks are read and decoded by as few workers as possible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cluster import leases
from cluster.models import LeaseKind, WorkerRole

from ..models import Bot

KIND = LeaseKind.BOT
REQUESTED = "requested by "  # bots.services.lifecycle's reason for a status a user asked for


@dataclass
class Plan:
    """One round's outcome for a worker, by bot id (see ``cluster.leases.balance``)."""

    held: dict[int, int] = field(default_factory=dict)  # bot id -> fencing token
    claimed: dict[int, int] = field(default_factory=dict)
    hand_over: list[int] = field(default_factory=list)
    unwanted: list[int] = field(default_factory=list)
    # Held bot -> (status a person asked for, the request's number) while no engine confirmed it.
    requests: dict[int, tuple[str, int]] = field(default_factory=dict)
    target: int = 0
    live_workers: int = 1


def plan_bots(worker_id: str, *, duration: float, max_claims: int = 200, max_moves: int = 25,
              claim: bool = True, info: dict | None = None) -> Plan:
    """Heartbeat, renew, claim and choose hand-overs for ``worker_id`` (one round, sync)."""
    if info is not None:
        leases.beat_worker(worker_id, info, duration=duration)
    markets = {str(b): m for b, m in Bot.objects.resumable().values_list("id", "market_id")}
    placed = leases.balance(worker_id, WorkerRole.ENGINE, KIND, set(markets), duration=duration,
                            max_claims=max_claims, max_moves=max_moves, claim_more=claim, sort_key=int,
                            groups=markets)
    held = _ids(placed.held)
    # A request (lifecycle writes the asked-for status with "requested by <actor>") that no engine
    # has confirmed yet: the worker applies it even if its control message was lost or went elsewhere.
    requests = {pk: (status, seq) for pk, status, seq in Bot.objects.filter(
        pk__in=list(held), status_reason__startswith=REQUESTED).values_list("id", "status", "control_seq")}
    return Plan(held=held, claimed=_ids(placed.claimed), hand_over=[int(k) for k in placed.hand_over],
                unwanted=[int(k) for k in placed.unwanted], requests=requests, target=placed.target,
                live_workers=placed.live_workers)


def _ids(tokens: dict[str, int]) -> dict[int, int]:
    return {int(k): t for k, t in tokens.items()}


def renew_bots(worker_id: str, duration: float) -> dict[int, int]:
    """Keepalive: renews every bot lease this worker holds (bot id -> token)."""
    return {int(k): t for k, t in leases.renew(worker_id, KIND, duration).items()}


def reclaim_bots(worker_id: str, tokens: dict[int, int], duration: float) -> dict[int, int]:
    """After a lapsed keepalive: the bots still ours (bot id -> token). Those still to be hosted get a
    new token (``cluster.leases.reclaim``); one stopped meanwhile keeps its token, and the round stops
    and releases it (nobody takes a stopped bot up again, not even this worker)."""
    wanted = set(Bot.objects.resumable().filter(pk__in=list(tokens)).values_list("id", flat=True))
    held = _ids(leases.reclaim(worker_id, KIND, {str(b): t for b, t in tokens.items() if b in wanted}, duration))
    if len(wanted) < len(tokens):
        still = _ids(leases.renew(worker_id, KIND, duration))
        held.update({b: t for b, t in tokens.items() if b not in wanted and still.get(b) == t})
    return held


def claim_bot(worker_id: str, bot_id: int, duration: float) -> int | None:
    """Claim one bot now (a start request reached this worker and nobody holds it); its token."""
    if not Bot.objects.resumable().filter(pk=bot_id).exists():
        return None
    return leases.claim(worker_id, KIND, [str(bot_id)], duration, 1).get(str(bot_id))


def release_bots(worker_id: str, tokens: dict[int, int], reason: str = "released") -> int:
    """Hand bots back (after they stopped here) so that another worker may claim them at once."""
    return leases.release(worker_id, KIND, {str(b): t for b, t in tokens.items()}, reason)


def fenced_bots(worker_id: str, tokens: dict[int, int], successors: set[int] | frozenset[int] = frozenset()
                ) -> set[int]:
    """Inside the writer's transaction: the bots still ours under these tokens (rows locked); for
    ``successors`` (being re-claimed after a lapse) the next token too."""
    return {int(k) for k in leases.fenced(worker_id, KIND, {str(b): t for b, t in tokens.items()},
                                          [str(b) for b in successors])}
