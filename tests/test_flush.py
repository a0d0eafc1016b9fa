"""The rrdctl flush socket and `rrdd flush`, over real Unix sockets."""

from __future__ import annotations

import os
import select
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rrdd.errors import ConfigError, StartError
from rrdd.flush import (
    OTHER_TIMEOUT,
    SUN_PATH_MAX,
    FlushRequest,
    FlushSocket,
    is_rrdd,
    request_flush,
)
from rrdd.schema import unsafe_name
from tests.helpers import wait_until

RRDDIR = "/var/lib/xymon/rrd"


@pytest.fixture
def flush(tmp_path: Path) -> Iterator[FlushSocket]:
    fs = FlushSocket(tmp_path, RRDDIR, pid=4242)
    yield fs
    fs.close()


def showgraph(tmpdir: Path, data: bytes) -> None:
    """What showgraph.cgi does: sendto from an unbound socket to every rrdctl.* file."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.settimeout(5)  # a full queue would block showgraph; here it fails the test instead
        for path in tmpdir.glob("rrdctl.*"):
            with suppress(OSError):  # showgraph ignores stale sockets
                s.sendto(data, str(path))


def rrdcachectl(path: Path, *lines: str) -> None:
    """What rrdcachectl does: connect, then one datagram per line with its newline and a NUL."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(str(path))
        for line in lines:
            s.send(line.encode() + b"\n\0")


def stale_socket(path: Path) -> None:
    """A socket file whose owner has gone: bound, then closed without unlinking."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.close()


@contextmanager
def serving(
    fs: FlushSocket, reply: Callable[[FlushRequest], str] = lambda r: f"flushed {r.host}"
) -> Iterator[list[FlushRequest]]:
    """Run a daemon's side in a thread: wait for requests and answer each one."""
    seen: list[FlushRequest] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            select.select([fs], [], [], 0.05)
            for request in fs.requests():
                seen.append(request)
                fs.answer(request, reply(request))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


# --- the daemon's socket -----------------------------------------------------------


def test_showgraph_datagram(tmp_path: Path, flush: FlushSocket) -> None:
    assert flush.requests() == []
    showgraph(tmp_path, b"/www.example.com/")
    [request] = flush.requests()
    assert request == FlushRequest("www.example.com", None, None)
    assert not request.all_hosts
    flush.answer(request, "nobody to tell")  # an unbound sender: nothing is sent
    assert flush.requests() == []


def test_rrdcachectl_lines(flush: FlushSocket) -> None:
    rrdcachectl(flush.path, "/www/la.rrd", "/db1/")
    assert flush.requests() == [
        FlushRequest("www", "la.rrd", None),
        FlushRequest("db1", None, None),
    ]


def test_several_keys_in_one_datagram(tmp_path: Path, flush: FlushSocket) -> None:
    showgraph(tmp_path, b"/a/\n/b/disk,root.rrd\r\n\n/\n/c/\0")
    showgraph(tmp_path, b"/d/")
    requests = flush.requests()
    assert [(r.host, r.file) for r in requests] == [
        ("a", None),
        ("b", "disk,root.rrd"),
        ("", None),
        ("c", None),
        ("d", None),
    ]
    assert [r.all_hosts for r in requests] == [False, False, True, False, False]


@pytest.mark.parametrize("rrddir", [RRDDIR, RRDDIR + "/", RRDDIR + "//"])
def test_rrddir_prefix_stripped(tmp_path: Path, rrddir: str) -> None:
    fs = FlushSocket(tmp_path, rrddir)
    try:
        showgraph(tmp_path, f"{RRDDIR}/www/la.rrd\n{RRDDIR}/db1/\n{RRDDIR}/\n/plain/".encode())
        showgraph(tmp_path, f"{RRDDIR}\n{RRDDIR}www/\n{RRDDIR}/../x/".encode())
        assert [(r.host, r.file) for r in fs.requests()] == [
            ("www", "la.rrd"),
            ("db1", None),
            ("", None),
            ("plain", None),
        ]
    finally:
        fs.close()


def test_root_as_rrddir_keeps_the_key(tmp_path: Path) -> None:
    fs = FlushSocket(tmp_path, "/")
    try:
        showgraph(tmp_path, b"/www/\n/")
        assert [(r.host, r.file) for r in fs.requests()] == [("www", None), ("", None)]
    finally:
        fs.close()


GARBAGE = [
    b"",
    b"\0",
    b" \t",
    b"www",
    b"www/",
    b"www/la.rrd",
    b"/www",
    b"//",
    b"//la.rrd",
    b"/./",
    b"/../",
    b"/../x/",
    b"/a/../../b",
    b"/a/..",
    b"/a/.",
    b"/a/b/",
    b"/a/b/c.rrd",
    b"/../../../etc/passwd",
    b"/\xff/",
    b"/www/\xc3(.rrd",
    b"/" + b"h" * 300 + b"/",
    b"/www/" + b"f" * 300,
    b"\\www\\",
]


@pytest.mark.parametrize("key", GARBAGE, ids=repr)
def test_garbage_skipped(tmp_path: Path, flush: FlushSocket, key: bytes) -> None:
    showgraph(tmp_path, key)
    assert flush.requests() == []
    showgraph(tmp_path, b"/ok/\n" + key + b"\n/ok/la.rrd")
    assert [(r.host, r.file) for r in flush.requests()] == [("ok", None), ("ok", "la.rrd")]


def test_arbitrary_bytes(tmp_path: Path, flush: FlushSocket) -> None:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.binary(max_size=40) | st.sampled_from(GARBAGE), max_size=6))
    def check(pieces: list[bytes]) -> None:
        showgraph(tmp_path, b"\n".join(pieces))
        for request in flush.requests():
            assert request.sender is None
            if request.all_hosts:
                assert request.file is None
                continue
            assert unsafe_name(request.host) is None
            assert request.file is None or unsafe_name(request.file) is None

    check()


def test_datagrams_drained_in_order(tmp_path: Path, flush: FlushSocket) -> None:
    for i in range(8):  # Linux queues 10 datagrams by default (net.unix.max_dgram_qlen)
        showgraph(tmp_path, f"/h{i}/".encode())
    assert [r.host for r in flush.requests()] == [f"h{i}" for i in range(8)]
    assert flush.requests() == []


def test_answer_reaches_a_bound_sender(tmp_path: Path, flush: FlushSocket) -> None:
    me = tmp_path / "client"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(str(me))
        s.sendto(b"/www/", str(flush.path))
        [request] = flush.requests()
        assert request == FlushRequest("www", None, str(me))
        flush.answer(request, "flushed 3 files")
        s.settimeout(5)
        assert s.recv(100) == b"flushed 3 files"
    os.unlink(me)
    flush.answer(request, "the client has gone")  # no error


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's abstract namespace")
def test_answer_reaches_an_abstract_sender(flush: FlushSocket) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("")  # autobind: a name in the abstract namespace
        s.sendto(b"/www/", str(flush.path))
        [request] = flush.requests()
        assert request.sender is not None and request.sender.startswith("\0")
        flush.answer(request, "ok")
        s.settimeout(5)
        assert s.recv(100) == b"ok"


def test_socket_file(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        fs = FlushSocket(tmp_path, RRDDIR)
    finally:
        os.umask(old)
    assert fs.path == tmp_path / f"rrdctl.{os.getpid()}"
    mode = os.stat(fs.path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o666
    assert fs.fileno() >= 0
    assert os.get_blocking(fs.fileno()) is False
    fs.close()
    assert not fs.path.exists()
    assert fs.fileno() == -1
    assert fs.requests() == []
    fs.close()


@pytest.mark.parametrize("kind", ["file", "socket"])
def test_stale_file_unlinked(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "rrdctl.77"
    if kind == "file":
        path.write_text("left over")
    else:
        stale_socket(path)
    fs = FlushSocket(tmp_path, RRDDIR, pid=77)
    try:
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        showgraph(tmp_path, b"/www/")
        assert [r.host for r in fs.requests()] == ["www"]
    finally:
        fs.close()


def test_path_too_long(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    size = len(os.fsencode(deep / "rrdctl.123"))
    with pytest.raises(StartError) as e:
        FlushSocket(deep, RRDDIR, pid=123)
    assert f"is {size} bytes long" in str(e.value)
    assert f"at most {SUN_PATH_MAX}" in str(e.value)
    assert list(deep.iterdir()) == []


def test_longest_path_that_fits(tmp_path: Path) -> None:
    name = "rrdctl.1"
    room = SUN_PATH_MAX - len(os.fsencode(tmp_path)) - 2 - len(name)
    if room < 1:
        pytest.skip("the temporary directory is too deep")
    d = tmp_path / ("x" * room)
    d.mkdir()
    fs = FlushSocket(d, RRDDIR, pid=1)
    assert len(os.fsencode(fs.path)) == SUN_PATH_MAX
    fs.close()
    with pytest.raises(StartError):
        FlushSocket(d, RRDDIR, pid=12)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(StartError, match="there is no directory"):
        FlushSocket(tmp_path / "nowhere", RRDDIR)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_directory(tmp_path: Path) -> None:
    d = tmp_path / "ro"
    d.mkdir(mode=0o555)
    try:
        with pytest.raises(StartError, match="Permission denied"):
            FlushSocket(d, RRDDIR)
    finally:
        d.chmod(0o755)


def test_directory_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "rrdctl.5").mkdir()
    with pytest.raises(StartError, match="rrdctl.5"):
        FlushSocket(tmp_path, RRDDIR, pid=5)


# --- rrdd flush --------------------------------------------------------------------


def test_request_flush_answered(tmp_path: Path, flush: FlushSocket) -> None:
    with serving(flush) as seen:
        assert request_flush(tmp_path, "www.example.com", timeout=5) == ["flushed www.example.com"]
        assert request_flush(tmp_path, "www.example.com", "la.rrd", timeout=5) == [
            "flushed www.example.com"
        ]
        assert request_flush(tmp_path, timeout=5) == ["flushed "]
    assert [(r.host, r.file, r.all_hosts) for r in seen] == [
        ("www.example.com", None, False),
        ("www.example.com", "la.rrd", False),
        ("", None, True),
    ]
    senders = {r.sender for r in seen}
    assert len(senders) == 3  # a new reply socket each time
    for sender in senders:
        assert sender is not None
        assert Path(sender).parent == tmp_path
        assert Path(sender).name.startswith("rrdflush.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rrdctl.4242"]


def test_request_flush_from_every_worker(tmp_path: Path) -> None:
    status = FlushSocket(tmp_path, RRDDIR, pid=100)
    data = FlushSocket(tmp_path, RRDDIR, pid=200)
    stale_socket(tmp_path / "rrdctl.300")
    (tmp_path / "rrdctl.400").write_text("")
    try:
        with serving(status, lambda r: "status"), serving(data, lambda r: "data"):
            answers = request_flush(tmp_path, "www", timeout=5)
    finally:
        status.close()
        data.close()
    assert sorted(answers) == ["data", "status"]


def test_request_flush_stale_socket(tmp_path: Path) -> None:
    stale_socket(tmp_path / "rrdctl.999")
    start = time.monotonic()
    assert request_flush(tmp_path, "www", timeout=10) == []
    assert time.monotonic() - start < 5  # nothing to wait for
    assert [p.name for p in tmp_path.iterdir()] == ["rrdctl.999"]


def test_request_flush_silent_worker(tmp_path: Path, flush: FlushSocket) -> None:
    """A real xymond_rrd takes the request and never answers: the client times out."""
    start = time.monotonic()
    assert request_flush(tmp_path, "www", timeout=0.3) == []
    assert time.monotonic() - start >= 0.3
    assert [r.host for r in flush.requests()] == ["www"]


def test_request_flush_ignores_strangers(tmp_path: Path, flush: FlushSocket) -> None:
    """Only the sockets the request went to can answer it, each once."""

    def reply(request: FlushRequest) -> str:
        assert request.sender is not None
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"from nowhere", request.sender)
        return "flushed"

    with serving(flush, reply):
        assert request_flush(tmp_path, "www", timeout=5) == ["flushed"]


def test_request_flush_nothing_there(tmp_path: Path) -> None:
    assert request_flush(tmp_path, "www", timeout=5) == []
    assert request_flush(tmp_path / "nowhere", timeout=5) == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("host", "file"), [("..", None), ("", None), ("a/b", None), ("www", ".."), ("www", "x/y")]
)
def test_request_flush_bad_names(tmp_path: Path, host: str, file: str | None) -> None:
    with pytest.raises(ConfigError, match="cannot flush"):
        request_flush(tmp_path, host, file)


def test_request_flush_file_needs_host(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        request_flush(tmp_path, None, "la.rrd")


def test_request_flush_reply_socket_too_long() -> None:
    with tempfile.TemporaryDirectory() as top:
        deep = Path(top) / ("d" * 100)
        deep.mkdir()
        (deep / "rrdctl.1").write_text("")
        with pytest.raises(StartError, match="the reply socket"):
            request_flush(deep, "www")


def test_request_flush_waits_briefly_for_a_socket_not_rrdds(
    tmp_path: Path, flush: FlushSocket
) -> None:
    """A xymond_rrd beside rrdd (a migration) takes the key and never answers."""
    start = time.monotonic()
    answers = request_flush(tmp_path, "www", timeout=30, others=0.3, rrdd=lambda pid: False)
    assert answers == []
    assert 0.3 <= time.monotonic() - start < 10
    assert [r.host for r in flush.requests()] == ["www"]  # it got the key all the same


def test_request_flush_waits_for_rrdd_until_its_timeout(tmp_path: Path, flush: FlushSocket) -> None:
    start = time.monotonic()
    answers = request_flush(tmp_path, "www", timeout=0.6, others=0.1, rrdd=lambda pid: pid == 4242)
    assert answers == []
    assert time.monotonic() - start >= 0.6


XYMOND_RRD = "/usr/lib/xymon/server/bin/xymond_rrd"  # Debian's xymon package
RRDD = str(Path(sys.executable).with_name("rrdd"))
SILENT = """
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(os.path.join(sys.argv[1], f"rrdctl.{os.getpid()}"))
sys.stdin.read()  # holds the socket, never reads it, until its stdin closes
"""


@contextmanager
def running(*args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A process that lives until its stdin closes."""
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def test_which_processes_are_rrdd(tmp_path: Path) -> None:
    env = {**os.environ, "XYMONTMP": str(tmp_path)}
    rrddir = f"--rrddir={tmp_path}"
    with (
        running(RRDD, rrddir, env=env) as script,
        running(sys.executable, "-m", "rrdd", rrddir, env=env) as module,
        running(XYMOND_RRD, rrddir, env=env) as xymond_rrd,
        running(sys.executable, "-c", SILENT, str(tmp_path), env=env) as silent,
    ):
        for p in (script, module, xymond_rrd, silent):  # see test_where_rrdd_may_stand...
            wait_until(Path(f"/proc/{p.pid}/cmdline").read_bytes)
        assert is_rrdd(script.pid) and is_rrdd(module.pid)
        assert not is_rrdd(xymond_rrd.pid)
        assert not is_rrdd(silent.pid)
        assert not is_rrdd(os.getpid())
    assert not is_rrdd(script.pid)  # gone


def test_rrdd_flush_beside_xymond_rrd_and_a_silent_socket(tmp_path: Path) -> None:
    """rrdd answers at once; the sockets that are not rrdd's are given OTHER_TIMEOUT."""
    tmpdir, rrddir, olddir = tmp_path / "tmp", tmp_path / "rrd", tmp_path / "old"
    for d in (tmpdir, rrddir, olddir):
        d.mkdir()
    env = {**os.environ, "XYMONTMP": str(tmpdir)}
    with (
        running(XYMOND_RRD, f"--rrddir={olddir}", env=env) as xymond_rrd,
        running(sys.executable, "-c", SILENT, str(tmpdir), env=env) as silent,
        running(RRDD, f"--rrddir={rrddir}", env=env) as rrdd,
    ):
        sockets = {tmpdir / f"rrdctl.{p.pid}" for p in (xymond_rrd, silent, rrdd)}
        wait_until(lambda: all(s.exists() for s in sockets))
        start = time.monotonic()
        flush = subprocess.run(
            [RRDD, "flush", "web1"], env=env, capture_output=True, text=True, timeout=25
        )
        took = time.monotonic() - start
    assert flush.returncode == 0, flush.stderr
    assert flush.stdout == f"rrdd {rrdd.pid}: 0 files flushed\n"
    assert OTHER_TIMEOUT <= took < OTHER_TIMEOUT + 5


# --- what the mutants of control.py showed unheld ---------------------------------


def test_the_socket_path_limit_is_the_kernels() -> None:
    # Linux's sun_path holds 108 bytes with the closing NUL: 107 bind, 108 do not.
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        base = Path(d)
        fits = base / ("s" * (107 - len(os.fsencode(base)) - len("/rrdctl.1") - 1)) / ""
        fits.mkdir()
        assert len(os.fsencode(fits / "rrdctl.1")) == 107
        FlushSocket(fits, RRDDIR, pid=1).close()
        with pytest.raises(StartError, match="at most 107; set a shorter XYMONTMP"):
            FlushSocket(fits, RRDDIR, pid=12)


def test_a_datagram_is_read_up_to_64_kib(tmp_path: Path, flush: FlushSocket) -> None:
    keys = b"".join(b"/h%05d/\n" % i for i in range(12000))  # 108,000 bytes, 9 a key
    showgraph(tmp_path, keys)
    hosts = [r.host for r in flush.requests()]
    assert hosts == [f"h{i:05d}" for i in range(65536 // 9)]  # the rest is cut, as recv does


def test_a_flush_request_item_cannot_be_changed() -> None:
    with pytest.raises(AttributeError):
        FlushRequest("h", None, None).host = "other"  # type: ignore[misc]


def test_a_refused_name_is_named_cut_to_eighty_characters(tmp_path: Path) -> None:
    host, file = "a/" + "b" * 200, "c/" + "d" * 200
    with pytest.raises(ConfigError) as e:
        request_flush(tmp_path, host)
    assert str(e.value) == f"cannot flush host {host[:80]!r}: {unsafe_name(host)}"
    with pytest.raises(ConfigError) as e:
        request_flush(tmp_path, "h", file)
    assert str(e.value) == f"cannot flush file {file[:80]!r}: {unsafe_name(file)}"


def test_a_directory_in_the_way_is_named_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "rrdctl.5").mkdir()
    with pytest.raises(StartError) as e:
        FlushSocket(tmp_path, RRDDIR, pid=5)
    assert str(e.value) == f"cannot create the flush socket {tmp_path}/rrdctl.5: Is a directory"


def test_request_flush_passes_over_what_is_not_a_flush_socket(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Sorted before the live socket: a stale one, a plain file, a stream socket.
    stale_socket(tmp_path / "rrdctl.1")
    (tmp_path / "rrdctl.2").write_text("")
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stream.bind(str(tmp_path / "rrdctl.3"))
    fs = FlushSocket(tmp_path, RRDDIR, pid=4)
    try:
        with serving(fs):
            answers = request_flush(tmp_path, "www", timeout=10, rrdd=lambda pid: pid == 4)
    finally:
        fs.close()
        stream.close()
    assert answers == ["flushed www"]
    assert [r.getMessage() for r in caplog.records] == [
        f"Cannot send the flush request to {tmp_path}/rrdctl.3: Protocol wrong type for socket"
    ]


def test_request_flush_waits_for_a_late_rrdd_after_a_silent_stranger(tmp_path: Path) -> None:
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    silent.bind(str(tmp_path / "rrdctl.1"))  # not rrdd: waited for 0.2 s
    fs = FlushSocket(tmp_path, RRDDIR, pid=2)

    def late(request: FlushRequest) -> str:
        time.sleep(1)  # the answer comes after the stranger's time is up
        return "late"

    try:
        with serving(fs, late):
            answers = request_flush(tmp_path, timeout=20, others=0.2, rrdd=lambda pid: pid == 2)
    finally:
        fs.close()
        silent.close()
    assert answers == ["late"]


def test_a_socket_that_is_not_rrdds_is_waited_for_two_seconds(tmp_path: Path) -> None:
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    silent.bind(str(tmp_path / "rrdctl.1"))
    try:
        started = time.monotonic()
        assert request_flush(tmp_path, timeout=20, rrdd=lambda pid: False) == []
        took = time.monotonic() - started
    finally:
        silent.close()
    assert 2.0 <= took < 2.9


def test_where_rrdd_may_stand_in_a_command_line(tmp_path: Path) -> None:
    # rrdd is the program (one of the first two words) or the module after -m (in the
    # first four); xymond_channel names rrdd further on, and it is not rrdd. The look-alikes
    # are cat, waiting to open a FIFO, and a module of another name.
    os.mkfifo(tmp_path / "rrdd")
    os.mkfifo(tmp_path / "-m")
    (tmp_path / "sleeper.py").write_text("import time\ntime.sleep(60)\n")
    look_alikes = [
        ["xymond_channel", "-u", "rrdd"],
        ["xymond_channel", "-", "rrdd"],
        ["xymond_channel", "-u", "--", "-m", "rrdd"],
    ]
    env = {**os.environ, "XYMONTMP": str(tmp_path)}
    procs = [
        subprocess.Popen(argv, executable="/bin/cat", cwd=tmp_path, stdin=subprocess.DEVNULL)
        for argv in look_alikes
    ]
    procs.append(subprocess.Popen([sys.executable, "-m", "sleeper"], cwd=tmp_path))
    try:
        with running(sys.executable, "-u", "-m", "rrdd", f"--rrddir={tmp_path}", env=env) as rrdd:
            for p in [rrdd, *procs]:  # exec closes the pipe Popen waits on before it sets
                wait_until(Path(f"/proc/{p.pid}/cmdline").read_bytes)  # the command line
            assert is_rrdd(rrdd.pid)
            assert [is_rrdd(p.pid) for p in procs] == [False] * 4
    finally:
        for p in procs:
            p.kill()
            p.wait()
