"""Settings in both modes, and `check --deploy` clean in production mode."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run_python(code: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "PRODUCTION", "DEBUG"}}
    base.update({"DJANGO_SETTINGS_MODULE": "botplatform.settings", "DATA_DIR": str(tmp_path / "data")})
    base.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True,
                          timeout=60)


SHOW = ("import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE']); print(s.CHANNEL_LAYERS['default']['BACKEND']); "
        "print(s.CELERY_TASK_ALWAYS_EAGER); print(s.DEBUG)")


def test_embedded_default_needs_nothing_installed_and_generates_secrets_once(tmp_path):
    first = run_python(SHOW, {}, tmp_path)
    assert first.returncode == 0, first.stderr
    engine, layer, eager, debug = first.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert layer == "channels.layers.InMemoryChannelLayer"
    assert (eager, debug) == ("True", "False")
    key_file = tmp_path / "data" / ".field_encryption_key"
    key = key_file.read_text()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    run_python(SHOW, {}, tmp_path)
    assert key_file.read_text() == key  # generated once, then reused


def test_processes_starting_together_share_one_generated_secret(tmp_path):
    """The web, engines and Celery start at once on a fresh DATA_DIR: each must read the same keys (an
    engine once died with "File exists" when another process created the key file first)."""
    at = time.time() + 3  # every process imports settings at this instant
    code = (f"import time; time.sleep(max(0, {at} - time.time())); import django; django.setup(); "
            "from django.conf import settings as s; print(s.SECRET_KEY, s.FIELD_ENCRYPTION_KEY)")
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "FIELD_ENCRYPTION_KEY", "PRODUCTION"}}
    base.update({"DJANGO_SETTINGS_MODULE": "botplatform.settings", "DATA_DIR": str(tmp_path / "data")})
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=base, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outs]
    assert len({out for out, _ in outs}) == 1
    assert sorted(f.name for f in (tmp_path / "data").iterdir()) == [".field_encryption_key", ".secret_key"]


def test_database_and_redis_urls_switch_to_postgresql_and_redis(tmp_path):
    env = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    out = run_python(SHOW, env, tmp_path)
    assert out.returncode == 0, out.stderr
    engine, layer, eager, _ = out.stdout.split()
    assert engine == "django.db.backends.postgresql"
    assert layer == "channels_redis.core.RedisChannelLayer"
    assert eager == "False"


def test_production_refuses_to_start_without_its_secrets(tmp_path):
    out = run_python(SHOW, {"PRODUCTION": "1", "ALLOWED_HOSTS": "example.com"}, tmp_path)
    assert out.returncode != 0
    assert "SECRET_KEY must be set" in out.stderr
    assert not (tmp_path / "data" / ".secret_key").exists()


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    from cryptography.fernet import Fernet

    env = {
        "PRODUCTION": "1", "ALLOWED_HOSTS": "bots.example.com", "SECRET_KEY": "x" * 30 + "Yz9!kL2@mN4#pQ6$rS8%tU0^" * 2,
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    code = ("import sys; from django.core.management import execute_from_command_line; "
            "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])")
    out = run_python(code, env, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


@pytest.mark.django_db
def test_the_demo_command_creates_users_and_running_paper_bots():
    from bots.models import Bot
    from bots.services.demo import DEMO_BOTS, LIVE_DEMO_BOTS, create_demo_data

    creds = create_demo_data()
    create_demo_data()  # idempotent
    assert set(creds) == {"admin", "demo"}
    bots = Bot.objects.filter(owner__username="demo")
    paper, live = bots.filter(mode="paper"), bots.filter(mode="live")
    assert paper.count() == len(DEMO_BOTS) and live.count() == len(LIVE_DEMO_BOTS)  # one live bot per venue
    assert all(b.status == "running" for b in bots)
    assert all(b.name.startswith("LIVE on the simulator") for b in live)  # clearly marked
