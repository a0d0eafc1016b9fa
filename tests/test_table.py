"""The file table (table.py): where a file's record is found, how it moves to another
name and is let go, the bound on how many are kept, what a record costs, and the
invariants `check` guards. The table on records a test gives it, and the writer over
it on real librrd files in a temporary directory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from rrdd.events import Counts, Event
from rrdd.schema import Schema, Update
from rrdd.writer.table import FileTable, RrdFile
from tests.test_writer_direct import GAUGE, T0, last, policy_writer, writer

RRDDIR = "/var/lib/xymon/rrd"


def record(table: FileTable, host: str, name: str, ds: str = "v") -> RrdFile:
    """The record of a made file with the DS named in `ds`, added to the table."""
    names = tuple(ds.split())  # a tuple of its own, as the DS read from a file are
    schema = Schema.of(*(f"DS:{n}:GAUGE:600:U:U" for n in names))
    f = RrdFile(host, name, table.path(host, name), "t", schema, 300, ds=names)
    table.add(f)
    return f


# --- moving a record's values --------------------------------------------------------------


def test_a_record_moved_to_a_free_name_is_found_there_and_no_longer_under_the_old() -> None:
    table = FileTable(RRDDIR, 100, Counts())
    f, other = record(table, "old", "la.rrd"), record(table, "old", "cpu.rrd")
    table.append(f, f"{T0}:1")
    assert table.move(f, "new", "la.rrd") is f
    assert table.get("old", "la.rrd") is None and table.get("new", "la.rrd") is f
    assert (f.host, f.path, f.pending) == ("new", f"{RRDDIR}/new/la.rrd", f"{T0}:1")
    assert table.holds(other) and (table.size, table.pending) == (2, 1)
    table.check()
    table.move(other, "new", "cpu.rrd")  # the last of its host's
    assert table.of_host("old") == [] and table.size == 2
    table.check()


def test_values_moved_into_a_held_file_join_its_own_in_time_order() -> None:
    table = FileTable(RRDDIR, 100, Counts())
    into, f = record(table, "new", "la.rrd"), record(table, "old", "la.rrd")
    for t, v in ((0, 9), (600, 1)):  # values in another order than their times
        table.append(into, f"{T0 + t}:{v}")
    for t, v in ((300, 5), (900, 0), (1200, 7)):
        table.append(f, f"{T0 + t}:{v}")
    into.last, f.last = T0 + 600, T0 + 1200
    assert table.move(f, "new", "la.rrd") is into
    rows = [f"{T0}:9", f"{T0 + 300}:5", f"{T0 + 600}:1", f"{T0 + 900}:0", f"{T0 + 1200}:7"]
    assert into.pending.split("\n") == rows
    assert (into.count, into.last) == (5, T0 + 1200)
    assert (f.pending, f.count) == ("", 0)  # the old record holds nothing now
    assert table.get("old", "la.rrd") is None and (table.size, table.pending) == (1, 5)
    table.check()
    table.remove(f)  # letting go of the old record lets go of none of the values it gave
    assert table.holds(into) and table.pending == 5
    table.check()


@pytest.mark.parametrize(("into_ds", "ds"), [("a b", "a"), ("a", "b")], ids=["more", "other"])
def test_values_are_not_moved_into_a_file_with_other_ds(into_ds: str, ds: str) -> None:
    table = FileTable(RRDDIR, 100, Counts())
    into, f = record(table, "new", "x.rrd", into_ds), record(table, "old", "x.rrd", ds)
    table.append(into, f"{T0}:1")
    table.append(f, f"{T0 + 300}:2")
    with pytest.raises(ValueError, match="^new/x.rrd has other DS than old/x.rrd$"):
        table.move(f, "new", "x.rrd")
    assert table.get("old", "x.rrd") is f and f.pending == f"{T0 + 300}:2"
    assert table.get("new", "x.rrd") is into and into.pending == f"{T0}:1"
    table.check()


def test_a_record_let_go_since_moves_without_its_files_new_record() -> None:
    table = FileTable(RRDDIR, 100, Counts())
    stale = record(table, "h1", "la.rrd")
    table.remove(stale)
    new = record(table, "h1", "la.rrd")  # the file's record now, read again when updated
    table.append(new, f"{T0}:1")
    table.move(stale, "h2", "la.rrd")
    assert table.get("h1", "la.rrd") is new and new.pending == f"{T0}:1"
    table.check()


def test_letting_go_of_a_record_twice_or_after_its_host_leaves_the_others() -> None:
    table = FileTable(RRDDIR, 100, Counts())
    old = record(table, "h1", "la.rrd")
    table.remove(old)
    new = record(table, "h1", "la.rrd")
    table.append(new, f"{T0}:1")
    table.remove(old)
    assert table.holds(new) and (table.size, table.pending) == (1, 1)
    dropped = record(table, "h2", "la.rrd")
    assert table.remove_host("h2") == 0
    table.remove(dropped)
    assert table.holds(new) and (table.size, table.pending) == (1, 1)
    table.check()


# --- the invariants ------------------------------------------------------------------------


Breakage = Callable[[FileTable, RrdFile], None]  # puts the table out of order


def _size(by: int) -> Breakage:
    def breaks(t: FileTable, f: RrdFile) -> None:
        t.size += by

    return breaks


def _name(name: str) -> Breakage:
    def breaks(t: FileTable, f: RrdFile) -> None:
        f.name = name  # under b.rrd, with b.rrd's path still

    return breaks


def _path(name: str) -> Breakage:
    def breaks(t: FileTable, f: RrdFile) -> None:
        f.path = t.path("h1", name)

    return breaks


def _count(by: int) -> Breakage:
    def breaks(t: FileTable, f: RrdFile) -> None:
        f.count += by
        t.pending += by  # the sum still right: only the record's count is wrong

    return breaks


def _pending(by: int) -> Breakage:
    def breaks(t: FileTable, f: RrdFile) -> None:
        t.pending += by

    return breaks


def _empty_host(t: FileTable, f: RrdFile) -> None:
    t.hosts["h3"] = {}


BREAKAGES = {
    "size-over": _size(1),
    "size-under": _size(-1),
    "name-before": _name("a.rrd"),
    "name-after": _name("c.rrd"),
    "path-before": _path("a.rrd"),
    "path-after": _path("c.rrd"),
    "count-over": _count(1),
    "count-under": _count(-1),
    "pending-over": _pending(1),
    "pending-under": _pending(-1),
    "empty-host": _empty_host,
}


@pytest.mark.parametrize("breaks", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_check_finds_each_broken_invariant(breaks: Breakage) -> None:
    table = FileTable(RRDDIR, 100, Counts())
    f = record(table, "h1", "b.rrd")
    record(table, "h2", "b.rrd")
    table.append(f, f"{T0}:1")
    table.append(f, f"{T0 + 300}:2")
    table.check()
    breaks(table, f)
    with pytest.raises(AssertionError):
        table.check()


def test_check_holds_over_hundreds_of_records_and_values() -> None:
    table = FileTable(RRDDIR, 1000, Counts())
    files = [record(table, f"h{i % 7}", f"f{i}.rrd") for i in range(300)]
    for t in range(300):
        table.append(files[0], f"{T0 + 300 * t}:{t}")
    table.check()
    rows = files[0].pending
    assert table.take(files[0]) == 300 and table.pending == 0
    table.put_back(files[1], rows)
    assert (files[1].count, table.pending) == (300, 300)
    table.check()


# --- what the writer makes of it, on real files ---------------------------------------------


def test_an_update_lacking_a_ds_of_the_file_leaves_it_unknown(tmp_path: Path) -> None:
    ab = Schema.of("DS:a:GAUGE:600:U:U", "DS:b:GAUGE:600:U:U")
    w, counts = writer(tmp_path)
    w.write("h1", "t", T0, Update("t.rrd", ab, ("1", "2")))
    w.write("h1", "t", T0 + 300, Update("t.rrd", Schema.of("DS:a:GAUGE:600:U:U"), ("3",)))
    w.close()
    assert last(tmp_path / "rrd/h1/t.rrd") == (T0 + 300, {"a": 3.0, "b": None})
    assert counts[Event.UPDATES_REJECTED] == 0 and counts[Event.DS_MISMATCHES] == 0


def test_a_value_of_a_ds_the_file_lacks_goes_to_no_other(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bc = Schema.of("DS:b:GAUGE:600:U:U", "DS:c:GAUGE:600:U:U")
    ac = Schema.of("DS:a:GAUGE:600:U:U", "DS:c:GAUGE:600:U:U")
    w, counts = writer(tmp_path)
    w.write("h1", "t", T0, Update("t.rrd", bc, ("1", "2")))
    with caplog.at_level(logging.WARNING):
        w.write("h1", "t", T0 + 300, Update("t.rrd", ac, ("30", "40")))
    w.close()
    assert last(tmp_path / "rrd/h1/t.rrd") == (T0 + 300, {"b": None, "c": 40.0})
    assert "the file has no DS a, so those values are dropped (it has: b, c)" in caplog.text
    assert counts[Event.DS_MISMATCHES] == 1 and counts[Event.UPDATES_REJECTED] == 0


def test_over_max_files_the_idle_records_are_forgotten_and_those_holding_values_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w, counts, _ = policy_writer(tmp_path, max_files=2)

    def put(host: str, stamp: int = T0) -> None:
        w.write(host, "cpu", stamp, Update("la.rrd", GAUGE, ("1",)))

    def hosts() -> list[str]:
        return sorted(f.host for f in w.table)

    with caplog.at_level(logging.INFO, logger="rrdd"):
        put("h1")
        put("h2")
        assert counts[Event.FILE_RECORDS_DROPPED] == 0 and hosts() == ["h1", "h2"]
        w.flush("h1")  # written: its record is idle; h2's value is still held
        put("h3")
        assert counts[Event.FILE_RECORDS_DROPPED] == 1 and hosts() == ["h2", "h3"]
        assert "Over 2 files tracked: idle ones forgotten, 1 remain" in caplog.text
        put("h4")  # none idle: none goes, and the table holds one more than the bound
        assert counts[Event.FILE_RECORDS_DROPPED] == 2 and hosts() == ["h2", "h3", "h4"]
        w.flush()
        put("h5")  # still over the bound: the idle ones go
        assert counts[Event.FILE_RECORDS_DROPPED] == 3 and hosts() == ["h5"]
        assert "Over 2 files tracked: idle ones forgotten, 0 remain" in caplog.text
    put("h1")  # forgotten, so read again from its file, which has this time already
    assert counts[Event.UPDATES_DROPPED_OLD] == 1
    put("h1", T0 + 300)
    w.close()
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0 + 300, {"la": 1.0})


def test_a_record_has_no_dictionary_of_attributes() -> None:
    """max_files allows a million records: a record is its fields' slots, with no
    dictionary of attributes beside them (a few hundred bytes more each)."""
    f = RrdFile("h1", "la.rrd", f"{RRDDIR}/h1/la.rrd", "cpu", GAUGE, 300)
    assert not hasattr(f, "__dict__")
    with pytest.raises(AttributeError):
        f.spare = 1  # type: ignore[attr-defined]
