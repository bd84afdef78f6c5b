"""omnihub-loadgen and the omnihub CLI against a real node (issue 3).

The smoke run checks that every publication reached every subscriber once
and in order: it fails when the broker loses, duplicates or reorders.
OMNIHUB_LOADGEN selects the loadgen binary; the omnihub CLI is taken from the
same directory (or OMNIHUB_CLI)."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from ohclient import REPO, t

LOADGEN = os.environ.get("OMNIHUB_LOADGEN", str(REPO / "build" / "loadgen" / "omnihub-loadgen"))
CLI = os.environ.get("OMNIHUB_CLI", str(Path(LOADGEN).parent / "omnihub"))

CONFIG = {"log": {"level": "info"}, "limits": {"publish_rate": 0}}


def need(path):
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} not built (build loadgen/ or set OMNIHUB_LOADGEN)")


def run_loadgen(daemon, tmp_path, *args, timeout=60):
    need(LOADGEN)
    report = tmp_path / "report.json"
    argv = [LOADGEN, "--url", daemon.url, "--json", str(report), *args]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=t(timeout))
    assert report.exists(), f"no report; rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc, json.loads(report.read_text())


def assert_clean(proc, rep):
    why = f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, why
    assert rep["expected"] > 0, why
    assert rep["delivered"] == rep["expected"], why
    for k in ("lost", "gaps", "duplicates", "reordered", "misrouted", "recoveries_inexact"):
        assert rep[k] == 0, f"{k}={rep[k]}\n{why}"


def test_loadgen_smoke_every_publication_delivered_in_order(daemons, tmp_path):
    d = daemons(config=CONFIG)
    proc, rep = run_loadgen(d, tmp_path, "--subscribers", "50", "--channels", "5",
                            "--publishers", "2", "--rate", "200", "--duration", "3",
                            "--warmup", "0.5", "--drain", str(t(5)))
    assert_clean(proc, rep)
    assert rep["published"] == 600
    assert rep["expected"] == 50 * 600 // 5
    assert rep["ready"] == 50
    assert rep["latency_ms"]["count"] == rep["delivered"]
    assert 0 < rep["latency_ms"]["p50"] <= rep["latency_ms"]["p99"] <= rep["latency_ms"]["max"]
    assert rep["machine"]["cores"] >= 1 and rep["parameters"]["subscribers"] == 50
    assert sum(s["delivered"] for s in rep["series"]) > 0
    assert rep["cpu"]["user_s"] + rep["cpu"]["sys_s"] > 0


def test_loadgen_churn_recovers_exactly(daemons, tmp_path):
    d = daemons(config=CONFIG)
    proc, rep = run_loadgen(d, tmp_path, "--subscribers", "40", "--channels", "4",
                            "--rate", "200", "--duration", "2", "--warmup", "0.3",
                            "--churn", "20", "--drain", str(t(5)))
    assert_clean(proc, rep)
    assert rep["recoveries"] >= 10, rep["recoveries"]
    assert rep["unexpected_closes"] == 0


def test_loadgen_merge_sums_shards(daemons, tmp_path):
    d = daemons(config=CONFIG)
    start = int(time.time()) + 2
    procs, reports = [], []
    need(LOADGEN)
    for i in range(2):
        out = tmp_path / f"shard{i}.json"
        reports.append(out)
        procs.append(subprocess.Popen(
            [LOADGEN, "--url", d.url, "--subscribers", "20", "--channels", "2", "--rate", "50",
             "--duration", "1", "--warmup", "0", "--shard", f"{i}/2", "--start-at", str(start),
             "--json", str(out)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=t(30))
        assert p.returncode == 0, err[-2000:]
    merged = tmp_path / "merged.json"
    proc = subprocess.run([LOADGEN, "merge", *map(str, reports), "-o", str(merged)],
                          capture_output=True, text=True, timeout=t(10))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rep = json.loads(merged.read_text())
    assert rep["processes"] == 2
    assert rep["published"] == 50 and rep["subscribers"] == 20
    assert rep["delivered"] == rep["expected"] == 20 * 50 // 2


def test_help_of_both_tools(tmp_path):
    need(LOADGEN)
    need(CLI)
    for exe in (LOADGEN, CLI):
        proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=t(10))
        assert proc.returncode == 0, proc.stderr
        assert "usage:" in proc.stdout
    bad = subprocess.run([LOADGEN, "--subscribers", "x"], capture_output=True, text=True,
                         timeout=t(10))
    assert bad.returncode == 2 and "subscribers" in bad.stderr


def test_cli_pub_sub_round_trip(daemon):
    need(CLI)
    url = daemon.url
    sub = subprocess.Popen([CLI, "--url", url, "sub", "cli:rt", "--count", "2", "--timeout",
                            str(t(20))], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        line = sub.stderr.readline()  # "subscribed: {...}" once the reply came back
        assert line.startswith("subscribed:"), line
        first = subprocess.run([CLI, "--url", url, "pub", "cli:rt", '{"text":"hi","n":[1,2]}'],
                               capture_output=True, text=True, timeout=t(10))
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["offset"] == 1
        second = subprocess.run([CLI, "--url", url, "pub", "cli:rt", '"two"'],
                                capture_output=True, text=True, timeout=t(10))
        assert second.returncode == 0, second.stderr
        out, err = sub.communicate(timeout=t(10))
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(timeout=10)
    assert sub.returncode == 0, err
    assert out.splitlines() == ['{"text":"hi","n":[1,2]}', '"two"']
    hist = subprocess.run([CLI, "--url", url, "history", "cli:rt", "--limit", "1"],
                          capture_output=True, text=True, timeout=t(10))
    assert hist.returncode == 0, hist.stderr
    res = json.loads(hist.stdout)
    assert [p["data"] for p in res["publications"]] == [{"text": "hi", "n": [1, 2]}]
    assert res["more"] is True
    bad = subprocess.run([CLI, "--url", url, "pub", "cli:rt", "{nope"], capture_output=True,
                         text=True, timeout=t(10))
    assert bad.returncode == 1 and "bad_request" in bad.stderr
