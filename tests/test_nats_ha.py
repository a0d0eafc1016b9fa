"""rrdd relay and workers over a three-node JetStream cluster (tests/natsserver.py).

Each test starts its own cluster: three nats-servers on loopback, routes between them,
each with its own JetStream directory. The stream has three replicas. A node is killed
with SIGKILL while the relay publishes and the workers consume; the files must be what
one plain rrdd writes from the same stream. A cluster elects a new leader 4 to 9 s
after it lost one (nats-server's own timers), so these tests take that long at least.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest

from tests.helpers import rrd_contents, wait_until
from tests.natsserver import Link, NatsCluster, NatsServer, free_port
from tests.test_cli import RRDD, clean_env, control, cpu, run
from tests.test_nats import (
    FAST,
    SAMPLE,
    T0,
    drained,
    every_load,
    relay,
    rounds,
    totals,
    worker,
    worker_of,
)

R3 = "--nats-replicas=3"
HOSTS = [f"h{i}" for i in range(30)]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    c = NatsCluster(tmp_path).start()
    yield c
    c.kill()


RUNNING: list[subprocess.Popen[bytes]] = []  # the rrdd processes a test started


@pytest.fixture(autouse=True)
def reaper() -> Iterator[None]:
    """No rrdd outlives its test, whatever the test's end."""
    yield
    while RUNNING:
        proc = RUNNING.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Relay:
    """rrdd relay on the cluster, fed by the test, its log in a file."""

    def __init__(self, cluster: NatsCluster, where: Path):
        self.log = where / "relay.log"
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [RRDD, "relay", f"--nats={cluster.url}", R3, f"--nats-spool-dir={where}/spool"],
                stdin=subprocess.PIPE,
                stderr=err.fileno(),
                env=clean_env(),
            )
        RUNNING.append(self.proc)
        assert self.proc.stdin is not None
        self.stdin = self.proc.stdin
        self.spool = where / "spool"

    def send(self, data: bytes) -> None:
        self.stdin.write(data)
        self.stdin.flush()

    def feed(self, chunks: list[bytes], pause: float) -> threading.Thread:
        """Send the chunks one by one, `pause` seconds apart, beside the test."""

        def send_all() -> None:
            for chunk in chunks:
                self.send(chunk)
                time.sleep(pause)

        thread = threading.Thread(target=send_all)
        thread.start()
        return thread

    def spooled(self) -> int:
        return sum(f.stat().st_size for f in self.spool.glob("*.seg"))

    def end(self) -> str:
        self.stdin.close()
        assert self.proc.wait(60) == 0, self.log.read_text()
        return self.log.read_text()


def by_round(stream: bytes) -> list[bytes]:
    """A stream of rounds (tests/test_nats.py rounds) cut into its rounds."""
    messages = [m + b"\n@@\n" for m in stream.split(b"\n@@\n")[:-1]]
    return [b"".join(messages[i : i + len(HOSTS)]) for i in range(0, len(messages), len(HOSTS))]


def start_workers(
    cluster: NatsCluster, rrddir: Path, count: int, *args: str
) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(count):
        with open(rrddir.parent / f"worker{i}.log", "wb") as err:
            procs.append(
                subprocess.Popen(
                    [RRDD, "worker", f"--nats={cluster.url}", f"--worker={i}/{count}"]
                    + [f"--rrddir={rrddir}", *FAST, "--nats-batch=20", *args],
                    stderr=err.fileno(),
                    env=clean_env(),
                )
            )
    RUNNING.extend(procs)
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]], logs: Path) -> list[str]:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for i, proc in enumerate(procs):
        assert proc.wait(60) == 0, (logs / f"worker{i}.log").read_text()
    return [(logs / f"worker{i}.log").read_text() for i in range(len(procs))]


def tool(where: NatsCluster | NatsServer, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [RRDD, *args, f"--nats={where.url}"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def stored(cluster: NatsCluster) -> int:
    """Messages the stream ever took (its last sequence), -1 while it has no leader."""
    info = cluster.stream()
    return int(info.state.last_seq) if info is not None else -1


def consumed(cluster: NatsCluster, count: int) -> bool:
    """The stream took `count` messages and every one was acknowledged (a work queue
    deletes what its consumer acknowledged)."""
    info = cluster.stream()
    return info is not None and info.state.last_seq == count and info.state.messages == 0


def caught_up(node: NatsServer, count: int) -> bool:
    """The node's own copy of the stream holds all `count` messages (its monitoring page)."""
    try:
        page = node.monitoring("/jsz?streams=true")
    except OSError:
        return False
    streams = [s for a in page.get("account_details") or [] for s in a.get("stream_detail") or []]
    return any(s["name"] == "RRDD" and s["state"]["last_seq"] == count for s in streams)


@pytest.mark.parametrize("victim", ["leader", "follower"])
def test_one_node_of_three_killed_mid_stream(
    tmp_path: Path, cluster: NatsCluster, victim: str
) -> None:
    """Nothing lost, nothing reordered: the files are those of one rrdd on the stream.
    The killed node comes back and catches up."""
    count = 10
    stream = rounds(HOSTS, count)
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    relay = Relay(cluster, tmp_path)
    workers = start_workers(cluster, rrddir, 2)
    wait_until(lambda: cluster.stream() is not None, 60)  # the relay made it
    feeding = relay.feed(by_round(stream), 0.2)
    wait_until(lambda: stored(cluster) >= 3 * len(HOSTS), 60)
    leader = cluster.leader()
    if victim == "leader":
        target = leader
    else:  # a follower, the one most rrdd processes are connected to
        followers = [n for n in cluster.nodes if n is not leader]
        target = max(followers, key=lambda n: len(cluster.clients(n)))
    target.kill()
    wait_until(lambda: tool(cluster, "check")[0] == 1, 60)  # WARNING: a replica is not current
    feeding.join()
    wait_until(lambda: stored(cluster) == len(HOSTS) * count, 90)
    log = relay.end()
    assert totals(log)["relay_messages"] == len(HOSTS) * count
    wait_until(lambda: consumed(cluster, len(HOSTS) * count), 90)
    stop_workers(workers, tmp_path)

    one = tmp_path / "one"
    one.mkdir()
    assert run(one, stream).returncode == 0
    assert rrd_contents(rrddir) == rrd_contents(one)

    code, top = tool(cluster, "top", "--once", "--interval=0.1")
    assert code == 0 and (f"{target.name} behind" in top or f"{target.name} offline" in top), top
    target.start()
    wait_until(lambda: caught_up(target, len(HOSTS) * count), 60)
    wait_until(cluster.current, 60)
    code, top = tool(cluster, "top", "--once", "--interval=0.1")
    assert code == 0 and f"{target.name} current" in top, top


def test_two_nodes_of_three_lost_then_back(tmp_path: Path, cluster: NatsCluster) -> None:
    """Without a quorum the stream takes nothing: the relay spools, and publishes the
    spool once a second node is back; the third catches up when it returns."""
    count = 6
    stream = by_round(rounds(HOSTS, count))
    relay = Relay(cluster, tmp_path)
    relay.send(b"".join(stream[:2]))
    wait_until(lambda: stored(cluster) == 2 * len(HOSTS), 60)
    leader = cluster.leader()
    follower = next(n for n in cluster.nodes if n is not leader)
    leader.kill()
    follower.kill()
    relay.send(b"".join(stream[2:]))
    wait_until(lambda: relay.spooled() > 0, 30)
    assert stored(cluster) == -1  # no leader: nothing is taken
    follower.start()
    wait_until(lambda: stored(cluster) == count * len(HOSTS), 90)
    log = relay.end()
    counts = totals(log)
    assert counts["relay_spooled"] > 0 and counts["relay_replayed"] >= counts["relay_spooled"]
    assert "The spool is published" in log
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    (drain,) = start_workers(cluster, rrddir, 1, "--drain")
    assert drain.wait(60) == 0, (tmp_path / "worker0.log").read_text()
    every_load(rrddir, HOSTS, count)
    leader.start()
    wait_until(lambda: caught_up(leader, count * len(HOSTS)), 60)


def test_replicas_are_reported_not_changed(tmp_path: Path, cluster: NatsCluster) -> None:
    relay(cluster, tmp_path, b"", R3)
    other = subprocess.run(
        [RRDD, "relay", f"--nats={cluster.url}", f"--nats-spool-dir={tmp_path / 'spool'}"],
        input=b"",
        capture_output=True,
        env=clean_env(),
        timeout=60,
    )
    assert other.returncode == 2
    assert b"has 3 replicas and nats_replicas is 1" in other.stderr
    info = cluster.stream()
    assert info is not None and info.config.num_replicas == 3
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    drained(worker(cluster, rrddir, "0/1", "--drain"))  # makes the leases' bucket
    assert cluster.stream("KV_RRDD_leases").config.num_replicas == 3


def last_seq(server: NatsServer, stream: str) -> int:
    async def ask(nc: nats.NATS) -> int:
        return int((await nc.jetstream(timeout=2).stream_info(stream)).state.last_seq)

    try:
        return server.call(ask)
    except (nats.errors.Error, TimeoutError, OSError):
        return -1


def test_a_standby_site_gets_every_message_also_while_the_link_was_down(tmp_path: Path) -> None:
    """The main site's relay keeps a copy (--nats-copy); the standby site's server,
    linked to it as a leafnode, mirrors it (rrdd standby), and its worker writes the
    files the main site's worker writes, though the link was cut while the relay
    published and the main site's worker took everything."""
    leaf = free_port()
    for name in ("main", "standby"):
        (tmp_path / name).mkdir()
    link = Link(leaf)
    main = NatsServer(  # which tells the standby site to come back through the link
        tmp_path / "main",
        name="main",
        domain="main",
        extra=f'leafnodes {{ listen: 127.0.0.1:{leaf}, advertise: "127.0.0.1:{link.port}" }}\n',
    )
    standby = NatsServer(
        tmp_path / "standby",
        name="standby",
        domain="standby",
        extra=f'leafnodes {{ remotes: [ {{ url: "nats-leaf://127.0.0.1:{link.port}" }} ] }}\n',
    )
    try:
        main.start()
        standby.start()
        hosts = [f"host{i}.example.com" for i in range(12)]
        old = next(h for h in hosts if worker_of(h) == 0)
        new = next(f"renamed{i}" for i in range(100) if worker_of(f"renamed{i}") == 1)
        before = SAMPLE.read_bytes() + rounds(hosts, 3, seq=100)
        during = (
            control(200, "drophost", hosts[1])
            + control(201, "renamehost", old, new)
            + b"".join(cpu(300 + r, new, T0 + 900 + 300 * r, f"9.{r}") for r in range(2))
        )
        relay(main, tmp_path, before, "--nats-copy")

        def make_standby() -> bool:
            done = subprocess.run(
                [RRDD, "standby", f"--nats={standby.url}", "--nats-copy-from=main"],
                capture_output=True,
                text=True,
                env=clean_env(),
                timeout=60,
            )
            return done.returncode == 0 and "mirror of RRDD_COPY" in done.stdout

        wait_until(make_standby, 60)  # once the leafnode link is up
        copied = last_seq(main, "RRDD_COPY")
        assert copied == last_seq(main, "RRDD") > 0
        wait_until(lambda: last_seq(standby, "RRDD") == copied, 30)

        link.cut()
        relay(main, tmp_path, during, "--nats-copy")
        one = tmp_path / "one"
        one.mkdir()
        drained(worker(main, one, "0/1", "--drain"))  # the work queue is empty now
        assert last_seq(main, "RRDD_COPY") > copied
        assert last_seq(standby, "RRDD") == copied  # nothing came through the cut link
        link.mend()
        wait_until(lambda: last_seq(standby, "RRDD") == last_seq(main, "RRDD_COPY"), 60)
        code, top = tool(standby, "top", "--once", "--interval=0.1")
        assert code == 0 and "mirror of RRDD_COPY of domain main: 0 behind" in top, top

        two = tmp_path / "two"
        two.mkdir()
        log = drained(worker(standby, two, "0/1", "--drain"))
        assert "ERROR" not in log, log
        plain = tmp_path / "plain"
        plain.mkdir()
        assert run(plain, before + during).returncode == 0
        assert rrd_contents(two) == rrd_contents(one) == rrd_contents(plain)
        assert not (two / old).exists() and (two / new / "la.rrd").exists()
        link.cut()
        wait_until(lambda: tool(standby, "check", "--stale=2")[0] == 1, 30)
        assert "mirror of RRDD_COPY of domain main" in tool(standby, "check", "--stale=2")[1]
    finally:
        main.kill()
        standby.kill()
        link.close()
