"""The rrdcached backend against a real rrdcached started on a temporary socket."""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import rrdtool
from prometheus_client import CollectorRegistry

from rrdd.events import Counts, Event
from rrdd.metrics import Metrics
from rrdd.schema import Schema, Update
from rrdd.startup import writer_gauges
from rrdd.writer.rrdcached import Rrdcached, parse_address, shares_files
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.writer.store import StoreError, StoreUnavailable
from rrdd.xymoncfg import RraDefinitions
from tests.helpers import Log, rrd_contents, wait_until
from tests.test_cli import (
    ONE_OR_TWO,
    T0,
    control,
    cpu,
    free_port,
    lastupdate,
    run,
    send,
    start,
    status,
)

RRDCACHED = shutil.which("rrdcached") or "/usr/bin/rrdcached"


class Daemon:
    """An rrdcached with a journal, writing only when told to (-w one hour). On a Unix
    socket; or, given a `port`, on 127.0.0.1 as a daemon on another machine is used:
    with -R (it makes the host directories) and -B (only under its base directory)."""

    def __init__(self, top: Path, rrddir: Path, port: int | None = None):
        self.top, self.rrddir, self.port = top, rrddir, port
        self.sock = top / "rrdcached.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        (top / "journal").mkdir(exist_ok=True)

    @property
    def address(self) -> str:
        return f"unix:{self.sock}" if self.port is None else f"127.0.0.1:{self.port}"

    def start(self, permissions: str = "") -> None:
        """`permissions`: the commands the socket allows (rrdcached -P), else all."""
        if not os.path.exists(RRDCACHED):
            # extras/setup.sh installs it: a run without it must not look green.
            pytest.fail(f"{RRDCACHED} is missing: run extras/setup.sh (Debian package rrdcached)")
        self.proc = subprocess.Popen(
            [
                RRDCACHED,
                "-g",
                *(["-P", permissions] if permissions else []),
                "-l",
                self.address,
                *(["-R", "-B"] if self.port is not None else []),
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
        wait_until(self._answers, seconds=10)

    def _answers(self) -> bool:
        try:
            self.command("PING")
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # -F: it writes everything it has first
            wait_until(self._stopped, seconds=30)
            self.proc = None

    def _stopped(self) -> bool:
        # Its listener looks for the stop when a connection comes, else once a second.
        with contextlib.suppress(OSError), self._connect():
            pass
        assert self.proc is not None
        return self.proc.poll() is not None

    def _connect(self) -> socket.socket:
        if self.port is not None:
            return socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s = socket.socket(socket.AF_UNIX)
        try:
            s.settimeout(10)
            s.connect(str(self.sock))
        except OSError:
            s.close()
            raise
        return s

    def command(self, text: str) -> list[str]:
        with self._connect() as s:
            reader = s.makefile("r")
            s.sendall(text.encode() + b"\n")
            first = reader.readline().strip()
            count = int(first.split()[0])
            return [first] + [reader.readline().strip() for _ in range(max(0, count))]

    def stats(self) -> dict[str, int]:
        lines = self.command("STATS")[1:]
        return {k: int(v) for k, _, v in (line.partition(": ") for line in lines)}

    def pending(self, host: str) -> dict[str, int]:
        """How many values the daemon holds, not yet written, for each file of a host
        that stream() writes (a file it holds none for is left out)."""
        held = {}
        for name in ("la.rrd", "procs.rrd", "users.rrd", "disk,root.rrd", "disk,var.rrd"):
            count = int(self.command(f"PENDING {self.rrddir}/{host}/{name}")[0].split()[0])
            if count:
                held[name] = count
        return held


@pytest.fixture
def rrdcached(tmp_path: Path) -> Iterator[Daemon]:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    daemon = Daemon(tmp_path, rrddir)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Daemon]:
    """An rrdcached over TCP whose files rrdd does not see, in tmp_path/daemon-rrd."""
    daemon = Daemon(tmp_path, tmp_path / "daemon-rrd", port=free_port())
    daemon.rrddir.mkdir()
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


def test_values_survive_an_rrdcached_restart(rrdcached: Daemon, tmp_path: Path, log: Log) -> None:
    proc = start(rrdcached.rrddir, f"--rrdcached={rrdcached.address}", stderr=log.file)
    assert proc.stdin is not None
    first, second, third = stream(5), stream(5, start=5), stream(5, start=10)
    send(proc, first)
    wait_until(lambda: rrdcached.stats()["UpdatesReceived"] == 75)
    rrdcached.stop()
    send(proc, second)  # rrdd keeps these while the daemon is away
    log.wait_for("trying again")
    rrdcached.start()
    send(proc, third)
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0
    assert "reached again" in log.text()
    assert "rrdcached_reconnects 1" in log.text()  # the Totals line, as /metrics counts it
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


def test_names_with_backslashes_and_spaces_reach_the_daemon_whole(
    rrdcached: Daemon, tmp_path: Path
) -> None:
    # The daemon reads a backslash as an escape and a space as the end of a field, as
    # librrd's client writes them. rrdd sent names as they were: for the PowerShell
    # client's file sizes (C;\Windows\...) the daemon made filesizes.C;WindowsSystem32...,
    # and rrdd held the values for a file it never saw made.
    first = (Path(__file__).parent / "data/counts/powershell-filesizes.msg").read_bytes()
    later = first.replace(b"#412/", b"#413/").replace(b"|1795312874.", b"|1795313174.")
    data = first + later + cpu(414, "h 1", T0, "1.50") + cpu(415, "h 1", T0 + 300, "2.50")
    p = run(rrdcached.rrddir, data, f"--rrdcached={rrdcached.address}")
    assert p.returncode == 0 and "ERROR" not in p.stderr, p.stderr
    rrdcached.stop()
    assert rrd_contents(rrdcached.rrddir) == direct_result(tmp_path, data)
    assert len(os.listdir(rrdcached.rrddir / "win01.example.com")) == 3


def test_a_batch_whose_answer_never_came_is_sent_again(rrdcached: Daemon) -> None:
    now = [0.0]
    counts = Counts()
    store = Rrdcached(rrdcached.address, str(rrdcached.rrddir), clock=lambda: now[0], counts=counts)
    writer = RrdWriter(rrdcached.rrddir, RraDefinitions.load(None), counts, store=store)
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
    assert writer.pending() == 3 and counts[Event.VALUES_WRITTEN] == 0
    now[0] += 2
    writer.sync()  # at the next turn, not only at shutdown
    assert writer.pending() == 0 and counts[Event.VALUES_WRITTEN] == 3
    writer.close()
    assert counts[Event.RRDCACHED_RECONNECTS] == 1 and counts[Event.VALUES_WRITTEN] == 3
    rrdcached.stop()
    info = rrdtool.lastupdate(str(rrdcached.rrddir / "h1/la.rrd"))
    assert (int(info["date"].timestamp()), info["ds"]) == (T0 + 600, {"la": 2.0})


@ONE_OR_TWO
def test_drop_and_rename_tell_the_daemon(rrdcached: Daemon, shards: list[str]) -> None:
    """drophost and droptest make the daemon forget what it holds for the files (-w 3600:
    it writes only when told); renametest has it write them into the files first."""
    address = f"--rrdcached={rrdcached.address}"
    proc = start(rrdcached.rrddir, address, *shards, stderr=subprocess.DEVNULL)
    send(proc, stream(2))  # h0, h1 and h2 (on both workers): cpu and disk, twice
    wait_until(lambda: rrdcached.stats()["UpdatesReceived"] == 2 * 3 * 5)
    cpu_files = {"la.rrd": 2, "procs.rrd": 2, "users.rrd": 2}
    held = cpu_files | {"disk,root.rrd": 2, "disk,var.rrd": 2}
    assert [rrdcached.pending(f"h{h}.example.com") for h in range(3)] == [held] * 3
    send(
        proc,
        control(900, "drophost", "h0.example.com")
        + control(901, "droptest", "h1.example.com", "disk")
        + control(902, "renametest", "h2.example.com", "disk", "fs"),
    )
    h0, h1, h2 = (rrdcached.rrddir / f"h{h}.example.com" for h in range(3))
    wait_until(lambda: not h0.exists())
    wait_until(lambda: set(os.listdir(h1)) == set(cpu_files))
    wait_until(lambda: set(os.listdir(h2)) == {*cpu_files, "fs,root.rrd", "fs,var.rrd"})
    assert [rrdcached.pending(f"h{h}.example.com") for h in range(3)] == [{}, cpu_files, cpu_files]
    assert lastupdate(h2 / "fs,root.rrd") == (T0 + 302, {"pct": 1.0, "used": 101.0})
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0
    rrdcached.stop()  # -F: writes what it holds, and would fail on the files gone
    assert not h0.exists()
    assert lastupdate(h1 / "la.rrd") == (T0 + 301, {"la": 115.0})


def test_a_host_dropped_while_the_daemon_is_away_is_not_sent_later(
    rrdcached: Daemon, log: Log
) -> None:
    proc = start(rrdcached.rrddir, f"--rrdcached={rrdcached.address}", stderr=log.file)
    send(proc, stream(1, hosts=2))  # h0 and h1
    wait_until(lambda: rrdcached.stats()["UpdatesReceived"] == 2 * 5)
    rrdcached.stop()
    send(proc, stream(1, hosts=2, start=1))  # rrdd holds these while the daemon is away
    log.wait_for("trying again")
    send(proc, control(900, "drophost", "h0.example.com"))
    h0 = rrdcached.rrddir / "h0.example.com"
    wait_until(lambda: not h0.exists())
    rrdcached.start()
    assert proc.stdin is not None
    proc.stdin.close()  # rrdd sends what it holds, the daemon being back
    assert proc.wait(timeout=30) == 0
    assert "reached again" in log.text()
    # h1's five values, not h0's: the daemon counts even those it refuses (no such file).
    assert rrdcached.stats()["UpdatesReceived"] == 5
    rrdcached.stop()
    assert not h0.exists()
    assert lastupdate(rrdcached.rrddir / "h1.example.com/la.rrd") == (T0 + 301, {"la": 115.0})


def test_at_the_end_of_input_rrdd_waits_for_the_daemon_to_come_back(
    rrdcached: Daemon, log: Log
) -> None:
    proc = start(rrdcached.rrddir, f"--rrdcached={rrdcached.address}", stderr=log.file)
    send(proc, stream(2))
    wait_until(lambda: rrdcached.stats()["UpdatesReceived"] == 2 * 3 * 5)
    rrdcached.stop()
    send(proc, stream(2, start=2))
    assert proc.stdin is not None
    proc.stdin.close()
    log.wait_for("trying again")
    log.wait_for("Shutting down")  # at the end of input, with the daemon away
    rrdcached.start()  # within the ten seconds rrdd waits
    assert proc.wait(timeout=30) == 0
    assert "reached again" in log.text() and "lost" not in log.text()
    assert rrdcached.stats()["UpdatesReceived"] == 2 * 3 * 5
    rrdcached.stop()
    files = sorted(rrdcached.rrddir.glob("*/*.rrd"))
    assert len(files) == 3 * 5
    assert {(f.parent.name, lastupdate(f)[0]) for f in files} == {
        (f"h{h}.example.com", T0 + 900 + h) for h in range(3)
    }


def test_a_commit_is_true_once_the_daemon_has_answered_for_every_value(
    rrdcached: Daemon,
) -> None:
    now = [0.0]
    counts = Counts()
    store = Rrdcached(rrdcached.address, str(rrdcached.rrddir), clock=lambda: now[0], counts=counts)
    writer = RrdWriter(rrdcached.rrddir, RraDefinitions.load(None), counts, store=store)
    gauge = Schema.of("DS:la:GAUGE:600:U:U")
    for i in range(3):
        writer.write(f"h{i}", "cpu", T0, Update("la.rrd", gauge, (str(i),)))
    assert writer.commit() and writer.pending() == 0
    assert rrdcached.stats()["UpdatesReceived"] == 3  # answered, not only sent
    rrdcached.stop()
    writer.write("h0", "cpu", T0 + 300, Update("la.rrd", gauge, ("7",)))
    assert not writer.commit() and writer.pending() == 1  # held: the daemon is away
    rrdcached.start()
    now[0] += 2  # the store's wait before it tries the daemon again
    assert writer.commit() and writer.pending() == 0
    writer.close()
    rrdcached.stop()
    info = rrdtool.lastupdate(str(rrdcached.rrddir / "h0/la.rrd"))
    assert (int(info["date"].timestamp()), info["ds"]) == (T0 + 300, {"la": 7.0})


@pytest.mark.parametrize("makers", [[], ["--create-workers=0"]], ids=["creators", "daemon"])
def test_new_files_are_made_by_rrdd_when_the_daemon_shares_its_directory(
    tmp_path: Path, makers: list[str]
) -> None:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    daemon = Daemon(tmp_path, rrddir)
    # A daemon that may not CREATE shows who makes the files: rrdd's creator processes
    # never ask it; without them rrdd asks, is told no, and makes them itself.
    daemon.start(permissions="UPDATE,BATCH,FLUSH,FORGET,PENDING,STATS,QUIT,PING,HELP")
    try:
        data = stream(2)
        p = run(rrddir, data, f"--rrdcached={daemon.address}", *makers)
        assert p.returncode == 0, p.stderr
        # Said once, when told no: the daemon is not asked for each file.
        assert p.stderr.count("rrdcached does not create files") == (1 if makers else 0)
    finally:
        daemon.stop()
    assert rrd_contents(rrddir) == direct_result(tmp_path, data)


def test_a_daemon_on_another_machine_makes_and_reads_the_files_itself(
    remote: Daemon, tmp_path: Path
) -> None:
    """rrdcached over TCP, its files not in rrdd's file system: rrdd asks it for a file's
    data sources (INFO) and has it make new files (CREATE, with the values' BATCH); the
    RRD directory rrdd is given is only the daemon's base, and never touched here."""
    config = tmp_path / "rrdd.toml"
    config.write_text("rrdcached_shares_files = false\n")
    elsewhere = tmp_path / "not-here"  # the daemon's directory, as rrdd names it
    args = (f"--rrdcached={remote.address}", f"--config={config}")
    first, second = stream(2), stream(2, start=2)
    p = run(elsewhere, first, *args)
    assert p.returncode == 0, p.stderr
    p = run(elsewhere, second, *args)  # the files exist: their DS come from INFO
    assert p.returncode == 0, p.stderr
    assert "rrdcached did not make" not in p.stderr and "ERROR" not in p.stderr
    assert not elsewhere.exists()
    remote.stop()  # -F: it writes everything it holds first
    assert rrd_contents(remote.rrddir) == direct_result(tmp_path, first + second)


@pytest.mark.parametrize(
    ("address", "family", "target"),
    [
        ("unix:/run/rrdcached.sock", socket.AF_UNIX, "/run/rrdcached.sock"),
        ("/run/rrdcached.sock", socket.AF_UNIX, "/run/rrdcached.sock"),
        ("graphs.example.com", socket.AF_INET, ("graphs.example.com", 42217)),
        ("graphs.example.com:4217", socket.AF_INET, ("graphs.example.com", 4217)),
        ("10.1.2.3:42218", socket.AF_INET, ("10.1.2.3", 42218)),
        ("[2001:db8::7]", socket.AF_INET6, ("2001:db8::7", 42217)),
        ("[2001:db8::7]:4217", socket.AF_INET6, ("2001:db8::7", 4217)),
    ],
)
def test_an_address_is_read_as_librrd_reads_it(
    address: str, family: int, target: str | tuple[str, int]
) -> None:
    assert parse_address(address) == (family, target)


@pytest.mark.parametrize(
    ("address", "shared"),
    [
        ("unix:/run/rrdcached.sock", True),
        ("/run/rrdcached.sock", True),
        ("localhost", True),
        ("localhost:4217", True),
        ("127.0.0.1:42217", True),
        ("127.1.2.3", True),
        ("[::1]:4217", True),
        ("graphs.example.com:42217", False),
        ("10.1.2.3", False),
        ("[2001:db8::7]:4217", False),
    ],
)
def test_a_daemon_on_a_unix_socket_or_loopback_shares_rrdds_directory(
    address: str, shared: bool
) -> None:
    assert shares_files(address) is shared
    assert shares_files(address, said=not shared) is not shared  # rrdcached_shares_files


# A file both librrd and rrdcached make: la.rrd of cpu, with one RRA.
LA = ["-b", str(T0 - 10), "-s", "300", "DS:la:GAUGE:600:U:U", "RRA:AVERAGE:0.5:1:10"]


def test_the_connected_gauge_follows_the_daemon(rrdcached: Daemon) -> None:
    now = [0.0]
    counts = Counts()
    store = Rrdcached(rrdcached.address, str(rrdcached.rrddir), clock=lambda: now[0], counts=counts)
    writer = RrdWriter(rrdcached.rrddir, RraDefinitions.load(None), counts, store=store)
    metrics = Metrics(counts, version="1", registry=CollectorRegistry())
    writer_gauges(metrics, writer, lambda: 0.0)

    def connected() -> float | None:
        return metrics.registry.get_sample_value("rrdd_rrdcached_connected")

    assert connected() == 1
    rrdcached.stop()
    gauge = Schema.of("DS:la:GAUGE:600:U:U")
    writer.write("h1", "cpu", T0, Update("la.rrd", gauge, ("1",)))
    writer.sync()
    assert connected() == 0 and writer.pending() == 1
    rrdcached.start()
    now[0] += 1  # the store's wait before it tries the daemon again
    writer.sync()
    assert connected() == 1 and writer.pending() == 0
    writer.close()


def test_a_daemon_gone_is_tried_again_after_1_2_4_up_to_60_seconds(
    rrdcached: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    counts = Counts()
    store = Rrdcached(rrdcached.address, str(rrdcached.rrddir), clock=lambda: now[0], counts=counts)
    path = rrdcached.rrddir / "h1/la.rrd"
    path.parent.mkdir()
    rrdtool.create(str(path), *LA)
    batch = [(str(path), f"{T0}:1")]
    rrdcached.stop()
    tried: list[float] = []
    waits: list[int] = []  # each try that fails says when the next one comes
    for half_seconds in range(2 * 250):
        now[0] = half_seconds / 2
        caplog.clear()
        with pytest.raises(StoreUnavailable):
            store.send(batch)
        said = re.findall(r"trying again in (\d+) s", caplog.text)
        if said:
            tried.append(now[0])
            waits += map(int, said)
    assert tried == [0, 1, 3, 7, 15, 31, 63, 123, 183, 243]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    rrdcached.start()
    now[0] = 302.5
    with pytest.raises(StoreUnavailable):  # not tried yet: it would be reached
        store.send(batch)
    now[0] = 303
    store.send(batch)
    assert store.answers() == ([], []) and counts[Event.RRDCACHED_RECONNECTS] == 1
    assert rrdcached.stats()["UpdatesReceived"] == 1
    rrdcached.stop()  # lost again: the waits start again from one second
    caplog.clear()
    with pytest.raises(StoreUnavailable):
        store.send(batch)
    assert "trying again in 1 s" in caplog.text
    store.close()


def test_over_a_unix_socket_the_daemon_is_given_whole_paths(tmp_path: Path) -> None:
    """The files are where rrdd says, whatever the daemon's base directory."""
    base, rrddir = tmp_path / "base", tmp_path / "rrd"
    base.mkdir()
    (rrddir / "h1").mkdir(parents=True)
    daemon = Daemon(tmp_path, base)
    daemon.start()
    try:
        store = Rrdcached(daemon.address, str(rrddir))
        path = str(rrddir / "h1/la.rrd")
        store.create(path, LA)
        store.send([(path, f"{T0}:1\n{T0 + 300}:2")])
        assert store.answers() == ([], [])
        store.close()
    finally:
        daemon.stop()  # -F: it writes everything it holds
    assert lastupdate(rrddir / "h1/la.rrd") == (T0 + 300, {"la": 2.0})
    assert os.listdir(base) == []


def test_a_file_the_daemon_refuses_to_make_is_refused_with_its_reason(
    rrdcached: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rrdd.rrdcached")
    store = Rrdcached(rrdcached.address, str(rrdcached.rrddir))
    (rrdcached.rrddir / "h1").mkdir()
    path = str(rrdcached.rrddir / "h1/la.rrd")
    with pytest.raises(StoreError, match="^RRD Error: you must define at least one Round Robin"):
        store.create(path, LA[:-1])  # no RRA
    assert not os.path.exists(path)
    store.create(path, LA)  # the daemon makes the next one still
    assert "does not create files" not in caplog.text
    assert lastupdate(Path(path))[0] == T0 - 10
    store.close()


def test_a_file_is_made_here_while_the_daemon_is_away(rrdcached: Daemon) -> None:
    store = Rrdcached(rrdcached.address, str(rrdcached.rrddir))
    (rrdcached.rrddir / "h1").mkdir()
    path = rrdcached.rrddir / "h1/la.rrd"
    rrdcached.stop()
    store.create(str(path), LA)  # the directory is shared: its values need not wait
    assert lastupdate(path)[0] == T0 - 10 and not store.connected
    store.close()  # without the daemon too


def test_a_daemon_away_cannot_say_what_a_file_holds(remote: Daemon, tmp_path: Path) -> None:
    here = tmp_path / "not-here"
    store = Rrdcached(remote.address, str(here), files_here=False)
    remote.stop()
    with pytest.raises(StoreError, match="rrdcached cannot say"):
        store.info(str(here / "h1/la.rrd"))


def test_a_batch_of_new_files_and_values_names_each_the_daemon_refuses(
    remote: Daemon, tmp_path: Path
) -> None:
    """The daemon numbers the lines of a BATCH in its error lines; the CREATE lines of new
    files come first, then a line per value."""
    here = tmp_path / "not-here"
    store = Rrdcached(remote.address, str(here), files_here=False)
    a, b, c = (str(here / f"h1/{name}.rrd") for name in "abc")
    store.create(a, LA[:-1])  # no RRA
    store.create(b, LA)
    store.create(c, ["-b", "100", *LA[2:]])  # before 1980
    batch = [(a, f"{T0}:1\n{T0 + 300}:2"), (b, f"{T0}:1\n{T0}:2\n{T0 + 300}:3"), (c, f"{T0}:5")]
    store.send(batch)
    assert store.unmade() == [
        (a, "RRD Error: you must define at least one Round Robin Archive"),
        (c, "The first entry must be after 1980."),
    ]
    refused, returned = store.answers()
    assert returned == []
    assert [(path, row) for path, row, _ in refused] == [
        (a, f"{T0}:1"),
        (a, f"{T0 + 300}:2"),
        (b, f"{T0}:2"),
        (c, f"{T0}:5"),
    ]
    reasons = [reason for _, _, reason in refused]
    assert "No such file" in reasons[0] and "No such file" in reasons[3]
    assert "illegal attempt to update" in reasons[2]
    store.close()
    remote.stop()  # -F: it writes everything it holds
    assert sorted(os.listdir(remote.rrddir / "h1")) == ["b.rrd"]
    assert lastupdate(remote.rrddir / "h1/b.rrd") == (T0 + 300, {"la": 3.0})


def test_a_batch_the_daemon_will_not_take_is_kept_to_send_again(tmp_path: Path) -> None:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    daemon = Daemon(tmp_path, rrddir)
    daemon.start(permissions="PING")  # no BATCH, no UPDATE
    try:
        store = Rrdcached(daemon.address, str(rrddir))
        batch = [(str(rrddir / "h1/la.rrd"), f"{T0}:1\n{T0 + 300}:2")]
        store.send(batch)
        assert store.answers() == ([], batch) and not store.connected
    finally:
        daemon.stop()


def test_a_server_that_is_not_rrdcached_makes_no_file_and_takes_no_value(tmp_path: Path) -> None:
    """rrdd given the port of another service: its answer, no rrdcached status, is an
    error, not a file made; the values are kept to send again."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        rrddir = tmp_path / "rrd"
        (rrddir / "h1").mkdir(parents=True)
        store = Rrdcached(f"127.0.0.1:{server.server_address[1]}", str(rrddir))
        with pytest.raises(StoreError):
            store.create(str(rrddir / "h1/la.rrd"), LA)
        assert os.listdir(rrddir / "h1") == []
        store.close()
        store = Rrdcached(f"127.0.0.1:{server.server_address[1]}", str(rrddir))
        batch = [(str(rrddir / "h1/la.rrd"), f"{T0}:1")]
        store.send(batch)
        assert store.answers() == ([], batch)
        store.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
