"""drophost, renamehost, droptest and renametest on real RRD files, as the two rrdd of a
Xymon server see them: two writers on one RRD directory, each with its own cache."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rrdtool

from rrdd.events import Counts, Event
from rrdd.schema import Schema, Update
from rrdd.writer.creator import Creators
from rrdd.writer.marks import Marks
from rrdd.writer.rrdcached import Rrdcached
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.writer.schedule import CachePolicy
from rrdd.xymoncfg import RraDefinitions
from tests.helpers import meanwhile, wait_until
from tests.test_disk import Clock
from tests.test_rrdcached import Daemon, rrdcached  # noqa: F401 (a fixture)

NOW = 1795312800  # a multiple of the step: each value below is one row of the file
B = NOW + 300
GAUGE = Schema.of("DS:v:GAUGE:600:U:U")


def writer(rrddir: Path, **kw: Any) -> RrdWriter:
    return RrdWriter(rrddir, RraDefinitions.load(None), Counts(), clock=lambda: NOW, **kw)


def two(tmp_path: Path) -> tuple[RrdWriter, RrdWriter, Path]:
    """The status channel's rrdd and the data channel's, on one directory."""
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    return writer(rrddir), writer(rrddir), rrddir


def put(w: RrdWriter, host: str, name: str, i: int, value: float) -> None:
    w.write(host, "t", B + 300 * i, Update(name, GAUGE, (str(value),)))


def rows(path: Path, count: int) -> list[float | None]:
    """The file's first `count` 300 s rows from B on: one value each."""
    fetched = rrdtool.fetch(str(path), "AVERAGE", "-s", str(B - 300), "-e", str(B + 300 * count))
    return [row[0] for row in fetched[2]][:count]


def tree(top: Path) -> dict[str, str]:
    """Every entry under `top` (links not followed): a link's target, a file's bytes."""
    out = {}
    for where, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(where) / name
            if path.is_symlink():
                out[str(path)] = f"-> {os.readlink(path)}"
            elif path.is_file():
                out[str(path)] = path.read_bytes().hex()
    return out


# --- symbolic links ----------------------------------------------------------------------

REFUSED: dict[str, Callable[[RrdWriter], None]] = {
    # The daemon lists a host's files with host_files(), which lists nothing through a
    # link; these are the names the listing through the link used to give.
    "droptest through a host link": lambda w: w.drop_files("link5", ["la.rrd", "users.rrd"]),
    "droptest of a file link": lambda w: w.drop_files("h1", ["cpu.rrd"]),
    "renametest through a host link": lambda w: w.rename_files("link5", [("la.rrd", "x.rrd")]),
    "renametest of a file link": lambda w: w.rename_files("h1", [("cpu.rrd", "cpu2.rrd")]),
    "renamehost from a host link": lambda w: w.rename_host("link5", "h4"),
    "renamehost onto a host link": lambda w: w.rename_host("h1", "link5"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_control_messages_never_act_through_a_symbolic_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    w, _, _ = two(tmp_path)
    for name in ("la.rrd", "users.rrd"):
        rrdtool.create(str(out / name), "DS:v:GAUGE:600:U:U", "RRA:AVERAGE:0.5:1:10")
    (tmp_path / "rrd/link5").symlink_to("../out")
    put(w, "h1", "la.rrd", 0, 1)
    put(w, "h4", "users.rrd", 0, 1)
    w.flush()
    (tmp_path / "rrd/h1/cpu.rrd").symlink_to("../../out/la.rrd")
    before = tree(tmp_path)
    with caplog.at_level(logging.INFO, logger="rrdd"):
        REFUSED[case](w)
    assert tree(tmp_path) == before
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and "symbolic link" in said[0]


# --- the two rrdd: what the other did already ----------------------------------------------


def test_what_the_other_rrdd_did_already_is_no_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second, rrddir = two(tmp_path)
    for host, name in (("h1", "la.rrd"), ("h2", "disk,root.rrd"), ("h2", "disk,var.rrd")):
        put(first, host, name, 0, 1)
    put(first, "h3", "la.rrd", 0, 3)
    first.flush()
    with caplog.at_level(logging.INFO, logger="rrdd"):
        for w in (first, second):  # the second finds each one done
            w.drop_host("h1")
            w.drop_files("h2", ["disk,root.rrd"])
            w.rename_files("h2", [("disk,var.rrd", "disk2,var.rrd")])
            w.rename_host("h3", "h5")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert sorted(os.listdir(rrddir)) == [".dropped", ".renamed", ".renamed-files", "h2", "h5"]
    assert os.listdir(rrddir / "h2") == ["disk2,var.rrd"]
    assert rows(rrddir / "h5/la.rrd", 1) == [3.0]


# --- renamehost with two rrdd ------------------------------------------------------------


def test_values_the_other_rrdd_holds_or_reads_later_follow_a_rename(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    status, data, rrddir = two(tmp_path)
    put(status, "web6", "la.rrd", 0, 1)
    put(data, "web6", "trend.rrd", 0, 100)  # both files exist; the values wait in the caches
    status.rename_host("web6", "web7")  # the status channel's rrdd moves the directory
    assert not (rrddir / "web6").exists()
    with caplog.at_level(logging.INFO, logger="rrdd"):
        # The data channel's rrdd reads on, messages sent before the rename: the twelfth
        # value makes it write trend.rrd, which has moved; rate.rrd is a new file.
        for i in range(1, 13):
            put(data, "web6", "trend.rrd", i, 100 + i)
        put(data, "web6", "rate.rrd", 1, 7)
        put(data, "web6", "trend.rrd", 13, 113)
        data.rename_host("web6", "web7")  # its own renamehost comes at last
    put(status, "web7", "la.rrd", 1, 2)
    status.close()
    data.close()
    assert sorted(os.listdir(rrddir)) == [".renamed", "web7"]
    assert rows(rrddir / "web7/trend.rrd", 14) == [100.0 + i for i in range(14)]
    assert rows(rrddir / "web7/la.rrd", 2) == [1.0, 2.0]
    assert rrdtool.lastupdate(str(rrddir / "web7/rate.rrd"))["ds"] == {"v": 7.0}
    assert "disappeared" not in caplog.text
    assert (
        "web6/trend.rrd: renamed web7/trend.rrd by the other rrdd; 12 values follow" in caplog.text
    )


def test_a_rename_mark_is_followed_for_an_hour_and_a_rename_back_clears_it(
    tmp_path: Path,
) -> None:
    mover, other, rrddir = two(tmp_path)
    put(mover, "web6", "la.rrd", 0, 1)
    mover.rename_host("web6", "web7")
    assert (rrddir / ".renamed/web6").read_text() == "web7\n"
    mover.rename_host("web7", "web6")  # and back: web6 is a live name again
    assert os.listdir(rrddir / ".renamed") == ["web7"]
    put(other, "web6", "a.rrd", 0, 1)
    put(other, "web7", "b.rrd", 0, 2)  # sent before the renames: follows them to web6
    hour_ago = time.time() - 3601
    os.utime(rrddir / ".renamed/web7", (hour_ago, hour_ago))
    put(other, "web7", "c.rrd", 0, 3)  # the mark has expired: web7 is a host again
    other.close()
    assert sorted(os.listdir(rrddir / "web6")) == ["a.rrd", "b.rrd", "la.rrd"]
    assert os.listdir(rrddir / "web7") == ["c.rrd"]


def test_what_the_other_rrdd_reads_for_a_host_it_dropped_is_let_go(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    status, data, rrddir = two(tmp_path)
    put(status, "web6", "la.rrd", 0, 1)
    put(data, "web6", "trend.rrd", 0, 100)
    status.flush()
    data.flush()
    with caplog.at_level(logging.INFO, logger="rrdd"):
        status.drop_host("web6")  # the status channel's rrdd acts first
        # The data channel's rrdd reads on, messages sent before the drop: neither a
        # held value nor a new file brings the directory back.
        put(data, "web6", "trend.rrd", 1, 101)
        put(data, "web6", "new.rrd", 1, 7)
        data.flush()
        assert not (rrddir / "web6").exists()
        data.drop_host("web6")  # its own drophost
        put(data, "web6", "new.rrd", 2, 8)  # after it: the host is back, for both
        put(status, "web6", "la.rrd", 2, 3)
    status.close()
    data.close()
    assert sorted(os.listdir(rrddir / "web6")) == ["la.rrd", "new.rrd"]
    assert rrdtool.lastupdate(str(rrddir / "web6/new.rrd"))["ds"] == {"v": 8.0}
    assert rrdtool.lastupdate(str(rrddir / "web6/la.rrd"))["ds"] == {"v": 3.0}
    assert data.counts[Event.VALUES_OF_DROPPED_HOSTS] == 2
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(
    ("old", "new"),
    [("tcp.ssh.rrd", "tcp.sshd.rrd"), ("tcp.sshd.rrd", "tcp.ssh.rrd")],
    ids=["sorts-after", "sorts-before"],
)
def test_what_the_other_rrdd_holds_or_reads_for_a_renamed_test_follows_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, old: str, new: str
) -> None:
    status, data, rrddir = two(tmp_path)
    put(status, "h1", old, 0, 1)
    put(data, "h1", "t.rrd", 0, 5)
    status.flush()
    put(status, "h1", old, 1, 2)  # held in the status channel's cache
    with caplog.at_level(logging.INFO, logger="rrdd"):
        data.rename_files("h1", [(old, new)])  # the data rrdd acts first
        put(status, "h1", old, 2, 3)  # sent before the rename
        status.flush()
        status.rename_files("h1", [(old, new)])
    status.close()
    data.close()
    assert sorted(os.listdir(rrddir / "h1")) == sorted(["t.rrd", new])
    assert rows(rrddir / "h1" / new, 3) == [1.0, 2.0, 3.0]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_file_removed_as_it_is_made_is_made_again_without_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    w = writer(rrddir, creators=Creators(1))
    with caplog.at_level(logging.INFO, logger="rrdd"):
        put(w, "h1", "la.rrd", 0, 1)
        wait_until(lambda: (rrddir / "h1/la.rrd").exists())
        os.unlink(rrddir / "h1/la.rrd")  # by someone else, before rrdd took the answer
        w.close()
    assert rows(rrddir / "h1/la.rrd", 1) == [1.0]
    assert "removed as it was made; made again" in caplog.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_host_names_starting_with_a_dot_are_refused(tmp_path: Path) -> None:
    w, _, rrddir = two(tmp_path)
    put(w, ".renamed", "la.rrd", 0, 1)
    w.close()
    assert w.counts[Event.UPDATES_REFUSED] == 1 and os.listdir(rrddir) == []


# --- the marks themselves ------------------------------------------------------------------


def aged(path: Path, text: str, seconds: float) -> None:
    """A mark left `seconds` ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_mark_that_leads_outside_or_in_a_circle_leads_nowhere(tmp_path: Path) -> None:
    w, _, rrddir = two(tmp_path)
    (tmp_path / "out").mkdir()
    aged(rrddir / ".renamed/web1", "../out\n", 60)  # no mark rrdd writes
    put(w, "web1", "la.rrd", 0, 1)
    assert rows(rrddir / "web1/la.rrd", 1) == [None]  # made under its own name
    aged(rrddir / ".renamed/web2", "web3\n", 60)
    aged(rrddir / ".renamed/web3", "web2\n", 60)
    put(w, "web2", "la.rrd", 0, 2)
    w.close()
    assert sorted(os.listdir(rrddir)) == [".renamed", "web1", "web2"]
    assert os.listdir(tmp_path / "out") == []
    assert rows(rrddir / "web2/la.rrd", 1) == [2.0]


def test_marks_older_than_an_hour_are_swept_when_a_new_one_is_left(tmp_path: Path) -> None:
    w, _, rrddir = two(tmp_path)
    aged(rrddir / ".renamed/old1", "old2\n", 7200)
    aged(rrddir / ".renamed/new1", "new2\n", 60)  # the other rrdd's, a minute ago
    put(w, "web6", "la.rrd", 0, 1)
    w.rename_host("web6", "web7")
    assert sorted(os.listdir(rrddir / ".renamed")) == ["new1", "web6"]


def test_a_drophost_over_an_old_drop_mark_leaves_a_new_one(tmp_path: Path) -> None:
    status, data, rrddir = two(tmp_path)
    aged(rrddir / ".dropped/web6", "", 7200)  # web6 was dropped before, and came back
    put(status, "web6", "la.rrd", 0, 1)
    put(data, "web6", "trend.rrd", 0, 100)
    status.flush()
    data.flush()
    status.drop_host("web6")
    put(data, "web6", "trend.rrd", 1, 101)  # sent before the drop: let go
    data.flush()
    assert not (rrddir / "web6").exists()
    assert data.counts[Event.VALUES_OF_DROPPED_HOSTS] == 1


def test_a_drophost_while_the_other_rrdd_deletes_too_keeps_its_mark(tmp_path: Path) -> None:
    status, data, rrddir = two(tmp_path)
    put(status, "web6", "la.rrd", 0, 1)
    status.flush()
    status.drop_host("web6")  # its mark, then the directory deleted
    (rrddir / "web6").mkdir()  # as the data rrdd finds it, while the status rrdd deletes
    data.drop_host("web6")
    put(status, "web6", "la.rrd", 0, 2)  # after its drophost: a new host of the name
    status.close()
    assert rows(rrddir / "web6/la.rrd", 1) == [2.0]


def test_a_drophost_of_a_host_without_files_leaves_no_mark(tmp_path: Path) -> None:
    w, _, rrddir = two(tmp_path)
    w.drop_host("web6")
    assert os.listdir(rrddir) == []


def test_a_mark_is_followed_for_an_hour_to_the_second(tmp_path: Path) -> None:
    marks = Marks(str(tmp_path))
    (tmp_path / "web7").mkdir()

    def followed(age: float) -> bool:
        """Whether a mark `age` seconds old is followed; tried again if this process
        stalled for the half second either side of an hour the test relies on."""
        while True:
            started = time.monotonic()
            aged(tmp_path / ".renamed/web6", "web7\n", age)
            new = marks.new_name("web6")
            if time.monotonic() - started < 0.25:
                return new == "web7"

    assert followed(3600 - 0.5)
    assert not followed(3600 + 0.5)


def test_the_record_of_marks_done_with_is_bounded(tmp_path: Path) -> None:
    # After 10,000 control messages it is emptied: the oldest mark it had, if still
    # under an hour old, is followed again.
    marks = Marks(str(tmp_path))
    marks.renamed("web6", "web7")
    (tmp_path / "web7").mkdir()
    marks.rename_done("web6")  # this rrdd moved web6: the next web6 is a new host
    for i in range(10000):
        marks.rename_done(f"h{i}")  # renamehosts of hosts this rrdd never had
    assert marks.new_name("web6") is None
    marks.rename_done("h10000")
    assert marks.new_name("web6") == "web7"


def test_a_file_mark_that_leads_outside_leads_nowhere(tmp_path: Path) -> None:
    w, _, rrddir = two(tmp_path)
    (rrddir / "h1").mkdir()
    rrdtool.create(str(rrddir / "x.rrd"), "DS:v:GAUGE:600:U:U", "RRA:AVERAGE:0.5:1:10")
    aged(rrddir / ".renamed-files/h1/la.rrd", "../x.rrd\n", 60)  # no mark rrdd writes
    put(w, "h1", "la.rrd", 0, 1)
    w.close()
    assert rows(rrddir / "h1/la.rrd", 1) == [1.0]
    assert w.counts[Event.UPDATES_REFUSED] == 0


def test_a_mark_older_than_this_rrdds_own_control_message_is_done_with(tmp_path: Path) -> None:
    # The other rrdd wrote its mark before this one had the message, and put it in
    # place after: it is no news to this rrdd.
    marks = Marks(str(tmp_path))
    (tmp_path / "web7").mkdir()
    marks.rename_done("web6")  # no mark yet: its time is now
    aged(tmp_path / ".renamed/web6", "web7\n", 10)
    assert marks.new_name("web6") is None


def test_a_mark_that_cannot_be_left_is_said_and_the_rename_is_done(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, _, rrddir = two(tmp_path)
    (rrddir / ".renamed").write_text("")  # no directory can be made there
    put(w, "web6", "la.rrd", 0, 1)
    w.rename_host("web6", "web7")
    assert sorted(os.listdir(rrddir)) == [".renamed", "web7"]
    assert "renamehost web6 -> web7: cannot leave a mark in" in caplog.text


def test_a_symbolic_link_among_the_marks_is_swept_by_its_own_age(tmp_path: Path) -> None:
    w, _, rrddir = two(tmp_path)
    target = tmp_path / "elsewhere"
    target.write_text("web9\n")
    (rrddir / ".renamed").mkdir()
    link = rrddir / ".renamed/old1"
    link.symlink_to(target)
    then = time.time() - 7200
    os.utime(link, (then, then), follow_symlinks=False)
    put(w, "web6", "la.rrd", 0, 1)
    w.rename_host("web6", "web7")
    assert os.listdir(rrddir / ".renamed") == ["web6"]
    assert target.read_text() == "web9\n"


# --- rrdcached: values held while the daemon is away ------------------------------------------


def test_values_held_while_rrdcached_is_down_follow_renames(rrdcached: Daemon) -> None:  # noqa: F811
    now = [0.0]
    counts = Counts()
    store = Rrdcached(rrdcached.address, str(rrdcached.rrddir), clock=lambda: now[0], counts=counts)
    w = RrdWriter(
        rrdcached.rrddir, RraDefinitions.load(None), counts, store=store, clock=lambda: NOW
    )
    rrddir = rrdcached.rrddir
    put(w, "h1", "disk,a.rrd", 0, 1)
    put(w, "web6", "la.rrd", 0, 10)
    w.sync()
    rrdcached.stop()  # it writes what it has
    put(w, "h1", "disk,a.rrd", 1, 2)
    put(w, "web6", "la.rrd", 1, 11)
    w.sync()  # the daemon is away: rrdd holds them
    w.rename_files("h1", [("disk,a.rrd", "disk,b.rrd")])
    w.rename_host("web6", "web7")
    rrdcached.start()
    now[0] += 100
    w.sync()
    w.close()
    rrdcached.stop()
    assert os.listdir(rrddir / "h1") == ["disk,b.rrd"]
    assert rows(rrddir / "h1/disk,b.rrd", 2) == [1.0, 2.0]
    assert sorted(os.listdir(rrddir)) == [".renamed", ".renamed-files", "h1", "web7"]
    assert rows(rrddir / "web7/la.rrd", 2) == [10.0, 11.0]


# --- the other rrdd acting between two steps of this one ----------------------------------


def said(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


def make(path: Path) -> None:
    """An RRD file made by the other rrdd."""
    rrdtool.create(str(path), "DS:v:GAUGE:600:U:U", "RRA:AVERAGE:0.5:1:10")


@pytest.mark.parametrize("times", [10, 11])
def test_a_directory_the_other_rrdd_writes_into_as_it_is_deleted_is_deleted_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, times: int
) -> None:
    # The other rrdd, still reading messages sent before its own drophost, makes a file
    # in the directory just before this one removes it: deleted again, ten times over.
    w, _, rrddir = two(tmp_path)
    put(w, "web6", "la.rrd", 0, 1)
    w.flush()
    made = iter(range(times))
    late = lambda: make(rrddir / f"web6/late{next(made)}.rrd")  # noqa: E731
    with (
        caplog.at_level(logging.DEBUG, logger="rrdd"),
        meanwhile("os.rmdir", "web6", late, times) as ran,
    ):
        w.drop_host("web6")
    assert ran == [times]
    if times == 10:
        assert not (rrddir / "web6").exists()
        assert said(caplog) == []
    else:  # an rrdd that never stops writing there: said, and left
        assert os.listdir(rrddir / "web6") == ["late10.rrd"]
        assert said(caplog) == [
            f"drophost web6: cannot delete {rrddir}/web6: [Errno 39] Directory not empty: "
            f"'{rrddir}/web6'"
        ]


def test_a_file_the_other_rrdd_deletes_first_as_this_one_deletes_the_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, _, rrddir = two(tmp_path)
    for name in ("la.rrd", "users.rrd"):
        put(w, "web6", name, 0, 1)
    w.flush()
    put(w, "web6", "la.rrd", 1, 2)  # held in the cache: goes with the host
    first = lambda: os.unlink(rrddir / "web6/users.rrd")  # noqa: E731
    with (
        caplog.at_level(logging.DEBUG, logger="rrdd"),
        meanwhile("os.remove", "users.rrd", first) as ran,
    ):
        w.drop_host("web6")
    assert ran == [1]
    assert not (rrddir / "web6").exists()
    assert said(caplog) == []
    assert "web6: 1 pending values discarded" in caplog.text


def test_a_directory_the_other_rrdd_deletes_first_is_no_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, other, rrddir = two(tmp_path)
    put(w, "web6", "la.rrd", 0, 1)
    w.flush()
    with caplog.at_level(logging.DEBUG, logger="rrdd"):
        with meanwhile("os.listdir", "web6", lambda: other.drop_host("web6")) as ran:
            w.drop_host("web6")
        assert ran == [1]
        assert not (rrddir / "web6").exists()
        assert said(caplog) == []
        assert f"drophost web6: {rrddir}/web6 is gone already" in caplog.text


# --- rrdcached on another machine: the files stay as they are ---------------------------------


def remote(daemon: Daemon) -> RrdWriter:
    """An rrdd whose rrdcached keeps the files on its own machine (the test's daemon
    works in the same directory, which the test reads as that machine's)."""
    counts = Counts()
    store = Rrdcached(daemon.address, str(daemon.rrddir), counts=counts, files_here=False)
    return RrdWriter(
        daemon.rrddir, RraDefinitions.load(None), counts, store=store, clock=lambda: NOW
    )


def test_control_messages_leave_the_files_on_the_rrdcached_machine_and_write_what_is_held(
    rrdcached: Daemon,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    rrddir = rrdcached.rrddir
    for host in ("h1", "h2"):
        (rrddir / host).mkdir()  # the daemon runs without -R: it makes no directory
    w = remote(rrdcached)
    for i in range(2):
        for host, name in (
            ("h1", "la.rrd"),
            ("h1", "disk,a.rrd"),
            ("h1", "users.rrd"),
            ("h2", "la.rrd"),
        ):
            put(w, host, name, i, 10 * i + 1)
    w.sync()  # the daemon makes the files; the values wait, in rrdd's cache or in the daemon
    with caplog.at_level(logging.INFO, logger="rrdd"):
        w.drop_files("h1", ["disk,a.rrd"])
        w.rename_files("h1", [("users.rrd", "who.rrd")])
        w.rename_host("h2", "h3")
        w.drop_host("h1")
    files = ["h1/disk,a.rrd", "h1/la.rrd", "h1/users.rrd", "h2/la.rrd"]
    assert sorted(str(p.relative_to(rrddir)) for p in rrddir.glob("*/*")) == files
    assert said(caplog) == [
        "droptest h1: the RRD files are on the rrdcached machine, where rrdd cannot delete or "
        "move them; they stay as they are (this is said once)"
    ]
    assert w.pending() == 0  # written, and let go
    w.close()
    rrdcached.stop()
    for name in files:
        assert rows(rrddir / name, 2) == [1.0, 11.0], name


def test_what_rrdd_holds_for_files_dropped_on_the_rrdcached_machine_is_let_go(
    rrdcached: Daemon,  # noqa: F811
) -> None:
    rrddir = rrdcached.rrddir
    for host in ("h1", "h2"):
        (rrddir / host).mkdir()
    w = remote(rrdcached)
    files = (("h1", "la.rrd"), ("h1", "disk,a.rrd"), ("h2", "la.rrd"))
    for host, name in files:
        put(w, host, name, 0, 1)
    assert w.commit()  # answered: the daemon has them
    rrdcached.stop()
    for host, name in files:
        put(w, host, name, 1, 11)
    w.sync()  # the daemon is away: rrdd holds them
    w.drop_files("h1", ["disk,a.rrd"])
    w.drop_host("h2")
    rrdcached.start()
    w.close()  # sends what it holds
    assert rrdcached.stats()["UpdatesReceived"] == 1
    rrdcached.stop()
    assert rows(rrddir / "h1/la.rrd", 2) == [1.0, 11.0]
    assert rows(rrddir / "h1/disk,a.rrd", 2) == [1.0, None]
    assert rows(rrddir / "h2/la.rrd", 2) == [1.0, None]


# --- droptest and renametest go on past the files they must leave ------------------------------


def test_a_droptest_goes_on_past_a_link_and_a_file_it_cannot_delete(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, _, rrddir = two(tmp_path)
    for name in ("a.rrd", "c.rrd"):
        put(w, "h1", name, 0, 1)
    w.flush()
    (rrddir / "h1/0.rrd").symlink_to("a.rrd")
    (rrddir / "h1/b.rrd").mkdir()  # no file: it cannot be unlinked
    w.drop_files("h1", ["0.rrd", "b.rrd", "c.rrd"])
    assert sorted(os.listdir(rrddir / "h1")) == ["0.rrd", "a.rrd", "b.rrd"]
    assert said(caplog) == [
        "droptest h1: 0.rrd is a symbolic link; left alone",
        f"droptest h1: cannot delete b.rrd: [Errno 21] Is a directory: '{rrddir}/h1/b.rrd'",
    ]


def test_a_renametest_goes_on_past_files_it_must_leave(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, other, rrddir = two(tmp_path)
    for name in ("b.rrd", "b2.rrd", "c.rrd", "d.rrd", "e.rrd"):
        put(w, "h1", name, 0, 1)
    w.flush()
    put(w, "h1", "d.rrd", 1, 2)  # held in the cache
    (rrddir / "h1/a.rrd").symlink_to("b.rrd")

    def in_the_way() -> None:  # someone makes a directory of the new name meanwhile
        (rrddir / "h1/c2.rrd").mkdir()
        make(rrddir / "h1/c2.rrd/x.rrd")

    renames = [(f"{n}.rrd", f"{n}2.rrd") for n in "abcde"]
    with (
        caplog.at_level(logging.DEBUG, logger="rrdd"),
        meanwhile("os.rename", "c.rrd", in_the_way) as c,
        meanwhile("os.rename", "d.rrd", lambda: other.rename_files("h1", [renames[3]])) as d,
    ):
        w.rename_files("h1", renames)
    assert c == d == [1]
    w.close()
    assert sorted(os.listdir(rrddir / "h1")) == [
        *("a.rrd", "b.rrd", "b2.rrd", "c.rrd", "c2.rrd", "d2.rrd", "e2.rrd")
    ]
    assert rows(rrddir / "h1/d2.rrd", 2) == [1.0, 2.0]  # the held value followed
    assert said(caplog) == [
        "renametest h1: a.rrd is a symbolic link; left alone",
        "renametest h1: b2.rrd exists, b.rrd left as it is",
        f"renametest h1: cannot rename c.rrd to c2.rrd: [Errno 21] Is a directory: "
        f"'{rrddir}/h1/c.rrd' -> '{rrddir}/h1/c2.rrd'",
    ]
    assert "renametest h1: d.rrd renamed by the other rrdd meanwhile" in caplog.text


# --- renamehost: what is held, and what goes wrong midway --------------------------------------


def test_a_renamehost_says_what_it_holds_for_a_host_the_other_rrdd_moved(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    status, data, rrddir = two(tmp_path)
    put(status, "web6", "la.rrd", 0, 1)
    put(data, "web6", "trend.rrd", 0, 100)
    status.flush()
    data.flush()
    put(data, "web6", "trend.rrd", 1, 101)  # held in the data rrdd's cache
    with caplog.at_level(logging.INFO, logger="rrdd"):
        status.rename_host("web6", "web7")  # moves the directory; it holds nothing
        assert "values held" not in caplog.text
        data.rename_host("web6", "web7")
    assert "renamehost web6 -> web7: 1 values held for web6 go to web7" in caplog.text
    data.close()
    assert rows(rrddir / "web7/trend.rrd", 2) == [100.0, 101.0]
    assert said(caplog) == []


def test_a_renamehost_to_the_same_name_writes_what_is_held(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, _, rrddir = two(tmp_path)
    put(w, "web6", "la.rrd", 0, 1)
    w.flush()
    put(w, "web6", "la.rrd", 1, 2)
    w.rename_host("web6", "".join(["web", "6"]))  # the --workers router's copy of the name
    assert rows(rrddir / "web6/la.rrd", 2) == [1.0, 2.0]  # written at once
    assert os.listdir(rrddir) == ["web6"]  # and no mark
    assert said(caplog) == []


def test_a_renamehost_onto_a_file_is_said_and_leaves_no_mark(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, _, rrddir = two(tmp_path)
    put(w, "web6", "la.rrd", 0, 1)
    w.flush()
    (rrddir / "web7").write_text("")  # no host directory
    w.rename_host("web6", "web7")
    assert os.listdir(rrddir / "web6") == ["la.rrd"]
    assert os.listdir(rrddir / ".renamed") == []  # nothing leads the other rrdd to web7
    assert said(caplog) == [
        f"renamehost web6 -> web7: [Errno 20] Not a directory: '{rrddir}/web6/la.rrd' -> "
        f"'{rrddir}/web7/la.rrd'"
    ]


def test_a_renamehost_into_a_directory_the_other_rrdd_still_writes_keeps_its_mark(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, _, rrddir = two(tmp_path)
    put(w, "web6", "la.rrd", 0, 1)
    put(w, "web7", "users.rrd", 0, 2)
    w.flush()
    late = lambda: make(rrddir / "web6/late.rrd")  # noqa: E731 (the other rrdd's new file)
    with meanwhile("os.rmdir", "web6", late) as ran:
        w.rename_host("web6", "web7")  # web7 exists: the files move into it
    assert ran == [1]
    assert sorted(os.listdir(rrddir / "web7")) == ["la.rrd", "users.rrd"]
    assert os.listdir(rrddir / "web6") == ["late.rrd"]
    assert (rrddir / ".renamed/web6").read_text() == "web7\n"  # still leads there
    assert said(caplog) == [
        f"renamehost web6 -> web7: [Errno 39] Directory not empty: '{rrddir}/web6'"
    ]


@pytest.mark.parametrize("event", ["os.listdir", "os.rename"])
def test_a_host_the_other_rrdd_moves_meanwhile_is_no_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, event: str
) -> None:
    w, other, rrddir = two(tmp_path)
    put(w, "web6", "la.rrd", 0, 1)
    w.flush()
    put(w, "web6", "la.rrd", 1, 2)
    with meanwhile(event, "web6", lambda: other.rename_host("web6", "web7")) as ran:
        w.rename_host("web6", "web7")
    assert ran == [1]
    w.close()
    assert sorted(os.listdir(rrddir)) == [".renamed", "web7"]
    assert rows(rrddir / "web7/la.rrd", 2) == [1.0, 2.0]
    assert said(caplog) == []


# --- files in the making when a control message comes -----------------------------------------


def stopped_creator(rrddir: Path, **kw: Any) -> tuple[RrdWriter, int]:
    """A writer whose one creator process is stopped: a file it is asked for stays in
    the making until SIGCONT."""
    creators = Creators(1)
    creators.start()
    pid = creators.workers[0].pid
    os.kill(pid, signal.SIGSTOP)
    return writer(rrddir, creators=creators, **kw), pid


def test_a_file_in_the_making_in_a_host_the_other_rrdd_moved_follows_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, pid = stopped_creator(tmp_path)
    other = writer(tmp_path)
    put(w, "web6", "la.rrd", 0, 1)
    other.rename_host("web6", "web7")  # before the creator makes web6/la.rrd
    # A slow creator, which cannot make the file in the directory gone: the renamehost
    # must wait for its answer, to follow the other rrdd's mark with the file.
    threading.Timer(1.0, os.kill, (pid, signal.SIGCONT)).start()
    w.rename_host("web6", "web7")
    w.close()
    assert sorted(os.listdir(tmp_path)) == [".renamed", "web7"]
    assert rows(tmp_path / "web7/la.rrd", 1) == [1.0]
    assert said(caplog) == []


def test_values_that_follow_the_other_rrdds_rename_into_a_file_in_the_making_wait_for_it(
    tmp_path: Path,
) -> None:
    """The creator process that makes the file is left to make it: made once, by it."""
    clock = Clock()
    w, pid = stopped_creator(tmp_path, monotonic=clock)
    other = writer(tmp_path)
    put(other, "web6", "la.rrd", 0, 1)
    other.flush()
    put(w, "web6", "la.rrd", 1, 2)  # held for the file that is there
    put(w, "web7", "la.rrd", 0, 7)  # a new file: in the making
    other.rename_host("web6", "web7")
    clock.now += 3600 * 1.2 + 1
    w.sync()  # web6/la.rrd's turn: gone, its values join web7/la.rrd's in the making
    assert w.counts[Event.RRD_CREATES] == 0
    os.kill(pid, signal.SIGCONT)
    w.close()
    assert w.counts[Event.RRD_CREATES] == 1 and w.pending() == 0
    assert rows(tmp_path / "web7/la.rrd", 2)[1] == 2.0


def test_a_file_in_the_making_when_its_renametest_comes_is_renamed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, pid = stopped_creator(tmp_path)
    put(w, "h1", "la.rrd", 0, 1)
    # A slow creator: the renametest must wait for it (it cannot, for a stopped one).
    threading.Timer(1.0, os.kill, (pid, signal.SIGCONT)).start()
    w.rename_files("h1", [("la.rrd", "la2.rrd")])
    w.close()
    assert os.listdir(tmp_path / "h1") == ["la2.rrd"]
    assert rows(tmp_path / "h1/la2.rrd", 1) == [1.0]
    assert said(caplog) == []


def test_a_file_in_the_making_when_its_droptest_comes_is_not_made_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, pid = stopped_creator(tmp_path)
    put(w, "h1", "la.rrd", 0, 1)
    put(w, "h1", "users.rrd", 0, 2)
    # A slow creator: the droptest must wait for it, or the file is made after it.
    threading.Timer(1.0, os.kill, (pid, signal.SIGCONT)).start()
    w.drop_files("h1", ["la.rrd"])
    w.close()
    assert os.listdir(tmp_path / "h1") == ["users.rrd"]
    assert rows(tmp_path / "h1/users.rrd", 1) == [2.0]
    assert said(caplog) == []


def test_a_hosts_files_are_those_in_its_directory_and_those_rrdd_holds_values_for(
    tmp_path: Path,
) -> None:
    # What droptest and renametest pick the files of a test from.
    w, other, rrddir = two(tmp_path)
    assert w.host_files("h1") == []  # no directory yet
    put(w, "h1", "la.rrd", 0, 1)
    put(w, "h1", "users.rrd", 0, 1)
    w.flush()
    put(w, "h1", "la.rrd", 1, 2)  # held in the cache
    other.rename_files("h1", [("la.rrd", "la2.rrd")])
    other.drop_files("h1", ["users.rrd"])
    assert w.host_files("h1") == ["la.rrd", "la2.rrd"]  # la.rrd: its value follows a rename


def test_a_file_waiting_to_be_made_when_its_renametest_comes_is_made_under_the_new_name(
    tmp_path: Path,
) -> None:
    # One file made a second, a cache of one value: la.rrd waits to be made, its value
    # shed. The renametest gives its record the new name; the file is made under it.
    policy = CachePolicy(max_pending=1, creates_per_second=1)
    w = writer(tmp_path, policy=policy, monotonic=lambda: 0.0)
    put(w, "h1", "users.rrd", 0, 1)
    put(w, "h1", "la.rrd", 0, 2)
    assert w.counts[Event.VALUES_SHED] == 1
    w.rename_files("h1", [("la.rrd", "la2.rrd")])
    w.close()
    assert sorted(os.listdir(tmp_path / "h1")) == ["la2.rrd", "users.rrd"]
    assert rows(tmp_path / "h1/users.rrd", 1) == [1.0]
