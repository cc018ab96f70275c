"""What an operator sees: ``enginestatus``, the admin and the market-data page agree with the leases."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from cluster import leases
from cluster.models import Worker

pytestmark = pytest.mark.django_db


@pytest.fixture
def workers(catalogue):
    leases.register_worker("engine-a", "engine", "node-1", 101, "engine.control.engine-a")
    leases.register_worker("engine-b", "engine", "node-2", 102, "engine.control.engine-b")
    leases.register_worker("feeds-a", "feeds", "node-1", 103)
    leases.claim("engine-a", "bot", ["1", "2", "3"], 30, 10)
    leases.claim("engine-b", "bot", ["4"], 30, 10)
    leases.claim("feeds-a", "venue", ["simulator", "binance"], 30, 10)
    leases.beat_worker("feeds-a", {"health": {"simulator": {"status": "healthy"}}})
    Worker.objects.filter(pk="engine-b").update(heartbeat_at=timezone.now() - timedelta(seconds=42))
    leases.register_worker("engine-gone", "engine", "node-3", 104, "", -1)  # keepalive already lapsed
    leases.claim("engine-gone", "bot", ["9"], 30, 10)


def test_enginestatus_lists_workers_with_heartbeat_age_bots_and_venues(workers):
    out = StringIO()
    call_command("enginestatus", "--json", stdout=out)
    data = {w["id"]: w for w in json.loads(out.getvalue())["workers"]}
    assert {k: (w["bots_hosted"], w["venues"]) for k, w in data.items()} == {
        "engine-a": (3, []), "engine-b": (1, []), "feeds-a": (0, ["binance", "simulator"]),
        "engine-gone": (0, [])}
    assert data["engine-b"]["heartbeat_age_s"] >= 42 > data["engine-a"]["heartbeat_age_s"]
    assert data["feeds-a"]["health"]["simulator"]["status"] == "healthy"
    text = StringIO()
    call_command("enginestatus", stdout=text)
    assert "simulator:healthy" in text.getvalue() and "node-2" in text.getvalue()


def test_the_admin_and_the_market_page_show_who_reads_which_venue(workers, admin_client, client, alice):
    html = admin_client.get("/admin/cluster/worker/").content.decode()
    assert "engine-a" in html and "binance, simulator" in html
    assert admin_client.get("/admin/cluster/lease/").status_code == 200
    assert admin_client.get("/admin/cluster/leaserecord/").status_code == 200
    client.force_login(alice)
    assert "feeds-a" in client.get("/market/").content.decode()
    rows = client.get("/market/health.json").json()["exchanges"]
    assert rows["simulator"]["reader"] == "feeds-a" and rows["kraken"]["reader"] == ""
