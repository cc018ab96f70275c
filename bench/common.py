"""Helpers shared by the benchmark modules."""

from __future__ import annotations

import uuid
from collections.abc import Callable


def scratch_postgres(url: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """A scratch database on the DATABASE_URL server; returns its URL and a dropper."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    base = url.rsplit("/", 1)[0]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop
