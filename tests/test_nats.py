"""rrdd relay and rrdd worker over a real nats-server (tests/natsserver.py).

Each test starts its own server on a free loopback port with JetStream in a temp dir;
ack_wait and the lease lifetime are a second or two, so that redeliveries come fast.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
import rrdtool
from nats.js import api

from rrdd.nats.common import fnv1a32, host_token, partition_of
from rrdd.nats.spool import Record, Spool
from tests.helpers import rrd_contents, wait_until
from tests.natsserver import NatsCluster, NatsServer
from tests.test_cli import RRDD, T0, clean_env, control, cpu, run

FAST = ("--nats-ack-wait=1", "--nats-lease-ttl=2")
B = T0 - T0 % 300 + 300  # the first step boundary after T0: rounds fill whole steps
SAMPLE = Path(__file__).parent.parent / "extras" / "sample-feed.msgs"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    (tmp_path / "nats").mkdir()
    s = NatsServer(tmp_path / "nats").start()
    yield s
    s.kill()


def relay(server: NatsServer | NatsCluster, tmp_path: Path, stream: bytes, *args: str) -> str:
    done = subprocess.run(
        [RRDD, "relay", f"--nats={server.url}", f"--nats-spool-dir={tmp_path / 'spool'}", *args],
        input=stream,
        capture_output=True,
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stderr.decode()


def worker(
    server: NatsServer | NatsCluster, rrddir: Path, which: str, *args: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [RRDD, "worker", f"--nats={server.url}", f"--worker={which}", f"--rrddir={rrddir}"]
        + [*FAST, *args],
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def drained(proc: subprocess.Popen[str]) -> str:
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def totals(log: str) -> Counter[str]:
    line = [x for x in log.splitlines() if "Totals:" in x][-1]
    return Counter({k: int(v) for k, v in re.findall(r"(\w+) (\d+)", line.partition("Totals:")[2])})


def worker_of(host: str, workers: int = 2, partitions: int = 32) -> int:
    return partition_of(host_token(host.encode()), partitions) % workers


def rounds(hosts: list[str], count: int, seq: int = 1) -> bytes:
    """`count` cpu reports of every host, 300 s apart, a load of its own each."""
    return b"".join(
        cpu(seq + r * len(hosts) + i, h, B + 300 * r, f"{r}.{i:02d}")
        for r in range(count)
        for i, h in enumerate(hosts)
    )


def every_load(rrddir: Path, hosts: list[str], count: int) -> None:
    """Each host's la.rrd has every round's load, in its own step: nothing lost or
    reordered (librrd drops a value older than the last, and GAUGE fills its step with
    the next one). The la parser keeps load x 100."""
    for i, h in enumerate(hosts):
        (start, _, step), _, rows = rrdtool.fetch(
            str(rrddir / h / "la.rrd"),
            "AVERAGE",
            "-r",
            "300",
            "-s",
            str(B),
            "-e",
            str(B + 300 * (count - 1)),
        )
        got = {start + step * (k + 1): row[0] for k, row in enumerate(rows)}  # end times
        want = {B + 300 * r: 100.0 * r + i for r in range(1, count)}
        assert {t: got.get(t) for t in want} == pytest.approx(want), h


def test_partition_is_fnv1a_of_the_host_token() -> None:
    assert fnv1a32(b"") == 0x811C9DC5 and fnv1a32(b"a") == 0xE40C292C
    assert host_token(b"www.xymon.org") == "www,xymon,org"
    assert host_token(b"a b*c>d\xff") == "a_b_c_d_"
    assert partition_of("www,xymon,org", 32) == fnv1a32(b"www,xymon,org") % 32


def test_spool_keeps_records_in_order_across_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", 1 << 20)
    records = [Record(f"id{i}", f"rrdd.part.{i % 3}.h", b"x" * i) for i in range(50)]
    for r in records:
        assert spool.append(r)
    first = spool.peek(20)
    assert [r for r, _ in first] == records[:20]
    spool.commit(first[-1][1])
    spool.close()
    again = Spool(tmp_path / "s", 1 << 20)
    assert [r for r, _ in again.peek(100)] == records[20:]
    assert not again.append(Record("big", "s", b"x" * (1 << 20)))  # over the cap
    again.commit(again.peek(100)[-1][1])
    assert not again and again.bytes == 0


def test_relay_and_two_workers_write_what_one_rrdd_writes(
    tmp_path: Path, server: NatsServer
) -> None:
    hosts = [f"host{i}.example.com" for i in range(12)]
    old = next(h for h in hosts if worker_of(h) == 0)
    new = next(f"renamed{i}" for i in range(100) if worker_of(f"renamed{i}") == 1)
    dropped = next(h for h in hosts if h != old)
    stream = (
        SAMPLE.read_bytes()
        + rounds(hosts, 3, seq=100)
        + control(200, "drophost", dropped)
        + control(201, "renamehost", old, new)
        + control(202, "droptest", hosts[-1], "cpu")
        + b"".join(cpu(300 + r, new, T0 + 900 + 300 * r, f"9.{r}") for r in range(2))
        + rounds([dropped], 1, seq=400)  # a dropped host that comes back
    )
    one = tmp_path / "one"
    one.mkdir()
    assert run(one, stream).returncode == 0
    relay(server, tmp_path, stream)
    two = tmp_path / "two"
    two.mkdir()
    logs = [drained(w) for w in [worker(server, two, f"{i}/2", "--drain") for i in range(2)]]
    assert all("ERROR" not in log for log in logs), logs
    assert not (two / old).exists() and (two / new / "la.rrd").exists()
    assert rrd_contents(two) == rrd_contents(one)
    assert sum(totals(log)["nats_acked"] for log in logs) == server_total(stream)


def server_total(stream: bytes) -> int:
    """Publishes a stream makes: a message each, a renamehost across partitions two."""
    return stream.count(b"\n@@\n") + stream.count(b"@@renamehost")  # every one crosses here


def test_a_worker_killed_mid_stream_loses_and_reorders_nothing(
    tmp_path: Path, server: NatsServer
) -> None:
    hosts = [f"h{i}" for i in range(100)]
    relay(server, tmp_path, rounds(hosts, 6))
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    first = worker(server, rrddir, "0/1", "--nats-batch=5")
    wait_until(lambda: len(list(rrddir.iterdir())) > 30)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    again = drained(worker(server, rrddir, "0/1", "--drain"))
    assert "waiting up to" in again  # its own stale lease
    assert totals(again)["nats_messages"] > 0
    every_load(rrddir, hosts, 6)


def test_a_delivery_lost_on_the_way_comes_back_before_newer_ones(
    tmp_path: Path, server: NatsServer
) -> None:
    """A message the consumer sent that never reached the worker (here another client
    took it, as a server that went away would have lost it): the worker sees the gap in
    the consumer's sequence and waits for it to come back before newer messages."""
    stream = rounds(["a"], 3)
    each = [m + b"\n@@\n" for m in stream.split(b"\n@@\n")[:-1]]
    relay(server, tmp_path, each[0])
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    proc = worker(server, rrddir, "0/1")
    p = partition_of("a", 32)
    wait_until(lambda: (rrddir / "a" / "la.rrd").exists())
    proc.send_signal(signal.SIGSTOP)

    async def consumer(nc: nats.NATS) -> api.ConsumerInfo:
        return await nc.jetstream().consumer_info("RRDD", f"part-{p}")

    wait_until(lambda: server.call(consumer).num_waiting == 0)  # its pull request expired
    relay(server, tmp_path, each[1] + each[2])

    async def take_one(nc: nats.NATS) -> int:
        sub = await nc.jetstream().pull_subscribe_bind(durable=f"part-{p}", stream="RRDD")
        return len(await sub.fetch(1, timeout=5))  # and never acknowledged

    assert server.call(take_one) == 1
    proc.send_signal(signal.SIGCONT)

    def settled() -> bool:
        info = server.call(consumer)
        return not info.num_pending and not info.num_ack_pending

    wait_until(settled)
    proc.send_signal(signal.SIGTERM)
    counts = totals(drained(proc))
    assert counts["nats_gaps"] == 1
    every_load(rrddir, ["a"], 3)


def test_a_redelivered_message_is_not_applied_twice(tmp_path: Path, server: NatsServer) -> None:
    hosts = ["a", "b", "c"]
    stream = rounds(hosts, 3)
    relay(server, tmp_path, stream)
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    drained(worker(server, rrddir, "0/1", "--drain"))
    before = rrd_contents(rrddir)
    relay(server, tmp_path, stream)  # the same messages again, under new ids

    async def take_without_ack(nc: nats.NATS) -> int:
        js = nc.jetstream()
        taken = 0
        for p in {partition_of(h, 32) for h in hosts}:
            sub = await js.pull_subscribe_bind(durable=f"part-{p}", stream="RRDD")
            with contextlib.suppress(TimeoutError):
                taken += len(await sub.fetch(100, timeout=0.2))
        return taken

    assert server.call(take_without_ack) == len(hosts) * 3  # delivered, never acknowledged
    log = drained(worker(server, rrddir, "0/1", "--drain"))
    counts = totals(log)
    assert counts["nats_redelivered"] == len(hosts) * 3
    assert counts["nats_duplicate_values"] >= len(hosts) * 3 and not counts["values_written"]
    assert rrd_contents(rrddir) == before


def test_two_workers_on_one_partition_are_refused(tmp_path: Path, server: NatsServer) -> None:
    relay(server, tmp_path, rounds(["a"], 1))
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    first = worker(server, rrddir, "0/2")
    try:
        wait_until(lambda: (rrddir / "a").exists() or worker_of("a") == 1)
        second = worker(server, rrddir, "0/2")
        _, err = second.communicate(timeout=30)
        assert second.returncode == 1
        assert "two workers cannot share a partition" in err
        other = worker(server, rrddir, "1/2")  # the other half is free
        other.send_signal(signal.SIGTERM) if wait_until_started(other) else None
        assert drained(other) is not None
    finally:
        first.send_signal(signal.SIGTERM)
        assert drained(first) is not None


def test_a_worker_stops_at_once_while_nats_is_away(tmp_path: Path, server: NatsServer) -> None:
    relay(server, tmp_path, rounds(["a"], 1))
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    proc = worker(server, rrddir, "0/1")
    assert wait_until_started(proc)
    server.kill()
    proc.send_signal(signal.SIGTERM)  # its 32 leases cannot be given back: they expire
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err


def wait_until_started(proc: subprocess.Popen[str]) -> bool:
    assert proc.stderr is not None
    return any("consumes partitions" in line for line in proc.stderr)


def test_the_relay_spools_while_nats_is_down_and_replays_in_order(tmp_path: Path) -> None:
    (tmp_path / "nats").mkdir()
    down = NatsServer(tmp_path / "nats")  # not started yet
    hosts = [f"h{i}" for i in range(20)]
    proc = subprocess.Popen(
        [RRDD, "relay", f"--nats={down.url}", f"--nats-spool-dir={tmp_path / 'spool'}"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    assert proc.stdin is not None
    proc.stdin.write(rounds(hosts, 4))
    proc.stdin.flush()
    wait_until(lambda: sum(f.stat().st_size for f in (tmp_path / "spool").glob("*.seg")) > 0)
    down.start()
    try:
        wait_until(lambda: down.stored() == 80 if _has_stream(down) else False)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        counts = totals(err.decode())
        assert counts["relay_spooled"] == 80 and counts["relay_replayed"] == 80
        rrddir = tmp_path / "rrd"
        rrddir.mkdir()
        drained(worker(down, rrddir, "0/1", "--drain"))
        every_load(rrddir, hosts, 4)
    finally:
        down.kill()


def _has_stream(server: NatsServer) -> bool:
    try:
        server.stored()
    except Exception:
        return False
    return True


def test_a_full_spool_is_counted_and_said(tmp_path: Path) -> None:
    (tmp_path / "nats").mkdir()
    down = NatsServer(tmp_path / "nats")
    done = subprocess.run(
        [RRDD, "relay", f"--nats={down.url}", f"--nats-spool-dir={tmp_path / 'spool'}"]
        + ["--nats-spool-max=65536"],
        input=rounds([f"h{i}" for i in range(300)], 2),
        capture_output=True,
        env=clean_env(),
        timeout=60,
    )
    err = done.stderr.decode()
    counts = totals(err)
    assert counts["relay_spool_overflow"] > 0
    assert counts["relay_spooled"] + counts["relay_spool_overflow"] == 600
    assert "The spool is full" in err


def test_a_message_the_full_stream_refuses_is_spooled_not_lost(
    tmp_path: Path, server: NatsServer
) -> None:
    """What the full stream refuses goes to the spool with everything after it, and is
    published once a worker made room: nothing lost, nothing reordered."""
    hosts = [f"h{i}" for i in range(20)]
    filler = "\n" + "x" * 2000  # 600 messages of 2.3 KB do not fit in the 1 MiB stream
    stream = rounds(hosts, 30).replace(b"\n@@\n", f"{filler}\n@@\n".encode())
    first = relay(server, tmp_path, stream, "--nats-max-bytes=1048576")
    assert "the stream refused a message" in first and "stay in the spool" in first
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    drained(worker(server, rrddir, "0/1", "--drain"))
    again = relay(server, tmp_path, b"", "--nats-max-bytes=1048576")  # the spool, replayed
    assert totals(again)["relay_replayed"] > 0 and "The spool is published" in again
    drained(worker(server, rrddir, "0/1", "--drain"))
    every_load(rrddir, hosts, 30)


def test_nats_server_killed_mid_stream_loses_nothing(tmp_path: Path, server: NatsServer) -> None:
    hosts = [f"h{i}" for i in range(50)]
    stream = rounds(hosts, 6)
    half = stream.index(cpu(3 * 50 + 1, hosts[0], B + 900, "3.00"))
    proc = subprocess.Popen(
        [RRDD, "relay", f"--nats={server.url}", f"--nats-spool-dir={tmp_path / 'spool'}"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    assert proc.stdin is not None
    proc.stdin.write(stream[:half])
    proc.stdin.flush()
    wait_until(lambda: _has_stream(server) and server.stored() == 150)
    server.kill()
    proc.stdin.write(stream[half:])
    proc.stdin.flush()
    wait_until(lambda: sum(f.stat().st_size for f in (tmp_path / "spool").glob("*.seg")) > 0)
    server.start()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    drained(worker(server, rrddir, "0/1", "--drain"))
    every_load(rrddir, hosts, 6)


def test_send_top_and_check(tmp_path: Path, server: NatsServer) -> None:
    relay(server, tmp_path, b"")
    base = [f"--nats={server.url}"]
    check = subprocess.run([RRDD, "check", *base], capture_output=True, text=True, env=clean_env())
    assert check.returncode == 0 and check.stdout.startswith("RRDD OK - backlog 0"), check.stdout
    sent = subprocess.run(
        [RRDD, "send", *base],
        input="status www,example,com.cpu green up: 3 days, 2 users, 9 procs, load=0.50\n"
        "data www,example,com.trends\n",
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert sent.returncode == 0 and "2 messages stored" in sent.stdout, sent.stderr
    check = subprocess.run(
        [RRDD, "check", *base, "--stale=5"], capture_output=True, text=True, env=clean_env()
    )
    assert check.returncode == 2 and "no live worker" in check.stdout
    assert "backlog=2;" in check.stdout
    top = subprocess.run(
        [RRDD, "top", *base, "--once", "--interval=0.1"],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert top.returncode == 0
    assert "servers: one server, no cluster" in top.stdout
    rows = [line.split() for line in top.stdout.splitlines() if line.split()[0].isdigit()]
    assert len(rows) == 32 and sum(int(r[1]) for r in rows) == 2
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    drained(worker(server, rrddir, "0/1", "--drain"))
    assert (rrddir / "www.example.com" / "la.rrd").exists()


def test_the_tools_take_the_next_server_and_say_when_none_answers(
    tmp_path: Path, server: NatsServer
) -> None:
    relay(server, tmp_path, b"")
    (tmp_path / "gone").mkdir()
    gone = NatsServer(tmp_path / "gone").url  # never started: its port refuses

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [RRDD, *args], capture_output=True, text=True, env=clean_env(), timeout=30
        )

    both = f"--nats={gone},{server.url}"  # the tools try the servers in this order
    assert command("check", both).returncode == 0
    sent = command("send", both, "status a.cpu green load=1")
    assert sent.returncode == 0, sent.stderr
    top = command("top", both, "--once", "--interval=0.1")
    assert top.returncode == 0 and "backlog" in top.stdout
    for args in (["check"], ["send", "status a.cpu green load=1"], ["top", "--once"]):
        none = command(*args, f"--nats={gone}")
        assert none.returncode == (3 if args == ["check"] else 1), none
        assert "no NATS server reachable" in none.stdout + none.stderr, none


def certificates(where: Path) -> dict[str, Path]:
    """A private CA, a server certificate for 127.0.0.1 and a client certificate, and a
    second CA that signed neither."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=where)

    for ca in ("ca", "other-ca"):
        openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN=rrdd test {ca}",
            "-keyout",
            f"{ca}.key",
            "-out",
            f"{ca}.pem",
        )
    (where / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
        )
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            f"{name}.pem",
        )
    return {p.stem if p.suffix == ".pem" else p.name: p for p in where.iterdir()}


def test_tls_and_passwords_right_and_wrong(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    pki.mkdir()
    files = certificates(pki)
    (tmp_path / "nats").mkdir()
    secured = NatsServer(
        tmp_path / "nats",
        extra=f"""
tls {{ cert_file: "{pki / "server.pem"}", key_file: "{pki / "server.key"}",
      ca_file: "{pki / "ca.pem"}", verify: true }}
authorization {{ users = [ {{ user: rrdd, password: "s3cret-pw" }} ] }}
""",
        scheme="tls",
    ).start()
    (tmp_path / "pw").write_text("s3cret-pw\n")
    tls = [
        f"--nats-tls-ca={files['ca']}",
        f"--nats-tls-cert={files['client']}",
        f"--nats-tls-key={pki / 'client.key'}",
    ]
    base = [f"--nats={secured.url}", "--nats-user=rrdd", *tls]

    def command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [RRDD, *args], capture_output=True, text=True, env=clean_env(**env), timeout=60
        )

    try:
        made = command(
            "relay", *base, f"--nats-spool-dir={tmp_path / 'spool'}", RRDD_NATS_PASSWORD="s3cret-pw"
        )
        assert made.returncode == 0 and "Stream RRDD made" in made.stderr, made.stderr
        good = command("check", *base, f"--nats-password-file={tmp_path / 'pw'}")
        assert good.returncode == 0, good.stdout + good.stderr
        wrong = command("check", *base, RRDD_NATS_PASSWORD="wrong")
        assert wrong.returncode == 3 and "refused the credentials" in wrong.stdout
        none = command("send", f"--nats={secured.url}", *tls, "status a.cpu green load=1")
        assert none.returncode == 1 and "Authorization Violation" in none.stderr
        other_ca = command(
            "check",
            *base[:2],
            f"--nats-tls-ca={files['other-ca']}",
            *tls[1:],
            RRDD_NATS_PASSWORD="s3cret-pw",
        )
        assert other_ca.returncode == 3 and "certificate verify failed" in other_ca.stdout
        for done in (made, good, wrong, none, other_ca):
            assert "s3cret-pw" not in done.stdout + done.stderr
        in_url = command("check", "--nats=tls://rrdd:s3cret-pw@127.0.0.1:4222")
        assert in_url.returncode == 3 and "credentials do not go in the URL" in in_url.stdout
    finally:
        secured.kill()


def test_a_message_too_short_for_its_host_is_not_relayed_and_the_rest_is(
    tmp_path: Path, server: NatsServer
) -> None:
    short = b"@@status#1/h|1795312871.5\nstatus h.cpu green load=9.00\n@@\n"
    p = subprocess.run(
        [RRDD, "relay", f"--nats={server.url}", f"--nats-spool-dir={tmp_path / 'spool'}"],
        input=short + rounds(["a"], 1),
        capture_output=True,
        env=clean_env(),
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert b"Message without a host, not relayed" in p.stderr
    assert (
        totals(p.stderr.decode())["relay_published"] == len(rounds(["a"], 1).split(b"\n@@\n")) - 1
    )


def test_rrdd_flush_is_answered_by_the_relay_in_rrdds_place(
    tmp_path: Path, server: NatsServer
) -> None:
    tmp = tmp_path / "xymontmp"
    tmp.mkdir()
    relay = subprocess.Popen(
        [RRDD, "relay", f"--nats={server.url}", f"--nats-spool-dir={tmp_path / 'spool'}"],
        stdin=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=clean_env(XYMONTMP=str(tmp)),
    )
    assert relay.stdin is not None
    try:
        wait_until(lambda: any(tmp.glob("rrdctl.*")))
        p = subprocess.run(
            [RRDD, "flush", "web1"],
            capture_output=True,
            text=True,
            env=clean_env(XYMONTMP=str(tmp)),
        )
        assert p.returncode == 0, p.stderr
        assert f"rrdd relay {relay.pid}: 0 files flushed" in p.stdout
    finally:
        relay.stdin.close()
        assert relay.wait(timeout=30) == 0
    assert not any(tmp.glob("rrdctl.*"))


def data_trends(seq: int, host: str, ts: int, value: float) -> bytes:
    header = f"@@data#{seq}/{host}|{ts}.5|192.0.2.40||{host}|trends|linux|servers"
    return f"{header}\ndata {host}.trends\n[trend.rrd]\nDS:v:GAUGE:600:U:U {value}\n@@\n".encode()


@pytest.mark.parametrize("first", ["status", "data"])
def test_a_relay_under_each_channel_writes_what_two_rrdd_write(
    tmp_path: Path, server: NatsServer, first: str
) -> None:
    """Xymon's stock set-up behind NATS: a relay under the status channel and one under
    the data channel, each publishing every drophost, renamehost and droptest into the
    one stream, so a worker gets each control message twice, around the other channel's
    messages. The files end as two rrdd on one directory leave them, whichever channel
    comes first, and the renamed host's values all end under its new name."""
    hosts = [f"h{i}.example.com" for i in range(6)]
    old = next(h for h in hosts if worker_of(h) == 0)
    new = next(f"renamed{i}" for i in range(100) if worker_of(f"renamed{i}") == 1)
    dropped, tested = [h for h in hosts if h != old][:2]
    controls = [("drophost", dropped), ("renamehost", old, new), ("droptest", tested, "cpu")]

    def channel(name: str) -> bytes:
        def message(seq: int, host: str, r: int) -> bytes:
            if name == "status":
                return cpu(seq, host, B + 300 * r, f"{r}.5")
            return data_trends(seq, host, B + 300 * r, 1000 + r)

        seq = itertools.count(1)
        before = [message(next(seq), h, r) for r in range(3) for h in hosts]
        between = [control(next(seq), *c) for c in controls]
        after = [message(next(seq), new, r) for r in range(3, 5)]
        return b"".join(before + between + after)

    order = [first, "data" if first == "status" else "status"]
    two = tmp_path / "two"
    two.mkdir()
    for name in order:
        assert run(two, channel(name)).returncode == 0
    for name in order:
        relay(server, tmp_path, channel(name))
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    logs = [drained(w) for w in [worker(server, rrddir, f"{i}/2", "--drain") for i in range(2)]]
    assert all("ERROR" not in log for log in logs), logs
    assert not (rrddir / old).exists() and not (rrddir / dropped).exists()
    assert not (rrddir / tested / "la.rrd").exists() and (rrddir / tested / "trend.rrd").exists()
    assert rrd_contents(rrddir) == rrd_contents(two)
    for name, ds in (("la.rrd", "la"), ("trend.rrd", "v")):
        info = rrdtool.info(str(rrddir / new / name))
        assert info["last_update"] == B + 300 * 4, name
        assert info[f"ds[{ds}].last_ds"] != "U", name
