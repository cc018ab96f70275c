"""``python -m tests.fuzz [--frames N] [--seed S] [--json PATH]``: the million-frame parser fuzz."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

from tests.fuzz.mutator import SAMPLES, fuzz_venue


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames per venue")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", help="write the summary rows here")
    args = parser.parse_args()
    rows = []
    failed = False
    for venue in SAMPLES:
        start = time.perf_counter()
        r = fuzz_venue(venue, args.frames, seed=args.seed)
        seconds = time.perf_counter() - start
        rows.append({"venue": venue, "frames": r.frames, "mutated": r.mutated, "parse_errors": r.parse_errors,
                     "events": r.events, "escaped": len(r.escaped), "seconds": round(seconds, 1),
                     "measured_at": datetime.now(UTC).isoformat(timespec="minutes")})
        print(f"{venue:9} {r.frames:>9,} frames  {r.mutated:>9,} mutated  {r.parse_errors:>9,} counted as bad  "
              f"{r.events:>9,} events  {len(r.escaped)} escaped  {seconds:6.1f} s")
        for exc, frame in r.escaped[:5]:
            print(f"    escaped {exc}: {frame[:160]!r}")
        failed |= not r.ok
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
