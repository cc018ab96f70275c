"""`manage.py enginestatus [--json]`: the engine workers and feed processes, as the database sees them."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from cluster.status import snapshot


class Command(BaseCommand):
    help = "List engine workers (heartbeat age, bots hosted) and feed processes (venues, health)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")
        parser.add_argument("--all", action="store_true", help="Include workers that exited.")

    def handle(self, *args: object, **options: object) -> None:
        data = snapshot(include_stopped=bool(options["all"]))
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(f"{'worker':<44} {'role':<7} {'host':<16} {'pid':>7} {'beat(s)':>8} {'bots':>5}  venues")
        for w in data["workers"]:
            state = " (stopping)" if w["stopping"] and not w["stopped"] else " (exited)" if w["stopped"] else ""
            venues = ", ".join(f"{v}:{w['health'].get(v, {}).get('status', '?')}" for v in w["venues"])
            self.stdout.write(f"{w['id'] + state:<44} {w['role']:<7} {w['host'][:16]:<16} {w['pid']:>7} "
                              f"{w['heartbeat_age_s']:>8} {w['bots_hosted']:>5}  {venues or '-'}")
        if not data["workers"]:
            self.stdout.write("no worker has registered")
        self.stdout.write(f"bot leases free or expired: {data['bot_leases_free_or_expired']}")
