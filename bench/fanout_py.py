#!/usr/bin/python3
"""Fan-out measurement for omnihubd, in Python, until the C load generator exists.

Starts its own omnihubd on a free loopback port, opens N subscribers on one
channel spread over W worker processes, then one publisher publishes at R
publications/s for D seconds on a fixed (open-loop) schedule. Every push is
checked (offsets +1, every seq exactly once) and its latency recorded
(receive time - data.t). Reports delivery rate, latency percentiles, daemon
RSS and CPU, and the clients' own CPU, as a summary and as JSON.

Run with Debian's interpreter (it has websockets 10.4):
    /usr/bin/python3 bench/fanout_py.py --subscribers 2000 --rate 20 --duration 10

The clients share the machine's cores with the daemon. When they are
saturated the numbers describe the clients, not the daemon: the summary says
so. The daemon binary is copied to a private temporary directory first, so a
rebuild during the run does not change what is measured.

Loopback only: the daemon listens on 127.0.0.1, workers connect from
127.0.0.2, 127.0.0.3, ... (one source address per worker) unless --no-bind.
"""

import argparse
import asyncio
import hashlib
import json
import math
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

CHANNEL = "bench:fanout"
SLOTS_PER_S = 10  # delivery timeline resolution
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

# ---------------------------------------------------------------------------
# Latency histogram: integer microseconds, exact below 1024 us, then 10
# significant bits (relative error < 0.2 %). Stored sparse as {key: count}.


def hist_value(key):
    """Midpoint (us) of the bucket `key` stands for."""
    s, m = key >> 10, key & 1023
    if s == 0:
        return float(m)
    return ((m << s) + ((m + 1) << s) - 1) / 2.0


def hist_merge(into, other):
    for k, c in other.items():
        into[k] = into.get(k, 0) + c


def hist_percentiles(h, qs):
    total = sum(h.values())
    out = {}
    if total == 0:
        return {q: None for q in qs}
    keys = sorted(h)
    for q in qs:
        rank = max(1, math.ceil(q * total))
        cum = 0
        for k in keys:
            cum += h[k]
            if cum >= rank:
                out[q] = hist_value(k)
                break
    return out


# ---------------------------------------------------------------------------
# /proc readers


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def proc_cpu_s(pid):
    """utime + stime of the whole process (all threads), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime, stime are fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


STAT_COLS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def machine_cpu():
    """{column: jiffies} summed over all CPUs, from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    return dict(zip(STAT_COLS, (int(x) for x in parts[:8])))


def machine_busy(a, b):
    """(busy fraction, busy seconds, {column: seconds}) between two machine_cpu() samples.
    Busy = user + nice + system + irq + softirq (steal is the hypervisor's)."""
    d = {k: (b[k] - a[k]) / CLK_TCK for k in STAT_COLS}
    total = sum(d.values())
    busy = d["user"] + d["nice"] + d["system"] + d["irq"] + d["softirq"]
    return (busy / total if total > 0 else None), busy, d


def fetch_metrics(port, timeout=3.0):
    """Prometheus text from the daemon, as {name: value} (unlabelled series)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
            text = r.read().decode()
    except OSError as e:
        return {"error": str(e)}
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


# ---------------------------------------------------------------------------
# Worker process: N subscribers on one asyncio loop.


class Sub:
    __slots__ = ("idx", "ws", "epoch", "start_offset", "received", "distinct", "dups",
                 "reordered", "off_gaps", "off_back", "epoch_changes", "max_seq", "missing",
                 "other", "bad", "negative", "close_code", "closed_early")

    def __init__(self, idx):
        self.idx = idx
        self.ws = None
        self.epoch = None
        self.start_offset = None
        self.received = 0
        self.distinct = 0
        self.dups = 0
        self.reordered = 0
        self.off_gaps = 0
        self.off_back = 0
        self.epoch_changes = 0
        self.max_seq = -1
        self.missing = set()
        self.other = 0
        self.bad = 0
        self.negative = 0
        self.close_code = None
        self.closed_early = False


async def worker_main(conn, wid, port, count, src, opts):
    loop = asyncio.get_running_loop()
    inbox = asyncio.Queue()

    def on_pipe():
        try:
            while conn.poll():
                inbox.put_nowait(conn.recv())
        except (EOFError, OSError):
            inbox.put_nowait(("abort", None))
            loop.remove_reader(conn.fileno())

    loop.add_reader(conn.fileno(), on_pipe)

    uri = f"ws://127.0.0.1:{port}/ws"
    subs = [Sub(i) for i in range(count)]
    hist = {}
    nslots = int((opts["duration"] + opts["drain_timeout"] + opts["settle"] + 10) * SLOTS_PER_S)
    timeline = [0] * nslots  # deliveries per 1/SLOTS_PER_S s since t0
    state = {"t0": None, "stopping": False}
    counter = [0]  # distinct (sub, seq) deliveries in this worker
    failures = {}
    sem = asyncio.Semaphore(opts["connect_concurrency"])
    kw = dict(compression=None, ping_interval=None, close_timeout=2, max_size=1 << 20,
              open_timeout=opts["connect_timeout"])
    if src:
        kw["local_addr"] = (src, 0)

    async def open_one(sub):
        async with sem:
            try:
                ws = await websockets.connect(uri, **kw)
            except Exception as e:  # noqa: BLE001 - every failure is counted
                k = f"connect: {type(e).__name__}: {e}"[:160]
                failures[k] = failures.get(k, 0) + 1
                return False
            try:
                await ws.send('{"id":1,"subscribe":{"channel":"%s"}}' % CHANNEL)
                reply = json.loads(await asyncio.wait_for(ws.recv(), opts["connect_timeout"]))
                res = reply["result"]
                sub.epoch, sub.start_offset = res["epoch"], res["offset"]
            except Exception as e:  # noqa: BLE001
                k = f"subscribe: {type(e).__name__}: {e}"[:160]
                failures[k] = failures.get(k, 0) + 1
                ws.transport.abort()
                return False
            sub.ws = ws
            return True

    async def reader(sub):
        ws = sub.ws
        loads, now_f = json.loads, time.time
        received = distinct = dups = reordered = off_gaps = off_back = 0
        other = bad = negative = epoch_changes = 0
        max_seq = -1
        missing = sub.missing
        last_off = sub.start_offset
        epoch = sub.epoch
        h = hist
        tl = timeline
        last_slot = nslots - 1
        try:
            async for raw in ws:
                now = now_f()
                try:
                    p = loads(raw)["push"]
                except (KeyError, ValueError, TypeError):
                    other += 1
                    continue
                try:
                    off = p["offset"]
                    d = p["data"]
                    seq = d["seq"]
                    t = d["t"]
                except (KeyError, TypeError):
                    bad += 1
                    continue
                received += 1
                if p["epoch"] != epoch:
                    epoch_changes += 1
                    epoch = p["epoch"]
                elif off != last_off + 1:
                    if off > last_off + 1:
                        off_gaps += 1
                    else:
                        off_back += 1
                last_off = off
                if seq == max_seq + 1:
                    max_seq = seq
                    distinct += 1
                    counter[0] += 1
                elif seq > max_seq:
                    missing.update(range(max_seq + 1, seq))
                    max_seq = seq
                    distinct += 1
                    counter[0] += 1
                elif seq in missing:
                    missing.discard(seq)
                    reordered += 1
                    distinct += 1
                    counter[0] += 1
                else:
                    dups += 1
                us = int((now - t) * 1e6)
                if us < 0:
                    negative += 1
                    us = 0
                # Histogram key (see hist_value): us below 1024, else shift << 10 | top 10 bits.
                k = us if us < 1024 else ((us.bit_length() - 10) << 10) | (us >> (us.bit_length() - 10))
                h[k] = h.get(k, 0) + 1
                t0 = state["t0"]
                if t0 is not None:
                    slot = int((now - t0) * SLOTS_PER_S)
                    tl[slot if 0 <= slot < last_slot else last_slot] += 1
        except websockets.ConnectionClosed:
            pass
        finally:
            sub.received, sub.distinct, sub.dups, sub.reordered = received, distinct, dups, reordered
            sub.off_gaps, sub.off_back, sub.other, sub.bad = off_gaps, off_back, other, bad
            sub.negative, sub.epoch_changes, sub.max_seq = negative, epoch_changes, max_seq
        if not state["stopping"]:
            sub.closed_early = True
            sub.close_code = ws.close_code

    t_conn0 = time.monotonic()
    ok = await asyncio.gather(*(open_one(s) for s in subs))
    live = [s for s, good in zip(subs, ok) if good]
    connect_s = time.monotonic() - t_conn0
    tasks = [asyncio.ensure_future(reader(s)) for s in live]
    conn.send(("ready", {"wid": wid, "subscribed": len(live), "failed": count - len(live),
                         "failures": failures, "connect_s": connect_s}))

    cpu_start = cpu_end = None
    wall_start = wall_end = None
    pubs = 0
    while True:
        try:
            msg, arg = await asyncio.wait_for(inbox.get(), opts["phase_timeout"])
        except asyncio.TimeoutError:
            msg, arg = "abort", None
        if msg == "start":
            state["t0"] = arg
            cpu_start, wall_start = time.process_time(), time.time()
        elif msg == "stop":
            pubs = arg["pubs"]
            deadline = time.monotonic() + opts["drain_timeout"]
            want = len(live) * pubs
            last, last_change = counter[0], time.monotonic()
            # Bounded: ends at `deadline`, or after `settle` s without progress.
            while counter[0] < want and time.monotonic() < deadline:
                if all(t.done() for t in tasks):
                    break
                await asyncio.sleep(0.05)
                if counter[0] != last:
                    last, last_change = counter[0], time.monotonic()
                elif time.monotonic() - last_change > opts["settle"]:
                    break
            cpu_end, wall_end = time.process_time(), time.time()
            state["stopping"] = True
            break
        elif msg == "abort":
            state["stopping"] = True
            break

    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    agg = dict(received=0, distinct=0, dups=0, reordered=0, off_gaps=0, off_back=0,
               epoch_changes=0, other=0, bad=0, negative=0, lost=0, closed_early=0)
    close_codes = {}
    incomplete_subs = 0
    for s in live:
        lost = len(s.missing) + max(0, pubs - 1 - s.max_seq)
        for k in ("received", "distinct", "dups", "reordered", "off_gaps", "off_back",
                  "epoch_changes", "other", "bad", "negative"):
            agg[k] += getattr(s, k)
        agg["lost"] += lost
        incomplete_subs += lost > 0
        if s.closed_early:
            agg["closed_early"] += 1
            key = str(s.close_code)
            close_codes[key] = close_codes.get(key, 0) + 1
    agg["incomplete_subs"] = incomplete_subs
    conn.send(("result", {
        "wid": wid, "stats": agg, "close_codes": close_codes, "hist": hist,
        "timeline": timeline,
        "cpu_window_s": (cpu_end - cpu_start) if cpu_start is not None and cpu_end else None,
        "wall_window_s": (wall_end - wall_start) if wall_start is not None and wall_end else None,
        "cpu_total_s": time.process_time(),
    }))

    # Close every connection, bounded; then leave.
    async def close_one(s):
        try:
            await asyncio.wait_for(s.ws.close(), 3)
        except Exception:  # noqa: BLE001 - closing is best effort
            s.ws.transport.abort()

    try:
        await asyncio.wait_for(inbox.get(), opts["phase_timeout"])
    except asyncio.TimeoutError:
        pass
    await asyncio.gather(*(close_one(s) for s in live), return_exceptions=True)
    loop.remove_reader(conn.fileno())


def worker_entry(conn, wid, port, count, src, opts):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides
    try:
        asyncio.run(worker_main(conn, wid, port, count, src, opts))
    except BaseException as e:  # noqa: BLE001 - report, then exit non-zero
        try:
            conn.send(("error", f"worker {wid}: {type(e).__name__}: {e}"))
        except OSError:
            pass
        raise
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# Publisher (in the parent process).


async def publish(port, rate, duration, size, t0_wall, ack_timeout, progress):
    pad = "x" * size
    n_total = max(1, int(round(rate * duration)))
    interval = 1.0 / rate
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None,
                                  ping_interval=None, close_timeout=2, open_timeout=10)
    acks = {}
    errors = {}
    done = asyncio.Event()
    sent = [0]

    async def replies():
        try:
            async for raw in ws:
                m = json.loads(raw)
                i = m.get("id")
                if "result" in m and isinstance(i, int):
                    acks[i - 1] = m["result"].get("offset")
                else:
                    code = (m.get("error") or {}).get("code", "?")
                    errors[code] = errors.get(code, 0) + 1
                if len(acks) + sum(errors.values()) >= sent[0] and done.is_set():
                    break
        except websockets.ConnectionClosed:
            pass

    reader = asyncio.ensure_future(replies())
    mono0 = time.monotonic() + (t0_wall - time.time())
    hard_end = mono0 + duration + max(5.0, duration)  # time bound on the loop
    lags = []
    next_progress = mono0 + 1.0
    for n in range(n_total):
        target = mono0 + n * interval
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.monotonic()
        if now > hard_end:
            break
        lags.append(now - target)
        msg = json.dumps({"id": n + 1, "publish": {"channel": CHANNEL, "data": {
            "t": time.time(), "seq": n, "pad": pad}}}, separators=(",", ":"))
        await ws.send(msg)
        sent[0] = n + 1
        if progress and now >= next_progress:
            print(f"  t={now - mono0:5.1f}s published {n + 1}/{n_total}", file=sys.stderr)
            next_progress += 1.0
    t_last_send = time.time()
    done.set()
    deadline = time.monotonic() + ack_timeout
    while len(acks) + sum(errors.values()) < sent[0] and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    offsets = [acks[i] for i in sorted(acks)]
    consecutive = all(b == a + 1 for a, b in zip(offsets, offsets[1:]))
    lags.sort()
    return {
        "planned": n_total, "sent": sent[0], "acked": len(acks), "errors": errors,
        "offsets_consecutive": consecutive,
        "first_offset": offsets[0] if offsets else None,
        "last_offset": offsets[-1] if offsets else None,
        "send_lag_ms_p50": lags[len(lags) // 2] * 1e3 if lags else None,
        "send_lag_ms_max": lags[-1] * 1e3 if lags else None,
        "t_last_send": t_last_send,
    }, ws


# ---------------------------------------------------------------------------
# Daemon


class Daemon:
    def __init__(self, binary, shards, workdir, extra_config):
        self.workdir = workdir
        self.bin = os.path.join(workdir, "omnihubd")
        shutil.copy2(binary, self.bin)
        with open(self.bin, "rb") as f:
            self.sha256 = hashlib.sha256(f.read()).hexdigest()
        self.conf = os.path.join(workdir, "omnihub.conf")
        self.port_file = os.path.join(workdir, "port")
        self.log_path = os.path.join(workdir, "omnihubd.log")
        self.shards = shards
        with open(self.conf, "w") as f:
            f.write(extra_config)
        self.proc = None
        self.port = None

    def start(self, timeout=10.0):
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [self.bin, "-c", self.conf, "--listen", "127.0.0.1:0", "--port-file", self.port_file,
             "--shards", str(self.shards)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"omnihubd exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with open(self.port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError("omnihubd did not write its port file in time")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM by PID, then SIGKILL by PID if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def log_tail(self, n=20):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def log_levels(self):
        counts = {}
        try:
            with open(self.log_path) as f:
                for line in f:
                    lvl = line.split(" ", 1)[0]
                    counts[lvl] = counts.get(lvl, 0) + 1
        except OSError:
            pass
        return counts


# ---------------------------------------------------------------------------
# Parent


def git_state():
    """HEAD and whether the work tree has changes, of the checkout holding this script."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip() != ""
        return {"head": head, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return None


def recv_all(conns, kind, timeout, procs):
    """Collects one `kind` message from every worker pipe, bounded by `timeout`."""
    out = {}
    deadline = time.monotonic() + timeout
    pending = dict(enumerate(conns))
    while pending and time.monotonic() < deadline:
        for wid, c in list(pending.items()):
            try:
                if c.poll(0.02):
                    msg, arg = c.recv()
                    if msg == "error":
                        raise RuntimeError(arg)
                    if msg == kind:
                        out[wid] = arg
                        del pending[wid]
            except EOFError:
                raise RuntimeError(f"worker {wid} exited (code {procs[wid].exitcode})") from None
    if pending:
        raise RuntimeError(f"timed out waiting for '{kind}' from workers {sorted(pending)}")
    return [out[i] for i in range(len(conns))]


def run(args):
    n, w = args.subscribers, max(1, min(args.workers, args.subscribers))
    if args.rate <= 0 or args.duration <= 0:
        raise SystemExit("--rate and --duration must be positive")
    if n + 16 > 19000:
        print("warning: more subscribers than one omnihubd process may hold here "
              "(hard limit 20,000 open files per process)", file=sys.stderr)
    workdir = tempfile.mkdtemp(prefix="fanout-py-")
    config = ("[server]\n"
              f"max_connections = {max(19000, n + 100)}\n"
              "drain_timeout = 0\n"
              "[limits]\n"
              "publish_rate = 0\n"
              "[log]\n"
              "level = notice\n")
    daemon = Daemon(args.daemon, args.shards, workdir, config)
    procs, conns = [], []
    report = {
        "tool": "bench/fanout_py.py",
        "argv": sys.argv[1:],
        "params": {"subscribers": n, "workers": w, "rate": args.rate, "duration": args.duration,
                   "size": args.size, "shards": args.shards, "bind_sources": not args.no_bind},
        "env": {"nproc": os.cpu_count(), "kernel": platform.release(),
                "python": platform.python_version(), "websockets": websockets.__version__,
                "daemon_path": os.path.abspath(args.daemon), "git": git_state()},
        "daemon_config": config,
    }
    t_start_run = time.time()
    # Background load: the cores may be shared with other work on this box.
    mc0 = machine_cpu()
    time.sleep(1.0)
    report["machine_before"] = {"busy_fraction_1s": machine_busy(mc0, machine_cpu())[0],
                                "loadavg": open("/proc/loadavg").read().split()[:3]}
    try:
        daemon.start()
        report["env"]["daemon_sha256"] = daemon.sha256
        port = daemon.port
        time.sleep(0.2)
        rss_before = proc_rss_kib(daemon.pid)
        print(f"omnihubd pid {daemon.pid} on 127.0.0.1:{port}, RSS {rss_before} KiB; "
              f"opening {n} subscribers in {w} workers", file=sys.stderr)

        opts = {"duration": args.duration, "drain_timeout": args.drain_timeout,
                "settle": args.settle, "connect_timeout": args.connect_timeout,
                "connect_concurrency": args.connect_concurrency,
                "phase_timeout": args.connect_timeout * 2 + args.duration
                + args.drain_timeout + 60}
        ctx = multiprocessing.get_context("spawn")
        per = [n // w + (1 if i < n % w else 0) for i in range(w)]
        for i in range(w):
            parent_end, child_end = ctx.Pipe()
            src = None if args.no_bind else f"127.0.0.{2 + i % 250}"
            p = ctx.Process(target=worker_entry, args=(child_end, i, port, per[i], src, opts),
                            name=f"fanout-worker-{i}")
            p.start()
            child_end.close()
            procs.append(p)
            conns.append(parent_end)

        t_c0 = time.monotonic()
        ready = recv_all(conns, "ready", args.connect_timeout * 2 + 30, procs)
        connect_s = time.monotonic() - t_c0
        subscribed = sum(r["subscribed"] for r in ready)
        failures = {}
        for r in ready:
            for k, c in r["failures"].items():
                failures[k] = failures.get(k, 0) + c
        time.sleep(0.5)  # let the daemon settle before measuring
        rss_connected = proc_rss_kib(daemon.pid)
        metrics_connected = fetch_metrics(port)
        print(f"{subscribed}/{n} subscribed in {connect_s:.1f}s; daemon RSS {rss_connected} KiB",
              file=sys.stderr)
        if subscribed == 0:
            raise RuntimeError(f"no subscriber could subscribe: {failures}")

        # Publishing window
        t0 = time.time() + 0.5
        for c in conns:
            c.send(("start", t0))
        d_cpu0 = proc_cpu_s(daemon.pid)
        mc_pub0 = machine_cpu()
        p_cpu0 = time.process_time()
        pub, pub_ws = asyncio.run(publish_and_keep(port, args, t0))
        t_pub_end = time.time()
        d_cpu_pub = proc_cpu_s(daemon.pid)
        for c in conns:
            c.send(("stop", {"pubs": pub["sent"]}))
        results = recv_all(conns, "result", args.drain_timeout + 60, procs)
        t_drained = time.time()
        d_cpu1 = proc_cpu_s(daemon.pid)
        mc_pub1 = machine_cpu()
        p_cpu1 = time.process_time()
        rss_end = proc_rss_kib(daemon.pid)
        metrics_end = fetch_metrics(port)
        for c in conns:
            c.send(("close", None))
        for p in procs:
            p.join(15)
        time.sleep(0.5)
        rss_after_close = proc_rss_kib(daemon.pid) if daemon.alive() else None
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()  # by PID (SIGTERM to that child)
                p.join(5)
        rc = daemon.stop()
        report["daemon_exit_code"] = rc
        report["daemon_log_levels"] = daemon.log_levels()
        if rc not in (0, None) or args.keep:
            print(f"daemon log kept in {daemon.log_path}:\n{daemon.log_tail()}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    # ---- aggregate
    stats = {}
    hist = {}
    timeline = None
    close_codes = {}
    for r in results:
        for k, v in r["stats"].items():
            stats[k] = stats.get(k, 0) + v
        hist_merge(hist, r["hist"])
        timeline = r["timeline"] if timeline is None else [a + b for a, b in zip(timeline, r["timeline"])]
        for k, v in r["close_codes"].items():
            close_codes[k] = close_codes.get(k, 0) + v
    expected = subscribed * pub["sent"]
    pcts = hist_percentiles(hist, [0.5, 0.9, 0.99, 0.999])
    max_us = max((hist_value(k) for k in hist), default=None)

    window_s = args.duration  # the schedule spans D seconds (n/R apart)
    last_busy = max((i for i, c in enumerate(timeline) if c), default=0) if timeline else 0
    # Delivery span: from the first publication to the end of the last
    # 0.1 s slot that still saw deliveries.
    span_s = (last_busy + 1) / SLOTS_PER_S
    in_window = sum(timeline[:int(math.ceil(window_s * SLOTS_PER_S))]) if timeline else 0
    per_second = [sum(timeline[i:i + SLOTS_PER_S])
                  for i in range(0, last_busy + 1, SLOTS_PER_S)] if timeline else []
    target_rate = subscribed * args.rate
    achieved_window = in_window / window_s
    achieved_span = stats["received"] / max(span_s, window_s)
    d_cpu = d_cpu1 - d_cpu0
    wall_drain = t_drained - t0
    workers_cpu = [r["cpu_window_s"] or 0.0 for r in results]
    workers_wall = [r["wall_window_s"] or wall_drain for r in results]
    worker_util = [c / wl if wl else None for c, wl in zip(workers_cpu, workers_wall)]
    pub_cpu = p_cpu1 - p_cpu0
    busy_frac, machine_busy_s, machine_cols = machine_busy(mc_pub0, mc_pub1)
    ncpu = os.cpu_count() or 1
    client_cpu = sum(workers_cpu) + pub_cpu

    reached = (stats["received"] >= 0.999 * expected and in_window >= 0.95 * target_rate * window_s
               and stats["lost"] == 0)
    saturated_workers = [i for i, u in enumerate(worker_util) if u is not None and u >= 0.85]
    # Saturated: almost no idle time left (steal counts as taken: the
    # hypervisor gave those cycles to someone else).
    total_s = sum(machine_cols.values())
    unavailable = ((machine_busy_s + machine_cols["steal"]) / total_s) if total_s > 0 else None
    machine_saturated = unavailable is not None and unavailable >= 0.90

    report["connect"] = {"subscribed": subscribed, "failed": n - subscribed,
                         "failures": failures, "seconds": connect_s}
    report["publisher"] = pub
    report["deliveries"] = {
        "expected": expected, "received": stats["received"], "distinct": stats["distinct"],
        "lost": stats["lost"], "duplicated": stats["dups"], "reordered": stats["reordered"],
        "offset_gaps": stats["off_gaps"], "offset_regressions": stats["off_back"],
        "epoch_changes": stats["epoch_changes"], "malformed": stats["bad"],
        "non_push_messages": stats["other"], "subscribers_incomplete": stats["incomplete_subs"],
        "subscribers_closed_early": stats["closed_early"], "close_codes": close_codes,
        "negative_latency_clamped": stats["negative"],
    }
    report["rate"] = {
        "target_deliveries_per_s": target_rate,
        "achieved_deliveries_per_s_in_window": achieved_window,
        "achieved_deliveries_per_s_overall": achieved_span,
        "delivered_within_window": in_window,
        "window_s": window_s, "delivery_span_s": span_s,
        "per_second": per_second,
        "target_reached": reached,
    }
    report["latency_ms"] = {
        "p50": pcts[0.5] / 1e3 if pcts[0.5] is not None else None,
        "p90": pcts[0.9] / 1e3 if pcts[0.9] is not None else None,
        "p99": pcts[0.99] / 1e3 if pcts[0.99] is not None else None,
        "p999": pcts[0.999] / 1e3 if pcts[0.999] is not None else None,
        "max": max_us / 1e3 if max_us is not None else None,
        "samples": sum(hist.values()),
        "note": "receive time (time.time() in the client after websockets hands over the "
                "message) minus data.t; includes client-side queueing",
    }
    report["daemon"] = {
        "pid": daemon.pid,
        "rss_kib_before": rss_before, "rss_kib_connected": rss_connected,
        "rss_kib_end": rss_end, "rss_kib_after_clients_closed": rss_after_close,
        "rss_bytes_per_connection": (rss_connected - rss_before) * 1024 / subscribed,
        "cpu_s_publishing": d_cpu_pub - d_cpu0,
        "cpu_s_until_drained": d_cpu,
        "cpu_us_per_delivery": d_cpu * 1e6 / stats["received"] if stats["received"] else None,
        "cpu_clock_tick_s": 1.0 / CLK_TCK,
        "metrics_connected": metrics_connected, "metrics_end": metrics_end,
    }
    report["clients"] = {
        "wall_s_until_drained": wall_drain,
        "worker_cpu_s": workers_cpu, "worker_cpu_fraction_of_core": worker_util,
        "publisher_process_cpu_s": pub_cpu,
        "total_cpu_s": client_cpu,
        "total_cpu_cores": client_cpu / wall_drain if wall_drain > 0 else None,
        "worker_cpu_total_s": [r["cpu_total_s"] for r in results],
        "saturated_workers": saturated_workers,
    }
    # CPU the whole box spent outside softirq, minus ours: other work sharing
    # the cores. Softirq (loopback TCP) is reported apart: it is mostly ours
    # but the kernel charges it to no process.
    other_s = machine_busy_s - machine_cols["softirq"] - machine_cols["irq"] - d_cpu - client_cpu
    report["machine"] = {"ncpu": ncpu, "busy_fraction": busy_frac,
                         "busy_cpu_s": machine_busy_s, "cpu_s_by_state": machine_cols,
                         "busy_or_stolen_fraction": unavailable,
                         "other_processes_cpu_s": other_s,
                         "other_processes_cores": other_s / wall_drain if wall_drain > 0 else None,
                         "saturated": machine_saturated}
    report["run_wall_s"] = time.time() - t_start_run
    return report


async def publish_and_keep(port, args, t0):
    res, ws = await publish(port, args.rate, args.duration, args.size, t0, 10.0,
                            not args.quiet)
    try:
        await asyncio.wait_for(ws.close(), 3)
    except Exception:  # noqa: BLE001
        ws.transport.abort()
    return res, None


def metric_sum(metrics, name, use_max=False):
    vals = [v for k, v in metrics.items() if k == name or k.startswith(name + "{")]
    if not vals:
        return None
    return max(vals) if use_max else sum(vals)


def fmt(v, spec=".1f"):
    return "n/a" if v is None else format(v, spec)


def summary(r):
    p, d, rt, lat, dm, cl, m = (r["params"], r["deliveries"], r["rate"], r["latency_ms"],
                                r["daemon"], r["clients"], r["machine"])
    pub = r["publisher"]
    lines = []
    a = lines.append
    a("$ bench/fanout_py.py " + " ".join(r["argv"]))
    a(f"omnihub fan-out (Python clients): {p['subscribers']} subscribers x {p['rate']} pub/s x "
      f"{p['duration']} s, {p['size']} B pad, {p['shards']} shards, {p['workers']} workers, "
      f"{m['ncpu']} CPUs shared by daemon and clients")
    a(f"  subscribed           {r['connect']['subscribed']}/{p['subscribers']} "
      f"in {r['connect']['seconds']:.1f} s" +
      (f"  failures: {r['connect']['failures']}" if r['connect']['failures'] else ""))
    a(f"  publications         sent {pub['sent']}/{pub['planned']}, acked {pub['acked']}, "
      f"errors {pub['errors'] or 0}, offsets consecutive: {pub['offsets_consecutive']}, "
      f"send lag p50 {fmt(pub['send_lag_ms_p50'], '.2f')} ms max {fmt(pub['send_lag_ms_max'], '.1f')} ms")
    a(f"  deliveries           expected {d['expected']}, received {d['received']}, "
      f"lost {d['lost']}, duplicated {d['duplicated']}, reordered {d['reordered']}, "
      f"offset gaps {d['offset_gaps']}, offset regressions {d['offset_regressions']}")
    if d["subscribers_closed_early"]:
        a(f"  closed by the server {d['subscribers_closed_early']} subscribers, codes {d['close_codes']}")
    a(f"  rate                 target {rt['target_deliveries_per_s']:,.0f} deliveries/s; achieved "
      f"{rt['achieved_deliveries_per_s_in_window']:,.0f}/s inside the {rt['window_s']:g} s "
      f"publishing window ({rt['delivered_within_window']:,} deliveries), "
      f"{rt['achieved_deliveries_per_s_overall']:,.0f}/s overall (last delivery "
      f"{rt['delivery_span_s']:.1f} s after the first publication)")
    a(f"  per second           {rt['per_second']}")
    a(f"  latency ms           p50 {fmt(lat['p50'], '.2f')}  p90 {fmt(lat['p90'], '.2f')}  "
      f"p99 {fmt(lat['p99'], '.2f')}  p99.9 {fmt(lat['p999'], '.2f')}  max {fmt(lat['max'], '.2f')}"
      f"  ({lat['samples']} samples)")
    a(f"  daemon RSS KiB       before {dm['rss_kib_before']}, connected {dm['rss_kib_connected']} "
      f"({dm['rss_bytes_per_connection']:,.0f} B per connection), end {dm['rss_kib_end']}, "
      f"after clients closed {dm['rss_kib_after_clients_closed']}")
    qmax = metric_sum(dm["metrics_end"], "omnihub_queue_bytes_max", use_max=True)
    scc = metric_sum(dm["metrics_end"], "omnihub_slow_consumer_closes_total")
    a(f"  daemon queues        largest per-connection queue {fmt(qmax, ',.0f')} B, "
      f"slow-consumer closes {fmt(scc, '.0f')} (from /metrics)")
    a(f"  daemon CPU           {dm['cpu_s_until_drained']:.2f} s from first publish to drained "
      f"({dm['cpu_s_publishing']:.2f} s inside the window) = "
      f"{fmt(dm['cpu_us_per_delivery'], '.2f')} us per delivery "
      f"(tick {dm['cpu_clock_tick_s'] * 1e3:.0f} ms)")
    util = ", ".join(fmt(u * 100 if u is not None else None, ".0f") + "%"
                     for u in cl["worker_cpu_fraction_of_core"])
    a(f"  client CPU           {cl['total_cpu_s']:.2f} s over {cl['wall_s_until_drained']:.1f} s "
      f"= {fmt(cl['total_cpu_cores'], '.2f')} cores; per worker (of one core): {util}; "
      f"publisher process {cl['publisher_process_cpu_s']:.2f} s")
    a(f"  machine              {fmt(m['busy_fraction'] * 100 if m['busy_fraction'] is not None else None, '.0f')}% "
      f"of {m['ncpu']} CPUs busy from first publish to drained; softirq "
      f"{m['cpu_s_by_state']['softirq']:.2f} s, steal {m['cpu_s_by_state']['steal']:.2f} s, "
      f"other processes (not daemon, not clients) ~"
      f"{fmt(max(0.0, m['other_processes_cores']) if m['other_processes_cores'] is not None else None, '.2f')}"
      " cores")
    st = m["cpu_s_by_state"]["steal"]
    if st > 0.05 * sum(m["cpu_s_by_state"].values()):
        a(f"  WARNING              the hypervisor stole {st:.2f} CPU-s during the run: "
          "numbers are perturbed")
    oc = m["other_processes_cores"]
    if oc is not None and oc > 0.10:
        a(f"  WARNING              other processes used ~{oc:.2f} cores during the run: "
          "numbers are perturbed (the box is shared)")
    mb = r["machine_before"]["busy_fraction_1s"]
    if mb is not None and mb > 0.10:
        a(f"  WARNING              {mb * 100:.0f}% of the CPUs were already busy with other work "
          "in the second before the run: numbers are perturbed")
    verdict = "REACHED" if rt["target_reached"] else "NOT REACHED"
    a(f"  verdict              target rate {verdict}")
    if cl["saturated_workers"] or m["saturated"]:
        why = []
        if cl["saturated_workers"]:
            why.append(f"workers {cl['saturated_workers']} used >= 85% of a core")
        if m["saturated"]:
            why.append(f"the machine was {m['busy_or_stolen_fraction'] * 100:.0f}% busy or stolen")
        a("  WARNING              the Python clients are CPU-bound (" + "; ".join(why) +
          "): rate and latency are limited by the clients and by sharing cores "
          "with them, not only by the daemon. Do not read these as daemon limits.")
    if d["lost"] or d["duplicated"] or d["reordered"] or d["offset_gaps"] or d["offset_regressions"]:
        a("  WARNING              correctness problems seen (see deliveries)")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--daemon", default="build/broker/omnihubd", help="omnihubd binary (copied first)")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--subscribers", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--rate", type=float, default=20.0, help="publications per second")
    ap.add_argument("--duration", type=float, default=10.0, help="publishing seconds")
    ap.add_argument("--size", type=int, default=100, help="bytes of 'pad' in each publication")
    ap.add_argument("--json", help="write the JSON report here")
    ap.add_argument("--no-bind", action="store_true",
                    help="do not bind workers to 127.0.0.2, .3, ... (all use 127.0.0.1)")
    ap.add_argument("--drain-timeout", type=float, default=20.0,
                    help="max seconds to wait for deliveries after the last publication")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="stop waiting after this many seconds without a new delivery")
    ap.add_argument("--connect-timeout", type=float, default=60.0)
    ap.add_argument("--connect-concurrency", type=int, default=64,
                    help="handshakes in flight per worker")
    ap.add_argument("--keep", action="store_true", help="keep the daemon's work directory")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args()
    if args.duration > 600 or args.rate * args.duration > 10_000_000:
        raise SystemExit("refusing: --duration is capped at 600 s and publications at 10M")
    report = run(args)
    text = summary(report)
    print(text)
    if args.json:
        report["summary"] = text
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    return 0 if report["rate"]["target_reached"] else 1


if __name__ == "__main__":
    sys.exit(main())
