"""What three replicas and a copy for a second site cost, against one server, in one run.

    .venv/bin/python bench/nats_ha.py [--hosts 200] [--cycles 5] [--runs 3]

Each run takes every layout in turn, on fresh servers (JetStream in a temp dir):

- r1: one nats-server, a stream of one replica (what bench/nats_scaleout.py measures);
- r3: three nats-servers in a cluster on loopback, the stream with three replicas;
- r1+copy, r3+copy: the same, the relay also publishing the copy for a second site
  (nats_copy): a second publish of every message.

and measures, with the real commands:

- relay: `rrdd relay` publishing the whole feed to the empty stream, from its start to
  its exit (every message acknowledged): messages per second;
- end to end: two `rrdd worker`s already consuming (through one rrdcached) while the
  relay publishes the feed, from the relay's start until the stream has taken every
  message and the workers acknowledged it: messages per second.

It prints the median and the range of the runs, and each layout's ratio to r1 within a
run. Everything shares this machine's cores: the relay, one or three servers, the
workers and rrdcached.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
from common import RRDD, Rrdcached
from feed import MIX, fleet_stream

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.natsserver import NatsCluster, NatsServer  # noqa: E402

LAYOUTS = {"r1": (1, False), "r3": (3, False), "r1+copy": (1, True), "r3+copy": (3, True)}


def env() -> dict[str, str]:
    unset = ("XYMON", "NCV_", "SPLITNCV_", "TEST2RRD")
    return {k: v for k, v in os.environ.items() if not k.startswith(unset)}


def servers(work: Path, replicas: int) -> NatsServer | NatsCluster:
    (work / "nats").mkdir(parents=True)
    if replicas == 1:
        return NatsServer(work / "nats").start()
    return NatsCluster(work / "nats", replicas).start()


def state(urls: str) -> tuple[int, int]:
    """The stream's last sequence and the messages it holds."""

    async def ask() -> tuple[int, int]:
        nc = await nats.connect(urls.split(","))
        try:
            info = await nc.jetstream(timeout=5).stream_info("RRDD")
            return int(info.state.last_seq), int(info.state.messages)
        finally:
            await nc.close()

    return asyncio.run(ask())


def relay_argv(url: str, work: Path, replicas: int, copy: bool) -> list[str]:
    return [RRDD, "relay", f"--nats={url}", f"--nats-replicas={replicas}"] + (
        [f"--nats-spool-dir={work / 'spool'}"] + (["--nats-copy"] if copy else [])
    )


def relay_rate(work: Path, feed: Path, messages: int, replicas: int, copy: bool) -> float:
    """The relay alone, on fresh servers."""
    shutil.rmtree(work, ignore_errors=True)
    nats_servers = servers(work, replicas)
    try:
        with open(os.devnull, "rb") as empty:  # the stream made beforehand, as in service
            subprocess.run(
                relay_argv(nats_servers.url, work, replicas, copy),
                stdin=empty,
                capture_output=True,
                env=env(),
                check=True,
            )
        started = time.perf_counter()
        with open(feed, "rb") as stream:
            done = subprocess.run(
                relay_argv(nats_servers.url, work, replicas, copy),
                stdin=stream,
                capture_output=True,
                env=env(),
            )
        wall = time.perf_counter() - started
        if done.returncode or state(nats_servers.url)[0] != messages:
            raise RuntimeError(f"the relay failed: {done.stderr.decode()[-2000:]}")
        return messages / wall
    finally:
        nats_servers.kill()


def end_to_end(work: Path, feed: Path, messages: int, replicas: int, copy: bool) -> float:
    """The relay publishing while two workers consume, on fresh servers."""
    shutil.rmtree(work, ignore_errors=True)
    nats_servers = servers(work, replicas)
    cached = Rrdcached(work / "rrd")
    workers: list[subprocess.Popen[bytes]] = []
    try:
        url = nats_servers.url
        with open(os.devnull, "rb") as empty:
            subprocess.run(
                relay_argv(url, work, replicas, copy),
                stdin=empty,
                capture_output=True,
                env=env(),
                check=True,
            )
        for i in range(2):
            with open(work / f"worker{i}.log", "wb") as log:
                workers.append(
                    subprocess.Popen(
                        [RRDD, "worker", f"--nats={url}", f"--worker={i}/2"]
                        + [f"--rrddir={work / 'rrd'}", f"--rrdcached={cached.address}"],
                        stderr=log.fileno(),
                        env=env(),
                    )
                )
        while any(
            "consumes partitions" not in (work / f"worker{i}.log").read_text() for i in range(2)
        ):
            time.sleep(0.05)
        started = time.perf_counter()
        with open(feed, "rb") as stream:
            relay = subprocess.Popen(
                relay_argv(url, work, replicas, copy),
                stdin=stream,
                stderr=subprocess.DEVNULL,
                env=env(),
            )
        while state(url) != (messages, 0):
            time.sleep(0.05)
        wall = time.perf_counter() - started
        relay.wait()
        return messages / wall
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait()
        cached.stop()
        nats_servers.kill()


def show(name: str, values: list[float], base: list[float] | None = None) -> None:
    text = f"  {name:24} {statistics.median(values):8.0f}  [{min(values):.0f}, {max(values):.0f}]"
    if base is not None:
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        text += f"   x{statistics.median(ratios):.2f} of r1 [{min(ratios):.2f}, {max(ratios):.2f}]"
    print(text)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", type=int, default=200)
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    top = Path(tempfile.mkdtemp(prefix="rrdd-bench-ha-"))
    feed = top / "feed.msgs"
    feed.write_bytes(fleet_stream(args.hosts, args.cycles))
    messages = args.hosts * args.cycles * len(MIX)
    print(f"feed: {messages} messages, {feed.stat().st_size >> 10} KiB; {args.runs} runs")
    relay: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    e2e: dict[str, list[float]] = {name: [] for name in ("r1", "r3")}
    for run in range(args.runs):
        for name, (replicas, copy) in LAYOUTS.items():
            relay[name].append(relay_rate(top / "work", feed, messages, replicas, copy))
            if name in e2e:
                e2e[name].append(end_to_end(top / "work", feed, messages, replicas, copy))
        print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in relay.items()))
    print("\nrelay, messages/s: median [min, max]")
    for name, values in relay.items():
        show(name, values, None if name == "r1" else relay["r1"])
    print("\nend to end (relay + 2 workers through rrdcached), messages/s")
    for name, values in e2e.items():
        show(name, values, None if name == "r1" else e2e["r1"])
    shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
