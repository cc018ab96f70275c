"""Every feed transport against the client-side cases of the Autobahn|Testsuite that apply to a reader.

A scripted loopback server (``wsconformance.py``) sends raw frames; each case checks the messages the
transport hands out, and the close code it sends when it must fail the connection (RFC 6455 7.4.1:
1002 protocol error, 1007 invalid UTF-8, 1009 too big). Section numbers are Autobahn's.
"""

from __future__ import annotations

import asyncio

import pytest

from marketdata.feeds.transport import make_transport

from .wsconformance import BINARY, CLOSE, CONT, PING, PONG, TEXT, ScriptedServer, close_frame, frame

LIMIT = 70_000  # max_frame_bytes for the cases (above the 64 KiB length-encoding boundary)
GOOD_UTF8 = "κόσμε ünïcödé €𝄞".encode()
BAD_UTF8 = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"  # a UTF-16 surrogate
BYE = close_frame(1000)


@pytest.fixture
async def server():
    s = await ScriptedServer().start()
    yield s
    await s.stop()


async def exchange(server: ScriptedServer, kind: str, *frames: bytes, chunk: int = 0) -> tuple[list[bytes], int | None]:
    """Messages the transport hands out until its socket ends, and the close code it sent the server."""
    server.sends(*frames, chunk=chunk)
    sock = await make_transport(kind).open(server.url, max_frame_bytes=LIMIT, ping_interval=0, ping_timeout=0)
    got: list[bytes] = []
    try:
        while True:
            message = await asyncio.wait_for(sock.recv(), 5)
            got.append(message.encode() if isinstance(message, str) else bytes(message))
    except sock.closed_errors:
        pass
    finally:
        await asyncio.wait_for(server.received.eof.wait(), 5)  # the client ended the TCP connection
        sock.abort()
    return got, server.received.close_code()


# --- 1: framing of text and binary messages ------------------------------------------------------


@pytest.mark.parametrize("size", [0, 125, 126, 127, 65535, 65536, LIMIT])
@pytest.mark.parametrize("opcode", [TEXT, BINARY])
async def test_1_messages_of_every_length_encoding_arrive_whole(server, kind: str, opcode: int, size: int) -> None:
    payload = b"*" * size
    assert await exchange(server, kind, frame(opcode, payload), BYE) == ([payload], 1000)


async def test_1_frames_split_one_byte_per_tcp_segment_arrive_whole(server, kind: str) -> None:
    messages = [b"a" * 130, b"b" * 3, GOOD_UTF8]
    frames = [frame(TEXT, m) for m in messages]
    assert await exchange(server, kind, *frames, BYE, chunk=1) == (messages, 1000)


# --- 2: pings and pongs --------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"hello", b"\xfe" * 125])
async def test_2_a_ping_is_answered_with_a_pong_carrying_its_payload(server, kind: str, payload: bytes) -> None:
    got = await exchange(server, kind, frame(PING, payload), frame(TEXT, b"after"), BYE)
    assert got == ([b"after"], 1000)
    assert server.received.of(PONG) == [payload]


async def test_2_an_unsolicited_pong_is_ignored(server, kind: str) -> None:
    assert await exchange(server, kind, frame(PONG, b"unasked"), frame(TEXT, b"x"), BYE) == ([b"x"], 1000)


async def test_2_a_ping_with_a_payload_over_125_bytes_fails_the_connection(server, kind: str) -> None:
    assert await exchange(server, kind, frame(TEXT, b"ok"), frame(PING, b"x" * 126)) == ([b"ok"], 1002)


# --- 3 and 4: reserved bits and opcodes ----------------------------------------------------------


@pytest.mark.parametrize("rsv", range(1, 8))
async def test_3_reserved_bits_fail_the_connection(server, kind: str, rsv: int) -> None:
    assert await exchange(server, kind, frame(TEXT, b"ok"), frame(TEXT, b"bad", rsv=rsv)) == ([b"ok"], 1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
async def test_4_reserved_opcodes_fail_the_connection(server, kind: str, opcode: int) -> None:
    assert await exchange(server, kind, frame(TEXT, b"ok"), frame(opcode, b"?")) == ([b"ok"], 1002)


# --- 5: fragmentation ----------------------------------------------------------------------------


async def test_5_a_fragmented_message_arrives_as_one(server, kind: str) -> None:
    frames = [frame(TEXT, b"frag", fin=False), frame(CONT, b"", fin=False), frame(CONT, b"men", fin=False),
              frame(CONT, b"ted")]  # fmt: skip
    assert await exchange(server, kind, *frames, BYE) == ([b"fragmented"], 1000)


async def test_5_pings_between_fragments_are_answered_and_the_message_stays_whole(server, kind: str) -> None:
    frames = [frame(BINARY, b"\x00\x01", fin=False), frame(PING, b"p1"), frame(CONT, b"\x02", fin=False),
              frame(PING, b"p2"), frame(CONT, b"\x03")]  # fmt: skip
    assert await exchange(server, kind, *frames, BYE) == ([b"\x00\x01\x02\x03"], 1000)
    assert server.received.of(PONG) == [b"p1", b"p2"]


async def test_5_a_continuation_without_a_message_fails_the_connection(server, kind: str) -> None:
    assert await exchange(server, kind, frame(TEXT, b"ok"), frame(CONT, b"orphan")) == ([b"ok"], 1002)


async def test_5_a_new_message_inside_a_fragmented_one_fails_the_connection(server, kind: str) -> None:
    frames = [frame(TEXT, b"ok"), frame(TEXT, b"first", fin=False), frame(TEXT, b"second")]
    assert await exchange(server, kind, *frames) == ([b"ok"], 1002)


async def test_5_a_fragmented_control_frame_fails_the_connection(server, kind: str) -> None:
    frames = [frame(TEXT, b"ok"), frame(PING, b"a", fin=False), frame(CONT, b"b")]
    assert await exchange(server, kind, *frames) == ([b"ok"], 1002)


# --- 6: UTF-8 ------------------------------------------------------------------------------------


async def test_6_valid_utf8_split_inside_a_code_point_across_fragments_is_accepted(server, kind: str) -> None:
    cut = 1  # inside the two-byte "κ"
    frames = [frame(TEXT, GOOD_UTF8[:cut], fin=False), frame(CONT, GOOD_UTF8[cut:])]
    assert await exchange(server, kind, *frames, BYE) == ([GOOD_UTF8], 1000)


@pytest.mark.parametrize(
    "payload",
    [BAD_UTF8, b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x80", b"ok\xce", b"\xef\xbf"],
    ids=["surrogate", "overlong", "above-U+10FFFF", "lone-continuation", "truncated", "truncated-3-byte"],
)
async def test_6_invalid_utf8_in_a_text_message_fails_the_connection(server, kind: str, payload: bytes) -> None:
    assert await exchange(server, kind, frame(TEXT, b"ok"), frame(TEXT, payload)) == ([b"ok"], 1007)


@pytest.mark.parametrize("payload", [b"\xf4\x8f\xbf\xbf", b"\xef\xbb\xbf", b"\x00"], ids=["U+10FFFF", "BOM", "NUL"])
async def test_6_edge_code_points_are_valid_text(server, kind: str, payload: bytes) -> None:
    assert await exchange(server, kind, frame(TEXT, payload), BYE) == ([payload], 1000)


async def test_6_invalid_utf8_across_fragments_fails_the_connection(server, kind: str) -> None:
    frames = [frame(TEXT, b"ok"), frame(TEXT, BAD_UTF8[:10], fin=False), frame(CONT, BAD_UTF8[10:])]
    assert await exchange(server, kind, *frames) == ([b"ok"], 1007)


async def test_6_invalid_utf8_in_a_binary_message_is_just_bytes(server, kind: str) -> None:
    assert await exchange(server, kind, frame(BINARY, BAD_UTF8), BYE) == ([BAD_UTF8], 1000)


# --- 7: closing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001, 1011, 3000, 4001, 4999])
async def test_7_the_peers_close_code_is_echoed(server, kind: str, code: int) -> None:
    assert await exchange(server, kind, frame(TEXT, b"last"), close_frame(code, b"bye")) == ([b"last"], code)


async def test_7_a_close_without_a_code_is_answered(server, kind: str) -> None:
    got, code = await exchange(server, kind, frame(TEXT, b"last"), close_frame())
    assert got == [b"last"] and code in (None, 1000)
    assert server.received.of(CLOSE)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999])
async def test_7_an_invalid_close_code_fails_the_connection(server, kind: str, code: int) -> None:
    assert await exchange(server, kind, close_frame(code)) == ([], 1002)


async def test_7_a_one_byte_close_payload_fails_the_connection(server, kind: str) -> None:
    assert await exchange(server, kind, frame(CLOSE, b"\x03")) == ([], 1002)


async def test_7_a_close_reason_that_is_not_utf8_fails_the_connection(server, kind: str) -> None:
    got, code = await exchange(server, kind, close_frame(1000, BAD_UTF8))
    assert got == [] and code in (1002, 1007)


async def test_7_frames_after_the_peers_close_are_not_delivered(server, kind: str) -> None:
    assert await exchange(server, kind, close_frame(1000), frame(TEXT, b"too late")) == ([], 1000)


# --- limits and masking --------------------------------------------------------------------------


async def test_9_a_frame_over_the_limit_fails_the_connection_as_too_big(server, kind: str) -> None:
    assert await exchange(server, kind, frame(TEXT, b"ok"), frame(TEXT, b"x" * (LIMIT + 1))) == ([b"ok"], 1009)


async def test_9_a_fragmented_message_over_the_limit_fails_the_connection_as_too_big(server, kind: str) -> None:
    half = b"x" * (LIMIT // 2 + 1)
    frames = [frame(TEXT, b"ok"), frame(TEXT, half, fin=False), frame(CONT, half)]
    assert await exchange(server, kind, *frames) == ([b"ok"], 1009)


async def test_a_masked_frame_from_the_server_fails_the_connection(server, kind: str) -> None:
    assert await exchange(server, kind, frame(TEXT, b"ok"), frame(TEXT, b"x", mask=b"abcd")) == ([b"ok"], 1002)
