"""A full or read-only disk: a real tmpfs that the test mounts, fills or remounts
read-only. rrdd keeps the values the disk refuses, says why in a few lines, and writes
them when the disk takes them again. These tests need root with mount rights (CI runs
so); where mounting is impossible they fail, they do not skip."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
import rrdtool

from rrdd.events import Counts, Event
from rrdd.schema import Schema, Update
from rrdd.writer.creator import Creators
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.writer.store import Librrd
from rrdd.xymoncfg import RraDefinitions
from tests.helpers import fill, remount, tmpfs, wait_until
from tests.test_cli import cpu, start

NOW = 1795312800  # a multiple of the step: each value below is one row of the file
B = NOW + 300
GAUGE = Schema.of("DS:v:GAUGE:600:U:U")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def writer(rrddir: Path, clock: Clock, **kw: object) -> RrdWriter:
    return RrdWriter(
        rrddir,
        RraDefinitions.load(None),
        Counts(),
        clock=lambda: NOW,
        monotonic=clock,
        **kw,  # type: ignore[arg-type]
    )


def put(w: RrdWriter, host: str, i: int, value: float) -> None:
    w.write(host, "t", B + 300 * i, Update("v.rrd", GAUGE, (str(value),)))


def rows(path: Path, first: int, count: int) -> list[float | None]:
    """`count` 300 s rows of the file, the first ending at `first`: one value each."""
    fetched = rrdtool.fetch(
        str(path), "AVERAGE", "-s", str(first - 300), "-e", str(first + 300 * (count - 1))
    )
    return [row[0] for row in fetched[2]][:count]


def said(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records)


# --- the writer ----------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "create-worker"])
def test_a_full_disk_keeps_the_values_until_space_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, workers: int
) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        clock = Clock()
        w = writer(rrddir, clock, creators=Creators(workers) if workers else None)
        filler = fill(disk)
        with caplog.at_level(logging.INFO, logger="rrdd"):
            for i in range(3):
                for h in range(4):
                    put(w, f"h{h}", i, 10 * h + i)
                clock.now += 2
                w.sync()  # tried again, and refused again
            wait_until(lambda: w.sync() or said(caplog, "no space left on device") == 4)
            assert w.pending() == 12 and w.counts[Event.UPDATES_REJECTED] == 0
            assert not list(rrddir.glob("*/v.rrd"))
            filler.unlink()
            clock.now += 60
            w.sync()
            w.close()
        assert [rows(rrddir / f"h{h}/v.rrd", B, 3) for h in range(4)] == [
            [10.0 * h + i for i in range(3)] for h in range(4)
        ]
        assert said(caplog, "no space left on device") == 4  # one per file, whatever the tries
        assert said(caplog, "4 files the disk refused are written again") == 1


def test_a_read_only_disk_keeps_the_values_until_it_is_writable_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        clock = Clock()
        w = writer(rrddir, clock, cache=False)
        put(w, "h1", 0, 1)  # made and written
        remount(disk, "ro")
        try:
            with caplog.at_level(logging.INFO, logger="rrdd"):
                for i in range(1, 6):
                    put(w, "h1", i, 1 + i)
                    put(w, "h2", i - 1, 10 + i)  # a new file: its directory cannot be made
                    clock.now += 2
                    w.sync()
        finally:
            remount(disk, "rw")
        assert w.pending() == 10 and w.counts[Event.UPDATES_REJECTED] == 0
        assert said(caplog, "read-only file system") == 2  # one per file, not per value
        clock.now += 60
        with caplog.at_level(logging.INFO, logger="rrdd"):
            w.sync()
            w.close()
        assert rows(rrddir / "h1/v.rrd", B, 6) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        assert rows(rrddir / "h2/v.rrd", B, 5) == [11.0, 12.0, 13.0, 14.0, 15.0]
        assert said(caplog, "files the disk refused are written again") == 1


class CutShort(Librrd):
    """librrd, but its first create leaves the file cut short, as a disk that fills
    during the write can with other librrd versions (Debian 12's removes its file)."""

    def __init__(self) -> None:
        super().__init__()
        self.cuts = 1

    def create(self, path: str, args: Sequence[str]) -> None:
        super().create(path, args)
        if self.cuts:
            self.cuts -= 1
            os.truncate(path, os.path.getsize(path) // 2)


def test_a_file_made_cut_short_is_removed_and_made_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "rrd").mkdir()
    clock = Clock()
    w = writer(tmp_path / "rrd", clock, store=CutShort())
    with caplog.at_level(logging.INFO, logger="rrdd"):
        put(w, "h1", 0, 1)
    assert not (tmp_path / "rrd/h1/v.rrd").exists()
    assert "the new file was cut short (removed)" in caplog.text
    clock.now += 2
    w.sync()
    put(w, "h1", 1, 2)
    w.close()
    assert rows(tmp_path / "rrd/h1/v.rrd", B, 2) == [1.0, 2.0]


# --- the rrdd command ------------------------------------------------------------------------


def round_of(hosts: Sequence[str], i: int) -> bytes:
    """One cpu status per host at B + 300 i: la.rrd gets 100 i + 10 h."""
    return b"".join(
        cpu(1 + 100 * i + h, host, B + 300 * i, f"{i}.{h}0") for h, host in enumerate(hosts)
    )


def check_la(rrddir: Path, hosts: Sequence[str], start: int, count: int) -> None:
    # Each file starts 10 s before its first value (rrdd runs after B), so its first
    # row is unknown; the rows from `start` on each hold one value.
    for h, host in enumerate(hosts):
        assert rows(rrddir / host / "la.rrd", B + 300 * start, count) == [
            100.0 * i + 10 * h for i in range(start, start + count)
        ]


def test_rrdd_on_a_full_disk_writes_the_values_when_space_returns(tmp_path: Path) -> None:
    hosts = [f"web{h}" for h in range(5)]
    log = tmp_path / "rrdd.log"
    with tmpfs(tmp_path / "disk", "4m") as disk, open(log, "wb") as err:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        proc = start(rrddir, stderr=err.fileno())
        assert proc.stdin is not None
        try:
            filler = fill(disk)
            proc.stdin.write(round_of(hosts, 0) + round_of(hosts, 1))
            proc.stdin.flush()
            # la.rrd, procs.rrd and users.rrd of each host: refused, kept
            wait_until(lambda: log.read_text().count("no space left on device") == 15)
            filler.unlink()
            wait_until(lambda: len(list(rrddir.glob("*/*.rrd"))) == 15)
            proc.stdin.write(round_of(hosts, 2) + round_of(hosts, 3))
            proc.stdin.close()
            assert proc.wait(timeout=60) == 0
        finally:
            proc.kill()
        text = log.read_text()
        check_la(rrddir, hosts, 1, 3)
    assert text.count("no space left on device") == 15  # one line per file
    assert "values_written 60" in text and "updates_rejected" not in text


def test_rrdd_on_a_read_only_disk_writes_the_values_when_it_is_writable_again(
    tmp_path: Path,
) -> None:
    hosts, late = [f"web{h}" for h in range(4)], "db1"
    log = tmp_path / "rrdd.log"
    with tmpfs(tmp_path / "disk", "4m") as disk, open(log, "wb") as err:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        proc = start(rrddir, "--no-cache", stderr=err.fileno())
        assert proc.stdin is not None
        try:
            proc.stdin.write(round_of(hosts, 0))
            proc.stdin.flush()
            wait_until(lambda: len(list(rrddir.glob("*/*.rrd"))) == 12)
            wait_until(lambda: all(rrdtool.last(str(p)) == B for p in rrddir.glob("*/*.rrd")))
            remount(disk, "ro")
            try:
                for i in range(1, 4):
                    proc.stdin.write(round_of([*hosts, late], i))  # db1: a new host
                    proc.stdin.flush()
                wait_until(lambda: log.read_text().count("read-only file system") == 15)
            finally:
                subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
            wait_until(lambda: (rrddir / late / "la.rrd").exists())
            proc.stdin.close()
            assert proc.wait(timeout=60) == 0
        finally:
            proc.kill()
        text = log.read_text()
        check_la(rrddir, hosts, 1, 3)
        check_la(rrddir, [*hosts, late], 2, 2)
    assert text.count("read-only file system") == 15  # one line per file, not per value
    assert "values_written 57" in text and "updates_rejected" not in text


# --- when the disk is tried again, and what the log says of the cause -------------------------


def leave_free(disk: Path, size: int) -> None:
    """Fill the tmpfs at `disk`, then give back exactly `size` bytes (whole pages)."""
    filler = fill(disk)
    pages = -(-filler.stat().st_size // 4096)
    os.truncate(filler, (pages - size // 4096) * 4096)
    free = os.statvfs(disk)
    assert free.f_bavail * free.f_frsize == size


def tries(w: RrdWriter, clock: Clock, until: float) -> list[float]:
    """Step the clock by half seconds up to `until`, a sync at each: the times at which
    the disk was tried again (each refusal is counted)."""
    seen, at = [], w.counts[Event.DISK_ERRORS]
    while clock.now < until:
        clock.now += 0.5
        w.sync()
        if w.counts[Event.DISK_ERRORS] > at:
            seen.append(clock.now)
            at = w.counts[Event.DISK_ERRORS]
    return seen


def test_the_disk_is_tried_again_after_1_2_4_up_to_60_seconds_then_after_1_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        clock = Clock()
        w = writer(rrddir, clock)
        filler = fill(disk)
        with caplog.at_level(logging.INFO, logger="rrdd"):
            put(w, "h1", 0, 1)  # at 1000
            assert w.counts[Event.DISK_ERRORS] == 1
            assert tries(w, clock, 1183) == [1001, 1003, 1007, 1015, 1031, 1063, 1123, 1183]
            filler.unlink()
            assert tries(w, clock, 1242.5) == []
            clock.now = 1243
            w.sync()
            assert (rrddir / "h1/v.rrd").exists()
            assert said(caplog, "1 files the disk refused are written again") == 1
            filler = fill(disk)
            put(w, "h2", 0, 2)  # refused at 1243: the wait starts at 1 s again
            assert tries(w, clock, 1250) == [1244, 1246, 1250]
            w.close()
        assert rows(rrddir / "h1/v.rrd", B, 1) == [1.0]
        assert said(caplog, "no space left on device") == 2  # one per file, whatever the tries


def test_values_still_refused_at_exit_are_said_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        w = writer(rrddir, Clock())
        fill(disk)
        with caplog.at_level(logging.INFO, logger="rrdd"):
            for i in range(3):
                put(w, "h1", i, i)
            w.close()
        assert said(caplog, "3 values lost at exit: the disk still refused the file") == 1
        assert w.counts[Event.VALUES_LOST_DISK] == 3


def refusal(caplog: pytest.LogCaptureFixture, path: Path) -> str:
    """The one line that says why the disk refused `path`."""
    [line] = [r.getMessage() for r in caplog.records if f"cannot create {path}:" in r.getMessage()]
    return line


def test_librrd_saying_nothing_of_a_full_disk_is_not_quoted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        rrddir = disk / "rrd"
        (rrddir / "h1").mkdir(parents=True)
        w = writer(rrddir, Clock())
        fill(disk)
        with caplog.at_level(logging.INFO, logger="rrdd"):
            put(w, "h1", 0, 1)
        line = refusal(caplog, rrddir / "h1/v.rrd")
        assert line.endswith(": no space left on device; its values are kept and it is tried again")


@pytest.mark.parametrize(
    ("free", "cause"),
    [
        (768 << 10, "no space left on device (librrd: the new file was cut short (removed))"),
        (1 << 20, "the new file was cut short (removed)"),
        (1536 << 10, "the new file was cut short (removed)"),
        (3 << 20, "the new file was cut short (removed)"),
    ],
    ids=["768K", "1M", "1.5M", "3M"],
)
def test_a_disk_with_less_than_a_megabyte_free_is_said_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, free: int, cause: str
) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        rrddir = disk / "rrd"
        (rrddir / "h1").mkdir(parents=True)
        w = writer(rrddir, Clock(), store=CutShort())
        leave_free(disk, free)
        with caplog.at_level(logging.INFO, logger="rrdd"):
            put(w, "h1", 0, 1)
        line = refusal(caplog, rrddir / "h1/v.rrd")
        assert line.endswith(f": {cause}; its values are kept and it is tried again")


def test_a_disk_without_free_inodes_is_said_so_with_librrds_words_cut_at_200(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    host = "h" * 150  # librrd's words name the path: longer than 200 characters
    with tmpfs(tmp_path / "disk", "4m,nr_inodes=32") as disk:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        clock = Clock()
        w = writer(rrddir, clock)
        used = disk / "inodes"
        used.mkdir()
        with contextlib.suppress(OSError):
            for n in range(100):
                (used / str(n)).touch()
        assert os.statvfs(disk).f_favail == 0
        with caplog.at_level(logging.INFO, logger="rrdd"):
            put(w, host, 0, 1)
        line = refusal(caplog, rrddir / host / "v.rrd")
        words = re.search(r": no free inodes on the file system \(librrd: (.*)\); its values", line)
        assert words is not None and len(words[1]) == 200
        shutil.rmtree(used)
        clock.now += 1
        w.sync()
        w.close()
        assert rows(rrddir / host / "v.rrd", B, 1) == [1.0]


def test_a_bad_file_on_a_good_disk_is_not_blamed_on_the_rrd_directorys_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The host's directory is another file system (a mount) than the RRD directory's,
    which is read-only: a write that fails there for the file's own sake is rejected."""
    with tmpfs(tmp_path / "disk", "4m") as disk:
        rrddir = disk / "rrd"
        rrddir.mkdir()
        with tmpfs(rrddir / "h1", "4m"):
            w = writer(rrddir, Clock(), cache=False)
            put(w, "h1", 0, 1)
            path = rrddir / "h1/v.rrd"
            os.truncate(path, path.stat().st_size // 2)  # someone's doing
            remount(disk, "ro")
            try:
                with caplog.at_level(logging.INFO, logger="rrdd"):
                    put(w, "h1", 1, 2)
            finally:
                remount(disk, "rw")
        assert "is too small" in caplog.text and "read-only file system" not in caplog.text
        assert w.counts[Event.UPDATES_REJECTED] == 1 and w.pending() == 0


def test_an_rrd_directory_gone_under_refused_files_is_said_and_the_writer_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The RRD directory is a link to a disk that went away (unmounted) while it held
    a file it refused: the file cannot be made at all, which is said, and not that it
    went through; the writer goes on."""
    with tmpfs(tmp_path / "disk", "4m") as disk:
        (disk / "rrd").mkdir()
        rrddir = tmp_path / "rrd"
        rrddir.symlink_to(disk / "rrd")
        clock = Clock()
        w = writer(rrddir, clock)
        remount(disk, "ro")
        try:
            with caplog.at_level(logging.INFO, logger="rrdd"):
                put(w, "h1", 0, 1)
                assert said(caplog, "read-only file system") == 1
                rrddir.unlink()
                rrddir.symlink_to(tmp_path / "gone")
                clock.now += 1
                w.sync()
                put(w, "h2", 0, 2)
                w.close()
        finally:
            remount(disk, "rw")
    assert said(caplog, f"cannot create {rrddir}/h1/v.rrd, 1 values lost: ") == 1
    assert said(caplog, f"cannot use {rrddir}/h2/v.rrd: ") == 1
    assert said(caplog, "written again") == 0
    assert w.counts[Event.VALUES_NOT_CREATED] == 1 and w.pending() == 0
