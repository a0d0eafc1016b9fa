"""The fleet against the real xymond_rrd, from cold and in steady state (issues 16 and 21).

    python bench/fleet.py [HOSTS] [CYCLES] [DIR] [--runs=N] [--xymond=PATH]
        [--modes=MODE,...] [--no-drop-caches] [--steady-from-disk]

By default 1000 hosts x 8 cycles of real Linux client traffic (feed.py): 88,000
messages, 208,000 values, 26,000 RRD files (about 1.3 GB) in DIR (default: the temp
directory). Three to five minutes a run at that size on two cores; `fleet.py 200 8`
is a quick one (its start-up weighs more).

Each mode of rrdd (MODES) runs the rrdd command twice on one RRD directory:
- from cold: the directory is empty; the first CYCLES cycles create every file;
- steady state: the files exist (made by the cold run), and the next CYCLES cycles,
  300 s a cycle later, update them: the case a server lives in.
The real xymond_rrd (the program rrdd replaces: Debian's by default, --xymond=PATH for
another) then does the same on its own directory, with a fresh XYMONHOME and its
default cache. With fewer than 12 cycles both hold every value until their input ends
and write them at exit. A row of the table is one mode and start: rrdd's run and
xymond_rrd's run of the same stream, within a minute of each other. Only the ratio
within a row counts, as the machine is shared.

- direct: rrdd's default mode (a cache, librrd in the process, two create workers);
- rrdcached: rrdd --rrdcached on a private rrdcached (journal on, -w 3600: it holds the
  values; a fresh daemon for each run) that creates the files and takes the values.
  The daemon's write-out after rrdd's exit (FLUSHALL until its queue is empty) is
  printed beside the row, not in its ratio: xymond_rrd has no such second stage;
- x2: the same with --workers=2, the hosts spread over two processes.

The stream's times start 10 minutes ahead of the clock (AHEAD), so that every value is
newer than the files' start and both programs write all of them; a run checks that the
last value of host00000's la.rrd is in its file.

Timed: the command from its start to its exit (start-up, reading stdin from a file,
creating and writing, shutdown), after os.sync(). Before a cold run the page cache is
emptied when this process may (`echo 1 > /proc/sys/vm/drop_caches`; --no-drop-caches
keeps it), so that the programs are read from disk too; before a steady run it is kept,
as a server that writes its files every five minutes has them in memory
(--steady-from-disk empties it there too, and both programs read every file from disk).

Printed per run: wall time, CPU time (the command and its children; not rrdcached's)
and files. Then the table: rrdd's and xymond_rrd's wall time, the ratio rrdd /
xymond_rrd (below 1: rrdd is faster) and the write-out; and the same by CPU time, which
other tenants of the machine move less. With --runs=N a cell is the median of the N
runs and their range (min-max), a ratio the median of the runs' ratios. Targets (by
wall time): issue 16, direct steady state <= 1.0 with one process, <= 0.5 with
--workers=2; issue 21, rrdcached with --workers=2 <= 1.0 from cold and <= 0.5 in
steady state, and with one process <= 1.0 in steady state.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from common import RRDD, Client, Rrdcached
from feed import MIX, fleet_stream

MODES = ("rrdcached", "rrdcached x2", "direct", "direct x2")  # x2: --workers=2
XYMOND = "/usr/lib/xymon/server/bin/xymond_rrd"  # Debian's xymon package
STARTS = ("cold", "steady")
# The stream starts this far ahead of the clock. xymond_rrd creates a file 10 s before
# now and librrd refuses older values: on a stream from the past (feed.T0, which this
# benchmark used before) every write of xymond_rrd was refused, while rrdd, which
# creates a file before its first value, wrote them all.
AHEAD = 600


class Run(NamedTuple):
    wall: float  # seconds from start to exit
    cpu: float  # CPU seconds of the command and its children (not rrdcached's)
    flush: float  # rrdcached's write-out after it (0 without a daemon)


Results = dict[tuple[str, str], list[tuple[Run, Run | None]]]  # (mode, start) -> runs


def drop_caches(drop: bool) -> None:
    os.sync()  # what the previous run left to write back is not this run's
    if drop:
        try:
            Path("/proc/sys/vm/drop_caches").write_text("1\n")
        except OSError as e:
            print(f"  (page cache not dropped: {e.strerror})")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def last_update(path: Path) -> int:
    out = subprocess.run(["rrdtool", "lastupdate", str(path)], capture_output=True, text=True)
    return int(out.stdout.strip().rsplit("\n", 1)[-1].split(":", 1)[0])


def run(program: str, mode: str, rrddir: Path, stream: Path, last: int, drop: bool) -> Run:
    """Run `program` (rrdd in `mode`, or xymond_rrd) on the stream into `rrddir`."""
    work = rrddir.parent
    rrddir.mkdir(exist_ok=True)
    argv = [program, f"--rrddir={rrddir}"]
    env = dict(os.environ)
    daemon = None
    if program != RRDD:  # xymond_rrd stops without a Xymon home and wants its socket there
        home = Path(tempfile.mkdtemp(dir=work))
        (home / "etc").mkdir()
        (home / "tmp").mkdir()
        env.update(XYMONHOME=str(home), XYMONTMP=str(home / "tmp"))
    elif mode.startswith("rrdcached"):
        daemon = Rrdcached(Path(tempfile.mkdtemp(dir=work)))
        argv.append(f"--rrdcached={daemon.address}")
    if program == RRDD and mode.endswith("x2"):
        argv.append("--workers=2")
    drop_caches(drop)
    cpu = children_cpu()
    with stream.open("rb") as stdin:
        started = time.perf_counter()
        done = subprocess.run(argv, stdin=stdin, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - started
    cpu = children_cpu() - cpu
    if done.returncode or "cannot continue" in done.stderr:
        sys.exit(f"{argv[0]} failed: {done.stderr[-500:]}")
    flush = 0.0
    if daemon is not None:
        totals = done.stderr.rsplit("Totals", 1)[-1]
        client = Client(daemon.sock)
        flush = client.flush_all(int(re.search(r"values_written (\d+)", totals)[1]))  # type: ignore[index]
        client.close()
        daemon.stop()
    # a run that wrote nothing new would look fast: the last cycle of host 0 must be there
    got = last_update(rrddir / "host00000.example.com" / "la.rrd")
    if got != last:
        sys.exit(f"{argv[0]}: the last update is at {got}, not {last}")
    files = sum(1 for _ in rrddir.glob("*/*.rrd"))
    name = "xymond_rrd" if program != RRDD else f"rrdd {mode}"
    out = f"  {name:17s} {wall:6.2f} s, CPU {cpu:6.2f} s, {files} files"
    print(out + (f"; rrdcached write-out {flush:.2f} s" if daemon else ""), flush=True)
    return Run(wall, cpu, flush)


def cell(values: list[float], unit: str = " s") -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}{unit}"
    return f"{statistics.median(values):.2f}{unit} ({min(values):.2f}-{max(values):.2f})"


def table(results: Results, modes: Sequence[str], paired: bool, field: str) -> None:
    """The table of issue 21 by wall time; by CPU time (less moved by other tenants)."""
    head = ["run (each row: rrdd and xymond_rrd in one run)", "rrdd", "xymond_rrd", "ratio"]
    if field == "cpu":
        head = [head[0], "rrdd CPU", "xymond_rrd CPU", "ratio of CPU times"]
    print()
    print("| " + " | ".join((*head, "rrdcached write-out")) + " |")
    print("|---" * 5 + "|")
    for start in STARTS:
        for mode in modes:
            pairs = results[mode, start]
            what = "from cold (no files)" if start == "cold" else "steady state (files exist)"
            procs = "--workers=2" if mode.endswith("x2") else "one process"
            row = [
                f"{mode.split()[0]}, {what}, {procs}",
                cell([getattr(r, field) for r, _ in pairs]),
            ]
            if paired:
                row.append(cell([getattr(b, field) for _, b in pairs if b]))
                row.append(cell([getattr(r, field) / getattr(b, field) for r, b in pairs if b], ""))
            else:
                row += ["", ""]
            row.append(cell([r.flush for r, _ in pairs]) if mode.startswith("rrdcached") else "")
            print("| " + " | ".join(row) + " |")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    opts = dict(a[2:].partition("=")[::2] for a in sys.argv[1:] if a.startswith("--"))
    hosts, cycles = (int(a) for a in (args + ["1000", "8"][len(args) :])[:2])
    runs = int(opts.get("runs", "1"))
    modes = opts["modes"].split(",") if "modes" in opts else MODES
    drop = {"cold": "no-drop-caches" not in opts, "steady": "steady-from-disk" in opts}
    xymond = opts.get("xymond", XYMOND if os.access(XYMOND, os.X_OK) else "")
    work = Path(tempfile.mkdtemp(prefix="rrdd-fleet-", dir=args[2] if len(args) > 2 else None))
    try:
        print(f"fleet: {hosts} hosts x {cycles} cycles = {hosts * cycles * len(MIX)} messages")
        print(f"per run, {runs} run(s), in {work}; baseline {xymond or 'none'}")
        results: Results = defaultdict(list)
        streams = [work / "stream.cold", work / "stream.steady"]
        for n in range(runs):
            for mode in modes:
                print(f"run {n + 1}, {mode}:")
                t0 = int(time.time()) + AHEAD
                for k, stream in enumerate(streams):
                    stream.write_bytes(fleet_stream(hosts, cycles, t0 + 300 * cycles * k))
                # Each program's steady run comes right after its cold run, while its files
                # are in the page cache: the other's cold run would empty it.
                runs_of: dict[str, list[Run]] = {}
                for program in (RRDD, xymond) if xymond else (RRDD,):
                    rrddir = work / ("rrdd" if program == RRDD else "xymond")
                    runs_of[program] = []
                    for k, start in enumerate(STARTS):
                        last = t0 + 300 * (cycles * (k + 1) - 1)  # host00000's last value
                        done = run(program, mode, rrddir, streams[k], last, drop[start])
                        runs_of[program].append(done)
                    shutil.rmtree(rrddir)
                for k, start in enumerate(STARTS):
                    base = runs_of[xymond][k] if xymond else None
                    results[mode, start].append((runs_of[RRDD][k], base))
        table(results, modes, bool(xymond), "wall")
        table(results, modes, bool(xymond), "cpu")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
