"""End to end, the stock Xymon set-up: two rrdd processes on one RRD directory, one fed
a status stream (cpu reports), the other a data stream (trends), both getting every
drophost, renamehost, droptest and renametest, in their own streams, at their own time."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import rrdtool

from tests.helpers import wait_until
from tests.test_cli import control, cpu, run, start, status
from tests.test_rrdcached import Daemon, rrdcached  # noqa: F401 (a fixture)

B = 1795313100  # a multiple of the step: each value below is one row of its file
SEQ = itertools.count(1)  # sequence numbers: a repeated one is dropped as a duplicate


def trends(host: str, ts: int, files: dict[str, float]) -> bytes:
    body = "".join(f"[{name}]\nDS:v:GAUGE:600:U:U {v}\n" for name, v in files.items())
    header = f"@@data#{next(SEQ)}/{host}|{ts}.5|192.0.2.40||{host}|trends|linux|servers"
    return f"{header}\ndata {host}.trends\n{body}@@\n".encode()


class Rrdd:
    """One rrdd process with its own stream and log."""

    def __init__(self, name: str, rrddir: Path, logs: Path, *args: str):
        self.name, self.log = name, logs / f"{name}.log"
        with open(self.log, "wb") as err:
            self.proc = start(rrddir, *args, stderr=err.fileno())
        assert self.proc.stdin is not None
        self.stdin = self.proc.stdin

    def send(self, *messages: bytes) -> None:
        self.stdin.write(b"".join(messages))
        self.stdin.flush()

    def value(self, host: str, i: int) -> bytes:
        """Round i of this process's stream for `host`."""
        if self.name == "status":  # la.rrd gets 100 i + 50
            return cpu(next(SEQ), host, B + 300 * i, f"{i}.50")
        return trends(host, B + 300 * i, {"trend.rrd": 1000 + i})

    def new_file(self, host: str, i: int) -> bytes:
        """A message that makes a file the process has not touched yet."""
        if self.name == "status":
            disk = f"status {host}.disk green\n/dev/sda1 1000 400 600 40% /"
            return status(next(SEQ), host, "disk", B + 300 * i, disk)
        return trends(host, B + 300 * i, {"late.rrd": 7})

    def stop(self) -> str:
        self.stdin.close()
        assert self.proc.wait(timeout=60) == 0
        return self.log.read_text()


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "logs"
    d.mkdir()
    yield d


def rows(path: Path, first: int, last: int) -> list[float | None]:
    """The rows of rounds first..last, one value each (round 0 makes the file: unknown)."""
    fetched = rrdtool.fetch(
        str(path), "AVERAGE", "-s", str(B + 300 * (first - 1)), "-e", str(B + 300 * last)
    )
    return [row[0] for row in fetched[2]][: last - first + 1]


def check(rrddir: Path, logs: list[str], last: int) -> None:
    """Every value of rounds 1..last in web7's files; no web6; no complaint in the logs
    but about rrdcached being away (and about running as root, as the tests do)."""
    assert sorted(os.listdir(rrddir)) == [".renamed", "web7"]
    assert rows(rrddir / "web7/la.rrd", 1, last) == [100.0 * i + 50 for i in range(1, last + 1)]
    assert rows(rrddir / "web7/trend.rrd", 1, last) == [1000.0 + i for i in range(1, last + 1)]
    assert rrdtool.lastupdate(str(rrddir / "web7/late.rrd"))["ds"] == {"v": 7.0}
    assert rrdtool.lastupdate(str(rrddir / "web7/disk,root.rrd"))["ds"]["pct"] == 40.0
    for text in logs:
        said = [
            line
            for line in text.splitlines()
            if "rrdcached" not in line and "runs as root" not in line
        ]
        assert not [line for line in said if " ERROR " in line or " WARNING " in line], text
        assert "values_written" in text


@pytest.mark.parametrize("mover", ["status", "data"], ids=["status-moves", "data-moves"])
def test_renamehost_with_two_rrdd_puts_every_value_under_the_new_name(
    tmp_path: Path, logs: Path, mover: str
) -> None:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    both = [Rrdd("status", rrddir, logs), Rrdd("data", rrddir, logs)]
    first, second = both if mover == "status" else both[::-1]
    try:
        for p in both:
            p.send(p.value("web6", 0), p.value("web6", 1))
        wait_until(lambda: os.path.exists(rrddir / "web6/la.rrd"))
        wait_until(lambda: os.path.exists(rrddir / "web6/trend.rrd"))
        first.send(control(next(SEQ), "renamehost", "web6", "web7"))
        wait_until(lambda: not os.path.exists(rrddir / "web6"))
        # The second reads on: what was sent for web6 before the rename, 13 values (the
        # twelfth makes it write its file, moved meanwhile) and a file new to it.
        second.send(*(second.value("web6", i) for i in range(2, 15)))
        second.send(second.new_file("web6", 14))
        second.send(control(next(SEQ), "renamehost", "web6", "web7"))
        first.send(*(first.value("web7", i) for i in range(2, 15)))
        first.send(first.new_file("web7", 14))
        for p in both:
            p.send(p.value("web7", 15))
        texts = [p.stop() for p in both]
    finally:
        for p in both:
            p.proc.kill()
    check(rrddir, texts, 15)


@pytest.mark.parametrize("mover", ["status", "data"], ids=["status-moves", "data-moves"])
def test_renamehost_with_two_rrdd_and_rrdcached(
    rrdcached: Daemon,  # noqa: F811
    logs: Path,
    mover: str,
) -> None:
    rrddir = rrdcached.rrddir
    cached = f"--rrdcached={rrdcached.address}"
    both = [Rrdd("status", rrddir, logs, cached), Rrdd("data", rrddir, logs, cached)]
    first, second = both if mover == "status" else both[::-1]

    try:
        # Both send web6 values; the daemon holds them (it writes a file once an hour).
        for p in both:
            p.send(p.value("web6", 0), p.value("web6", 1))
        wait_until(lambda: rrdcached.stats()["UpdatesReceived"] == 8)  # 2 x (3 cpu + 1)
        # The mover has the daemon write every file of web6 (the other's too), forget
        # them, and moves the directory.
        first.send(control(next(SEQ), "renamehost", "web6", "web7"))
        wait_until(lambda: not os.path.exists(rrddir / "web6"))
        assert rows(rrddir / "web7/trend.rrd", 1, 1) == [1001.0]
        assert rows(rrddir / "web7/la.rrd", 1, 1) == [150.0]
        # The second sends web6 values: the daemon refuses them (no such file), and they
        # follow the rename.
        second.send(*(second.value("web6", i) for i in range(2, 5)))
        wait_until(lambda: "values follow it" in second.log.read_text())
        # The daemon goes away: the second holds what it reads, also at its rename.
        rrdcached.stop()
        second.send(*(second.value("web6", i) for i in range(5, 8)))
        second.send(second.new_file("web6", 7))
        second.send(control(next(SEQ), "renamehost", "web6", "web7"))
        first.send(*(first.value("web7", i) for i in range(2, 8)))
        first.send(first.new_file("web7", 7))
        rrdcached.start()
        for p in both:
            p.send(p.value("web7", 8))
        for p in both:  # what each held is sent
            wait_until(lambda p=p: "reached again" in p.log.read_text())  # type: ignore[misc]
        texts = [p.stop() for p in both]
    finally:
        for p in both:
            p.proc.kill()
    rrdcached.stop()  # it writes everything
    check(rrddir, texts, 8)


def test_no_control_message_acts_through_a_symbolic_link(tmp_path: Path) -> None:
    rrddir, out = tmp_path / "rrd", tmp_path / "out"
    for top, host in ((rrddir, "h4"), (out, "x")):  # out/x: where the links lead
        top.mkdir()
        assert run(top, cpu(1, host, B, "1.00")).returncode == 0
    for link in ("link3", "link5", "link6", "link7"):
        (rrddir / link).symlink_to("../out/x")
    (rrddir / "h4/disk,root.rrd").symlink_to("../../out/x/la.rrd")

    def snapshot() -> dict[str, str]:
        return {
            str(p): p.read_bytes().hex() if not p.is_symlink() else os.readlink(p)
            for p in sorted(tmp_path.rglob("*"))
            if not p.is_dir() or p.is_symlink()
        }

    before = snapshot()
    p = run(
        rrddir,
        control(1, "droptest", "link5", "cpu")
        + control(2, "renamehost", "link3", "h4")
        + control(3, "renamehost", "h4", "link6")
        + control(4, "renametest", "link7", "cpu", "load")
        + control(5, "droptest", "h4", "disk")
        + control(6, "renametest", "h4", "disk", "disk2"),
    )
    assert p.returncode == 0
    assert snapshot() == before
    assert p.stderr.count("symbolic link") == 6
