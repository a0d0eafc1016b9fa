"""Making new files (making.py): the start and step they get, the ceiling, the create
workers, and a new file that is no whole RRD, with real librrd files in temp dirs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import rrdtool

from rrdd.events import Event
from rrdd.schema import Update
from rrdd.writer.creator import Creators
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.writer.schedule import CachePolicy
from rrdd.writer.store import cut_short
from tests.helpers import wait_until
from tests.test_disk import GAUGE, NOW, Clock
from tests.test_disk import writer as disk_writer


def writer(rrddir: Path, clock: Clock, **kw: object) -> RrdWriter:
    rrddir.mkdir(exist_ok=True)
    return disk_writer(rrddir, clock, **kw)


def last(path: Path) -> tuple[int, dict[str, object]]:
    info = rrdtool.lastupdate(str(path))
    return int(info["date"].timestamp()), info["ds"]


def test_a_replayed_backlog_waiting_for_the_ceiling_keeps_its_first_value(
    tmp_path: Path,
) -> None:
    clock = Clock()
    w = writer(tmp_path / "rrd", clock, policy=CachePolicy(creates_per_second=1))
    old = NOW - 86400  # a backlog: older than the clock
    clock.now += 1
    for i in range(2):  # the second file waits for the ceiling
        w.write("h1", "t", old, Update(f"v{i}.rrd", GAUGE, (str(i),)))
    assert w.counts[Event.CREATES_DEFERRED] == 1
    clock.now += 1
    w.sync()
    w.close()
    assert last(tmp_path / "rrd/h1/v1.rrd") == (old, {"v": 1.0})
    assert w.counts[Event.VALUES_WRITTEN] == 2


def test_a_file_gets_the_step_of_its_update(tmp_path: Path) -> None:
    w = writer(tmp_path / "rrd", Clock())
    w.write("h1", "t", NOW + 60, Update("v.rrd", GAUGE, ("1",), step=60))
    w.close()
    info = rrdtool.info(str(tmp_path / "rrd/h1/v.rrd"))
    assert info["step"] == 60 and info["last_update"] == NOW + 60


def test_a_host_dropped_while_its_file_is_made_holds_up_no_other(tmp_path: Path) -> None:
    w = writer(tmp_path / "rrd", Clock(), creators=Creators(1))
    for h in range(4):
        w.write(f"h{h}", "t", NOW + 300, Update("v.rrd", GAUGE, (str(h),)))
    w.drop_host("h0")  # the first one the worker makes
    w.close()
    assert [last(tmp_path / f"rrd/h{h}/v.rrd") for h in (1, 2, 3)] == [
        (NOW + 300, {"v": float(h)}) for h in (1, 2, 3)
    ]
    assert w.counts[Event.VALUES_WRITTEN] == 3


def test_a_made_file_that_cannot_be_read_is_said_and_the_writer_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = writer(tmp_path / "rrd", Clock(), creators=Creators(1))
    path = tmp_path / "rrd/h1/v.rrd"
    w.write("h1", "t", NOW + 300, Update("v.rrd", GAUGE, ("1",)))
    wait_until(lambda: path.exists() and not cut_short(str(path)))
    path.unlink()
    path.mkdir()  # someone's doing, before rrdd looked at the new file
    with caplog.at_level(logging.INFO, logger="rrdd"):
        w.sync()
        wait_until(lambda: w.sync() or w.counts[Event.VALUES_NOT_CREATED] == 1)
        w.close()
    assert f"cannot create {path}, 1 values lost: the new file cannot be read: " in caplog.text
    assert os.path.isdir(path)
