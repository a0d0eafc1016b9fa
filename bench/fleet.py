"""A fleet from cold: the rrdd command on HOSTS x CYCLES of Linux client traffic, new files.

    python bench/fleet.py [HOSTS] [CYCLES] [DIR] [--no-drop-caches] [--xymond=PATH]

By default 1000 hosts x 8 cycles: 88,000 messages, 208,000 values, 26,000 new RRD
files (about 1.3 GB) in DIR (default: the temp directory). Each mode starts with an
empty RRD directory and, if this process may, an empty page cache (sync, then
`echo 1 > /proc/sys/vm/drop_caches`), so that rrdd's start-up and the stream are read
from disk too. The command runs end to end, timed from its start to its exit: start-up,
reading stdin from a file, creating every file, writing, shutdown.

- direct: rrdd's default mode; its two creation workers (--create-workers) make the
  files while it reads on; with fewer than 12 cycles, its cache writes every value at
  shutdown.
- rrdcached: a private rrdcached (journal, -w 3600) creates the files (CREATE) and holds
  the values; after rrdd's exit the daemon's write-out (FLUSHALL) is timed too.
- direct x2, rrdcached x2: the same with --workers=2, the hosts spread over two
  processes.

- xymond (only with --xymond=PATH, a xymond_rrd binary): the same stream through the
  real xymond_rrd, the program rrdd replaces, as the baseline of both modes above.

Without --xymond there is no baseline here: write.py has the ratios. Printed: wall
time, messages/s, values/s, the command's CPU time and the files created.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RRDD, Client, Rrdcached, cpu_of
from feed import MIX, fleet_stream

MODES = ("direct", "rrdcached", "direct x2", "rrdcached x2")  # x2: --workers=2


def drop_caches() -> str:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError as e:
        return f"page cache not dropped ({e.strerror})"
    return "page cache dropped"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(work: Path, stream: Path, messages: int, mode: str, drop: bool, xymond: str) -> float:
    """Seconds until the values are in the files (with rrdcached: after its write-out)."""
    rrddir = work / "rrd"
    rrddir.mkdir()
    argv = [xymond if mode == "xymond" else RRDD, f"--rrddir={rrddir}"]
    env = dict(os.environ)
    if mode == "xymond":  # it stops without a Xymon home and wants its control socket
        home = Path(tempfile.mkdtemp(dir=work))
        (home / "etc").mkdir()
        (home / "tmp").mkdir()
        env.update(XYMONHOME=str(home), XYMONTMP=str(home / "tmp"))
    daemon = None
    if mode.startswith("rrdcached"):
        daemon = Rrdcached(Path(tempfile.mkdtemp(dir=work)))
        argv.append(f"--rrdcached={daemon.address}")
    if mode.endswith("x2"):
        argv.append("--workers=2")
    cache = drop_caches() if drop else "page cache kept"
    cpu, daemon_cpu = children_cpu(), cpu_of(daemon.proc.pid) if daemon else 0.0
    with stream.open("rb") as stdin:
        started = time.perf_counter()
        done = subprocess.run(argv, stdin=stdin, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - started
    if done.returncode or "cannot continue" in done.stderr:
        sys.exit(f"{argv[0]} failed: {done.stderr[-500:]}")
    cpu = children_cpu() - cpu
    last = "Totals of all workers: " if mode.endswith("x2") else "Totals: "
    totals = dict(re.findall(r"(\w+) (\d+)", done.stderr.rsplit(last, 1)[-1]))
    values = int(totals.get("values_written", 0))
    files = sum(1 for _ in rrddir.glob("*/*.rrd"))
    rates = f"{messages / wall:6.0f} msg/s" + (f", {values / wall:6.0f} values/s" if values else "")
    print(f"  {mode:12s} {wall:6.2f} s: {rates}; {files} files created; CPU {cpu:.2f} s")
    if daemon is not None:
        daemon_cpu = cpu_of(daemon.proc.pid) - daemon_cpu
        client = Client(daemon.sock)
        flush = client.flush_all(values)
        client.close()
        daemon.stop()
        total = wall + flush
        rates = f"{messages / total:6.0f} msg/s, {values / total:6.0f} values/s"
        print(f"{'':15s}rrdcached CPU while rrdd ran: {daemon_cpu:.2f} s (creates, ingest)")
        print(f"{'':15s}+ its write-out (FLUSHALL) {flush:.2f} s = {total:.2f} s: {rates}")
    print(f"{'':15s}({cache})")
    shutil.rmtree(rrddir)
    return wall if daemon is None else wall + flush


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    hosts, cycles = (int(a) for a in (args + ["1000", "8"][len(args) :])[:2])
    work = Path(tempfile.mkdtemp(prefix="rrdd-fleet-", dir=args[2] if len(args) > 2 else None))
    try:
        stream = work / "stream"
        stream.write_bytes(fleet_stream(hosts, cycles))
        messages = hosts * cycles * len(MIX)
        size = stream.stat().st_size / 1e6
        print(f"fleet, rrdd command from cold: {hosts} hosts x {cycles} cycles = ", end="")
        print(f"{messages} messages ({size:.0f} MB), new files in {work}")
        drop = "--no-drop-caches" not in sys.argv
        xymond = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--xymond=")), "")
        modes = MODES + ("xymond",) if xymond else MODES
        seconds = {mode: run(work, stream, messages, mode, drop, xymond) for mode in modes}
        for a, b in (
            ("rrdcached", "direct"),
            ("direct x2", "direct"),
            ("rrdcached x2", "rrdcached"),
        ):
            ratio = seconds[b] / seconds[a]
            print(f"ratio {a} / {b}, msg/s until the values are in the files: {ratio:.2f}")
        for mode in MODES if xymond else ():
            ratio = seconds["xymond"] / seconds[mode]
            print(
                f"ratio {mode} / xymond_rrd, msg/s until the values are in the files: {ratio:.2f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
