"""NATS scale-out against one stdin-mode rrdd, on the same feed, on this machine.

    .venv/bin/python bench/nats_scaleout.py [--hosts 200] [--cycles 5] [--runs 3]

Each run starts a fresh nats-server (JetStream in a temp dir) and a private rrdcached,
then measures, with the real commands:

- relay: `rrdd relay` publishing the whole feed, every message acknowledged by the
  stream: messages per second once it runs (the time of a run on an empty feed, the
  interpreter's start, the connection and the stream's check, taken off; a relay runs
  for months), and with its start counted (relay_msg_s_all);
- workers: 1 and 2 `rrdd worker --drain` writing that backlog through rrdcached, from
  their start to the last one's exit: messages per second;
- stdin: one `rrdd --rrdcached` reading the same feed from a file;
- CPU per message: relay + workers + nats-server, against stdin-mode rrdd (rrdcached's
  own CPU left out of both).

Everything shares this machine's cores; the per-message CPU is what projects to more
machines (README, "Scaling out").
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RRDD, Rrdcached, cpu_of
from feed import MIX, fleet_stream

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.natsserver import NatsServer  # noqa: E402


def children_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def timed(argv: list[str], stdin: Path | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one command run to its end."""
    cpu, wall = children_cpu(), time.perf_counter()
    with open(stdin or os.devnull, "rb") as feed:
        done = subprocess.run(argv, stdin=feed, capture_output=True, env=env())
    if done.returncode:
        raise RuntimeError(f"{argv[:2]} failed: {done.stderr.decode()[-2000:]}")
    return time.perf_counter() - wall, children_cpu() - cpu


def timed_all(argvs: list[list[str]]) -> tuple[float, float]:
    cpu, wall = children_cpu(), time.perf_counter()
    procs = [subprocess.Popen(a, stderr=subprocess.PIPE, env=env()) for a in argvs]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise RuntimeError(err.decode()[-2000:])
    return time.perf_counter() - wall, children_cpu() - cpu


def env() -> dict[str, str]:
    unset = ("XYMON", "NCV_", "SPLITNCV_", "TEST2RRD")
    return {k: v for k, v in os.environ.items() if not k.startswith(unset)}


def one_run(work: Path, feed: Path, messages: int, workers: int) -> dict[str, float]:
    shutil.rmtree(work, ignore_errors=True)
    (work / "nats").mkdir(parents=True)
    server = NatsServer(work / "nats").start()
    assert server.proc is not None
    try:
        cached = Rrdcached(work / "rrd")
        try:
            relay = [RRDD, "relay", f"--nats={server.url}", f"--nats-spool-dir={work / 'spool'}"]
            server_cpu = cpu_of(server.proc.pid)
            start_wall, start_cpu = timed(relay, None)  # no message: the start alone
            start_cpu += cpu_of(server.proc.pid) - server_cpu
            server_cpu = cpu_of(server.proc.pid)
            wall, cpu = timed(relay, feed)
            relay_cpu = cpu + cpu_of(server.proc.pid) - server_cpu
            out = {
                "relay_msg_s": messages / max(wall - start_wall, 1e-3),
                "relay_msg_s_all": messages / wall,
                "relay_cpu_us": 1e6 * max(relay_cpu - start_cpu, 0.0) / messages,
            }
            argvs = [
                [RRDD, "worker", f"--nats={server.url}", f"--worker={i}/{workers}", "--drain"]
                + [f"--rrddir={work / 'rrd'}", f"--rrdcached={cached.address}"]
                for i in range(workers)
            ]
            server_cpu = cpu_of(server.proc.pid)
            wall, cpu = timed_all(argvs)
            worker_cpu = cpu + cpu_of(server.proc.pid) - server_cpu
            out["workers_msg_s"] = messages / wall
            out["nats_cpu_us"] = 1e6 * (relay_cpu + worker_cpu) / messages
        finally:
            cached.stop()
    finally:
        server.kill()
    shutil.rmtree(work / "rrd", ignore_errors=True)
    cached = Rrdcached(work / "rrd")
    try:
        stdin = [RRDD, f"--rrddir={work / 'rrd'}", f"--rrdcached={cached.address}"]
        wall, cpu = timed(stdin, feed)
        out["stdin_msg_s"] = messages / wall
        out["stdin_cpu_us"] = 1e6 * cpu / messages
    finally:
        cached.stop()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", type=int, default=200)
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    top = Path(tempfile.mkdtemp(prefix="rrdd-bench-nats-"))
    feed = top / "feed.msgs"
    feed.write_bytes(fleet_stream(args.hosts, args.cycles))
    messages = args.hosts * args.cycles * len(MIX)
    print(f"feed: {messages} messages, {feed.stat().st_size >> 10} KiB")
    for workers in (1, 2):
        runs = [one_run(top / "work", feed, messages, workers) for _ in range(args.runs)]
        print(f"\n{workers} worker(s), {args.runs} runs: median [min, max]")
        for key in runs[0]:
            values = [r[key] for r in runs]
            print(
                f"  {key:15} {statistics.median(values):10.0f}"
                f"  [{min(values):.0f}, {max(values):.0f}]"
            )
        ratio = [r["workers_msg_s"] / r["stdin_msg_s"] for r in runs]
        print(
            f"  workers/stdin   {statistics.median(ratio):10.2f}"
            f"  [{min(ratio):.2f}, {max(ratio):.2f}]"
        )
    shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
