"""A demo data directory (SQLite, the demo's two running paper bots) migrated once per module."""

from __future__ import annotations

import shutil

import pytest

from .procs import base_env, manage


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("drill-demo")
    env = base_env(path)
    manage(env, "migrate", "-v", "0")
    manage(env, "demo")
    return path


@pytest.fixture
def data_dir(tmp_path, demo_template):
    shutil.copytree(demo_template, tmp_path, dirs_exist_ok=True)
    return tmp_path
