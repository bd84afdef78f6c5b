"""Limits (DESIGN.md section 5): message size and fragmentation, subscriptions
per connection, connections per node, publish rate, channel name length."""

import asyncio
import time

import websockets

from ohclient import (OP_CONT, OP_TEXT, Client, RawWS, assert_healthy, check_healthy,
                      push_data_text, raw_ws, scrape, t, wait_closed, wait_until, ws_connect,
                      ws_frame)

KIB = 1024


def big_text(nbytes, unit="a\u00e9\u20ac\U0001F600"):
    """A JSON string literal of about nbytes UTF-8 bytes, with multi-byte
    characters so that arbitrary byte cuts fall inside characters."""
    per = len(unit.encode())
    return '"' + unit * (nbytes // per) + '"'


# --------------------------------------------------------------------------
# max_message_size


def test_fragmented_200k_publish_delivered_whole(daemons):
    d = daemons({"limits": {"max_message_size": "1MiB"}})

    async def run():
        ch = "frag:ws"
        sub = await Client.open(d.port)
        await sub.subscribe(ch)
        pub = await Client.open(d.port)
        data = big_text(200 * KIB)
        msg = '{"id":1,"publish":{"channel":"%s","data":%s}}' % (ch, data)
        step = 7 * KIB + 3  # characters, up to 4 bytes each
        fragments = [msg[i:i + step] for i in range(0, len(msg), step)]
        assert len(fragments) >= 10
        await pub.ws.send(fragments)  # one message, one frame per fragment
        r = await pub.reply(1, t(20))
        assert r["result"]["offset"] == 1, r
        raw, p = await sub.push(t(20))
        assert p["push"]["offset"] == 1
        assert push_data_text(raw) == data
        await sub.close()
        await pub.close()
    asyncio.run(run())


def fragment_frames(payload, nominal, first_opcode=OP_TEXT):
    """Splits payload into frames of about `nominal` bytes, moving every cut
    into the middle of a multi-byte UTF-8 character (legal: RFC 6455 5.6)."""
    cuts, pos = [], nominal
    while pos < len(payload):
        for _ in range(8):
            if 0x80 <= payload[pos] <= 0xBF:
                break
            pos += 1
        cuts.append(pos)
        pos += nominal
    bounds = [0] + cuts + [len(payload)]
    frames = []
    for k in range(len(bounds) - 1):
        piece = payload[bounds[k]:bounds[k + 1]]
        op = first_opcode if k == 0 else OP_CONT
        frames.append(ws_frame(op, piece, fin=(k == len(bounds) - 2)))
    return frames, cuts


def test_raw_fragments_and_partial_writes_delivered_whole(daemons):
    d = daemons({"limits": {"max_message_size": "1MiB"}})

    async def run():
        ch = "frag:raw"
        sub = await Client.open(d.port)
        await sub.subscribe(ch)
        data = big_text(200 * KIB)
        payload = ('{"id":7,"publish":{"channel":"%s","data":%s}}' % (ch, data)).encode()
        frames, cuts = fragment_frames(payload, 30000)
        assert len(frames) >= 6
        assert any(0x80 <= payload[c] <= 0xBF for c in cuts), "no cut inside a character"

        def publish():
            with raw_ws(d.port) as c:
                # 7,001-byte writes: frame headers and characters straddle writes.
                c.send(b"".join(frames), chunk=7001, pause=0.001)
                return c.recv_json(t(20))

        reply = await asyncio.to_thread(publish)
        assert reply["id"] == 7 and reply["result"]["offset"] == 1, reply
        raw, p = await sub.push(t(20))
        assert push_data_text(raw) == data
        await sub.close()
    asyncio.run(run())


def test_200k_message_over_default_limit_closes_1009(daemon):
    async def run():
        ws = await ws_connect(daemon.port)
        bystander = await Client.open(daemon.port)
        msg = '{"id":1,"publish":{"channel":"big:1","data":%s}}' % big_text(200 * KIB)
        try:
            await asyncio.wait_for(ws.send(msg), t(10))
        except websockets.ConnectionClosed:
            pass
        code, _reason = await wait_closed(ws)
        assert code == 1009, f"close code {code}"
        await bystander.ping()
        await bystander.close()
        await check_healthy(daemon.port)
    asyncio.run(run())


def test_many_small_fragments_over_limit_close_1009(daemon):
    """The limit applies to the reassembled message, not to each fragment."""
    with raw_ws(daemon.port) as c:
        data = big_text(80 * KIB, unit="b")
        payload = ('{"id":1,"publish":{"channel":"big:frag","data":%s}}' % data).encode()
        frames, _ = fragment_frames(payload, 16 * KIB)
        try:
            c.send(b"".join(frames))
        except (BrokenPipeError, ConnectionResetError):
            pass
        kind, code, _reason, _seen = c.wait_closed(t(10))
        assert (kind, code) == ("close", 1009)
    assert_healthy(daemon.port)


def test_message_size_boundary(daemon):
    """max_message_size (64 KiB default) bytes are accepted, one more closes."""
    limit = 64 * KIB

    def message(total):
        head = '{"id":1,"publish":{"channel":"edge:1","data":"'
        tail = '"}}'
        return head + "c" * (total - len(head) - len(tail)) + tail

    async def run():
        ok = await ws_connect(daemon.port)
        c = Client(ok)
        await c.send_raw(message(limit))
        r = await c.reply(1)
        assert "result" in r, r
        await c.close()

        over = await ws_connect(daemon.port)
        try:
            await over.send(message(limit + 1))
        except websockets.ConnectionClosed:
            pass
        code, _ = await wait_closed(over)
        assert code == 1009
    assert len(message(limit).encode()) == limit
    asyncio.run(run())


# --------------------------------------------------------------------------
# Per-connection and per-node limits


def test_max_subscriptions(daemons):
    d = daemons({"limits": {"max_subscriptions": "3"}})

    async def run():
        c = await Client.open(d.port)
        for ch in ("s:a", "s:b", "s:c"):
            await c.subscribe(ch)
        r = await c.request("subscribe", {"channel": "s:d"})
        assert r["error"]["code"] == "limit_exceeded", r
        assert r["error"]["temporary"] is False
        assert r["id"] is not None
        # Re-subscribing an existing channel at the limit is still idempotent.
        await c.subscribe("s:a")
        # The refused channel delivers nothing.
        pub = await Client.open(d.port)
        await pub.publish("s:d", "nope")
        await c.no_push_for(0.3)
        # Freeing one slot makes room.
        await c.unsubscribe("s:a")
        await c.subscribe("s:d")
        await pub.publish("s:d", "yes")
        raw, p = await c.push()
        assert p["push"]["channel"] == "s:d" and push_data_text(raw) == '"yes"'
        # The limit is per connection.
        other = await Client.open(d.port)
        for ch in ("s:a", "s:b", "s:c"):
            await other.subscribe(ch)
        for x in (c, pub, other):
            await x.close()
    asyncio.run(run())


def test_max_connections_refuses_upgrade_with_503(daemons):
    d = daemons({"server": {"max_connections": "5"}})

    async def run():
        clients = [await Client.open(d.port) for _ in range(5)]

        def sixth():
            with RawWS(d.port) as r:
                status, _h, _b = r.handshake()
                return status

        assert await asyncio.to_thread(sixth) == 503
        assert await asyncio.to_thread(sixth) == 503  # and again: no slot leaked or freed
        # A real client library is refused as well (websockets 10.4 cannot
        # parse every status line, so any refused handshake counts here).
        try:
            await ws_connect(d.port)
            raise AssertionError("6th WebSocket upgrade accepted")
        except websockets.InvalidHandshake:
            pass
        for c in clients:
            await c.ping()
        # A slot frees up when a client leaves.
        await clients.pop().close()

        def upgraded():
            r = RawWS(d.port)
            status, _h, _b = r.handshake()
            if status == 101:
                return r
            r.close()
            return None

        r = await asyncio.to_thread(wait_until, upgraded, t(5), 0.1, "a free slot")
        r.send_json({"id": 1, "ping": {}})
        assert r.recv_json() == {"id": 1, "result": {}}
        r.close()
        for c in clients:
            await c.close()
    asyncio.run(run())
    m = wait_until(lambda: (lambda m: m if m.total("omnihub_connections") == 0 else None)(
        scrape(d.port)), t(5), 0.1, "connections back to 0")
    assert m.total("omnihub_connections_rejected_total") >= 2


def test_publish_rate_limit(daemons):
    d = daemons({"limits": {"publish_rate": "5", "publish_burst": "5"}})

    async def run():
        ch = "rate:1"
        sub = await Client.open(d.port)
        await sub.subscribe(ch)
        pub = await Client.open(d.port)
        start = time.monotonic()
        ids = [await pub.send_cmd("publish", {"channel": ch, "data": n}) for n in range(20)]
        replies = [await pub.reply(i) for i in ids]
        elapsed = time.monotonic() - start
        ok = [r for r in replies if "result" in r]
        limited = [r for r in replies if "error" in r]
        assert all(r["error"]["code"] == "rate_limited" for r in limited), limited
        assert all(r["error"]["temporary"] is True for r in limited)
        assert limited, "20 back-to-back publishes with burst 5 were all accepted"
        assert 5 <= len(ok) <= 5 + int(elapsed * 5) + 1, (len(ok), elapsed)
        # Exactly the accepted publications are delivered, with dense offsets.
        pushes = await sub.pushes_n(len(ok))
        assert [p["push"]["offset"] for _r, p in pushes] == [r["result"]["offset"] for r in ok]
        assert [r["result"]["offset"] for r in ok] == list(range(1, len(ok) + 1))
        await sub.no_push_for(0.3)
        await sub.close()
        await pub.close()
    asyncio.run(run())


def test_max_channel_length(daemons):
    d = daemons({"limits": {"max_channel_length": "10"}})

    async def run():
        c = await Client.open(d.port)
        await c.subscribe("c" * 10)
        for cmd, body in (("subscribe", {"channel": "c" * 11}),
                          ("publish", {"channel": "c" * 11, "data": 1})):
            r = await c.request(cmd, body)
            assert r["error"]["code"] == "invalid_channel", r
        await c.ping()
        await c.close()
    asyncio.run(run())


def test_default_channel_length_200(daemon):
    async def run():
        c = await Client.open(daemon.port)
        await c.subscribe("L" * 200)
        await c.publish("L" * 200, 1)
        raw, p = await c.push()
        assert p["push"]["channel"] == "L" * 200
        r = await c.request("subscribe", {"channel": "L" * 201})
        assert r["error"]["code"] == "invalid_channel", r
        await c.close()
    asyncio.run(run())

