"""Recovery with since {epoch, offset} (DESIGN.md sections 4 and 6)."""

import asyncio
import re

from ohclient import Client, push_data_text


def test_recover_missed_then_live_exactly_once(daemon):
    async def run():
        ch = "recover:1"
        pub = await Client.open(daemon.port)
        res = [await pub.publish_raw(ch, '{"n":%d}' % n) for n in range(1, 11)]
        epoch = res[0]["epoch"]
        assert [r["offset"] for r in res] == list(range(1, 11))

        sub = await Client.open(daemon.port)
        i = await sub.send_cmd("subscribe", {"channel": ch,
                                             "since": {"epoch": epoch, "offset": 5}})
        # Live publications race with the subscribe: whichever side of the
        # reply they land on, every offset after 5 must arrive exactly once,
        # in order, and the recovered ones before any live one.
        live = [await pub.send_cmd("publish", {"channel": ch, "data": {"n": n}})
                for n in range(11, 14)]
        reply = await sub.reply(i)
        assert "result" in reply, reply
        r = reply["result"]
        assert r["recovered"] is True
        assert r["epoch"] == epoch
        assert 10 <= r["offset"] <= 13
        live_res = [(await pub.reply(x))["result"] for x in live]
        assert sorted(x["offset"] for x in live_res) == [11, 12, 13]

        pushes = await sub.pushes_n(8)
        offsets = [p["push"]["offset"] for _raw, p in pushes]
        assert offsets == list(range(6, 14)), offsets
        assert all(p["push"]["epoch"] == epoch for _raw, p in pushes)
        by_offset = {x["offset"]: x for x in res + live_res}
        for raw, p in pushes:
            off = p["push"]["offset"]
            n = off  # publication n got offset n
            assert push_data_text(raw) == '{"n":%d}' % n
            assert by_offset[off]["epoch"] == epoch
        await sub.no_push_for(0.3)
        await pub.close()
        await sub.close()
    asyncio.run(run())


def test_recover_from_current_position_sends_nothing_old(daemon):
    async def run():
        ch = "recover:current"
        pub = await Client.open(daemon.port)
        res = [await pub.publish(ch, n) for n in range(4)]
        epoch = res[-1]["epoch"]
        sub = await Client.open(daemon.port)
        r = await sub.subscribe(ch, since={"epoch": epoch, "offset": 4})
        assert r["recovered"] is True and r["offset"] == 4
        await sub.no_push_for(0.3)
        await pub.publish(ch, "live")
        raw, p = await sub.push()
        assert p["push"]["offset"] == 5 and push_data_text(raw) == '"live"'
        await pub.close()
        await sub.close()
    asyncio.run(run())


def test_unknown_epoch_not_recovered(daemon):
    async def run():
        ch = "recover:unknown"
        pub = await Client.open(daemon.port)
        for n in range(3):
            await pub.publish(ch, n)
        sub = await Client.open(daemon.port)
        r = await sub.subscribe(ch, since={"epoch": "noSuchEpoch-0", "offset": 1})
        assert r["recovered"] is False
        assert r["epoch"] != "noSuchEpoch-0"
        assert r["offset"] == 3
        # Still subscribed: live pushes follow from the next offset.
        res = await pub.publish(ch, "live")
        raw, p = await sub.push()
        assert p["push"]["offset"] == res["offset"] == 4
        assert push_data_text(raw) == '"live"'
        await pub.close()
        await sub.close()
    asyncio.run(run())


def test_position_older_than_ring_not_recovered(daemons):
    d = daemons({"channels": {"ring_size": "10"}})

    async def run():
        ch = "recover:ring"
        pub = await Client.open(d.port)
        res = [await pub.publish(ch, n) for n in range(1, 26)]
        epoch = res[0]["epoch"]
        assert res[-1]["offset"] == 25

        old = await Client.open(d.port)
        r = await old.subscribe(ch, since={"epoch": epoch, "offset": 2})
        assert r["recovered"] is False, r
        assert r["offset"] == 25
        # Control: a recent position in the same channel is served.
        recent = await Client.open(d.port)
        r = await recent.subscribe(ch, since={"epoch": epoch, "offset": 21})
        assert r["recovered"] is True, r
        pushes = await recent.pushes_n(4)
        assert [p["push"]["offset"] for _r, p in pushes] == [22, 23, 24, 25]
        assert [push_data_text(raw) for raw, _p in pushes] == ["22", "23", "24", "25"]
        # History is bounded by the ring too, and says so through offsets.
        h = await recent.result("history", {"channel": ch, "limit": 1000})
        offs = [p["offset"] for p in h["publications"]]
        assert offs == list(range(offs[0], 26)) and 10 <= len(offs) < 25, offs
        for c in (pub, old, recent):
            await c.close()
    asyncio.run(run())


def test_restart_changes_epoch(daemons):
    ch = "restart:1"

    async def publish_once(port):
        c = await Client.open(port)
        r = await c.publish(ch, "x")
        await c.close()
        return r

    first = daemons()
    r1 = asyncio.run(publish_once(first.port))
    assert first.stop() == 0
    second = daemons()
    r2 = asyncio.run(publish_once(second.port))
    for r in (r1, r2):
        assert re.fullmatch(r"[A-Za-z0-9_-]+", r["epoch"]), r
        assert r["offset"] == 1
    assert r1["epoch"] != r2["epoch"]

    async def old_position(port):
        c = await Client.open(port)
        r = await c.subscribe(ch, since={"epoch": r1["epoch"], "offset": 1})
        await c.close()
        return r

    r = asyncio.run(old_position(second.port))
    assert r["recovered"] is False and r["epoch"] == r2["epoch"]
