"""Settings read the environment once, and a value that does not parse stops the start loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from botplatform.settings import env_bool, env_float, env_int

ROOT = Path(__file__).resolve().parents[2]


def test_unset_variables_give_their_defaults(monkeypatch):
    monkeypatch.delenv("X_TEST", raising=False)
    assert (env_int("X_TEST", 7), env_float("X_TEST", 2.5), env_bool("X_TEST", True)) == (7, 2.5, True)


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), (" yes ", True), ("on", True),
                                               ("0", False), ("false", False), ("No", False), ("", False)])
def test_booleans_read_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_TEST", raw)
    assert env_bool("X_TEST", not expected) is expected


def test_numbers_parse(monkeypatch):
    monkeypatch.setenv("X_TEST", "12")
    assert env_int("X_TEST", 0) == 12
    monkeypatch.setenv("X_TEST", "0.25")
    assert env_float("X_TEST", 0) == 0.25


@pytest.mark.parametrize(("read", "raw"), [(env_int, "ten"), (env_int, "1.5"), (env_float, "fast"),
                                           (env_float, "nan"), (env_float, "inf"), (env_bool, "maybe")])
def test_a_value_that_does_not_parse_names_the_variable(monkeypatch, read, raw):
    monkeypatch.setenv("X_TEST", raw)
    with pytest.raises(ImproperlyConfigured, match=f"X_TEST={raw!r}"):
        read("X_TEST", 1)


def test_a_bad_setting_in_the_environment_stops_django_from_starting(tmp_path):
    env = {**os.environ, "RECONCILE_RETRIES": "two", "DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode != 0
    assert "RECONCILE_RETRIES='two': expected an integer" in done.stderr
