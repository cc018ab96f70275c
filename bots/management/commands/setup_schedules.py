"""``manage.py setup_schedules``: write the default schedule to django-celery-beat's tables.

Idempotent: a missing periodic task is created; an existing one keeps the schedule an admin may have
edited (``--reset`` puts the defaults back).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from bots.services.jobs import setup_schedules


class Command(BaseCommand):
    help = "Create or update the periodic tasks (reconcile, watchdog, P&L snapshot, pruning, catalogue)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--reset", action="store_true", help="Put the default schedules back.")

    def handle(self, *args: Any, reset: bool = False, **options: Any) -> None:
        for name, action in setup_schedules(reset=reset):
            self.stdout.write(f"{action:>9}  {name}")
