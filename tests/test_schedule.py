"""When held values are written (schedule.py): the cache age and its random part, the
write ceiling, reloads, and the turns of the three policies. The writer's tests run on
real librrd files in a temporary directory under a fake clock; the turns a policy keeps
(`knows`) are checked on the writer's own records."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rrdd.daemon import cache_policy
from rrdd.events import Counts, Event
from rrdd.schema import Update
from rrdd.settings import load_settings
from rrdd.writer.creator import Creators
from rrdd.writer.schedule import AtOnce, ByAge, CachePolicy, EveryRead
from rrdd.writer.table import FileTable, RrdFile
from rrdd.xymoncfg import RraDefinitions
from tests.test_writer_direct import GAUGE, T0, Clock, last, policy_writer, writer

# --- the policy ----------------------------------------------------------------------


def test_a_policy_cannot_change_under_the_writer_only_a_reload_replaces_it() -> None:
    # The writer and its schedule hold the same policy: a change in place would reach
    # one of them behind the other's back.
    policy = CachePolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_age = 60  # type: ignore[misc]


def test_a_writer_without_a_policy_holds_values_as_rrdd_with_default_settings(
    tmp_path: Path,
) -> None:
    # The benches and tests that make a writer without a policy measure rrdd as it runs
    # with no settings given.
    assert CachePolicy() == cache_policy(load_settings({"rrddir": str(tmp_path)}, {}))
    assert CachePolicy().batch == 12  # rrdd.8, WRITING: "when it has 12 of them"
    assert CachePolicy().max_files == 1_000_000  # rrdd.8: "past a million files ..."


# --- ByAge: the cache age --------------------------------------------------------------


def test_files_come_due_between_cache_age_and_a_fifth_more_at_random(tmp_path: Path) -> None:
    w, _, clock = policy_writer(tmp_path, max_age=100)  # the default random part, 20 %
    hosts = 40
    for h in range(hosts):
        w.write(f"h{h}", "cpu", T0, Update("la.rrd", GAUGE, (str(h),)))
    clock.now += 99.99
    w.sync()
    assert w.pending() == hosts  # none before the cache age
    clock.now = 1102
    w.sync()
    # Due 100 to 120 s after their value, each at random: all 40 within the first 2 s
    # has a chance of 1e-40.
    assert w.pending() > 0
    clock.now = 1110
    w.sync()
    assert 0 < w.pending() < hosts  # half of them, give or take: never all or none
    clock.now = 1120
    w.sync()
    assert w.pending() == 0
    assert last(tmp_path / "rrd/h39/la.rrd") == (T0, {"la": 39.0})


def test_a_file_is_due_when_its_oldest_value_is_too_old_and_a_younger_one_waits(
    tmp_path: Path,
) -> None:
    w, _, clock = policy_writer(tmp_path, max_age=600, jitter=0)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    clock.now += 300
    w.write("h1", "cpu", T0 + 300, Update("la.rrd", GAUGE, ("2",)))
    w.write("h2", "cpu", T0 + 300, Update("la.rrd", GAUGE, ("3",)))
    clock.now += 300
    w.sync()
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0 + 300, {"la": 2.0})
    assert w.pending() == 1  # h2's value, 300 s old
    clock.now += 300
    w.sync()
    assert w.pending() == 0
    assert last(tmp_path / "rrd/h2/la.rrd") == (T0 + 300, {"la": 3.0})


def test_a_file_written_before_its_turn_starts_a_new_one_with_its_next_value(
    tmp_path: Path,
) -> None:
    w, _, clock = policy_writer(tmp_path, max_age=600, jitter=0)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    clock.now += 100
    w.flush("h1")
    clock.now += 100
    w.write("h1", "cpu", T0 + 300, Update("la.rrd", GAUGE, ("2",)))
    clock.now += 400  # the first value's turn: the second has waited 400 s only
    w.sync()
    assert w.pending() == 1 and last(tmp_path / "rrd/h1/la.rrd")[0] == T0
    clock.now += 200
    w.sync()
    assert w.pending() == 0 and last(tmp_path / "rrd/h1/la.rrd") == (T0 + 300, {"la": 2.0})


# --- ByAge: full files -------------------------------------------------------------------


def test_a_file_made_with_a_full_batch_waiting_is_written_as_it_is_made(tmp_path: Path) -> None:
    # Its values came while a create worker made it: once made, a file with 12 values
    # (or more) is written at once, as one that got its 12th value would be.
    w, counts = writer(tmp_path, creators=Creators(1))
    for host, values in (("h1", 12), ("h2", 13)):
        for i in range(values):
            w.write(host, "cpu", T0 + 300 * i, Update("la.rrd", GAUGE, (str(i),)))
    assert w.pending() == 25
    w.take_made(wait=True)
    assert w.pending() == 0 and counts[Event.RRD_WRITES] == 2
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0 + 300 * 11, {"la": 11.0})
    assert last(tmp_path / "rrd/h2/la.rrd") == (T0 + 300 * 12, {"la": 12.0})
    w.close()


def test_a_file_is_written_when_it_has_a_batch_however_large(tmp_path: Path) -> None:
    w, counts = writer(tmp_path, policy=CachePolicy(batch=300))
    for i in range(299):
        w.write("h1", "cpu", T0 + 300 * i, Update("la.rrd", GAUGE, (str(i),)))
    assert w.pending() == 299 and counts[Event.RRD_WRITES] == 0
    w.write("h1", "cpu", T0 + 300 * 299, Update("la.rrd", GAUGE, ("299",)))
    assert w.pending() == 0 and counts[Event.VALUES_WRITTEN] == 300
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0 + 300 * 299, {"la": 299.0})


# --- ByAge: the write ceiling --------------------------------------------------------------


def test_a_ceiling_under_one_a_second_saves_up_one_write_at_most(tmp_path: Path) -> None:
    w, counts, clock = policy_writer(tmp_path, batch=1, writes_per_second=0.5)
    for h in range(3):
        w.write(f"h{h}", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    clock.now += 100  # idle long enough to save up 50 writes, were there no cap
    w.sync()
    assert counts[Event.RRD_WRITES] == 1
    clock.now += 2
    w.sync()
    assert counts[Event.RRD_WRITES] == 2


def test_a_full_file_waiting_for_the_ceiling_takes_one_write_however_many_values_come(
    tmp_path: Path,
) -> None:
    w, counts, clock = policy_writer(tmp_path, batch=2, writes_per_second=2)
    for i in range(4):  # full at the second value; two more while it waits
        w.write("h0", "cpu", T0 + 300 * i, Update("la.rrd", GAUGE, (str(i),)))
    for i in range(2):
        w.write("h1", "cpu", T0 + 300 * i, Update("la.rrd", GAUGE, (str(i),)))
    assert counts[Event.RRD_WRITES] == 0
    clock.now += 1
    w.sync()
    assert counts[Event.RRD_WRITES] == 2 and w.pending() == 0
    assert last(tmp_path / "rrd/h0/la.rrd") == (T0 + 900, {"la": 3.0})


def test_a_file_written_while_it_waits_for_the_ceiling_takes_none_of_its_writes(
    tmp_path: Path,
) -> None:
    w, counts, clock = policy_writer(tmp_path, batch=1, writes_per_second=1)
    for h in range(3):  # each full at once: all three wait for the ceiling, h0 first
        w.write(f"h{h}", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    w.flush("h0")  # written now, past the ceiling
    assert counts[Event.RRD_WRITES] == 1
    clock.now += 1  # one write of the ceiling: h1's, not spent on h0's old place
    w.sync()
    assert counts[Event.RRD_WRITES] == 2
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0, {"la": 1.0})


def test_under_the_ceiling_files_are_written_in_the_order_their_turns_came(
    tmp_path: Path,
) -> None:
    w, counts, clock = policy_writer(
        tmp_path, max_age=10, jitter=0, writes_per_second=1, creates_per_second=1
    )
    clock.now += 1
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))  # made: due in 10 s
    w.write("h2", "cpu", T0, Update("la.rrd", GAUGE, ("2",)))  # waits for the create ceiling
    assert counts[Event.CREATES_DEFERRED] == 1
    clock.now += 10.5  # h1 was due half a second ago; h2 is made now, due at once
    w.sync()
    assert counts[Event.RRD_CREATES] == 2 and counts[Event.RRD_WRITES] == 1
    assert last(tmp_path / "rrd/h1/la.rrd") == (T0, {"la": 1.0})
    clock.now += 1
    w.sync()
    assert last(tmp_path / "rrd/h2/la.rrd") == (T0, {"la": 2.0})


# --- ByAge: reloads ------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "after"), [(1, 4), (4, 1)], ids=["raised", "lowered"])
def test_a_reload_applies_a_changed_write_ceiling_at_once(
    tmp_path: Path, before: int, after: int
) -> None:
    w, counts, clock = policy_writer(tmp_path, batch=1, writes_per_second=before)
    w.reconfigure(RraDefinitions.load(None), CachePolicy(batch=1, writes_per_second=after))
    for h in range(4):
        w.write(f"h{h}", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    clock.now += 1
    w.sync()
    assert counts[Event.RRD_WRITES] == after


def test_a_reload_that_keeps_the_write_ceiling_keeps_its_saved_writes(tmp_path: Path) -> None:
    w, counts, clock = policy_writer(tmp_path, batch=1, writes_per_second=2.0)
    clock.now += 1  # two writes saved up
    policy = CachePolicy(batch=1, writes_per_second=float("2"))  # read anew, the same
    w.reconfigure(RraDefinitions.load(None), policy)
    for h in range(2):
        w.write(f"h{h}", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))
    w.sync()
    assert counts[Event.RRD_WRITES] == 2


def test_a_file_given_a_shorter_turn_by_a_reload_takes_one_write_of_the_ceiling(
    tmp_path: Path,
) -> None:
    w, counts, clock = policy_writer(tmp_path, max_age=600, jitter=0, writes_per_second=2)
    w.write("h1", "cpu", T0, Update("la.rrd", GAUGE, ("1",)))  # both due at 1600
    w.write("h2", "cpu", T0, Update("la.rrd", GAUGE, ("2",)))
    clock.now += 1
    w.flush("h1")
    policy = CachePolicy(max_age=100, jitter=0, writes_per_second=2)
    w.reconfigure(RraDefinitions.load(None), policy)
    clock.now += 1
    w.write("h1", "cpu", T0 + 300, Update("la.rrd", GAUGE, ("3",)))  # due at 1102
    clock.now = 1600  # h1's old turn is over: the ceiling's two writes go to h1 and h2
    w.sync()
    assert w.pending() == 0 and counts[Event.RRD_WRITES] == 3
    assert last(tmp_path / "rrd/h2/la.rrd") == (T0, {"la": 2.0})


# --- the turns each policy keeps (knows: the writer's invariant) ------------------------


def records(tmp_path: Path, *hosts: str) -> tuple[FileTable, list[RrdFile]]:
    table = FileTable(str(tmp_path), 100, Counts())
    files = [RrdFile(h, "la.rrd", table.path(h, "la.rrd"), "cpu", GAUGE, 300) for h in hosts]
    for f in files:
        table.add(f)
    return table, files


def test_a_file_given_a_turn_twice_at_one_instant_takes_one_write_of_the_ceiling(
    tmp_path: Path,
) -> None:
    # A rename gives the file its values join a turn again (RrdWriter.move), here due
    # when its own was: the file is written once, and the ceiling's second write is g's.
    clock = Clock()
    schedule = ByAge(CachePolicy(max_age=600, jitter=0, writes_per_second=2), clock)
    table, (f, g) = records(tmp_path, "h1", "h2")
    table.append(f, f"{T0}:1")
    schedule.added(f)
    table.append(f, f"{T0 + 300}:2")
    schedule.held(f)
    table.append(g, f"{T0}:3")
    schedule.added(g)
    clock.now += 600
    assert schedule.due() == [f, g]


def test_a_file_handed_out_full_has_no_turn_until_it_is_given_back(tmp_path: Path) -> None:
    clock = Clock()
    schedule = ByAge(CachePolicy(batch=1, writes_per_second=1), clock)
    table, (f, g) = records(tmp_path, "h1", "h2")
    for x in (f, g):
        table.append(x, f"{T0}:1")
        assert not schedule.added(x)  # full, but behind the ceiling
    assert schedule.knows(f) and schedule.knows(g)
    clock.now += 1
    assert schedule.due() == [f]
    # Not written (the store is away): until it is given back, f has no turn.
    assert not schedule.knows(f) and schedule.knows(g)
    schedule.again([f])
    assert schedule.knows(f)


def test_a_file_whose_turn_came_has_none_left_in_an_older_longer_one(tmp_path: Path) -> None:
    clock = Clock()
    schedule = ByAge(CachePolicy(max_age=600, jitter=0), clock)
    table, (f,) = records(tmp_path, "h1")
    table.append(f, f"{T0}:1")
    schedule.added(f)  # due at 1600
    clock.now += 50
    table.take(f)  # a flush wrote it
    schedule.reconfigure(CachePolicy(max_age=100, jitter=0))
    clock.now += 10
    table.append(f, f"{T0 + 300}:2")
    schedule.added(f)  # due at 1160
    clock.now += 100
    assert schedule.due() == [f]
    assert not schedule.knows(f)  # the turn due at 1600 is no longer its own
    schedule.again([f])
    assert schedule.knows(f)


def test_without_a_cache_no_file_waits_for_a_turn(tmp_path: Path) -> None:
    # A file whose write failed keeps its values for its next value or a flush.
    schedule = AtOnce()
    table, (f,) = records(tmp_path, "h1")
    table.append(f, f"{T0}:1")
    assert schedule.added(f) and schedule.held(f)
    schedule.again([f])
    assert schedule.due() == [] and schedule.everything() == []
    assert not schedule.knows(f)


def test_with_rrdcached_each_file_with_values_goes_once_in_the_next_batch(
    tmp_path: Path,
) -> None:
    schedule = EveryRead()
    table, (f, g, h) = records(tmp_path, "h1", "h2", "h3")
    for i in range(3):
        table.append(f, f"{T0 + 300 * i}:{i}")
        assert not schedule.added(f)  # never at once: one BATCH a read
    assert schedule.knows(f) and not schedule.knows(g)
    table.append(g, f"{T0}:1")
    assert not schedule.held(g)  # made late: with the others
    assert schedule.knows(g)
    assert schedule.due() == [f, g]
    assert not schedule.knows(f)
    table.take(f)  # sent; g's batch got no answer, so its values are still here
    table.append(h, f"{T0}:1")
    schedule.added(h)
    table.append(f, f"{T0 + 900}:3")
    schedule.added(f)
    schedule.again([g])  # g goes first, and the files with new values keep their turn
    assert schedule.due() == [g, h, f]
