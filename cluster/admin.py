"""Read-only admin views of workers, leases and the lease history (services are the only writers)."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from .models import Lease, LeaseRecord, Worker
from .status import held_by


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(Worker)
class WorkerAdmin(ReadOnly):
    list_display = ("id", "role", "host", "pid", "heartbeat_age", "expires_at", "bots_hosted", "venues", "stopping",
                    "stopped_at")
    list_filter = ("role", "stopping")

    def get_queryset(self, request):  # noqa: ANN001, ANN201
        self._bots, self._venues = held_by("bot"), held_by("venue")  # one query each per page
        return super().get_queryset(request)

    @admin.display(description="heartbeat age (s)")
    def heartbeat_age(self, obj: Worker) -> str:
        return f"{(timezone.now() - obj.heartbeat_at).total_seconds():.1f}"

    @admin.display(description="bots hosted")
    def bots_hosted(self, obj: Worker) -> int:
        return len(getattr(self, "_bots", {}).get(obj.id, []))

    @admin.display(description="venues read")
    def venues(self, obj: Worker) -> str:
        return ", ".join(getattr(self, "_venues", {}).get(obj.id, [])) or "-"


@admin.register(Lease)
class LeaseAdmin(ReadOnly):
    list_display = ("kind", "key", "holder_identity", "token", "lease_transitions", "acquire_time",
                    "lease_duration_seconds")
    list_filter = ("kind",)
    search_fields = ("key", "holder_identity")


@admin.register(LeaseRecord)
class LeaseRecordAdmin(ReadOnly):
    list_display = ("kind", "key", "holder_identity", "token", "acquired_at", "ended_at", "end_reason")
    list_filter = ("kind", "end_reason")
    search_fields = ("key", "holder_identity")
