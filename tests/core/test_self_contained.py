"""The repository runs from a plain clone: no code, test, benchmark or doc names a path outside it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.fixtures import EXCHANGES

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("botplatform", "bots", "marketdata", "tests", "bench", "docs", "scripts")
# The shapes the old out-of-tree references had: a sibling folder reached with ``../``, or the
# machine's absolute work folders.
OUTSIDE = re.compile(r"\.\./shared|/work/(?:shared|main|wt)\b|EXCHANGE_FIXTURES")


def _sources() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Makefile"]
    for top in SCANNED:
        for suffix in ("*.py", "*.md", "*.sh", "*.html", "*.js"):
            files += (ROOT / top).rglob(suffix) if (ROOT / top).is_dir() else []
    return [f for f in files if f.is_file() and f.resolve() != Path(__file__).resolve()]


def test_no_source_names_a_path_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _sources()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_the_recorded_frames_live_in_the_repository_with_their_provenance() -> None:
    assert EXCHANGES.is_relative_to(ROOT)
    assert "Where they were recorded" in (EXCHANGES / "README.md").read_text()
