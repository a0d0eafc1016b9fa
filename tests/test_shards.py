"""--workers: the router's choice of worker, and what only a sharded rrdd does.

What rrdd does the same with one process or several (files, control messages, reload,
metrics, rrdcached, SIGTERM and SIGKILL) is tested in test_cli.py and test_rrdcached.py,
each test run both ways.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import zlib
from pathlib import Path

from rrdd.daemon import Daemon
from rrdd.events import Counts, Event
from rrdd.settings import load_settings
from rrdd.shards import Router, Worker
from rrdd.writer.memory import MemoryWriter
from tests.helpers import rrd_contents, wait_until
from tests.test_cli import RRDD, T0, clean_env, control, cpu, lastupdate, run, start

DATA = Path(__file__).parent / "data"
# Golden cases whose messages make a Linux host's cycle
CYCLE = (
    *("la/linux", "disk/linux-dfPk", "memory/linux", "vmstat/linux-procps-ng"),
    *("netstat/linux-nettools2016", "ifstat/linux-nettools-2.10", "net/http-xymonnet"),
)


def router(workers: int) -> Router:
    """A router with workers that are never started: for targets() alone."""
    r = Router(1 << 20, Counts())
    r.workers = [Worker(n, pid=0, pipe=-1, reports=-1) for n in range(workers)]
    return r


def unframed(item: bytes) -> bytes:
    """A message as the router's channel reader yields it: without its terminator."""
    return item.removesuffix(b"\n@@\n")


def crossing_pairs(n: int) -> list[tuple[str, str]]:
    """(old, new) host names that two workers split: old on one, new on the other."""
    names = [f"host{i}" for i in range(200)]
    ones = [h for h in names if zlib.crc32(h.encode()) % 2]
    zeros = [h for h in names if not zlib.crc32(h.encode()) % 2]
    return list(zip(ones[:n], zeros[:n], strict=True))


def test_a_hosts_messages_go_to_one_worker() -> None:
    r = router(3)
    for host in ("web1", "db1", "h1", "a.b.c"):
        expected = (zlib.crc32(host.encode()) % 3,)
        assert r.targets(unframed(cpu(1, host, T0, "1.0"))) == expected
        assert r.targets(unframed(control(2, "drophost", host))) == expected
        assert r.targets(unframed(control(3, "droptest", host, "cpu"))) == expected
        assert r.targets(unframed(control(4, "renametest", host, "a", "b"))) == expected


def test_a_renamed_host_stays_with_the_worker_that_has_its_files() -> None:
    r = router(2)
    old, new = "b", "b2"  # crc32 puts them on different workers
    assert r.worker_of(old.encode()) != r.worker_of(new.encode())
    where = r.targets(unframed(control(1, "renamehost", old, new)))
    assert where == (r.worker_of(old.encode()),)
    assert r.targets(unframed(cpu(2, new, T0, "1.0"))) == where
    assert r.targets(unframed(control(3, "drophost", new))) == where


def test_the_worker_a_renamed_host_leaves_releases_it_first() -> None:
    r = router(2)
    (old, new), (_, third) = crossing_pairs(2)  # old on worker 1; new and third on 0
    where = r.targets(unframed(control(1, "renamehost", old, new)))
    assert where == (1,) and r.release == (0, new.encode())  # worker 0 had new
    r.release = None
    assert r.targets(unframed(cpu(2, new, T0, "1.0"))) == where
    assert r.targets(unframed(control(3, "renamehost", new, old))) == where
    assert r.release is None  # old was on that worker already
    assert r.targets(unframed(control(4, "renamehost", new, third))) == where
    assert r.release == (0, third.encode())
    r.release = None
    assert r.targets(unframed(control(5, "renamehost", third, "../x"))) == where
    assert r.release is None and r.worker_of(b"../x") == zlib.crc32(b"../x") % 2  # refused


def test_a_rename_the_workers_refuse_moves_nothing() -> None:
    # A new name with a leading "." passed the router's check and not the workers': the
    # router asked its worker to release it, and the channel stood still for 60 s.
    r = router(2)
    assert r.worker_of(b"a") != r.worker_of(b".d")
    assert r.targets(unframed(control(1, "renamehost", "a", ".d"))) == (r.worker_of(b"a"),)
    assert r.release is None and not r.renamed


def test_control_messages_for_every_worker_or_none() -> None:
    r = router(3)
    assert r.targets(unframed(control(1, "reload"))) == (0, 1, 2)
    assert r.targets(unframed(control(2, "logrotate"))) == (0, 1, 2)
    assert r.targets(b"@@idle") == ()
    assert r.targets(b"@@rotate#9/*|1|xymond|") == (0,)  # a worker logs it as unknown
    assert r.running
    assert r.targets(unframed(control(3, "shutdown"))) == ()
    assert not r.running
    assert r.counts.get(Event.CONTROLS, "reload") == r.counts.get(Event.CONTROLS, "shutdown") == 1


def test_a_message_too_short_for_its_host_costs_nothing_else(tmp_path: Path) -> None:
    # It went to no worker: the router raised, and lost the rest of its read (64 KiB).
    r = router(2)
    assert r.targets(b"@@status#1/h|1795312871.5|192.0.2.10") == (0,)  # which logs it
    assert r.targets(b"@@data#2/h") == (0,)
    short = b"@@status#1/h|1795312871.5\nstatus h.cpu green load=9.00\n@@\n"
    p = run(tmp_path, short + cpu(2, "h1", T0, "1.50"), "--workers=2")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert lastupdate(tmp_path / "h1/la.rrd") == (T0, {"la": 150.0})
    assert os.listdir(tmp_path) == ["h1"]


def fleet(hosts: int, cycles: int) -> bytes:
    """The golden cases for many hosts and cycles, with control messages and junk between."""
    templates = []
    for case in CYCLE:
        first = (DATA / f"{case}.msg").read_bytes().split(b"\n@@\n", 1)[0]
        header, _, body = first.partition(b"\n")
        fields = header.split(b"|")
        host = fields[4]
        body = body.replace(host, b"{host}").replace(host.replace(b".", b","), b"{chost}")
        kind = fields[0].split(b"#")[0]
        templates.append((kind, b"|".join(fields[2:]).replace(host, b"{host}"), body))
    out = []
    for c in range(cycles):
        for h in range(hosts):
            host = f"node{h}.example.com".encode()
            if c > 1 and h == 3:
                continue  # dropped
            if c > 1 and h == 4:
                host = b"n4.example.com"  # renamed
            for kind, rest, body in templates:
                ts = f"{T0 + 300 * c + h}.000000".encode()
                text = b"%s#%d/%s|%s|%s\n%s\n@@\n" % (kind, len(out) + 1, host, ts, rest, body)
                out.append(
                    text.replace(b"{host}", host).replace(b"{chost}", host.replace(b".", b","))
                )
        if c == 1:
            out.append(control(len(out) + 1, "drophost", "node3.example.com"))
            out.append(control(len(out) + 1, "renamehost", "node4.example.com", "n4.example.com"))
            out.append(b"some junk\n")
    return b"".join(out)


def both_ways(tmp_path: Path, stream: bytes, workers: int) -> list[tuple[dict[str, object], str]]:
    """rrdd on `stream` as one process (in tmp_path/one) and with `workers` workers (in
    tmp_path/workers): the RRD files and the log of each."""
    out = []
    for name, args in (("one", []), ("workers", [f"--workers={workers}"])):
        rrddir = tmp_path / name
        rrddir.mkdir()
        p = run(rrddir, stream, *args)
        assert p.returncode == 0, p.stderr
        out.append((rrd_contents(rrddir), p.stderr))
    return out


def test_three_workers_write_what_one_process_writes(tmp_path: Path) -> None:
    (one, log_one), (three, log_three) = both_ways(tmp_path, fleet(hosts=12, cycles=3), 3)
    assert "Bad data in channel" in log_one and "Bad data in channel" in log_three
    assert one == three
    hosts = {name.split("/")[0] for name in one}
    assert len(hosts) == 11  # node3 dropped, node4 renamed
    assert "n4.example.com" in hosts and "node4.example.com" not in hosts
    assert len(one) > 11 * 15
    # n4's last cycle is in the files moved from node4
    assert lastupdate(tmp_path / "workers/n4.example.com/la.rrd")[0] == T0 + 600 + 4


def test_renaming_onto_a_host_that_reports_loses_none_of_its_values(tmp_path: Path) -> None:
    """The new name's worker holds its cached values; they must reach the files before the
    values that come after the rename, as with one process. After the rename the other
    worker gets 12 values, a full batch that it writes at once, while the first one is
    busy with other hosts: without the release first, the 6 values it still held were
    refused as older at its shutdown, in one run of three."""
    parts: list[bytes] = []
    pairs = crossing_pairs(11)
    busy, pairs = [new for _, new in pairs[8:]], pairs[:8]
    for old, new in pairs:
        parts.append(cpu(len(parts) + 1, old, T0, "1.00"))
        for c in range(6):
            parts.append(cpu(len(parts) + 1, new, T0 + 1 + 300 * c, f"{c}.5"))
    for old, new in pairs:
        parts.append(control(len(parts) + 1, "renamehost", old, new))
    for _, new in pairs:
        for c in range(6, 18):
            parts.append(cpu(len(parts) + 1, new, T0 + 1 + 300 * c, f"{c}.5"))
    for c in range(400):
        parts.extend(cpu(len(parts) + 1, host, T0 + 300 * c, "0.5") for host in busy)
    (one, log_one), (two, log_two) = both_ways(tmp_path, b"".join(parts), 2)
    assert "updates_dropped_old" not in log_one + log_two
    assert one == two
    for _, new in pairs:
        assert lastupdate(tmp_path / f"workers/{new}/la.rrd")[0] == T0 + 1 + 300 * 17


def test_no_fd_is_held_outside_run(tmp_path: Path) -> None:
    """Routers made for targets() and daemons driven by handle() in tests and benchmarks
    are many: they must not take their wake-up pipes until run() (a leak once pushed the
    test process past select()'s 1024 fds)."""
    before = len(os.listdir("/proc/self/fd"))
    settings = load_settings({"rrddir": str(tmp_path)}, {})
    for _ in range(20):
        router(2)
        Daemon(settings, MemoryWriter(), Counts()).shutdown()
    assert len(os.listdir("/proc/self/fd")) == before


def test_bad_number_of_workers_is_a_setting_error(tmp_path: Path) -> None:
    p = run(tmp_path, b"", "--workers=0")
    assert p.returncode == 2 and "workers" in p.stderr


def test_every_worker_answers_a_flush(tmp_path: Path) -> None:
    rrddir, tmpdir = tmp_path / "rrd", tmp_path / "tmp"
    rrddir.mkdir()
    tmpdir.mkdir()
    proc = start(rrddir, "--workers=2", XYMONTMP=str(tmpdir), stderr=subprocess.DEVNULL)
    assert proc.stdin is not None
    proc.stdin.write(cpu(1, "web1", T0, "1.00") + cpu(2, "h1", T0, "2.00"))  # one per worker
    proc.stdin.flush()
    made = [rrddir / "web1/la.rrd", rrddir / "h1/la.rrd"]
    wait_until(lambda: all(p.exists() for p in made))
    assert len(list(tmpdir.glob("rrdctl.*"))) == 2  # one socket per worker
    assert lastupdate(made[0])[0] < T0  # still in the cache
    flush = subprocess.run(
        [RRDD, "flush"], env=clean_env(XYMONTMP=str(tmpdir)), capture_output=True, timeout=30
    )
    assert flush.returncode == 0
    assert flush.stdout.decode().count("files flushed") == 2
    assert lastupdate(made[0]) == (T0, {"la": 100.0})
    assert lastupdate(made[1]) == (T0, {"la": 200.0})
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(c) for c in text.split()]


def test_sigterm_to_every_process_loses_nothing(tmp_path: Path) -> None:
    """systemd signals the whole unit: the workers wait for the router's end of input."""
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    proc = start(rrddir, "--workers=2", "--create-workers=0", stderr=subprocess.DEVNULL)
    assert proc.stdin is not None
    proc.stdin.write(b"".join(cpu(i + 1, f"h{i}", T0, "1.00") for i in range(20)))
    proc.stdin.flush()
    wait_until(lambda: len(list(rrddir.glob("*/la.rrd"))) == 20)
    workers = children(proc.pid)
    assert len(workers) == 2
    for pid in (*workers, proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    proc.stdin.close()
    for i in range(20):
        assert lastupdate(rrddir / f"h{i}/la.rrd") == (T0, {"la": 100.0})


def test_a_dead_worker_stops_rrdd(tmp_path: Path) -> None:
    proc = start(tmp_path, "--workers=2")
    assert proc.stdin is not None and proc.stderr is not None
    for line in proc.stderr:  # both have started (the router logs it once each is ready)
        if b"Worker 1 started: pid " in line:
            break
    os.kill(int(line.split(b" pid ")[1]), signal.SIGKILL)
    assert proc.wait(timeout=20) == 1
    assert "Worker 1 has died" in proc.stderr.read().decode()
    proc.stdin.close()
    proc.stderr.close()


def test_no_flush_socket_is_left_behind(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    p = run(tmp_path, cpu(1, "h", T0, "1.0"), "--workers=3", XYMONTMP=str(tmpdir))
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("Cache flush completed") == 3
    assert p.stderr.count("runs as root") == (os.geteuid() == 0)  # said once, not per worker
    assert list(tmpdir.glob("rrdctl.*")) == []


def test_each_worker_keeps_its_own_problems_and_the_router_none(tmp_path: Path) -> None:
    rrddir, tmpdir = tmp_path / "rrd", tmp_path / "tmp"
    rrddir.mkdir()
    tmpdir.mkdir()
    proc = start(
        rrddir,
        "--workers=2",
        XYMONTMP=str(tmpdir),
        TEST2RRD="myapp=ncv",
        NCV_myapp="requests:DERIVE",
    )
    stream = b""
    for seq, host in enumerate(("web1", "h1"), 1):  # one per worker
        header = f"@@data#{seq}/{host}|{T0}.0|192.0.2.1||{host}|myapp|linux|p"
        stream += f"{header}\ndata {host}.myapp\nrequests = 0.5\n@@\n".encode()
    _, err = proc.communicate(stream, timeout=60)
    assert proc.returncode == 0, err
    journals = list((tmpdir / "rrdd").glob("problems.*.jsonl"))
    pids = {int(path.name.split(".")[1]) for path in journals}
    assert len(pids) == 2 and proc.pid not in pids
    lines = [json.loads(line) for path in journals for line in path.read_text().splitlines()]
    assert sorted((p["host"], p["kind"], p["pid"] in pids) for p in lines) == [
        ("h1", "rejected", True),
        ("web1", "rejected", True),
    ]
    assert "not a simple signed integer: '0.5'" in lines[0]["reason"]
