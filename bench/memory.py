"""Memory rrdd holds per RRD file it tracks, and per value waiting in its cache.

    python bench/memory.py [FILES] [DIR]

rrdd keeps a record per file it has touched (writer/table.py RrdFile: names, path,
schema, the newest time, the pending values) in its RrdWriter. Each measurement runs
in a fresh process: a warm-up stream of 20 hosts first (so parsers, regex caches and
librrd are loaded), then VmRSS; one cycle of the fleet stream that touches FILES more
files (26 per host) with one pending value each, then VmRSS; then ten more cycles (eleven
pending values per file, still under the cache's 12), then VmRSS. Printed: bytes per
file and bytes per further pending value. Two stores:

- librrd: real files, created by rrdd through librrd, in DIR (default /dev/shm, so that
  creating them costs no disk I/O; tmpfs pages are not in VmRSS once librrd unmaps them);
- none: a store that creates and writes nothing, for rrdd's own records alone.

The baseline, in the same run: a private rrdcached's VmRSS growth when it gets a value
for each of the same files (a tree node per file; the perf note found ~310 B), then 11
more each (~63 B per value in the note; here value strings as long as rrdd's rows for
this mix, 22 characters on average). Targets: <= 1 KB per tracked file; with 12 values per file,
<= 1.5 x rrdcached.
"""

from __future__ import annotations

import ctypes
import gc
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from common import Client, Rrdcached, dispatch
from feed import T0, fleet_stream

from rrdd.daemon import load_rras
from rrdd.events import Counts
from rrdd.settings import load_settings
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.writer.store import Librrd

FILES_PER_HOST = 26
WARMUP_HOSTS = 20


class NoStore(Librrd):
    def create(self, path: str, args: Sequence[str]) -> None:
        pass

    def send(self, batch: Sequence[tuple[str, str]]) -> None:
        pass


def rss() -> int:
    """VmRSS once garbage is collected and malloc has handed its free pages back."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return vm_rss(os.getpid())


def measure(files: int, store: str, rrddir: Path) -> None:
    """Runs in its own process; prints 'bytes_per_file bytes_per_value files values'."""
    hosts = WARMUP_HOSTS + -(-files // FILES_PER_HOST)
    warmup = fleet_stream(WARMUP_HOSTS, 1)
    # The warm-up hosts come first in each cycle: in cycle 0 rrdd drops them as old.
    cycles = [fleet_stream(hosts, 1, T0 + 300 * c) for c in range(11)]
    settings = load_settings({"rrddir": str(rrddir)}, {})
    stats = Counts()
    writer = RrdWriter(
        rrddir, load_rras(settings), stats, store=Librrd() if store == "librrd" else NoStore()
    )
    dispatch(warmup, writer, stats)
    warm_files, before = tracked(writer), rss()
    dispatch(cycles[0], writer, stats)
    files, pending, after_first = tracked(writer), writer.pending(), rss()
    for cycle in cycles[1:]:
        dispatch(cycle, writer, stats)
    after_all = rss()
    per_file = (after_first - before) / (files - warm_files)
    per_value = (after_all - after_first) / (writer.pending() - pending)
    print(f"{per_file:.0f} {per_value:.0f} {files} {writer.pending()}")


def tracked(writer: RrdWriter) -> int:
    return writer.table.size


def rrdcached_baseline(rrddir: Path, work: Path) -> tuple[float, float]:
    """rrdcached's VmRSS growth per file it has a value for, and per further value."""
    daemon = Rrdcached(work)
    client = Client(daemon.sock)
    paths = [str(p) for p in rrddir.glob("*/*.rrd")]
    sizes = [vm_rss(daemon.proc.pid)]
    for n in range(12):  # later than the files' data; 22 characters, as rrdd's rows here
        client.batch([(path, [f"{T0 + 10**6 + 300 * n}:1234:5678:9"]) for path in paths])
        sizes.append(vm_rss(daemon.proc.pid))
    client.close()
    daemon.stop()
    return (sizes[1] - sizes[0]) / len(paths), (sizes[12] - sizes[1]) / (11 * len(paths))


def vm_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        measure(int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
        return
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    base = sys.argv[2] if len(sys.argv) > 2 else "/dev/shm"
    print(f"memory per tracked file, {files} files (+ {WARMUP_HOSTS * FILES_PER_HOST} warm-up)")
    work = Path(tempfile.mkdtemp(prefix="rrdd-memory-", dir=base))
    try:
        full: dict[str, float] = {}
        one: dict[str, float] = {}
        for store in ("librrd", "none"):
            rrddir = work / store
            argv = [sys.executable, __file__, "--one", str(files), store, str(rrddir)]
            out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
            per_file, per_value, _, _ = (int(x) for x in out.split())
            one[store], full[store] = per_file, per_file + 11 * per_value
            show(f"rrdd, store {store}", per_file, per_value, full[store])
        node, value = rrdcached_baseline(work / "librrd", work / "rrdcached")
        full["rrdcached"] = node + 11 * value
        show("baseline: rrdcached", node, value, full["rrdcached"])
        print(
            f"ratios: rrdd (librrd) per file with 1 value / 1 KB target: {one['librrd'] / 1024:.2f}"
        )
        print(
            f"  with 12 values, rrdd / rrdcached: {full['librrd'] / full['rrdcached']:.2f} (<= 1.5)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def show(what: str, per_file: float, per_value: float, full: float) -> None:
    print(f"  {what:20s} {per_file:5.0f} B per file with 1 value, {per_value:4.0f} B per ", end="")
    print(f"further value: {full:5.0f} B per file with 12 values")


if __name__ == "__main__":
    main()
