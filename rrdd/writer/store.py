"""Where RRD files are kept: librrd directly, or an rrdcached daemon (writer/rrdcached.py).

The writer decides what to write and when; a store only creates, reads and writes.
Rows are ``<ts>:<v1>:<v2>...`` in the file's own DS order. A file's rows travel as one
string, a row per line, as the writer's cache holds them: the rrdcached store makes its
UPDATE lines from that string without taking it apart.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Sequence
from typing import Protocol

import rrdtool

RRD_ERRORS = (rrdtool.OperationalError, rrdtool.ProgrammingError)


class StoreError(Exception):
    """One file could not be created or read."""


class Refused(StoreError):
    """The writer does not give librrd an argument it must not get (unfit_for_librrd)."""


class StoreUnavailable(Exception):
    """The store cannot be reached at all (rrdcached is down); nothing was written."""


Rows = tuple[str, str]  # a file's path and its rows in order, one per line
Rejection = tuple[str, str, str]  # (path, row, the reason librrd or rrdcached gives)


class Store(Protocol):
    batched: bool  # True: every value goes out at the end of each read (rrdcached)
    daemon: bool  # True: a daemon holds the values (rrdcached), whose connection may be lost
    files_here: bool  # True: the RRD files are in this machine's RRD directory

    @property
    def connected(self) -> bool:
        """Whether the store can be reached now (librrd always can)."""

    def create(self, path: str, args: Sequence[str]) -> None: ...

    def info(self, path: str) -> tuple[int, tuple[str, ...]]:
        """The last update time and the DS names of an existing file."""

    def send(self, batch: Sequence[Rows]) -> None:
        """Apply the rows of each file in order, now or as soon as the store can.

        Raises StoreUnavailable when nothing could be sent."""

    def answers(self) -> tuple[list[Rejection], list[Rows]]:
        """The rows refused since the last call, and the rows to send again: sent, but
        the connection was lost before the store said what became of them."""

    def unmade(self) -> list[tuple[str, str]]:
        """The files asked for whose making failed since the last call, and why (a
        store that makes files later, with their first values)."""

    def flush(self, paths: Sequence[str]) -> None: ...

    def forget(self, paths: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class Librrd:
    """Files written in this process through the rrdtool binding."""

    batched = False
    daemon = False
    connected = True
    files_here = True

    def __init__(self) -> None:
        self._refused: list[Rejection] = []

    def create(self, path: str, args: Sequence[str]) -> None:
        try:
            rrdtool.create(path, *args)
        except RRD_ERRORS as e:
            raise StoreError(str(e)) from None

    def info(self, path: str) -> tuple[int, tuple[str, ...]]:
        """Raises FileNotFoundError when there is no file, StoreError when it is no RRD."""
        header = read_header(path)
        if header is not None:
            return header
        try:
            info = rrdtool.info(path)
        except RRD_ERRORS as e:
            raise StoreError(str(e)) from None
        index = {
            k[3:-7]: v for k, v in info.items() if k.startswith("ds[") and k.endswith("].index")
        }
        return int(info["last_update"]), tuple(sorted(index, key=index.__getitem__))

    def send(self, batch: Sequence[Rows]) -> None:
        for path, lines in batch:
            rows = lines.split("\n")
            done = 0
            while done < len(rows):
                try:
                    rrdtool.update(path, *rows[done:])
                    break
                except RRD_ERRORS as e:
                    # librrd applies a batch in order and stops at the first bad row;
                    # a file it cannot open (read-only, gone) takes none of them.
                    opened = not str(e).startswith("opening '")
                    bad = self._first_unapplied(path, rows, done, str(e)) if opened else None
                    if bad is None:
                        self._refused += [(path, row, str(e)) for row in rows[done:]]
                        break
                    self._refused.append((path, rows[bad], str(e)))
                    done = bad + 1
            with_mtime(path)

    def answers(self) -> tuple[list[Rejection], list[Rows]]:
        refused, self._refused = self._refused, []
        return refused, []

    def unmade(self) -> list[tuple[str, str]]:
        return []

    def _first_unapplied(
        self, path: str, rows: Sequence[str], start: int, reason: str
    ) -> int | None:
        """The row librrd stopped at, those before it applied; None when it cannot be told."""
        if "illegal attempt to update using time" in reason:
            # A row not newer than the file: of rows in rising time only the first can be,
            # the file having been written since rrdd read its last update (the other rrdd,
            # an rrdtool update run by hand), and nothing was applied.
            return start
        try:
            applied = rrdtool.last(path)
        except RRD_ERRORS:
            return None
        for j in range(start, len(rows)):
            if int(rows[j].split(":", 1)[0]) > applied:
                return j
        return None

    def flush(self, paths: Sequence[str]) -> None:
        pass

    def forget(self, paths: Sequence[str]) -> None:
        pass

    def close(self) -> None:
        pass


# The start of an RRD file as librrd lays it out on a 64-bit Linux (rrd_format.h):
# stat_head (cookie, version, float cookie, ds_cnt, rra_cnt, pdp_step, 10 params),
# then ds_cnt ds_def (name[20], type[20], 10 params), rra_cnt rra_def, then live_head,
# whose first field is the time of the last update.
_STAT_HEAD = struct.Struct("<4s5s7xdQQQ80x")
_DEF_SIZE = 120  # a ds_def and an rra_def
_LAST_UP = struct.Struct("<q")
_FLOAT_COOKIE = 8.642135e130
_NATIVE_LP64 = struct.calcsize("@L") == 8 and struct.pack("@H", 1) == b"\x01\x00"
_READ = 4096  # the header of a file with up to ~30 DS and RRAs in one read


def read_header(path: str) -> tuple[int, tuple[str, ...]] | None:
    """The last update time and the DS names of an RRD file, read from its header.

    rrdtool.info() builds a dict of every value in the header (about 80 us for a 17-DS
    file); this reads one page (about 10 us). None when the file is not laid out as
    expected (another platform or version, a header cut short or damaged: counting no
    DS or RRA, or 10000 or more): the caller asks librrd. Raises OSError
    (FileNotFoundError when it does not exist).
    """
    if not _NATIVE_LP64:
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, _READ)
        if len(data) < _STAT_HEAD.size:
            return None
        cookie, version, float_cookie, ds_cnt, rra_cnt, _ = _STAT_HEAD.unpack_from(data)
        if (
            cookie != b"RRD\0"
            or version[:3] != b"000"
            or version[3:] not in (b"1\0", b"2\0", b"3\0", b"4\0")
        ):
            return None
        if float_cookie != _FLOAT_COOKIE or not 0 < ds_cnt < 10000 or not 0 < rra_cnt < 10000:
            return None
        last_up = _STAT_HEAD.size + _DEF_SIZE * (ds_cnt + rra_cnt)
        if last_up + _LAST_UP.size > len(data):
            data += os.pread(fd, last_up + _LAST_UP.size - len(data), len(data))
    finally:
        os.close(fd)
    if last_up + _LAST_UP.size > len(data):
        return None  # a truncated file: librrd says what is wrong with it
    names = []
    for i in range(ds_cnt):
        at = _STAT_HEAD.size + _DEF_SIZE * i
        raw, nul, _ = data[at : at + 20].partition(b"\0")
        if not nul:
            return None  # a name damaged to fill its 20 bytes: librrd reads on into the type
        names.append(raw.decode("ascii", "surrogateescape"))
    return _LAST_UP.unpack_from(data, last_up)[0], tuple(names)


# Beyond the definitions (rrd_format.h): live_head (16 bytes from version 3 on, else 8),
# a pdp_prep per DS, a cdp_prep per DS and RRA, an rra_ptr per RRA, then the rows.
_ROW_COUNT = struct.Struct("<Q")  # rra_def's row_cnt, 24 bytes into it
_PDP_PREP, _CDP_PREP, _RRA_PTR, _VALUE = 112, 80, 8, 8


def cut_short(path: str) -> bool:
    """True when a file is no whole RRD: shorter than its header says, or without one
    (a header counting no DS or RRA, or 10000 or more, is damage).

    Checked after a create: librrd 1.7 on a full disk removes its half-written file,
    but another version or a file system that fills during the write can leave one
    cut short, which every later update would fail on. False when the layout is not
    the one this reads (another platform or version): librrd is trusted then. Raises
    OSError (FileNotFoundError when there is no file).
    """
    if not _NATIVE_LP64:
        return False
    with open(path, "rb") as f:
        data = f.read(_READ)
        size = os.fstat(f.fileno()).st_size
        if len(data) < _STAT_HEAD.size or data[:4] != b"RRD\0":
            return True
        head: tuple[bytes, bytes, float, int, int, int] = _STAT_HEAD.unpack_from(data)
        _, version, _, ds_cnt, rra_cnt, _ = head
        if version[3:] not in (b"1\0", b"2\0", b"3\0", b"4\0", b"5\0"):
            return False
        if not 0 < ds_cnt < 10000 or not 0 < rra_cnt < 10000:
            return True
        rra_defs = _STAT_HEAD.size + _DEF_SIZE * ds_cnt
        end = rra_defs + _DEF_SIZE * rra_cnt
        if end > size:
            return True
        if end > len(data):
            f.seek(len(data))
            data += f.read(end - len(data))
    rows: int = sum(
        _ROW_COUNT.unpack_from(data, rra_defs + _DEF_SIZE * i + 24)[0] for i in range(rra_cnt)
    )
    live = 16 if version[3:] >= b"3\0" else 8
    prep = _PDP_PREP * ds_cnt + _CDP_PREP * ds_cnt * rra_cnt + _RRA_PTR * rra_cnt
    return size < end + live + prep + _VALUE * ds_cnt * rows


def with_mtime(path: str) -> None:
    """Move the file's mtime, which showgraph reads to hide "stale" files: librrd writes
    through mmap, which moves it on ext4 but not on tmpfs (measured)."""
    with contextlib.suppress(OSError):
        os.utime(path)
