"""The file creation workers themselves (rrdd/writer/creator.py), without a writer: what
each process holds, which signals it outlives, its answers, how many requests wait on
one, and what happens when one cannot be started, dies or is asked to stop."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pwd
import select
import signal
import struct
import tempfile
import termios
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rrdd.writer import creator
from rrdd.writer.creator import MAX_IN_FLIGHT, Creator, Creators, Done
from tests.helpers import wait_until

ARGS = ["-s", "300", "DS:a:GAUGE:600:U:U", "RRA:AVERAGE:0.5:1:10"]
# librrd quotes back the argument it cannot read: the answer is an error of 150
# characters, 128 of them escaped, 281 bytes with its newline (at most 303 can be).
QUOTES = [*ARGS, '"' * 300]
QUOTES_ANSWER = 281


def made(creators: Creators, path: Path) -> list[Done]:
    creators.submit(str(path), ARGS)
    return creators.finished(wait=True)


def unread(worker: Creator) -> int:
    """The bytes of answers the worker has written that rrdd has not read."""
    return int(struct.unpack("i", fcntl.ioctl(worker.answers, termios.FIONREAD, b"\0" * 4))[0])


@pytest.fixture
def stop() -> Iterator[Callable[[int], None]]:
    """SIGSTOP for a worker; those a test leaves stopped, failing, go on at its end
    (a stopped worker would hold the test run's output open for ever)."""
    stopped: list[int] = []

    def stop(pid: int) -> None:
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)

    yield stop
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def test_start_forks_as_many_workers_as_asked_for(tmp_path: Path) -> None:
    creators = Creators(2)
    creators.start()
    pids = {w.pid for w in creators.workers}
    assert len(creators.workers) == 2 and len(pids) == 2 and os.getpid() not in pids
    creators.close()


def test_a_worker_holds_its_two_pipes_stdout_and_stderr_and_nothing_else(tmp_path: Path) -> None:
    # Descriptor 0 is the channel in rrdd; the spare one makes sure 3 is open too (the
    # lowest free number is taken). The worker closes them and every other it inherited.
    spare = os.open(os.devnull, os.O_RDONLY)
    try:
        assert os.fstat(0) and os.fstat(3)
        creators = Creators(1)
        assert made(creators, tmp_path / "a.rrd") == [Done(str(tmp_path / "a.rrd"), None)]
        fds = sorted(int(fd) for fd in os.listdir(f"/proc/{creators.workers[0].pid}/fd"))
        creators.close()
    finally:
        os.close(spare)
    assert len(fds) == 4 and fds[:2] == [1, 2] and 3 not in fds and spare not in fds


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_worker_outlives_the_signals_sent_to_the_whole_unit(
    tmp_path: Path, signum: signal.Signals
) -> None:
    # systemd sends SIGTERM to every process of the unit; a terminal's ^C sends SIGINT
    # to the process group. rrdd decides when its workers end: when it closes their pipes.
    creators = Creators(1)
    assert made(creators, tmp_path / "a.rrd") == [Done(str(tmp_path / "a.rrd"), None)]
    pid = creators.workers[0].pid
    os.kill(pid, signum)
    assert made(creators, tmp_path / "b.rrd") == [Done(str(tmp_path / "b.rrd"), None)]
    assert [w.pid for w in creators.workers] == [pid]
    assert creators.workers[0].close() == "exit status 0"


def test_an_error_is_cut_to_150_printable_ascii_characters(tmp_path: Path) -> None:
    creators = Creators(1)
    bad = [*ARGS, "bogus\t~\u00e9\x7f" + "z" * 200]  # librrd quotes the argument it cannot read
    creators.submit(str(tmp_path / "a.rrd"), bad)
    (done,) = creators.finished(wait=True)
    creators.close()
    start = "can't parse argument 'bogus?~??"
    assert done == Done(str(tmp_path / "a.rrd"), start + "z" * (150 - len(start)))
    assert not (tmp_path / "a.rrd").exists()


def test_a_worker_has_at_most_200_requests_waiting_and_their_answers_fit_its_pipe(
    tmp_path: Path,
) -> None:
    # 200 of the longest answers fill 56,200 of the pipe's 64 KiB: the worker gives them
    # all while rrdd reads none, and so never waits for rrdd while rrdd waits for it.
    creators = Creators(1)
    for i in range(200):
        creators.submit(str(tmp_path / f"{i}.rrd"), QUOTES)
    assert creators.busy() == 200  # nothing read back yet
    wait_until(lambda: unread(creators.workers[0]) == 200 * QUOTES_ANSWER)
    creators.submit(str(tmp_path / "last.rrd"), ARGS)  # reads the 200 answers first
    assert creators.busy() == 1
    done = creators.finished(wait=True)
    creators.close()
    assert [d.path for d in done] == [
        *(str(tmp_path / f"{i}.rrd") for i in range(200)),
        str(tmp_path / "last.rrd"),
    ]
    assert all(d.error and d.error.startswith("can't parse argument") for d in done[:200])
    assert done[200].error is None and os.listdir(tmp_path) == ["last.rrd"]


def test_finished_gives_every_answer_that_has_come(tmp_path: Path) -> None:
    # All that a worker's pipe may hold, more than half of its 64 KiB, comes in one call.
    creators = Creators(1)
    for i in range(MAX_IN_FLIGHT):
        creators.submit(str(tmp_path / f"{i}.rrd"), QUOTES)
    wait_until(lambda: unread(creators.workers[0]) == MAX_IN_FLIGHT * QUOTES_ANSWER)
    done = creators.finished()
    assert [d.path for d in done] == [str(tmp_path / f"{i}.rrd") for i in range(MAX_IN_FLIGHT)]
    assert creators.busy() == 0
    creators.close()


def test_finished_never_waits_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: Callable[[int], None]
) -> None:
    creators = Creators(1)
    creators.start()
    pid = creators.workers[0].pid
    stop(pid)
    waits: list[float | None] = []
    real = select.select

    def watched(r: list[int], w: list[int], x: list[int], timeout: float | None = None):  # type: ignore[no-untyped-def]
        waits.append(timeout)
        return real(r, w, x, timeout)

    monkeypatch.setattr(creator.select, "select", watched)
    creators.submit(str(tmp_path / "a.rrd"), ARGS)
    assert creators.finished() == [] and waits == [0]  # a stopped worker: nothing yet
    os.kill(pid, signal.SIGCONT)
    assert creators.finished(wait=True) == [Done(str(tmp_path / "a.rrd"), None)]
    creators.close()


def test_close_lets_every_request_under_way_be_made(tmp_path: Path) -> None:
    creators = Creators(1)
    creators.start()
    pid = creators.workers[0].pid
    os.kill(pid, signal.SIGSTOP)
    for i in range(50):
        creators.submit(str(tmp_path / f"{i}.rrd"), ARGS)
    os.kill(pid, signal.SIGCONT)
    creators.close()
    assert len(os.listdir(tmp_path)) == 50 and creators.workers == []


def test_read_gives_nothing_when_no_answer_has_come(tmp_path: Path) -> None:
    # A nested collect may have read the answers a select() saw: read() must not wait.
    worker = Creator()
    assert worker.read() == []
    assert worker.close() == "exit status 0"


def test_a_fork_that_fails_leaves_no_descriptor_open(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    before = sorted(os.listdir("/proc/self/fd"))
    with pytest.raises(BlockingIOError):
        Creator()
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_a_worker_that_cannot_be_started_refuses_the_file_says_so_once_and_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fork = os.fork

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    creators = Creators(1)
    why = "cannot start a process to create RRD files: [Errno 11] Resource temporarily unavailable"

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]

    creators.submit(str(tmp_path / "a.rrd"), ARGS)
    assert said() == [f"C{why[1:]}"]  # at the first failure
    creators.submit(str(tmp_path / "b.rrd"), ARGS)
    assert said() == [f"C{why[1:]}"]  # and not again
    assert creators.finished() == [
        Done(str(tmp_path / "a.rrd"), why),
        Done(str(tmp_path / "b.rrd"), why),
    ]
    monkeypatch.setattr(os, "fork", fork)  # the system has processes again
    assert made(creators, tmp_path / "c.rrd") == [Done(str(tmp_path / "c.rrd"), None)]
    assert creators.cannot_start == why  # rrdd still ends non-zero: files were lost
    creators.close()
    assert sorted(os.listdir(tmp_path)) == ["c.rrd"]


def test_a_request_for_a_worker_that_has_ended_goes_to_a_new_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    creators = Creators(1)
    creators.start()
    old = creators.workers[0].pid
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: Path(f"/proc/{old}/stat").read_text().split()[2] == "Z")
    # Its pipe has no reader: the request cannot be sent, and goes to a new worker.
    assert made(creators, tmp_path / "a.rrd") == [Done(str(tmp_path / "a.rrd"), None)]
    assert [w.pid != old for w in creators.workers] == [True]
    assert "A file creation worker ended (killed by SIGKILL) with nothing to do" in caplog.text
    creators.close()


def state(pid: int) -> str:
    """The process's state letter: S sleeping, T stopped, Z ended but not waited for."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_finished_gives_every_answer_that_has_come_when_workers_died_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: Callable[[int], None]
) -> None:
    # Two of three workers die with requests under way and no new one can be started:
    # their files are refused and their other requests go to the third, whose answers
    # had come meanwhile and are read in the same call.
    creators = Creators(3)
    creators.start()
    a, b, c = creators.workers
    for worker in (a, b):
        stop(worker.pid)
    paths = [str(tmp_path / f"{i}.rrd") for i in range(6)]
    for path in paths:  # a worker each in turn: a has 0 and 3, b 1 and 4, c 2 and 5
        creators.submit(path, ARGS)
    wait_until(lambda: unread(c) == len(b"null\n") * 2)
    stop(c.pid)  # it answers the others' requests only when let go
    for worker in (a, b):
        os.kill(worker.pid, signal.SIGKILL)
    wait_until(lambda: [state(w.pid) for w in (a, b, c)] == ["Z", "Z", "T"])
    fork = os.fork

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    died = "the process creating it died (killed by SIGKILL): refused, and not made by rrdd"
    assert creators.finished() == [
        Done(paths[0], died, crashed=True),
        Done(paths[1], died, crashed=True),
        Done(paths[2], None),
        Done(paths[5], None),
    ]
    assert creators.workers == [c]
    monkeypatch.setattr(os, "fork", fork)
    os.kill(c.pid, signal.SIGCONT)
    assert creators.finished(wait=True) == [Done(paths[4], None), Done(paths[3], None)]
    creators.close()
    assert sorted(os.listdir(tmp_path)) == ["2.rrd", "3.rrd", "4.rrd", "5.rrd"]


# Set by a test for the forks it makes: the new process hangs up on itself at once, as
# if a SIGHUP had come before it could set that signal aside.
_hang_up_in_child: list[bool] = []
os.register_at_fork(
    after_in_child=lambda: _hang_up_in_child and os.kill(os.getpid(), signal.SIGHUP)
)


@pytest.fixture
def hangup_at_fork() -> Iterator[None]:
    default = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    _hang_up_in_child.append(True)
    try:
        yield
    finally:
        _hang_up_in_child.clear()
        signal.signal(signal.SIGHUP, default)


def test_the_end_of_a_worker_killed_by_sighup_names_the_signal(hangup_at_fork: None) -> None:
    # A hangup between the fork and the worker's setting SIGHUP aside kills it; SIGHUP
    # is signal 1, the lowest that the log line of its end must name.
    assert Creator().close() == "killed by SIGHUP"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop it")
def test_a_worker_started_as_root_makes_files_as_the_user_it_is_given() -> None:
    nobody = pwd.getpwnam("nobody")
    with tempfile.TemporaryDirectory() as name:  # a directory nobody can reach
        work = Path(name)
        work.chmod(0o777)
        creators = Creators(1, become=(nobody.pw_uid, nobody.pw_gid))
        assert made(creators, work / "a.rrd") == [Done(str(work / "a.rrd"), None)]
        creators.close()
        made_as = (work / "a.rrd").stat()
        assert (made_as.st_uid, made_as.st_gid) == (nobody.pw_uid, nobody.pw_gid)


def in_a_process_without_root(work: Path) -> dict[str, object]:
    """What creators do in a copy of this process that has dropped root to nobody, as
    rrdd has when it starts a worker in place of one that died."""
    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read)
            os.setgroups([nobody.pw_gid])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            become = (nobody.pw_uid, nobody.pw_gid)
            creators = Creators(1, become=become)  # told at start-up, as root
            done = made(creators, work / "a.rrd")
            creators.close()
            refused = Creator(become)  # a uid change, which only root may make
            report = {"done": [list(d) for d in done], "refused": refused.close()}
            os.write(write, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        out = answer.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return dict(json.loads(out))


def test_a_worker_forked_without_root_makes_files_as_it_is() -> None:
    with tempfile.TemporaryDirectory() as name:  # a directory nobody can reach
        work = Path(name)
        work.chmod(0o777)
        out = in_a_process_without_root(work)
        assert out["done"] == [[str(work / "a.rrd"), None, False]]
        assert (work / "a.rrd").stat().st_uid == pwd.getpwnam("nobody").pw_uid
        # A worker that fails before its first request ends with status 1.
        assert out["refused"] == "exit status 1"
