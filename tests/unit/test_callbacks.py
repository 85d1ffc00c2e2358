"""The callback client (bot/callbacks.py): its keep-alive connections against odd responses
and a silent server, and its chunked bodies (decoded whole, waited for while incomplete,
refused when garbled). Its servers are the ``callback_server`` fixture
(tests/fixtures/callback_server.py), as for the replies (tests/unit/test_responses.py) and the
busy answers (tests/bench/test_shedding.py) sent through it."""

from __future__ import annotations

import asyncio

import pytest

from bot.callbacks import CallbackClient, _dechunk
from tests.fixtures.callback_server import HANG_UP, NO_CONTENT, SILENT

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


ERROR = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
         b"Content-Length: 46\r\n\r\n" + b'{"message": "already acknowledged", "c": 4006}')
CHUNKED = (b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4\r\nnope\r\n0\r\n\r\n")
CLOSING = (b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 4\r\n\r\n"
           b"nope")


async def test_busy_answers_reuse_a_connection_and_survive_odd_responses(callback_server):
    server = callback_server
    server.answers = [NO_CONTENT, ERROR, NO_CONTENT, CHUNKED, NO_CONTENT, CLOSING, NO_CONTENT,
                      HANG_UP, NO_CONTENT]
    results: dict = {}
    done = asyncio.Event()

    def finished(item, status):
        results[item] = status
        if len(results) == 9:
            done.set()

    client = CallbackClient(server.api_base, "guildbot-test", b'{"type":4}', finished, limit=1)
    for i in range(9):
        client.submit(1000 + i, f"tok/{i}", i)
    await asyncio.wait_for(done.wait(), 10)
    await client.close()
    # 204, 400 (body read, connection kept), 204, chunked 404 (body decoded, connection kept),
    # 204, 404 with Connection: close (connection dropped), 204 on a second connection,
    # hang-up (lost, not retried), 204 on a third.
    assert results == {0: 204, 1: 400, 2: 204, 3: 404, 4: 204, 5: 404, 6: 204, 7: None, 8: 204}
    assert server.connections == 3
    first = server.requests[0].decode()
    assert first.startswith("POST /api/v10/interactions/1000/tok%2F0/callback HTTP/1.1\r\n")
    assert "Content-Type: application/json" in first and first.endswith('{"type":4}')


async def test_a_silent_server_times_out_and_close_reports_the_rest(callback_server):
    callback_server.answers = [SILENT] * 3
    results: dict = {}
    client = CallbackClient(callback_server.api_base, "t", b"{}",
                            lambda item, status: results.__setitem__(item, status),
                            limit=1, timeout=0.2)
    for i in range(3):
        client.submit(1, "t", i)
    await asyncio.sleep(0.5)
    await client.close(timeout=0.1)
    assert results == {0: None, 1: None, 2: None}
