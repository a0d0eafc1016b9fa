"""One configuration for both channel instances: /metrics shared through state_dir.

The stock Xymon set-up runs two rrdd with one configuration file, so both are told the
same metrics_listen. Real rrdd processes here: both run, the one with the port shows the
figures of both, the other takes the port over when the first goes, and a port another
program holds costs one log line and nothing else.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rrdd.events import Event
from rrdd.metrics import FLUSH_BUCKETS, Figures
from rrdd.sharing import StateDir, alive, start_ticks
from tests.helpers import T0, wait_until
from tests.test_cli import RRDD, clean_env, cpu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def scrape(port: int) -> dict[str, float] | None:
    """The samples of /metrics by name and labels; None while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


STATUS = "rrdd_messages_total[('kind', 'status')]"


def shows(port: int, status: int, processes: int) -> bool:
    found = scrape(port)
    return (
        found is not None
        and found.get(STATUS) == status
        and found.get("rrdd_processes[]") == processes
    )


class Rrdd:
    """One rrdd process as a channel runs it: its stdin, its log in a file."""

    def __init__(self, tmp_path: Path, name: str, config: Path, *args: str):
        self.log = tmp_path / f"{name}.log"
        rrddir = tmp_path / "rrd"
        rrddir.mkdir(exist_ok=True)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [RRDD, f"--rrddir={rrddir}", f"--config={config}", *args],
                stdin=subprocess.PIPE,
                stderr=log,
                env=clean_env(XYMONTMP=str(tmp_path / "tmp")),
            )
        self.seq = 0

    def send(self, host: str, messages: int) -> None:
        assert self.proc.stdin is not None
        for i in range(messages):
            self.seq += 1
            self.proc.stdin.write(cpu(self.seq, host, T0 + 300 * i, "0.50"))
        self.proc.stdin.flush()

    def finish(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=30)

    def text(self) -> str:
        return self.log.read_text()


@contextmanager
def rrdds(tmp_path: Path, config: Path, *names: str) -> Iterator[list[Rrdd]]:
    (tmp_path / "tmp").mkdir(exist_ok=True)
    started: list[Rrdd] = []
    try:
        for name in names:
            started.append(Rrdd(tmp_path, name, config))
        yield started
    finally:
        for r in started:
            if r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()
            with suppress(OSError):  # BrokenPipeError: it was killed with data unread
                assert r.proc.stdin is not None
                r.proc.stdin.close()


def test_two_rrdd_with_one_config_file_show_their_sum(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "rrdd.toml"
    config.write_text(f'metrics_listen = "127.0.0.1:{port}"\n')
    with rrdds(tmp_path, config, "status", "data") as (status, data):
        status.send("web1", 3)
        data.send("db1", 5)
        wait_until(lambda: shows(port, status=8, processes=2))
        state = tmp_path / "tmp/rrdd"  # state_dir's default: $XYMONTMP/rrdd
        assert sorted(p.name for p in state.iterdir()) == sorted(
            f"{r.proc.pid}.json" for r in (status, data)
        )
        assert status.finish() == 0
        assert data.finish() == 0
    assert list(state.iterdir()) == []  # a clean exit removes its snapshot
    logs = status.text() + data.text()
    assert logs.count("Serving /metrics on") == 1
    assert logs.count("is served by another rrdd process") == 1


def test_the_other_rrdd_takes_the_port_over(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "rrdd.toml"
    config.write_text(f'metrics_listen = "127.0.0.1:{port}"\nmetrics_retry = 0.2\n')
    with rrdds(tmp_path, config, "first") as (first,):
        wait_until(lambda: shows(port, status=0, processes=1))
        with rrdds(tmp_path, config, "second") as (second,):
            first.send("web1", 3)
            second.send("db1", 5)
            wait_until(lambda: shows(port, status=8, processes=2))
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait()
            # Within the retry interval (and the second the thread waits between looks)
            wait_until(lambda: shows(port, status=5, processes=1), seconds=5)
            assert not (tmp_path / f"tmp/rrdd/{first.proc.pid}.json").exists()
            assert f"Serving /metrics on 127.0.0.1:{port} (taken over)" in second.text()
            assert second.finish() == 0


def test_a_port_another_program_holds_costs_one_log_line(tmp_path: Path) -> None:
    config = tmp_path / "rrdd.toml"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config.write_text(
            f'metrics_listen = "127.0.0.1:{port}"\nmetrics_retry = 0.1\ndebug = true\n'
        )
        with rrdds(tmp_path, config, "status") as (status,):
            status.send("web1", 2)
            wait_until(lambda: status.text().count("Still cannot serve /metrics") >= 2)
            busy.close()
            wait_until(lambda: shows(port, status=2, processes=1), seconds=5)
            assert status.finish() == 0
    log = status.text()
    assert log.count("the port is already in use; going on without it") == 1
    assert (tmp_path / "rrd/web1/la.rrd").exists()


# --- the snapshots ----------------------------------------------------------------------


def some_figures(status: int) -> Figures:
    buckets = (0,) * (len(FLUSH_BUCKETS) + 1)
    return Figures({(Event.MESSAGES, "status"): status}, {"rrdd_processes": 1.0}, buckets, 0.0)


@pytest.fixture
def gone() -> int:
    """The pid of a process that has ended."""
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], stdout=-1)
    return int(p.stdout)


def test_snapshots_of_live_processes_with_one_address(tmp_path: Path, gone: int) -> None:
    me = StateDir(tmp_path, "127.0.0.1:9")
    me.prepare()
    me.write(some_figures(1), serving=True)
    parent = StateDir(tmp_path, "127.0.0.1:9", pid=os.getppid())
    parent.write(some_figures(2), serving=False)
    StateDir(tmp_path, "127.0.0.1:10", pid=1).write(some_figures(4), serving=False)
    StateDir(tmp_path, "127.0.0.1:9", pid=gone).write(some_figures(8), serving=False)
    (tmp_path / "12.json").write_text("{not json")  # pid 12 may or may not run
    (tmp_path / "notes.txt").write_text("not a snapshot")
    found = me.others()
    assert [(s.pid, s.figures.counters) for s in found] == [
        (os.getppid(), {(Event.MESSAGES, "status"): 2})
    ]
    assert not (tmp_path / f"{gone}.json").exists()  # removed: its process has gone
    assert (tmp_path / "1.json").exists()  # live, another address: left alone
    assert (tmp_path / "notes.txt").exists()
    assert json.loads(me.file.read_text())["serving"] is True
    me.remove()
    assert not me.file.exists()


def test_a_pid_used_again_is_not_the_snapshots_process(tmp_path: Path) -> None:
    started = start_ticks(os.getpid())
    assert started is not None  # Linux has /proc
    assert alive(os.getpid(), started)
    assert not alive(os.getpid(), started + 1)
    assert alive(os.getpid(), None)
    me = StateDir(tmp_path, "a:1", pid=1)
    path = tmp_path / f"{os.getpid()}.json"
    path.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "address": "a:1",
                "started": started - 1,  # an older process of this pid
                "serving": False,
                "figures": some_figures(1).to_json(),
            }
        )
    )
    assert me.others() == []
    assert not path.exists()
