"""The cache policy end to end: the rrdd command's ceilings and its cache age, seen from
outside (the /metrics counters, the files' last updates and modification times)."""

from __future__ import annotations

import itertools
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import rrdtool

from tests.helpers import T0, wait_until
from tests.test_cli import control, cpu, free_port, lastupdate, scrape, send, start

RATE = 10.0  # a second: the ceiling under test
HOSTS = 5  # 15 files (la, procs, users): the ceiling's one-second burst, and half as many again
LAYOUT = ("-s", "300", "DS:la:GAUGE:600:0:U", "RRA:AVERAGE:0.5:1:576")


def make_cpu_files(rrddir: Path, hosts: list[str]) -> None:
    """The files a cpu status writes, made by the test, last updated 10 s before T0."""
    for host in hosts:
        (rrddir / host).mkdir()
        for name in ("la.rrd", "procs.rrd", "users.rrd"):
            rrdtool.create(str(rrddir / host / name), "-b", str(T0 - 10), *LAYOUT)


def ceilings(tmp_path: Path, where: str) -> list[str]:
    """Both ceilings at RATE, on the command line or in a --config file."""
    if where == "command line":
        return [f"--writes-per-second={RATE}", f"--creates-per-second={RATE}"]
    config = tmp_path / "rrdd.toml"
    config.write_text(f"writes_per_second = {RATE}\ncreates_per_second = {RATE}\n")
    return [f"--config={config}"]


def counted(port: int, name: str) -> float:
    return scrape(port).get(f"{name}[]") or 0.0


def files(rrddir: Path) -> list[Path]:
    return sorted(rrddir.glob("*/*.rrd"))


def turning(proc: subprocess.Popen[bytes], condition: Callable[[], bool]) -> None:
    """Wait for `condition` while @@idle messages turn rrdd's main loop, which writes and
    creates what is due after each read (and otherwise once a second)."""
    seq = itertools.count(10000)

    def check() -> bool:
        send(proc, control(next(seq), "idle"))
        return condition()

    wait_until(check)


@pytest.mark.parametrize("where", ["command line", "file"])
def test_writes_and_creates_per_second_spread_the_work(tmp_path: Path, where: str) -> None:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    full, new = [f"full{h}" for h in range(HOSTS)], [f"new{h}" for h in range(HOSTS)]
    seq = itertools.count(1)
    make_cpu_files(rrddir, full)
    port = free_port()
    proc = start(
        rrddir,
        f"--metrics-listen=127.0.0.1:{port}",
        "--create-workers=0",  # made at once when not held back: the ceiling stands out
        *ceilings(tmp_path, where),
        stderr=subprocess.DEVNULL,
    )
    scrape(port)  # rrdd is up
    # Twelve values make each file full, and due: at most RATE writes at once (saved up
    # while idle), then RATE a second.
    sent = time.monotonic()
    values = (cpu(next(seq), h, T0 + 300 * c, "2.00") for c in range(1, 13) for h in full)
    send(proc, b"".join(values))
    turning(proc, lambda: counted(port, "rrdd_rrd_writes_total") == 3 * HOSTS)
    assert time.monotonic() - sent >= (3 * HOSTS - RATE) / RATE
    assert {lastupdate(f)[0] for f in rrddir.glob("full*/*.rrd")} == {T0 + 300 * 12}
    # New files: the same with creations.
    sent = time.monotonic()
    send(proc, b"".join(cpu(next(seq), h, T0, "3.00") for h in new))
    turning(proc, lambda: counted(port, "rrdd_rrd_creates_total") == 3 * HOSTS)
    assert time.monotonic() - sent >= (3 * HOSTS - RATE) / RATE
    assert counted(port, "rrdd_rrd_creates_deferred_total") >= 3 * HOSTS - RATE
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0
    # The values of the files that waited were kept until the files existed.
    assert {lastupdate(f)[0] for f in rrddir.glob("new*/*.rrd")} == {T0}
    assert len(files(rrddir)) == 6 * HOSTS


def test_cache_age_comes_with_a_random_part_per_file(tmp_path: Path) -> None:
    """--cache-age=2: each file is due 2 to 2.4 s after its first cached value, so files
    whose values came together are not all written together."""
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    hosts = [f"h{h}" for h in range(10)]  # 30 files
    # The files exist, so that rrdd takes all the values in within milliseconds (making
    # the files could take longer than the random part on a busy machine).
    make_cpu_files(rrddir, hosts)
    port = free_port()
    proc = start(
        rrddir, f"--metrics-listen=127.0.0.1:{port}", "--cache-age=2", stderr=subprocess.DEVNULL
    )
    scrape(port)  # rrdd is up
    sent = time.time()
    send(proc, b"".join(cpu(1 + i, h, T0, "2.00") for i, h in enumerate(hosts)))
    turning(proc, lambda: counted(port, "rrdd_rrd_writes_total") == 30)
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0
    assert [lastupdate(f)[0] for f in files(rrddir)] == [T0] * 30
    written = sorted(f.stat().st_mtime for f in files(rrddir))  # rrdd sets it at each write
    assert written[0] >= sent + 2  # none before --cache-age
    # Due times spread over 0.4 s: 30 draws fall within 0.2 s of each other with a chance
    # of 3e-8, and a file is written at the loop's first turn (about every 0.1 s) after
    # it is due. Without the random part they are written in one turn, in milliseconds.
    assert written[-1] - written[0] >= 0.1
