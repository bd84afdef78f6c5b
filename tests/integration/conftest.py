"""Fixtures: each test (or module) gets its own omnihubd on a free port of
127.0.0.1 with its own config. At teardown every daemon still running is
sent SIGTERM and must exit 0 (under ASan/TSan a report makes that fail)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ohclient  # noqa: E402


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class DaemonFactory:
    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.daemons = []

    def __call__(self, config=None, shards=2, args=(), start=True):
        name = f"omnihubd{len(self.daemons)}"
        d = ohclient.Daemon(self.workdir, config=config, shards=shards, args=args, name=name)
        self.daemons.append(d)
        if start:
            d.start()
        return d

    def finish(self, failed):
        problems = []
        for d in self.daemons:
            if d.proc is None:
                continue
            was_running = d.alive()
            rc = d.stop()
            if failed:
                sys.stderr.write(f"\n--- {d.log_path} (tail) ---\n{d.log_tail()}\n")
            if was_running and rc != 0:
                problems.append(f"{d.argv[0]} (pid {d.proc.pid}) exited with {rc} on "
                                f"SIGTERM at teardown:\n{d.log_tail(30)}")
        return problems


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@pytest.fixture
def daemons(request, tmp_path):
    """Factory: daemons(config=None, shards=2, args=()) -> started Daemon."""
    f = DaemonFactory(tmp_path)
    yield f
    problems = f.finish(_failed(request))
    assert not problems, "\n".join(problems)


@pytest.fixture
def daemon(daemons):
    """A daemon with the default config and 2 shards."""
    return daemons()


@pytest.fixture(scope="module")
def module_daemons(request, tmp_path_factory):
    """Module-wide factory, for tests that can share one daemon."""
    f = DaemonFactory(tmp_path_factory.mktemp(request.module.__name__))
    yield f
    problems = f.finish(False)
    assert not problems, "\n".join(problems)
