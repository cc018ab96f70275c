"""The lean pub/sub reader parses every complete push in a read and keeps the incomplete tail."""

from __future__ import annotations

import pytest

from marketdata.pubsub import command, parse_pushes


def push(channel: bytes, data: bytes) -> bytes:
    return b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(channel), channel, len(data), data)


def test_messages_are_delivered_in_order_and_confirmations_skipped():
    got: list[tuple[bytes, bytes]] = []
    buf = bytearray(b"+OK\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nmd\r\n:1\r\n" + push(b"md", b"a\r\nb")
                    + push(b"md|x", b""))
    assert parse_pushes(buf, lambda c, d: got.append((c, d))) == len(buf)
    assert got == [(b"md", b"a\r\nb"), (b"md|x", b"")]


@pytest.mark.parametrize("cut", range(1, 63))
def test_a_push_split_anywhere_waits_for_the_rest(cut):
    whole = push(b"md|binance|ticker|BTC/USDT", b'["T",1]')
    got: list[tuple[bytes, bytes]] = []
    buf = bytearray(whole[:cut])
    used = parse_pushes(buf, lambda c, d: got.append((c, d)))
    assert (used, got) == (0, [])
    buf = bytearray(buf[used:] + whole[cut:])
    assert parse_pushes(buf, lambda c, d: got.append((c, d))) == len(whole)
    assert got == [(b"md|binance|ticker|BTC/USDT", b'["T",1]')]


def test_an_error_reply_raises_and_commands_are_resp_arrays():
    with pytest.raises(ConnectionError, match="NOAUTH"):
        parse_pushes(bytearray(b"-NOAUTH Authentication required.\r\n"), lambda c, d: None)
    assert command("SUBSCRIBE", "a", b"bc") == b"*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$2\r\nbc\r\n"
