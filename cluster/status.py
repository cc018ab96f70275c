"""What an operator sees: every worker process with its heartbeat age and what it holds (readers
only; ``enginestatus``, the admin and the market-data page use it)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.utils import timezone

from .models import Lease, LeaseKind, Worker


def held_by(kind: str, now: datetime | None = None) -> dict[str, list[str]]:
    """Holder -> the keys of its unexpired leases of ``kind``."""
    out: dict[str, list[str]] = defaultdict(list)
    rows = (Lease.objects.filter(kind=kind).held(now or timezone.now())
            .values_list("holder_identity", "key").order_by("key"))
    for holder, key in rows:
        out[holder].append(key)
    return out


def venue_readers(now: datetime | None = None) -> dict[str, str]:
    """Venue code -> the feed process reading it now."""
    return {venue: holder for holder, venues in held_by(LeaseKind.VENUE, now).items() for venue in venues}


def snapshot(*, include_stopped: bool = False) -> dict[str, Any]:
    """Workers (engine and feed processes) with heartbeat age, bots hosted, venues and health."""
    now = timezone.now()
    bots, venues = held_by(LeaseKind.BOT, now), held_by(LeaseKind.VENUE, now)
    workers = Worker.objects.all() if include_stopped else Worker.objects.filter(stopped_at__isnull=True)
    rows = []
    for w in workers:
        rows.append({
            "id": w.id, "role": w.role, "host": w.host, "pid": w.pid,
            "heartbeat_age_s": round((now - w.heartbeat_at).total_seconds(), 1),
            "started_at": w.started_at.isoformat(), "stopping": w.stopping,
            "stopped": w.stopped_at is not None, "bots_hosted": len(bots.get(w.id, [])),
            "venues": venues.get(w.id, []), "health": (w.info or {}).get("health", {}),
        })
    unhosted = Lease.objects.filter(kind=LeaseKind.BOT).count() - sum(len(v) for v in bots.values())
    # A worker whose keepalive expired is listed with its age; it holds nothing any more.
    return {"at": now.isoformat(), "workers": rows, "bot_leases_free_or_expired": unhosted,
            "venue_readers": venue_readers(now)}
