#!/usr/bin/python3
"""Omnihub's standard benchmark scenarios (issue 3, DESIGN.md section 1).

Each scenario starts its own omnihubd on a free loopback port, runs one or
more omnihub-loadgen processes against it, samples the daemon's CPU and RSS
from /proc, and writes under bench/results/:

    SCENARIO.json   every figure: merged loadgen report(s), daemon CPU/RSS,
                    parameters, whether the parameters were reached
    SCENARIO.md     a Markdown table of the same
    SCENARIO.png    delivered/s and latency over time (loadgen --plot,
                    when gnuplot is installed)

Usage:
    /usr/bin/python3 bench/run.py [--build build] SCENARIO [SCENARIO ...]
    scenarios: fanout many-channels connections churn slow-consumers ceiling all
    /usr/bin/python3 bench/run.py summary     # rewrite results/SUMMARY.md

Loopback only; every run is bounded by its --duration plus fixed timeouts.
The daemon and the load generator share the machine's 2 cores: reports give
both sides' CPU.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------
# /proc


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release()}


# ---------------------------------------------------------------------------
# the daemon


class Daemon:
    def __init__(self, build, workdir, config, shards=2):
        self.workdir = workdir
        # A private copy: a rebuild during the run does not change what is measured.
        self.bin = os.path.join(workdir, "omnihubd")
        shutil.copy2(os.path.join(build, "broker", "omnihubd"), self.bin)
        conf = os.path.join(workdir, "omnihub.conf")
        with open(conf, "w") as f:
            for section, keys in config.items():
                f.write(f"[{section}]\n")
                for k, v in keys.items():
                    f.write(f"{k} = {v}\n")
        self.port_file = os.path.join(workdir, "port")
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)  # a previous run's port must not be read
        self.log = open(os.path.join(workdir, "omnihubd.log"), "w")
        self.proc = subprocess.Popen(
            [self.bin, "-c", conf, "--listen", "127.0.0.1:0", "--port-file", self.port_file,
             "--shards", str(shards)], stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("omnihubd did not start; see " + self.log.name)

    def cpu(self):
        return proc_cpu_s(self.proc.pid)

    def rss(self):
        return proc_rss(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode


DEFAULT_CONFIG = {
    "server": {"max_connections": 19500, "drain_timeout": "2s"},
    "limits": {"publish_rate": 0, "max_pending_requests": 100000},
    "log": {"level": "warn"},
}


# ---------------------------------------------------------------------------
# load generator


def loadgen(build, workdir, port, name, args, procs=1, timeout=None):
    """Runs `procs` loadgen processes (slices --shard i/n, common --start-at)
    and returns (merged report, loadgen CPU seconds, wall seconds)."""
    exe = os.path.join(build, "loadgen", "omnihub-loadgen")
    start_at = int(time.time()) + 3 if procs > 1 else None
    running = []
    for i in range(procs):
        out = os.path.join(workdir, f"{name}.{i}.json")
        argv = [exe, "--url", f"ws://127.0.0.1:{port}/ws", "--json", out] + [str(a) for a in args]
        if procs > 1:
            # Each process binds its own source addresses: ephemeral ports per address are ~28k.
            argv += ["--shard", f"{i}/{procs}", "--start-at", str(start_at),
                     "--source-addrs", f"127.0.{i + 1}.2-127.0.{i + 1}.9"]
        if i == 0 and shutil.which("gnuplot"):
            argv += ["--plot", os.path.join(workdir, f"{name}.png")]
        log = open(os.path.join(workdir, f"{name}.{i}.log"), "w")
        running.append((subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL), out, log))
    t0 = time.monotonic()
    cpu = 0.0
    for p, _, log in running:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        log.close()
    wall = time.monotonic() - t0
    outs = [o for _, o, _ in running if os.path.exists(o)]
    if not outs:
        raise RuntimeError(f"loadgen wrote no report; see {workdir}/{name}.0.log")
    if len(outs) > 1:
        merged = os.path.join(workdir, f"{name}.json")
        subprocess.run([exe, "merge", *outs, "-o", merged], check=True,
                       stdout=subprocess.DEVNULL, timeout=60)
    else:
        merged = outs[0]
    with open(merged) as f:
        report = json.load(f)
    for o in outs:
        with open(o) as f:
            c = json.load(f).get("cpu", {})
            cpu += float(c.get("user_s", 0)) + float(c.get("sys_s", 0))
    codes = [p.returncode for p, _, _ in running]
    report["_exit_codes"] = codes
    return report, cpu, wall


# ---------------------------------------------------------------------------
# one measured run


SHARDS = 2  # --shards


def measure(build, workdir, name, args, procs=1, config=None, shards=None, duration=60,
            extra_wait=60):
    d = Daemon(build, workdir, config or DEFAULT_CONFIG, shards or SHARDS)
    try:
        rss0, cpu0 = d.rss(), d.cpu()
        report, lg_cpu, wall = loadgen(build, workdir, d.port, name, args, procs,
                                       timeout=duration + extra_wait)
        cpu1, rss1 = d.cpu(), d.rss()
    finally:
        rc = d.stop()
    delivered = report.get("delivered", 0) or 0
    daemon_cpu = cpu1 - cpu0
    row = {
        "name": name,
        "published": report.get("published"),
        "expected": report.get("expected"),
        "delivered": delivered,
        "lost": report.get("lost"),
        "gaps": report.get("gaps"),
        "duplicates": report.get("duplicates"),
        "reordered": report.get("reordered"),
        "deliveries_per_s": report.get("delivered_per_s") or (delivered / duration
                                                               if duration else None),
        "latency_ms": report.get("latency_ms", {}),
        "connected": report.get("ready"),
        "connect_rate": round(report["ready"] / report["connect_s"])
        if report.get("ready") and report.get("connect_s") else None,
        "slow_closed_4001": report.get("slow_closed_4001"),
        "recoveries": report.get("recoveries"),
        "recoveries_inexact": report.get("recoveries_inexact"),
        "daemon_cpu_s": round(daemon_cpu, 2),
        "daemon_cpu_us_per_delivery": round(daemon_cpu * 1e6 / delivered, 2) if delivered else None,
        "loadgen_cpu_s": round(lg_cpu, 2),
        "daemon_rss_before": rss0,
        "daemon_rss_after": rss1,
        "daemon_exit": rc,
        "loadgen_exit": report.get("_exit_codes"),
        "wall_s": round(wall, 1),
        "report": report,
    }
    conns = row["connected"] or 0
    if conns:
        row["daemon_rss_per_conn"] = round((rss1 - rss0) / conns)
    return row


def write(name, rows, params, verdicts, workdir):
    os.makedirs(RESULTS, exist_ok=True)
    doc = {"scenario": name, "machine": machine(), "params": params, "runs": rows,
           "verdicts": verdicts, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    with open(os.path.join(RESULTS, f"{name}.json"), "w") as f:
        json.dump(doc, f, indent=1)
    png = os.path.join(workdir, f"{rows[0]['name']}.png")
    if os.path.exists(png):
        shutil.copy2(png, os.path.join(RESULTS, f"{name}.png"))
    lines = [f"# {name}", "", f"{doc['date']}; {doc['machine']['cpu']}, "
             f"{doc['machine']['cores']} cores, kernel {doc['machine']['kernel']}", "",
             "| run | delivered/s | expected | delivered | lost/gaps/dup/reord | p50 ms | p99 ms "
             "| p99.9 ms | max ms | daemon CPU µs/delivery | daemon RSS/conn B | loadgen CPU s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lat = r["latency_ms"] or {}
        lines.append("| {} | {} | {} | {} | {}/{}/{}/{} | {} | {} | {} | {} | {} | {} | {} |".format(
            r["name"], fmt(r["deliveries_per_s"]), r["expected"], r["delivered"], r["lost"],
            r["gaps"], r["duplicates"], r["reordered"], fmt(lat.get("p50")), fmt(lat.get("p99")),
            fmt(lat.get("p999")), fmt(lat.get("max")), fmt(r["daemon_cpu_us_per_delivery"]),
            r.get("daemon_rss_per_conn", "-"), fmt(r["loadgen_cpu_s"])))
    lines += ["", "## Verdicts", ""] + [f"- {v}" for v in verdicts] + [""]
    with open(os.path.join(RESULTS, f"{name}.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}" if v >= 10 else f"{v:.2f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def clean(r):
    return all((r.get(k) or 0) == 0 for k in ("lost", "gaps", "duplicates", "reordered"))


def reached(r, target_rate):
    rate = r["deliveries_per_s"] or 0
    return clean(r) and rate >= 0.95 * target_rate


# ---------------------------------------------------------------------------
# scenarios


def fanout(b, w, dur):
    rows, verdicts = [], []
    for subs, rate in ((10000, 5), (1000, 50)):
        name = f"fanout-{subs}x{rate}"
        r = measure(b, w, name, ["--subscribers", subs, "--channels", 1, "--publishers", 1,
                                 "--rate", rate, "--size", 100, "--duration", dur,
                                 "--connect-rate", 5000], duration=dur)
        rows.append(r)
        target = subs * rate
        p99 = (r["latency_ms"] or {}).get("p99")
        verdicts.append(f"{name}: target {target:,} deliveries/s "
                        f"{'reached' if reached(r, target) else 'NOT reached'} "
                        f"({fmt(r['deliveries_per_s'])}/s), p99 {fmt(p99)} ms "
                        f"(DESIGN: <= {10 if subs == 1000 else 50} ms; seed: p95 < 200 ms)")
    return rows, verdicts, {"duration_s": dur, "size": 100}


def many_channels(b, w, dur):
    name = "many-channels"
    r = measure(b, w, name, ["--subscribers", 10000, "--channels", 10000, "--extra-channel",
                             "bench:shared", "--extra-rate", 1, "--publishers", 4,
                             "--rate", 10000, "--size", 100, "--duration", dur,
                             "--connect-rate", 5000], duration=dur)
    target = 10000 + 10000  # own channels + 1/s shared x 10,000 subscribers
    v = [f"{name}: target ~{target:,} deliveries/s {'reached' if reached(r, target) else 'NOT reached'}"
         f" ({fmt(r['deliveries_per_s'])}/s)"]
    return [r], v, {"duration_s": dur}


def connections(b, w, dur):
    name = "connections"
    procs = 2
    per = 9700
    r = measure(b, w, name, ["--subscribers", per * procs, "--channels", 100, "--rate", 0,
                             "--duration", dur, "--connect-rate", 4000], procs=procs,
                config={**DEFAULT_CONFIG, "server": {"max_connections": 19800,
                                                     "drain_timeout": "2s"}},
                duration=dur, extra_wait=120)
    v = [f"{name}: {r['connected']} connections held at "
         f"{fmt(r['connect_rate'])} connections/s (target >= 19,000 per process; the "
         f"per-process file limit here is 20,000), daemon RSS "
         f"{r.get('daemon_rss_per_conn', '-')} B per connection (target <= 4,096)"]
    return [r], v, {"duration_s": dur, "processes": procs}


def churn(b, w, dur):
    name = "churn"
    r = measure(b, w, name, ["--subscribers", 10000, "--channels", 100, "--publishers", 2,
                             "--rate", 200, "--size", 100, "--duration", dur, "--churn", 2000,
                             "--connect-rate", 5000], duration=dur)
    reconnects = (r["recoveries"] or 0) / dur
    v = [f"{name}: target 20,000 deliveries/s with 2,000 reconnects/s: "
         f"{fmt(r['deliveries_per_s'])} deliveries/s, {r['recoveries']} recoveries "
         f"({reconnects:,.0f}/s: {'reached' if reconnects >= 1900 else 'NOT reached'}), "
         f"{r['recoveries_inexact']} not exact"]
    return [r], v, {"duration_s": dur}


def slow_consumers(b, w, dur):
    rows = []
    base = ["--subscribers", 5000, "--channels", 1, "--publishers", 1, "--rate", 10, "--size",
            100, "--duration", dur, "--connect-rate", 5000]
    rows.append(measure(b, w, "slow-none", base, duration=dur))
    rows.append(measure(b, w, "slow-5pct", base + ["--slow-subscribers", "5%"], duration=dur))
    p_fast = (rows[0]["latency_ms"] or {}).get("p99") or 0
    p_slow = (rows[1]["latency_ms"] or {}).get("p99") or 0
    growth = rows[1]["daemon_rss_after"] - rows[1]["daemon_rss_before"]
    v = [f"slow subscribers closed with 4001: {rows[1]['slow_closed_4001']} of 250",
         f"fast subscribers' p99 {fmt(p_slow)} ms with 5% slow vs {fmt(p_fast)} ms without "
         f"({'within' if p_fast and p_slow <= 2 * p_fast else 'NOT within'} 2x)",
         f"daemon RSS growth with slow consumers: {growth / 1e6:.1f} MB (limit 50 MB: "
         f"{'ok' if growth < 50e6 else 'EXCEEDED'})"]
    return rows, v, {"duration_s": dur}


def ceiling(b, w, dur_step):
    """Raises the rate by 25% per step until deliveries fall behind (or p99 passes
    1 s); reports the highest step with p99 <= 50 ms and the highest kept up with."""
    rows, verdicts = [], []
    for subs in (1000, 5000):
        deliveries = 10000.0
        best_latency = best_rate = None
        for step in range(30):  # bounded: 10k * 1.25^30 is far beyond any box
            rate = max(1, round(deliveries / subs))
            name = f"ceiling-{subs}-step{step}"
            r = measure(b, w, name, ["--subscribers", subs, "--channels", 1, "--publishers", 1,
                                     "--rate", rate, "--size", 100, "--duration", dur_step,
                                     "--connect-rate", 5000], duration=dur_step)
            r["offered_deliveries_per_s"] = rate * subs
            rows.append(r)
            p99 = (r["latency_ms"] or {}).get("p99") or 1e9
            if not reached(r, rate * subs) or p99 > 1000:
                break
            best_rate = r
            if p99 <= 50:
                best_latency = r
            deliveries *= 1.25
        verdicts.append(
            f"{subs} subscribers: highest step with p99 <= 50 ms: "
            f"{fmt(best_latency['offered_deliveries_per_s']) if best_latency else 'none'} deliveries/s; "
            f"highest step delivered in full: "
            f"{fmt(best_rate['offered_deliveries_per_s']) if best_rate else 'none'} deliveries/s "
            f"(p99 {fmt((best_rate or {}).get('latency_ms', {}).get('p99'))} ms); "
            f"DESIGN target: 100,000 deliveries/s at 5,000 subscribers with p99 <= 50 ms")
    return rows, verdicts, {"step_s": dur_step, "growth": 1.25}


SCENARIOS = {
    "fanout": (fanout, 60),
    "many-channels": (many_channels, 60),
    "connections": (connections, 20),
    "churn": (churn, 60),
    "slow-consumers": (slow_consumers, 60),
    "ceiling": (ceiling, 20),
}


def summary():
    """results/SUMMARY.md: one table over every scenario's latest runs."""
    lines = ["# Latest benchmark results", "",
             "| scenario | run | delivered/s | p50 ms | p99 ms | p99.9 ms | daemon µs/delivery "
             "| daemon RSS/conn B | loadgen CPU s | clean |", "|---|---|---|---|---|---|---|---|---|---|"]
    verdicts = []
    names = sorted(f[:-5] for f in os.listdir(RESULTS)
                   if f.endswith(".json") and not f.startswith("fanout-py"))
    for name in names:
        with open(os.path.join(RESULTS, f"{name}.json")) as f:
            doc = json.load(f)
        if "runs" not in doc:
            continue
        for r in doc["runs"]:
            lat = r.get("latency_ms") or {}
            lines.append(f"| {name} | {r['name']} | {fmt(r['deliveries_per_s'])} | "
                         f"{fmt(lat.get('p50'))} | {fmt(lat.get('p99'))} | {fmt(lat.get('p999'))} | "
                         f"{fmt(r['daemon_cpu_us_per_delivery'])} | {r.get('daemon_rss_per_conn', '-')} | "
                         f"{fmt(r['loadgen_cpu_s'])} | {'yes' if clean(r) else 'NO'} |")
        shards = doc["params"].get("shards", 2)
        verdicts += [f"- {name} ({doc['date']}, {shards} shards): {v}" for v in doc["verdicts"]]
    lines += ["", "## Verdicts", ""] + verdicts + [""]
    with open(os.path.join(RESULTS, "SUMMARY.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"),
                    help="meson build dir with broker/omnihubd and loadgen/omnihub-loadgen")
    ap.add_argument("--duration", type=int, default=None,
                    help="override each scenario's duration (seconds; ceiling: per step)")
    ap.add_argument("--shards", type=int, default=2, help="daemon shards (default 2)")
    ap.add_argument("--suffix", default="",
                    help="appended to the result file names, e.g. -1shard")
    ap.add_argument("scenarios", nargs="+", choices=list(SCENARIOS) + ["all", "summary"])
    a = ap.parse_args()
    if a.scenarios == ["summary"]:
        return summary()
    global SHARDS
    SHARDS = a.shards
    names = list(SCENARIOS) if "all" in a.scenarios else a.scenarios
    for name in names:
        fn, dur = SCENARIOS[name]
        w = tempfile.mkdtemp(prefix=f"oh-bench-{name}-")
        print(f"== {name} (work files in {w}, removed on success)", flush=True)
        rows, verdicts, params = fn(a.build, w, a.duration or dur)
        params["shards"] = SHARDS
        write(name + a.suffix, rows, params, verdicts, w)
        shutil.rmtree(w, ignore_errors=True)
    summary()


if __name__ == "__main__":
    sys.exit(main())
