"""A seeded share of the million-frame fuzz (``make fuzz``) on every run: no bad frame escapes a parser."""

from __future__ import annotations

import pytest

from tests.fuzz.mutator import SAMPLES, fuzz_venue


@pytest.mark.parametrize("venue", sorted(SAMPLES))
def test_mutated_frames_are_counted_never_raised(venue: str) -> None:
    result = fuzz_venue(venue, 20_000, seed=7)
    assert result.escaped == []
    # The mutator really produced bad frames and the parser really refused some of them, while the
    # valid frames interleaved with them still produced events.
    assert result.mutated > 10_000
    assert result.parse_errors > 1_000
    assert result.events > 0
