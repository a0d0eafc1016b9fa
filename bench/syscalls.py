"""System calls per RRD update of the rrdd command in direct mode (strace -f -c).

    python bench/syscalls.py [HOSTS] [CYCLES]

The files exist beforehand (made by rrdd's own create code). rrdd runs as the command,
under `strace -f -c`, on the fleet stream from a file, once with CYCLES cycles and once
with twice as many, later in time on the same files. The difference between the two
runs holds no start-up, no first sight of a file (exists + rrdtool.info) and no
shutdown, only steady updates: it is divided by the difference in values written.
Both with rrdd's cache (12 values per librrd call) and with --no-cache (one per call).

The baseline, measured the same way in the same run: a Python loop of rrdtool.update,
one value per call, for the same updates. The perf note found librrd's floor of 9 system
calls per call (openat, newfstatat, fcntl, mmap, 3 madvise, munmap, close). Target:
<= 10 per update with one value per call, i.e. no per-update stat or exists.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from common import RRDD, prepare
from feed import T0, fleet_stream

FLOOR = 9  # openat, newfstatat, fcntl, mmap, 3 x madvise, munmap, close (perf note)


def strace_counts(path: Path) -> Counter[str]:
    """The calls column of an `strace -c` summary, by system call name."""
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[3].isdigit() and parts[-1] != "total":
            counts[parts[-1]] += int(parts[3])
    return counts


class Run(NamedTuple):
    syscalls: Counter[str]
    values: int  # values written, from rrdd's closing log line
    calls: int  # librrd update calls (rrd_writes)


def traced_run(rrddir: Path, work: Path, data: bytes, *options: str) -> Run:
    stream, out = work / "stream", work / "strace.txt"
    stream.write_bytes(data)
    argv = ["strace", "-f", "-c", "-o", str(out), RRDD, f"--rrddir={rrddir}", *options]
    with stream.open("rb") as stdin:
        run = subprocess.run(argv, stdin=stdin, capture_output=True, text=True, check=True)
    totals = dict(re.findall(r"(\w+) (\d+)", run.stderr.rsplit("Totals: ", 1)[-1]))
    return Run(strace_counts(out), int(totals["values_written"]), int(totals["rrd_writes"]))


RAW = """
import json, sys, rrdtool
for path, row in json.load(open(sys.argv[1])):
    rrdtool.update(path, row)
"""


def raw_run(rrddir: Path, work: Path, data: bytes) -> Run:
    """The baseline: a Python loop of rrdtool.update, one value per call, same updates."""
    calls = [(path, row) for path, rows in prepare(rrddir, data, cache=False) for row in rows]
    (work / "calls.json").write_text(json.dumps(calls))
    out = work / "strace.txt"
    argv = ["strace", "-f", "-c", "-o", str(out), sys.executable, "-c", RAW]
    subprocess.run([*argv, str(work / "calls.json")], check=True)
    return Run(strace_counts(out), len(calls), len(calls))


def report(label: str, short: Run, long: Run, floor: float) -> float:
    """Print the steady syscalls per update and per librrd call; return the latter."""
    values, calls = long.values - short.values, long.calls - short.calls
    total = long.syscalls.total() - short.syscalls.total()
    per_call = total / calls
    print(f"  {label}: {values} more updates in {calls} more librrd calls")
    print(f"    {total / values:.2f} syscalls per update, {per_call:.2f} per call", end="")
    print(f" (x {per_call / floor:.2f} the raw loop's); whole run, with start-up: ", end="")
    print(f"{long.syscalls.total() / long.values:.2f} per update")
    diff = long.syscalls - short.syscalls  # only for the ranking
    print("    per update: " + ", ".join(f"{k} {n / values:.2f}" for k, n in diff.most_common(9)))
    return per_call


def main() -> None:
    args = sys.argv[1:]
    hosts, cycles = (int(a) for a in (args + ["20", "12"][len(args) :])[:2])
    work = Path(tempfile.mkdtemp(prefix="rrdd-syscalls-"))
    try:
        rrddir = work / "rrd"
        prepare(rrddir, fleet_stream(hosts, 1))
        files = sum(1 for _ in rrddir.glob("*/*"))
        print(f"syscalls, direct mode, {hosts} hosts, {cycles} and {2 * cycles} cycles on ", end="")
        print(f"{files} existing files (perf note's floor: {FLOOR} per librrd call)")
        start, floor = T0 + 3600, float(FLOOR)
        for options in (None, (), ("--no-cache",)):
            runs = []
            for n in (cycles, 2 * cycles):
                data = fleet_stream(hosts, n, start)
                if options is None:
                    runs.append(raw_run(rrddir, work, data))
                else:
                    runs.append(traced_run(rrddir, work, data, *options))
                start += 300 * n
            if options is None:
                floor = report("baseline, raw rrdtool.update loop", *runs, floor)
            else:
                report("rrdd " + (" ".join(options) or "(cache, the default)"), *runs, floor)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
