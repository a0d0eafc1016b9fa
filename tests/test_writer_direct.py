"""The direct writer against real librrd files in a temporary directory."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
import rrdtool

from rrdd.events import Counts, Event
from rrdd.schema import Schema, Update
from rrdd.writer.creator import Creators, Done
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.writer.schedule import CACHE_SIZE, CachePolicy
from rrdd.writer.store import read_header
from rrdd.xymoncfg import RraDefinitions
from tests.helpers import meanwhile, wait_until
from tests.test_disk import CutShort
from tests.test_writer_control import rows, stopped_creator

NOW = 1795312800
T0 = NOW + 71
GAUGE = Schema.of("DS:la:GAUGE:600:U:U")
DERIVE = Schema.of("DS:n:DERIVE:600:0:U")


def writer(tmp_path: Path, **kw: Any) -> tuple[RrdWriter, Counts]:
    counts = Counts()
    rrddir = tmp_path / "rrd"
    rrddir.mkdir(exist_ok=True)
    return RrdWriter(rrddir, RraDefinitions.load(None), counts, clock=lambda: NOW, **kw), counts


def last(path: Path) -> tuple[int, dict[str, object]]:
    info = rrdtool.lastupdate(str(path))
    return int(info["date"].timestamp()), info["ds"]


def test_create_uses_xymons_layout_and_starts_before_the_first_update(tmp_path: Path) -> None:
    w, counts = writer(tmp_path)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("52",)))
    info = rrdtool.info(str(tmp_path / "rrd/h1/la.rrd"))
    assert info["step"] == 300 and info["last_update"] == NOW - 10
    assert info["ds[la].type"] == "GAUGE" and info["ds[la].minimal_heartbeat"] == 600
    assert [(info[f"rra[{i}].rows"], info[f"rra[{i}].pdp_per_row"]) for i in range(4)] == [
        (576, 1),
        (576, 6),
        (576, 24),
        (576, 288),
    ]
    assert counts[Event.RRD_CREATES] == 1


def test_a_replayed_backlog_is_accepted(tmp_path: Path) -> None:
    w, _ = writer(tmp_path)
    old = NOW - 86400
    w.write("h1", "cpu", old, Update("la.rrd", GAUGE, ("1",)))
    w.write("h1", "cpu", old + 300, Update("la.rrd", GAUGE, ("2",)))
    w.close()
    assert last(tmp_path / "rrd/h1/la.rrd") == (old + 300, {"la": 2.0})


def test_values_wait_in_the_cache_until_the_file_has_twelve(tmp_path: Path) -> None:
    w, counts = writer(tmp_path)
    path = tmp_path / "rrd/h1/la.rrd"
    for i in range(CACHE_SIZE - 1):
        w.write("h1", "cpu", T0 + 300 * i, Update("la.rrd", GAUGE, (str(i),)))
    assert last(path)[0] == NOW - 10  # nothing written yet
    w.write("h1", "cpu", T0 + 300 * 11, Update("la.rrd", GAUGE, ("11",)))
    assert last(path) == (T0 + 300 * 11, {"la": 11.0})
    assert counts[Event.RRD_WRITES] == 1 and counts[Event.VALUES_WRITTEN] == 12


def test_no_cache_writes_every_value_at_once(tmp_path: Path) -> None:
    w, _ = writer(tmp_path, cache=False)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("7",)))
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0, {"la": 7.0})


def test_no_rrd_creates_the_file_but_writes_nothing(tmp_path: Path) -> None:
    w, _ = writer(tmp_path, update=False)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("7",)))
    w.close()
    assert last(tmp_path / "rrd/h1/la.rrd")[0] == NOW - 10


def test_duplicate_and_backward_timestamps_are_dropped_and_counted(tmp_path: Path) -> None:
    w, counts = writer(tmp_path)
    for ts, v in ((T0, "1"), (T0, "2"), (T0 - 300, "3"), (T0 + 300, "4")):
        w.write("h1", "cpu", ts, Update("la.rrd", GAUGE, (v,)))
    w.close()
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0 + 300, {"la": 4.0})
    assert counts[Event.UPDATES_DROPPED_OLD] == 2


def test_an_existing_files_last_update_is_respected(tmp_path: Path) -> None:
    w, _ = writer(tmp_path, cache=False)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    w2, counts = writer(tmp_path)  # a restarted rrdd
    w2.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("2",)))
    w2.close()
    assert counts[Event.UPDATES_DROPPED_OLD] == 1
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0, {"la": 1.0})


def test_one_rejected_value_does_not_lose_the_rest_of_the_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # xymond_rrd loses every value after the bad one; DERIVE refuses "0.5".
    w, counts = writer(tmp_path)
    for i, v in enumerate(["10", "0.5", "30", "40"]):
        w.write("h1", "app", T0 + 300 * i, Update("app.rrd", DERIVE, (v,)))
    with caplog.at_level(logging.WARNING):
        w.close()
    assert last(tmp_path / "rrd/h1/app.rrd")[0] == T0 + 900
    assert counts[Event.UPDATES_REJECTED] == 1 and counts[Event.VALUES_WRITTEN] == 3
    assert "h1/app.rrd: value" in caplog.text and "0.5" in caplog.text


@pytest.mark.parametrize("deleted", ["rrd/h1/la.rrd", "rrd/h1"])
def test_a_file_deleted_behind_rrdds_back_is_made_again(tmp_path: Path, deleted: str) -> None:
    w, _ = writer(tmp_path)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    if (tmp_path / deleted).is_dir():
        shutil.rmtree(tmp_path / deleted)
    else:
        (tmp_path / deleted).unlink()
    w.write("h1", "cpu", T0 + 300, Update("la.rrd", GAUGE, ("2",)))
    w.close()
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0 + 300, {"la": 2.0})


@pytest.mark.parametrize(
    ("host", "rrd"),
    [
        ("..", "la.rrd"),
        ("", "la.rrd"),
        ("a/b", "la.rrd"),
        ("h", "../la.rrd"),
        ("h", "x\0.rrd"),
        ("h", "x" * 256),
        ("h\udcff", "la.rrd"),
        ("h", "."),
    ],
)
def test_unsafe_names_never_leave_the_rrd_directory(tmp_path: Path, host: str, rrd: str) -> None:
    w, counts = writer(tmp_path)
    w.write(host, "cpu", T0, Update(rrd, GAUGE, ("1",)))
    w.close()
    assert counts[Event.UPDATES_REFUSED] == 1
    assert sorted(os.listdir(tmp_path)) == ["rrd"]
    assert os.listdir(tmp_path / "rrd") == []


def test_unprintable_values_are_refused(tmp_path: Path) -> None:
    w, counts = writer(tmp_path)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1\n2",)))
    w.close()
    assert counts[Event.UPDATES_REFUSED] == 1


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "create-worker"])
@pytest.mark.parametrize(
    ("defs", "value", "reason"),
    [
        (("DS:t:GAUGE\udcff:600:U:U",), "1", "holds bytes that are not UTF-8"),
        (("DS:t:GAUGE:600:U:U\0",), "1", "holds a NUL"),
        (("DS:t:GAUGE:600:U:U\nFLUSHALL",), "1", "holds a newline"),
        (("DS:t:GAUGE:600:U:U",), "1\udcff", "holds bytes that are not UTF-8"),
        (("DS:t:GAUGE:600:U:U",), "1\0junk", "holds a NUL"),
    ],
    ids=["ds-surrogate", "ds-nul", "ds-newline", "value-surrogate", "value-nul"],
)
def test_strings_librrd_must_not_get_are_refused(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    defs: tuple[str, ...],
    value: str,
    reason: str,
    workers: int,
) -> None:
    creators = Creators(workers) if workers else None
    w, counts = writer(tmp_path, creators=creators)
    w.write("h1", "t", T0, Update("bad.rrd", Schema(defs), (value,)))
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("2",)))
    w.close()
    assert counts[Event.UPDATES_REFUSED] == 1
    assert "h1/bad.rrd: refused: the " in caplog.text and reason in caplog.text
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0, {"la": 2.0})


def test_an_rrd_directory_librrd_cannot_be_given_is_refused(tmp_path: Path) -> None:
    rrddir = tmp_path / "rrd\udcff"  # --rrddir with a byte that is not UTF-8
    rrddir.mkdir()
    counts = Counts()
    w = RrdWriter(rrddir, RraDefinitions.load(None), counts, clock=lambda: NOW)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    w.close()
    assert counts[Event.UPDATES_REFUSED] == 1
    assert os.listdir(rrddir) == []


def test_changed_ds_list_writes_pending_values_first(tmp_path: Path) -> None:
    two = Schema.of("DS:a:GAUGE:600:U:U", "DS:b:GAUGE:600:U:U")
    only_b = Schema.of("DS:b:GAUGE:600:U:U")
    w, _ = writer(tmp_path)
    w.write("h1", "t", T0, Update("t.rrd", two, ("1", "2")))
    w.write("h1", "t", T0 + 300, Update("t.rrd", only_b, ("5",)))
    w.close()
    assert last(tmp_path / "rrd/h1/t.rrd") == (T0 + 300, {"a": None, "b": 5.0})
    assert w.existing_ds("h1", "t.rrd") == ("a", "b")


def test_existing_ds_of_a_file_written_by_someone_else(tmp_path: Path) -> None:
    w, _ = writer(tmp_path)
    (tmp_path / "rrd/h2").mkdir()
    rrdtool.create(
        str(tmp_path / "rrd/h2/x.rrd"),
        "DS:q:GAUGE:600:U:U",
        "DS:p:GAUGE:600:U:U",
        "RRA:AVERAGE:0.5:1:10",
    )
    assert w.existing_ds("h2", "x.rrd") == ("q", "p")
    assert w.existing_ds("h2", "none.rrd") is None
    assert w.existing_ds("..", "x.rrd") is None


def test_drop_host_discards_pending_values_and_deletes_the_directory(tmp_path: Path) -> None:
    w, _ = writer(tmp_path)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    w.drop_host("h1")
    w.close()  # nothing pending is written back into a dropped host
    assert not (tmp_path / "rrd/h1").exists()


def test_drop_host_does_not_follow_a_symlinked_directory(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.rrd").write_text("precious")
    w, _ = writer(tmp_path)
    (tmp_path / "rrd/h1").symlink_to(outside)
    w.drop_host("h1")
    assert (outside / "keep.rrd").exists() and not (tmp_path / "rrd/h1").exists()


def test_rename_host_flushes_then_moves(tmp_path: Path) -> None:
    w, _ = writer(tmp_path)
    w.write("old", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    w.rename_host("old", "new")
    assert not (tmp_path / "rrd/old").exists()
    assert last(tmp_path / "rrd/new/la.rrd") == (T0, {"la": 1.0})  # pending at the rename
    w.write("new", "cpu", T0 + 300, Update("la.rrd", GAUGE, ("2",)))
    w.close()
    assert last(tmp_path / "rrd/new/la.rrd") == (T0 + 300, {"la": 2.0})


def test_rename_onto_an_existing_host_merges_and_keeps_collisions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, _ = writer(tmp_path)
    w.write("old", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    w.write("old", "cpu", T0, Update("users.rrd", GAUGE, ("3",)))
    w.write("new", "cpu", T0 + 1, Update("la.rrd", GAUGE, ("9",)))
    with caplog.at_level(logging.WARNING):
        w.rename_host("old", "new")
    assert sorted(os.listdir(tmp_path / "rrd/new")) == ["la.rrd", "users.rrd"]
    assert os.listdir(tmp_path / "rrd/old") == ["la.rrd"]  # kept, not overwritten
    assert last(tmp_path / "rrd/new/la.rrd") == (T0 + 1, {"la": 9.0})
    assert "kept 1 files" in caplog.text


def test_rename_after_the_peer_worker_did_it(tmp_path: Path) -> None:
    w, _ = writer(tmp_path)
    (tmp_path / "rrd/new").mkdir()
    w.rename_host("old", "new")  # nothing to move: no error, nothing created
    assert os.listdir(tmp_path / "rrd") == ["new"]


def test_drop_and_rename_files(tmp_path: Path) -> None:
    w, _ = writer(tmp_path)
    for name in ("disk,root.rrd", "disk,var.rrd", "la.rrd"):
        w.write("h1", "x", T0, Update(name, GAUGE, ("1",)))
    w.drop_files("h1", ["disk,var.rrd"])
    w.rename_files("h1", [("disk,root.rrd", "disk2,root.rrd")])
    w.close()
    assert w.host_files("h1") == ["disk2,root.rrd", "la.rrd"]
    assert last(tmp_path / "rrd/h1/disk2,root.rrd")[0] == T0


def test_values_go_to_their_own_ds_or_nowhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ab = Schema.of("DS:a:GAUGE:600:U:U", "DS:b:GAUGE:600:U:U")
    bca = Schema.of("DS:b:GAUGE:600:U:U", "DS:c:GAUGE:600:U:U", "DS:a:GAUGE:600:U:U")
    w, counts = writer(tmp_path)
    w.write("h1", "t", T0, Update("t.rrd", ab, ("1", "2")))
    with caplog.at_level(logging.WARNING):
        w.write("h1", "t", T0 + 300, Update("t.rrd", bca, ("20", "30", "10")))
        w.write("h1", "t", T0 + 600, Update("t.rrd", bca, ("21", "31", "11")))
    w.close()
    assert last(tmp_path / "rrd/h1/t.rrd") == (T0 + 600, {"a": 11.0, "b": 21.0})
    assert caplog.text.count("has no DS c") == 1 and counts[Event.DS_MISMATCHES] == 1


def test_trackmax_adds_a_max_rra_beside_each_average(tmp_path: Path) -> None:
    w, _ = writer(tmp_path)
    w.write("h1", "perf", T0, Update("perf.rrd", GAUGE, ("1",), track_max=True))
    info = rrdtool.info(str(tmp_path / "rrd/h1/perf.rrd"))
    rras = [(info[f"rra[{i}].cf"], info[f"rra[{i}].pdp_per_row"]) for i in range(8)]
    assert rras == [
        ("AVERAGE", 1),
        ("AVERAGE", 6),
        ("AVERAGE", 24),
        ("AVERAGE", 288),
        ("MAX", 1),
        ("MAX", 6),
        ("MAX", 24),
        ("MAX", 288),
    ]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def policy_writer(tmp_path: Path, **policy: float) -> tuple[RrdWriter, Counts, Clock]:
    clock = Clock()
    counts = Counts()
    (tmp_path / "rrd").mkdir(exist_ok=True)
    w = RrdWriter(
        tmp_path / "rrd",
        RraDefinitions.load(None),
        counts,
        clock=lambda: NOW,
        monotonic=clock,
        policy=CachePolicy(**policy),
    )
    return w, counts, clock


def test_a_file_is_written_when_its_oldest_value_is_too_old(tmp_path: Path) -> None:
    w, _, clock = policy_writer(tmp_path, max_age=600, jitter=0.5)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    w.write("h1", "cpu", T0 + 300, Update("la.rrd", GAUGE, ("2",)))
    clock.now += 599
    w.sync()
    assert w.pending() == 2
    clock.now += 301  # past 600 s plus any jitter up to 50 %
    w.sync()
    assert w.pending() == 0
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0 + 300, {"la": 2.0})


def test_the_write_ceiling_spreads_full_files_and_flush_requests_go_first(
    tmp_path: Path,
) -> None:
    w, counts, clock = policy_writer(tmp_path, batch=2, writes_per_second=2)
    for h in range(6):
        for i in range(2):
            w.write(f"h{h}", "cpu", T0 + 300 * i, Update("la.rrd", GAUGE, (str(i),)))
    assert counts[Event.RRD_WRITES] == 0  # six full files, none written yet
    w.flush("h5")  # asked for: no ceiling
    assert counts[Event.RRD_WRITES] == 1
    clock.now += 1
    w.sync()
    assert counts[Event.RRD_WRITES] == 3
    clock.now += 10
    w.sync()  # the ceiling does not save up beyond one second's writes
    assert counts[Event.RRD_WRITES] == 5
    w.sync()
    assert counts[Event.RRD_WRITES] == 5 and w.pending() == 2


def test_creations_beyond_the_ceiling_wait_with_their_values(tmp_path: Path) -> None:
    w, counts, clock = policy_writer(tmp_path, creates_per_second=1)
    clock.now += 1
    for i in range(4):
        w.write("new", "if", T0, Update(f"if{i}.rrd", GAUGE, (str(i),)))
    assert sorted(os.listdir(tmp_path / "rrd/new")) == ["if0.rrd"]
    assert counts[Event.CREATES_DEFERRED] == 3
    assert w.existing_ds("new", "if3.rrd") == ("la",)
    for _ in range(3):
        clock.now += 1
        w.sync()
    assert sorted(os.listdir(tmp_path / "rrd/new")) == [f"if{i}.rrd" for i in range(4)]
    w.close()
    assert last(tmp_path / "rrd/new/if3.rrd") == (T0, {"la": 3.0})


def test_a_full_cache_writes_at_once_in_direct_mode(tmp_path: Path) -> None:
    w, counts, _ = policy_writer(tmp_path, max_pending=3)
    for h in range(5):
        w.write(f"h{h}", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    assert w.pending() == 3 and counts[Event.VALUES_SHED] == 0
    assert last(tmp_path / "rrd/h4/la.rrd") == (T0, {"la": 1.0})


def test_a_full_cache_sheds_and_counts_what_cannot_be_written(tmp_path: Path) -> None:
    w, counts, clock = policy_writer(tmp_path, max_pending=2, creates_per_second=1)
    clock.now += 1
    for i in range(4):  # one file made, three waiting for the create ceiling
        w.write("new", "if", T0, Update(f"if{i}.rrd", GAUGE, ("1",)))
    assert counts[Event.VALUES_SHED] == 2 and w.pending() == 2


def test_a_flood_of_new_hosts_does_not_grow_memory_without_bound(tmp_path: Path) -> None:
    w, counts, _ = policy_writer(tmp_path, max_files=5, batch=2)
    for h in range(12):
        for i in range(2):  # two values: written, so the file's record is idle after
            w.write(f"h{h}", "cpu", T0 + 300 * i, Update("la.rrd", GAUGE, ("1",)))
    assert w.table.size <= 5
    assert counts[Event.FILE_RECORDS_DROPPED] >= 1
    w.write("h0", "cpu", T0 + 600, Update("la.rrd", GAUGE, ("3",)))  # forgotten: read again
    w.close()
    assert last(tmp_path / "rrd/h0/la.rrd") == (T0 + 600, {"la": 3.0})


@pytest.mark.parametrize("ds_count", [1, 17, 40])
def test_the_header_reader_agrees_with_librrd(tmp_path: Path, ds_count: int) -> None:
    path = str(tmp_path / "x.rrd")
    defs = [f"DS:d{i}:GAUGE:600:U:U" for i in range(ds_count)]
    rrdtool.create(
        path, "-b", str(NOW), "-s", "300", *defs, *RraDefinitions.load(None).lookup("la", 300)
    )
    rrdtool.update(path, f"{T0}:" + ":".join(["1"] * ds_count))
    info = rrdtool.info(path)
    names = tuple(
        sorted(
            (k[3:-7] for k in info if k.endswith("].index")), key=lambda n: info[f"ds[{n}].index"]
        )
    )
    assert (
        read_header(path)
        == (info["last_update"], names)
        == (T0, tuple(f"d{i}" for i in range(ds_count)))
    )


def test_the_header_reader_leaves_what_is_not_an_rrd_to_librrd(tmp_path: Path) -> None:
    junk = tmp_path / "junk.rrd"
    junk.write_bytes(b"RRD\0" + b"x" * 300)
    assert read_header(str(junk)) is None
    w, counts = writer(tmp_path)
    (tmp_path / "rrd/h1").mkdir()
    (tmp_path / "rrd/h1/la.rrd").write_bytes(b"not an rrd")
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    assert counts[Event.RRD_OPEN_ERRORS] == 1
    with pytest.raises(FileNotFoundError):
        read_header(str(tmp_path / "missing.rrd"))


def test_new_files_are_made_by_worker_processes(tmp_path: Path) -> None:
    creators = Creators(2)
    w, counts = writer(tmp_path, creators=creators)
    for i in range(20):
        w.write(f"h{i}", "cpu", T0, Update("la.rrd", GAUGE, (str(i),)))
    pids = [worker.pid for worker in creators.workers]
    assert len(pids) == 2 and os.getpid() not in pids
    w.close()
    assert counts[Event.RRD_CREATES] == 20 and counts[Event.VALUES_WRITTEN] == 20
    assert [last(tmp_path / f"rrd/h{i}/la.rrd") for i in range(20)] == [
        (T0, {"la": float(i)}) for i in range(20)
    ]
    for pid in pids:  # ended when rrdd closed their pipes, and reaped
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_file_a_worker_died_making_is_refused_and_the_others_are_made(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    creators = Creators(1)
    w, counts = writer(tmp_path, creators=creators)
    w.write("h0", "cpu", T0, Update("la.rrd", GAUGE, ("0",)))
    w.flush()
    pid = creators.workers[0].pid
    os.kill(pid, signal.SIGSTOP)  # h1 to h4 wait in its pipe, h1 first
    for i in range(1, 5):
        w.write(f"h{i}", "cpu", T0, Update("la.rrd", GAUGE, (str(i),)))
    os.kill(pid, signal.SIGKILL)
    w.close()
    assert not (tmp_path / "rrd/h1/la.rrd").exists()
    assert [last(tmp_path / f"rrd/h{i}/la.rrd") for i in (0, 2, 3, 4)] == [
        (T0, {"la": float(i)}) for i in (0, 2, 3, 4)
    ]
    assert creators.counts[Event.CREATOR_CRASHES] == 1 and counts[Event.VALUES_NOT_CREATED] == 1
    assert counts[Event.RRD_CREATES] == 4 and counts[Event.VALUES_WRITTEN] == 4
    assert (
        f"h1/la.rrd: cannot create {tmp_path}/rrd/h1/la.rrd, 1 values lost: the process "
        "creating it died (killed by SIGKILL)" in caplog.text
    )


def test_a_create_that_crashes_its_worker_is_not_made_by_rrdd(tmp_path: Path) -> None:
    # The binding's crash, reached past the writer's check: the worker making the file
    # dies of it, rrdd does not, and the requests behind it go to a new worker.
    creators = Creators(1)
    args = ["-s", "300", "DS:a:GAUGE:600:U:U", "RRA:AVERAGE:0.5:1:10"]
    bad = ["-s", "300", "DS:a:GAUGE\udcff:600:U:U", "RRA:AVERAGE:0.5:1:10"]
    paths = [str(tmp_path / f"{name}.rrd") for name in ("a", "bad", "b", "c")]
    for path in paths:
        creators.submit(path, bad if path.endswith("bad.rrd") else args)
    first = creators.workers[0].pid
    done = {d.path: d for d in creators.finished(wait=True)}
    creators.close()
    died = "the process creating it died (killed by SIGSEGV): refused, and not made by rrdd"
    assert done == {
        paths[0]: Done(paths[0], None),
        paths[1]: Done(paths[1], died, crashed=True),
        paths[2]: Done(paths[2], None),
        paths[3]: Done(paths[3], None),
    }
    assert sorted(os.listdir(tmp_path)) == ["a.rrd", "b.rrd", "c.rrd"]
    assert creators.counts[Event.CREATOR_CRASHES] == 1
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)


def test_a_host_dropped_while_its_files_are_made_starts_afresh(tmp_path: Path) -> None:
    w, counts = writer(tmp_path, creators=Creators(2), cache=False)
    for i in range(3):
        w.write("h1", "cpu", T0 + 300 * i, Update("la.rrd", GAUGE, (str(i),)))
    w.drop_host("h1")
    w.write("h1", "cpu", T0 + 900, Update("la.rrd", GAUGE, ("9",)))
    w.sync()
    w.close()
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0 + 900, {"la": 9.0})
    assert counts[Event.UPDATES_DROPPED_OLD] == 0 and counts[Event.UPDATES_REJECTED] == 0


def test_many_failed_creates_come_back_without_a_stall(tmp_path: Path) -> None:
    # 300 requests (past the 200 a worker may hold) whose errors name long paths: the
    # answers are cut, so the pipe back never fills while rrdd is still writing to it.
    creators = Creators(1)
    long = "x" * 200
    for i in range(300):
        creators.submit(str(tmp_path / f"missing-dir/{long}{i}.rrd"), ["DS:a:GAUGE:600:U:U"])
    done = creators.finished(wait=True)
    creators.close()
    assert [d.path for d in done] == [
        str(tmp_path / f"missing-dir/{long}{i}.rrd") for i in range(300)
    ]
    assert all(d.error and len(d.error) <= 150 and d.error.isprintable() for d in done)


def made_elsewhere(path: Path) -> None:
    """An RRD file at `path`, made under a short name and renamed: librrd cannot make a
    file whose name or path is at the file system's limit (its temporary name is longer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    short = path.parent / "short.rrd"
    rrdtool.create(
        str(short), "-b", str(NOW - 10), "-s", "300", *GAUGE.defs, "RRA:AVERAGE:0.5:1:10"
    )
    short.rename(path)


def test_files_at_the_file_systems_limits_are_written(tmp_path: Path) -> None:
    # Linux: 255 bytes a name, 4095 a path (PATH_MAX counts the closing NUL).
    w, stats = writer(tmp_path, cache=False)
    host, rrd = "h" * 255, "x" * 251 + ".rrd"
    made_elsewhere(tmp_path / "rrd" / host / rrd)
    w.write(host, "cpu", T0, Update(rrd, GAUGE, ("1",)))

    rrddir = tmp_path / "/".join(["d" * 200] * 19)
    rrddir.mkdir(parents=True)
    room = 4095 - len(os.fsencode(rrddir / "h")) - 1
    made_elsewhere(rrddir / "h" / ("f" * room))
    w = RrdWriter(rrddir, RraDefinitions.load(None), stats, clock=lambda: NOW, cache=False)
    w.write("h", "cpu", T0, Update("f" * room, GAUGE, ("2",)))
    w.write("h", "cpu", T0, Update("f" * (room + 1), GAUGE, ("3",)))
    w.close()
    assert last(tmp_path / "rrd" / host / rrd) == (T0, {"la": 1.0})
    assert last(rrddir / "h" / ("f" * room)) == (T0, {"la": 2.0})
    assert stats[Event.UPDATES_REFUSED] == 1 and stats[Event.RRD_OPEN_ERRORS] == 0


def test_a_ceiling_under_one_a_second_still_lets_files_through(tmp_path: Path) -> None:
    # 0.5 a second is one every two seconds, not none at all.
    w, counts, clock = policy_writer(tmp_path, writes_per_second=0.5, creates_per_second=0.5)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    w.write("h2", "cpu", T0, Update("la.rrd", GAUGE, ("2",)))
    assert counts[Event.RRD_CREATES] == 0
    for made in (1, 2):
        clock.now += 1
        w.sync()
        assert counts[Event.RRD_CREATES] == counts[Event.RRD_WRITES] == made - 1
        clock.now += 1
        w.sync()  # a file made, and its value written at once: it has waited long enough
        assert counts[Event.RRD_CREATES] == counts[Event.RRD_WRITES] == made
    assert last(tmp_path / "rrd/h2/la.rrd") == (T0, {"la": 2.0})


def test_a_commit_writes_every_held_value_and_makes_waiting_files(tmp_path: Path) -> None:
    w, counts = writer(tmp_path, policy=CachePolicy(creates_per_second=0.001))
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))  # both wait for the ceiling
    w.write("h1", "cpu", T0 + 300, Update("la.rrd", GAUGE, ("2",)))
    w.write("h2", "cpu", T0, Update("la.rrd", GAUGE, ("3",)))
    assert counts[Event.CREATES_DEFERRED] == 2 and w.pending() == 3
    assert w.commit() and w.pending() == 0
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0 + 300, {"la": 2.0})
    assert last(tmp_path / "rrd/h2/la.rrd") == (T0, {"la": 3.0})


def test_a_reload_changes_the_create_ceiling_and_keeps_it_when_unchanged(
    tmp_path: Path,
) -> None:
    w, stats, clock = policy_writer(tmp_path, creates_per_second=2.5)
    rras = RraDefinitions.load(None)
    clock.now += 1  # creates saved up
    w.reconfigure(rras, CachePolicy(creates_per_second=float("2.5")))  # the same, anew
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    assert stats[Event.RRD_CREATES] == 1  # the saving survived a reload that changed nothing
    w.reconfigure(rras, CachePolicy(creates_per_second=0.001))
    w.write("h2", "cpu", T0, Update("la.rrd", GAUGE, ("2",)))
    clock.now += 1
    w.sync()
    assert stats[Event.RRD_CREATES] == 1 and stats[Event.CREATES_DEFERRED] == 1  # lowered: it waits
    w.reconfigure(rras, CachePolicy(creates_per_second=1000))
    clock.now += 0.01
    w.sync()
    assert stats[Event.RRD_CREATES] == 2  # raised: made at the next turn
    w.reconfigure(rras, CachePolicy(creates_per_second=0))
    for i in range(3, 6):
        w.write(f"h{i}", "cpu", T0, Update("la.rrd", GAUGE, ("3",)))
    assert stats[Event.RRD_CREATES] == 5  # no ceiling at all


@pytest.mark.parametrize("ceiling", [0, 1], ids=["made-at-once", "waiting"])
def test_a_file_waiting_for_the_create_ceiling_takes_the_values_one_made_at_once_takes(
    tmp_path: Path, ceiling: int
) -> None:
    # Both start 10 s before the first value (a replayed one, older than now): a value
    # at that start is too old for the file, one a second later is not, even when the
    # first value itself was refused.
    w, counts, clock = policy_writer(tmp_path, creates_per_second=ceiling)
    old = NOW - 3600
    w.write("h1", "cpu", old, Update("la.rrd", GAUGE, ("1\x00",)))  # refused
    w.write("h1", "cpu", old - 10, Update("la.rrd", GAUGE, ("2",)))
    w.write("h1", "cpu", old - 9, Update("la.rrd", GAUGE, ("3",)))
    w.write("h2", "cpu", old, Update("la.rrd", GAUGE, ("4",)))
    clock.now += 2
    w.close()
    assert counts[Event.UPDATES_REFUSED] == 1 and counts[Event.UPDATES_DROPPED_OLD] == 1
    assert last(tmp_path / "rrd/h1/la.rrd") == (old - 9, {"la": 3.0})
    assert last(tmp_path / "rrd/h2/la.rrd") == (old, {"la": 4.0})


def test_a_file_of_another_step_is_made_with_it(tmp_path: Path) -> None:
    w, _ = writer(tmp_path)
    w.write("h1", "trends", T0, Update("la.rrd", GAUGE, ("1",), step=60))
    assert rrdtool.info(str(tmp_path / "rrd/h1/la.rrd"))["step"] == 60


def test_a_new_file_that_cannot_be_read_back_is_said_and_its_value_not_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, counts = writer(tmp_path)
    path = tmp_path / "rrd/h1/la.rrd"

    def unreadable() -> None:  # as a failing disk would have it: a directory stands in
        path.unlink()
        path.mkdir()

    with meanwhile("open", "la.rrd", unreadable) as ran:
        w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    assert ran == [1]
    assert counts[Event.RRD_OPEN_ERRORS] == 1 and w.pending() == 0
    assert f"cannot use {path}: the new file cannot be read: [Errno 21] Is a directory" in (
        caplog.text
    )


# --- the update path, files made late, and values that follow a rename --------------------


def test_the_writers_options_are_given_by_name(tmp_path: Path) -> None:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    rras, counts = RraDefinitions.load(None), Counts()
    w = RrdWriter(rrddir=rrddir, rras=rras, counts=counts, clock=lambda: NOW, cache=False)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    assert last(rrddir / "h1/la.rrd") == (T0, {"la": 1.0})
    with pytest.raises(TypeError):
        RrdWriter(rrddir, rras, counts, None)  # type: ignore[misc]


def test_a_ds_list_built_anew_for_each_message_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # trends and ncv build the DS list of each message anew: the same list, another object.
    w, counts = writer(tmp_path)
    w.write("h1", "t", T0, Update("t.rrd", Schema.of("DS:a:GAUGE:600:U:U"), ("1",)))
    with caplog.at_level(logging.WARNING):
        for i in range(1, 4):
            ab = Schema.of("DS:a:GAUGE:600:U:U", "DS:b:GAUGE:600:U:U")
            w.write("h1", "t", T0 + 300 * i, Update("t.rrd", ab, (str(i), "9")))
    w.close()
    assert last(tmp_path / "rrd/h1/t.rrd") == (T0 + 900, {"a": 3.0})
    assert caplog.text.count("has no DS b") == 1 and counts[Event.DS_MISMATCHES] == 1


def test_a_reload_that_lowers_max_pending_below_what_is_held_writes_new_values_at_once(
    tmp_path: Path,
) -> None:
    w, counts, _ = policy_writer(tmp_path, max_pending=100)
    for h in range(5):
        w.write(f"h{h}", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    w.reconfigure(RraDefinitions.load(None), CachePolicy(max_pending=3))  # 5 held: over it
    w.write("h0", "cpu", T0 + 300, Update("la.rrd", GAUGE, ("2",)))
    assert last(tmp_path / "rrd/h0/la.rrd") == (T0 + 300, {"la": 2.0})
    assert w.pending() == 4 and counts[Event.VALUES_SHED] == 0


def test_a_value_for_a_file_the_other_rrdd_renamed_goes_to_its_new_name(tmp_path: Path) -> None:
    w, counts = writer(tmp_path)  # has not seen the file yet
    other, _ = writer(tmp_path)
    other.write("h1", "tcp", T0, Update("tcp.ssh.rrd", GAUGE, ("1",)))
    other.flush()
    other.rename_files("h1", [("tcp.ssh.rrd", "tcp.sshd.rrd")])
    w.write("h1", "tcp", T0 + 300, Update("tcp.ssh.rrd", GAUGE, ("2",)))  # sent before it
    w.close()
    assert os.listdir(tmp_path / "rrd/h1") == ["tcp.sshd.rrd"]
    assert last(tmp_path / "rrd/h1/tcp.sshd.rrd") == (T0 + 300, {"la": 2.0})
    assert counts[Event.RRD_CREATES] == 0


def test_a_file_whose_create_the_disk_refused_takes_the_values_one_made_at_once_takes(
    tmp_path: Path,
) -> None:
    # As test_a_file_waiting_for_the_create_ceiling_takes_the_values_one_made_at_once_takes:
    # a value at the start the file is made with is too old for it, one a second later
    # is not, even when the first value itself was refused.
    clock = Clock()
    w, counts = writer(tmp_path, store=CutShort(), monotonic=clock)
    old = NOW - 3600
    w.write("h1", "cpu", old, Update("la.rrd", GAUGE, ("1\x00",)))  # refused
    assert counts[Event.DISK_ERRORS] == 1 and not (tmp_path / "rrd/h1/la.rrd").exists()
    w.write("h1", "cpu", old - 10, Update("la.rrd", GAUGE, ("2",)))
    w.write("h1", "cpu", old - 9, Update("la.rrd", GAUGE, ("3",)))
    clock.now += 2
    w.sync()  # the disk is tried again: made
    w.close()
    assert counts[Event.UPDATES_REFUSED] == 1 and counts[Event.UPDATES_DROPPED_OLD] == 1
    assert last(tmp_path / "rrd/h1/la.rrd") == (old - 9, {"la": 3.0})


def test_files_in_the_making_do_not_hold_up_the_reading(tmp_path: Path) -> None:
    w, pid = stopped_creator(tmp_path)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    # Let go in two seconds, so that a sync that waits for the creator ends, and says so.
    threading.Timer(2.0, os.kill, (pid, signal.SIGCONT)).start()
    w.sync()
    assert w.counts[Event.RRD_CREATES] == 0  # still in the making
    wait_until(lambda: w.sync() or w.counts[Event.RRD_CREATES] == 1)
    w.close()
    assert last(tmp_path / "h1/la.rrd") == (T0, {"la": 1.0})


@pytest.mark.parametrize(
    ("ds", "rras", "reason"),
    [
        ("DS:la:FOO:600:U:U", "", "invalid DS type specified (FOO)"),
        ("DS:la:GAUGE:600:U:U", "--step=300", "you must define at least one Round Robin Archive"),
    ],
    ids=["bad-ds", "no-rra"],
)
def test_a_file_librrd_will_not_make_is_given_up_once_with_its_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, ds: str, rras: str, reason: str
) -> None:
    cfg = tmp_path / "rrddefinitions.cfg"
    cfg.write_text(f"[t]\n{rras}\n")
    clock = Clock()
    policy = CachePolicy(creates_per_second=1)
    w, counts = writer(tmp_path, policy=policy, monotonic=clock)
    w.reconfigure(RraDefinitions.load(cfg), policy)
    w.write("h1", "t", T0, Update("t.rrd", Schema.of(ds), ("1",)))  # waits for the ceiling
    with caplog.at_level(logging.INFO, logger="rrdd"):
        clock.now += 1
        w.sync()
    path = tmp_path / "rrd/h1/t.rrd"
    assert counts[Event.VALUES_NOT_CREATED] == 1 and not path.exists() and w.pending() == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"h1/t.rrd: cannot create {path}, 1 values lost: {reason}"
    ]


def test_a_file_removed_as_it_is_made_in_a_host_dropped_lately_is_not_made_again(
    tmp_path: Path,
) -> None:
    w, counts, clock = policy_writer(tmp_path, creates_per_second=1)
    clock.now += 1
    w.write("h1", "cpu", T0, Update("users.rrd", GAUGE, ("1",)))
    w.drop_host("h1")  # its mark says a drophost began lately
    w.write("h1", "cpu", T0 + 300, Update("la.rrd", GAUGE, ("2",)))  # waits for the ceiling
    assert counts[Event.CREATES_DEFERRED] == 1
    # The other rrdd's drophost deletes the directory again as the file is made.
    clock.now += 1
    with meanwhile("open", "la.rrd", lambda: shutil.rmtree(tmp_path / "rrd/h1")) as ran:
        w.sync()
    assert ran == [1]
    w.close()
    assert not (tmp_path / "rrd/h1").exists()
    assert counts[Event.VALUES_OF_DROPPED_HOSTS] == 1 and counts[Event.RRD_CREATES] == 1


def test_a_file_that_waited_removed_as_it_is_made_is_made_again_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, counts, clock = policy_writer(tmp_path, creates_per_second=1)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))  # waits for the ceiling
    path = tmp_path / "rrd/h1/la.rrd"
    clock.now += 1
    with (
        caplog.at_level(logging.INFO, logger="rrdd"),
        meanwhile("open", "la.rrd", path.unlink) as ran,  # the other rrdd's droptest
    ):
        w.sync()
    assert ran == [1]
    assert last(path) == (T0, {"la": 1.0})
    assert [r.getMessage() for r in caplog.records] == [
        "h1/la.rrd: removed as it was made; made again"
    ]
    assert counts[Event.RRD_CREATES] == 1 and counts[Event.DISK_ERRORS] == 0


def test_a_file_waiting_to_be_made_in_a_host_the_other_rrdd_renamed_is_made_under_the_new_name(
    tmp_path: Path,
) -> None:
    w, counts, clock = policy_writer(tmp_path, creates_per_second=1)
    other, _ = writer(tmp_path)
    clock.now += 1
    w.write("web6", "cpu", T0, Update("users.rrd", GAUGE, ("1",)))  # made: web6 is known
    w.write("web6", "cpu", T0, Update("la.rrd", GAUGE, ("2",)))  # waits for the ceiling
    other.rename_host("web6", "web7")
    clock.now += 1
    w.sync()  # its turn: web6 is gone, and the mark leads to web7
    assert last(tmp_path / "rrd/web7/la.rrd") == (T0, {"la": 2.0})
    assert not (tmp_path / "rrd/web6").exists()


def test_values_waiting_for_their_file_go_into_the_file_a_renametest_gives_them(
    tmp_path: Path,
) -> None:
    w, counts, _ = policy_writer(tmp_path, creates_per_second=1)
    sshd = tmp_path / "rrd/h1/tcp.sshd.rrd"
    made_elsewhere(sshd)  # by the other rrdd, with the other name
    rrdtool.update(str(sshd), f"{T0}:1")
    w.write("h1", "tcp", T0 + 300, Update("tcp.ssh.rrd", GAUGE, ("2",)))  # waits for the ceiling
    assert counts[Event.CREATES_DEFERRED] == 1
    w.rename_files("h1", [("tcp.ssh.rrd", "tcp.sshd.rrd")])
    w.close()
    assert os.listdir(tmp_path / "rrd/h1") == ["tcp.sshd.rrd"]
    assert rrdtool.info(str(sshd))["rra[0].rows"] == 10  # the file that was there, not made over
    assert last(sshd) == (T0 + 300, {"la": 2.0})


@pytest.mark.parametrize("values", [1, CACHE_SIZE])
def test_values_that_follow_a_rename_into_a_file_written_before_get_their_turn(
    tmp_path: Path, values: int
) -> None:
    w, counts, clock = policy_writer(tmp_path, creates_per_second=1)
    other, _ = writer(tmp_path)
    clock.now += 1
    w.write("web7", "cpu", T0, Update("la.rrd", GAUGE, ("0",)))
    w.flush()
    clock.now += 3600 * 1.2 + 1
    w.sync()  # web7/la.rrd's turn comes and finds it written: it has none to come
    w.write("web6", "cpu", T0, Update("users.rrd", GAUGE, ("0",)))  # made: web6 is known
    for i in range(1, values + 1):  # wait for the ceiling
        w.write("web6", "cpu", T0 + 300 * i, Update("la.rrd", GAUGE, (str(i),)))
    other.rename_host("web6", "web7")
    clock.now += 1
    w.sync()  # la.rrd's turn to be made: web6 is gone, its values join web7's la.rrd
    # As any values: written at once when they are twelve, else in their turn.
    assert last(tmp_path / "rrd/web7/la.rrd")[0] == (
        T0 + 300 * values if values == CACHE_SIZE else T0
    )
    clock.now += 3600 * 1.2 + 1
    w.sync()
    assert last(tmp_path / "rrd/web7/la.rrd") == (T0 + 300 * values, {"la": float(values)})
    assert w.pending() == 0


def test_values_held_for_a_renamed_host_whose_new_name_has_that_file_with_other_ds_are_said_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, counts, clock = policy_writer(tmp_path, creates_per_second=1)
    clock.now += 1
    w.write("web7", "cpu", T0, Update("la.rrd", Schema.of("DS:other:GAUGE:600:U:U"), ("7",)))
    w.write("web6", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))  # waits for the ceiling
    w.rename_host("web6", "web7")
    w.close()
    assert counts[Event.VALUES_NOT_MOVED] == 1 and w.pending() == 0
    assert last(tmp_path / "rrd/web7/la.rrd") == (T0, {"other": 7.0})
    assert "1 values held for web6/la.rrd dropped: the files have other DS" in caplog.text


def test_values_that_cannot_follow_the_other_rrdds_rename_are_said_lost_and_stay_there(
    tmp_path: Path,
) -> None:
    w, counts, clock = policy_writer(tmp_path, creates_per_second=1)
    other, _ = writer(tmp_path)
    clock.now += 1
    w.write("web7", "cpu", T0, Update("la.rrd", Schema.of("DS:other:GAUGE:600:U:U"), ("7",)))
    clock.now += 1
    w.write("web6", "cpu", T0, Update("users.rrd", GAUGE, ("1",)))  # made: web6 is known
    w.write("web6", "cpu", T0, Update("la.rrd", GAUGE, ("2",)))  # waits for the ceiling
    other.rename_host("web6", "web7")
    clock.now += 1
    w.sync()  # la.rrd's turn: web6 is gone, and web7's la.rrd has other DS
    w.close()
    assert counts[Event.VALUES_NOT_MOVED] == 1
    assert sorted(os.listdir(tmp_path / "rrd")) == [".renamed", "web7"]  # web6 not made again
    assert last(tmp_path / "rrd/web7/la.rrd") == (T0, {"other": 7.0})
    assert last(tmp_path / "rrd/web7/users.rrd") == (T0, {"la": 1.0})


def test_a_long_shutdown_says_how_far_it_is_every_500_files(tmp_path: Path) -> None:
    ticks = itertools.count(0, 6)  # each look at the clock finds it six seconds later
    said: list[str] = []
    w, _ = writer(tmp_path, monotonic=lambda: float(next(ticks)), progress=said.append)
    for h in range(501):
        w.write(f"h{h}", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    w.close()
    assert said == ["Flushed 500 of 501 files", "Flushed 501 of 501 files"]
    assert last(tmp_path / "rrd/h500/la.rrd") == (T0, {"la": 1.0})


@pytest.mark.parametrize("ceiling", [0, 1], ids=["made-at-once", "waiting"])
def test_a_file_made_late_has_the_ds_list_of_its_first_value(tmp_path: Path, ceiling: int) -> None:
    # As test_changed_ds_list_writes_pending_values_first, for a file whose making waits:
    # its held rows follow the first DS list, so the file is made with that one.
    ab = Schema.of("DS:a:GAUGE:600:U:U", "DS:b:GAUGE:600:U:U")
    only_b = Schema.of("DS:b:GAUGE:600:U:U")
    w, counts, clock = policy_writer(tmp_path, creates_per_second=ceiling)
    w.write("h1", "t", T0, Update("t.rrd", ab, ("1", "2")))
    w.write("h1", "t", T0 + 300, Update("t.rrd", only_b, ("5",)))
    clock.now += 1
    w.sync()
    w.write("h1", "t", T0 + 600, Update("t.rrd", only_b, ("6",)))
    w.close()
    assert last(tmp_path / "rrd/h1/t.rrd") == (T0 + 600, {"a": None, "b": 6.0})
    assert counts[Event.UPDATES_REJECTED] == 0 and counts[Event.VALUES_WRITTEN] == 3


def test_a_file_waiting_to_be_made_takes_its_first_ds_list_again_after_another(
    tmp_path: Path,
) -> None:
    # Its order was the other list's: the first list's values must not be read through it.
    ab = Schema.of("DS:a:GAUGE:600:U:U", "DS:b:GAUGE:600:U:U")
    only_b = Schema.of("DS:b:GAUGE:600:U:U")
    w, counts, clock = policy_writer(tmp_path, creates_per_second=1)
    w.write("h1", "t", T0, Update("t.rrd", ab, ("1", "2")))  # waits for the ceiling
    w.write("h1", "t", T0 + 300, Update("t.rrd", only_b, ("5",)))
    w.write("h1", "t", T0 + 600, Update("t.rrd", ab, ("3", "4")))
    clock.now += 1
    w.sync()  # made
    w.flush()
    assert last(tmp_path / "rrd/h1/t.rrd") == (T0 + 600, {"a": 3.0, "b": 4.0})
    w.write("h1", "t", T0 + 900, Update("t.rrd", ab, ("7", "8")))
    w.close()
    assert last(tmp_path / "rrd/h1/t.rrd") == (T0 + 900, {"a": 7.0, "b": 8.0})
    assert counts[Event.UPDATES_REJECTED] == 0 and counts[Event.VALUES_WRITTEN] == 4


def test_a_file_a_flush_made_while_it_waited_for_the_ceiling_is_not_made_again(
    tmp_path: Path,
) -> None:
    w, counts, clock = policy_writer(tmp_path, creates_per_second=1)
    w.write("h1", "cpu", NOW + 300, Update("la.rrd", GAUGE, ("1",)))  # waits for the ceiling
    w.flush("h1")  # asked for: made and written now
    w.write("h1", "cpu", NOW + 600, Update("la.rrd", GAUGE, ("2",)))
    for _ in range(2):  # its turn to be made comes
        clock.now += 1
        w.sync()
    w.close()
    assert rows(tmp_path / "rrd/h1/la.rrd", 2) == [1.0, 2.0]
    assert counts[Event.RRD_CREATES] == 1


def test_a_file_made_again_with_another_ds_list_takes_the_values_that_follow(
    tmp_path: Path,
) -> None:
    ab = Schema.of("DS:a:GAUGE:600:U:U", "DS:b:GAUGE:600:U:U")
    only_b = Schema.of("DS:b:GAUGE:600:U:U")
    w, counts = writer(tmp_path, cache=False)
    w.write("h1", "t", T0, Update("t.rrd", ab, ("1", "2")))
    w.write("h1", "t", T0 + 300, Update("t.rrd", only_b, ("5",)))  # into a and b: U and 5
    (tmp_path / "rrd/h1/t.rrd").unlink()  # by someone: made again with the list of now
    for i in range(2, 5):
        w.write("h1", "t", T0 + 300 * i, Update("t.rrd", only_b, (str(i),)))
    w.close()
    assert last(tmp_path / "rrd/h1/t.rrd") == (T0 + 1200, {"b": 4.0})
    # Only the value that found the file missing, sent for a and b, is refused.
    assert counts[Event.UPDATES_REJECTED] == 1 and counts[Event.VALUES_WRITTEN] == 4
