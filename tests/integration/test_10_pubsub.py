"""Publish/subscribe basics (DESIGN.md section 6): fan-out across shards,
order, offsets, byte-exact data, subscribe/unsubscribe/history/ping."""

import asyncio
import json

import pytest

from ohclient import (Client, history_data_texts, push_data_text, scrape, t,
                      wait_until, ws_connect)


@pytest.fixture(scope="module")
def d(module_daemons):
    """One daemon shared by the small tests of this module (unique channels)."""
    return module_daemons()


def data_text(n):
    # Internal spaces, a number that floats cannot hold, escapes and a
    # surrogate pair: any re-encoding by the daemon changes these bytes.
    return ('{"n":%d, "x":1.000000000000000001,"s":"caf\\u00e9 \\"q\\" \\ud83d\\ude00",'
            '"e":-0.0e-7}' % n)


# --------------------------------------------------------------------------


def test_fanout_1000_in_order_over_two_shards(daemon):
    asyncio.run(_fanout(daemon.port, nsubs=20, npub=1000))


async def _fanout(port, nsubs, npub):
    ch = "fanout:main"
    subs = [await Client.open(port) for _ in range(nsubs)]
    pub = await Client.open(port)
    try:
        for s in subs:
            r = await s.subscribe(ch)
            assert r["offset"] == 0, r

        def both_shards():
            m = scrape(port)
            per = m.by_shard("omnihub_connections")
            ok = len(per) >= 2 and sum(per.values()) == nsubs + 1 and min(per.values()) > 0
            return per if ok else None

        per_shard = await asyncio.to_thread(
            wait_until, both_shards, t(5), 0.1, "connections on both shards")
        assert len(per_shard) == 2, per_shard

        texts = [data_text(n) for n in range(npub)]

        async def receive(s):
            return await s.pushes_n(npub, timeout=t(60))

        receivers = [asyncio.create_task(receive(s)) for s in subs]
        results = await pub.publish_many(ch, texts, window=32)
        got = await asyncio.gather(*receivers)

        epoch = results[0]["epoch"]
        assert [r["offset"] for r in results] == list(range(1, npub + 1))
        assert all(r["epoch"] == epoch for r in results)
        for k, pushes in enumerate(got):
            offsets = [p["push"]["offset"] for _raw, p in pushes]
            assert offsets == list(range(1, npub + 1)), f"subscriber {k}: order/offsets"
            for n, (raw, p) in enumerate(pushes):
                assert p["push"]["channel"] == ch
                assert p["push"]["epoch"] == epoch
                assert push_data_text(raw) == texts[n], f"subscriber {k} message {n}"
        # Nothing more than the 1,000 arrived.
        await asyncio.sleep(0.2)
        for s in subs:
            assert not s.pushes
    finally:
        for c in subs + [pub]:
            await c.close()


# --------------------------------------------------------------------------


def test_publish_reply_offset_equals_push_offset(d):
    async def run():
        ch = "offsets:1"
        sub = await Client.open(d.port)
        pub = await Client.open(d.port)
        await sub.subscribe(ch)
        await pub.subscribe(ch)  # a publisher that is also subscribed
        replies = []
        for n in range(5):
            replies.append(await pub.publish_raw(ch, data_text(n)))
        for who in (sub, pub):
            pushes = await who.pushes_n(5)
            for n, (raw, p) in enumerate(pushes):
                assert p["push"]["offset"] == replies[n]["offset"]
                assert p["push"]["epoch"] == replies[n]["epoch"]
                assert push_data_text(raw) == data_text(n)
        assert [r["offset"] for r in replies] == [1, 2, 3, 4, 5]
        await sub.close()
        await pub.close()
    asyncio.run(run())


def test_subscribe_reply_gives_current_offset(d):
    async def run():
        ch = "current:1"
        c = await Client.open(d.port)
        r0 = await c.subscribe("current:empty")
        assert r0["offset"] == 0
        assert isinstance(r0["epoch"], str) and r0["epoch"]
        last = None
        for n in range(3):
            last = await c.publish(ch, {"n": n})
        late = await Client.open(d.port)
        r = await late.subscribe(ch)
        assert r["offset"] == 3 == last["offset"]
        assert r["epoch"] == last["epoch"]
        # Live pushes follow from the next offset, with no replay of 1..3.
        res = await c.publish(ch, {"n": 3})
        raw, p = await late.push()
        assert p["push"]["offset"] == res["offset"] == 4
        await late.no_push_for(0.2)
        await c.close()
        await late.close()
    asyncio.run(run())


def test_unsubscribe_stops_pushes(d):
    async def run():
        ch = "unsub:1"
        leaver = await Client.open(d.port)
        witness = await Client.open(d.port)
        pub = await Client.open(d.port)
        await leaver.subscribe(ch)
        await witness.subscribe(ch)
        await pub.publish(ch, {"n": 1})
        assert (await leaver.push())[1]["push"]["offset"] == 1
        assert (await witness.push())[1]["push"]["offset"] == 1
        assert await leaver.unsubscribe(ch) == {}
        await pub.publish(ch, {"n": 2})
        await pub.publish(ch, {"n": 3})
        assert [p["push"]["offset"] for _r, p in await witness.pushes_n(2)] == [2, 3]
        await leaver.no_push_for(0.5)
        await leaver.ping()
        assert not leaver.pushes
        for c in (leaver, witness, pub):
            await c.close()
    asyncio.run(run())


def test_pushes_only_for_subscribed_channels(d):
    async def run():
        a = await Client.open(d.port)
        b = await Client.open(d.port)
        pub = await Client.open(d.port)
        await a.subscribe("only:a")
        await b.subscribe("only:b")
        await pub.publish("only:a", "for-a")
        await pub.publish("only:b", "for-b")
        raw, p = await a.push()
        assert p["push"]["channel"] == "only:a" and push_data_text(raw) == '"for-a"'
        raw, p = await b.push()
        assert p["push"]["channel"] == "only:b" and push_data_text(raw) == '"for-b"'
        await a.no_push_for(0.3)
        assert not b.pushes
        for c in (a, b, pub):
            await c.close()
    asyncio.run(run())


def test_double_subscribe_no_duplicate_pushes(d):
    async def run():
        ch = "double:1"
        c = await Client.open(d.port)
        pub = await Client.open(d.port)
        r1 = await c.subscribe(ch)
        r2 = await c.subscribe(ch)
        assert r1["offset"] == r2["offset"] == 0
        for n in range(4):
            await pub.publish(ch, {"n": n})
        pushes = await c.pushes_n(4)
        assert [p["push"]["offset"] for _r, p in pushes] == [1, 2, 3, 4]
        await c.no_push_for(0.5)
        # One unsubscribe undoes the (single) subscription.
        await c.unsubscribe(ch)
        await pub.publish(ch, {"n": 4})
        await c.no_push_for(0.3)
        await c.close()
        await pub.close()
    asyncio.run(run())


def test_unsubscribe_not_subscribed_succeeds(d):
    async def run():
        c = await Client.open(d.port)
        r = await c.request("unsubscribe", {"channel": "never:subscribed"})
        assert r.get("result") == {}, r
        # And twice after a real subscription.
        await c.subscribe("unsub:twice")
        assert await c.unsubscribe("unsub:twice") == {}
        assert await c.unsubscribe("unsub:twice") == {}
        await c.close()
    asyncio.run(run())


def test_ping(d):
    async def run():
        c = await Client.open(d.port)
        for _ in range(3):
            i = await c.send_cmd("ping", {})
            raw, r = await c.reply_raw(i)
            assert r == {"id": i, "result": {}}, raw
        # A large id is echoed exactly.
        await c.send_raw('{"id":9007199254740991,"ping":{}}')
        raw, r = await c.reply_raw(9007199254740991)
        assert '"id":9007199254740991' in raw.replace(" ", "")
        await c.close()
    asyncio.run(run())


def test_history_limit_and_more(d):
    async def run():
        ch = "history:1"
        c = await Client.open(d.port)
        texts = [data_text(n) for n in range(7)]
        res = [await c.publish_raw(ch, x) for x in texts]
        epoch = res[0]["epoch"]

        async def hist(since, limit):
            body = {"channel": ch, "limit": limit}
            if since is not None:
                body["since"] = {"epoch": epoch, "offset": since}
            i = await c.send_cmd("history", body)
            raw, r = await c.reply_raw(i)
            assert "result" in r, r
            offs = [p["offset"] for p in r["result"]["publications"]]
            assert all(p["epoch"] == epoch for p in r["result"]["publications"])
            assert history_data_texts(raw) == [texts[o - 1] for o in offs]
            assert r["result"]["offset"] == 7 and r["result"]["epoch"] == epoch
            return offs, r["result"]["more"]

        assert await hist(0, 3) == ([1, 2, 3], True)
        assert await hist(3, 3) == ([4, 5, 6], True)
        assert await hist(6, 3) == ([7], False)
        assert await hist(4, 3) == ([5, 6, 7], False)  # exactly the rest: more false
        assert await hist(7, 3) == ([], False)
        assert await hist(None, 100) == ([1, 2, 3, 4, 5, 6, 7], False)
        # Default limit (100) without since: from the oldest kept.
        r = await c.result("history", {"channel": ch})
        assert [p["offset"] for p in r["publications"]] == list(range(1, 8))
        assert r["more"] is False
        await c.close()
    asyncio.run(run())


def test_history_of_empty_channel(d):
    async def run():
        c = await Client.open(d.port)
        r = await c.result("history", {"channel": "history:nothing", "limit": 10})
        assert r["publications"] == [] and r["more"] is False and r["offset"] == 0
        await c.close()
    asyncio.run(run())


DATA_CASES = [
    '1.000000000000000001',
    '{"n":7,"x":1.000000000000000001}',
    '"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/ \\n\\t"',
    '"raw utf-8: \u00fcn\u00efc\u00f8d\u00e9 \U0001F600"',
    '[1, 2 ,3,{"a" : null}]',
    'null', 'true', 'false', '-0', '1E+2', '""', '{}', '[]',
    '{"deep":[[[[[[[[{"x":[]}]]]]]]]]}',
    '"' + 'x' * 3000 + '"',
]


def test_data_reaches_subscribers_byte_for_byte(d):
    async def run():
        ch = "bytes:1"
        sub = await Client.open(d.port)
        pub = await Client.open(d.port)
        await sub.subscribe(ch)
        for text in DATA_CASES:
            await pub.publish_raw(ch, text)
        pushes = await sub.pushes_n(len(DATA_CASES))
        assert [push_data_text(raw) for raw, _p in pushes] == DATA_CASES
        # History returns the same bytes.
        i = await sub.send_cmd("history", {"channel": ch, "limit": 100})
        raw, r = await sub.reply_raw(i)
        assert history_data_texts(raw) == DATA_CASES
        await sub.close()
        await pub.close()
    asyncio.run(run())


def test_no_websocket_extension_negotiated(d):
    """Pre-framed shared buffers are only valid without extensions (section 3):
    a client offering permessage-deflate must get plain frames."""
    async def run():
        ws = await ws_connect(d.port, compression="deflate")
        assert ws.extensions == [], ws.extensions
        c = Client(ws)
        await c.subscribe("ext:1")
        pub = await Client.open(d.port)
        await pub.publish_raw("ext:1", '{"z":"' + "z" * 500 + '"}')
        raw, _ = await c.push()
        assert push_data_text(raw) == '{"z":"' + "z" * 500 + '"}'
        await c.close()
        await pub.close()
    asyncio.run(run())


def test_replies_are_single_json_objects(d):
    """Each text frame holds exactly one JSON object."""
    async def run():
        c = await Client.open(d.port)
        await c.send_raw('{"id":1,"subscribe":{"channel":"frames:1"}}')
        await c.send_raw('{"id":2,"publish":{"channel":"frames:1","data":1}}')
        await c.send_raw('{"id":3,"ping":{}}')
        frames = []
        for _ in range(4):
            frames.append(await asyncio.wait_for(c.ws.recv(), t(10)))
        for f in frames:
            obj = json.loads(f)  # raises on trailing data
            assert isinstance(obj, dict)
        ids = sorted(json.loads(f).get("id") or 0 for f in frames)
        assert ids == [0, 1, 2, 3]  # 0 stands for the push
        await c.close()
    asyncio.run(run())
