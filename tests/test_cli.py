"""End to end: the real `rrdd` command on a channel stream, writing real RRD files."""

from __future__ import annotations

import fcntl
import glob
import itertools
import os
import pwd
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import tempfile
import termios
import time
import urllib.request
from pathlib import Path
from typing import IO

import pytest
import rrdtool
from prometheus_client.parser import text_string_to_metric_families

import rrdd
from tests.helpers import T0, Log, wait_until

RRDD = str(Path(sys.executable).with_name("rrdd"))


def status(seq: int, host: str, test: str, ts: int, text: str) -> bytes:
    header = (
        f"@@status#{seq}/{host}|{ts}.5|192.0.2.10||{host}|{test}|{ts + 1800}|green||green|"
        f"0|0||0||{ts}|linux|p|0|"
    )
    return f"{header}\n{text}\n@@\n".encode()


def cpu(seq: int, host: str, ts: int, load: str, users: int = 2) -> bytes:
    line = f"status {host}.cpu green Sun Nov 22 up: 3 days, {users} users, 99 procs, load={load}"
    return status(seq, host, "cpu", ts, line)


def control(seq: int, kind: str, *args: str) -> bytes:
    return f"@@{kind}#{seq}/*|{T0}.0|192.0.2.1|{'|'.join(args)}\n@@\n".encode()


def clean_env(**env: str) -> dict[str, str]:
    """This process's environment without Xymon's settings, plus `env`."""
    unset = ("XYMON", "NCV_", "SPLITNCV_", "TEST2RRD")
    return {k: v for k, v in os.environ.items() if not k.startswith(unset)} | env


def run(rrddir: Path, stream: bytes, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The rrdd command on a whole stream, to its end."""
    return subprocess.run(
        [RRDD, f"--rrddir={rrddir}", *args],
        input=stream.decode(),
        capture_output=True,
        text=True,
        env=clean_env(**env),
        timeout=60,
    )


def start(
    rrddir: Path, *args: str, stderr: int | IO[bytes] = subprocess.PIPE, **env: str
) -> subprocess.Popen[bytes]:
    """The rrdd command, running; the test writes its stdin."""
    proc = subprocess.Popen(
        [RRDD, f"--rrddir={rrddir}", *args],
        stdin=subprocess.PIPE,
        stderr=stderr,
        env=clean_env(**env),
    )
    assert proc.stdin is not None
    return proc


def send(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(data)
    proc.stdin.flush()


def wait_read(proc: subprocess.Popen[bytes]) -> None:
    """Until rrdd has read everything sent to it: the pipe to its stdin is empty (Linux
    answers FIONREAD on either end of a pipe). Once read, a message is handled before a
    signal that comes after, as the main loop takes signals after each read."""
    assert proc.stdin is not None
    proc.stdin.flush()
    fd = proc.stdin.fileno()
    wait_until(lambda: struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4)) == (0,))


def lastupdate(path: Path) -> tuple[int, dict[str, object]]:
    info = rrdtool.lastupdate(str(path))
    return int(info["date"].timestamp()), info["ds"]


@pytest.fixture
def rrddir(tmp_path: Path) -> Path:
    d = tmp_path / "rrd"
    d.mkdir()
    return d


# rrdd as one process, and with the hosts spread over two workers (shards.py).
ONE_OR_TWO = pytest.mark.parametrize("shards", [[], ["--workers=2"]], ids=["one", "two"])


@pytest.mark.parametrize(
    "workers",
    [[], ["--create-workers=0"], ["--workers=2"]],
    ids=["create-workers", "in-process", "two-workers"],
)
def test_a_stream_becomes_rrd_files(rrddir: Path, workers: list[str]) -> None:
    disk = (
        "status web1.disk green ok\nFilesystem 1024-blocks Used Available Capacity Mounted on\n"
        "/dev/sda1 1000 400 600 40% /\n/dev/sda2 1000 900 100 90% /var/log"
    )
    mem = "status web1.memory green ok\n&green Physical 1M 2M 37%\n&green Swap 0M 2M 3%"
    stream = b"".join(
        [
            cpu(1, "web1", T0, "0.52"),
            status(2, "web1", "disk", T0 + 1, disk),
            status(3, "web1", "memory", T0 + 2, mem),
            cpu(4, "web1", T0 + 300, "1.5", users=4),
            cpu(5, "app1", T0 + 3, "12.25"),  # with --workers=2, not web1's worker
        ]
    )
    p = run(rrddir, stream, *workers)
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(rrddir / "web1")) == [
        "disk,root.rrd",
        "disk,var,log.rrd",
        "la.rrd",
        "memory.real.rrd",
        "memory.swap.rrd",
        "procs.rrd",
        "users.rrd",
    ]
    assert lastupdate(rrddir / "web1/la.rrd") == (T0 + 300, {"la": 150.0})
    assert lastupdate(rrddir / "web1/users.rrd") == (T0 + 300, {"la": 4.0})
    assert lastupdate(rrddir / "web1/disk,var,log.rrd") == (T0 + 1, {"pct": 90.0, "used": 900.0})
    assert lastupdate(rrddir / "web1/memory.swap.rrd") == (T0 + 2, {"realmempct": 3.0})
    assert lastupdate(rrddir / "app1/la.rrd") == (T0 + 3, {"la": 1225.0})
    assert "Cache flush completed" in p.stderr


def test_tcp_services_come_from_protocols_cfg_or_xymonnetsvcs_alone(
    rrddir: Path, tmp_path: Path
) -> None:
    ldap = status(1, "dir1", "ldap", T0, "status dir1.ldap green OK\n\nSeconds: 0.25\n")
    p = run(rrddir, ldap, XYMONHOME=str(tmp_path))  # no etc/protocols.cfg: as xymond_rrd
    assert p.returncode == 0 and "No protocols.cfg" in p.stderr
    assert not (rrddir / "dir1").exists()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/protocols.cfg").write_text("[ldap|ldaps]\n   port 389\n")
    p = run(rrddir, ldap, XYMONHOME=str(tmp_path))
    assert p.returncode == 0 and "No protocols.cfg" not in p.stderr
    assert lastupdate(rrddir / "dir1/tcp.ldap.rrd") == (T0, {"sec": 0.25})


def test_unknown_option_is_an_error(rrddir: Path) -> None:
    p = run(rrddir, b"", "--no-such-option")
    assert p.returncode == 2 and "--no-such-option" in p.stderr


def test_missing_rrd_directory_stops_start_up(tmp_path: Path) -> None:
    p = run(tmp_path / "nothere", b"")
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_bad_setting_stops_start_up(rrddir: Path) -> None:
    p = run(rrddir, b"", RRDDISKS="([")
    assert p.returncode == 2 and "rrddisks" in p.stderr


def test_help_names_every_xymond_rrd_option() -> None:
    out = subprocess.run([RRDD, "--help"], capture_output=True, text=True, check=True).stdout
    for option in (
        "--rrddir",
        "--debug",
        "--extra-script",
        "--extra-tests",
        "--processor",
        "--no-cache",
        "--no-rrd",
        "--rrddefinitions",
        "--extra-timeout",
        "--extra-persistent",
    ):
        assert option in out


def test_help_names_the_commands_and_help_finds_them() -> None:
    def rrdd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RRDD, *args], capture_output=True, text=True, timeout=30)

    main = rrdd("--help")
    assert main.returncode == 0
    for command in ("rrdd flush [HOST [FILE]]", "rrdd check-config", "rrdd help [COMMAND]"):
        assert command in main.stdout
    assert rrdd("help").stdout == main.stdout
    flush = rrdd("help", "flush")
    assert flush.returncode == 0 and "--other-timeout" in flush.stdout
    assert flush.stdout == rrdd("flush", "--help").stdout
    assert "--rrddir" in rrdd("help", "check-config").stdout
    for args in (("flsuh",), ("help", "flsuh")):
        wrong = rrdd(*args)
        assert wrong.returncode == 2 and "'flsuh'" in wrong.stderr
        assert "rrdd flush [HOST [FILE]]" in wrong.stderr


@ONE_OR_TWO
def test_sigterm_writes_pending_values_and_exits(rrddir: Path, shards: list[str]) -> None:
    proc = start(rrddir, *shards)
    assert proc.stdin is not None
    send(proc, cpu(1, "h", T0, "0.10") + cpu(2, "h", T0 + 300, "0.20"))
    wait_read(proc)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert lastupdate(rrddir / "h/la.rrd") == (T0 + 300, {"la": 20.0})
    proc.stdin.close()
    assert proc.stderr is not None
    proc.stderr.close()


@ONE_OR_TWO
def test_shutdown_message_stops_reading(rrddir: Path, shards: list[str]) -> None:
    stream = cpu(1, "h", T0, "0.10") + control(2, "shutdown") + cpu(3, "late", T0, "0.3")
    p = run(rrddir, stream, *shards)
    assert p.returncode == 0
    assert os.listdir(rrddir) == ["h"]
    assert lastupdate(rrddir / "h/la.rrd")[0] == T0


@ONE_OR_TWO
def test_drophost_renamehost_in_stream_order(rrddir: Path, shards: list[str]) -> None:
    # With two workers, b and b2 are not on the same one: b2 moves to b's worker.
    stream = b"".join(
        [
            cpu(1, "a", T0, "1.00"),
            cpu(2, "b", T0, "2.00"),
            control(3, "drophost", "a"),
            control(4, "renamehost", "b", "b2"),
            cpu(5, "b2", T0 + 300, "3.00"),
            control(6, "drophost", ".."),
            control(7, "renamehost", "b2", "../evil"),
        ]
    )
    p = run(rrddir, stream, *shards)
    assert p.returncode == 0
    assert sorted(os.listdir(rrddir)) == [".dropped", ".renamed", "b2"]
    assert (rrddir / ".renamed/b").read_text() == "b2\n"  # for the other channel's rrdd
    assert lastupdate(rrddir / "b2/la.rrd") == (T0 + 300, {"la": 300.0})
    assert "Unsafe hostname '..' in a drophost message" in p.stderr
    assert "Unsafe hostname in a renamehost message ('b2' -> '../evil')" in p.stderr


@ONE_OR_TWO
def test_droptest_and_renametest_act_on_the_files_of_that_test(
    rrddir: Path, shards: list[str]
) -> None:
    disk = "status h.{t} green\n/dev/sda1 1000 400 600 40% /\n/dev/sdb1 1000 500 500 50% /home"
    stream = b"".join(
        [
            cpu(1, "h", T0, "1.00"),
            status(2, "h", "disk", T0, disk.format(t="disk")),
            status(3, "h", "inode", T0, disk.format(t="inode")),
            control(4, "droptest", "h", "inode"),
            control(5, "renametest", "h", "disk", "disk2"),
        ]
    )
    p = run(rrddir, stream, *shards)
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(rrddir / "h")) == [
        "disk2,home.rrd",
        "disk2,root.rrd",
        "la.rrd",
        "procs.rrd",
        "users.rrd",
    ]
    assert lastupdate(rrddir / "h/disk2,home.rrd") == (T0, {"pct": 50.0, "used": 500.0})


@ONE_OR_TWO
def test_logrotate_reopens_the_channel_log(rrddir: Path, tmp_path: Path, shards: list[str]) -> None:
    log = tmp_path / "rrd-status.log"
    stream = cpu(1, "h", T0, "1.00") + control(2, "logrotate")
    p = run(rrddir, stream, *shards, XYMONCHANNEL_LOGFILENAME=str(log))
    assert p.returncode == 0
    assert "Cache flush completed" in log.read_text()
    assert "Cache flush completed" not in p.stderr


def test_no_rrd_creates_files_without_values(rrddir: Path) -> None:
    p = run(rrddir, cpu(1, "h", T0, "1.00"), "--no-rrd")
    assert p.returncode == 0
    assert lastupdate(rrddir / "h/la.rrd")[0] < T0


def test_a_flush_request_writes_a_hosts_cached_values_at_once(tmp_path: Path) -> None:
    rrddir, tmpdir = tmp_path / "rrd", tmp_path / "tmp"
    rrddir.mkdir()
    tmpdir.mkdir()
    proc = start(rrddir, XYMONTMP=str(tmpdir))
    assert proc.stdin is not None and proc.stderr is not None
    send(proc, cpu(1, "web1", T0, "1.00") + cpu(2, "db1", T0, "2.00"))
    made = [rrddir / "web1/la.rrd", rrddir / "db1/la.rrd"]  # by two worker processes
    wait_until(lambda: all(p.exists() for p in made))
    assert lastupdate(rrddir / "web1/la.rrd")[0] < T0  # still in the cache

    def flush(*key: str) -> str:
        """rrdd flush [HOST]: the answers, once rrdd has written what it held."""
        env = clean_env(XYMONTMP=str(tmpdir))
        done = subprocess.run([RRDD, "flush", *key], env=env, capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout.decode()

    # showgraph's request: "/<host>/" from an unbound socket to every rrdctl.* socket.
    (sock_path,) = tmpdir.glob("rrdctl.*")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"/web1/", str(sock_path))
    # It cannot be answered; a request after it is answered once it has been served.
    assert flush("nosuchhost") == f"rrdd {proc.pid}: 0 files flushed\n"
    assert lastupdate(rrddir / "web1/la.rrd") == (T0, {"la": 100.0})
    assert lastupdate(rrddir / "db1/la.rrd")[0] < T0  # only the host asked for
    # The answer counts the files: la, procs and users.
    assert flush("db1") == f"rrdd {proc.pid}: 3 files flushed\n"
    assert lastupdate(rrddir / "db1/la.rrd") == (T0, {"la": 200.0})
    assert "files flushed" in flush()  # everything
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0
    proc.stderr.close()
    assert list(tmpdir.glob("rrdctl.*")) == []  # removed at exit


def test_flush_with_no_rrdd_running(tmp_path: Path) -> None:
    env = {**os.environ, "XYMONTMP": str(tmp_path)}
    p = subprocess.run([RRDD, "flush", "web1"], env=env, capture_output=True, text=True)
    assert p.returncode == 1 and "no rrdd answered" in p.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def scrape(port: int) -> dict[str, float]:
    """rrdd's /metrics, once it answers: "name[(label, value)...]" -> value."""
    text = ""

    def answered() -> bool:
        nonlocal text
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return False
        return True

    wait_until(answered)
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@ONE_OR_TWO
def test_metrics_move_as_a_stream_is_ingested(rrddir: Path, shards: list[str]) -> None:
    port = free_port()
    proc = start(rrddir, f"--metrics-listen=127.0.0.1:{port}", *shards, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None
    before = scrape(port)
    # With --workers=2, h1 and web1 are on different workers, and every worker gets
    # the reload: it still counts once.
    send(proc, cpu(1, "h1", T0, "0.50") + cpu(2, "web1", T0, "0.70") + control(3, "reload"))

    # The counters move while rrdd works: wait for the last ones the two messages move
    # (a file counts as created once its worker process has made it).
    def moved() -> bool:
        now = scrape(port)
        pending, made = now.get("rrdd_cache_pending_values[]"), now.get("rrdd_rrd_creates_total[]")
        return min(pending or 0, made or 0) >= 6

    wait_until(moved)
    after = scrape(port)
    assert after["rrdd_messages_total[('kind', 'status')]"] == 2
    assert after["rrdd_messages_total[('kind', 'reload')]"] == 1
    assert before.get("rrdd_messages_total[('kind', 'status')]", 0) == 0
    assert after["rrdd_updates_total[('handler', 'la')]"] == 6
    assert after["rrdd_rrd_creates_total[]"] == 6
    assert after["rrdd_cache_pending_values[]"] == 6
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0


def private_python(top: Path) -> str:
    """A venv with rrdd in it under `top` (mode 0700), as a clone under /root has: a user
    rrdd becomes can read none of it. Its packages are links to this venv's, rrdd a copy."""
    top.mkdir(mode=0o700)
    mine = Path(sysconfig.get_paths()["purelib"])
    packages = top / "venv" / mine.relative_to(sys.prefix)
    packages.mkdir(parents=True)
    for entry in mine.iterdir():
        if not entry.name.startswith(("__editable__", "rrdd")):  # this rrdd is a link away
            (packages / entry.name).symlink_to(entry)
    shutil.copytree(Path(rrdd.__file__).parent, packages / "rrdd")
    shutil.copy(Path(sys.prefix) / "pyvenv.cfg", top / "venv")
    (top / "venv/bin").mkdir()
    (top / "venv/bin/python").symlink_to(os.path.realpath(sys.executable))
    return str(top / "venv/bin/python")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop it")
@ONE_OR_TWO
def test_root_is_dropped_to_the_configured_user(tmp_path: Path, shards: list[str]) -> None:
    # The processes that create files must not need to read rrdd or its Python again.
    python = private_python(tmp_path / "root")
    # Its own rrdd, even where PYTHONPATH names another (extras/mutate.sh's copies).
    env = {k: v for k, v in clean_env().items() if k != "PYTHONPATH"}
    where = subprocess.run([python, "-c", "import rrdd; print(rrdd.__file__)"], env=env,
                           cwd="/", capture_output=True, text=True).stdout  # fmt: skip
    assert where.startswith(f"{tmp_path}/root/venv/")
    rrddir = Path(tempfile.mkdtemp(prefix="rrdd-user-", dir="/tmp"))  # pytest's is root-only
    os.chmod(rrddir, 0o777)
    hosts = ("h1", "h2")  # with --workers=2, one on each worker
    try:
        p = subprocess.run(
            [python, "-m", "rrdd", f"--rrddir={rrddir}", "--user=nobody", *shards],
            input=cpu(1, "h1", T0, "0.50") + cpu(2, "h2", T0, "0.75"),
            capture_output=True,
            env=env,
            cwd="/",  # not this clone's rrdd
            timeout=60,
        )
        paths = [rrddir / h / "la.rrd" for h in hosts]
        owners = [path.stat().st_uid if path.exists() else None for path in paths]
        values = [lastupdate(path) if path.exists() else None for path in paths]
    finally:
        shutil.rmtree(rrddir)
    log = p.stderr.decode()
    assert p.returncode == 0, log
    assert owners == [pwd.getpwnam("nobody").pw_uid] * 2
    assert values == [(T0, {"la": 50.0}), (T0, {"la": 75.0})]
    assert "Running as user nobody" in log
    assert " ERROR " not in log  # no failed create, not even one rrdd made itself later


def readable_python(top: Path) -> str:
    """A venv under `top` that every user may read: rrdd and the packages it imports
    copied (this venv may be under /root, mode 0700, as a clone there has it)."""
    mine = Path(sysconfig.get_paths()["purelib"])
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, rrdd.cli, rrdd.startup; print(*sys.modules)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    tops = {name.partition(".")[0] for name in loaded}
    packages = top / "venv" / mine.relative_to(sys.prefix)
    packages.mkdir(parents=True)
    for entry in mine.iterdir():
        name = entry.name.partition(".")[0]
        if name in tops or name.startswith("_") and name.lstrip("_") in tops:
            copy = shutil.copytree if entry.is_dir() else shutil.copy
            copy(entry.resolve(), packages / entry.name)
    shutil.copytree(Path(rrdd.__file__).parent, packages / "rrdd", dirs_exist_ok=True)
    shutil.copy(Path(sys.prefix) / "pyvenv.cfg", top / "venv")
    (top / "venv/bin").mkdir()
    (top / "venv/bin/python").symlink_to(os.path.realpath(sys.executable))
    for path in (top, *top.rglob("*")):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    return str(top / "venv/bin/python")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop it")
def test_no_process_to_create_files_stops_rrdd_with_a_reason() -> None:
    # As nobody, with one process allowed (rrdd itself), no worker can be forked: a run
    # that could write nothing says why, and exits non-zero at once.
    rrddir = Path(tempfile.mkdtemp(prefix="rrdd-nproc-", dir="/tmp"))
    os.chmod(rrddir, 0o777)
    # rrdd runs as nobody from the start: its Python must be readable by nobody.
    where = Path(tempfile.mkdtemp(prefix="rrdd-python-", dir="/tmp"))
    os.chmod(where, 0o755)
    python = readable_python(where)
    nobody = pwd.getpwnam("nobody")
    try:
        p = subprocess.run(
            [python, "-m", "rrdd", f"--rrddir={rrddir}"],
            input=cpu(1, "h1", T0, "0.50"),
            capture_output=True,
            env=clean_env(),
            timeout=60,
            user=nobody.pw_uid,
            group=nobody.pw_gid,
            extra_groups=[],
            cwd="/",  # a clone under /root: its directory is not nobody's to enter
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NPROC, (1, 1)),
        )
        made = sorted(str(p.relative_to(rrddir)) for p in rrddir.rglob("*"))
    finally:
        shutil.rmtree(rrddir)
        shutil.rmtree(where)
    log = p.stderr.decode()
    assert p.returncode == 1, log
    assert "cannot start a process to create RRD files: [Errno 11]" in log
    assert made == []


def ncv_status(seq: int, host: str, test: str, ts: int) -> bytes:
    return status(seq, host, test, ts, f"status {host}.{test} green fine\nconns: 5\nhits: 7")


@ONE_OR_TWO
def test_reload_applies_a_changed_file_keeps_pending_values_and_survives_a_bad_one(
    tmp_path: Path, log: Log, shards: list[str]
) -> None:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    config = tmp_path / "rrdd.toml"
    config.write_text('test2rrd = "cpu=la"\n')
    processes = 2 if shards else 1  # the workers reload, each on its own
    proc = start(rrddir, f"--config={config}", *shards, stderr=log.file)
    assert proc.stdin is not None
    # The cpu message after the other: once la.rrd exists, myapp's has been handled.
    send(proc, ncv_status(1, "h1", "myapp", T0) + cpu(2, "h1", T0, "0.50"))
    wait_until(lambda: (rrddir / "h1/la.rrd").exists())
    assert not (rrddir / "h1/myapp.rrd").exists()  # myapp has no handler yet
    config.write_text('test2rrd = "cpu=la,myapp=ncv"\n[ncv]\nmyapp = "*:GAUGE"\n')
    proc.send_signal(signal.SIGHUP)
    # The watcher may reload it as well; either reload reads the new file.
    wait_until(lambda: len(set(log.said("Configuration reloaded"))) == processes)
    send(proc, ncv_status(3, "h1", "myapp", T0 + 300))
    wait_until(lambda: (rrddir / "h1/myapp.rrd").exists())
    config.write_text('test2rrd = "cpu=la"\nthis is not toml\n')  # the watcher sees this too
    proc.send_signal(signal.SIGHUP)
    wait_until(lambda: len(set(log.said("Reload failed, keeping the old"))) == processes)
    send(proc, ncv_status(4, "h1", "myapp", T0 + 600) + cpu(5, "h1", T0 + 300, "0.70"))
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0
    # The values of the first cpu message waited in the cache through both reloads:
    # 2 cpu messages x (la, procs, users) + 2 myapp messages, all written at the end.
    assert "values_written 8" in log.text()
    assert lastupdate(rrddir / "h1/myapp.rrd") == (T0 + 600, {"conns": 5.0, "hits": 7.0})


@ONE_OR_TWO
def test_an_edit_of_hosts_cfg_reloads_once_though_asked_twice(
    tmp_path: Path, shards: list[str]
) -> None:
    """The file watcher reloads when hosts.cfg changes, and xymond's @@reload comes once
    xymond has read the file too: the second reload reads nothing new and is skipped."""
    rrddir, hosts, log = tmp_path / "rrd", tmp_path / "hosts.cfg", tmp_path / "rrdd.log"
    rrddir.mkdir()
    hosts.write_text("10.0.0.1 web1 # conn\n")
    with log.open("wb") as out:
        proc = start(rrddir, "--debug", *shards, stderr=out.fileno(), HOSTSCFG=str(hosts))
    assert proc.stdin is not None
    proc.stdin.write(cpu(1, "web1", T0, "0.50"))
    proc.stdin.flush()
    wait_until(lambda: (rrddir / "web1/la.rrd").exists())  # started, and so is the watcher
    processes = 2 if shards else 1  # each worker reloads
    hosts.write_text("10.0.0.1 web1 # conn INTERFACES:^eth\n")
    wait_until(lambda: log.read_text().count("Configuration reloaded") == processes)
    proc.stdin.write(control(2, "reload"))
    proc.stdin.flush()
    wait_until(lambda: log.read_text().count("Reload skipped") == processes)
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0
    assert log.read_text().count("Configuration reloaded") == processes


def test_sighup_reads_rrddefinitions_protocols_and_snmpmibs_again(tmp_path: Path, log: Log) -> None:
    # The three files come after the start: rrdd's watcher, which watches the files read
    # at start, does not see them, so only the signal can bring them in. Then they
    # change, and the signal brings the change in.
    rrddir, etc = tmp_path / "rrd", tmp_path / "xymon/etc"
    rrddir.mkdir()
    etc.mkdir(parents=True)
    proc = start(rrddir, stderr=log.file, XYMONHOME=str(etc.parent))
    seq = itertools.count(1)
    reports = {"ldap": "Seconds: 0.25", "imaps": "Seconds: 0.5", "hrsystem": "\tNumUsers = 3"}
    reports["mymib"] = "\tLoad = 7"

    def messages(host: str) -> None:
        """Two TCP checks, two SNMP reports and a cpu status, read before the files
        change (rrdd takes a signal after what it has read)."""
        for test, text in reports.items():
            send(proc, status(next(seq), host, test, T0, f"status {host}.{test} green\n\n{text}"))
        send(proc, cpu(next(seq), host, T0, "1.00"))
        wait_read(proc)

    def reload(rows: int, protocols: str, mibs: str, times: int) -> None:
        (etc / "rrddefinitions.cfg").write_text(f"[]\n\tRRA:AVERAGE:0.5:1:{rows}\n")
        (etc / "protocols.cfg").write_text(protocols)
        (etc / "snmpmibs.cfg").write_text(mibs)
        proc.send_signal(signal.SIGHUP)
        log.wait_for("Configuration reloaded", times)

    ldap, imaps = "[ldap]\n\tport 389\n", "[imaps]\n\tport 993\n"
    hrsystem = "[hrsystem]\n\tNumUsers = HOST-RESOURCES-MIB::hrSystemNumUsers.0 /rrd:GAUGE\n"
    mymib = "[mymib]\n\tLoad = X::load.0 /rrd:GAUGE\n"
    messages("before")
    reload(100, ldap, hrsystem, times=1)
    messages("first")
    reload(200, ldap + imaps, hrsystem + mymib, times=2)
    messages("second")
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0
    made = {h: set(os.listdir(rrddir / h)) for h in ("before", "first", "second")}
    cpu_files = {"la.rrd", "procs.rrd", "users.rrd"}
    assert made["before"] == cpu_files
    assert made["first"] == cpu_files | {"tcp.ldap.rrd", "hrsystem.rrd"}
    assert made["second"] == made["first"] | {"tcp.imaps.rrd", "mymib.rrd"}
    rows = {h: rrdtool.info(str(rrddir / h / "la.rrd"))["rra[0].rows"] for h in made}
    assert rows == {"before": 576, "first": 100, "second": 200}
    assert lastupdate(rrddir / "second/mymib.rrd") == (T0, {"Load": 7.0})
    assert lastupdate(rrddir / "second/tcp.imaps.rrd") == (T0, {"sec": 0.5})


def libfaketime() -> str:
    """libfaketime.so.1 of Debian's faketime package, which extras/setup.sh installs: a run
    without it fails rather than skips the tests that need it."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        pytest.fail("libfaketime is missing: run extras/setup.sh (Debian package faketime)")
    return found[0]


@pytest.mark.parametrize("options", [[], ["--no-cache"], ["--workers=2"]])
def test_a_stream_replayed_under_a_frozen_clock(rrddir: Path, options: list[str]) -> None:
    # libfaketime stops the clock (admins replay saved streams so; so does the oracle
    # tool): timed waits must not depend on the clock moving.
    hosts = [f"h{h}.example.com" for h in range(3)]  # with --workers=2, on both workers
    stream = b"".join(
        cpu(1 + 3 * c + h, host, T0 + 300 * c, f"{c}.5")
        for c in range(3)
        for h, host in enumerate(hosts)
    )
    frozen = {"LD_PRELOAD": libfaketime(), "FAKETIME": "@2026-11-22 10:00:00"}
    frozen |= {"FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_DONT_RESET": "1"}
    p = run(rrddir, stream, *options, **frozen)
    assert p.returncode == 0, p.stderr
    assert [lastupdate(rrddir / host / "la.rrd") for host in hosts] == [
        (T0 + 600, {"la": 250.0})
    ] * 3
