"""Drill: Redis restarts while the engine trades.

The engine (``runengine``, its channel layer on a private redis-server) keeps trading through the
outage; control requests made while Redis is down are refused visibly (a ``control`` event in the
bot's log, the web request still succeeds) and are not lost: the saved status is applied when the
engine's layer reconnects. Browsers reconnecting and reloading their snapshot is the portal e2e's
(tests/e2e: the page reloads its snapshot on every socket (re)connect)."""

from __future__ import annotations

import shutil
import time

import pytest

from .procs import Engine, RedisServer, base_env, django, sqlite_rows, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150),
              pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")]

CONTROL = "from bots import services; from bots.models import Bot; b = lambda pk: Bot.objects.get(pk=pk); "


def status(data_dir, bot_id):
    return tuple(sqlite_rows(data_dir, "select status, status_reason from bots_bot where id = ?", (bot_id,))[0])


def test_engine_keeps_trading_through_a_redis_restart_and_applies_control_sent_meanwhile(data_dir):
    redis = RedisServer().start()
    env = base_env(data_dir, REDIS_URL=redis.url)
    engine = Engine(env)
    try:
        django(env, CONTROL + "services.pause_bot(b(1), actor='drill')")
        until(lambda: status(data_dir, 1) == ("paused", "Paused by request"), 20, "the engine to pause bot 1")

        redis.kill()
        down_at = time.monotonic()
        last_order = sqlite_rows(data_dir, "select max(id) from bots_order")[0][0] or 0
        last_beat = sqlite_rows(data_dir, "select max(heartbeat_at) from bots_bot")[0][0]
        # A web request while Redis is down: it commits, and says visibly that the engine was not told.
        out = django(env, CONTROL + "services.resume_bot(b(1), actor='drill'); services.stop_bot(b(2), actor='drill')")
        refused = sqlite_rows(data_dir, "select bot_id, message from bots_botevent where kind = 'control'")
        assert sorted(bot for bot, _ in refused) == [1, 2], out
        assert all("not delivered" in message for _, message in refused)
        # The engine keeps trading (bot 2 is still hosted: its stop has not reached the engine).
        until(lambda: (sqlite_rows(data_dir, "select max(id) from bots_order")[0][0] or 0) > last_order,
              30, "an order placed while Redis is down")
        assert sqlite_rows(data_dir, "select max(heartbeat_at) from bots_bot")[0][0] > last_beat
        outage = time.monotonic() - down_at

        redis = RedisServer(redis.port).start()
        back_at = time.monotonic()
        until(lambda: status(data_dir, 2) == ("stopped", "Stopped by request") and status(data_dir, 1)[0] == "running",
              20, "the saved statuses to be applied after Redis came back")
        recovery = time.monotonic() - back_at
        # And the control channel works again.
        django(env, CONTROL + "services.pause_bot(b(1), actor='drill')")
        until(lambda: status(data_dir, 1) == ("paused", "Paused by request"), 20, "a control message after recovery")
    finally:
        code = engine.stop()
        redis.kill()
    placed = sqlite_rows(data_dir, "select count(*) from bots_order where id > ?", (last_order,))[0][0]
    print(f"\nDRILL redis-restart: outage {outage:.1f} s, saved statuses applied {recovery:.1f} s after Redis "
          f"came back; orders placed since the cut: {placed}")
    assert code == 0, engine.output
    assert "Traceback" not in engine.output, engine.output
    assert "engine control channel unreachable" in engine.output
