"""How long a three-node cluster stops taking messages when nodes are killed, and how long
a node that comes back takes to catch up, with the real relay and workers.

    .venv/bin/python bench/nats_failover.py [--runs 3] [--rate 300]

Each run starts three nats-servers (tests/natsserver.py NatsCluster), `rrdd relay
--nats-replicas=3` fed --rate messages per second (30 hosts' cpu reports) and two `rrdd
worker`s, and then, one after the other:

- kills the stream's leader with SIGKILL: the seconds until the stream stores a new
  message (a new leader, and the relay publishing its spool), and until the node, started
  again, holds the stream's last message (its own /jsz page);
- kills a follower: the same;
- kills the leader and a follower: the stream stores nothing; one is started again: the
  seconds from that start until the stream stores again.

At the end the feed stops and the stream must hold every message the relay read, each
acknowledged by the workers: it prints what it lost (0 expected).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from common import RRDD

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.natsserver import NatsCluster, NatsServer  # noqa: E402
from tests.test_cli import clean_env, cpu  # noqa: E402
from tests.test_nats_ha import stored  # noqa: E402

HOSTS = [f"h{i}" for i in range(30)]


def wait(condition: Callable[[], bool], limit: float = 120.0) -> float:
    """Seconds until `condition()` holds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > limit:
            raise RuntimeError("timed out")
        time.sleep(0.02)
    return time.monotonic() - started


class Feed(threading.Thread):
    """cpu reports of HOSTS, `rate` a second, into the relay's stdin until stopped."""

    def __init__(self, stdin: object, rate: float):
        super().__init__()
        self.stdin, self.rate, self.sent, self.running = stdin, rate, 0, True

    def run(self) -> None:
        started = time.monotonic()
        while self.running:
            due = int((time.monotonic() - started) * self.rate)
            block = b"".join(
                cpu(n + 1, HOSTS[n % len(HOSTS)], 1795313100 + 300 * (n // len(HOSTS)), "1.0")
                for n in range(self.sent, due)
            )
            if block:
                self.stdin.write(block)  # type: ignore[attr-defined]
                self.stdin.flush()  # type: ignore[attr-defined]
                self.sent = due
            time.sleep(0.01)


def last_held(node: NatsServer) -> int:
    """The last sequence of the node's own copy of the stream (its /jsz page), -1 if none."""
    try:
        page = node.monitoring("/jsz?streams=true")
    except OSError:
        return -1
    streams = [s for a in page.get("account_details") or [] for s in a.get("stream_detail") or []]
    return max((int(s["state"]["last_seq"]) for s in streams if s["name"] == "RRDD"), default=-1)


def outage(cluster: NatsCluster, victims: list[NatsServer]) -> float:
    """Kill the victims; the seconds until the stream stores a new message."""
    before = stored(cluster)
    for v in victims:
        v.kill()
    return wait(lambda: stored(cluster) > before + 1)


def one_run(work: Path, rate: float) -> dict[str, float]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "rrd").mkdir()
    cluster = NatsCluster(work).start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        relay = subprocess.Popen(
            [RRDD, "relay", f"--nats={cluster.url}", "--nats-replicas=3"]
            + [f"--nats-spool-dir={work / 'spool'}"],
            stdin=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=clean_env(),
        )
        procs.append(relay)
        wait(lambda: cluster.stream() is not None)
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [RRDD, "worker", f"--nats={cluster.url}", f"--worker={i}/2"]
                    + [f"--rrddir={work / 'rrd'}", "--nats-ack-wait=5"],
                    stderr=(work / f"worker{i}.log").open("wb"),
                    env=clean_env(),
                )
            )
        feed = Feed(relay.stdin, rate)
        feed.start()
        out: dict[str, float] = {}
        try:
            wait(lambda: stored(cluster) > rate)
            for name in ("leader", "follower"):
                leader = cluster.leader()
                victim = (
                    leader
                    if name == "leader"
                    else next(n for n in cluster.nodes if n is not leader)
                )
                out[f"{name} killed: no store for"] = outage(cluster, [victim])
                victim.start()
                started, target = time.monotonic(), stored(cluster)
                wait(lambda v=victim, t=target: last_held(v) >= t)  # type: ignore[misc]
                out[f"{name} back: caught up in"] = time.monotonic() - started
                wait(cluster.current)
            leader = cluster.leader()
            follower = next(n for n in cluster.nodes if n is not leader)
            survivor = next(n for n in cluster.nodes if n not in (leader, follower))
            leader.kill()
            follower.kill()
            time.sleep(5)  # without a quorum: nothing can be stored meanwhile
            outage_start = last_held(survivor)  # what the stream held when it lost quorum
            time.sleep(5)
            assert stored(cluster) in (-1, outage_start), "stored without a quorum"
            assert last_held(survivor) == outage_start, "stored without a quorum"
            follower.start()
            out["2 of 3 killed, 1 back: stores again in"] = wait(
                lambda: stored(cluster) > outage_start + 1
            )
            leader.start()
            wait(cluster.current)
        finally:
            feed.running = False
            feed.join()
        assert relay.stdin is not None
        relay.stdin.close()
        relay.wait(120)
        try:
            wait(lambda: (info := cluster.stream()) is not None and info.state.messages == 0)
        except RuntimeError:
            info = cluster.stream()
            print(f"stream not emptied: {info.state if info else 'no leader'}")
            for i in range(2):
                lines = (work / f"worker{i}.log").read_text().splitlines()[-15:]
                print(f"worker {i}:", *lines, sep="\n  ")
            raise
        out["lost"] = feed.sent - stored(cluster)
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait()
        cluster.kill()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--rate", type=float, default=300.0)
    args = p.parse_args()
    top = Path(tempfile.mkdtemp(prefix="rrdd-bench-failover-"))
    runs = []
    for run in range(args.runs):
        runs.append(one_run(top / "work", args.rate))
        print(f"run {run + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in runs[-1].items()))
    print(f"\n{args.runs} runs, {args.rate:g} messages/s: median [min, max] seconds")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(
            f"  {key:40} {statistics.median(values):6.1f}  [{min(values):.1f}, {max(values):.1f}]"
        )
    shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
