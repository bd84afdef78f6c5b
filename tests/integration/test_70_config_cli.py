"""Command line, config validation and shutdown (DESIGN.md section 9)."""

import asyncio
import re
import signal
import subprocess
import time

import pytest

from ohclient import OMNIHUBD, Client, Daemon, scrape, t, wait_closed


def run_cli(*args, timeout=None):
    return subprocess.run([OMNIHUBD, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=t(10) if timeout is None else timeout)


FULL_CONFIG = """\
# every key, with values other than the defaults where that is harmless
[server]
listen = 127.0.0.1:7400
shards = 2
node_id = test-node-1
max_connections = 100
handshake_timeout = 10s
idle_timeout = 60s
ping_interval = 25s
drain_timeout = 500ms
api_key =
sndbuf = 65536

[limits]
max_message_size = 1MiB
max_channel_length = 200
max_json_depth = 32
max_subscriptions = 1000
max_queue_size = 1MiB
publish_rate = 0
publish_burst = 20000
max_pending_requests = 64

[channels]
ring_size = 1000
idle_expiry = 5m

[log]
level = debug
"""


def test_help(tmp_path):
    r = run_cli("--help")
    assert r.returncode == 0, r.stderr
    assert "--listen" in r.stdout and "--check-config" in r.stdout, r.stdout
    assert re.search(r"(?i)usage", r.stdout), r.stdout


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\d+\.\d+\.\d+", r.stdout), r.stdout


@pytest.mark.parametrize("args", [["--no-such-flag"], ["--shards"], ["-c"]],
                         ids=["unknown", "shards-no-value", "c-no-value"])
def test_usage_errors_exit_2(args):
    r = run_cli(*args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.strip(), "no message on stderr"


def test_check_config_valid(tmp_path):
    conf = tmp_path / "full.conf"
    conf.write_text(FULL_CONFIG)
    r = run_cli("-c", str(conf), "--check-config")
    assert r.returncode == 0, r.stderr
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    assert run_cli("-c", str(empty), "--check-config").returncode == 0


BAD_LINES = [
    ("[limits]", "max_message_size = 12XB"),
    ("[limits]", "max_queue_size = lots"),
    ("[server]", "idle_timeout = 10 parsecs"),
    ("[server]", "no_such_key = 1"),
    ("[no_such_section]", "x = 1"),
    ("[log]", "level = chatty"),
    ("[server]", "shards = -1"),
]


@pytest.mark.parametrize("section,line", BAD_LINES,
                         ids=["size", "size-word", "duration", "key", "section", "level",
                              "negative"])
def test_check_config_invalid_reports_file_line(tmp_path, section, line):
    conf = tmp_path / "bad.conf"
    text = "# comment\n[server]\nshards = 2\n\n" + section + "\n" + line + "\n"
    conf.write_text(text)
    lineno = text.splitlines().index(line) + 1
    r = run_cli("-c", str(conf), "--check-config")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"{conf}:{lineno}" in r.stderr, r.stderr


def test_start_with_invalid_config_fails(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[limits]\nmax_message_size = 12XB\n")
    r = run_cli("-c", str(conf), "--listen", "127.0.0.1:0",
                "--port-file", str(tmp_path / "port"))
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"{conf}:2" in r.stderr
    assert not (tmp_path / "port").exists()


def test_flags_override_config(daemons):
    d = daemons({"server": {"shards": "1", "listen": "127.0.0.1:1"}}, shards=2)
    per = scrape(d.port).by_shard("omnihub_connections")
    assert set(per) == {"0", "1"}, per


def test_full_config_starts(daemons):
    d = daemons(FULL_CONFIG, shards=None)
    assert set(scrape(d.port).by_shard("omnihub_connections")) == {"0", "1"}

    async def run():
        c = await Client.open(d.port)
        await c.ping()
        await c.close()
    asyncio.run(run())


def test_sigterm_drains_with_4003_and_exits_0(daemons):
    d = daemons()

    async def run():
        clients = [await Client.open(d.port) for _ in range(5)]
        for c in clients:
            await c.subscribe("drain:1")
        start = time.monotonic()
        d.signal(signal.SIGTERM)
        closes = await asyncio.gather(*(wait_closed(c.ws, t(10)) for c in clients))
        return closes, time.monotonic() - start

    closes, elapsed = asyncio.run(run())
    for code, reason in closes:
        assert code == 4003, (code, reason)
        m = re.fullmatch(r"retry_after_ms=(\d+)", reason)
        assert m, reason
    assert elapsed < t(8)
    rc = d.wait(t(10))
    assert rc == 0, f"exit code {rc}:\n{d.log_tail()}"


def test_sigterm_with_no_clients_exits_0(tmp_path):
    d = Daemon(tmp_path, shards=2).start()
    try:
        start = time.monotonic()
        d.signal(signal.SIGTERM)
        rc = d.wait(t(10))
        assert rc == 0, d.log_tail()
        assert time.monotonic() - start < t(6)
    finally:
        d.kill()


def test_second_daemon_on_same_explicit_port_is_refused(daemons):
    """SO_REUSEPORT would let a second daemon share the port silently; it must fail."""
    d = daemons()
    r = run_cli("--listen", f"127.0.0.1:{d.port}", timeout=t(10))
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "already in use" in r.stderr, r.stderr
    # The first daemon still serves every client.
    assert scrape(d.port).total("omnihub_connections") == 0
