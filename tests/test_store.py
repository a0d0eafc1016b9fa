"""The librrd store, and its own reading of RRD headers, against real files librrd makes.

The header reader (read_header, cut_short) reads librrd's file layout itself: its test
material is files made by librrd with one to 9999 DS and RRAs, of each version librrd
writes, and the same files cut short or damaged on disk at a known place.
"""

from __future__ import annotations

from pathlib import Path

import rrdtool

from rrdd.writer.store import Librrd

T0 = 1795312871
XYMON_RRAS = [f"RRA:AVERAGE:0.5:{steps}:576" for steps in (1, 6, 24, 288)]


def made(
    path: Path, ds: tuple[str, ...] = ("in", "out"), kind: str = "GAUGE", rras: int = 4
) -> str:
    """A file librrd makes as rrdd has it made: step 300, started 10 s before T0."""
    defs = [f"DS:{name}:{kind}:600:U:U" for name in ds]
    rrdtool.create(str(path), "-b", str(T0 - 10), "-s", "300", *defs, *XYMON_RRAS[:rras])
    return str(path)


def last(path: str) -> tuple[int, dict[str, object]]:
    info = rrdtool.lastupdate(path)
    return int(info["date"].timestamp()), info["ds"]


# --- writing ----------------------------------------------------------------------------


def test_rows_older_than_the_file_are_refused_and_the_newer_ones_written(
    tmp_path: Path,
) -> None:
    # Another writer (the other rrdd, an administrator's rrdtool update) wrote the file
    # at T0 + 600 after rrdd read its last update: librrd refuses the first row at once.
    path = made(tmp_path / "la.rrd", ("la",))
    rrdtool.update(path, f"{T0 + 600}:9")
    store = Librrd()
    store.send([(path, f"{T0 + 300}:1\n{T0 + 450}:2\n{T0 + 900}:3")])
    refused, again = store.answers()
    assert [(p, row) for p, row, _ in refused] == [(path, f"{T0 + 300}:1"), (path, f"{T0 + 450}:2")]
    assert [f"using time {T0 + 300} " in why for _, _, why in refused] == [True, False]
    assert again == [] and last(path) == (T0 + 900, {"la": 3.0})
