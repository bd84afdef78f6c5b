"""HTTP on the WebSocket port (DESIGN.md section 6): POST /api/publish,
/healthz, /readyz, /metrics."""

import asyncio
import json

import pytest

from ohclient import (Client, assert_healthy, http_request, push_data_text, raw_http, scrape,
                      t, wait_until)

METRICS = [
    "omnihub_connections", "omnihub_subscriptions", "omnihub_channels",
    "omnihub_publications_total", "omnihub_deliveries_total",
    "omnihub_slow_consumer_closes_total", "omnihub_queue_bytes", "omnihub_queue_bytes_max",
    "omnihub_protocol_errors_total", "omnihub_connections_rejected_total",
]


@pytest.fixture(scope="module")
def d(module_daemons):
    return module_daemons()


def post(port, body, headers=None):
    status, hdrs, data = http_request(port, "POST", "/api/publish", body=body, headers=headers)
    return status, (json.loads(data) if data.strip() else None)


def assert_http_error(status, body, want_status, code, temporary=False):
    assert status == want_status, (status, body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["temporary"] is temporary, body


def test_http_publish_reaches_subscribers(d):
    async def run():
        ch = "http:pub"
        sub = await Client.open(d.port)
        await sub.subscribe(ch)
        texts = ['{"n":1, "x":1.000000000000000001}', '"caf\\u00e9"', "[true,null]"]
        results = []
        for k, text in enumerate(texts):
            durable = ',"durable":false' if k == 1 else ""
            body = '{"channel":"%s","data":%s%s}' % (ch, text, durable)
            status, reply = await asyncio.to_thread(post, d.port, body)
            assert status == 200, (status, reply)
            assert set(reply) == {"result"}, reply
            results.append(reply["result"])
        assert [r["offset"] for r in results] == [1, 2, 3]
        pushes = await sub.pushes_n(3)
        for k, (raw, p) in enumerate(pushes):
            assert p["push"]["offset"] == results[k]["offset"]
            assert p["push"]["epoch"] == results[k]["epoch"]
            assert push_data_text(raw) == texts[k]
        # The same channel is shared with WebSocket publishers.
        ws_res = await sub.publish(ch, "ws")
        assert ws_res["offset"] == 4 and ws_res["epoch"] == results[0]["epoch"]
        await sub.close()
    asyncio.run(run())


@pytest.mark.parametrize("body,code", [
    ("not json", "bad_request"),
    ("{}", "bad_request"),
    ('{"channel":"a"}', "bad_request"),
    ('{"data":1}', "bad_request"),
    ('{"channel":5,"data":1}', "bad_request"),
    ('{"channel":"a","data":1,"durable":"yes"}', "bad_request"),
    ('{"channel":"","data":1}', "invalid_channel"),
    ('{"channel":"%s","data":1}' % ("x" * 201), "invalid_channel"),
    ('{"channel":"a","data":' + "[" * 10000 + "]" * 10000 + "}", "bad_request"),
], ids=["notjson", "empty", "nodata", "nochannel", "chantype", "durabletype", "emptychan",
        "longchan", "deep"])
def test_http_publish_bad_body_400(d, body, code):
    status, reply = post(d.port, body)
    assert_http_error(status, reply, 400, code)
    assert_healthy(d.port)


def test_http_publish_too_big_413(d):
    async def run():
        ch = "http:big"
        sub = await Client.open(d.port)
        await sub.subscribe(ch)
        small = '{"channel":"%s","data":"%s"}' % (ch, "s" * (30 * 1024))
        status, reply = await asyncio.to_thread(post, d.port, small)
        assert status == 200, (status, reply)
        big = ('{"channel":"%s","data":"%s"}' % (ch, "b" * (100 * 1024))).encode()
        req = (b"POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n"
               b"Connection: close\r\n\r\n" % len(big)) + big
        status, body = await asyncio.to_thread(raw_http, d.port, req)
        assert status == 413, (status, body[:200])
        if body.strip():
            assert json.loads(body)["error"]["code"] in ("bad_request", "limit_exceeded"), body
        raw, p = await sub.push()
        assert p["push"]["offset"] == 1
        await sub.no_push_for(0.3)
        await sub.close()
    asyncio.run(run())
    assert_healthy(d.port)


def test_http_durable_publish_503(d):
    status, reply = post(d.port, '{"channel":"http:durable","data":1,"durable":true}')
    assert_http_error(status, reply, 503, "unavailable", temporary=True)
    status, reply = post(d.port, '{"channel":"http:durable","data":1}')
    assert status == 200 and reply["result"]["offset"] == 1, (status, reply)


def test_health_and_ready(d):
    for path in ("/healthz", "/readyz"):
        status, _h, _b = http_request(d.port, "GET", path)
        assert status == 200, path
    status, _h, _b = http_request(d.port, "GET", "/no/such/path")
    assert status == 404


def test_api_key_required_when_set(daemons):
    d = daemons({"server": {"api_key": "s3cret-key"}})
    body = '{"channel":"http:auth","data":1}'
    status, reply = post(d.port, body)
    assert_http_error(status, reply, 403, "forbidden")
    for bad in ("Bearer wrong-key", "Bearer s3cret-ke", "Bearer s3cret-key2", "s3cret-key",
                "Basic czNjcmV0LWtleQ=="):
        status, reply = post(d.port, body, {"Authorization": bad})
        assert_http_error(status, reply, 403, "forbidden")
    status, reply = post(d.port, body, {"Authorization": "Bearer s3cret-key"})
    assert status == 200, (status, reply)
    assert reply["result"]["offset"] == 1  # the refused ones took no offset


def test_metrics_format_and_counts(daemon):
    port = daemon.port
    status, headers, body = http_request(port, "GET", "/metrics")
    assert status == 200
    assert headers.get("content-type", "").startswith("text/plain"), headers
    m = scrape(port)
    for name in METRICS:
        shards = m.by_shard(name)
        assert set(shards) == {"0", "1"}, f"{name}: {shards}"
    assert m.total("omnihub_connections") == 0
    assert m.total("omnihub_publications_total") == 0

    async def run():
        a = await Client.open(port)
        b = await Client.open(port)
        c = await Client.open(port)
        for x in (a, b, c):
            await x.subscribe("metrics:1")
        await c.subscribe("metrics:2")

        def gauges():
            g = scrape(port)
            ok = (g.total("omnihub_connections") == 3
                  and g.total("omnihub_subscriptions") == 4)
            return g if ok else None

        await asyncio.to_thread(wait_until, gauges, t(5), 0.1, "3 connections, 4 subscriptions")
        for n in range(10):
            status, reply = await asyncio.to_thread(
                post, port, '{"channel":"metrics:1","data":%d}' % n)
            assert status == 200
        for x in (a, b, c):
            assert len(await x.pushes_n(10)) == 10

        def counters():
            g = scrape(port)
            ok = (g.total("omnihub_publications_total") >= 10
                  and g.total("omnihub_deliveries_total") >= 30)
            return g if ok else None

        g = await asyncio.to_thread(wait_until, counters, t(5), 0.1, "publication counters")
        assert g.total("omnihub_publications_total") == 10
        assert g.total("omnihub_deliveries_total") == 30
        assert g.total("omnihub_channels") >= 1
        assert g.total("omnihub_queue_bytes") >= 0
        for x in (a, b, c):
            await x.close()

    asyncio.run(run())

    def drained():
        g = scrape(port)
        return g if (g.total("omnihub_connections") == 0
                     and g.total("omnihub_subscriptions") == 0) else None

    wait_until(drained, t(5), 0.1, "connections and subscriptions back to 0")


def _cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.mark.parametrize("channel", ["pipe:a", "pipe:b", "pipe:c", "pipe:d"])
def test_pipelined_publishes_answer_once_and_do_not_spin(daemons, channel):
    """Two POSTs in one write: the first is answered with Connection: close and
    published exactly once; the second is never published twice in its place;
    no shard is left spinning (channels vary so both local and remote homes run)."""
    d = daemons()

    def req(data):
        body = json.dumps({"channel": channel, "data": data}).encode()
        return (b"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body))

    status, body = raw_http(d.port, req("A") + req("B"))
    assert status == 200, body
    assert json.loads(body)["result"]["offset"] == 1
    before = _cpu_ticks(d.proc.pid)
    time_window = 1.0
    asyncio.run(asyncio.sleep(time_window))
    spent = _cpu_ticks(d.proc.pid) - before
    assert spent < 30, f"daemon used {spent} ticks of CPU in {time_window}s while idle"
    assert scrape(d.port).total("omnihub_publications_total") == 1

    async def history():
        c = await Client.open(d.port)
        reply = await c.request("history", {"channel": channel})
        await c.close()
        return reply
    reply = asyncio.run(history())
    pubs = reply["result"]["publications"]
    assert [p["data"] for p in pubs] == ["A"], pubs
    assert_healthy(d.port)
