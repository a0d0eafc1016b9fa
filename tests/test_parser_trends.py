"""trends through the real writer: what the golden cases cannot show.

The golden runner's MemoryWriter keeps every update; these tests check what reaches
disk: names with "/" are refused, trimmed values are accepted by librrd, and a file
repeated within one message keeps its first values (as in xymond).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import rrdtool

from rrdd.channel import ChannelParser, Message
from rrdd.context import Context
from rrdd.dispatch import Dispatcher, Routes
from rrdd.events import Counts, Event
from rrdd.parsers import load_builtins
from rrdd.parsers.trends import parse
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.xymoncfg import RraDefinitions

DATA = Path(__file__).parent / "data" / "trends"


def replay(case: str, rrddir: Path) -> Counter[str]:
    counts = Counts()
    writer = RrdWriter(rrddir, RraDefinitions.load(None), counts, clock=lambda: 1795312800.0)
    dispatcher = Dispatcher(Routes(""), load_builtins(), Context(), writer, counts)
    for item in ChannelParser(counts=counts).feed((DATA / f"{case}.msg").read_bytes()):
        assert isinstance(item, Message)
        dispatcher.handle(item)
    writer.close()
    return counts


def test_names_with_slash_are_refused(tmp_path: Path) -> None:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    counts = replay("slash-in-name", rrddir)
    assert counts[Event.UPDATES_REFUSED] == 2
    assert sorted(p.name for p in (rrddir / "wx01.example.com").iterdir()) == ["cellar.rrd"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rrd"]


def test_trimmed_values_are_stored(tmp_path: Path) -> None:
    counts = replay("trailing-blanks", tmp_path)
    assert not counts[Event.UPDATES_REJECTED]
    last = rrdtool.lastupdate(str(tmp_path / "wx01.example.com" / "weather.rrd"))
    assert last["ds"] == {"temp": 21.0, "wind": 8.0, "gust": None, "uv": 3.0}


def test_repeated_file_keeps_the_first_values(tmp_path: Path) -> None:
    counts = replay("repeated-file", tmp_path)
    assert counts[Event.UPDATES_DROPPED_OLD] == 1
    last = rrdtool.lastupdate(str(tmp_path / "wx01.example.com" / "weather.rrd"))
    assert last["ds"] == {"temp": 21.0}


def test_no_state_leaks_between_messages() -> None:
    def msg(body: str) -> Message:
        return Message("data", 1, 1795312800, "", "h", "trends", "", "", "", "", body)

    first = list(parse(msg("data h.trends\n[a.rrd]\nDS:x:GAUGE:600:0:U 1"), Context()))
    assert [u.rrd for u in first] == ["a.rrd"]
    assert list(parse(msg("data h.trends\nDS:x:GAUGE:600:0:U 2"), Context())) == []
    assert list(parse(msg("data h.trends"), Context())) == []
