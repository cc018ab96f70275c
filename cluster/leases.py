"""The only writers of workers and leases (sync ORM; workers call them from their own DB thread).

A claim is one transaction: free leases and those whose holder's keepalive expired are locked with
``SELECT ... FOR UPDATE SKIP LOCKED`` (two claimers never wait on each other, and a row the holder's
writer has locked for a fenced write is skipped), then taken with a new fencing token. On SQLite the
same code runs under the database-wide write lock (``transaction_mode=IMMEDIATE``), which serialises
claims just as well; SQLite serves the single-machine mode, where one worker holds everything.

Times are the workers' own clocks (as in Kubernetes' leader election): keep them NTP-synced; the
lease duration (seconds) dwarfs any sane skew.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from . import placement
from .models import Lease, LeaseRecord, Worker

DEFAULT_DURATION = 5.0


def register_worker(worker_id: str, role: str, host: str, pid: int, control_channel: str = "",
                    duration: float = DEFAULT_DURATION) -> Worker:
    """Record a new worker process (its first keepalive is now)."""
    now = timezone.now()
    worker, _ = Worker.objects.update_or_create(id=worker_id, defaults={
        "role": role, "host": host, "pid": pid, "control_channel": control_channel, "started_at": now,
        "heartbeat_at": now, "expires_at": now + timedelta(seconds=duration), "stopping": False,
        "stopped_at": None})
    return worker


def beat_worker(worker_id: str, info: dict | None = None, *, stopping: bool | None = None,
                duration: float = DEFAULT_DURATION) -> None:
    """The worker's keepalive: renews every lease it holds (and records feed health, a handover)."""
    now = timezone.now()
    fields: dict = {"heartbeat_at": now, "expires_at": now + timedelta(seconds=duration)}
    if info is not None:
        fields["info"] = info
    if stopping is not None:
        fields["stopping"] = stopping
    Worker.objects.filter(pk=worker_id, stopped_at__isnull=True).update(**fields)


def retire_worker(worker_id: str) -> None:
    """The worker exited cleanly (after handing its leases over)."""
    now = timezone.now()
    Worker.objects.filter(pk=worker_id).update(stopped_at=now, stopping=True, heartbeat_at=now, expires_at=now)


def reap_dead_local_workers(host: str) -> list[str]:
    """Expire at once the keepalive of workers on this machine whose process is gone (a restart
    after SIGKILL need not wait out the lease). Other machines' workers expire by time only."""
    dead = [worker_id for worker_id, pid in
            Worker.objects.filter(host=host, stopped_at__isnull=True).values_list("id", "pid")
            if pid != os.getpid() and not _alive(pid)]
    if dead:
        now = timezone.now()
        Worker.objects.filter(pk__in=dead).update(stopped_at=now, expires_at=now)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def renew(worker_id: str, kind: str, duration: float) -> dict[str, int]:
    """Keepalive, then the leases of ``kind`` this worker still holds (key -> fencing token). A lease
    another worker took meanwhile is simply absent: the caller lets it go. Takes no row lock."""
    beat_worker(worker_id, duration=duration)
    return dict(Lease.objects.filter(kind=kind, holder_identity=worker_id).values_list("key", "token"))


def ensure_leases(kind: str, keys: Iterable[str]) -> None:
    """Create the (free) lease rows for ``keys`` that have none yet."""
    Lease.objects.bulk_create([Lease(kind=kind, key=k) for k in keys], ignore_conflicts=True)


def claim(worker_id: str, kind: str, keys: Iterable[str], duration: float, limit: int) -> dict[str, int]:
    """Take up to ``limit`` of ``keys`` whose lease is free or whose holder is no longer alive, in one
    transaction, preferring them in the order given (``cluster.placement`` orders them). Returns what
    was taken (key -> new fencing token)."""
    keys = list(dict.fromkeys(keys))
    if limit <= 0 or not keys:
        return {}
    ensure_leases(kind, keys)
    before = timezone.now()
    taken: dict[str, int] = {}
    with transaction.atomic():
        rows: list[Lease] = []
        pos = 0
        while pos < len(keys) and len(rows) < limit:
            # Lock a slice at a time, in preference order: rows beyond the slice stay free for others.
            part = keys[pos:pos + max(2 * (limit - len(rows)), 50)]
            pos += len(part)
            found = {lease.key: lease for lease in
                     Lease.objects.select_for_update(skip_locked=True).filter(kind=kind, key__in=part)
                     .claimable(before)}
            rows += [found[k] for k in part if k in found][:limit - len(rows)]
        # Read after the rows are locked: any write the old holder made under its token committed
        # before this instant, so one tenure ends exactly where the next begins.
        now = timezone.now()
        for lease in rows:
            if lease.holder_identity:
                _end_tenure(lease, now, "expired")
            if lease.holder_identity != worker_id:
                lease.lease_transitions += 1
            lease.holder_identity = worker_id
            lease.token += 1
            lease.acquire_time = now
            lease.lease_duration_seconds = duration
            taken[lease.key] = lease.token
        Lease.objects.bulk_update(rows, ["holder_identity", "token", "acquire_time", "lease_duration_seconds",
                                         "lease_transitions"])
        LeaseRecord.objects.bulk_create([
            LeaseRecord(kind=kind, key=lease.key, holder_identity=worker_id, token=lease.token, acquired_at=now)
            for lease in rows])
    return taken


def reclaim(worker_id: str, kind: str, tokens: dict[str, int], duration: float) -> dict[str, int]:
    """After this worker's keepalive lapsed (cut off from the database for longer than its lease
    duration, so any other worker could have claimed its leases): in one transaction, the leases
    still ours under the token we held (nobody claimed them in between, since every claim grows the
    token) end their lapsed tenure and start a new one under a new token, and the keepalive is
    renewed. Returns those (key -> new token); a lease another worker claimed is absent and the
    caller lets it go. The history shows the lapsed tenure ending where the new one begins."""
    taken: dict[str, int] = {}
    with transaction.atomic():
        rows = [lease for lease in Lease.objects.select_for_update().filter(
                    kind=kind, key__in=list(tokens), holder_identity=worker_id).order_by("key")
                if lease.token == tokens[lease.key]]
        now = timezone.now()
        for lease in rows:
            _end_tenure(lease, now, "lapsed")
            lease.token += 1
            lease.acquire_time = now
            lease.lease_duration_seconds = duration
            taken[lease.key] = lease.token
        Lease.objects.bulk_update(rows, ["token", "acquire_time", "lease_duration_seconds"])
        LeaseRecord.objects.bulk_create([
            LeaseRecord(kind=kind, key=lease.key, holder_identity=worker_id, token=lease.token, acquired_at=now)
            for lease in rows])
        beat_worker(worker_id, duration=duration)
    return taken


def release(worker_id: str, kind: str, tokens: dict[str, int], reason: str = "released") -> int:
    """Give leases back (still ours under these tokens): free at once for the next claimer."""
    released = 0
    with transaction.atomic():
        now = timezone.now()
        for lease in Lease.objects.select_for_update().filter(kind=kind, key__in=list(tokens),
                                                              holder_identity=worker_id).order_by("key"):
            if lease.token != tokens[lease.key]:
                continue
            _end_tenure(lease, now, reason)
            lease.holder_identity = ""
            lease.save(update_fields=["holder_identity"])
            released += 1
    return released


def _end_tenure(lease: Lease, at: datetime, reason: str) -> None:
    LeaseRecord.objects.filter(kind=lease.kind, key=lease.key, token=lease.token,
                               ended_at__isnull=True).update(ended_at=at, end_reason=reason)


def fenced(worker_id: str, kind: str, tokens: dict[str, int], successors: Iterable[str] = ()) -> set[str]:
    """Inside the caller's transaction: lock these leases and return the keys this worker still
    holds under the given tokens. Writes made in the same transaction are fenced by the result: a
    claimer cannot take a locked row (it skips it) until the transaction ends. For the keys in
    ``successors`` (being re-claimed by this worker after a lapse: ``reclaim``) the next token is
    accepted too: this worker holding token + 1 means nobody held the lease in between."""
    successors = set(successors)
    from django.db import connection

    if connection.vendor == "postgresql":
        # A writer frozen mid-transaction (SIGSTOP) must not keep its locks, and so its bots, forever.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL idle_in_transaction_session_timeout = '5s'")
    rows = (Lease.objects.select_for_update().filter(kind=kind, key__in=list(tokens), holder_identity=worker_id)
            .order_by("key").values_list("key", "token"))
    return {key for key, token in rows
            if tokens.get(key) == token or (key in successors and tokens.get(key, -2) + 1 == token)}


def loads(kind: str, now: datetime | None = None) -> dict[str, int]:
    """How many leases of ``kind`` each live holder has."""
    rows = Lease.objects.filter(kind=kind).held(now or timezone.now()).values("holder_identity").annotate(n=Count("id"))
    return {r["holder_identity"]: r["n"] for r in rows}


def busy_keys(kind: str, now: datetime | None = None) -> list[str]:
    """Keys whose lease is held by a live worker."""
    return list(Lease.objects.filter(kind=kind).held(now or timezone.now()).values_list("key", flat=True))


def holder(kind: str, key: str) -> Worker | None:
    """The live worker holding ``key``'s lease now, if any."""
    lease = Lease.objects.filter(kind=kind, key=key).held(timezone.now()).first()
    return None if lease is None else Worker.objects.filter(pk=lease.holder_identity).first()


def holder_channel(kind: str, key: str, default: str) -> str:
    """The control channel of the live worker holding ``key``'s lease, else ``default``."""
    worker = holder(kind, key)
    return worker.control_channel if worker is not None and worker.control_channel else default


def worker_channels(role: str) -> list[str]:
    """The control channels of every live worker of ``role`` (a message for all of them)."""
    now = timezone.now()
    return [c for c in Worker.objects.filter(role=role).alive(now).values_list("control_channel", flat=True) if c]


@dataclass
class Placement:
    """One balancing round's outcome for a worker (keys are the leased things' keys)."""

    held: dict[str, int] = field(default_factory=dict)  # key -> fencing token (renewed + claimed)
    claimed: dict[str, int] = field(default_factory=dict)
    hand_over: list[str] = field(default_factory=list)  # over the fair share: move these elsewhere
    unwanted: list[str] = field(default_factory=list)  # held but no longer wanted at all
    target: int = 0
    live_workers: int = 1


def balance(worker_id: str, role: str, kind: str, wanted: set[str], *, duration: float, max_claims: int,
            max_moves: int, claim_more: bool = True, sort_key: Callable[[str], Any] = str,
            groups: Mapping[str, Hashable] | None = None) -> Placement:
    """Renew, then claim or hand over so each live worker of ``role`` holds about
    ``ceil(len(wanted) / live)``: only the least-loaded worker claims (new and orphaned keys go
    there); a worker over the share hands over at most ``max_moves`` keys per round. ``groups``
    (key -> group, for bots their market) chooses *which* keys: a worker claims keys of the groups it
    already hosts first and hands over those of its smallest groups first (``cluster.placement``)."""
    plan = Placement(held=renew(worker_id, kind, duration))
    now = timezone.now()
    live = set(Worker.objects.filter(role=role).live(now).values_list("id", flat=True))
    if claim_more:
        live.add(worker_id)
    live = live or {worker_id}
    plan.unwanted = sorted(set(plan.held) - wanted, key=sort_key)
    plan.live_workers = len(live)
    plan.target = math.ceil(len(wanted) / len(live)) if wanted else 0
    holders = holders_of(kind, now)  # one query for the loads, the busy keys and who hosts which group
    load = Counter(holders.values())
    group_of = groups or {}
    mine_groups = Counter(group_of[k] for k in plan.held if k in wanted and k in group_of)
    others = Counter(group_of[k] for k, h in holders.items() if h != worker_id and k in group_of)
    mine = len(plan.held) - len(plan.unwanted)
    if claim_more and mine <= min(load.get(w, 0) for w in live) and mine < plan.target:
        free = placement.claim_order(wanted - set(holders), group_of, mine_groups, others, sort_key)
        plan.claimed = claim(worker_id, kind, free, duration, min(max_claims, plan.target - mine))
        plan.held.update(plan.claimed)
    elif mine > plan.target and len(live) > 1:
        keep = [k for k in plan.held if k in wanted]
        plan.hand_over = placement.hand_over_order(keep, group_of, others, sort_key)[:min(max_moves,
                                                                                          mine - plan.target)]
    return plan


def holders_of(kind: str, now: datetime | None = None) -> dict[str, str]:
    """Key -> live holder, for every lease of ``kind`` a live worker holds."""
    return dict(Lease.objects.filter(kind=kind).held(now or timezone.now()).values_list("key", "holder_identity"))
