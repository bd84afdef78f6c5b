"""Helpers for the omnihubd integration tests.

Everything here talks to 127.0.0.1 only, and every wait is bounded in time
and in iterations. Runs under Debian's /usr/bin/python3 with python3-websockets
(10.4, legacy asyncio API) and nothing else outside the standard library.

Contents:
  Daemon          start/stop one omnihubd with its own config and free port
  Client          asyncio JSON client over the websockets library
  RawWS           blocking raw-socket WebSocket client for hand-made frames
  scrape/Metrics  Prometheus text parser for GET /metrics
  http_request    small HTTP/1.1 client (http.client), raw_http for odd cases
"""

import asyncio
import base64
import collections
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import websockets

REPO = Path(__file__).resolve().parents[2]
OMNIHUBD = os.environ.get("OMNIHUBD", str(REPO / "build" / "broker" / "omnihubd"))
HOST = "127.0.0.1"


def _detect_scale():
    """Timeout multiplier: OH_TIMEOUT_SCALE, else 4 for sanitizer builds, else 1."""
    env = os.environ.get("OH_TIMEOUT_SCALE")
    if env:
        return float(env)
    try:
        with open(OMNIHUBD, "rb") as f:
            blob = f.read(64 * 1024 * 1024)
    except OSError:
        return 1.0
    if b"__tsan_init" in blob or b"__asan_init" in blob:
        return 4.0
    return 1.0


SCALE = _detect_scale()


def t(seconds):
    """A timeout of `seconds` on a normal build, stretched for slow builds."""
    return seconds * SCALE


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until truthy; returns its value or raises AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    for _ in range(100000):
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what} (last={last!r})")


# --------------------------------------------------------------------------
# Daemon


def render_config(config):
    """config: None, a string (used as is) or {section: {key: value}}."""
    if config is None:
        config = {}
    if isinstance(config, str):
        return config
    lines = []
    for section, keys in config.items():
        lines.append(f"[{section}]")
        for k, v in keys.items():
            lines.append(f"{k} = {v}")
        lines.append("")
    return "\n".join(lines) + "\n"


class Daemon:
    """One omnihubd process listening on a free port of 127.0.0.1."""

    def __init__(self, workdir, config=None, shards=2, args=(), name="omnihubd"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf = self.workdir / f"{name}.conf"
        self.port_file = self.workdir / f"{name}.port"
        self.log_path = self.workdir / f"{name}.log"
        if config is None:
            config = {"log": {"level": "info"}}
        self.conf.write_text(render_config(config))
        self.argv = [OMNIHUBD, "-c", str(self.conf), "--listen", f"{HOST}:0",
                     "--port-file", str(self.port_file)]
        if shards is not None:
            self.argv += ["--shards", str(shards)]
        self.argv += list(args)
        self.proc = None
        self.port = None
        self.returncode = None

    def start(self, timeout=None):
        if not os.access(OMNIHUBD, os.X_OK):
            raise AssertionError(f"omnihubd not found at {OMNIHUBD} (build it or set OMNIHUBD)")
        timeout = t(10) if timeout is None else timeout
        try:
            self.port_file.unlink()
        except FileNotFoundError:
            pass
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        prev = None
        for _ in range(100000):
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"omnihubd exited with {self.proc.returncode} during start-up:\n"
                    + self.log_tail())
            port = self._read_port()
            # Accept a value only when it is the same on two reads in a row,
            # so a half-written file is never taken for the port.
            if port is not None and port == prev:
                self.port = port
                return self
            prev = port
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"omnihubd wrote no port to {self.port_file} within "
                             f"{timeout:.0f}s:\n" + self.log_tail())

    def _read_port(self):
        try:
            text = self.port_file.read_text().strip()
        except FileNotFoundError:
            return None
        if not text.isdigit():
            return None
        port = int(text)
        return port if 0 < port < 65536 else None

    @property
    def url(self):
        return f"ws://{HOST}:{self.port}/ws"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit code or None on timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout=None):
        """SIGTERM, wait; SIGKILL if it hangs. Returns the exit code (None = hung)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            self._close_log()
            return self.returncode
        timeout = t(10) if timeout is None else timeout
        self.signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
        self._close_log()
        return rc

    def kill(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self):
        log = getattr(self, "log", None)
        if log is not None and not log.closed:
            log.close()

    def log_tail(self, n=60):
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(lines[-n:])


# --------------------------------------------------------------------------
# JSON client over the websockets library


async def ws_connect(port, **kw):
    """Opens a websockets connection to /ws with test-friendly defaults:
    no client pings, no compression, unbounded incoming queue (so the client
    always drains the socket and never looks like a slow consumer)."""
    opts = dict(ping_interval=None, compression=None, max_size=4 * 1024 * 1024,
                max_queue=None, open_timeout=t(10), close_timeout=t(2))
    opts.update(kw)
    return await websockets.connect(f"ws://{HOST}:{port}/ws", **opts)


class Client:
    """JSON command/reply client. Keeps pushes (raw text + parsed) in arrival
    order and replies by id, so a push arriving before its reply is fine."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 1
        self.replies = {}
        self.null_errors = collections.deque()
        self.pushes = collections.deque()
        self.other = []

    @classmethod
    async def open(cls, port, **kw):
        return cls(await ws_connect(port, **kw))

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), t(5))
        except (asyncio.TimeoutError, OSError):
            pass

    def _file(self, raw):
        msg = json.loads(raw)
        if isinstance(msg, dict) and "push" in msg:
            self.pushes.append((raw, msg))
        elif isinstance(msg, dict) and "id" in msg:
            if msg["id"] is None:
                self.null_errors.append((raw, msg))
            else:
                self.replies[msg["id"]] = (raw, msg)
        else:
            self.other.append(raw)

    async def read_one(self, timeout):
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str), f"server sent a binary frame: {raw[:80]!r}"
        self._file(raw)

    async def send_json(self, obj):
        await self.ws.send(json.dumps(obj, separators=(",", ":")))

    async def send_raw(self, text):
        await self.ws.send(text)

    def alloc_id(self):
        i = self.next_id
        self.next_id += 1
        return i

    async def send_cmd(self, name, body):
        i = self.alloc_id()
        await self.send_json({"id": i, name: body})
        return i

    async def reply_raw(self, i, timeout=None):
        """(raw, parsed) reply for id i."""
        timeout = t(10) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        for _ in range(1000000):
            if i in self.replies:
                return self.replies.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await self.read_one(left)
        raise AssertionError(f"no reply for id {i} within {timeout:.1f}s")

    async def reply(self, i, timeout=None):
        return (await self.reply_raw(i, timeout))[1]

    async def null_error(self, timeout=None):
        timeout = t(10) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        for _ in range(1000000):
            if self.null_errors:
                return self.null_errors.popleft()[1]
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await self.read_one(left)
        raise AssertionError(f"no id:null error within {timeout:.1f}s")

    async def request(self, name, body, timeout=None):
        return await self.reply(await self.send_cmd(name, body), timeout)

    async def result(self, name, body, timeout=None):
        """Like request, but asserts success and returns the result object."""
        r = await self.request(name, body, timeout)
        assert "result" in r, f"{name} {body!r} failed: {r!r}"
        return r["result"]

    async def subscribe(self, channel, since=None):
        body = {"channel": channel}
        if since is not None:
            body["since"] = since
        return await self.result("subscribe", body)

    async def unsubscribe(self, channel):
        return await self.result("unsubscribe", {"channel": channel})

    async def publish_raw(self, channel, data_text):
        """Publishes data given as JSON text, byte for byte; returns the result."""
        i = self.alloc_id()
        await self.send_raw('{"id":%d,"publish":{"channel":%s,"data":%s}}'
                            % (i, json.dumps(channel), data_text))
        r = await self.reply(i)
        assert "result" in r, f"publish failed: {r!r}"
        return r["result"]

    async def publish(self, channel, data):
        return await self.publish_raw(channel, json.dumps(data))

    async def publish_many(self, channel, data_texts, window=16, pace=None):
        """Pipelined publishes (at most `window` unanswered). pace, if given,
        is an async callable awaited before each send (flow control).
        Returns the list of results in publication order."""
        ids = collections.deque()
        results = []
        for text in data_texts:
            if pace is not None:
                await pace(len(results))
            if len(ids) >= window:
                results.append(await self._result_of(ids.popleft()))
            i = self.alloc_id()
            ids.append(i)
            await self.send_raw('{"id":%d,"publish":{"channel":%s,"data":%s}}'
                                % (i, json.dumps(channel), text))
        while ids:
            results.append(await self._result_of(ids.popleft()))
        return results

    async def _result_of(self, i):
        r = await self.reply(i)
        assert "result" in r, f"publish id {i} failed: {r!r}"
        return r["result"]

    async def push(self, timeout=None):
        """Next push as (raw text, parsed)."""
        timeout = t(10) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        for _ in range(1000000):
            if self.pushes:
                return self.pushes.popleft()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await self.read_one(left)
        raise AssertionError(f"no push within {timeout:.1f}s")

    async def pushes_n(self, n, timeout=None):
        timeout = t(20) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        out = []
        for _ in range(n):
            out.append(await self.push(max(0.001, deadline - time.monotonic())))
        return out

    async def no_push_for(self, seconds):
        """Asserts that no push arrives within `seconds`."""
        deadline = time.monotonic() + seconds
        for _ in range(100000):
            assert not self.pushes, f"unexpected push: {self.pushes[0][0]}"
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                await self.read_one(left)
            except asyncio.TimeoutError:
                pass

    async def ping(self):
        return await self.result("ping", {})


async def wait_closed(ws, timeout=None):
    """Waits until the websockets connection is closed (reading and dropping
    anything still coming); returns (close_code, close_reason)."""
    timeout = t(10) if timeout is None else timeout
    deadline = time.monotonic() + timeout
    for _ in range(1000000):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"connection still open after {timeout:.1f}s")
        try:
            await asyncio.wait_for(ws.recv(), left)
        except websockets.ConnectionClosed:
            break
        except asyncio.TimeoutError:
            continue
    await asyncio.wait_for(ws.wait_closed(), t(10))
    return ws.close_code, ws.close_reason


async def check_healthy(port, tag="healthy"):
    """A fresh client can ping, subscribe, publish and receive its push."""
    c = await Client.open(port)
    try:
        await c.ping()
        ch = f"{tag}:{time.monotonic_ns()}"
        sub = await c.subscribe(ch)
        data = '{"ok":true,"t":"%s"}' % tag
        res = await c.publish_raw(ch, data)
        raw, push = await c.push()
        assert push["push"]["offset"] == res["offset"] == sub["offset"] + 1
        assert data in raw
    finally:
        await c.close()


def assert_healthy(port, tag="healthy"):
    asyncio.run(check_healthy(port, tag))


# --------------------------------------------------------------------------
# Exact byte ranges of JSON values inside a received frame

_DEC = json.JSONDecoder()


def _skip_ws(s, i):
    while i < len(s) and s[i] in " \t\r\n":
        i += 1
    return i


def member_spans(s, i=0):
    """s[i:] starts a JSON object: returns ({key: (start, end)}, end) with the
    exact character range of every member value."""
    i = _skip_ws(s, i)
    assert s[i] == "{", f"object expected at {i}: {s[i:i + 20]!r}"
    i = _skip_ws(s, i + 1)
    spans = {}
    if s[i] == "}":
        return spans, i + 1
    for _ in range(len(s)):
        key, i = _DEC.raw_decode(s, i)
        i = _skip_ws(s, i)
        assert s[i] == ":"
        i = _skip_ws(s, i + 1)
        _, end = _DEC.raw_decode(s, i)
        spans[key] = (i, end)
        i = _skip_ws(s, end)
        if s[i] == ",":
            i = _skip_ws(s, i + 1)
            continue
        assert s[i] == "}", f"bad object at {i}"
        return spans, i + 1
    raise AssertionError("member_spans: runaway")


def element_spans(s, i):
    """s[i:] starts a JSON array: returns the (start, end) of each element."""
    i = _skip_ws(s, i)
    assert s[i] == "["
    i = _skip_ws(s, i + 1)
    out = []
    if s[i] == "]":
        return out
    for _ in range(len(s)):
        _, end = _DEC.raw_decode(s, i)
        out.append((i, end))
        i = _skip_ws(s, end)
        if s[i] == ",":
            i = _skip_ws(s, i + 1)
            continue
        assert s[i] == "]"
        return out
    raise AssertionError("element_spans: runaway")


def push_data_text(raw):
    """The exact text of push.data in a raw push frame."""
    top, _ = member_spans(raw)
    inner, _ = member_spans(raw, top["push"][0])
    a, b = inner["data"]
    return raw[a:b]


def history_data_texts(raw):
    """The exact texts of result.publications[*].data in a raw history reply."""
    top, _ = member_spans(raw)
    res, _ = member_spans(raw, top["result"][0])
    out = []
    for a, _b in element_spans(raw, res["publications"][0]):
        item, _ = member_spans(raw, a)
        da, db = item["data"]
        out.append(raw[da:db])
    return out


# --------------------------------------------------------------------------
# Raw-socket WebSocket client

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def ws_frame(opcode, payload, fin=True, mask=True, length=None, rsv=0):
    """One client frame. length overrides the announced payload length."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    # XOR with the repeated key, done on big integers for speed.
    reps = key * (len(payload) // 4 + 1)
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(reps[:len(payload)], "big")
              ).to_bytes(len(payload), "big") if payload else b""
    return head + key + masked


class EOF(Exception):
    """The peer closed the TCP connection (FIN or RST)."""


class RawWS:
    """Blocking WebSocket client on a plain socket: sends exactly the bytes it
    is told to, never answers pings unless asked."""

    def __init__(self, port, rcvbuf=None, timeout=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(t(10) if timeout is None else timeout)
        self.sock.connect((HOST, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.port = port

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- bytes

    def send(self, data, chunk=None, pause=0.0):
        """Sends data, optionally in chunks of `chunk` bytes with pauses."""
        if not chunk:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])
            if pause:
                time.sleep(pause)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("raw socket read timed out")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("raw socket read timed out") from None
        except (ConnectionResetError, BrokenPipeError):
            raise EOF() from None
        if not data:
            raise EOF()
        self.buf += data

    def _take(self, n, deadline):
        for _ in range(1000000):
            if len(self.buf) >= n:
                out, self.buf = self.buf[:n], self.buf[n:]
                return out
            self._fill(deadline)
        raise TimeoutError("raw socket read: too many iterations")

    # -- HTTP upgrade

    def handshake(self, path="/ws", timeout=None, extra=""):
        """Sends the upgrade request; returns (status, headers dict, body bytes).
        On 101 also checks Sec-WebSocket-Accept."""
        key = base64.b64encode(os.urandom(16))
        req = (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
               f"{extra}\r\n").encode()
        self.sock.sendall(req)
        deadline = time.monotonic() + (t(10) if timeout is None else timeout)
        for _ in range(100000):
            if b"\r\n\r\n" in self.buf:
                break
            try:
                self._fill(deadline)
            except EOF:
                if self.buf:
                    break
                raise
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        self.buf = rest
        if status == 101:
            want = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
            assert headers.get("sec-websocket-accept") == want, headers
            self.buf = rest
            return status, headers, b""
        body = rest
        clen = int(headers.get("content-length", "0") or 0)
        for _ in range(1000):
            if len(body) >= clen:
                break
            try:
                self._fill(deadline)
            except (EOF, TimeoutError):
                break
            body, self.buf = body + self.buf, b""
        return status, headers, body

    # -- frames

    def send_frame(self, opcode, payload, fin=True, chunk=None, pause=0.0, mask=True):
        self.send(ws_frame(opcode, payload, fin=fin, mask=mask), chunk, pause)

    def send_text(self, text):
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text)

    def send_json(self, obj):
        self.send_text(json.dumps(obj, separators=(",", ":")))

    def recv_frame(self, timeout=None):
        """(fin, opcode, payload). Raises EOF or TimeoutError."""
        deadline = time.monotonic() + (t(10) if timeout is None else timeout)
        b0, b1 = self._take(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8, deadline))[0]
        assert not (b1 & 0x80), "server frame is masked"
        assert n <= 64 * 1024 * 1024, f"absurd server frame length {n}"
        return bool(b0 & 0x80), b0 & 0x0F, self._take(n, deadline)

    def recv_message(self, timeout=None):
        """Next data message as (opcode, payload), skipping pings and pongs.
        A close frame raises AssertionError with its code."""
        deadline = time.monotonic() + (t(10) if timeout is None else timeout)
        parts, op = [], None
        for _ in range(1000000):
            fin, opcode, payload = self.recv_frame(max(0.001, deadline - time.monotonic()))
            if opcode in (OP_PING, OP_PONG):
                continue
            if opcode == OP_CLOSE:
                raise AssertionError(f"unexpected close frame {parse_close(payload)}")
            if op is None:
                op = opcode
            parts.append(payload)
            if fin:
                return op, b"".join(parts)
        raise TimeoutError("recv_message: too many frames")

    def recv_json(self, timeout=None):
        op, payload = self.recv_message(timeout)
        assert op == OP_TEXT, f"opcode {op}"
        return json.loads(payload)

    def wait_closed(self, timeout=None, max_frames=100000):
        """Reads (and drops) frames until a close frame or EOF.
        Returns ("close", code, reason, seen_opcodes) or ("eof", None, None, seen).
        Raises TimeoutError if the connection stays open."""
        deadline = time.monotonic() + (t(10) if timeout is None else timeout)
        seen = []
        for _ in range(max_frames):
            try:
                fin, opcode, payload = self.recv_frame(deadline - time.monotonic())
            except EOF:
                return "eof", None, None, seen
            seen.append(opcode)
            if opcode == OP_CLOSE:
                code, reason = parse_close(payload)
                return "close", code, reason, seen
        raise TimeoutError("wait_closed: too many frames")


def parse_close(payload):
    if len(payload) < 2:
        return None, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")


def raw_ws(port, rcvbuf=None):
    """A RawWS that has completed the upgrade."""
    c = RawWS(port, rcvbuf=rcvbuf)
    status, headers, _ = c.handshake()
    assert status == 101, f"upgrade refused with {status}"
    return c


# --------------------------------------------------------------------------
# HTTP


def http_request(port, method, path, body=None, headers=None, timeout=None):
    """Returns (status, headers dict lower-cased, body bytes)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=t(10) if timeout is None else timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def raw_http(port, request_bytes, timeout=None):
    """Sends request bytes (ignoring a peer that closes early) and returns
    (status, body bytes) of the response."""
    sock = socket.create_connection((HOST, port), timeout=t(10) if timeout is None else timeout)
    try:
        try:
            sock.sendall(request_bytes)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        deadline = time.monotonic() + (t(10) if timeout is None else timeout)
        for _ in range(100000):
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head + b"\r\n")
                if m and len(body) >= int(m.group(1)):
                    break
            if time.monotonic() > deadline:
                break
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head, "no HTTP response"
        return int(head.split(b" ", 2)[1]), body
    finally:
        sock.close()


# --------------------------------------------------------------------------
# Metrics

_SAMPLE = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$')
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse_metrics(text):
    """Prometheus text -> {name: {frozenset(labels.items()): value}}.
    Raises ValueError on a line that is neither a comment nor a sample."""
    out = collections.defaultdict(dict)
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"metrics line {lineno} unparsable: {line!r}")
        name, labels_text, value = m.groups()
        labels = {}
        if labels_text:
            pos = 0
            for _ in range(100):
                if pos >= len(labels_text):
                    break
                lm = _LABEL.match(labels_text, pos)
                if not lm:
                    raise ValueError(f"metrics line {lineno}: bad labels {labels_text!r}")
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        out[name][frozenset(labels.items())] = float(value)
    return out


class Metrics:
    def __init__(self, text):
        self.text = text
        self.samples = parse_metrics(text)

    def by_shard(self, name):
        """{shard label: value} for one metric."""
        return {dict(k).get("shard"): v for k, v in self.samples.get(name, {}).items()}

    def has(self, name):
        return name in self.samples

    def total(self, name):
        assert name in self.samples, f"metric {name} missing"
        return sum(self.samples[name].values())

    def max(self, name):
        assert name in self.samples, f"metric {name} missing"
        return max(self.samples[name].values())


def scrape(port):
    status, headers, body = http_request(port, "GET", "/metrics")
    assert status == 200, f"/metrics returned {status}"
    return Metrics(body.decode())
