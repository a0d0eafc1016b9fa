"""The writer's answers from its store, its flushes and its shutdown: real RRD files in a
temporary directory (a real tmpfs where the disk must refuse), a real rrdcached where
the daemon answers, a fake clock."""

from __future__ import annotations

import logging
import os
import select
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import rrdtool

from rrdd.events import Counts, Event
from rrdd.problems import Problem, Problems
from rrdd.schema import Schema, Update
from rrdd.writer.creator import Creators
from rrdd.writer.rrdcached import Rrdcached
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.writer.schedule import CachePolicy
from rrdd.xymoncfg import RraDefinitions
from tests.helpers import fill, meanwhile, remount, tmpfs, wait_until
from tests.test_cli import lastupdate
from tests.test_disk import Clock
from tests.test_rrdcached import Daemon, remote, rrdcached  # noqa: F401 (fixtures)

NOW = 1795312800  # a multiple of the step: each value below is one row of the file
B = NOW + 300
GAUGE = Schema.of("DS:v:GAUGE:600:U:U")
DERIVE = Schema.of("DS:n:DERIVE:600:0:U")  # takes whole numbers only


class Seen:
    """A writer's problems as it reports them."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def of(self, event: Event) -> list[Problem]:
        return [p for p in self.problems if p.event is event]


def writer(rrddir: Path, **kw: Any) -> tuple[RrdWriter, Seen, Clock]:
    counts, seen, clock = Counts(), Seen(), Clock()
    problems = Problems(counts, hook=seen.problems.append)
    rras = RraDefinitions.load(None)
    kw.setdefault("clock", lambda: NOW)
    kw.setdefault("monotonic", clock)
    w = RrdWriter(rrddir, rras, counts, problems=problems, **kw)
    return w, seen, clock


@pytest.fixture
def rrddir(tmp_path: Path) -> Path:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    return rrddir


def put(w: RrdWriter, name: str, i: int, value: str, schema: Schema = GAUGE) -> None:
    w.write("h1", "t", B + 300 * i, Update(name, schema, (value,)))


# --- what the writer is asked ----------------------------------------------------------------


def test_the_files_holding_values_are_counted(rrddir: Path) -> None:
    w, _, _ = writer(rrddir)
    for name in ("a.rrd", "b.rrd"):
        put(w, name, 0, "1")
        put(w, name, 1, "2")
    assert w.pending_files() == 2 and w.pending() == 4
    w.flush("h1", "a.rrd")
    assert w.pending_files() == 1


def test_a_flush_of_one_file_writes_that_file_and_no_other(rrddir: Path) -> None:
    w, _, _ = writer(rrddir)
    for name in ("la.rrd", "cpu.rrd", "users.rrd"):  # names sorting before and after it
        put(w, name, 0, "1")
    assert w.flush("h1", "la.rrd") == [str(rrddir / "h1/la.rrd")]
    assert lastupdate(rrddir / "h1/la.rrd")[0] == B
    assert [lastupdate(rrddir / f"h1/{n}")[0] for n in ("cpu.rrd", "users.rrd")] == [NOW - 10] * 2
    assert w.pending() == 2


def test_a_commit_waits_for_the_files_the_creators_are_making(rrddir: Path) -> None:
    w, _, _ = writer(rrddir, creators=Creators(2))
    for i in range(20):
        w.write(f"h{i}", "t", B, Update("v.rrd", GAUGE, (str(i),)))
    assert w.commit() and w.pending() == 0
    assert [lastupdate(rrddir / f"h{i}/v.rrd") for i in range(20)] == [
        (B, {"v": float(i)}) for i in range(20)
    ]
    w.close()


def test_the_data_sources_of_a_file_outside_the_hosts_directory_are_not_read(
    rrddir: Path,
) -> None:
    w, _, _ = writer(rrddir)
    w.write("h1", "t", B, Update("v.rrd", GAUGE, ("1",)))
    w.write("h2", "t", B, Update("v.rrd", GAUGE, ("2",)))
    w.close()
    again, _, _ = writer(rrddir)  # a writer that has not seen them: it reads the files
    assert again.existing_ds("h2", "v.rrd") == ("v",)
    assert again.existing_ds("h1", "../h2/v.rrd") is None
    assert again.existing_ds("..", "h2") is None


def test_each_write_to_the_store_is_timed(rrddir: Path) -> None:
    took: list[float] = []
    w, _, clock = writer(rrddir, observe=took.append)
    put(w, "a.rrd", 0, "1")

    def slow() -> None:
        clock.now += 2.5

    with meanwhile("os.utime", "a.rrd", slow):
        w.flush()
    assert took == [2.5]


# --- what librrd answers -----------------------------------------------------------------------


def test_a_file_removed_under_its_values_is_made_again_and_the_next_file_answered(
    rrddir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, seen, _ = writer(rrddir)
    put(w, "a.rrd", 0, "1")
    put(w, "a.rrd", 1, "2")
    put(w, "b.rrd", 0, "10", DERIVE)
    put(w, "b.rrd", 1, "0.5", DERIVE)
    (rrddir / "h1/a.rrd").unlink()  # by hand: the rest of the host is there
    with caplog.at_level(logging.INFO, logger="rrdd"):
        w.flush("h1")
    said = [r for r in caplog.records if "the file disappeared" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in said] == [
        (logging.WARNING, "h1/a.rrd: the file disappeared; creating it again")
    ]
    assert lastupdate(rrddir / "h1/a.rrd") == (B + 300, {"v": 2.0})
    rejected = seen.of(Event.UPDATES_REJECTED)
    assert [(p.host, p.test, p.file) for p in rejected] == [("h1", "t", "b.rrd")]
    assert rejected[0].reason.startswith(f"value {B + 300}:0.5 rejected: ")
    assert lastupdate(rrddir / "h1/b.rrd") == (B, {"n": 10.0})
    assert w.pending() == 0


def test_a_host_directory_removed_under_its_values_is_said_quietly_and_made_again(
    rrddir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Most likely the other rrdd's drophost, which this one gets later in its stream."""
    w, _, _ = writer(rrddir)
    put(w, "a.rrd", 0, "1")
    shutil.rmtree(rrddir / "h1")
    with caplog.at_level(logging.INFO, logger="rrdd"):
        w.flush("h1")
    said = [r for r in caplog.records if "the file disappeared" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.INFO]
    assert lastupdate(rrddir / "h1/a.rrd") == (B, {"v": 1.0})


# --- what the disk refuses -------------------------------------------------------------------


def kept(path: Path, cause: str, librrd: str = "") -> str:
    said = f" (librrd: {librrd})" if librrd else ""
    return f"cannot write {path}: {cause}{said}; its values are kept and it is tried again"


def test_every_file_the_read_only_disk_refused_is_written_once_it_is_writable(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        w, seen, clock = writer(rrddir)
        for name in ("a.rrd", "b.rrd"):
            put(w, name, 0, "1")
        remount(disk, "ro")
        try:
            assert not w.commit()  # not written: kept for a retry
        finally:
            remount(disk, "rw")
        # librrd's words name the cause: not said twice
        assert sorted(p.reason for p in seen.of(Event.DISK_ERRORS)) == [
            kept(rrddir / "h1/a.rrd", "read-only file system"),
            kept(rrddir / "h1/b.rrd", "read-only file system"),
        ]
        assert w.pending() == 2
        w.sync()
        assert w.pending() == 2  # tried again after a second, not at once
        clock.now += 1
        w.sync()
        assert [lastupdate(rrddir / f"h1/{n}") for n in ("a.rrd", "b.rrd")] == [(B, {"v": 1.0})] * 2


def test_a_write_librrd_says_the_disk_refused_is_kept_though_the_disk_is_writable_again(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        w, seen, clock = writer(rrddir)
        put(w, "a.rrd", 0, "1")
        remount(disk, "ro")
        try:
            # writable again by the time rrdd looks at the disk for why
            with meanwhile("os.utime", "a.rrd", lambda: remount(disk, "rw")) as ran:
                w.flush("h1")
        finally:
            remount(disk, "rw")
        assert ran == [1]
        held = seen.of(Event.DISK_ERRORS)
        assert [p.reason for p in held] == [kept(rrddir / "h1/a.rrd", "read-only file system")]
        assert w.pending() == 1 and not seen.of(Event.UPDATES_REJECTED)
        clock.now += 1
        w.sync()
        assert lastupdate(rrddir / "h1/a.rrd") == (B, {"v": 1.0})


def test_on_a_full_disk_a_value_the_file_has_already_is_dropped_and_the_rest_kept(
    tmp_path: Path,
) -> None:
    """Someone wrote the file (rrdtool update by hand, the other rrdd) after rrdd read its
    last update: its older value is dropped, not kept for a disk that cannot help; on a
    disk without room any other refusal may be the disk's, and that value waits."""
    with tmpfs(tmp_path / "disk", "4m") as disk:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        w, seen, _ = writer(rrddir)
        path = rrddir / "h1/a.rrd"
        put(w, "a.rrd", 0, "10", DERIVE)
        put(w, "a.rrd", 2, "0.5", DERIVE)  # not a whole number either
        rrdtool.update(str(path), f"{B + 300}:20")
        fill(disk)
        w.flush("h1")
        old = seen.of(Event.UPDATES_DROPPED_OLD)
        assert len(old) == 1 and f"illegal attempt to update using time {B} " in old[0].reason
        librrd = f"{path}: not a simple signed integer: '0.5'"
        assert [p.reason for p in seen.of(Event.DISK_ERRORS)] == [
            kept(path, "no space left on device", librrd)
        ]
        assert w.pending() == 1 and not seen.of(Event.UPDATES_REJECTED)


# --- shutdown ----------------------------------------------------------------------------------


def test_a_long_shutdown_flush_says_its_progress_every_five_seconds(
    rrddir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines: list[str] = []
    w, _, clock = writer(rrddir, progress=lines.append)
    names = [f"n{i:04d}.rrd" for i in range(1001)]  # three turns of 500 files
    for name in names:
        put(w, name, 0, "1")

    def slow(seconds: float) -> None:
        clock.now += seconds

    # The first 500 files take 6 s to write, the next 500 none, the last one 5 s.
    with (
        caplog.at_level(logging.INFO, logger="rrdd"),
        meanwhile("os.utime", "n0100.rrd", lambda: slow(6)),
        meanwhile("os.utime", "n1000.rrd", lambda: slow(5)),
    ):
        w.close()
    assert lines == ["Flushed 500 of 1001 files"]
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Flushed")]
    assert said == ["Flushed 500 of 1001 files", "Flushed 1001 files in 11.0 s"]
    assert all(lastupdate(rrddir / "h1" / n)[0] == B for n in (names[0], names[-1]))


def test_a_shutdown_with_nothing_held_says_nothing_of_a_flush(
    rrddir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, _, _ = writer(rrddir, progress=print)
    put(w, "a.rrd", 0, "1")
    w.flush()
    with caplog.at_level(logging.INFO, logger="rrdd"):
        w.close()
    assert "Flushed" not in caplog.text


# --- rrdcached ---------------------------------------------------------------------------------


def stopped(daemon: Daemon) -> Daemon:
    """The daemon stopped (SIGSTOP): it takes what is sent and reads none of it."""
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGSTOP)
    stat = Path(f"/proc/{daemon.proc.pid}/stat")
    wait_until(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T")
    return daemon


class Ticks:
    """A monotonic clock in whole milliseconds (its steps add up exactly) that only the
    writer's pauses move on (`pause`, put in for time.sleep); a writer that goes round
    without a pause, or waits on and on, fails the test instead of hanging it."""

    def __init__(self) -> None:
        self.start = self.ms = 1_000_000
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        assert self.reads < 100_000, "the writer goes round and round without a pause"
        return self.ms / 1000

    def pause(self, seconds: float) -> None:
        self.ms += round(seconds * 1000)
        assert self.ms - self.start < 100_000, "the writer waits on and on"

    def waited(self) -> int:
        return self.ms - self.start


def daemon_writer(daemon: Daemon, ticks: Ticks, **kw: Any) -> tuple[RrdWriter, Rrdcached, Seen]:
    store = Rrdcached(daemon.address, str(daemon.rrddir), clock=ticks, **kw)
    w, seen, _ = writer(daemon.rrddir, store=store, monotonic=ticks)
    return w, store, seen


def test_between_reads_the_writer_sends_and_does_not_wait_for_the_answer(
    rrdcached: Daemon,  # noqa: F811
) -> None:
    w, store, _ = daemon_writer(rrdcached, Ticks(), timeout=2)
    put(w, "a.rrd", 0, "1")
    assert rrdcached.proc is not None
    stopped(rrdcached)
    try:
        w.sync()  # rrdd reads on while the daemon applies the batch
        assert store.connected and w.pending() == 0
    finally:
        rrdcached.proc.send_signal(signal.SIGCONT)
    w.close()
    assert w.counts[Event.VALUES_WRITTEN] == 1 and w.counts[Event.RRDCACHED_RECONNECTS] == 0
    rrdcached.stop()
    assert lastupdate(rrdcached.rrddir / "h1/a.rrd") == (B, {"v": 1.0})


def test_at_shutdown_the_daemons_answers_are_taken_until_every_value_is_placed(
    rrdcached: Daemon,  # noqa: F811
) -> None:
    """A file removed by hand is made again and its values sent once more; a value older
    than what the daemon has is dropped as old."""
    w, _, seen = daemon_writer(rrdcached, Ticks())
    put(w, "a.rrd", 0, "1")  # the daemon makes the files; their values wait for a turn
    put(w, "b.rrd", 0, "1")
    assert w.commit()
    b = rrdcached.rrddir / "h1/b.rrd"
    rrdcached.command(f"UPDATE {b} {B + 5000}:7")  # someone else's, newer than rrdd's
    put(w, "c.rrd", 0, "1")
    (rrdcached.rrddir / "h1/c.rrd").unlink()  # before the daemon heard of it
    put(w, "b.rrd", 1, "2")
    w.close()
    old = seen.of(Event.UPDATES_DROPPED_OLD)
    assert [(p.file, f"update using time {B + 300}." in p.reason) for p in old] == [("b.rrd", True)]
    assert not seen.of(Event.UPDATES_REJECTED)
    rrdcached.stop()  # -F: it writes what it holds
    assert lastupdate(rrdcached.rrddir / "h1/c.rrd") == (B, {"v": 1.0})


def test_a_file_waiting_for_the_create_ceiling_at_shutdown_is_made_and_sent(
    rrdcached: Daemon,  # noqa: F811
) -> None:
    ticks = Ticks()
    store = Rrdcached(rrdcached.address, str(rrdcached.rrddir), clock=ticks)
    policy = CachePolicy(creates_per_second=0.001)
    w, _, _ = writer(rrdcached.rrddir, store=store, monotonic=ticks, policy=policy)
    put(w, "a.rrd", 0, "1")
    put(w, "b.rrd", 0, "2")
    assert w.counts[Event.CREATES_DEFERRED] == 2
    w.close()
    rrdcached.stop()
    assert [lastupdate(rrdcached.rrddir / f"h1/{n}") for n in ("a.rrd", "b.rrd")] == [
        (B, {"v": 1.0}),
        (B, {"v": 2.0}),
    ]


def test_at_shutdown_an_away_daemon_is_tried_for_ten_seconds(
    rrdcached: Daemon,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks = Ticks()
    w, _, _ = daemon_writer(rrdcached, ticks)
    put(w, "a.rrd", 0, "1")
    put(w, "b.rrd", 0, "2")
    rrdcached.stop()
    with monkeypatch.context() as m:
        m.setattr(time, "sleep", ticks.pause)  # the writer's pauses pass on its clock alone
        w.close()
    assert 10_000 < ticks.waited() <= 10_200
    assert w.counts[Event.VALUES_LOST_RRDCACHED] == 2


def test_a_file_the_remote_daemon_will_not_make_is_given_up_with_its_values(
    remote: Daemon,  # noqa: F811
    tmp_path: Path,
) -> None:
    here = tmp_path / "not-here"
    store = Rrdcached(remote.address, str(here), files_here=False)
    w, seen, _ = writer(here, store=store, monotonic=time.monotonic)
    w.write("h1", "t", 100, Update("a.rrd", GAUGE, ("1",)))  # a client whose clock says 1970
    put(w, "b.rrd", 0, "2")
    w.sync()  # the files' CREATE lines go with their values, in one BATCH
    w.sync()  # its answer
    lost = seen.of(Event.VALUES_NOT_CREATED)
    assert [(p.file, p.count) for p in lost] == [("a.rrd", 1)]
    assert lost[0].reason.endswith("rrdcached did not make it: The first entry must be after 1980.")
    w.close()
    assert not here.exists()
    remote.stop()
    assert os.listdir(remote.rrddir / "h1") == ["b.rrd"]


def test_a_file_gone_from_the_remote_daemon_is_made_again_and_an_old_value_dropped(
    remote: Daemon,  # noqa: F811
    tmp_path: Path,
) -> None:
    here = tmp_path / "not-here"
    store = Rrdcached(remote.address, str(here), files_here=False)
    w, seen, _ = writer(here, store=store, monotonic=time.monotonic)
    put(w, "a.rrd", 0, "1")
    put(w, "b.rrd", 0, "1")
    assert w.commit()
    remote.command("FORGET h1/a.rrd")  # and removed, on the daemon's machine
    (remote.rrddir / "h1/a.rrd").unlink()
    remote.command(f"UPDATE h1/b.rrd {B + 5000}:7")  # someone else's, newer than rrdd's
    put(w, "a.rrd", 1, "2")
    put(w, "b.rrd", 1, "2")
    w.close()
    old = seen.of(Event.UPDATES_DROPPED_OLD)
    assert [p.file for p in old] == ["b.rrd"] and not seen.of(Event.UPDATES_REJECTED)
    assert not here.exists()
    remote.stop()
    assert lastupdate(remote.rrddir / "h1/a.rrd") == (B + 300, {"v": 2.0})


def test_a_flush_writes_the_values_of_a_file_made_again_on_the_way(
    rrdcached: Daemon,  # noqa: F811
) -> None:
    w, _, _ = daemon_writer(rrdcached, Ticks())
    put(w, "a.rrd", 0, "1")  # made, its value not sent yet
    (rrdcached.rrddir / "h1/a.rrd").unlink()  # by hand
    w.flush("h1", to_disk=True)
    assert w.pending() == 0
    assert lastupdate(rrdcached.rrddir / "h1/a.rrd") == (B, {"v": 1.0})
    w.close()


def test_at_shutdown_values_the_disk_refuses_the_daemon_are_lost_once_and_at_once(
    tmp_path: Path,
) -> None:
    """The daemon is there; the read-only disk under it refuses a file it has not seen
    yet: its values are tried once more, then said lost with the disk's, not sent again
    and again for the ten seconds an away daemon gets, nor counted twice."""
    with tmpfs(tmp_path / "disk", "4m") as disk:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        daemon = Daemon(tmp_path, rrddir)
        daemon.start()
        try:
            store = Rrdcached(daemon.address, str(rrddir))
            w, seen, _ = writer(rrddir, store=store, monotonic=time.monotonic)
            put(w, "a.rrd", 0, "1")
            put(w, "a.rrd", 1, "2")
            remount(disk, "ro")
            try:
                w.close()
            finally:
                remount(disk, "rw")
        finally:
            daemon.stop()
    assert len(seen.of(Event.DISK_ERRORS)) == 1
    assert [p.count for p in seen.of(Event.VALUES_LOST_DISK)] == [2]
    assert w.counts[Event.VALUES_LOST_RRDCACHED] == 0


def test_values_the_disk_refuses_under_rrdcached_wait_for_the_disks_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As in direct mode, they go again after 1 s, 2 s ... (disk.py), not at every read:
    with a full disk that would send every file's values to the daemon at every read."""
    with tmpfs(tmp_path / "disk", "4m") as disk:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        daemon = Daemon(tmp_path, rrddir)
        daemon.start()
        try:
            store = Rrdcached(daemon.address, str(rrddir))
            w, seen, clock = writer(rrddir, store=store)
            put(w, "a.rrd", 0, "1")
            remount(disk, "ro")
            try:
                for _ in range(5):
                    w.sync()
                refused = len(seen.of(Event.DISK_ERRORS))
                clock.now += 1
                w.sync()  # the first retry: refused again
                w.sync()
                again = len(seen.of(Event.DISK_ERRORS))
            finally:
                remount(disk, "rw")
            put(w, "a.rrd", 1, "2")
            clock.now += 2
            with caplog.at_level(logging.INFO, logger="rrdd"):
                w.sync()  # the second retry: written
            assert "1 files the disk refused are written again" in caplog.text
            w.close()
        finally:
            daemon.stop()
    assert (refused, again) == (1, 2)
    assert w.pending() == 0 and not seen.of(Event.VALUES_LOST_DISK)


def test_at_shutdown_a_batch_whose_answer_never_came_is_sent_again(
    rrdcached: Daemon,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert rrdcached.proc is not None
    proc = rrdcached.proc
    ticks = Ticks()

    def pause(seconds: float) -> None:
        ticks.pause(seconds)
        proc.send_signal(signal.SIGCONT)  # the daemon answers again while rrdd waits

    w, store, _ = daemon_writer(rrdcached, ticks, timeout=1)
    put(w, "a.rrd", 0, "1")
    stopped(rrdcached)
    try:
        with monkeypatch.context() as m:
            m.setattr(time, "sleep", pause)
            w.close()  # no answer within its second: the batch is taken back
    finally:
        proc.send_signal(signal.SIGCONT)
    assert w.pending() == 0 and w.counts[Event.VALUES_LOST_RRDCACHED] == 0
    assert store.counts[Event.RRDCACHED_RECONNECTS] == 1
    rrdcached.stop()
    assert lastupdate(rrdcached.rrddir / "h1/a.rrd") == (B, {"v": 1.0})


def test_each_value_of_a_file_is_judged_by_what_the_daemon_said_of_it(
    remote: Daemon,  # noqa: F811
    tmp_path: Path,
) -> None:
    """One answer can hold a file's values of two batches (a flush sends while the last
    batch's answer is unread): here one the daemon refused as old, then one it refused
    because the file had gone. The first is dropped; the file is made for the second."""
    here = tmp_path / "not-here"
    store = Rrdcached(remote.address, str(here), files_here=False)
    w, seen, _ = writer(here, store=store, monotonic=time.monotonic)
    put(w, "a.rrd", 0, "1")
    assert w.commit()
    remote.command(f"UPDATE h1/a.rrd {B + 500}:7")  # someone else's, newer than rrdd's next
    put(w, "a.rrd", 1, "2")
    w.sync()
    assert store.sock is not None
    wait_until(lambda: select.select([store.sock], [], [], 0)[0])  # answered, not read yet
    remote.command("FORGET h1/a.rrd")  # and removed, on the daemon's machine
    (remote.rrddir / "h1/a.rrd").unlink()
    put(w, "a.rrd", 2, "3")
    w.flush("h1")
    old = seen.of(Event.UPDATES_DROPPED_OLD)
    assert [p.file for p in old] == ["a.rrd"] and not seen.of(Event.UPDATES_REJECTED)
    w.close()
    remote.stop()
    assert lastupdate(remote.rrddir / "h1/a.rrd") == (B + 600, {"v": 3.0})
