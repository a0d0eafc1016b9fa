"""Where one message's time goes in steady state: rrdd's pipeline built up a stage at a time.

    python bench/breakdown.py [HOSTS] [CYCLES] [--rounds=N] [--stage=NAME] [--profile] [DIR]

The fleet stream (feed.py, by default 1000 hosts x 8 cycles: 88,000 messages, 26,000
files) goes through rrdd's own parts in this process, read from a file in 64 KiB pieces
as the daemon reads it. The files exist (made beforehand by rrdd's create code), and
every round writes later values than the one before, so a stage that writes finds the
steady state of fleet.py's second run: a fresh rrdd that sees each file once. Stages,
each adding one part to the one before (`--stage=NAME` runs one stage once, for a
profiler or valgrind; the difference between two stages is the cost of the part added,
and `--stage=none` runs the set-up alone, for valgrind's counts of the first stage):

- frame: the channel reader alone (ChannelParser.feed: split, header, Message);
- parse: + dispatch and the parsers, into a writer that drops the updates;
- writer: + rrdd's writer (RrdWriter: file records, each file's header read once,
  time checks, rows, the cache) over a store that writes nothing;
- direct: + librrd, as rrdd's default mode (every value at close, < 12 cycles);
- batch: the writer as in rrdcached mode, its store making each BATCH's text but
  sending nothing;
- rrdcached: + the socket to a private rrdcached (journal on, -w 3600), as rrdd
  --rrdcached. The daemon's own CPU time is printed beside it.

Printed: CPU time (this process) per message of each stage, median and range over the
rounds, and its wall time. Then the start-up that fleet.py's runs pay and these stages
do not: the rrdd command, in one process and with --workers=2, on an empty input
(interpreter, imports, settings, create workers, exit), wall and CPU seconds. With
--profile, one more round of each stage runs under cProfile, which prints the
functions that take the most time of their own (cProfile adds about half again to the
time of small Python functions). Run under `valgrind
--tool=callgrind` with --stage, the instruction counts of two stages give the part's
count, which other tenants of the machine do not move.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from common import RRDD, Client, Rrdcached, cpu_of, prepare
from feed import MIX, T0, fleet_stream

from rrdd.channel import ChannelParser
from rrdd.daemon import Daemon, load_rras
from rrdd.events import Counts
from rrdd.settings import load_settings
from rrdd.writer.memory import MemoryWriter
from rrdd.writer.rrdcached import Rrdcached as RrdcachedStore
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.writer.store import Librrd, Rows, Store

STAGES = ("frame", "parse", "writer", "direct", "batch", "rrdcached")


class NullWriter(MemoryWriter):
    def write(self, *args: object) -> None:
        pass


class Unwritten(Librrd):
    """librrd's store that reads headers as rrdd does and writes nothing."""

    def send(self, batch: Sequence[Rows]) -> None:
        pass


class Unsent(RrdcachedStore):
    """The rrdcached store making every BATCH's text, with no connection."""

    def _connect(self) -> None:
        pass

    def _ensure(self) -> None:
        pass

    def _send(self, data: bytes) -> None:
        pass

    def _settle(self) -> None:
        self._in_flight = []
        self._creates_in_flight = []


def frame_only(stream: Path) -> int:
    channel = ChannelParser()
    n = 0
    with stream.open("rb") as f:
        while data := f.read(1 << 16):
            n += sum(1 for _ in channel.feed(data))
    return n


def daemon_run(rrddir: Path, stream: Path, writer: object) -> None:
    """rrdd's main loop, as cli.main runs it, on the stream file."""
    settings = load_settings({"rrddir": str(rrddir)}, {})
    fd = os.open(stream, os.O_RDONLY)
    try:
        Daemon(settings, writer, Counts()).run(fd)  # type: ignore[arg-type]
    finally:
        os.close(fd)


def stage_run(stage: str, rrddir: Path, stream: Path, daemon: Rrdcached | None) -> None:
    if stage == "none":
        return
    if stage == "frame":
        frame_only(stream)
        return
    if stage == "parse":
        daemon_run(rrddir, stream, NullWriter())
        return
    settings = load_settings({"rrddir": str(rrddir)}, {})
    store: Store = Librrd() if stage == "direct" else Unwritten()
    if stage == "batch":
        store = Unsent("unix:/nonexistent", str(rrddir))
    elif stage == "rrdcached":
        assert daemon is not None
        store = RrdcachedStore(daemon.address, str(rrddir))
    writer = RrdWriter(rrddir, load_rras(settings), Counts(), store=store)
    daemon_run(rrddir, stream, writer)


def timed(
    stage: str, rrddir: Path, stream: Path, daemon: Rrdcached | None, pid: int | None
) -> tuple[float, float, float]:
    """A stage's CPU seconds (this process), wall seconds, CPU seconds of process `pid`."""
    other = cpu_of(pid) if pid else 0.0
    cpu, wall = time.process_time(), time.perf_counter()
    stage_run(stage, rrddir, stream, daemon)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, (cpu_of(pid) - other if pid else 0.0)


def start_up(rrddir: Path, extra: Sequence[str]) -> tuple[float, float]:
    """Wall and CPU seconds of the rrdd command (and its children) on an empty input."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    wall = time.perf_counter()
    subprocess.run(
        [RRDD, f"--rrddir={rrddir}", *extra], stdin=subprocess.DEVNULL, capture_output=True
    )
    wall = time.perf_counter() - wall
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, usage.ru_utime + usage.ru_stime - cpu


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    opts = dict(a[2:].partition("=")[::2] for a in sys.argv[1:] if a.startswith("--"))
    hosts, cycles = (int(a) for a in (args + ["1000", "8"][len(args) :])[:2])
    rounds = int(opts.get("rounds", "3"))
    stages = [opts["stage"]] if "stage" in opts else list(STAGES)
    if "stage" in opts:
        rounds = 1
    messages = hosts * cycles * len(MIX)
    work = Path(tempfile.mkdtemp(prefix="rrdd-breakdown-", dir=args[2] if len(args) > 2 else None))
    daemon = None
    try:
        rrddir, stream = work / "rrd", work / "stream"
        rrddir.mkdir()
        prepare(rrddir, fleet_stream(hosts, 1))
        if "rrdcached" in stages:
            daemon = Rrdcached(work / "daemon")
        print(
            f"steady state, {hosts} hosts x {cycles} cycles = {messages} messages, {rounds} rounds"
        )
        print("stage        CPU us/message, median (range)   wall s     rrdcached CPU us/msg")
        k = 0
        for stage in stages:
            figures = []
            for _ in range(rounds):
                k += 1  # each round's values are later than the last round's
                stream.write_bytes(fleet_stream(hosts, cycles, T0 + 300 * (1 + cycles * k)))
                pid = daemon.proc.pid if daemon and stage == "rrdcached" else None
                figures.append(timed(stage, rrddir, stream, daemon, pid))
            cpu, wall, other = ([f[i] for f in figures] for i in range(3))
            per = [c / messages * 1e6 for c in cpu]
            extra = cell([o / messages * 1e6 for o in other]) if stage == "rrdcached" else ""
            print(f"  {stage:10s} {cell(per):32s} {cell(wall):18s} {extra}", flush=True)
            if "profile" in opts:
                k += 1
                stream.write_bytes(fleet_stream(hosts, cycles, T0 + 300 * (1 + cycles * k)))
                profiler = cProfile.Profile()
                profiler.runcall(stage_run, stage, rrddir, stream, daemon)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        if "stage" not in opts:
            print("start-up       wall s, median (range)     CPU s")
            for extra in ([], ["--workers=2"]):
                empty = work / f"empty{len(extra)}"
                empty.mkdir()
                times = [start_up(empty, extra) for _ in range(max(rounds, 5))]
                name = " ".join(["rrdd", *extra])
                walls, cpus = [t[0] for t in times], [t[1] for t in times]
                print(f"  {name:20s} {cell(walls):24s} {cell(cpus)}", flush=True)
        if daemon is not None:
            client = Client(daemon.sock)
            client.command("FLUSHALL")
            client.close()
    finally:
        if daemon is not None:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
