"""The callback client's chunked bodies (bot/callbacks.py): decoded whole, waited for while
incomplete, refused when garbled. The client's connections are tested against servers in
tests/unit/test_responses.py (replies) and tests/bench/test_shedding.py (busy answers)."""

from __future__ import annotations

import pytest

from bot.callbacks import _dechunk

HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_a_chunked_body_is_decoded_with_extensions_and_trailers_skipped() -> None:
    """Regression (issue 17 follow-up, item 1): fails on the old code because it had no
    decoder (a chunked body was dropped)."""
    wire = HEAD + b"5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.1 204"
    body, end = _dechunk(bytearray(wire), len(HEAD))  # type: ignore[misc]
    assert body == b"hello!" and wire[end:] == b"HTTP/1.1 204"


def test_an_incomplete_body_waits_and_a_garbled_one_is_refused() -> None:
    """Regression (issue 17 follow-up, item 1): a body cut anywhere waits for more (None); a
    size that is not hex or a chunk longer than its size raises ValueError, so the client
    gives the status alone and drops the connection rather than read out of step. Fails on
    the old code because it had no decoder."""
    wire = HEAD + b"5\r\nhello\r\n0\r\n\r\n"
    for cut in range(len(HEAD), len(wire)):
        assert _dechunk(bytearray(wire[:cut]), len(HEAD)) is None, cut
    for garbled in (b"zz\r\nhello\r\n0\r\n\r\n", b"3\r\nhello\r\n0\r\n\r\n",
                    b"-1\r\n\r\n"):
        with pytest.raises(ValueError):
            _dechunk(bytearray(HEAD + garbled), len(HEAD))
