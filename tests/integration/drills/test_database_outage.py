"""Drill: PostgreSQL becomes unreachable for 30 s while the engine trades.

A TCP proxy sits between the ``runengine`` process and PostgreSQL; the drill cuts it (open
connections dropped, new ones refused) for 30 s. No order is sent without its row (orders are
refused while the row cannot be written), new entries pause with a visible reason (a log line and
the ``engine_database_unreachable`` metric meanwhile; the status and its event in each bot's log
when the database is back), the writes queued meanwhile land in order when it returns, and nothing
is lost or duplicated: every bot's position equals the net of its fills (up to the dust below the
lot step that a venue's base-asset fee leaves when a position closes).

The engine is a leased worker (``ENGINE_LEASES``, the default): the cut outlasts its lease duration,
so its keepalive lapses and any other worker could have claimed its bots. When PostgreSQL answers
again the worker re-claims them first (each bot under a new fencing token; in the lease history the
lapsed tenure ends where the new one begins, never two holders at once), and its queued writes land
under the new tokens."""

from __future__ import annotations

import os
import time
import urllib.request
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from bots.engine.engine import STORE_DOWN_REASON

from .procs import Engine, TcpProxy, base_env, free_port, manage, until

DATABASE_URL = os.environ.get("DATABASE_URL", "")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240),
              pytest.mark.skipif(not DATABASE_URL, reason="needs DATABASE_URL (a PostgreSQL to cut off)")]
OUTAGE = 30.0


@pytest.fixture
def drill_database():
    """A fresh database next to DATABASE_URL's, dropped afterwards."""
    import psycopg

    url = urlsplit(DATABASE_URL)
    name = f"{url.path.lstrip('/')}_outage_{os.getpid()}"
    admin = psycopg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1), autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    yield url, name
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_engine_survives_30_s_without_postgresql_and_loses_nothing(tmp_path, drill_database):
    import psycopg

    url, name = drill_database
    direct = f"postgresql://{url.netloc}/{name}"
    proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 5432).start()
    metrics_port = free_port()
    env = base_env(tmp_path, DATABASE_URL=f"postgres://{url.username}@127.0.0.1:{proxy.port}/{name}",
                   METRICS_PORT=str(metrics_port))
    manage(env, "migrate", "-v", "0")
    manage(env, "demo")
    db = psycopg.connect(direct, autocommit=True)

    def one(sql, *params):
        return db.execute(sql, params).fetchone()[0]

    def metric(name):
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))

    def tokens():
        return dict(db.execute("select key::int, token from cluster_lease where kind = 'bot' and holder_identity <> ''")
                    .fetchall())

    engine = Engine(env)
    running = sorted(b for b, in db.execute("select id from bots_bot where status = 'running'").fetchall())
    try:
        until(lambda: one("select count(*) from bots_fill") >= 2, 40, "the demo bots to trade")
        until(lambda: sorted(tokens()) == running, 20, "the worker to hold every running bot's lease")
        before = tokens()
        proxy.cut()
        cut_at = time.monotonic()
        cut_wall = one("select now()")
        until(lambda: metric("engine_database_unreachable") == 1, 15, "the engine's writer to notice the outage")
        assert "database unreachable" in engine.output
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - cut_at)))
        assert metric("engine_database_unreachable") == 1
        queued = metric("engine_queued_writes")
        restore_wall = one("select now()")
        proxy.restore()
        back_at = time.monotonic()
        until(lambda: one("select count(*) from bots_bot where status = 'running' and heartbeat_at > %s",
                          restore_wall) == len(running), 30, "every bot running again with a fresh heartbeat")
        until(lambda: all(tokens().get(b, 0) > before[b] for b in running), 30, "the bots re-claimed")
        recovery = time.monotonic() - back_at
        assert metric("engine_database_unreachable") == 0
        time.sleep(2)  # trade a little after the outage
        stop_wall = one("select now()")
    finally:
        code = engine.stop()
        proxy.close()
    out = engine.output
    assert code == 0, out
    assert "database reachable again" in out, out
    assert "keepalive had lapsed" in out and "under new fencing tokens" in out, out
    assert "Traceback" not in out, out
    # The pause and its reason are in each bot's log, then the resume.
    paused = db.execute("select bot_id from bots_botevent where kind = 'status' and message like %s",
                        (f"%{STORE_DOWN_REASON}%",)).fetchall()
    assert sorted(b for b, in paused) == running
    # No order was sent without its row: no order row and no fill is dated inside the outage
    # (a paper market order fills as it is sent; an order sent then would have no row).
    inside = (cut_wall + _seconds(1), restore_wall)
    assert one("select count(*) from bots_order where created_at between %s and %s", *inside) == 0
    assert one("select count(*) from bots_fill where time between %s and %s", *inside) == 0
    # Every order made before the engine was told to stop is settled (the outage left none pending).
    # One a live bot was still sending while it shut down (a Kraken exit waits its key's request
    # budget: cancel the stop, then place) may stay pending_submit once its lease is handed over: the
    # next worker to claim the bot asks the venue about it (pending_submit -> unknown -> reconciled).
    unsettled = db.execute("select o.client_order_id, o.bot_id, o.status, o.reason, o.created_at, o.updated_at, "
                           "(select string_agg(e.status || ':' || e.message, ' | ' order by e.id) "
                           "from bots_orderevent e where e.order_id = o.id) from bots_order o "
                           "where status in ('pending_submit', 'submitted', 'unknown') and created_at < %s",
                           (stop_wall,)).fetchall()
    if unsettled:
        print(out, "\nUNSETTLED", unsettled, cut_wall, restore_wall)
    assert unsettled == [], (unsettled, cut_wall, restore_wall)
    # Nothing lost or duplicated: every bot's open position is the net of its fills.
    for bot_id in running:
        net = Decimal(0)
        for side, qty, fee, fee_asset, base in db.execute(
                "select o.side, f.quantity, f.fee, f.fee_asset, m.base from bots_fill f "
                "join bots_order o on o.id = f.order_id join bots_bot b on b.id = o.bot_id "
                "join marketdata_market m on m.id = b.market_id where o.bot_id = %s", (bot_id,)).fetchall():
            q, fee = Decimal(qty), Decimal(fee)
            net += (q - (fee if fee_asset == base else 0)) if side == "buy" else -q
        held = db.execute("select quantity from bots_position where bot_id = %s and closed_at is null",
                          (bot_id,)).fetchall()
        step = Decimal(one("select m.quantity_step from bots_bot b join marketdata_market m on m.id = b.market_id "
                           "where b.id = %s", bot_id))
        # Equal, up to the dust below the lot step a venue's base-asset fee leaves when a position closes.
        assert abs(sum((Decimal(q) for q, in held), Decimal(0)) - net) < step, (bot_id, held, net)
    # The lease history: per bot, tenures one after another (never two holders at once); the one the
    # cut lapsed ended as such, and its successor (same worker, next token) began where it ended.
    for bot_id in running:
        tenures = db.execute("select holder_identity, token, acquired_at, ended_at, end_reason "
                             "from cluster_leaserecord "
                             "where kind = 'bot' and key = %s order by token", (str(bot_id),)).fetchall()
        for (_, _, _, ended, _), (_, _, started, _, _) in zip(tenures, tenures[1:], strict=False):
            assert ended is not None and ended <= started, (bot_id, tenures)
        # (A keepalive late for other reasons, e.g. a loop stalled on a loaded machine, is a lapse too.)
        [cut] = [t for t in tenures if t[1] == before[bot_id]]
        after = next(t for t in tenures if t[1] == before[bot_id] + 1)
        assert cut[4] == "lapsed" and after[0] == cut[0] and after[2] == cut[3], (bot_id, tenures)
    lapses = out.count("keepalive had lapsed")
    fills = one("select count(*) from bots_fill")
    db.close()
    print(f"\nDRILL postgresql-outage: {OUTAGE:.0f} s cut; {queued:.0f} write(s) queued at the end of it; "
          f"bots trading again {recovery:.1f} s after PostgreSQL came back, re-claimed under new tokens ({lapses} "
          f"lapse(s) in the run); {fills} fills, positions = net fills")


def _seconds(n: float):
    from datetime import timedelta

    return timedelta(seconds=n)
