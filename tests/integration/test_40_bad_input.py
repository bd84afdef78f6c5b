"""Misbehaving clients (DESIGN.md sections 5 and 6): each gets its documented
error or close code, and the daemon keeps serving everybody else."""

import asyncio
import json
import socket
import time

import pytest

from ohclient import (EOF, OP_PING, OP_TEXT, Client, RawWS, assert_healthy, check_healthy,
                      push_data_text, raw_ws, scrape, t, wait_closed, ws_connect, ws_frame)


@pytest.fixture(scope="module")
def d(module_daemons):
    return module_daemons()


def assert_error(reply, code, id_, temporary=False):
    assert set(reply) == {"id", "error"}, reply
    assert reply["id"] == id_, reply
    err = reply["error"]
    assert err["code"] == code, reply
    assert isinstance(err["message"], str), reply
    assert err["temporary"] is temporary, reply


async def bad_frame_then_healthy(port, text, code, ids):
    """Sends one bad text frame; expects exactly one error (id in ids); the
    connection, a bystander and a new client all keep working."""
    bystander = await Client.open(port)
    await bystander.subscribe("bystander")
    c = await Client.open(port)
    c.next_id = 1000  # never collides with ids in the bad frames
    await c.send_raw(text)
    deadline = time.monotonic() + t(10)
    for _ in range(10000):
        if c.null_errors or c.replies:
            break
        await c.read_one(max(0.001, deadline - time.monotonic()))
    if c.null_errors:
        reply = c.null_errors.popleft()[1]
    else:
        reply = c.replies.pop(next(iter(c.replies)))[1]
    assert_error(reply, code, reply["id"])
    assert reply["id"] in ids, reply
    await c.ping()  # the connection survives and nothing else was answered
    assert not c.replies and not c.null_errors and not c.pushes, (c.replies, c.null_errors)
    pub = await Client.open(port)
    await pub.publish("bystander", "still here")
    raw, _ = await bystander.push()
    assert push_data_text(raw) == '"still here"'
    for x in (c, bystander, pub):
        await x.close()
    await check_healthy(port)


JSON_CASES = [
    # (frame, error code, acceptable ids in the error reply)
    ("not json at all", "bad_request", [None]),
    ('{"id":1,"ping":', "bad_request", [None]),
    ("[1,2,3]", "bad_request", [None]),
    ('"just a string"', "bad_request", [None]),
    ('{"ping":{}}', "bad_request", [None]),
    ('{"id":0,"ping":{}}', "bad_request", [None]),
    ('{"id":-3,"ping":{}}', "bad_request", [None]),
    ('{"id":"4","ping":{}}', "bad_request", [None]),
    ('{"id":1.5,"ping":{}}', "bad_request", [None]),
    ('{"id":5,"frobnicate":{}}', "bad_request", [5]),
    ('{"id":6}', "bad_request", [6]),
    ('{"id":7,"ping":{},"unsubscribe":{"channel":"a"}}', "bad_request", [7]),
    ('{"id":8,"subscribe":{}}', "bad_request", [8]),
    ('{"id":9,"subscribe":{"channel":5}}', "bad_request", [9]),
    ('{"id":10,"publish":{"channel":"a"}}', "bad_request", [10]),
    ('{"id":11,"subscribe":{"channel":"a","since":{"epoch":"a:b","offset":1}}}',
     "bad_request", [11]),
    ('{"id":12,"subscribe":{"channel":"a","since":{"epoch":"e","offset":-1}}}',
     "bad_request", [12]),
    ('{"id":13,"ping":{}}{"id":14,"ping":{}}', "bad_request", [None, 13]),
    ('{"id":15,"publish":{"channel":"a","data":' + "[" * 10000 + "]" * 10000 + "}}",
     "bad_request", [None, 15]),
    ('{"id":16,"publish":{"channel":"a","data":' + "[" * 10000 + "}}",
     "bad_request", [None, 16]),
    ('{"id":17,"publish":{"channel":"a","data":' + '{"k":' * 5000 + "1" + "}" * 5000 + "}}",
     "bad_request", [None, 17]),
]


@pytest.mark.parametrize("text,code,ids", JSON_CASES,
                         ids=[f"json{k}" for k in range(len(JSON_CASES))])
def test_bad_json_command(d, text, code, ids):
    asyncio.run(bad_frame_then_healthy(d.port, text, code, ids))


BAD_CHANNELS = ["", "x" * 201, "a\u0000b", "line\nbreak"]


@pytest.mark.parametrize("channel", BAD_CHANNELS, ids=["empty", "201", "nul", "newline"])
def test_invalid_channel(d, channel):
    async def run():
        c = await Client.open(d.port)
        for cmd, body in (("subscribe", {"channel": channel}),
                          ("publish", {"channel": channel, "data": 1}),
                          ("history", {"channel": channel}),
                          ("unsubscribe", {"channel": channel})):
            i = await c.send_cmd(cmd, body)
            assert_error(await c.reply(i), "invalid_channel", i)
        await c.ping()
        await c.close()
        await check_healthy(d.port)
    asyncio.run(run())


def test_nesting_inside_strings_and_moderate_depth_accepted(d):
    async def run():
        c = await Client.open(d.port)
        await c.subscribe("nest:ok")
        texts = ['"' + "[" * 10000 + '"', "[" * 20 + "]" * 20, '{"a":' * 20 + "0" + "}" * 20]
        for x in texts:
            await c.publish_raw("nest:ok", x)
        pushes = await c.pushes_n(len(texts))
        assert [push_data_text(raw) for raw, _p in pushes] == texts
        await c.close()
    asyncio.run(run())


def test_durable_publish_unavailable(d):
    async def run():
        ch = "durable:1"
        sub = await Client.open(d.port)
        await sub.subscribe(ch)
        pub = await Client.open(d.port)
        first = await pub.publish(ch, "plain")
        i = await pub.send_cmd("publish", {"channel": ch, "data": "keep me", "durable": True})
        assert_error(await pub.reply(i), "unavailable", i, temporary=True)
        second = await pub.publish(ch, "plain again")
        assert second["offset"] == first["offset"] + 1  # the refused one took no offset
        pushes = await sub.pushes_n(2)
        assert [push_data_text(raw) for raw, _ in pushes] == ['"plain"', '"plain again"']
        await sub.no_push_for(0.3)
        await sub.close()
        await pub.close()
    asyncio.run(run())


# --------------------------------------------------------------------------
# Frame-level violations


def test_binary_frame_closes_1003(d):
    async def run():
        before = scrape(d.port).total("omnihub_protocol_errors_total")
        bystander = await Client.open(d.port)
        ws = await ws_connect(d.port)
        await ws.send(b'{"id":1,"ping":{}}')
        code, _ = await wait_closed(ws)
        assert code == 1003
        await bystander.ping()
        await bystander.close()
        await check_healthy(d.port)
        after = scrape(d.port).total("omnihub_protocol_errors_total")
        assert after > before
    asyncio.run(run())


def test_invalid_utf8_closes_1007(d):
    with raw_ws(d.port) as c:
        c.send_frame(OP_TEXT, b'{"id":1,"publish":{"channel":"u","data":"\xc3\x28 \xff"}}')
        kind, code, _reason, _seen = c.wait_closed(t(10))
        assert (kind, code) == ("close", 1007)
    assert_healthy(d.port)


def test_invalid_utf8_across_fragments_closes_1007(d):
    with raw_ws(d.port) as c:
        c.send(ws_frame(OP_TEXT, b'{"id":1,"ping":{},"x":"\xe2\x82', fin=False))
        c.send(ws_frame(0x0, b'A"}', fin=True))  # continuation breaks the sequence
        kind, code, _reason, _seen = c.wait_closed(t(10))
        assert (kind, code) == ("close", 1007)
    assert_healthy(d.port)


@pytest.mark.parametrize("length", [2**63 - 1, 2**64 - 1], ids=["2^63-1", "2^64-1"])
def test_huge_frame_length_closed_quickly(d, length):
    with raw_ws(d.port) as c:
        start = time.monotonic()
        # The first bytes of the announced payload are valid (masked) UTF-8,
        # so only the length can be objected to.
        c.send(ws_frame(OP_TEXT, b'{"id":1,"publish":{"channel":"x","data":"xxxx', length=length))
        kind, code, _reason, _seen = c.wait_closed(t(5))
        assert time.monotonic() - start < t(5)
        if kind == "close":
            assert code in (1009, 1002), code
    assert d.alive()
    assert_healthy(d.port)


def test_garbage_instead_of_http(d):
    s = socket.create_connection(("127.0.0.1", d.port), timeout=t(10))
    try:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200 + b"\r\n\r\n")
        deadline = time.monotonic() + t(10)
        for _ in range(1000):
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk or time.monotonic() > deadline:
                break
    finally:
        s.close()
    assert_healthy(d.port)


# --------------------------------------------------------------------------
# Clients that stall


@pytest.mark.parametrize("partial", [b"", b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"],
                         ids=["silent", "half-request"])
def test_handshake_timeout(daemons, partial):
    d = daemons({"server": {"handshake_timeout": "1s"}})
    stalled = RawWS(d.port)
    try:
        start = time.monotonic()
        if partial:
            stalled.send(partial)
        # Others are served while the stalled client waits.
        assert_healthy(d.port)
        try:
            for _ in range(100):
                stalled._fill(start + t(1) + 4)
        except EOF:
            pass
        elapsed = time.monotonic() - start
        assert 0.5 <= elapsed <= t(1) + 4, elapsed
    finally:
        stalled.close()
    assert_healthy(d.port)


def test_ping_timeout_closes_silent_client_not_ponging_one(daemons):
    d = daemons({"server": {"idle_timeout": "2s", "ping_interval": "1s"}})

    async def run():
        good = await Client.open(d.port)  # websockets answers pings itself
        silent = raw_ws(d.port)
        start = time.monotonic()
        try:
            kind, code, _reason, seen = await asyncio.to_thread(silent.wait_closed, t(6) + 2)
        finally:
            silent.close()
        elapsed = time.monotonic() - start
        assert OP_PING in seen, f"no ping before the close ({seen})"
        if kind == "close":
            assert code == 4002, code
        assert 1.0 <= elapsed <= t(5) + 1, elapsed
        # The answering client outlives idle_timeout twice over.
        await asyncio.sleep(max(0.0, 4.5 - (time.monotonic() - start)))
        assert good.ws.open
        await good.ping()
        await good.close()
    asyncio.run(run())


def test_raw_client_answering_pings_survives(daemons):
    """Control for the test above: the same raw client, answering pings with
    pongs, stays connected past idle_timeout."""
    d = daemons({"server": {"idle_timeout": "2s", "ping_interval": "1s"}})
    with raw_ws(d.port) as c:
        deadline = time.monotonic() + 4.5
        pings = 0
        for _ in range(1000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                fin, op, payload = c.recv_frame(left)
            except TimeoutError:
                break
            assert op == OP_PING, f"unexpected opcode {op}"
            pings += 1
            c.send(ws_frame(0xA, payload))
        assert pings >= 2
        c.send_json({"id": 1, "ping": {}})
        deadline = time.monotonic() + t(5)
        for _ in range(100):
            fin, op, payload = c.recv_frame(max(0.001, deadline - time.monotonic()))
            if op == OP_PING:
                c.send(ws_frame(0xA, payload))
                continue
            assert op == OP_TEXT, (op, payload)
            assert json.loads(payload) == {"id": 1, "result": {}}
            break

