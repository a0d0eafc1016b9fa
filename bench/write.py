"""End-to-end write throughput of rrdd, direct and through rrdcached, against raw loops.

    python bench/write.py [--reference] [HOSTS] [CYCLES] [ROUNDS] [DIR]

The fleet stream (feed.py: 26 values per host and cycle; of its 27 updates, two are for
one file at one time, two tmpfs mounts, and rrdd drops one), or with --reference the
perf note's reference mix (15 messages and 42 values per host and cycle, the mix on
which the note measured T4's reference pipeline), is in a file. The RRD files
exist beforehand (made by rrdd's own create code) in DIR (default: the temp directory),
warm in the page cache and written back (os.sync) before each run. All runs use the same
files, each with timestamps later than the run before. rrdd runs in this process through
its real main loop, Daemon over RrdWriter built as cli.main builds them: that leaves
Python start-up and imports out (fleet.py times the command) and lets each baseline run
in the same process right after it. A round runs every mode once; the script prints the
median of the rounds, by wall time and by CPU time (this process's, plus rrdcached's in
rrdcached mode): the machine is shared, and CPU time is less disturbed by other work.

rrdd reads each file's header once before it writes to it, and touches its mtime after
each write; the baselines do neither. The files exist, so rrdd's creation workers have
nothing to do. The baselines:

- direct (rrdd's default cache): values wait until a file has 12; the rest go at the
  end. Baseline: `rrdtool.update(path, *rows)` for exactly the calls rrdd makes for this
  stream (same files, rows and grouping, recorded from rrdd's writer beforehand).
- direct --no-cache: rrdd makes one call per value. Baseline: `rrdtool.update(path, row)`
  for every value in stream order (the perf note's limit L for target T3).
- rrdcached: a private rrdcached (journal, -w 3600: it writes nothing during the run).
  rrdd sends one BATCH per 64 KB read. Baseline: a minimal client sends the same batches
  (recorded from the rrdd run), formatting an UPDATE line per value as rrdd does. The
  daemon's write-out (FLUSHALL until its queue is empty) is timed after the baseline.
- rrdcached with --workers=2: the same, through the router and two workers forked from
  this process (timed until the last worker has exited; their CPU time is counted).
  Against the same baseline.

Targets, as the perf note defines them (T3-T5): rrdd's direct mode >= 0.7 x the raw
update loop of one value per call (the loop a writer without a cache makes, the note's
limit L for T3); rrdcached mode >= 0.35 x the raw BATCH client and >= 3 x direct mode
of one value per call (--no-cache: the note's "direct mode" made one call per value).
Also printed, without a target: --no-cache against the same loop; direct against the
same 12-value calls (how much of rrdd's time is librrd's); rrdcached against direct.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import rrdtool
from common import (
    Call,
    Client,
    Recording,
    Rrdcached,
    Timer,
    median,
    prepare,
    run_rrdd,
    run_workers,
    shifted,
)
from feed import MIX, REFERENCE_ENV, REFERENCE_MIX, T0, fleet_stream

# text, mode, baseline mode, target (None: no target, shown for what it says)
RATIOS: tuple[tuple[str, str, str, float | None], ...] = (
    ("T3 rrdd direct / raw update, 1 value", "rrdd direct", "raw no-cache", 0.7),
    ("   rrdd --no-cache / raw update, 1 value", "rrdd no-cache", "raw no-cache", None),
    ("   rrdd direct / raw update, same calls", "rrdd direct", "raw direct", None),
    ("T4 rrdd rrdcached / raw BATCH", "rrdd rrdcached", "raw BATCH", 0.35),
    ("T4 rrdd rrdcached --workers=2 / raw BATCH", "rrdd rrdcached x2", "raw BATCH", 0.35),
    ("T4 rrdd rrdcached / rrdd --no-cache", "rrdd rrdcached", "rrdd no-cache", 3.0),
    ("   rrdd rrdcached / rrdd direct", "rrdd rrdcached", "rrdd direct", None),
)


class Bench:
    def __init__(
        self, work: Path, hosts: int, cycles: int, mix: tuple[str, ...], env: dict[str, str]
    ):
        self.work, self.hosts, self.cycles = work, hosts, cycles
        self.mix, self.env = mix, env
        self.rrddir, self.stream = work / "rrd", work / "stream"
        self.runs = itertools.count()
        data = fleet_stream(hosts, cycles, mix=mix)
        self.calls = {
            "direct": prepare(self.rrddir, data, env=env),
            "no-cache": prepare(self.rrddir, data, False, env=env),
        }
        self.values = sum(len(rows) for _, rows in self.calls["direct"])
        self.files = len({path for path, _ in self.calls["direct"]})

    def next_shift(self) -> int:
        """Seconds to add for the next run: one stream's span later than the last."""
        shift = next(self.runs) * 300 * self.cycles
        self.stream.write_bytes(fleet_stream(self.hosts, self.cycles, T0 + shift, self.mix))
        os.sync()
        return shift

    def raw(self, calls: list[Call], one_by_one: bool) -> Timer:
        calls = shifted(calls, self.next_shift())
        with Timer() as timer:
            for path, rows in calls:
                if one_by_one:
                    for row in rows:
                        rrdtool.update(path, row)
                else:
                    rrdtool.update(path, *rows)
        return timer

    def one_round(self) -> dict[str, Timer]:
        out: dict[str, Timer] = {}
        for label, cache in (("direct", True), ("no-cache", False)):
            self.next_shift()
            out[f"rrdd {label}"], stats = run_rrdd(
                self.rrddir, self.stream, cache=cache, env=self.env
            )
            assert stats["values_written"] == self.values, stats
            out[f"raw {label}"] = self.raw(self.calls[label], one_by_one=not cache)

        sent_at = self.next_shift()
        daemon = Rrdcached(Path(tempfile.mkdtemp(dir=self.work)))
        store = Recording(daemon.address, str(self.rrddir))
        out["rrdd rrdcached"], stats = run_rrdd(
            self.rrddir, self.stream, store=store, pid=daemon.proc.pid, env=self.env
        )
        assert stats["values_written"] == self.values, stats
        daemon.stop()  # no -F: the values stay in its journal, the files are not written
        self.batch_size = self.values / len(store.sent)

        self.next_shift()
        daemon = Rrdcached(Path(tempfile.mkdtemp(dir=self.work)))
        options = {"rrddir": str(self.rrddir), "rrdcached": daemon.address}
        out["rrdd rrdcached x2"], stats = run_workers(
            self.stream, 2, options, self.env, pid=daemon.proc.pid
        )
        assert stats["values_written"] == self.values, stats
        daemon.stop()

        shift = self.next_shift() - sent_at
        batches = [shifted(batch, shift) for batch in store.calls()]
        daemon = Rrdcached(Path(tempfile.mkdtemp(dir=self.work)))
        client = Client(daemon.sock)
        with Timer(daemon.proc.pid) as out["raw BATCH"]:
            errors = sum(client.batch(batch) for batch in batches)
        assert errors == 0, f"rrdcached refused {errors} values"
        self.write_out = client.flush_all(self.values)
        client.close()
        daemon.stop()
        return out


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / median(values)


def main() -> None:
    args = sys.argv[1:]
    reference = "--reference" in args
    args = [a for a in args if a != "--reference"]
    mix, env, name = (
        (REFERENCE_MIX, REFERENCE_ENV, "reference") if reference else (MIX, {}, "fleet")
    )
    hosts, cycles, rounds = (int(a) for a in (args + ["200", "12", "3"][len(args) :])[:3])
    work = Path(tempfile.mkdtemp(prefix="rrdd-bench-", dir=args[3] if len(args) > 3 else None))
    try:
        bench = Bench(work, hosts, cycles, mix, env)
        messages = hosts * cycles * len(mix)
        print(
            f"write path, {name} mix: {hosts} hosts x {cycles} cycles = {messages} messages, ",
            end="",
        )
        print(f"{bench.values} updates to {bench.files} existing files in {work}")
        results: dict[str, list[Timer]] = defaultdict(list)
        write_out = []
        for _ in range(rounds):
            for key, timer in bench.one_round().items():
                results[key].append(timer)
            write_out.append(bench.write_out)
        wall = {k: bench.values / median([t.wall for t in v]) for k, v in results.items()}
        cpu = {k: bench.values / median([t.cpu for t in v]) for k, v in results.items()}
        print(f"updates/s, median of {rounds} rounds; spread: (max - min) / median time")
        print(f"  {'mode':16s} {'wall':>9s} {'spread':>7s} {'per CPU s':>10s} {'spread':>7s}")
        for key, timers in results.items():
            walls, cpus = spread([t.wall for t in timers]), spread([t.cpu for t in timers])
            print(f"  {key:16s} {wall[key]:9.0f} {walls:7.0%} {cpu[key]:10.0f} {cpus:7.0%}")
        flush = median(write_out)
        print(f"  rrdcached: {bench.batch_size:.0f} values per BATCH; its write-out after")
        print(f"  FLUSHALL took {flush:.2f} s ({bench.values / flush:.0f} values/s)")
        print("ratios (wall, CPU) and targets:")
        for text, a, b, target in RATIOS:
            goal = "" if target is None else f">= {target}"
            print(f"  {text:42s} {wall[a] / wall[b]:5.2f} {cpu[a] / cpu[b]:5.2f}        {goal}")
        with_write_out = bench.values / (bench.values / wall["rrdd rrdcached"] + flush)
        for text, base, goal in (
            ("T5 rrdd rrdcached incl. write-out / --no-cache", "rrdd no-cache", ">= 2"),
            ("   rrdd rrdcached incl. write-out / direct", "rrdd direct", ""),
        ):
            print(f"  {text:48s} {with_write_out / wall[base]:5.2f}  {goal}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
