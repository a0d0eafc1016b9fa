"""The rrdcached backend against a real rrdcached started on a temporary socket."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import rrdtool

from rrdd.schema import Schema, Update
from rrdd.writer.rrdcached import Rrdcached
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.xymoncfg import RraDefinitions
from tests.helpers import rrd_contents, wait_until
from tests.test_cli import ONE_OR_TWO, T0, cpu, run, start, status

RRDCACHED = shutil.which("rrdcached") or "/usr/bin/rrdcached"
pytestmark = pytest.mark.skipif(not os.path.exists(RRDCACHED), reason="no rrdcached binary")


class Daemon:
    """An rrdcached with a journal, writing only when told to (-w one hour)."""

    def __init__(self, top: Path, rrddir: Path):
        self.top, self.rrddir = top, rrddir
        self.sock = top / "rrdcached.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        (top / "journal").mkdir(exist_ok=True)

    @property
    def address(self) -> str:
        return f"unix:{self.sock}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                RRDCACHED,
                "-g",
                "-l",
                self.address,
                "-j",
                str(self.top / "journal"),
                "-p",
                str(self.top / "rrdcached.pid"),
                "-b",
                str(self.rrddir),
                "-F",
                "-w",
                "3600",
                "-z",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.command("PING")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("rrdcached did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # -F: it writes everything it has first
            self.proc.wait(timeout=30)
            self.proc = None

    def command(self, text: str) -> list[str]:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(self.sock))
            reader = s.makefile("r")
            s.sendall(text.encode() + b"\n")
            first = reader.readline().strip()
            count = int(first.split()[0])
            return [first] + [reader.readline().strip() for _ in range(max(0, count))]

    def stats(self) -> dict[str, int]:
        lines = self.command("STATS")[1:]
        return {k: int(v) for k, _, v in (line.partition(": ") for line in lines)}


@pytest.fixture
def rrdcached(tmp_path: Path) -> Iterator[Daemon]:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    daemon = Daemon(tmp_path, rrddir)
    daemon.start()
    yield daemon
    daemon.stop()


def stream(cycles: int, hosts: int = 3, start: int = 0) -> bytes:
    disk = "status {h}.disk green\n/dev/sda1 1000 {u} 500 {p}% /\n/dev/sdb1 1000 9 9 9% /var"
    parts = []
    for c in range(start, start + cycles):
        for h in range(hosts):
            ts = T0 + 300 * c + h
            host = f"h{h}.example.com"  # with --workers=2: h0 on one worker, h1 and h2 on the other
            parts.append(cpu(1 + len(parts), host, ts, f"{c}.{h}5"))
            text = disk.format(h=host, u=100 + c, p=c % 100)
            parts.append(status(1 + len(parts), host, "disk", ts, text))
    return b"".join(parts)


def direct_result(tmp_path: Path, data: bytes) -> dict[str, object]:
    rrddir = tmp_path / "direct"
    rrddir.mkdir()
    assert run(rrddir, data).returncode == 0
    return rrd_contents(rrddir)


@ONE_OR_TWO
def test_same_files_as_direct_mode(rrdcached: Daemon, tmp_path: Path, shards: list[str]) -> None:
    data = stream(cycles=20)
    p = run(rrdcached.rrddir, data, f"--rrdcached={rrdcached.address}", *shards)
    assert p.returncode == 0, p.stderr
    assert rrdcached.stats()["UpdatesReceived"] == 20 * 3 * 5
    rrdcached.stop()  # -F writes everything
    assert rrd_contents(rrdcached.rrddir) == direct_result(tmp_path, data)


@ONE_OR_TWO
def test_no_rrdcached_at_that_address_stops_start_up(tmp_path: Path, shards: list[str]) -> None:
    (tmp_path / "rrd").mkdir()
    p = run(tmp_path / "rrd", b"", f"--rrdcached=unix:{tmp_path / 'nothere.sock'}", *shards)
    assert p.returncode == 1
    assert p.stderr.count("cannot connect to rrdcached") == 1  # said once


def test_values_survive_an_rrdcached_restart(rrdcached: Daemon, tmp_path: Path) -> None:
    proc = start(rrdcached.rrddir, f"--rrdcached={rrdcached.address}")
    assert proc.stdin is not None and proc.stderr is not None
    first, second, third = stream(5), stream(5, start=5), stream(5, start=10)
    proc.stdin.write(first)
    proc.stdin.flush()
    wait_until(lambda: rrdcached.stats()["UpdatesReceived"] == 75)
    rrdcached.stop()
    proc.stdin.write(second)  # rrdd keeps these while the daemon is away
    proc.stdin.flush()
    time.sleep(0.5)
    rrdcached.start()
    proc.stdin.write(third)
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0
    log = proc.stderr.read().decode()
    proc.stderr.close()
    assert "trying again" in log and "reached again" in log
    assert "rrdcached_reconnects 1" in log  # the Totals line, as /metrics counts it
    rrdcached.stop()
    assert rrd_contents(rrdcached.rrddir) == direct_result(tmp_path, first + second + third)


@ONE_OR_TWO
def test_nothing_is_lost_when_rrdd_is_killed(
    rrdcached: Daemon, tmp_path: Path, shards: list[str]
) -> None:
    proc = start(
        rrdcached.rrddir, f"--rrdcached={rrdcached.address}", *shards, stderr=subprocess.DEVNULL
    )
    assert proc.stdin is not None
    data = stream(8)
    proc.stdin.write(data)
    proc.stdin.flush()
    wait_until(lambda: rrdcached.stats()["UpdatesReceived"] == 8 * 3 * 5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdin.close()
    rrdcached.stop()
    assert rrd_contents(rrdcached.rrddir) == direct_result(tmp_path, data)


def test_values_the_daemon_refuses_are_counted_and_the_rest_kept(
    rrdcached: Daemon, tmp_path: Path
) -> None:
    # The daemon has a newer value for h0.example.com/la.rrd than the file shows rrdd.
    assert run(rrdcached.rrddir, stream(1), f"--rrdcached={rrdcached.address}").returncode == 0
    rrdcached.command(f"UPDATE {rrdcached.rrddir}/h0.example.com/la.rrd {T0 + 5000}:1")
    p = run(rrdcached.rrddir, stream(2, start=1), f"--rrdcached={rrdcached.address}", "--debug")
    assert p.returncode == 0
    assert "illegal attempt to update" in p.stderr
    assert "updates_dropped_old 2" in p.stderr
    assert rrdcached.stats()["UpdatesReceived"] == 15 + 1 + 30


def test_a_batch_whose_answer_never_came_is_sent_again(rrdcached: Daemon) -> None:
    now = [0.0]
    stats: Counter[str] = Counter()
    store = Rrdcached(rrdcached.address, str(rrdcached.rrddir), clock=lambda: now[0], stats=stats)
    writer = RrdWriter(rrdcached.rrddir, RraDefinitions.load(None), stats, store=store)
    gauge = Schema.of("DS:la:GAUGE:600:U:U")
    for i in range(3):
        writer.write("h1", "cpu", T0 + 300 * i, Update("la.rrd", gauge, (str(i),)))
    assert rrdcached.proc is not None
    rrdcached.proc.send_signal(signal.SIGSTOP)
    stat = Path(f"/proc/{rrdcached.proc.pid}/stat")
    wait_until(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T")  # stopped now
    writer.sync()  # the batch goes out; the stopped daemon never reads it
    rrdcached.proc.kill()
    rrdcached.proc.wait()
    rrdcached.proc = None
    rrdcached.start()
    writer.sync()  # no answer: the values are taken back; the daemon is retried in 1 s
    assert writer.pending() == 3 and stats["values_written"] == 0
    now[0] += 2
    writer.sync()
    writer.close()
    assert stats["rrdcached_reconnects"] == 1 and stats["values_written"] == 3
    rrdcached.stop()
    info = rrdtool.lastupdate(str(rrdcached.rrddir / "h1/la.rrd"))
    assert (int(info["date"].timestamp()), info["ds"]) == (T0 + 600, {"la": 2.0})
