"""Control messages over the channel layer, live pushes to the owner's group, and the runengine
process (start, resume, SIGTERM)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from channels.layers import get_channel_layer

from bots import events, services
from bots.models import Bot, Order

from .conftest import path, read, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]
D = Decimal
TICK = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"}
ROOT = Path(__file__).resolve().parents[3]


def stopped_bot(make_bot, owner, **fields):
    return make_bot(owner, params=TICK, capital=D("10000"), order_size=D("1000"), **fields)


async def test_admin_and_portal_actions_reach_the_engine_over_the_control_channel(sim, make_host, make_bot, alice):
    bot = await read(stopped_bot, make_bot, alice)
    host = await make_host()
    listener = asyncio.create_task(host.listen())
    try:
        assert bot.id not in host.engine.bots
        await read(services.start_bot, bot, actor="alice")
        await until(lambda: Bot.objects.get(pk=bot.id).status == "running")
        assert bot.id in host.engine.bots
        await read(services.pause_bot, bot, actor="alice")
        await until(lambda: host.engine.bots[bot.id].status == "paused")
        await read(services.resume_bot, bot, actor="alice")
        await until(lambda: Bot.objects.get(pk=bot.id).status == "running")
        await read(services.stop_bot, bot, actor="alice")
        await until(lambda: bot.id not in host.engine.bots)
        assert (await read(Bot.objects.get, pk=bot.id)).status == "stopped"
    finally:
        listener.cancel()


async def test_prices_orders_fills_positions_and_statuses_are_pushed_to_the_owners_group(
        sim, make_host, make_bot, alice, bob):
    layer = get_channel_layer()
    mine, theirs = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(events.user_group(alice.id), mine)
    await layer.group_add(events.user_group(bob.id), theirs)
    bot = await read(stopped_bot, make_bot, alice, status="running")
    await make_host()
    await path(sim, "binance", "BTC/USDT", ["60000", "59900", "59800", "59700", "60100"], pause=0.15)
    await until(lambda: Order.objects.filter(bot_id=bot.id, status="filled").exists())
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    while not {"bot.price", "bot.order", "bot.fill", "bot.position", "bot.status"} <= seen:
        assert time.monotonic() < deadline, seen
        message = await asyncio.wait_for(layer.receive(mine), 5)
        assert message["bot_id"] == bot.id
        seen.add(message["type"])
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(theirs), 0.3)


from bots.services.demo import DEMO_BOTS, LIVE_DEMO_BOTS  # noqa: E402

MANAGE = [sys.executable, str(ROOT / "manage.py")]


def _env(data_dir) -> dict[str, str]:
    env = {**os.environ, "DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "botplatform.settings",
           "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env


@pytest.fixture(scope="module")
def demo_data_dir(tmp_path_factory):
    """A data directory (SQLite, generated secrets) migrated once, with the demo's running bots."""
    path = tmp_path_factory.mktemp("engine-demo")
    env = _env(path)
    subprocess.run([*MANAGE, "migrate", "-v", "0"], env=env, check=True, timeout=120, cwd=ROOT)
    subprocess.run([*MANAGE, "demo"], env=env, check=True, timeout=60, cwd=ROOT, capture_output=True)
    return path


def _environment(tmp_path, template):
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    return _env(tmp_path), MANAGE


def _start_engine(env, manage):
    proc = subprocess.Popen([*manage, "runengine", "--feeds", "simulator", "--heartbeat", "0.5"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("engine: hosting") or not line:
            break
    demo_bots = len(DEMO_BOTS) + len(LIVE_DEMO_BOTS)  # paper bots and one live bot per venue
    assert any(x.startswith(f"engine: hosting {demo_bots} bot(s)") for x in lines), lines
    return proc


def _rows(tmp_path, sql):
    with sqlite3.connect(tmp_path / "db.sqlite3", timeout=20) as db:
        return db.execute(sql).fetchall()


def test_runengine_resumes_running_bots_and_stops_cleanly_on_sigterm(tmp_path, demo_data_dir):
    env, manage = _environment(tmp_path, demo_data_dir)
    proc = _start_engine(env, manage)
    try:
        time.sleep(1.5)  # let it trade and heartbeat a little
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "engine: stopped" in out
    assert "Traceback" not in out
    assert _rows(tmp_path, "select status from bots_bot") == [("running",)] * (len(DEMO_BOTS) + len(LIVE_DEMO_BOTS))


def test_killing_and_restarting_the_engine_resumes_bots_positions_and_orders(tmp_path, demo_data_dir):
    env, manage = _environment(tmp_path, demo_data_dir)
    proc = _start_engine(env, manage)
    try:
        deadline = time.monotonic() + 40
        while not _rows(tmp_path, "select id from bots_position where closed_at is null"):
            assert time.monotonic() < deadline, "no position opened"
            time.sleep(0.2)
    finally:
        proc.kill()  # SIGKILL: no clean shutdown, no flush
        proc.wait(10)
    before = dict(_rows(tmp_path, "select id, quantity from bots_position where closed_at is null"))
    beat = _rows(tmp_path, "select max(heartbeat_at) from bots_bot")[0][0]
    proc = _start_engine(env, manage)
    limbo_sql = "select status from bots_order where status in ('pending_submit', 'submitted', 'unknown')"
    try:
        time.sleep(3)
        deadline = time.monotonic() + 30  # a live order's lookup waits for its venue's rate limit (Kraken: 3 s)
        while _rows(tmp_path, limbo_sql) and time.monotonic() < deadline:
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in out, out
    assert _rows(tmp_path, "select max(heartbeat_at) from bots_bot")[0][0] > beat
    # The positions open at the kill were taken up again, not replaced: each is the same row,
    # still open or since closed by the resumed bot (one open position per bot and market).
    rows = dict(_rows(tmp_path, "select id, closed_at from bots_position"))
    assert set(before) <= set(rows)
    still_open = _rows(tmp_path, "select bot_id, count(*) from bots_position where closed_at is null group by bot_id")
    assert all(n == 1 for _, n in still_open)
    # Nothing is left in limbo: every order is final or resting (paper orders lost in the kill were
    # reconciled; none was sent twice).
    assert _rows(tmp_path, limbo_sql) == []
