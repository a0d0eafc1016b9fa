"""The librrd store, and its own reading of RRD headers, against real files librrd makes.

The header reader (read_header, cut_short) reads librrd's file layout itself: its test
material is files made by librrd with one to 9999 DS and RRAs, of each version librrd
writes, and the same files cut short or damaged on disk at a known place.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
import rrdtool
from prometheus_client import CollectorRegistry

from rrdd.events import Counts
from rrdd.metrics import Metrics
from rrdd.startup import writer_gauges
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.writer.store import Librrd, StoreError, cut_short, read_header
from rrdd.xymoncfg import RraDefinitions

T0 = 1795312871
XYMON_RRAS = [f"RRA:AVERAGE:0.5:{steps}:576" for steps in (1, 6, 24, 288)]


def made(path: Path, ds: tuple[str, ...] = ("in", "out"), kind: str = "GAUGE") -> str:
    """A file librrd makes as rrdd has it made: step 300, started 10 s before T0."""
    defs = [f"DS:{name}:{kind}:600:U:U" for name in ds]
    rrdtool.create(str(path), "-b", str(T0 - 10), "-s", "300", *defs, *XYMON_RRAS)
    return str(path)


def damaged(path: str, at: int, data: bytes, to: Path) -> str:
    """A copy of the file with `data` written over its bytes from `at`."""
    content = bytearray(Path(path).read_bytes())
    content[at : at + len(data)] = data
    to.write_bytes(content)
    return str(to)


def cut(path: str, size: int, to: Path) -> str:
    """A copy of the file's first `size` bytes."""
    to.write_bytes(Path(path).read_bytes()[:size])
    return str(to)


# Where librrd keeps a header's fields on a 64-bit Linux (rrd_format.h): the stat_head is
# 128 bytes, a DS or RRA definition 120, and the live_head follows the definitions.
COOKIE, VERSION, FLOAT_COOKIE, DS_COUNT, RRA_COUNT = 0, 4, 16, 24, 32
FIRST_DS_NAME = 128  # 20 bytes, the name and its NUL


def live_head(ds: int, rras: int) -> int:
    return 128 + 120 * (ds + rras)


def count(n: int) -> bytes:
    return struct.pack("<Q", n)


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


def test_a_bad_value_is_refused_alone_wherever_it_is_in_the_batch(tmp_path: Path) -> None:
    path = made(tmp_path / "la.rrd", ("la",))
    store = Librrd()
    store.send([(path, f"{T0}:1\n{T0 + 300}:2\n{T0 + 600}:x\n{T0 + 900}:4\n{T0 + 1200}:y")])
    refused, again = store.answers()
    assert [row for _, row, _ in refused] == [f"{T0 + 600}:x", f"{T0 + 1200}:y"] and again == []
    assert all("Cannot convert" in why for _, _, why in refused)
    assert last(path) == (T0 + 900, {"la": 4.0})


def test_librrd_is_always_reachable_and_shows_no_rrdcached_gauge(tmp_path: Path) -> None:
    counts = Counts()
    writer = RrdWriter(tmp_path, RraDefinitions.load(None), counts)
    metrics = Metrics(counts, version="1", registry=CollectorRegistry())
    writer_gauges(metrics, writer, lambda: 0.0)
    assert metrics.registry.get_sample_value("rrdd_cache_files") == 0
    assert metrics.registry.get_sample_value("rrdd_rrdcached_connected") is None
    assert writer.store.connected  # the Store protocol's promise, for librrd always


# --- reading a file's last update and DS ----------------------------------------------


@pytest.mark.parametrize(("kind", "version"), [("GAUGE", b"0003"), ("DCOUNTER", b"0005")])
def test_the_last_update_and_ds_names_are_in_the_files_order(
    tmp_path: Path, kind: str, version: bytes
) -> None:
    # DS names of one to 19 characters, the longest librrd takes; a file of version 5
    # (librrd writes it for DCOUNTER and DDERIVE) is read by librrd, not from its header.
    names = ("out", "in", "nineteen_characters")
    path = made(tmp_path / "x.rrd", names, kind)
    rrdtool.update(path, f"{T0}:1:2:3")
    assert Path(path).read_bytes()[VERSION : VERSION + 4] == version
    assert Librrd().info(path) == (T0, names)
    if version == b"0003":
        assert read_header(path) == (T0, names)  # from the header alone


@pytest.mark.parametrize(
    ("at", "data", "librrd_says"),
    [
        (COOKIE, b"RRE\0", "is not an RRD file"),
        (COOKIE, b"RRC\0", "is not an RRD file"),
        (VERSION, b"0013", "can't handle RRD file version 0013"),
        (VERSION, b"0009", "can't handle RRD file version 0009"),
        (FLOAT_COOKIE, struct.pack("<d", 0.0), "created on another architecture"),
        (FLOAT_COOKIE, struct.pack("<d", 1e300), "created on another architecture"),
    ],
)
def test_a_file_damaged_in_its_header_is_refused_with_librrds_reason(
    tmp_path: Path, at: int, data: bytes, librrd_says: str
) -> None:
    path = made(tmp_path / "la.rrd")
    rrdtool.update(path, f"{T0}:1:2")
    broken = damaged(path, at, data, tmp_path / "broken.rrd")
    with pytest.raises(StoreError, match=librrd_says):
        Librrd().info(broken)
    assert Librrd().info(path) == (T0, ("in", "out"))


def test_a_ds_name_damaged_to_fill_its_20_bytes_is_read_as_librrd_reads_it(
    tmp_path: Path,
) -> None:
    path = made(tmp_path / "la.rrd")
    rrdtool.update(path, f"{T0}:1:2")
    broken = damaged(path, FIRST_DS_NAME, b"twenty_characters_in", tmp_path / "broken.rrd")
    assert read_header(broken) is None
    assert Librrd().info(broken) == (T0, ("twenty_characters_inGAUGE", "out"))  # and the type


def test_a_file_cut_short_in_its_header_is_refused_with_librrds_reason(tmp_path: Path) -> None:
    path = made(tmp_path / "la.rrd")
    for size in (100, 600, live_head(2, 4), live_head(2, 4) + 4):
        short = cut(path, size, tmp_path / f"{size}.rrd")
        assert read_header(short) is None
        with pytest.raises(StoreError, match="reached EOF while loading header"):
            Librrd().info(short)


@pytest.fixture(scope="module")
def widest(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Files of 9999 DS (one RRA of one row) and of 9999 RRAs (one DS)."""
    here = tmp_path_factory.mktemp("widest")
    many_ds, many_rras = str(here / "ds.rrd"), str(here / "rras.rrd")
    start = ("-b", str(T0 - 10), "-s", "300")
    rrdtool.create(
        many_ds, *start, *[f"DS:d{i}:GAUGE:600:U:U" for i in range(9999)], "RRA:AVERAGE:0.5:1:1"
    )
    rrdtool.create(many_rras, *start, "DS:d:GAUGE:600:U:U", *["RRA:AVERAGE:0.5:1:1"] * 9999)
    return many_ds, many_rras


def test_files_of_up_to_9999_ds_or_rras_are_read_from_their_header(
    widest: tuple[str, str],
) -> None:
    many_ds, many_rras = widest
    assert read_header(many_ds) == (T0 - 10, tuple(f"d{i}" for i in range(9999)))
    assert read_header(many_rras) == (T0 - 10, ("d",))
    assert not cut_short(many_ds) and not cut_short(many_rras)


@pytest.mark.parametrize("n", [0, 10000, 10001])
def test_a_header_counting_no_ds_or_rra_or_10000_is_taken_for_damage(
    tmp_path: Path, widest: tuple[str, str], n: int
) -> None:
    # Each file is long enough for what the damaged count would mean, so that the count
    # is what is refused: the one of 9999 RRAs gets a page more at its end, which librrd
    # takes (test_a_file_longer_than_its_header_says_is_whole).
    small = made(tmp_path / "la.rrd")
    many_ds, many_rras = widest
    longer = tmp_path / "longer.rrd"
    longer.write_bytes(Path(many_rras).read_bytes() + bytes(4096))
    for at, path in [
        (DS_COUNT, small if n == 0 else many_ds),
        (RRA_COUNT, small if n == 0 else str(longer)),
    ]:
        broken = damaged(path, at, count(n), tmp_path / "broken.rrd")
        assert read_header(broken) is None
        assert cut_short(broken)


# --- a new file cut short -------------------------------------------------------------


def version_1(path: str, to: Path) -> str:
    """The file as rrdtool 1.0 laid it out (version 0001): a live_head of the last update
    alone, without its microseconds."""
    data = Path(path).read_bytes()
    head = live_head(2, 4)
    to.write_bytes(data[:VERSION] + b"0001" + data[VERSION + 4 : head + 8] + data[head + 16 :])
    return str(to)


@pytest.mark.parametrize("layout", ["version 3", "version 5", "version 1", "40 DS"])
def test_a_file_a_byte_shorter_than_its_header_says_is_cut_short(
    tmp_path: Path, layout: str
) -> None:
    if layout == "version 1":
        path = version_1(made(tmp_path / "v3.rrd"), tmp_path / "x.rrd")
    elif layout == "40 DS":  # a header longer than the first read
        path = made(tmp_path / "x.rrd", tuple(f"d{i}" for i in range(40)))
    else:
        path = made(
            tmp_path / "x.rrd", ("in", "out"), "GAUGE" if layout == "version 3" else "DDERIVE"
        )
    short = cut(path, Path(path).stat().st_size - 1, tmp_path / "short.rrd")
    rrdtool.info(path)  # librrd agrees: the whole file is an RRD ...
    with pytest.raises(rrdtool.OperationalError, match="is too small"):
        rrdtool.info(short)  # ... and the other one byte short of one
    assert not cut_short(path)
    assert cut_short(short)


def test_a_file_cut_anywhere_in_its_header_is_cut_short(tmp_path: Path) -> None:
    path = made(tmp_path / "la.rrd")
    for size in (0, 4, 100, 128, 600, live_head(2, 4), live_head(2, 4) + 12, 5000):
        assert cut_short(cut(path, size, tmp_path / f"{size}.rrd")), size


@pytest.mark.parametrize("junk", [bytes(300), b"XYZ" + bytes(300), b"not an rrd\n"])
def test_a_file_that_is_no_rrd_is_cut_short(tmp_path: Path, junk: bytes) -> None:
    path = tmp_path / "la.rrd"
    path.write_bytes(junk)
    assert cut_short(str(path))


def test_a_file_longer_than_its_header_says_is_whole(tmp_path: Path) -> None:
    path = made(tmp_path / "la.rrd")
    longer = tmp_path / "longer.rrd"
    longer.write_bytes(Path(path).read_bytes() + b"\0")
    rrdtool.update(str(longer), f"{T0}:1:2")  # librrd takes it
    assert not cut_short(str(longer))


def test_a_file_of_a_version_this_does_not_read_is_left_to_librrd(tmp_path: Path) -> None:
    # Judged by the stat_head alone, which tells the version, however short the rest.
    other = damaged(made(tmp_path / "la.rrd"), VERSION, b"0009", tmp_path / "v9.rrd")
    assert not cut_short(other)
    assert not cut_short(cut(other, 128, tmp_path / "v9-head.rrd"))
    assert read_header(other) is None


# --- another machine --------------------------------------------------------------------

MACHINE = """
import struct
calcsize, pack = struct.calcsize, struct.pack
struct.calcsize = lambda fmt: {long} if fmt == "@L" else calcsize(fmt)
struct.pack = lambda fmt, *v: {one!r} if (fmt, v) == ("@H", (1,)) else pack(fmt, *v)
from rrdd.writer.store import Librrd, cut_short, read_header
print(read_header({path!r}), cut_short({short!r}), Librrd().info({path!r}))
"""


@pytest.mark.parametrize(
    ("long", "one"),
    [(4, b"\x01\x00"), (8, b"\x00\x01"), (4, b"\x00\x01")],
    ids=["32-bit", "big-endian", "32-bit big-endian"],
)
def test_where_librrd_lays_files_out_otherwise_it_reads_them_and_is_trusted(
    tmp_path: Path, long: int, one: bytes
) -> None:
    # rrdd started where a C long or the byte order is not the one the header reader
    # knows (struct answers as there; the file is this machine's, librrd reads it).
    path = made(tmp_path / "la.rrd")
    rrdtool.update(path, f"{T0}:1:2")
    short = cut(path, Path(path).stat().st_size - 1, tmp_path / "short.rrd")
    code = MACHINE.format(long=long, one=one, path=path, short=short)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout == f"None False ({T0}, ('in', 'out'))\n"
