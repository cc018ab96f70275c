"""The soak's and the fuzz's summary rows, read from their last run (``make soak`` writes both).

``make soak`` takes over ten minutes, so ``make bench`` does not rerun it: these rows come from
``bench/results/soak.json`` and ``fuzz.json`` and say when they were measured.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.soak import RESULTS
from bench.soak import rows as soak_rows


def _when(path: Path, recorded: str | None) -> str:
    """When the run was measured: the time it recorded (a checkout resets the file's time), else the file's."""
    if recorded:
        return recorded
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="minutes") + " (file time)"


def run() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    soak, fuzz = RESULTS / "soak.json", RESULTS / "fuzz.json"
    if soak.exists():
        report = json.loads(soak.read_text())
        for row in soak_rows(report):
            out.append(row | {"note": f"from `make soak` at {_when(soak, report.get('measured_at'))}"})
    if fuzz.exists():
        for r in json.loads(fuzz.read_text()):
            out.append({"name": f"fuzz {r['venue']}: mutated frames / counted bad / escaped",
                        "value": f"{r['mutated']:,} / {r['parse_errors']:,} / {r['escaped']}", "unit": "frames",
                        "baseline": None, "ratio": None,
                        "note": f"{r['frames']:,} frames in {r['seconds']} s, "
                                f"from `make soak` at {_when(fuzz, r.get('measured_at'))}"})
    if not out:
        raise RuntimeError("no soak results yet: run `make soak`")
    return out
