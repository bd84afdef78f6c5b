"""Slow consumers (DESIGN.md section 5): a subscriber that stops reading is
disconnected once its queue is full; memory stays bounded; everybody else
gets every message in order."""

import asyncio
import json

from ohclient import (Client, check_healthy, push_data_text, raw_ws, scrape, t, wait_until)

KIB = 1024
QUEUE = 256 * KIB
N = 2000


def data_text(n):
    return json.dumps(f"{n:06d}:" + "q" * (4 * KIB - 7))  # 4 KiB payload


def test_stalled_subscriber_disconnected_others_get_everything(daemons):
    d = daemons({"server": {"sndbuf": "16KiB"},
                 "limits": {"max_queue_size": "256KiB"}})
    ch = "slow:1"

    # The stalled subscriber: small receive buffer, subscribes, then stops reading.
    stalled = raw_ws(d.port, rcvbuf=8 * KIB)
    stalled.send_json({"id": 1, "subscribe": {"channel": ch}})
    assert stalled.recv_json()["result"]["offset"] == 0

    async def run():
        good = await Client.open(d.port)
        await good.subscribe(ch)
        pub = await Client.open(d.port)
        texts = [data_text(n) for n in range(N)]

        async def pace(acked):
            # At most 8 unanswered publishes and 24 acknowledged but not yet
            # received by the good subscriber: at most ~32 x 4 KiB between
            # the publisher and it, so that it can never look slow itself.
            for _ in range(100000):
                if acked - len(good.pushes) <= 24:
                    return
                await good.read_one(t(20))

        got = []
        results = await pub.publish_many(ch, texts, window=8, pace=pace)
        # Drain the rest.
        for _ in range(N):
            if len(got) + len(good.pushes) >= N:
                break
            await good.read_one(t(20))
        got.extend(good.pushes)
        good.pushes.clear()

        assert [r["offset"] for r in results] == list(range(1, N + 1))
        assert [p["push"]["offset"] for _raw, p in got] == list(range(1, N + 1))
        for n, (raw, _p) in enumerate(got):
            assert push_data_text(raw) == texts[n], f"message {n}"
        frame_len = len(got[-1][0].encode()) + 14
        await good.no_push_for(0.2)
        assert good.ws.open
        await good.close()
        await pub.close()
        return frame_len

    frame_len = asyncio.run(run())

    # The stalled subscriber was disconnected: after what is already in its
    # buffers comes a 4001 close frame or the end of the stream.
    kind, code, _reason, seen = stalled.wait_closed(t(10), max_frames=N + 10)
    stalled.close()
    if kind == "close":
        assert code == 4001, code
    assert len(seen) < N, "the stalled subscriber was sent everything"

    def closed_counted():
        m = scrape(d.port)
        return m if m.total("omnihub_slow_consumer_closes_total") >= 1 else None

    m = wait_until(closed_counted, t(5), 0.1, "omnihub_slow_consumer_closes_total >= 1")
    qmax = m.max("omnihub_queue_bytes_max")
    assert qmax <= QUEUE + frame_len, f"queue reached {qmax} > {QUEUE} + {frame_len}"
    assert qmax >= QUEUE // 4, f"queue_bytes_max {qmax}: the stalled queue was never measured"

    # The daemon still serves, and nothing stays queued.
    asyncio.run(check_healthy(d.port))
    wait_until(lambda: scrape(d.port).total("omnihub_queue_bytes") == 0, t(5), 0.1,
               "omnihub_queue_bytes back to 0")
